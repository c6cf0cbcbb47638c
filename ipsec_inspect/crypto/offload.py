"""ESP decryption in worker processes, so a large capture keeps more than one core busy.

Why: in one process, decrypting a tunnel's packets costs about half of the pipeline's
time per packet (the cipher and MAC calls, and finding the packet in the frame), and
Python runs all of it on one core while the others idle. Finding and decrypting ESP
depends only on the frame's bytes and the SA's key, so it can run anywhere; everything
stateful — counters, problem messages, the lifecycle — stays in the main process, in
frame order. The main process sends a batch of whole frames (one buffer, their end
offsets and link types) and reads on while a worker finds the ESP packets of the SAs it
was given keys for (by source and destination address and SPI, as the pipeline's fast
lane does: see ``wire.fast_esp``) and decrypts them. Results are collected in the order
batches were sent.

What comes back is small on purpose: per packet decrypted, where it is and, when it
decrypted well, its inner length, next header and first inner byte (what the lifecycle
tracker counts); for any other outcome the :class:`EspDecryption` itself. The main
process never depends on a worker for correctness: if one stops, fails or cannot start,
:meth:`DecryptPool.collect` returns None and the caller handles that batch itself — the
results are the same either way.

Workers are ``python -m ipsec_inspect.crypto.offload`` subprocesses speaking
length-prefixed pickles over their standard input and output (not ``multiprocessing``,
which would re-import the caller's ``__main__`` in every worker). A reader thread per
worker drains its output, so neither side can block the other on a full pipe.
"""

from __future__ import annotations

import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import IO

from ipsec_inspect.core.records import EspDecryption
from ipsec_inspect.crypto.esp import Runner, esp_runner
from ipsec_inspect.crypto.keys import SaKey
from ipsec_inspect.wire.fast_esp import EspLocator, esp_locator

_FRAME = struct.Struct("<I")
_SPI_SEQ = struct.Struct("!II").unpack_from

#: (source and destination address bytes, SPI): how the fast lane names an SA
LaneKey = tuple[bytes, int]


@dataclass(slots=True)
class BatchResult:
    """A worker's answer for one batch: one entry per ESP packet it decrypted.

    ``positions[i]`` is the packet's frame in the batch and ``key_ids[i]`` its key;
    ``seqs``, ``ip_lens``, ``esp_ats`` and ``ip_ends`` its sequence number, IP length,
    and where the ESP packet starts and ends in the frame. ``inner[i]``,
    ``next_header[i]`` and ``first[i]`` (the first inner byte, -1 for an empty payload)
    describe a good decryption; for any other outcome ``others[i]`` is the whole result
    (ICV failure, bad padding…).
    """

    positions: array[int] = field(default_factory=lambda: array("I"))
    key_ids: array[int] = field(default_factory=lambda: array("I"))
    seqs: array[int] = field(default_factory=lambda: array("I"))
    ip_lens: array[int] = field(default_factory=lambda: array("I"))
    esp_ats: array[int] = field(default_factory=lambda: array("I"))
    ip_ends: array[int] = field(default_factory=lambda: array("I"))
    inner: array[int] = field(default_factory=lambda: array("I"))
    next_header: array[int] = field(default_factory=lambda: array("B"))
    first: array[int] = field(default_factory=lambda: array("h"))
    others: dict[int, EspDecryption] = field(default_factory=dict)


@dataclass(slots=True)
class WorkerState:
    """What a worker knows: the locator's settings and the keys of the SAs it decrypts."""

    locate: EspLocator
    runners: dict[int, Runner] = field(default_factory=dict)  # key id -> esp_runner(key)
    lanes: dict[LaneKey, int] = field(default_factory=dict)  # lane key -> key id

    def add(self, key_id: int, key: SaKey, lane_key: LaneKey) -> None:
        self.runners[key_id] = esp_runner(key)
        self.lanes[lane_key] = key_id

    def forget(self) -> None:
        self.runners.clear()
        self.lanes.clear()


