"""Read only chosen records of several pcap inputs, with their global frame numbers.

Why: a partition of a tunnel-partitioned run needs a few of the inputs' records, not all
of them. Passing over the others — even without copying them — cost 1 to 3.5 µs a frame, so
two partitions each paid for the whole capture and two workers were slower than one. The
survey, which reads every record once anyway, writes down every record's offset and
tunnel (``pipeline.tunnels.FrameCodes``); the engine gives each partition the offsets,
lengths and global numbers of its own records (:class:`RecordSlice`), and this reader
hands on exactly those, in the same order and with the same numbers as
:class:`~ipsec_inspect.sources.multi.MergedReader` would have.

Each input is read in windows (a local file or any fsspec URL: the worker reads it
itself), and each record is cut out where the survey saw it. The records' offsets and
numbers come a slice at a time (fetched when the reader reaches it), so the reader holds
one slice of them, not all. That is
exact because the survey accepted every record as the ordinary reader would without a
remark (lengths within limits, usable timestamps): used only for pcap inputs,
uncompressed, that the survey read without a single warning, following one another in
time (a ring, one file); the engine reads everything else the old way.
"""

from __future__ import annotations

import bisect
import struct
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from ipsec_inspect.sources.capture_file import (
    PCAP_MAGICS,
    CaptureError,
    CaptureInfo,
    InterfaceInfo,
    RawFrame,
)
from ipsec_inspect.sources.multi import (
    _RECENT,
    FileSummary,
    MergedInfo,
    MergedReader,
    TimeWindow,
    is_url,
)

#: bytes gathered per read of the reader (about its chunk size)
_GATHER = 1 << 20


@dataclass
class RecordSlice:
    """One input's records for one partition: where they are and their global numbers
    (a record's length is in its header, read with it)."""

    path: str
    # record offsets and global frame numbers: arrays, or memoryviews of numpy arrays
    # (either iterates as Python ints, without a copy)
    starts: Sequence[int] = field(default_factory=lambda: array("Q"))
    numbers: Sequence[int] = field(default_factory=lambda: array("Q"))


@dataclass
class PartRecords:
    """What a partition reads: its records per input (in reading order) and the merged
    stream's facts, which the survey knows and the partition's own records do not."""

    #: (input index, how to fetch the records), in reading order; an input may have
    #: several (one a span of a piece). Each is fetched when the reader reaches it and
    #: dropped after, so a partition holds one slice of its records at a time, however
    #: many it has in all
    slices: list[tuple[int, Callable[[], RecordSlice]]]
    bases: list[int]  # per input: global number of its frame 0 (frames before it)
    files: list[FileSummary]  # per input, as capture.files shows it
    frames: int = 0
    first_time: float | None = None
    last_time: float | None = None
    #: some frames' tunnels were not written down: the partition decides those itself
    check: bool = False
    #: bytes of all the records (headers included): the progress's whole
    total_bytes: int = 0
    #: how many records there are in all (for the progress)
    count: int = 0


