"""IPv4 and IPv6 fragment reassembly with bounded buffers and timeouts.

Why: real IKE_AUTH messages that carry certificates are IP-fragmented, and an analyser
that ignores fragments loses exactly the messages that matter when authentication fails.
The buffers are bounded (datagrams pending, bytes per datagram, total bytes) and pending
datagrams expire after a timeout measured in capture time, so a capture full of lone
fragments cannot grow memory without limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_DATAGRAM = 65535 + 40
#: Incomplete datagrams held at once; the oldest is dropped (and reported) beyond it.
MAX_PENDING_DATAGRAMS = 4096
#: Bytes held in fragments of incomplete datagrams, over all of them.
MAX_PENDING_BYTES = 64 << 20
#: Fragments one datagram may have (a 64 KiB datagram over a 576-byte MTU needs 120).
MAX_FRAGMENTS_PER_DATAGRAM = 256
#: Dropped datagrams listed one by one; further drops are only counted.
MAX_REPORTED_DROPS = 1000


@dataclass(slots=True)
class _Pending:
    """The fragments received so far of one IP datagram."""

    first_time: float
    frames: list[int] = field(default_factory=list)
    parts: dict[int, bytes] = field(default_factory=dict)  # offset -> bytes
    total: int = -1  # payload length once the last fragment is seen
    size: int = 0
    wire_len: int = 0


@dataclass(slots=True)
class Reassembled:
    """A reassembled IP datagram's payload and the frames it came from."""

    payload: bytes
    frames: tuple[int, ...]
    wire_len: int


class FragmentReassembler:
    """Collects fragments keyed by (src, dst, id, protocol) and hands back whole payloads.

    ``add`` returns the reassembled upper-layer payload when the last missing piece
    arrives, ``None`` while pieces are missing. Overlapping fragments keep the first copy
    (as most stacks do). ``expired`` lists what was dropped, for the user to see.
    """

    def __init__(
        self,
        timeout: float = 60.0,
        max_pending: int = MAX_PENDING_DATAGRAMS,
        max_bytes: int = MAX_PENDING_BYTES,
    ) -> None:
        self.timeout = timeout
        self.max_pending = max_pending
        self.max_bytes = max_bytes
        self._pending: dict[tuple[object, ...], _Pending] = {}
        self._bytes = 0
        self.expired: list[tuple[tuple[int, ...], str]] = []
        self.unlisted_drops = 0  # drops beyond MAX_REPORTED_DROPS: counted, not listed

    def __len__(self) -> int:
        return len(self._pending)

    def add(
        self,
        key: tuple[object, ...],
        time: float,
        frame: int,
        offset: int,
        more: bool,
        payload: bytes,
        wire_len: int,
    ) -> Reassembled | None:
        self._expire(time)
        p = self._pending.get(key)
        if p is None:
            if len(self._pending) >= self.max_pending:
                oldest_key = next(iter(self._pending))
                self._drop(oldest_key, "too many incomplete datagrams")
            p = _Pending(time)
            self._pending[key] = p
        p.frames.append(frame)
        p.wire_len += wire_len
        if len(p.frames) > MAX_FRAGMENTS_PER_DATAGRAM:
            self._drop(key, f"more than {MAX_FRAGMENTS_PER_DATAGRAM} fragments")
            return None
        if offset + len(payload) > MAX_DATAGRAM:
            self._drop(key, f"fragment at offset {offset} would exceed the maximum datagram size")
            return None
        if offset not in p.parts:
            p.parts[offset] = payload
            p.size += len(payload)
            self._bytes += len(payload)
        if not more:
            p.total = offset + len(payload)
        if self._bytes > self.max_bytes:
            self._drop(next(iter(self._pending)), "reassembly memory limit reached")
            if key not in self._pending:
                return None
        if p.total < 0:
            return None
        # Check coverage of [0, total).
        covered = 0
        for off in sorted(p.parts):
            if off > covered:
                return None
            covered = max(covered, off + len(p.parts[off]))
        if covered < p.total:
            return None
        buf = bytearray(p.total)
        for off in sorted(p.parts, reverse=True):
            chunk = p.parts[off][: max(0, p.total - off)]
            buf[off : off + len(chunk)] = chunk
        del self._pending[key]
        self._bytes -= p.size
        return Reassembled(bytes(buf), tuple(p.frames), p.wire_len)

    def _drop(self, key: tuple[object, ...], why: str) -> None:
        p = self._pending.pop(key, None)
        if p is not None:
            self._bytes -= p.size
            if len(self.expired) < MAX_REPORTED_DROPS:
                self.expired.append((tuple(p.frames), why))
            else:
                self.unlisted_drops += 1

    def _expire(self, now: float) -> None:
        # Insertion order is arrival order of the first fragment: stop at the first young
        # one (without copying the keys: this runs for every fragment).
        pending = self._pending
        while pending:
            key = next(iter(pending))
            if now - pending[key].first_time <= self.timeout:
                break
            self._drop(key, f"incomplete after {self.timeout:g} s")

    def flush(self) -> list[tuple[tuple[int, ...], str]]:
        """At the end of the capture: report what never completed (the first
        :data:`MAX_REPORTED_DROPS`; :attr:`unlisted_drops` counts the others)."""
        while self._pending:
            self._drop(next(iter(self._pending)), "incomplete at the end of the capture")
        return self.expired
