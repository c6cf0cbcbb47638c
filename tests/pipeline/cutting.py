"""Cut a capture into several files at given frames: the inputs of the multi-file tests.

Why byte copies rather than rewriting packets: each piece keeps the original records
exactly (pcap: the file header, then a run of records; pcapng: the section and interface
blocks, then a run of blocks), so merging the pieces must give back the original frames.
"""

from __future__ import annotations

import gzip
import io
import itertools
from array import array
from pathlib import Path

from ipsec_inspect.sources.byte_ranges import _pcapng_layout
from ipsec_inspect.sources.capture_file import PCAP_MAGICS, CaptureReader


def raw_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def frames_of(path: Path) -> list[tuple[float, bytes]]:
    return [(f[1], f[3]) for f in CaptureReader(str(path))]


def cut(path: Path, at: list[int], out: Path) -> list[Path]:
    """Pieces of ``path`` starting at the 0-based frame indexes ``at`` (first piece from 0)."""
    data = raw_bytes(path)
    src = out / f"whole-{path.stem}.cap"
    src.write_bytes(data)
    offsets: array[int] = array("Q")
    for _ in CaptureReader(str(src), offsets=offsets):
        pass
    if data[:4] in PCAP_MAGICS:
        prefix_end = 24
    else:
        _e, prefix_end = _pcapng_layout(io.BytesIO(data))  # type: ignore[arg-type]
    prefix = data[:prefix_end]
    starts = [0, *sorted(set(a for a in at if 0 < a < len(offsets)))]
    pieces = []
    for k, first in enumerate(starts):
        begin = offsets[first] if first else prefix_end
        end = offsets[starts[k + 1]] if k + 1 < len(starts) else len(data)
        p = out / f"piece-{k:02d}.cap"
        p.write_bytes(prefix + data[begin:end])
        pieces.append(p)
    src.unlink()
    return pieces


def monotonic(frames: list[tuple[float, bytes]]) -> bool:
    return all(a[0] <= b[0] for a, b in itertools.pairwise(frames))
