"""One large capture cut into byte ranges that start on record boundaries.

Why: a single 10 GB file must be surveyed by several workers at once, and each must start
on a record. pcap records carry no sync marker, so a candidate boundary is accepted only
when its header is plausible — captured length within the snapshot length and not above
the original length, sub-second field below one second in the file's resolution, a time
close to the file's first record — *and* the records that follow it chain the same way
(or the file ends exactly). pcapng blocks repeat their length at their end, which makes
the check strict: type, length, trailing length, and the next block's.

A pcapng file whose interface or section blocks are not all before the first packet
cannot be cut (a range would not know its interfaces): :func:`split_capture` then gives
the whole file as one range, and a range reader that meets such a block raises
:class:`NotSplittable`.

Ranges are ``[start, end)`` of record *starts*: ``read_range`` yields every record that
starts in the range, so consecutive ranges neither lose nor repeat one.
"""

from __future__ import annotations

import itertools
import struct
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ipsec_inspect.sources.capture_file import (
    PCAP_MAGICS,
    PCAPNG_SHB,
    CaptureError,
    CaptureReader,
    RawFrame,
)
from ipsec_inspect.sources.multi import open_capture

#: records that must chain after a candidate pcap boundary before it is believed
_CHAIN = 4
#: how far past a cut point a boundary is searched for
_SEARCH = 1 << 20
#: a pcap record time this far from the file's first record is not believed (seconds)
_TIME_SLACK = 366 * 86400
_MAX_RECORD = 262144
_PCAPNG_BLOCKS = frozenset({1, 2, 3, 4, 5, 6, 7, 9, 10, 0xBAD, 0x40000BAD})


#: ``ByteRange.end`` of a range that is the whole file (compressed files are never cut)
WHOLE = -1


class NotSplittable(Exception):
    """This pcapng range met a section or interface block: read the file whole instead."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    path: str
    start: int
    end: int  # exclusive; records starting before it belong to this range (WHOLE: all)
    index: int  # position among the file's ranges


@dataclass(frozen=True, slots=True)
class _PcapHeader:
    endian: str
    resolution: float
    snaplen: int
    link_type: int
    first_sec: int | None


def _pcap_header(fh: BinaryIO) -> _PcapHeader:
    head = fh.read(24)
    endian, resolution = PCAP_MAGICS[head[:4]]
    snaplen, network = struct.unpack_from(endian + "II", head, 16)
    rec = fh.read(16)
    first = struct.unpack(endian + "I", rec[:4])[0] if len(rec) == 16 else None
    return _PcapHeader(endian, resolution, snaplen, network & 0x0FFFFFFF, first)


def _pcap_plausible(h: _PcapHeader, buf: bytes, pos: int) -> int:
    """Length of the record at ``pos`` if its header is plausible, else -1."""
    if pos + 16 > len(buf):
        return -1
    sec, frac, incl, orig = struct.unpack_from(h.endian + "IIII", buf, pos)
    limit = max(h.snaplen, _MAX_RECORD) if h.snaplen else _MAX_RECORD
    if incl > limit or incl > orig or orig > (1 << 24):
        return -1
    if frac >= (1_000_000 if h.resolution == 1e-6 else 1_000_000_000):
        return -1
    if h.first_sec is not None and abs(sec - h.first_sec) > _TIME_SLACK:
        return -1
    return 16 + incl


def _pcap_boundary(h: _PcapHeader, fh: BinaryIO, at: int, size: int) -> int:
    """The first offset at or after ``at`` where a chain of plausible records starts."""
    fh.seek(at)
    buf = fh.read(_SEARCH + _CHAIN * (16 + _MAX_RECORD))
    for p in range(min(_SEARCH, len(buf))):
        q, ok = p, True
        for _ in range(_CHAIN):
            if at + q == size:
                break  # the chain reached the end of the file exactly
            n = _pcap_plausible(h, buf, q)
            if n < 0 or at + q + n > size:
                ok = False
                break
            q += n
        if ok:
            return at + p
    return size  # no boundary found in reach: the previous range runs on


def _pcapng_block_ok(endian: str, buf: bytes, pos: int) -> int:
    if pos + 12 > len(buf):
        return -1
    btype, blen = struct.unpack_from(endian + "II", buf, pos)
    if btype not in _PCAPNG_BLOCKS or blen < 12 or blen % 4 or pos + blen > len(buf):
        return -1
    (trail,) = struct.unpack_from(endian + "I", buf, pos + blen - 4)
    return blen if trail == blen else -1


def _pcapng_layout(fh: BinaryIO) -> tuple[str, int]:
    """(byte order, offset of the first packet block) — everything before it is the
    section and interface blocks every range needs."""
    head = fh.read(12)
    endian = "<" if head[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    pos = 0
    while True:
        fh.seek(pos)
        hdr = fh.read(8)
        if len(hdr) < 8:
            return endian, pos
        btype, blen = struct.unpack(endian + "II", hdr)
        if btype in (2, 3, 6) or blen < 12:
            return endian, pos
        pos += blen


def _pcapng_boundary(endian: str, fh: BinaryIO, at: int, size: int) -> int:
    fh.seek(at - (at % 4))
    base = at - (at % 4)
    buf = fh.read(_SEARCH + 2 * (_MAX_RECORD + 64))
    for p in range(0, min(_SEARCH, len(buf)), 4):
        n = _pcapng_block_ok(endian, buf, p)
        if n < 0:
            continue
        if base + p + n == size or _pcapng_block_ok(endian, buf, p + n) > 0:
            return base + p
    return size


def whole_file(path: str) -> ByteRange:
    """The range that is all of ``path`` (any input: standard input, URL, gzip)."""
    return ByteRange(path, 0, WHOLE, 0)


def split_capture(path: str, pieces: int, min_size: int = 1 << 16) -> list[ByteRange]:
    """Cut an uncompressed local pcap/pcapng file into about ``pieces`` ranges (a file
    under ``min_size`` bytes, or a compressed one, is one range)."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise CaptureError(f"{path}: cannot open ({e.strerror})") from None
    with fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(0)
        magic = fh.read(4)
        fh.seek(0)
        if pieces <= 1 or size < min_size:
            return [ByteRange(path, 0, WHOLE, 0)]
        if magic in PCAP_MAGICS:
            h = _pcap_header(fh)
            first = 24
            cuts = [first]
            for k in range(1, pieces):
                at = first + (size - first) * k // pieces
                b = _pcap_boundary(h, fh, max(at, cuts[-1] + 1), size)
                if b > cuts[-1] and b < size:
                    cuts.append(b)
        elif magic == PCAPNG_SHB:
            endian, first = _pcapng_layout(fh)
            cuts = [0]
            for k in range(1, pieces):
                at = first + (size - first) * k // pieces
                b = _pcapng_boundary(endian, fh, max(at, cuts[-1] + 4), size)
                if b > cuts[-1] and b < size:
                    cuts.append(b)
        else:
            return [ByteRange(path, 0, WHOLE, 0)]
    cuts.append(size)
    return [ByteRange(path, a, b, i) for i, (a, b) in enumerate(itertools.pairwise(cuts))]


