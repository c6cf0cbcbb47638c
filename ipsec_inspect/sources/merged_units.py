"""The units of several captures (``capture_units``) merged by timestamp, as mergecap
and :class:`~ipsec_inspect.sources.multi.MergedReader` merge their frames.

Why: ``decrypt`` writes pcapng by copying each input block by block; with several inputs
the packets must come out in the merged order (earliest first, ties to the input named
first), and each input's other blocks — its interfaces above all — must come out before
the packets that need them. So every packet travels with the blocks that preceded it in
its own input, and blocks after an input's last packet come at the end.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator, Sequence

from ipsec_inspect.core.records import CaptureWarning
from ipsec_inspect.sources.capture_units import RawPacket, Unit, iter_units
from ipsec_inspect.sources.multi import TimeWindow

#: (time, input, units): a usable packet last, the blocks before it in its input first
_Group = tuple[float, int, list[Unit]]


def _groups(i: int, units: Iterator[Unit]) -> Iterator[_Group]:
    pending: list[Unit] = []
    for u in units:
        pending.append(u)
        if isinstance(u, RawPacket) and u.usable:
            yield u.time, i, pending
            pending = []
    if pending:
        yield math.inf, i, pending


def merged_units(
    names: Sequence[str],
    on_warning: Callable[[CaptureWarning], None],
    window: TimeWindow | None = None,
) -> Iterator[tuple[int, Unit, int]]:
    """(input index, unit, global frame number) in merged order; the number is 0 for a
    unit that is not a usable packet and -1 for a packet outside ``window`` (which the
    caller leaves out: the frames inside are numbered from 1, as the merged reader does).
    """

    def warn_for(path: str) -> Callable[[CaptureWarning], None]:
        def warn(w: CaptureWarning) -> None:
            on_warning(CaptureWarning(0, f"{path}: {w.message}", w.kind))

        return warn

    streams = [_groups(i, iter_units(n, warn_for(n))) for i, n in enumerate(names)]
    number = 0
    lo = hi = None
    first = True
    for t, i, units in heapq.merge(*streams, key=lambda g: g[0]):
        if first and t != math.inf:
            first = False
            if window is not None and window.since is not None:
                lo = window.since.resolve(t)
            if window is not None and window.until is not None:
                hi = window.until.resolve(t)
        *blocks, last = units
        for u in blocks:
            yield i, u, 0
        if t == math.inf:
            yield i, last, 0
        elif (lo is None or t >= lo) and (hi is None or t <= hi):
            number += 1
            yield i, last, number
        else:
            yield i, last, -1
