"""Reads frames ahead of the pipeline and has their ESP decrypted by worker processes.

Why: see ``crypto.offload`` — decryption is the one part of the pipeline that can run on
another core, because it depends only on an SA's key and the packet's bytes. This module
sits between the capture reader and the loop of ``session.Analysis.run``: it reads a
batch of frames and sends it whole to a worker, which decrypts the ESP packets of the SAs
it was given keys for; a few batches later, in frame order, it hands the frames on to the
loop. When the workers lag (``max_backlog``), it keeps a batch unsent and the loop
decrypts that one itself, so no core waits.

The loop's work is split without changing its order. A packet a worker decrypted well,
on an SA whose fast lane is open, is counted here — the decryptor's count and the
tracker's lane counter, exactly what the loop would do with it — and not handed on. Every
other frame is handed on, and a worker's result for it waits in :attr:`prepared` so the
loop does not decrypt it again. Frames are handed on and counted strictly in capture
order (a generator resumes only once the loop is done with the frame before), so an IKE
message that closes a lane is seen before the packets after it.

Which SAs the workers decrypt is decided by the loop: it *offers* an SA (its lane key and its
:class:`FastEspSa`) once it has found a key for it, so the read-ahead never guesses about
keys. A packet of an SA offered later, or whose lane the loop dropped, is decrypted by the
loop itself; results are the same, only where they were computed differs. Memory is
bounded: at most ``depth + 1`` batches of frames are held.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import accumulate, islice

from ipsec_inspect.core.records import EspDecryption
from ipsec_inspect.crypto.decryptor import FastEspSa
from ipsec_inspect.crypto.offload import DecryptPool, LaneKey
from ipsec_inspect.lifecycle.fast_lane import EspLane
from ipsec_inspect.pipeline.packet_index import PacketIndex, RecordKind

#: one frame as the capture reader yields it: number, time, link type, bytes, original
#: length, interface
Frame = tuple[int, float, int, bytes, int, int]

_MAX_OFFERED = 65536

#: one SA's fast lane, as the loop keeps it (see ``session._Lane``)
Lane = tuple[FastEspSa | None, EspLane, int]


@dataclass(slots=True)
class _Batch:
    """Frames read ahead, and the ticket of the worker finding their ESP (None: none)."""

    frames: list[Frame]
    ticket: int | None = None


class OffloadFeed:
    """The capture's frames, read ahead in batches whose ESP a :class:`DecryptPool` decrypts.

    ``udp_special`` is the decoder's UDP port map (so workers find ESP as it would);
    ``lanes`` is the loop's own dict of open lanes (shared, not copied); ``index`` its
    packet index (None when not kept); ``on_batch`` is called after every batch handed
    on, with its last frame number, and returns True to stop reading.
    """

    def __init__(
        self,
        udp_special: Mapping[int, str],
        workers: int,
        lanes: dict[LaneKey, Lane],
        index: PacketIndex | None,
        on_batch: Callable[[int], bool],
        batch_frames: int = 2048,
        depth: int = 0,
        max_backlog: int = 2,
    ) -> None:
        self.udp_special = dict(udp_special)
        self.workers = max(1, workers)
        self.lanes = lanes
        self.index = index
        self.on_batch = on_batch
        self.batch_frames = max(1, batch_frames)
        self.depth = depth or 2 * self.workers
        self.max_backlog = max_backlog
        self.prepared: dict[int, EspDecryption] = {}
        self.decrypted = 0  # packets whose results came back from a worker
        self.counted = 0  # of those, packets counted here (not handed on)
        self._offered: dict[LaneKey, int] = {}
        self._sa_of: list[FastEspSa] = []  # key id -> SA
        self._lane_key_of: list[LaneKey] = []  # key id -> lane key
        self._pool: DecryptPool | None = None

    @property
    def broken(self) -> bool:
        """True once the workers have failed (everything is then decrypted in-process)."""
        return self._pool is not None and self._pool.broken

    def offer(self, lane_key: LaneKey, sa: FastEspSa) -> None:
        """Let the workers decrypt the packets of this SA (started on the first offer)."""
        if lane_key in self._offered:
            return
        if self._pool is None:
            self._pool = DecryptPool(self.workers, self.udp_special)
        if self._pool.broken:
            return
        if len(self._offered) >= _MAX_OFFERED:
            # Batches in flight still name the old ids: the workers answer them before
            # they read this, and their SAs stay in _sa_of until the next batch is sent.
            self._offered.clear()
            self._pool.forget()
        key_id = self._pool.register(sa.key, lane_key)
        if key_id is not None:
            self._offered[lane_key] = key_id
            if key_id == len(self._sa_of):
                self._sa_of.append(sa)
                self._lane_key_of.append(lane_key)
            else:
                self._sa_of[key_id] = sa
                self._lane_key_of[key_id] = lane_key

    def frames(self, reader: Iterable[Frame]) -> Iterator[Frame]:
        """The frames the loop must handle itself, in order; stops the workers when done."""
        pending: deque[_Batch] = deque()
        frames = iter(reader)
        size = self.batch_frames
        try:
            while True:
                batch = list(islice(frames, size))
                if batch:
                    pending.append(self._submit(batch))
                if len(pending) > (self.depth if len(batch) == size else 0):
                    done = pending.popleft()
                    yield from self._release(done)
                    if self.on_batch(done.frames[-1][0]):
                        return
                elif not pending:
                    return
        finally:
            self.close()

    def close(self) -> None:
        self.prepared.clear()
        if self._pool is not None:
            self._pool.close()

    def _submit(self, frames: list[Frame]) -> _Batch:
        pool = self._pool
        if not self._offered or pool is None or pool.broken:
            return _Batch(frames)
        if pool.backlog() >= self.max_backlog:
            # The workers are behind: the loop decrypts this batch itself, which keeps
            # every core busy instead of waiting on a full pipe.
            return _Batch(frames)
        blob = b"".join([f[3] for f in frames])
        ends = array("I", accumulate([len(f[3]) for f in frames]))
        link_types = array("H", [f[2] for f in frames])
        return _Batch(frames, pool.submit(blob, ends, link_types))

    def _release(self, batch: _Batch) -> Iterator[Frame]:
        """Count what the workers decrypted for open lanes; hand on every other frame."""
        self.prepared.clear()  # what the loop did not take of the last batch is stale
        frames = batch.frames
        result = None
        if batch.ticket is not None and self._pool is not None:
            result = self._pool.collect(batch.ticket)
        if result is None:
            yield from frames
            return
        self.decrypted += len(result.positions)
        sa_of, lane_key_of = self._sa_of, self._lane_key_of
        lanes = self.lanes
        prepared = self.prepared
        index = self.index
        others = result.others
        at = 0
        counted = 0
        try:
            for j, (
                position,
                key_id,
                seq,
                ip_len,
                esp_at,
                ip_end,
                inner,
                next_header,
                first,
            ) in enumerate(
                zip(
                    result.positions,
                    result.key_ids,
                    result.seqs,
                    result.ip_lens,
                    result.esp_ats,
                    result.ip_ends,
                    result.inner,
                    result.next_header,
                    result.first,
                    strict=True,
                )
            ):
                if position > at:
                    yield from frames[at:position]
                at = position + 1
                frame = frames[position]
                number = frame[0]
                sa = sa_of[key_id]
                if others:
                    failed = others.get(j)
                    if failed is not None:
                        sa.account(failed, number)
                        prepared[number] = failed
                        yield frame
                        continue
                sa.count_good()
                data = frame[3]
                lane = lanes.get(lane_key_of[key_id])
                if lane is not None:
                    time = frame[1]
                    if lane[1].count_plain(
                        number,
                        time,
                        seq,
                        ip_len,
                        sa.source,
                        data[esp_at + 8 : esp_at + 8 + sa.iv_len] if sa.counter_iv else b"",
                        inner,
                        next_header,
                        first,
                    ):
                        if index is not None:
                            index.frame.append(number)
                            index.sub.append(0)
                            index.kind.append(RecordKind.ESP)
                            index.time.append(time)
                            index.flow.append(lane[2])
                            index.flags.append(2 if sa.verified else 10)  # 8: unverified
                        counted += 1
                        continue
                    del lanes[lane_key_of[key_id]]  # as the loop does: the record path decides
                # The loop needs the whole result (the worker sent only a few values): the
                # first packets of a lane, a packet out of order.
                prepared[number] = sa.runner(data[esp_at:ip_end], 0)
                yield frame
        finally:
            self.counted += counted
        if at < len(frames):
            yield from frames[at:]