class _LastOffset:
    """Stands in for the reader's offsets array: keeps only the latest offset, so a
    range of any size needs no memory per frame — or, given ``keep``, also appends every
    offset (moved by ``shift``: from the reader's stream to the file) to it."""

    __slots__ = ("keep", "shift", "value")

    def __init__(self, keep: array[int] | None = None, shift: int = 0) -> None:
        self.value = 0
        self.keep = keep
        self.shift = shift

    def append(self, offset: int) -> None:
        self.value = offset
        if self.keep is not None:
            self.keep.append(offset + self.shift)


def read_range(
    r: ByteRange,
    offsets: array[int] | None = None,
    on_reader: Callable[[CaptureReader], None] | None = None,
) -> Iterator[RawFrame]:
    """The records starting in ``r``, numbered from 1 within the range. The file's own
    header (and, for pcapng, its section and interface blocks) is read first.

    ``offsets``: every record's offset in the file is appended to it (for a compressed
    input: in the decompressed stream). ``on_reader``: called with the reader before
    the first frame (so a caller can look at its ``info`` afterwards)."""
    if r.end == WHOLE:
        reader = open_capture(r.path, offsets)
        if on_reader is not None:
            on_reader(reader)
        yield from reader
        return
    if r.start == 0:
        last = _LastOffset(offsets)
        reader = CaptureReader(r.path, offsets=last)  # type: ignore[arg-type]
        if on_reader is not None:
            on_reader(reader)
        yield from _until(reader, last, r.end)
        return
    with open(r.path, "rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        if magic in PCAP_MAGICS:
            prefix = fh.read(24)
        else:
            _endian, first = _pcapng_layout(fh)
            fh.seek(0)
            prefix = fh.read(first)
    last = _LastOffset(offsets, r.start - len(prefix))
    raw = open(r.path, "rb")  # noqa: SIM115 - closed by the reader
    raw.seek(r.start)
    stream = _PrefixedStream(prefix, raw)
    reader = CaptureReader(r.path, offsets=last, fileobj=stream)  # type: ignore[arg-type]
    if on_reader is not None:
        on_reader(reader)
    yield from _until(reader, last, r.end - r.start + len(prefix))


def _until(reader: CaptureReader, last: _LastOffset, end: int) -> Iterator[RawFrame]:
    """Frames whose record starts before ``end``; a section or interface block met after
    the first packet makes the range unusable (:class:`NotSplittable`)."""
    interfaces = None
    count = 0
    try:
        for fr in reader:
            if last.value >= end:
                return
            if interfaces is None:
                interfaces, count = reader.info.interfaces, len(reader.info.interfaces)
            elif reader.info.interfaces is not interfaces or len(interfaces) != count:
                raise NotSplittable(f"{reader.path}: interface blocks between packets")
            yield fr
    finally:
        reader.close()


class _PrefixedStream:
    """``prefix`` then the rest of ``fh``: read-only, forward-only."""

    def __init__(self, prefix: bytes, fh: BinaryIO) -> None:
        self._prefix = prefix
        self._fh = fh

    def peek(self, n: int = 1) -> bytes:
        return self._prefix[:n] if self._prefix else self._fh.read(0)

    def read(self, n: int = -1) -> bytes:
        if self._prefix:
            out = self._prefix if n < 0 else self._prefix[:n]
            self._prefix = self._prefix[len(out) :]
            if n < 0 or len(out) < n:
                out += self._fh.read(-1 if n < 0 else n - len(out))
            return out
        return self._fh.read(n)

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        self._fh.close()
