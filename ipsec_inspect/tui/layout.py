"""Pane sizes for a terminal size: one pane with tabs when small, every pane when big.

Why computed in Python rather than CSS breakpoints alone: the panes share the screen by
rules ("the packet list keeps at least a few rows", "the detail tree keeps room beside
the hex dump") that depend on both dimensions at once, and those rules must be testable
without a terminal. The app applies a :class:`LayoutPlan` on every resize.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: Below this width or height the panes do not fit side by side with borders.
COMPACT_WIDTH = 100
COMPACT_HEIGHT = 28
#: Lines the screen always spends outside the panes: filter bar, status bar, footer.
CHROME_LINES = 3
#: Lines of the pane tab bar in the compact layout.
TAB_LINES = 2
#: Width of a hex dump with ``n`` bytes a line: offset, hex, gap, ASCII, border, scrollbar.
HEX_CHROME = 4 + 2 + 1 + 1 + 1 + 2
#: The detail tree must keep at least this many columns beside the hex dump.
MIN_TREE = 34


class Pane(StrEnum):
    """The panes of the compact layout, in tab order (keys 1-4)."""

    SAS = "sas"
    TIMELINE = "timeline"
    PACKETS = "packets"
    DETAIL = "detail"


@dataclass(frozen=True)
class LayoutPlan:
    """Sizes in cells; ``compact`` shows one :class:`Pane` at a time under a tab bar."""

    compact: bool
    sa_width: int  # the SA pane (the whole width when compact)
    timeline_height: int
    bottom_height: int  # detail / findings / keys / messages
    hex_per_line: int  # bytes a hex dump line shows; 0: no hex dump beside the tree

    @property
    def hex_width(self) -> int:
        return hex_width(self.hex_per_line)


def hex_width(per_line: int) -> int:
    """Columns the hex view needs for ``per_line`` bytes a line (0: hidden)."""
    return per_line * 4 + HEX_CHROME if per_line else 0


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _hex_for(width: int) -> int:
    """The widest hex dump that leaves the detail tree :data:`MIN_TREE` columns."""
    for per_line in (16, 8):
        if width - hex_width(per_line) >= MIN_TREE:
            return per_line
    return 0


def plan_layout(width: int, height: int) -> LayoutPlan:
    """Where each pane goes on a ``width`` x ``height`` terminal."""
    body = max(1, height - CHROME_LINES)
    if width < COMPACT_WIDTH or height < COMPACT_HEIGHT:
        pane = max(1, body - TAB_LINES)
        return LayoutPlan(True, width, pane, pane, _hex_for(width - 2))
    sa_width = _clamp(width * 0.28, 32, 64)
    right = width - sa_width
    timeline = _clamp(body * 0.30, 10, 22)
    bottom = _clamp(body * 0.38, 9, 30)
    return LayoutPlan(False, sa_width, timeline, bottom, _hex_for(right - 2))


def packet_rows(plan: LayoutPlan, height: int) -> int:
    """Packet-list rows the plan leaves visible (borders and the header line excluded)."""
    body = max(1, height - CHROME_LINES)
    if plan.compact:
        return max(0, body - TAB_LINES - 3)
    return max(0, body - plan.timeline_height - plan.bottom_height - 3)
