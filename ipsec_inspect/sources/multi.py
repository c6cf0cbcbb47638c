"""Several captures read as one: a streaming merge by timestamp, as mergecap merges.

Why: captures come as many files — a dumpcap/tcpdump ring, one file per gateway, a
folder of a week's rotations — and an SA negotiated in file 1 carries traffic in file 7.
:class:`MergedReader` opens every input, keeps exactly one frame ahead per input in a heap
and hands on the earliest (ties: the input named first, as mergecap does), so memory does
not depend on the number of frames. Frames are numbered globally from 1; for every frame
the reader also knows which input it came from and its number there
(:meth:`MergedReader.origin`), which the JSON lines, the export's ``capture.files`` and
the TUI show.

Inputs are files, folders (every capture inside, recursively; other files are reported
and skipped), ``-`` for standard input (read forward only: pcap and pcapng stream) or an
fsspec URL (``s3://``, ``http://``, ``memory://`` …), which is how Dask workers on other
machines read the same inputs.

``--since``/``--until`` cut the merged stream (:class:`TimeWindow`); the frames left are
numbered from 1, while ``file_frame`` still names a frame's place in its own file.
"""

from __future__ import annotations

import heapq
import math
import os
import re
import sys
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from ipsec_inspect.core.records import CaptureWarning
from ipsec_inspect.sources.capture_file import (
    PCAP_MAGICS,
    PCAPNG_SHB,
    CaptureError,
    CaptureInfo,
    CaptureReader,
    RawFrame,
)

STDIN = "-"

#: frames remembered for :meth:`MergedReader.origin` when no full index is kept: records
#: built from several frames (IP fragments, a TCP stream) name a recent frame
_RECENT = 1 << 16


def is_url(name: str) -> bool:
    """``scheme://…`` other than ``file://``: opened through fsspec."""
    return "://" in name and not name.startswith("file://")


def _local(name: str) -> str:
    return name.removeprefix("file://")


