"""The SA tree's rows: which SAs are shown, in which order, and what a filter asks of them.

Why a list of uids rather than tree nodes: a capture of a busy headend or of an attack
holds hundreds of thousands of SAs, and a widget node per SA (label, children list,
line cache) costs about a kilobyte each. The tree widget renders only the lines on
screen from this list, which costs one pointer per shown SA (the uid strings are the
catalog's own). No Textual imports, so it is tested without a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from ipsec_inspect.lifecycle.model import ChildSa, IkeSa, Stage
from ipsec_inspect.tui.catalog import SaCatalog
from ipsec_inspect.tui.filterlang import Filter


class SaFacts:
    """Answers a filter's questions about an SA (``row`` is its position in ``order``).

    The same filter the packet list uses, read per SA: ``spi`` matches any SPI of the SA,
    ``peer`` either end, ``proto`` is ike/esp/ah, ``stage`` the last stage the SA reached,
    ``exchange`` the exchange that created a child SA or the last one of an IKE SA, and
    ``finding`` the failing rules and their severities.
    """

    def __init__(self, catalog: SaCatalog, order: Sequence[str]) -> None:
        self.catalog = catalog
        self.order = order

    def _sa(self, row: int) -> IkeSa | ChildSa | None:
        return self.catalog.sa(self.order[row])

    def spis(self, row: int) -> tuple[int | bytes, ...]:
        sa = self._sa(row)
        if isinstance(sa, IkeSa):
            return (sa.spi_i, sa.spi_r)
        if isinstance(sa, ChildSa):
            return tuple(d.spi for d in sa.directions)
        return ()

    def peers(self, row: int) -> tuple[str, ...]:
        sa = self._sa(row)
        if isinstance(sa, IkeSa):
            return tuple(e.addr for e in (sa.initiator, sa.responder) if e is not None)
        if isinstance(sa, ChildSa):
            return tuple({a for d in sa.directions for a in (d.src, d.dst)})
        return ()

    def proto(self, row: int) -> str:
        sa = self._sa(row)
        if isinstance(sa, IkeSa):
            return "ike"
        return sa.protocol if sa is not None else ""

    def exchange(self, row: int) -> str | None:
        sa = self._sa(row)
        if isinstance(sa, IkeSa):
            return sa.last_exchange
        return sa.created_by if sa is not None else None

    def stage(self, row: int) -> Stage | None:
        return self.catalog.current_stage(self.order[row])

    def findings(self, row: int) -> frozenset[str]:
        fs = self.catalog.failing.get(self.order[row], [])
        return frozenset({f.rule for f in fs} | {f.severity.value for f in fs})


def visible_rows(
    catalog: SaCatalog, collapsed: frozenset[str] = frozenset(), flt: Filter | None = None
) -> Sequence[str]:
    """The SAs the tree shows, in order.

    A parent that matches the filter is shown with all its children; a parent that does
    not is still shown (for context) when one of its children matches, with only those.
    Children of a collapsed parent are left out. With no filter and nothing collapsed
    this is the catalog's own list, not a copy.
    """
    order = catalog.order
    if flt is None and not collapsed:
        return order
    facts = SaFacts(catalog, order)
    out: list[str] = []
    depth = catalog.depth
    i, n = 0, len(order)
    while i < n:
        root = order[i]
        j = i + 1
        while j < n and depth(order[j]):
            j += 1
        if flt is None or flt(facts, i):
            out.append(root)
            if root not in collapsed:
                out.extend(order[i + 1 : j])
        else:
            kids = [order[k] for k in range(i + 1, j) if flt(facts, k)]
            if kids:
                out.append(root)
                if root not in collapsed:
                    out.extend(kids)
        i = j
    return out
