"""Each partition's own records, from what the survey wrote down about every frame.

Why: a partition that reads every input and skips the other tunnels' frames pays for the
whole capture, so more workers were slower, not faster. The survey task of every piece
(an input, or a byte range of one) already looks at every frame's outer addresses: it
also keeps each record's offset and length and a one-byte tunnel code
(:class:`~ipsec_inspect.pipeline.tunnels.FrameCodes`) — 9 bytes a frame, per piece.
After the plan, the driver selects, per partition, the offsets, lengths and *global*
frame numbers of its records with ``bytes.translate`` and ``itertools.compress`` (no
Python loop per frame) and ships them with the partition's task; the worker reads only
those records (``sources.indexed``). No spill files, so nothing needs shared storage
beyond the inputs themselves.

Exact only where the global numbering is a sum: pcap inputs, uncompressed, read without
a warning, each in time order and following one another (a ring, one file). Anything else
(pcapng, gzip, overlapping inputs, a time window, damage) keeps the old way.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, compress, islice

from ipsec_inspect.pipeline.tunnels import FrameCodes, Plan, Survey
from ipsec_inspect.sources.byte_ranges import WHOLE, ByteRange
from ipsec_inspect.sources.capture_file import CaptureReader
from ipsec_inspect.sources.indexed import PartRecords, RecordSlice
from ipsec_inspect.sources.multi import FileSummary, input_size


@dataclass
class PieceIndex:
    """Every record of one surveyed piece: its tunnel code, offset and length."""

    codes: FrameCodes
    starts: array[int]
    lengths: array[int]


def piece_index(
    r: ByteRange, s: Survey, offsets: array[int], readers: list[CaptureReader], codes: FrameCodes
) -> PieceIndex | None:
    """The index of a piece, or None where reading only some records would not be exact
    (not plain pcap, compressed, or the reader warned about anything)."""
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
    lengths = array("I", map(operator.sub, chain(islice(offsets, 1, None), (end,)), offsets))
    if n and max(lengths) < (1 << 16):
        lengths = array("H", lengths)
    starts = array("I", offsets) if end < (1 << 32) else offsets
    return PieceIndex(codes, starts, lengths)


def part_records(
    the_plan: Plan,
    partition: int,
    names: Sequence[str],
    order: Sequence[int],
    pieces: Sequence[tuple[ByteRange, Survey, PieceIndex]],
) -> PartRecords:
    """One partition's records in reading order, with their global numbers, and the
    merged stream's facts (frames, first and last time, ``capture.files``) as the
    sequential merge (``MergedReader._in_sequence``) would report them."""
    by_input: dict[str, list[tuple[ByteRange, Survey, PieceIndex]]] = {}
    for piece in pieces:
        by_input.setdefault(piece[0].path, []).append(piece)
    for ps in by_input.values():
        ps.sort(key=lambda p: p[0].index)
    counts = [sum(s.count for _r, s, _x in by_input.get(n, [])) for n in names]
    bases = [0] * len(names)
    running = 0
    for i in order:
        bases[i] = running
        running += counts[i]
    wide = "I" if running < (1 << 32) else "Q"
    files: list[FileSummary] = []
    for i, name in enumerate(names):
        times = [s for _r, s, _x in by_input.get(name, []) if s.count]
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
    out = PartRecords([], bases, files, running)
    spans = [f for f in (files[i] for i in order) if f.frames]
    if spans:
        out.first_time, out.last_time = spans[0].first_time, spans[-1].last_time

    def mine(t: bytes) -> bool:
        return the_plan.partition_of(t) == partition

    for i in order:
        mine_pieces = by_input.get(names[i], [])
        rec = RecordSlice(
            names[i],
            array("I" if all(x.starts.typecode == "I" for _r, _s, x in mine_pieces) else "Q"),
            array("H" if all(x.lengths.typecode == "H" for _r, _s, x in mine_pieces) else "I"),
            array(wide),
        )
        local = bases[i]
        for _r, s, idx in mine_pieces:
            mask = idx.codes.codes.translate(idx.codes.table(mine))
            rec.starts.extend(compress(idx.starts, mask))
            rec.lengths.extend(compress(idx.lengths, mask))
            rec.numbers.extend(compress(range(local + 1, local + s.count + 1), mask))
            local += s.count
            out.check = out.check or idx.codes.overflow
        out.slices.append((i, rec))
    return out