def _looks_like_capture(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head in PCAP_MAGICS or head == PCAPNG_SHB or head[:2] == b"\x1f\x8b"


@dataclass
class Inputs:
    """The capture files that the CAPTURE arguments name, in order, and what was skipped."""

    names: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one sentence per skipped file


def expand_inputs(args: Sequence[str]) -> Inputs:
    """Files as given; folders walked recursively (sorted), keeping capture files only.

    Raises :class:`CaptureError` for a name that does not exist, and when a folder holds
    no capture at all: the user asked for something that is not there.
    """
    out = Inputs()
    stdin_seen = False
    for name in args:
        if name == STDIN:
            if stdin_seen:
                raise CaptureError("standard input ('-') can be given only once")
            stdin_seen = True
            out.names.append(name)
        elif is_url(name):
            out.names.extend(_expand_url(name, out))
        elif os.path.isdir(_local(name)):
            found = 0
            others: list[str] = []
            for root, dirs, files in os.walk(_local(name)):
                dirs.sort()
                for f in sorted(files):
                    path = os.path.join(root, f)
                    if _looks_like_capture(path):
                        out.names.append(path)
                        found += 1
                    else:
                        others.append(path)
            if not found:
                raise CaptureError(f"{name}: folder holds no pcap or pcapng capture")
            out.skipped.extend(_skipped_lines(name, others))
        elif not os.path.exists(_local(name)):
            raise CaptureError(f"{name}: no such file")
        else:
            out.names.append(_local(name))
    if not out.names:
        raise CaptureError("no capture given")
    return out


def _skipped_lines(folder: str, others: list[str]) -> list[str]:
    """One line per skipped file, or one line for many (a folder of logs and keys)."""
    if len(others) <= 5:
        return [f"{p}: not a pcap or pcapng capture; skipped" for p in others]
    shown = ", ".join(os.path.relpath(p, _local(folder)) for p in others[:5])
    return [
        f"{folder}: {len(others)} files that are not pcap or pcapng captures were skipped "
        f"({shown}, …)"
    ]


def _expand_url(url: str, out: Inputs) -> list[str]:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
        if not fs.isdir(path):
            return [url]
        files = sorted(fs.find(path))
    except (OSError, ValueError, ImportError) as e:
        raise CaptureError(f"{url}: cannot list ({e})") from None
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    names = []
    for f in files:
        full = f if "://" in f else f"{protocol}://{f}"
        try:
            with fs.open(f, "rb") as fh:
                head = fh.read(4)
        except OSError:
            head = b""
        if head in PCAP_MAGICS or head == PCAPNG_SHB or head[:2] == b"\x1f\x8b":
            names.append(full)
        else:
            out.skipped.append(f"{full}: not a pcap or pcapng capture; skipped")
    if not names:
        raise CaptureError(f"{url}: folder holds no pcap or pcapng capture")
    return names


def open_capture(name: str, offsets: array[int] | None = None) -> CaptureReader:
    """A reader for one input: a path, ``-`` (standard input) or an fsspec URL."""
    if name == STDIN:
        return CaptureReader("<stdin>", offsets=offsets, fileobj=sys.stdin.buffer)
    if is_url(name):
        import fsspec

        try:
            fh: BinaryIO = fsspec.open(name, "rb").open()
        except (OSError, ValueError, ImportError) as e:
            raise CaptureError(f"{name}: cannot open ({e})") from None
        return CaptureReader(name, offsets=offsets, fileobj=fh)
    return CaptureReader(name, offsets=offsets)


def input_size(name: str) -> int:
    """Bytes of an input, 0 when unknown (standard input): for progress and planning."""
    if name == STDIN:
        return 0
    if is_url(name):
        try:
            import fsspec

            fs, path = fsspec.core.url_to_fs(name)
            return int(fs.size(path) or 0)
        except (OSError, ValueError, ImportError):
            return 0
    try:
        return os.path.getsize(name)
    except OSError:
        return 0


# --------------------------------------------------------------------------- time window

_RELATIVE = re.compile(r"^\+(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


@dataclass(frozen=True, slots=True)
class TimeBound:
    """A ``--since``/``--until`` value: an absolute time or an offset from the first frame."""

    seconds: float
    relative: bool

    @classmethod
    def parse(cls, text: str) -> TimeBound:
        """``2024-05-01T12:00:00Z`` (ISO 8601; no zone means UTC), ``+30s``, ``+1.5m``,
        ``+250ms``, ``+2h``, ``+1d`` or ``+90`` (seconds). Raises ValueError with a sentence."""
        t = text.strip()
        m = _RELATIVE.match(t)
        if m:
            return cls(float(m.group(1)) * _UNITS[m.group(2)], True)
        try:
            when = datetime.fromisoformat(t)
        except ValueError:
            raise ValueError(
                f"{text!r} is neither an ISO 8601 time (2024-05-01T12:00:00Z) nor an offset "
                "from the first frame (+30s, +5m, +2h, +250ms)"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return cls(when.timestamp(), False)

    def resolve(self, first_time: float) -> float:
        return first_time + self.seconds if self.relative else self.seconds


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Frames with ``since <= time <= until`` are kept (either bound may be absent)."""

    since: TimeBound | None = None
    until: TimeBound | None = None

    @property
    def active(self) -> bool:
        return self.since is not None or self.until is not None


# --------------------------------------------------------------------------- merged info


@dataclass
class FileSummary:
    """One input as ``capture.files`` shows it."""

    path: str
    format: str = ""
    compressed: bool = False
    frames: int = 0  # frames read from this input
    kept: int = 0  # of those, frames inside the time window (all of them without one)
    first_time: float | None = None
    last_time: float | None = None


@dataclass
class MergedInfo(CaptureInfo):
    """What the merged inputs say about themselves: the fields of :class:`CaptureInfo`
    for the merged stream (frames, first and last time, after the time window), and one
    :class:`FileSummary` per input."""

    files: list[FileSummary] = field(default_factory=list)
    readers: list[CaptureInfo] = field(default_factory=list)


# --------------------------------------------------------------------------- the merge


class MergedReader:
    """Iterate the frames of several inputs merged by timestamp, numbered globally.

    The interface of :class:`CaptureReader` (iteration yields ``RawFrame`` tuples, ``info``,
    ``bytes_read()``, ``close()``, ``on_warning``), so the pipeline reads one capture or
    many the same way.

    ``keep``: frames for which it answers False are numbered (they are part of the merged
    stream) but not handed on — how one partition reads only its tunnels.
    ``index``: remember, for every frame, its input and its number there (and, with
    ``offsets``, its offset in the input) for random access later (the TUI).

    ``sequential``: the inputs' order when it is known that merging them is reading them
    one after the other (each in time order, none overlapping the next — a ring; one
    file), as a survey can establish. Then no heap is needed, and ``skip_raw`` (the
    inverse of ``keep``, on the reader's buffer: see ``CaptureReader.skip``) lets the
    readers pass over unwanted frames without copying them.
    """

    def __init__(
        self,
        names: Sequence[str],
        *,
        window: TimeWindow | None = None,
        keep: Callable[[int, bytes], bool] | None = None,
        index: bool = False,
        offsets: bool = False,
        skip_raw: Callable[[int, bytes, int, int], bool] | None = None,
        sequential: Sequence[int] | None = None,
    ) -> None:
        if not names:
            raise CaptureError("no capture given")
        self.names = list(names)
        self.window = window or TimeWindow()
        self.keep = keep
        self.skip_raw = skip_raw
        self.sequential = list(sequential) if sequential is not None else None
        if self.sequential is not None and index:
            raise ValueError("a sequential read keeps no frame index (partitions only)")
        self.on_warning: Callable[[CaptureWarning], None] | None = None
        #: per input, the offset of each of its frames (when ``offsets``)
        self.file_offsets: list[array[int]] | None = (
            [array("Q") for _ in self.names] if offsets else None
        )
        #: per global frame: its input and its number there (when ``index``; they stay
        #: empty while one pcap input is read straight through, see ``_single``: its frame
        #: n is then global frame n)
        self.frame_file: array[int] | None = array("H") if index else None
        self.frame_number: array[int] | None = array("L") if index else None
        self._index = index
        self._recent_file = array("H", bytes(2 * _RECENT))
        self._recent_number = array("L", bytes(array("L").itemsize * _RECENT))
        self._recent_global = array("Q", bytes(8 * _RECENT))
        self.readers: list[CaptureReader] = []
        #: the one input's own info while it is read without per-frame bookkeeping (see
        #: ``_single``): its frame count then answers ``origin`` and ``last_origin``
        self._live: CaptureInfo | None = None
        try:
            for i, name in enumerate(self.names):
                reader = open_capture(
                    name, self.file_offsets[i] if self.file_offsets is not None else None
                )
                reader.on_warning = self._forward(i)
                self.readers.append(reader)
        except CaptureError:
            self.close()
            raise
        self.info = MergedInfo(self.names[0] if len(self.names) == 1 else ", ".join(self.names))
        self.info.readers = [r.info for r in self.readers]
        self.info.files = [FileSummary(r.path) for r in self.readers]
        self.info.interfaces = self.readers[0].info.interfaces
        self.info.format = self.readers[0].info.format
        self.info.compressed = any(r.info.compressed for r in self.readers)
        self.total_bytes = sum(input_size(n) for n in self.names)
        self._last = (0, 0)

    # ------------------------------------------------------------------ plumbing

    def _forward(self, i: int) -> Callable[[CaptureWarning], None]:
        def warn(w: CaptureWarning) -> None:
            if len(self.names) > 1:  # the reader's messages name the frame in its file
                w = CaptureWarning(0, f"{self.readers[i].path}: {w.message}")
            self.info.warnings.append(w)
            if self.on_warning is not None:
                self.on_warning(w)

        return warn

    def close(self) -> None:
        for r in self.readers:
            r.close()
        self._sync_live()

    def __enter__(self) -> MergedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bytes_read(self) -> int:
        return sum(r.bytes_read() for r in self.readers)

    def origin(self, number: int) -> tuple[int, int]:
        """(input index, frame number in that input) of global frame ``number``; (-1, 0)
        when it is no longer known (without ``index``, only recent frames are)."""
        live = self._live
        if live is not None:  # one input read straight through: every frame, or recent ones
            known = 0 < number <= live.frames and (self._index or live.frames - number < _RECENT)
            return (0, number) if known else (-1, 0)
        if self.frame_file is not None and self.frame_number is not None:
            if 1 <= number <= len(self.frame_file):
                return self.frame_file[number - 1], self.frame_number[number - 1]
            return -1, 0
        slot = number % _RECENT
        if number and self._recent_global[slot] == number:
            return self._recent_file[slot], self._recent_number[slot]
        return -1, 0

    @property
    def last_origin(self) -> tuple[int, int]:
        """Input index and frame number there of the frame handed on last."""
        live = self._live
        return (0, live.frames) if live is not None else self._last

    # ------------------------------------------------------------------ the merge

    def __iter__(self) -> Iterator[RawFrame]:
        try:
            if self.sequential is not None and not self.window.active:
                yield from self._in_sequence(self.sequential)
            elif len(self.readers) == 1 and not self.window.active:
                yield from self._single()
            else:
                yield from self._merged()
        finally:
            self.close()

    def _in_sequence(self, order: list[int]) -> Iterator[RawFrame]:
        """Inputs read one after the other; global number = frames before + own number."""
        info = self.info
        keep = self.keep
        recent_global, recent_file, recent_number = (
            self._recent_global,
            self._recent_file,
            self._recent_number,
        )
        base = 0
        for i in order:
            reader = self.readers[i]
            reader.skip = self.skip_raw
            summary = info.files[i]
            for fr in reader:
                n = base + fr[0]
                slot = n % _RECENT
                recent_global[slot] = n
                recent_file[slot] = i
                recent_number[slot] = fr[0]
                self._last = (i, fr[0])
                if keep is None or keep(fr[2], fr[3]):
                    yield (n, *fr[1:])
            r = reader.info
            if r.frames:
                if info.first_time is None:
                    info.first_time = r.first_time
                info.last_time = r.last_time
                summary.first_time, summary.last_time = r.first_time, r.last_time
            summary.kept = r.frames
            base += r.frames
            info.frames = base
        self._finish_summaries()

    def _single(self) -> Iterator[RawFrame]:
        """One input and no window: its own numbering is the global one (no heap)."""
        reader = self.readers[0]
        if self.keep is None and reader.info.format == "pcap":
            # Every frame of a pcap file is handed on as it is counted, so the reader's own
            # info says all this reader would note per frame: the frames go straight
            # through and the merged info is brought up to date from it (_sync_live).
            self._live = reader.info
            try:
                yield from reader
            finally:
                self._sync_live()
            self._finish_summaries()
            return
        summary = self.info.files[0]
        info = self.info
        keep = self.keep
        frame_file = self.frame_file
        frame_number = self.frame_number
        recent_global, recent_number = self._recent_global, self._recent_number
        for fr in self.readers[0]:
            n = fr[0]
            t = fr[1]
            if n == 1:
                info.first_time = summary.first_time = t
            info.last_time = summary.last_time = t
            info.frames = summary.frames = summary.kept = n
            if frame_file is not None and frame_number is not None:
                frame_file.append(0)
                frame_number.append(n)
            slot = n % _RECENT
            recent_global[slot] = n
            recent_number[slot] = n
            self._last = (0, n)
            if keep is None or keep(fr[2], fr[3]):
                yield fr
        self._finish_summaries()

    def _merged(self) -> Iterator[RawFrame]:
        """The heap holds one frame per input; the input whose frame is earliest then
        gallops — its frames go out without heap operations for as long as they stay
        before the next input's head (a ring's files are disjoint in time, so a whole file
        goes out in one run)."""
        heap: list[tuple[float, int, RawFrame]] = []
        iters = [iter(r) for r in self.readers]
        for i, it in enumerate(iters):
            fr = next(it, None)
            if fr is not None:
                heap.append((fr[1], i, fr))
        heapq.heapify(heap)
        first = heap[0][0] if heap else 0.0
        since = self.window.since.resolve(first) if self.window.since else None
        until = self.window.until.resolve(first) if self.window.until else None
        windowed = since is not None or until is not None
        lo = since if since is not None else -math.inf
        hi = until if until is not None else math.inf
        info = self.info
        files = info.files
        keep = self.keep
        frame_file = self.frame_file
        frame_number = self.frame_number
        indexed = frame_file is not None and frame_number is not None
        recent_global, recent_file, recent_number = (
            self._recent_global,
            self._recent_file,
            self._recent_number,
        )
        number = 0
        heappop, heappush = heapq.heappop, heapq.heappush
        inf = math.inf
        while heap:
            t, i, fr = heappop(heap)
            if heap:
                bound_t, bound_i = heap[0][0], heap[0][1]
            else:
                bound_t, bound_i = inf, 0
            it = iters[i]
            s = files[i]
            kept = 0
            while True:
                if not windowed or lo <= t <= hi:
                    number += 1
                    kept += 1
                    if s.first_time is None:
                        s.first_time = t
                    if number == 1:
                        info.first_time = t
                    if indexed:
                        frame_file.append(i)  # type: ignore[union-attr]
                        frame_number.append(fr[0])  # type: ignore[union-attr]
                    slot = number % _RECENT
                    recent_global[slot] = number
                    recent_file[slot] = i
                    recent_number[slot] = fr[0]
                    s.last_time = info.last_time = t
                    info.frames = number
                    self._last = (i, fr[0])
                    if keep is None or keep(fr[2], fr[3]):
                        yield (number, t, fr[2], fr[3], fr[4], fr[5])
                nxt = next(it, None)
                if nxt is None:
                    break
                fr = nxt
                t = fr[1]
                if t < bound_t or (t == bound_t and i < bound_i):
                    continue
                heappush(heap, (t, i, fr))
                break
            s.kept += kept
        self._finish_summaries()

    def _sync_live(self) -> None:
        """The merged info and the input's summary of a straight-through read, as the
        per-frame bookkeeping of ``_single`` would have left them."""
        live = self._live
        if live is None or not live.frames:
            return
        info, summary = self.info, self.info.files[0]
        info.first_time = summary.first_time = live.first_time
        info.last_time = summary.last_time = live.last_time
        info.frames = summary.frames = summary.kept = live.frames

    def _finish_summaries(self) -> None:
        for s, r in zip(self.info.files, self.readers, strict=True):
            s.format = r.info.format
            s.compressed = r.info.compressed
            s.frames = r.info.frames
            if not self.window.active and len(self.readers) == 1:
                s.first_time, s.last_time = r.info.first_time, r.info.last_time


def files_json(info: CaptureInfo) -> list[dict[str, object]]:
    """``capture.files`` of the export: one object per input (times as floats here; the
    exporter formats them)."""
    files = info.files if isinstance(info, MergedInfo) else [FileSummary(info.path)]
    return [
        {
            "path": f.path,
            "format": f.format,
            "frames": f.frames,
            "frames_in_window": f.kept,
            "first_time": f.first_time,
            "last_time": f.last_time,
        }
        for f in files
    ]
