"""What the tracker is configured with and what it hands back.

Why a module of its own: the commands, the exporters, the TUI and the merge read these
records without needing the state machine that fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ipsec_inspect.core.records import PacketMeta
from ipsec_inspect.lifecycle.flood import Evicted, FloodWatch
from ipsec_inspect.lifecycle.model import ChildSa, IkeSa
from ipsec_inspect.lifecycle.settle import SettleConfig


@dataclass(slots=True)
class TrackerConfig:
    """The tracker's settings: timeouts, replay window, memory bounds."""

    idle_timeout: float = 300.0
    replay_window: int = 64
    inferred_delete_after: float = 10.0
    # Keep per-packet sequence logs and every IV so that partial results can be merged
    # exactly (lifecycle.merge). Off by default: memory then stays bounded by the number of
    # SAs, not of packets (IV reuse: lifecycle/ivs.py keeps runs, the oldest forgotten).
    mergeable: bool = False
    # Keep a finding for every verdict (passed and not observable too), not only the
    # failed ones; the counts per rule are kept either way (findings.RuleSummary).
    all_findings: bool = True
    # At most this many IKE and child SAs kept at once; beyond, the oldest half-open IKE SAs
    # and orphan child SAs are evicted and counted (lifecycle/flood.py). None: no cap.
    max_sas: int | None = None
    # Keep at most this many half-open IKE SAs (a first request, nothing else) in memory;
    # older ones are parked in the spill the tracker is handed and revived if touched
    # (lifecycle/parked.py): the result is the same. None: never park.
    park_half_open: int | None = None
    # Keep a half-open IKE SA as its one message (~800 bytes, not a ~3.6 KB SA object) and
    # rebuild it exactly when touched or read (lifecycle/parked.py), where the tracker is
    # handed the run's IKE dissector; never for a mergeable run. None (auto): where the
    # tracker parks (then parking writes the message, not a pickle). Not everywhere: each
    # read of a compact SA after the capture replays its message, and summary and export
    # read each SA about five times (a 100,000-request flood's summary was 70% slower).
    compact_half_open: bool | None = None
    # Register a brand-new orphan SPI at its first packet and build its child SA only when
    # something touches it again (lifecycle/pending.py): the result is the same. Never for
    # a mergeable tracker.
    defer_orphans: bool = True
    # Take the first IKE_SA_INIT request of a new SA undissected and dissect it only when
    # it is touched again or the capture ends (Tracker.defer_first): under a cap, most of a
    # flood's SAs are evicted untouched. The result is the same. Only under a cap, without
    # parking, where the tracker is handed the run's dissector; never when mergeable.
    defer_first: bool = True

    @property
    def settle_config(self) -> SettleConfig:
        return SettleConfig(self.idle_timeout, self.inferred_delete_after)


@dataclass(slots=True)
class TrackerError:
    """A problem the tracker met at a frame (reported, never fatal)."""

    frame: int
    time: float
    kind: str
    message: str
    sa: str | None = None


@dataclass(slots=True)
class CaptureStats:
    """Counts over the whole capture: frames, IKE messages, ESP and AH packets."""

    frames: int = 0
    first_time: float | None = None
    last_time: float | None = None
    ike_messages: int = 0
    esp_packets: int = 0
    ah_packets: int = 0
    keepalives: int = 0
    malformed: int = 0

    def see_frame(self, frame: int, time: float) -> None:
        """:meth:`see` for a record of one frame (``meta.frames`` empty)."""
        if frame > self.frames:
            self.frames = frame
        if self.first_time is None or time < self.first_time:
            self.first_time = time
        if self.last_time is None or time > self.last_time:
            self.last_time = time

    def see(self, meta: PacketMeta) -> None:
        self.frames = (
            max(self.frames, meta.frame, *meta.frames)
            if meta.frames
            else max(self.frames, meta.frame)
        )
        if self.first_time is None or meta.time < self.first_time:
            self.first_time = meta.time
        if self.last_time is None or meta.time > self.last_time:
            self.last_time = meta.time


@dataclass(slots=True)
class TrackerResult:
    """What the tracker made of a capture: the SAs, findings, errors and counts."""

    ike_sas: dict[str, IkeSa]
    child_sas: dict[str, ChildSa]
    errors: list[TrackerError]
    stats: CaptureStats
    config: TrackerConfig
    end_time: float | None = None
    findings: list[Any] = field(default_factory=list)  # list[findings.Finding]
    #: findings.RuleSummary per rule: every verdict counted, passed ones not repeated per SA
    rule_summaries: list[Any] = field(default_factory=list)
    evicted: Evicted = field(default_factory=Evicted)
    flood: FloodWatch = field(default_factory=FloodWatch)
