"""Each partition's own records, from what the survey wrote down about every frame.

Why: a partition that reads every input and skips the other tunnels' frames pays for the
whole capture, so more workers were slower, not faster. The survey task of every piece
(an input, or a byte range of one) already looks at every frame's outer addresses: it
also keeps each record's offset and a one-byte tunnel code — 5 bytes a frame, per piece
(:class:`PieceIndex`), on the worker that surveyed it. After the plan, one small task per
(piece, span of its index, partition) runs beside that index and cuts out the partition's records
(:func:`cut_piece`: their offsets and *global* frame numbers, selected with numpy); the
partition task fetches its cuts one at a time as its reader reaches them
(:func:`part_records`) and reads only those records (``sources.indexed``). So a partition
never holds the whole capture's index, and the survey's index never leaves its worker.

Memory does not grow with the capture: every per-record column (:class:`Column`) larger
than :data:`SPILL_BYTES` is written to a file in the worker's local directory (never
shared storage: a column that travels goes as its values), a cut task works on at most
:data:`CUT_RECORDS` index positions, and a partition holds one such span's records at a
time.

Exact only where the global numbering is a sum: pcap inputs, uncompressed, read without
a warning, each in time order and following one another (a ring, one file). Anything else
(pcapng, gzip, overlapping inputs, a time window, damage) keeps the old way.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ipsec_inspect.pipeline.tunnels import FrameCodes, Survey, Tunnel
from ipsec_inspect.sources.byte_ranges import WHOLE, ByteRange
from ipsec_inspect.sources.capture_file import CaptureReader
from ipsec_inspect.sources.indexed import PartRecords, RecordSlice
from ipsec_inspect.sources.multi import FileSummary, input_size

#: a per-record column (an index's offsets or codes, a cut's offsets or numbers) larger
#: than this goes to a file in the worker's local directory instead of its memory
SPILL_BYTES = 64 << 10
#: index positions one cut task handles: what a partition holds of its records at a
#: time (at most 8 bytes each) and what a cut task works on at once
CUT_RECORDS = 1 << 18


@dataclass(frozen=True)
class Limits:
    """How much per-record data a survey or cut task keeps in memory (picklable: it
    travels with the tasks). ``directory``: where spilled columns go (None: the system's
    temporary directory; a Dask task uses its worker's local directory)."""

    spill_bytes: int = SPILL_BYTES
    cut_records: int = CUT_RECORDS
    directory: str | None = None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class Column:
    """A one-dimensional array, appended to in parts: kept in memory while it is at most
    ``limit`` bytes, else in a file of ``directory`` (removed when the column is
    collected) and read back by slices with plain reads — not mapped, so what was read
    does not stay in the process's resident memory.

    Pickled (Dask moving it to another worker, or a partition fetching a cut), it
    travels as its values and becomes a column of the receiving process again."""

    def __init__(self, dtype: Any, limit: int, directory: str | None = None) -> None:
        self.dtype = np.dtype(dtype)
        self.limit = limit
        self.directory = directory
        self._parts: list[npt.NDArray[Any]] = []
        self._held = 0
        self._array: npt.NDArray[Any] | None = None
        self._path: str | None = None
        self._fh: Any = None
        self._len = 0

    @classmethod
    def of(cls, values: npt.NDArray[Any], limit: int, directory: str | None = None) -> Column:
        c = cls(values.dtype, limit, directory)
        c.append(values)
        return c.finish()

    def append(self, values: npt.NDArray[Any]) -> None:
        a = np.ascontiguousarray(values, dtype=self.dtype)
        if not len(a):
            return
        self._len += len(a)
        if self._fh is None and self._path is None and self._held + a.nbytes <= self.limit:
            self._parts.append(a)
            self._held += a.nbytes
            return
        if self._fh is None:
            fd, self._path = tempfile.mkstemp(
                prefix="ipsec-inspect-", suffix=".col", dir=self.directory
            )
            weakref.finalize(self, _remove, self._path)
            self._fh = os.fdopen(fd, "wb")
            for part in self._parts:
                self._fh.write(part.data)
            self._parts, self._held = [], 0
        self._fh.write(a.data)

    def finish(self) -> Column:
        """No more parts: close the file, or join the parts in memory."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        elif self._path is None:
            parts = self._parts or [np.zeros(0, dtype=self.dtype)]
            self._array = parts[0] if len(parts) == 1 else np.concatenate(parts)
            self._parts, self._held = [], 0
        return self

    @property
    def on_disk(self) -> bool:
        return self._path is not None

    @property
    def in_memory_bytes(self) -> int:
        """Bytes of values this column holds in memory."""
        return self._array.nbytes if self._array is not None else self._held

    def __len__(self) -> int:
        return self._len

    def read(self, lo: int, hi: int) -> npt.NDArray[Any]:
        """Values ``[lo, hi)`` (clipped to the column)."""
        lo, hi = max(0, lo), min(hi, self._len)
        if self._array is not None:
            return self._array[lo:hi]
        if hi <= lo or self._path is None:
            return np.zeros(0, dtype=self.dtype)
        size = self.dtype.itemsize
        with open(self._path, "rb") as fh:
            fh.seek(lo * size)
            data = fh.read((hi - lo) * size)
        return np.frombuffer(data, dtype=self.dtype)

    def truncate(self, n: int) -> None:
        """Keep the first ``n`` values (a finished column)."""
        if n >= self._len:
            return
        self._len = n
        if self._array is not None:
            self._array = self._array[:n]
        elif self._path is not None:
            os.truncate(self._path, n * self.dtype.itemsize)

    def values(self) -> npt.NDArray[Any]:
        """Every value (in memory: for tests and for small columns)."""
        return self.read(0, self._len)

    def __getstate__(self) -> dict[str, Any]:
        return {"limit": self.limit, "values": self.values()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        values = state["values"]
        self.__init__(values.dtype, state["limit"])  # type: ignore[misc]
        self.append(values)
        self.finish()


@dataclass
class PieceIndex:
    """Every record of one surveyed piece: its tunnel code and offset (its length is in
    its header, which the partition reads anyway)."""

    codes: Column  # per record (uint8): an index into ``tunnels``, or OVERFLOW
    tunnels: list[Tunnel]
    overflow: bool  # some records have OVERFLOW (more than 255 tunnels in the piece)
    starts: Column  # per record: its offset in the file (uint32 where the file allows)
    end: int  # where the piece's last record ends

    def table(self, wanted: Callable[[Tunnel], bool]) -> bytes:
        """code -> 1 if the record is wanted (see :meth:`FrameCodes.table`)."""
        return FrameCodes(tunnels=self.tunnels).table(wanted)


def offset_type(end: int) -> Any:
    """The dtype of the record offsets of a piece that ends at ``end``: as small as the
    values allow (the index stays on a worker)."""
    return np.uint32 if end < (1 << 32) else np.uint64


class IndexSink:
    """The ordinary survey's record offsets and codes (which its reader and
    ``tunnels.survey`` append to an array and a bytearray), moved into columns every
    :data:`FLUSH_FRAMES` frames: so that survey's memory does not grow with its piece
    either. Offsets are typed for the piece's size (a compressed input's offsets may not
    fit, but such a piece gets no index)."""

    def __init__(
        self, r: ByteRange, offsets: array[int], codes: FrameCodes, limits: Limits
    ) -> None:
        self.offsets, self.codes = offsets, codes
        size = r.end if r.end != WHOLE else input_size(r.path)
        self.starts = Column(offset_type(size), limits.spill_bytes, limits.directory)
        self.code_column = Column(np.uint8, limits.spill_bytes, limits.directory)

    def frames(self, frames: Iterable[Any]) -> Iterator[Any]:
        """``frames``, flushing after every :data:`FLUSH_FRAMES` of them."""
        k = 0
        for fr in frames:
            yield fr
            k += 1
            if k == FLUSH_FRAMES:
                self.flush()
                k = 0

    def flush(self) -> None:
        if self.offsets:
            self.starts.append(np.array(self.offsets, dtype=np.uint64))  # a copy
            del self.offsets[:]
        if self.codes.codes:
            self.code_column.append(np.array(self.codes.codes, dtype=np.uint8))
            del self.codes.codes[:]


#: frames between two flushes of :class:`IndexSink`
FLUSH_FRAMES = 1 << 16


def piece_index(
    r: ByteRange,
    s: Survey,
    offsets: array[int] | IndexSink,
    readers: list[CaptureReader],
    codes: FrameCodes,
    limits: Limits | None = None,
) -> PieceIndex | None:
    """The index of a piece the ordinary reader surveyed, or None where reading only some
    records would not be exact (not plain pcap, compressed, or the reader warned).
    ``offsets``: every record's offset, or the sink that took them and the codes."""
    limits = limits or Limits()
    if not isinstance(offsets, IndexSink):
        sink = IndexSink(r, offsets, codes, limits)
        sink.flush()
        offsets = sink
    offsets.flush()
    starts, code_column = offsets.starts.finish(), offsets.code_column.finish()
    if len(readers) != 1:
        return None
    info = readers[0].info
    if info.format != "pcap" or info.compressed or info.warnings or info.raw_times:
        return None
    n = s.count
    if len(code_column) != n:
        return None
    if len(starts) == n + 1:  # the range reader saw the next range's first record
        end = int(starts.read(n, n + 1)[0])
        starts.truncate(n)
    elif len(starts) == n:
        end = r.end if r.end != WHOLE else input_size(r.path)
    else:
        return None
    if n and end <= int(starts.read(n - 1, n)[0]):
        return None
    return PieceIndex(code_column, codes.tunnels, codes.overflow, starts, end)


