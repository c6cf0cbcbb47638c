"""Read only chosen records of several pcap inputs, with their global frame numbers.

Why: a partition of a tunnel-partitioned run needs a few of the inputs' records, not all
of them. Passing over the others — even without copying them — cost 1 to 3.5 µs a frame, so
two partitions each paid for the whole capture and two workers were slower than one. The
survey, which reads every record once anyway, writes down every record's offset and
tunnel (``pipeline.tunnels.FrameCodes``); the engine gives each partition the offsets,
lengths and global numbers of its own records (:class:`RecordSlice`), and this reader
hands on exactly those, in the same order and with the same numbers as
:class:`~ipsec_inspect.sources.multi.MergedReader` would have.

Each input's records are gathered (``mmap`` slices for a local file, ranged reads for an
fsspec URL) behind the file's own 24-byte header and parsed by the ordinary
:class:`~ipsec_inspect.sources.capture_file.CaptureReader`, so times, lengths and limits
are checked exactly as always. Used only where it is exact: pcap inputs, uncompressed,
that the survey read without a single warning, following one another in time (a ring,
one file); the engine reads everything else the old way.
"""

from __future__ import annotations

import mmap
import os
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from ipsec_inspect.sources.capture_file import CaptureReader, RawFrame
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
    """One input's records for one partition: where they are and their global numbers."""

    path: str
    starts: array[int] = field(default_factory=lambda: array("Q"))  # record offsets
    lengths: array[int] = field(default_factory=lambda: array("L"))  # record lengths
    numbers: array[int] = field(default_factory=lambda: array("Q"))  # global frame numbers


@dataclass
class PartRecords:
    """What a partition reads: its records per input (in reading order) and the merged
    stream's facts, which the survey knows and the partition's own records do not."""

    slices: list[tuple[int, RecordSlice]]  # (input index, records), inputs in time order
    bases: list[int]  # per input: global number of its frame 0 (frames before it)
    files: list[FileSummary]  # per input, as capture.files shows it
    frames: int = 0
    first_time: float | None = None
    last_time: float | None = None
    #: some frames' tunnels were not written down: the partition decides those itself
    check: bool = False

    @property
    def count(self) -> int:
        return sum(len(s.starts) for _i, s in self.slices)


class _Gathered:
    """The file's header, then the chosen records back to back: a forward-only stream
    that :class:`CaptureReader` parses like any pcap."""

    def __init__(self, path: str, rec: RecordSlice) -> None:
        self._rec = rec
        self._at = 0
        self._done = 0
        self._fh: BinaryIO | None = None
        self._map: mmap.mmap | None = None
        if is_url(path):
            import fsspec

            self._fh = fsspec.open(path, "rb").open()
            self._prefix = self._fh.read(24)
        else:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                self._map = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ) if size else None
            self._prefix = self._map[:24] if self._map is not None else b""

    def peek(self, n: int = 1) -> bytes:
        return self._prefix[:n]

    def read(self, n: int = -1) -> bytes:
        if self._prefix:
            out, self._prefix = self._prefix, b""
            return out
        starts, lengths = self._rec.starts, self._rec.lengths
        i, end = self._at, len(starts)
        want = _GATHER if n < 0 else max(n, 1)
        parts: list[bytes] = []
        got = 0
        mm, fh = self._map, self._fh
        while i < end and got < want:
            a = starts[i]
            b = a + lengths[i]
            i += 1
            while i < end and starts[i] == b:  # neighbours: one slice
                b += lengths[i]
                i += 1
            if mm is not None:
                parts.append(mm[a:b])
            elif fh is not None:
                fh.seek(a)
                parts.append(fh.read(b - a))
            got += b - a
        self._at = i
        self._done += got
        return b"".join(parts)

    def tell(self) -> int:
        return self._done

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None


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
        self._recent_file = array("H", bytes(2 * _RECENT))
        self._recent_number = array("L", bytes(array("L").itemsize * _RECENT))
        self._recent_global = array("Q", bytes(8 * _RECENT))
        self._records = records
        self._slices = dict(records.slices)
        self.readers = []
        try:
            for i, name in enumerate(self.names):
                rec = self._slices.get(i, RecordSlice(name))
                reader = CaptureReader(name, fileobj=_Gathered(name, rec))  # type: ignore[arg-type]
                reader.on_warning = self._forward(i)
                self.readers.append(reader)
        except Exception:
            self.close()
            raise
        self.info = MergedInfo(self.names[0] if len(self.names) == 1 else ", ".join(self.names))
        self.info.readers = [r.info for r in self.readers]
        self.info.files = [
            FileSummary(f.path, f.format, f.compressed, f.frames, f.kept, f.first_time, f.last_time)
            for f in records.files
        ]
        self.info.interfaces = self.readers[0].info.interfaces
        self.info.format = records.files[0].format if records.files else "pcap"
        self.info.compressed = False
        self.info.frames = records.frames
        self.info.first_time = records.first_time
        self.info.last_time = records.last_time
        self.total_bytes = sum(int(sum(r.lengths)) for _i, r in records.slices)
        self._last = (0, 0)

    def bytes_read(self) -> int:
        return sum(r.bytes_read() for r in self.readers)

    def __iter__(self) -> Iterator[RawFrame]:
        keep = self.keep
        recent_global, recent_file, recent_number = (
            self._recent_global,
            self._recent_file,
            self._recent_number,
        )
        try:
            for i, rec in self._records.slices:
                numbers = rec.numbers
                base = self._records.bases[i]
                for fr in self.readers[i]:
                    n = numbers[fr[0] - 1]
                    own = n - base
                    slot = n % _RECENT
                    recent_global[slot] = n
                    recent_file[slot] = i
                    recent_number[slot] = own
                    self._last = (i, own)
                    if keep is None or keep(fr[2], fr[3]):
                        yield (n, *fr[1:])
        finally:
            self.close()
