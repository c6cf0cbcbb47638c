"""The fast lane: counting an ESP packet of a known direction without building a record.

Why: a capture is mostly ESP, and building two objects per packet costs more than
everything else the tracker does with it. After the first packet of a direction has taken
the record path, the tracker opens an :class:`EspLane` for it; the pipeline (the session's
loop, or the read-ahead that collects the decryption workers' results) keeps the lane and
hands it each next packet. The lane counts exactly what the record path would, or declines
(returns False, having changed nothing) when the packet needs more: a gap or replay, a
failed decryption, a reused counter IV. Every IKE message closes every lane
(:meth:`LaneBoard.close_all`), because it may change what an SA's packets mean.
"""

from __future__ import annotations

from ipsec_inspect.core.records import EspDecryption, EspPacket
from ipsec_inspect.lifecycle import suites
from ipsec_inspect.lifecycle.model import ChildSa, Direction, IkeSa, Stage, StageSpan
from ipsec_inspect.lifecycle.result import CaptureStats
from ipsec_inspect.lifecycle.sequence import SEQ_MAX


class LaneBoard:
    """The open lanes by (destination, SPI), and the generation that ends them all; and the
    lanes holding a run of packets not yet applied (:meth:`EspLane.count_nokey`)."""

    __slots__ = ("dirty", "generation", "lanes")

    def __init__(self) -> None:
        self.generation = 0
        self.lanes: dict[tuple[str, int], EspLane] = {}
        #: lanes with a run counted by ``count_nokey`` and not yet applied (this list object
        #: is never replaced, so a caller may hold it and test it)
        self.dirty: list[EspLane] = []

    def flush(self) -> None:
        """Apply every lane's run: after this the SA model holds every packet counted."""
        for lane in self.dirty:
            lane.flush()
        self.dirty.clear()

    def close_all(self) -> None:
        self.lanes.clear()
        self.generation += 1

    def open(
        self,
        dst: str,
        rec: EspPacket,
        c: ChildSa,
        d: Direction,
        parent: IkeSa | None,
        stats: CaptureStats,
    ) -> None:
        """Open the lane of ``rec``'s direction, unless its packets need more than counting
        (explicit counter IVs to read from each packet when it is not decrypted)."""
        if rec.decryption is None:
            e = suites.encryption_alg(c.chosen_ids.get("encryption"))
            if e is not None and e.iv_len and (e.aead or e.mode == "ctr"):
                return  # the IV must be read from each packet: the record path does that
        self.lanes[(dst, rec.spi)] = EspLane(
            self,
            d,
            c,
            c.stages[Stage.TRANSMISSION],
            parent.stages[Stage.TRANSMISSION] if parent is not None else None,
            stats,
        )