@dataclass
class PieceCut:
    """One partition's records of a span of one piece, cut out beside the piece's index
    (kept there, on disk beyond :attr:`Limits.spill_bytes`, until the partition
    fetches it)."""

    starts: Column  # record offsets in the file
    numbers: Column  # global frame numbers
    size: int  # bytes of those records (headers included)
    overflow: bool  # the piece has frames whose tunnel it did not write down


def spans(records: int, limits: Limits) -> list[tuple[int, int]]:
    """The index positions of a piece of ``records`` records, one span per cut task."""
    step = max(1, limits.cut_records)
    return [(lo, min(lo + step, records)) for lo in range(0, records, step)]


def cut_piece(
    piece: tuple[ByteRange, Survey, int, PieceIndex | None],
    table: bytes,
    first: int,
    span: tuple[int, int] | None = None,
    limits: Limits | None = None,
) -> PieceCut:
    """The records of one piece whose codes ``table`` wants (``PieceIndex.table``), in
    index positions ``span`` (None: all); ``first``: the global number of the piece's
    first record. Reads only that span of the index (from disk, if it is there)."""
    limits = limits or Limits()
    idx = piece[3]
    if idx is None:
        raise ValueError(f"{piece[0].path}: no record index to cut")
    lo, hi = span if span is not None else (0, len(idx.codes))
    codes = idx.codes.read(lo, hi)
    offsets = idx.starts.read(lo, hi + 1)  # and the next record's start, if any
    mine = np.flatnonzero(np.frombuffer(table, dtype=np.uint8).view(np.bool_)[codes])
    starts = offsets[mine]
    ends = np.empty_like(starts)
    if len(mine):
        after = mine + 1
        inside = after < len(offsets)
        ends[inside] = offsets[after[inside]]
        ends[~inside] = idx.end
    mine += lo + first
    numbers = mine.astype(np.uint32 if first + len(idx.codes) < (1 << 32) else np.uint64)
    size = int((ends.astype(np.int64) - starts.astype(np.int64)).sum())
    where = limits.spill_bytes, limits.directory
    return PieceCut(Column.of(starts, *where), Column.of(numbers, *where), size, idx.overflow)


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


