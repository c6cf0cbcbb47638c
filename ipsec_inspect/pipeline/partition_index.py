"""Each partition's own records, from what the survey wrote down about every frame.

Why: a partition that reads every input and skips the other tunnels' frames pays for the
whole capture, so more workers were slower, not faster. The survey task of every piece
(an input, or a byte range of one) already looks at every frame's outer addresses: it
also keeps each record's offset and a one-byte tunnel code — 5 bytes a frame, per piece
(:class:`PieceIndex`), on the worker that surveyed it. After the plan, one small task per
(piece, partition) runs beside that index and cuts out the partition's records
(:func:`cut_piece`: their offsets and *global* frame numbers, selected with numpy); the
partition task receives only its own cuts (:func:`part_records`) and reads only those
records (``sources.indexed``). So a partition never holds the whole capture's index, and
the survey's index never leaves its worker. No spill files, so nothing needs shared
storage beyond the inputs themselves.

Exact only where the global numbering is a sum: pcap inputs, uncompressed, read without
a warning, each in time order and following one another (a ring, one file). Anything else
(pcapng, gzip, overlapping inputs, a time window, damage) keeps the old way.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ipsec_inspect.pipeline.tunnels import FrameCodes, Survey, Tunnel
from ipsec_inspect.sources.byte_ranges import WHOLE, ByteRange
from ipsec_inspect.sources.capture_file import CaptureReader
from ipsec_inspect.sources.indexed import PartRecords, RecordSlice
from ipsec_inspect.sources.multi import FileSummary, input_size


@dataclass
class PieceIndex:
    """Every record of one surveyed piece: its tunnel code and offset (its length is in
    its header, which the partition reads anyway)."""

    codes: npt.NDArray[np.uint8]  # per record: an index into ``tunnels``, or OVERFLOW
    tunnels: list[Tunnel]
    overflow: bool  # some records have OVERFLOW (more than 255 tunnels in the piece)
    starts: npt.NDArray[np.unsignedinteger]  # per record: its offset in the file
    end: int  # where the piece's last record ends

    def table(self, wanted: Callable[[Tunnel], bool]) -> bytes:
        """code -> 1 if the record is wanted (see :meth:`FrameCodes.table`)."""
        return FrameCodes(tunnels=self.tunnels).table(wanted)


def piece_index(
    r: ByteRange, s: Survey, offsets: array[int], readers: list[CaptureReader], codes: FrameCodes
) -> PieceIndex | None:
    """The index of a piece the ordinary reader surveyed, or None where reading only some
    records would not be exact (not plain pcap, compressed, or the reader warned)."""
    if len(readers) != 1:
        return None
    info = readers[0].info
    if info.format != "pcap" or info.compressed or info.warnings or info.raw_times:
        return None
    if len(codes.codes) != s.count:
        return None
    n = s.count
    if len(offsets) == n + 1:  # the range reader saw the next range's first record
        end = offsets.pop()
    elif len(offsets) == n:
        end = r.end if r.end != WHOLE else input_size(r.path)
    else:
        return None
    if n and end <= offsets[-1]:
        return None
    starts = np.frombuffer(offsets, dtype=np.uint64) if n else np.zeros(0, dtype=np.uint64)
    return PieceIndex(
        np.frombuffer(bytes(codes.codes), dtype=np.uint8),
        codes.tunnels,
        codes.overflow,
        starts.astype(np.uint32) if end < (1 << 32) else starts.copy(),
        end,
    )


@dataclass
class PieceCut:
    """One partition's records of one piece, cut out beside the piece's index."""

    starts: npt.NDArray[np.unsignedinteger]  # record offsets in the file
    numbers: npt.NDArray[np.unsignedinteger]  # global frame numbers
    size: int  # bytes of those records (headers included), for the progress
    overflow: bool  # the piece has frames whose tunnel it did not write down


def cut_piece(
    piece: tuple[ByteRange, Survey, int, PieceIndex | None], table: bytes, first: int
) -> PieceCut:
    """The records of one piece whose codes ``table`` wants (``PieceIndex.table``);
    ``first``: the global number of the piece's first record."""
    idx = piece[3]
    if idx is None:
        raise ValueError(f"{piece[0].path}: no record index to cut")
    mine = np.flatnonzero(np.frombuffer(table, dtype=np.uint8).view(np.bool_)[idx.codes])
    starts = idx.starts[mine]
    ends = np.empty_like(starts)
    if len(mine):
        after = mine + 1
        inside = after < len(idx.starts)
        ends[inside] = idx.starts[after[inside]]
        ends[~inside] = idx.end
    numbers: npt.NDArray[np.unsignedinteger] = (
        (mine + first).astype(np.uint32)
        if first + len(idx.codes) < (1 << 32)
        else (mine + first).astype(np.uint64)
    )
    size = int((ends.astype(np.int64) - starts.astype(np.int64)).sum())
    return PieceCut(starts, numbers, size, idx.overflow)