def decrypt_batch(
    state: WorkerState, blob: bytes, ends: array[int], link_types: array[int]
) -> BatchResult:
    """Find and decrypt the ESP packets of known SAs in one batch of frames: the
    worker's whole job, kept importable so tests run exactly the same code."""
    out = BatchResult()
    locate, runners, lanes = state.locate, state.runners, state.lanes
    add_position, add_key_id, add_seq = (
        out.positions.append,
        out.key_ids.append,
        out.seqs.append,
    )
    add_ip_len, add_esp_at, add_inner = out.ip_lens.append, out.esp_ats.append, out.inner.append
    add_ip_end = out.ip_ends.append
    add_next_header, add_first, others = out.next_header.append, out.first.append, out.others
    start = 0
    n = 0
    for position, end in enumerate(ends):
        data = blob[start:end]
        start = end
        found = locate(link_types[position], data)
        if found is None:
            continue
        addr_at, addr_end, esp_at, ip_end, ip_len = found
        spi, seq = _SPI_SEQ(data, esp_at)
        key_id = lanes.get((data[addr_at:addr_end], spi))
        if key_id is None:
            continue
        result = runners[key_id](data[esp_at:ip_end], 0)
        add_position(position)
        add_key_id(key_id)
        add_seq(seq)
        add_ip_len(ip_len)
        add_esp_at(esp_at)
        add_ip_end(ip_end)
        if result.status == "ok":
            text = result.plaintext
            add_inner(len(text))
            add_next_header(result.next_header)
            add_first(text[0] if text else -1)
        else:
            add_inner(0)
            add_next_header(0)
            add_first(-1)
            others[n] = result
        n += 1
    return out


# --------------------------------------------------------------------------- framing