class CutRef(Protocol):
    """A handle on a cut kept where it was made (``Executor.refs``): fetched when the
    partition's reader reaches it, so the partition holds one span's records at a time."""

    def get(self) -> PieceCut: ...


def part_records(
    the_layout: Layout,
    cuts: Sequence[Sequence[CutRef]],
    *,
    total_bytes: int = 0,
    check: bool = False,
    positions: Sequence[Sequence[int]] | None = None,
    budget: int = CUT_RECORDS,
    fetch_many: Callable[[Sequence[CutRef]], Sequence[PieceCut]] | None = None,
) -> PartRecords:
    """One partition's records in reading order, with their global numbers (``cuts``:
    per piece, in the order of ``the_layout.pieces``, the handles of its spans' cuts;
    ``total_bytes`` and ``check``: what the driver knows of them from the survey).

    Consecutive cuts whose spans (``positions``: their index positions, per piece) add
    up to at most ``budget`` are fetched together (``fetch_many``: one round trip), so
    small pieces do not cost a wait each and a partition still holds at most ``budget``
    records' offsets and numbers at a time."""
    out = PartRecords(
        [],
        list(the_layout.bases),
        list(the_layout.files),
        the_layout.frames,
        the_layout.first_time,
        the_layout.last_time,
        check=check,
        total_bytes=total_bytes,
    )
    sizes = positions if positions is not None else [[budget] * len(c) for c in cuts]
    by_input: dict[int, list[tuple[Sequence[CutRef], Sequence[int]]]] = {}
    for (i, _k, _first), c, widths in zip(the_layout.pieces, cuts, sizes, strict=True):
        by_input.setdefault(i, []).append((c, widths))
    group = _Group(fetch_many)
    held = 0
    for i in the_layout.order:
        for refs, ns in by_input.get(i, []):
            for ref, n in zip(refs, ns, strict=True):
                if group.refs and held + n > budget:
                    group, held = _Group(fetch_many), 0
                held += n
                out.slices.append((i, group.add(the_layout.names[i], ref)))
    return out