class _Input:
    """One input's records, read in windows of the file (bounded memory, and a far jump
    is a seek): the survey has checked every record, so each is cut out directly."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fh: BinaryIO
        if is_url(path):
            import fsspec

            self._fh = fsspec.open(path, "rb").open()
        else:
            self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        head = self._fh.read(24)
        if len(head) < 24 or head[:4] not in PCAP_MAGICS:
            self.close()
            raise CaptureError(f"{path}: not the pcap file the survey read")
        self.endian, self.resolution = PCAP_MAGICS[head[:4]]
        snaplen, network = struct.unpack_from(self.endian + "II", head, 16)
        self.info = CaptureInfo(path, "pcap")
        self.info.interfaces.append(InterfaceInfo(network & 0x0FFFFFFF, snaplen, self.resolution))

    def close(self) -> None:
        self._fh.close()


class IndexedReader(MergedReader):
    """The interface of :class:`MergedReader` over a partition's own records only.

    ``keep`` (only with ``records.check``) still decides frames whose tunnel the survey
    did not write down; every other frame handed on is the partition's by construction.
    """

    def __init__(
        self,
        names: Sequence[str],
        records: PartRecords,
        *,
        keep: Callable[[int, bytes], bool] | None = None,
    ) -> None:
        # deliberately not MergedReader.__init__: that opens every input whole
        self.names = list(names)
        self.window = TimeWindow()
        self.keep = keep if records.check else None
        self.skip_raw = None
        self.sequential = None
        self.on_warning = None
        self.file_offsets = None
        self.frame_file = None
        self.frame_number = None
        self._records = records
        self._inputs: list[_Input] = []
        try:
            for name in self.names:
                self._inputs.append(_Input(name))
        except (OSError, CaptureError) as e:
            self.close()
            raise CaptureError(str(e) if isinstance(e, CaptureError) else f"{e}") from None
        self.readers = self._inputs  # type: ignore[assignment]  # .info is what is read
        self.info = MergedInfo(self.names[0] if len(self.names) == 1 else ", ".join(self.names))
        self.info.readers = [r.info for r in self._inputs]
        self.info.files = [
            FileSummary(f.path, f.format, f.compressed, f.frames, f.kept, f.first_time, f.last_time)
            for f in records.files
        ]
        self.info.interfaces = self._inputs[0].info.interfaces
        self.info.format = "pcap"
        self.info.compressed = False
        self.info.frames = records.frames
        self.info.first_time = records.first_time
        self.info.last_time = records.last_time
        self.total_bytes = records.total_bytes
        self._number = 0  # global number of the last frame handed on
        # the inputs in reading order: (global number of frame 0, input index)
        self._starts = sorted((base, i) for i, base in enumerate(records.bases))
        self._count = records.count
        self._done = 0  # records of the slices finished
        self._current: Sequence[int] = ()  # the numbers of the slice being read

    def close(self) -> None:
        for r in getattr(self, "_inputs", []):
            r.close()

    def bytes_read(self) -> int:
        """About the bytes of own records read so far (for the progress only): the
        share of own frames handed on, from the last frame's number."""
        if not self._count:
            return 0
        done = self._done + bisect.bisect_right(self._current, self._number)
        return self.total_bytes * min(done, self._count) // self._count

    def _where(self, number: int) -> tuple[int, int]:
        k = bisect.bisect_right(self._starts, (number - 1, len(self.names))) - 1
        base, i = self._starts[max(k, 0)]
        return i, number - base

    def origin(self, number: int) -> tuple[int, int]:
        """(input index, frame number in that input) of global ``number``, for the frames
        the one-pass reader would still know at this point (the last :data:`_RECENT`
        before the frame handed on last, whoever's they are); else (-1, 0)."""
        if number < 1 or number > self._number or number <= self._number - _RECENT:
            return -1, 0
        return self._where(number)

    @property
    def last_origin(self) -> tuple[int, int]:
        return self._where(self._number) if self._number else (0, 0)

    def __iter__(self) -> Iterator[RawFrame]:
        """Every own record, cut out where the survey saw it, in a window of the file
        (bounded memory, and a far jump is a seek): the one loop per record here."""
        keep = self.keep
        try:
            for i, fetch in self._records.slices:
                rec = fetch()
                self._current = rec.numbers
                src = self._inputs[i]
                link_type = src.info.interfaces[0].link_type
                unpack = struct.Struct(src.endian + "IIII").unpack_from
                res = src.resolution
                fh = src._fh
                window = b""
                at = 0  # file offset of window[0]
                size = 0
                for a, number in zip(rec.starts, rec.numbers, strict=True):
                    p = a - at
                    if p < 0 or p + 16 > size:
                        fh.seek(a)
                        window = fh.read(_GATHER)
                        at, p, size = a, 0, len(window)
                        if size < 16:
                            raise CaptureError(f"{src.path}: shorter than when it was surveyed")
                    sec, frac, incl, orig = unpack(window, p)
                    q = p + 16 + incl
                    if q > size:
                        fh.seek(a)
                        window = fh.read(max(_GATHER, 16 + incl))
                        at, p, size, q = a, 0, len(window), 16 + incl
                        if q > size:
                            raise CaptureError(f"{src.path}: shorter than when it was surveyed")
                    self._number = number
                    data = window[p + 16 : q]
                    if keep is None or keep(link_type, data):
                        yield number, sec + frac * res, link_type, data, orig, 0
                self._done += len(rec.numbers)
                self._current = ()
                del rec, window
        finally:
            self.close()
