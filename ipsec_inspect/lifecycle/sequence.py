"""Sequence-number analysis for one SPI in one direction (RFC 4303 §3.3.3, §3.4.3).

Why a receiver model: a person asks "would the peer have dropped this?", so the analyser
keeps what an anti-replay receiver keeps — the highest number seen and a bitmap of the
numbers below it — and classifies every packet against that. The window that decides what
a receiver drops is configurable (64 by default); duplicates are detected over a wider
tracking window so that a replay of an old packet is still named a replay.

The analyser is keyed by the caller on (destination, SPI), never by SPI alone: the same SPI
value towards two destinations is two SAs (``../shared/reference/wireshark.md`` §1.8).

Mergeable on request: with ``keep_log`` every packet is also appended to a compact log, so
that the analysis of a second half of a capture can be replayed on top of the first
(``SequenceAnalyzer.extend``). Without it (the default for streaming runs) memory stays
bounded whatever the capture size: the log is not kept and each list of evidence frames
is capped at :data:`MAX_EVIDENCE` entries (the counters stay exact).
"""

from __future__ import annotations

import copy
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

#: How far back duplicates are remembered (bits of the tracking bitmap).
TRACK_BITS = 4096
SEQ_MAX = 0xFFFFFFFF
#: A number at or below this far behind the highest is a restarted counter, not reordering.
RESET_CEILING = 8
#: Evidence frames kept per anomaly kind when the analyser is not logging (counts stay exact).
MAX_EVIDENCE = 1000
_TRACK_MASK = (1 << TRACK_BITS) - 1


@dataclass(slots=True)
class SeqAnomaly:
    """One packet the analyser flags: ``kind`` is replay, reset, wrap or window."""

    kind: str
    seq: int
    frame: int
    time: float
    text: str