class _Group:
    """Cuts fetched together when the reader reaches the first of them, handed out one
    by one and dropped as they are."""

    def __init__(self, fetch_many: Callable[[Sequence[CutRef]], Sequence[PieceCut]] | None):
        self.fetch_many = fetch_many
        self.refs: list[CutRef] = []
        self.got: list[PieceCut | None] | None = None

    def add(self, name: str, ref: CutRef) -> Callable[[], RecordSlice]:
        k = len(self.refs)
        self.refs.append(ref)

        def fetch() -> RecordSlice:
            if self.got is None:
                many = self.fetch_many
                self.got = list(many(self.refs) if many else [r.get() for r in self.refs])
            c, self.got[k] = self.got[k], None
            assert c is not None, "each cut is read once"
            return RecordSlice(name, _ints(c.starts.values()), _ints(c.numbers.values()))

        return fetch


def part_size(
    partition_of: Callable[[Tunnel], int],
    partition: int,
    pieces: Sequence[tuple[Survey, list[Tunnel]]],
) -> tuple[int, int, bool]:
    """(records, bytes with headers, some tunnels undecided) of one partition's cuts,
    from the survey facts of every piece (``pieces``: its survey and coded tunnels): a
    tunnel the piece did not code (overflow) is in every partition's cuts."""
    count = size = 0
    check = False
    for s, tunnels in pieces:
        coded = set(tunnels)
        for t, n in s.frames.items():
            if t not in coded:
                check = True
            elif partition_of(t) != partition:
                continue
            count += n
            size += s.sizes.get(t, 0) + 16 * n
    return count, size, check


def _ints(a: npt.NDArray[np.unsignedinteger]) -> memoryview:
    """An array as a memoryview that iterates as Python ints (no copy; a plain format,
    whatever byte-order mark the array's dtype carried through pickling)."""
    return np.ascontiguousarray(a).data.cast("B").cast("I" if a.itemsize == 4 else "Q")
