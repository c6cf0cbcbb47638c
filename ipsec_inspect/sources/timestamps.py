"""Capture timestamps: the one conversion from what a file says to seconds since the epoch.

Why one place: a timestamp is read from the wire like any other field, and a hostile or
damaged one (a 64-bit pcapng value of year 508,989, an ``if_tsresol`` of 10^-30 s, a
negative ``if_tsoffset``) used to reach ``datetime`` and end the run with a traceback.
Every reader (pcap, pcapng, live) turns its raw fields into a time here. A time that is
out of range or makes no sense becomes a warning naming the frame, and the frame is shown
at the previous frame's time, so that it is still analysed, ordering stays plausible and
every later formatter (RFC 3339 strings, pcap writers, durations) gets a value it can
express. The raw fields are kept (:class:`RawTime`) for the JSON lines.

The accepted range is what a classic pcap file can hold, 1970-01-01 to 2106-02-07: any
accepted time can be written back by ``decrypt`` and formatted by ``datetime``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Earliest capture time accepted (1970-01-01T00:00:00Z): no capture predates the epoch.
EARLIEST_TIME = 0.0
#: Latest capture time accepted (2106-02-07T06:28:15Z): the last second a pcap record holds.
LATEST_TIME = float(0xFFFFFFFF)
#: Finest ``if_tsresol`` that makes sense (10^-18 s, an attosecond); finer is an error.
FINEST_RESOLUTION = 1e-18
#: Frames whose raw timestamp is kept for the JSON lines (the most recent ones).
MAX_RAW_TIMES_KEPT = 4096

SECONDS_PER_YEAR = 31_556_952  # mean Gregorian year: for naming the year in a message


@dataclass(frozen=True, slots=True)
class RawTime:
    """A frame's timestamp fields as the file holds them (for ``packets --format jsonl``)."""

    format: str  # "pcap" or "pcapng" (or "live")
    value: int | float  # pcap: seconds; pcapng: the 64-bit timestamp in interface units
    fraction: int = 0  # pcap: the fraction field
    resolution: str = ""  # "10^-6", "2^-10": seconds per unit (of the fraction, for pcap)
    offset: int = 0  # pcapng if_tsoffset, seconds

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.format, "value": self.value}
        if self.format == "pcap":
            out["fraction"] = self.fraction
        if self.resolution:
            out["resolution"] = self.resolution
        if self.offset:
            out["offset"] = self.offset
        return out


def resolution_text(code: int) -> str:
    """``if_tsresol`` byte -> ``10^-6`` / ``2^-10``."""
    return f"2^-{code & 0x7F}" if code & 0x80 else f"10^-{code & 0x7F}"


def resolution_seconds(code: int) -> float:
    """``if_tsresol`` byte -> seconds per unit (never raises: at most 10^-127 or 2^-127)."""
    return 2.0 ** -(code & 0x7F) if code & 0x80 else 10.0 ** -(code & 0x7F)


def year_of(t: float) -> int:
    """The calendar year of ``t`` seconds since the epoch, for any finite value."""
    return 1970 + math.floor(t / SECONDS_PER_YEAR)


def why_unusable(t: float) -> str | None:
    """Why ``t`` cannot be shown as a capture time (None when it can)."""
    if t != t or t in (math.inf, -math.inf):
        return "timestamp is not a number"
    if t < EARLIEST_TIME:
        return f"timestamp out of range (year {year_of(t)}, before 1970)"
    if t > LATEST_TIME:
        return f"timestamp out of range (year {year_of(t)})"
    return None


def utc_text(t: float | None, fmt: str = "%Y-%m-%dT%H:%M:%S.%fZ") -> str | None:
    """``t`` formatted in UTC; a time ``datetime`` cannot express is clamped to the
    accepted range rather than raising (formatters must never end a run)."""
    if t is None:
        return None
    if why_unusable(t) is not None:
        t = EARLIEST_TIME if not t > EARLIEST_TIME else LATEST_TIME
    return datetime.fromtimestamp(t, UTC).strftime(fmt)


class CaptureClock:
    """Turns raw timestamp fields into times for one stream of frames.

    ``warn(frame, message)`` receives one message per frame whose time is unusable; the
    frame is then given the previous usable time (``EARLIEST_TIME`` before any). The raw
    fields of such frames are kept in ``raw_times`` (the most recent
    :data:`MAX_RAW_TIMES_KEPT`), keyed by frame number.
    """

    __slots__ = ("last", "raw_times", "unusable", "warn")

    def __init__(self, warn: Callable[[int, str], None]) -> None:
        self.warn = warn
        self.last: float | None = None
        self.unusable = 0
        self.raw_times: OrderedDict[int, RawTime] = OrderedDict()

    def accept(self, frame: int, t: float, raw: RawTime, problem: str | None = None) -> float:
        """``t`` when usable; else the previous frame's time, with a warning."""
        if problem is None:
            problem = why_unusable(t)
            if problem is None:
                self.last = t
                return t
        self.unusable += 1
        raws = self.raw_times
        raws[frame] = raw
        if len(raws) > MAX_RAW_TIMES_KEPT:
            raws.popitem(last=False)
        if self.last is None:
            self.warn(frame, f"{problem}; shown as 1970-01-01T00:00:00Z (no earlier frame)")
            return EARLIEST_TIME
        self.warn(frame, f"{problem}; shown as the previous frame's time")
        return self.last

    def pcap(self, frame: int, sec: int, frac: int, units: int, resolution: float) -> float:
        """A pcap record's seconds and fraction (``units`` fractions per second, each
        ``resolution`` seconds)."""
        t = sec + frac * resolution
        if frac < units and t <= LATEST_TIME:
            self.last = t
            return t
        digits = 9 if units == 1_000_000_000 else 6
        raw = RawTime("pcap", sec, frac, f"10^-{digits}")
        problem = (
            f"timestamp fraction {frac} is not below one second ({units} units)"
            if frac >= units
            else None
        )
        return self.accept(frame, t, raw, problem)

    def pcapng(self, frame: int, ticks: int, code: int | None, offset: int) -> float:
        """An enhanced packet block's 64-bit timestamp with its interface's ``if_tsresol``
        (None: the default, microseconds) and ``if_tsoffset``."""
        res = 1e-6 if code is None else resolution_seconds(code)
        t = ticks * res + offset  # a float: cannot overflow (|res| <= 1, ticks < 2^64)
        if EARLIEST_TIME <= t <= LATEST_TIME and res >= FINEST_RESOLUTION:
            self.last = t
            return t
        text = "10^-6" if code is None else resolution_text(code)
        raw = RawTime("pcapng", ticks, 0, text, offset)
        problem = (
            f"timestamp unusable: if_tsresol {text} s is finer than 10^-18 s"
            if res < FINEST_RESOLUTION
            else None
        )
        return self.accept(frame, t, raw, problem)

    def seconds(self, frame: int, t: float) -> float:
        """A time already in seconds (a live source's kernel timestamp)."""
        if EARLIEST_TIME <= t <= LATEST_TIME:
            self.last = t
            return t
        return self.accept(frame, t, RawTime("live", t))