@dataclass(slots=True)
class SequenceAnalyzer:
    """Sequence numbers of one SA direction: lost and replayed packets, and the highest seen."""

    window: int = 64
    esn: bool = False
    keep_log: bool = True  # per-packet log for merging; off = bounded memory
    count: int = 0
    first: int | None = None
    last: int | None = None
    highest: int | None = None
    lost: int = 0
    replayed: int = 0
    out_of_order: int = 0
    resets: int = 0
    wraps: int = 0
    window_violations: int = 0
    replay_frames: list[int] = field(default_factory=list)
    reset_frames: list[int] = field(default_factory=list)
    wrap_frames: list[int] = field(default_factory=list)
    window_frames: list[int] = field(default_factory=list)
    _bitmap: int = 0  # bit i set: number highest - i was received
    # In-order packets since the bitmap was last written: the bitmap is really
    # ``(_bitmap << _pending) | ((1 << _pending) - 1)``. Deferring the shift keeps the common
    # case (the next number) free of 512-byte integer arithmetic.
    _pending: int = 0
    # The per-packet log (``keep_log``): sequence numbers, frames, times; None until the
    # first packet is logged. Why not three empty arrays from the start: an analyser that
    # keeps no log (every run but a partitioned one) carried 480 bytes of them per SA.
    _log: tuple[array[int], array[int], array[float]] | None = None

    def feed(self, seq: int, frame: int, time: float) -> list[SeqAnomaly]:
        """Classify one packet and return what is wrong with it (usually nothing)."""
        if self.keep_log:
            self._append_log(seq & SEQ_MAX, frame, time)
        return self._classify(seq & SEQ_MAX, frame, time)

    def _append_log(self, seq: int, frame: int, time: float) -> None:
        log = self._log
        if log is None:
            log = self._log = (array("L"), array("L"), array("d"))
        log[0].append(seq)
        log[1].append(frame)
        log[2].append(time)

    def _logged(self) -> Iterator[tuple[int, int, float]]:
        """(sequence number, frame, time) of each logged packet, in order."""
        if self._log is None:
            return iter(())
        return zip(*self._log, strict=True)

    def in_order(self, seq: int) -> bool:
        """Account for a packet that is exactly the next number, the common case, cheaply.

        Returns False (and changes nothing) when the packet needs the full classification.
        Only for analysers that keep no log (a logging one must record every packet).
        """
        high = self.highest
        if high is None or seq != high + 1 or seq >= SEQ_MAX or self.keep_log:
            return False
        self.count += 1
        self.last = seq
        self.highest = seq
        self._pending += 1
        if self._pending >= TRACK_BITS:
            self._settle()
        return True

    def add_in_order(self, n: int, high: int) -> None:
        """Account for ``n`` packets that :meth:`in_order` would each have taken, the last
        being ``high``, leaving exactly the state those ``n`` calls would have left.

        Why: the fast lane without keys (``fast_lane.EspLane.count_nokey``) checks the
        numbers of a run of packets itself and hands the run over in one call.
        """
        self.count += n
        self.last = high
        self.highest = high
        pending = self._pending + n
        if pending >= TRACK_BITS:
            # in_order settles whenever TRACK_BITS are pending: the bitmap is all ones then,
            # and what came after stays pending
            self._bitmap = _TRACK_MASK
            pending %= TRACK_BITS
        self._pending = pending

    def _settle(self) -> None:
        """Apply the deferred in-order packets to the bitmap."""
        n = self._pending
        if n:
            self._bitmap = ((self._bitmap << n) | ((1 << n) - 1)) & _TRACK_MASK
            self._pending = 0

    def _evidence(self, frames: list[int], frame: int) -> None:
        if self.keep_log or len(frames) < MAX_EVIDENCE:
            frames.append(frame)

    def _classify(self, seq: int, frame: int, time: float) -> list[SeqAnomaly]:
        self._settle()
        out: list[SeqAnomaly] = []
        self.count += 1
        if self.first is None:
            self.first = seq
        self.last = seq
        if seq == SEQ_MAX and not self.esn:
            self.wraps += 1
            self._evidence(self.wrap_frames, frame)
            out.append(
                SeqAnomaly("wrap", seq, frame, time, "sequence number reached 2^32-1 without ESN")
            )
        if self.highest is None:
            self.highest = seq
            self._bitmap = 1
            return out
        high = self.highest
        if seq > high:
            gap = seq - high - 1
            self.lost += gap
            shift = seq - high
            # A jump beyond the tracking window forgets everything: never build a 2^32-bit int.
            self._bitmap = ((self._bitmap << shift) | 1) & _TRACK_MASK if shift < TRACK_BITS else 1
            self.highest = seq
            return out
        behind = high - seq
        if seq <= RESET_CEILING and behind > max(self.window, RESET_CEILING):
            kind = "wrap" if high >= SEQ_MAX - self.window and not self.esn else "reset"
            if kind == "wrap":
                self.wraps += 1
                self._evidence(self.wrap_frames, frame)
                text = f"sequence number wrapped from {high} to {seq} without ESN"
            else:
                self.resets += 1
                self._evidence(self.reset_frames, frame)
                text = f"sequence number fell back from {high} to {seq} on the same SA"
            out.append(SeqAnomaly(kind, seq, frame, time, text))
            self.highest = seq
            self._bitmap = 1
            return out
        if behind < TRACK_BITS and self._bitmap >> behind & 1:
            self.replayed += 1
            self._evidence(self.replay_frames, frame)
            out.append(SeqAnomaly("replay", seq, frame, time, f"sequence number {seq} seen again"))
            return out
        if behind < TRACK_BITS:
            self._bitmap |= 1 << behind
            self.lost = max(0, self.lost - 1)
        self.out_of_order += 1
        if behind >= self.window:
            self.window_violations += 1
            self._evidence(self.window_frames, frame)
            out.append(
                SeqAnomaly(
                    "window",
                    seq,
                    frame,
                    time,
                    f"sequence number {seq} is {behind} behind the highest ({high}): "
                    f"outside the {self.window}-packet anti-replay window",
                )
            )
        return out

    def extend(self, later: SequenceAnalyzer) -> tuple[SequenceAnalyzer, list[SeqAnomaly]]:
        """This analysis followed by ``later``'s packets, as if seen in one pass, and
        what the later packets look like against this state."""
        merged = copy.deepcopy(self)
        anomalies: list[SeqAnomaly] = []
        for seq, frame, time in later._logged():
            merged._append_log(seq, frame, time)
            anomalies += merged._classify(seq, frame, time)
        return merged, anomalies

    def logged_frames(self) -> list[int]:
        return [frame for _seq, frame, _time in self._logged()]

    def time_of(self, frame: int) -> float | None:
        for _seq, f, t in self._logged():
            if f == frame:
                return t
        return None