def _write(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read(stream: IO[bytes]) -> object | None:
    """One message, or None at the end of the stream (the other side is gone)."""
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        return None
    (size,) = _FRAME.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


# --------------------------------------------------------------------------- worker side


def serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """The worker's loop, answering each ``("batch", blob, ends, link_types)`` with a
    :class:`BatchResult`. Before batches: ``("config", udp_special)`` gives the decoder's
    UDP port map; ``("key", id, SaKey, lane_key)`` registers an SA; ``("forget",)`` drops
    them all. ``("stop",)`` or the end of input ends it."""
    state = WorkerState(esp_locator({}))
    while True:
        message = _read(inp)
        if message is None or not isinstance(message, tuple) or message[0] == "stop":
            return
        kind = message[0]
        if kind == "batch":
            _write(out, decrypt_batch(state, message[1], message[2], message[3]))
        elif kind == "key":
            state.add(message[1], message[2], message[3])
        elif kind == "forget":
            state.forget()
        elif kind == "config":
            state.locate = esp_locator(message[1])


# --------------------------------------------------------------------------- main side


class _Worker:
    """One worker process, and two threads: one writes what the main process sends (so
    sending never waits for the worker to read), one queues what the worker answers
    (so the worker never waits for the main process to read)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ipsec_inspect.crypto.offload"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.answers: queue.Queue[object | None] = queue.Queue()
        self.outbox: queue.Queue[object | None] = queue.Queue()
        self.sent = 0  # batches sent
        self.collected = 0  # answers taken
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.writer = threading.Thread(target=self._feed, daemon=True)
        self.reader.start()
        self.writer.start()

    def _drain(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            while True:
                message = _read(stdout)
                self.answers.put(message)
                if message is None:
                    return
        except Exception:  # whatever went wrong, the main process goes on alone
            self.answers.put(None)

    def _feed(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            while True:
                message = self.outbox.get()
                if message is None:
                    break
                _write(stdin, message)
        except Exception:  # the worker is gone: its reader sees the end and says so
            self.proc.kill()
        try:
            stdin.close()  # end of input: the worker returns
        except OSError:
            pass

    def send(self, message: object) -> None:
        self.outbox.put(message)

    def backlog(self) -> int:
        """Batches sent that the worker has not answered yet (still to decrypt)."""
        return self.sent - self.collected - self.answers.qsize()

    def stop(self, timeout: float = 5.0) -> None:
        self.outbox.put(None)
        self.writer.join(timeout)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)
        self.reader.join(timeout)


class DecryptPool:
    """Worker processes that decrypt batches of ESP packets for one analysis.

    Keys are registered once (:meth:`register`) and then named by a small integer in
    each batch. Batches go to the workers in turn and must be collected in the order
    they were submitted. Any failure — a worker that cannot start, dies, or answers
    nonsense — makes the pool *broken*: it stops its workers, and every batch not yet
    collected comes back as None, for the caller to decrypt itself.
    """

    def __init__(self, workers: int, udp_special: Mapping[int, str]) -> None:
        self.broken = False
        self._keys = 0
        self._turn = 0
        self._workers: list[_Worker] = []
        try:
            for _ in range(max(1, workers)):
                self._workers.append(_Worker())
        except OSError:
            self._break()
            return
        self._send_all(("config", dict(udp_special)))

    @property
    def keys(self) -> int:
        """How many keys are registered (ids 0 … keys-1)."""
        return self._keys

    def register(self, key: SaKey, lane_key: LaneKey) -> int | None:
        """Give every worker ``key`` (without its prepared state) for the packets named
        by ``lane_key``; return its id. None for a key with extended sequence numbers:
        their high bits are inferred from the SA's packets in order (RFC 4303 Appendix
        A), which only the main process sees."""
        if self.broken or key.esn:
            return None
        key_id = self._keys
        message = ("key", key_id, replace(key, context=None), lane_key)
        if not self._send_all(message):
            return None
        self._keys += 1
        return key_id

    def forget(self) -> None:
        """Drop every registered key (ids start again at 0), to bound the workers' state."""
        self._send_all(("forget",))
        self._keys = 0

    def submit(self, blob: bytes, ends: array[int], link_types: array[int]) -> int | None:
        """Send one batch of frames (their bytes end to end, where each ends, their link
        types); return the ticket to collect it with (None: broken)."""
        if self.broken:
            return None
        turn = self._turn
        self._turn = (turn + 1) % len(self._workers)
        worker = self._workers[turn]
        try:
            worker.send(("batch", blob, ends, link_types))
        except (OSError, ValueError):
            self._break()
            return None
        worker.sent += 1
        return turn

    def backlog(self) -> int:
        """Batches the worker whose turn is next has not answered yet: a caller that
        can decrypt itself does better to keep a batch than to queue it behind these."""
        if self.broken:
            return 0
        return self._workers[self._turn].backlog()

    def collect(self, ticket: int | None) -> BatchResult | None:
        """The result of the batch ``ticket`` (None: decrypt it yourself)."""
        if ticket is None or self.broken:
            return None
        worker = self._workers[ticket]
        answer = worker.answers.get()
        worker.collected += 1
        if not isinstance(answer, BatchResult):
            self._break()
            return None
        return answer

    def close(self) -> None:
        """Stop the workers (bounded wait, then kill)."""
        for worker in self._workers:
            worker.stop()
        self._workers = []

    def _send_all(self, message: object) -> bool:
        try:
            for worker in self._workers:
                worker.send(message)
        except (OSError, ValueError):
            self._break()
            return False
        return True

    def _break(self) -> None:
        self.broken = True
        for worker in self._workers:
            worker.proc.kill()
        self.close()


if __name__ == "__main__":
    # Answers go to a private copy of standard output; anything a library might print
    # goes to standard error instead, so it can never corrupt the framing.
    # The module proper, not this __main__ copy, so what is pickled names its classes.
    from ipsec_inspect.crypto import offload

    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    offload.serve(sys.stdin.buffer, answers)
