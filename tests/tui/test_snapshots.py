"""Layout snapshots at 80x24 (one pane, tabs), 120x40 and 200x60 (fixed clock, no cursor blink, workers finished).

Update after an intended layout change with ``pytest tests/tui/test_snapshots.py
--snapshot-update`` and review the SVGs in ``__snapshots__``.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from .conftest import TUNNEL, TUNNEL_KEYS, make_app, settle

SIZES = pytest.mark.parametrize(
    "size", [(80, 24), (120, 40), (200, 60)], ids=["80x24", "120x40", "200x60"]
)


async def _ready(pilot) -> None:
    for field in pilot.app.query(Input):
        field.cursor_blink = False
    await settle(pilot)


@SIZES
def test_first_impression(snap_compare, size: tuple[int, int]) -> None:
    app = make_app(TUNNEL, (TUNNEL_KEYS,))
    assert snap_compare(app, terminal_size=size, run_before=_ready)


@SIZES
def test_child_sa_findings_tab(snap_compare, size: tuple[int, int]) -> None:
    app = make_app(TUNNEL, (TUNNEL_KEYS,))

    async def run_before(pilot) -> None:
        await _ready(pilot)
        await pilot.press("j", "j", "f")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