@dataclass(frozen=True)
class Layout:
    """The merged stream's facts, from the survey: the same for every partition."""

    names: tuple[str, ...]
    order: tuple[int, ...]  # the inputs in reading order
    bases: tuple[int, ...]  # per input: frames of the inputs read before it
    files: tuple[FileSummary, ...]  # per input, as capture.files shows it
    frames: int
    first_time: float | None
    last_time: float | None
    #: the pieces in reading order: (input index, position in ``pieces`` given to
    #: :func:`layout`, global number of its first record)
    pieces: tuple[tuple[int, int, int], ...]


def layout(
    names: Sequence[str], order: Sequence[int], pieces: Sequence[tuple[ByteRange, Survey]]
) -> Layout:
    """Global numbering of a ring (``order``: the inputs follow one another in time), as
    the sequential merge (``MergedReader._in_sequence``) would number and report it."""
    by_input: dict[str, list[tuple[int, ByteRange, Survey]]] = {}
    for k, (r, s) in enumerate(pieces):
        by_input.setdefault(r.path, []).append((k, r, s))
    for ps in by_input.values():
        ps.sort(key=lambda p: p[1].index)
    counts = [sum(s.count for _k, _r, s in by_input.get(n, [])) for n in names]
    bases = [0] * len(names)
    running = 0
    placed: list[tuple[int, int, int]] = []
    for i in order:
        bases[i] = running
        for k, _r, s in by_input.get(names[i], []):
            placed.append((i, k, running + 1))
            running += s.count
    files: list[FileSummary] = []
    for i, name in enumerate(names):
        times = [s for _k, _r, s in by_input.get(name, []) if s.count]
        files.append(
            FileSummary(
                name,
                "pcap",
                False,
                counts[i],
                counts[i],
                times[0].first_time if times else None,
                times[-1].last_time if times else None,
            )
        )
    spans = [f for f in (files[i] for i in order) if f.frames]
    return Layout(
        tuple(names),
        tuple(order),
        tuple(bases),
        tuple(files),
        running,
        spans[0].first_time if spans else None,
        spans[-1].last_time if spans else None,
        tuple(placed),
    )


def part_records(the_layout: Layout, cuts: Sequence[PieceCut]) -> PartRecords:
    """One partition's records in reading order, with their global numbers (``cuts``:
    one per piece, in the order of ``the_layout.pieces``)."""
    out = PartRecords(
        [],
        list(the_layout.bases),
        list(the_layout.files),
        the_layout.frames,
        the_layout.first_time,
        the_layout.last_time,
    )
    by_input: dict[int, list[PieceCut]] = {}
    for (i, _k, _first), c in zip(the_layout.pieces, cuts, strict=True):
        by_input.setdefault(i, []).append(c)
        out.check = out.check or c.overflow
        out.total_bytes += c.size
    for i in the_layout.order:
        for c in by_input.get(i, []):
            if len(c.starts):  # read as they came: no copy of the cuts
                rec = RecordSlice(the_layout.names[i], _ints(c.starts), _ints(c.numbers))
                out.slices.append((i, rec))
    return out


def _ints(a: npt.NDArray[np.unsignedinteger]) -> memoryview:
    """An array as a memoryview that iterates as Python ints (no copy; a plain format,
    whatever byte-order mark the array's dtype carried through pickling)."""
    return np.ascontiguousarray(a).data.cast("B").cast("I" if a.itemsize == 4 else "Q")