class EspLane:
    """One ESP direction's counters, valid until the next IKE message."""

    __slots__ = (
        "_board",
        "_c",
        "_d",
        "_generation",
        "_low_frame",
        "_low_time",
        "_parent_tx",
        "_peak_frame",
        "_peak_time",
        "_run",
        "_run_bytes",
        "_run_frame",
        "_run_seq",
        "_run_time",
        "_stats",
        "_tx",
    )

    def __init__(
        self,
        board: LaneBoard,
        d: Direction,
        c: ChildSa,
        tx: StageSpan,
        parent_tx: StageSpan | None,
        stats: CaptureStats,
    ) -> None:
        self._board = board
        self._generation = board.generation
        self._d = d
        self._c = c
        self._tx = tx
        self._parent_tx = parent_tx
        self._stats = stats
        # The run of count_nokey: packets, bytes, the last packet's sequence number, frame
        # and time, the latest (time, frame) before a packet whose time went back, and the
        # earliest (time, frame) of the run.
        self._run = 0
        self._run_bytes = 0
        self._run_seq = 0
        self._run_frame = 0
        self._run_time = 0.0
        self._peak_time = -1.0
        self._peak_frame = 0
        self._low_time = 0.0
        self._low_frame = 0

    @property
    def is_open(self) -> bool:
        return self._board.generation == self._generation

    @property
    def board(self) -> LaneBoard:
        """The board this lane is on (whose :meth:`LaneBoard.flush` applies the runs)."""
        return self._board

    def count(
        self, frame: int, time: float, seq: int, wire_len: int, dec: EspDecryption | None
    ) -> bool:
        """Count one packet with its decryption (None: no keys); False: take the record path."""
        if dec is None:
            return self.count_plain(frame, time, seq, wire_len, None, b"", 0, 0, -1)
        if dec.status != "ok":
            return False
        text = dec.plaintext
        return self.count_plain(
            frame,
            time,
            seq,
            wire_len,
            dec.key_source,
            dec.iv if dec.counter_iv else b"",
            len(text),
            dec.next_header,
            text[0] if text else -1,
        )

    def count_nokey(self, frame: int, time: float, seq: int, wire_len: int) -> bool:
        """Count a packet that is not decrypted (a run without keys); False: take the
        record path, having changed nothing.

        Why: without keys this is all a packet of a known direction costs, millions of
        times. So the lane does not apply each packet to the SA model as :meth:`count_plain`
        does: it counts a *run* of packets — each the next sequence number — in a few
        integers of its own, and :meth:`flush` applies the run in one step, leaving exactly
        what :meth:`count_plain` would have left packet by packet. The caller must call
        :meth:`LaneBoard.flush` before anything else reads or changes the tracker's state
        (before a record is fed, a lane opened, a result read) and at the end; the
        session's loop does (``pipeline.session.Analysis._run_without_keys``). Frames come
        in increasing numbers, as every reader numbers them.
        """
        n = self._run
        if n:
            if seq != self._run_seq + 1 or seq >= SEQ_MAX:
                return False
            if time < self._run_time:  # the time went back: the packet before may be the latest
                self._note_peak()
                if time < self._low_time:  # and this one the earliest
                    self._low_time, self._low_frame = time, frame
        else:
            # A run begins: the lane must still be open, the number the analyser's next.
            if self._board.generation != self._generation:
                return False
            sq = self._d.seq
            high = sq.highest
            if high is None or seq != high + 1 or seq >= SEQ_MAX or sq.keep_log:
                return False
            self._board.dirty.append(self)
            self._peak_time = -1.0
            self._low_time, self._low_frame = time, frame
        self._run = n + 1
        self._run_seq = seq
        self._run_bytes += wire_len
        self._run_frame = frame
        self._run_time = time
        return True

    def _note_peak(self) -> None:
        """Keep the run's latest (time, frame) so far, before a packet earlier in time."""
        t, f = self._run_time, self._run_frame
        if t > self._peak_time or (t == self._peak_time and f > self._peak_frame):
            self._peak_time, self._peak_frame = t, f

    def flush(self) -> None:
        """Apply the run counted by :meth:`count_nokey` to the SA model (see there)."""
        n = self._run
        if not n:
            return
        self._note_peak()  # the last packet too: now the peak is the run's latest
        time, frame = self._peak_time, self._peak_frame
        low_time, low_frame = self._low_time, self._low_frame
        self._d.seq.add_in_order(n, self._run_seq)
        d = self._d
        d.packets += n
        d.byte_count += self._run_bytes
        d.last_time = self._run_time
        d.last_frame = self._run_frame
        # StageSpan.touch, once for the run's latest and once for its earliest packet
        for span in (self._tx, self._parent_tx):
            if span is None:
                continue
            end = span.end
            if end is None or time > end or (time == end and frame > (span.end_frame or 0)):
                span.end = time
                span.end_frame = frame
            _widen_start(span, low_time, low_frame)
        st = self._stats
        st.esp_packets += n
        if self._run_frame > st.frames:  # the run's last frame is its highest
            st.frames = self._run_frame
        if st.last_time is None or time > st.last_time:
            st.last_time = time
        if st.first_time is None or low_time < st.first_time:
            st.first_time = low_time
        self._run = 0
        self._run_bytes = 0

    def count_plain(
        self,
        frame: int,
        time: float,
        seq: int,
        wire_len: int,
        source: str | None,
        iv: bytes,
        inner: int,
        next_header: int,
        first: int,
    ) -> bool:
        """:meth:`count` taking a good decryption as plain values, not an object.

        Why: when ESP is decrypted in another process (``crypto.offload``) only these few
        numbers come back per packet; building an :class:`EspDecryption` for each would
        cost the pipeline's main loop more than the counting. Arguments: frame, time,
        sequence number, wire length, the key's source (None: not decrypted), the IV when
        it is a counter that must never repeat (else ``b""``), the inner length, the next
        header and the first inner byte (-1 when there is none).
        """
        if self._board.generation != self._generation:
            return False
        d = self._d
        ivs = d.ivs
        iv_value = -1
        if iv:
            iv_value = int.from_bytes(iv, "big")
            if not ivs.continues_run(iv_value) and ivs.first_use(iv_value) is not None:
                return False
        if not d.seq.in_order(seq):
            return False
        d.packets += 1
        d.byte_count += wire_len
        d.last_time = time
        d.last_frame = frame
        # StageSpan.touch, inlined without tuples: the end moves to (time, frame) if later.
        tx = self._tx
        end = tx.end
        if end is None or time > end or (time == end and frame > (tx.end_frame or 0)):
            tx.end = time
            tx.end_frame = frame
        elif time <= (tx.start or 0.0):  # a time before the stage's start: it moves back
            _widen_start(tx, time, frame)
        parent_tx = self._parent_tx
        if parent_tx is not None:
            end = parent_tx.end
            if end is None or time > end or (time == end and frame > (parent_tx.end_frame or 0)):
                parent_tx.end = time
                parent_tx.end_frame = frame
            elif time <= (parent_tx.start or 0.0):
                _widen_start(parent_tx, time, frame)
        if source is not None:
            if source:
                d.key_source = source
                c = self._c
                if not c.keys_source:
                    c.keys_source = source
            d.decrypted += 1
            d.inner_bytes += inner
            if wire_len:
                over = wire_len - inner
                if d.max_overhead is None or over > d.max_overhead:
                    d.max_overhead = over
            if d.max_inner is None or inner > d.max_inner:
                d.max_inner = inner
            if first >= 0 and next_header in (4, 41):
                d.inner_ip_version = first >> 4
            if iv:
                ivs.add(iv_value, frame)
        st = self._stats
        st.esp_packets += 1
        if frame > st.frames:
            st.frames = frame
        if st.last_time is None or time > st.last_time:
            st.last_time = time
        elif st.first_time is None or time < st.first_time:
            st.first_time = time
        return True


def _widen_start(span: StageSpan, time: float, frame: int) -> None:
    """``StageSpan.touch``'s start: it moves back to (time, frame) if that is earlier."""
    start = span.start
    if start is None or time < start or (time == start and frame < (span.start_frame or 0)):
        span.start = time
        span.start_frame = frame
