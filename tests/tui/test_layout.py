"""The inspector from 80x24 to 250x70: pane sizes follow the terminal, borders stay."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from textual.widgets import Static

from ipsec_inspect.tui.layout import Pane, packet_rows, plan_layout
from ipsec_inspect.tui.screens import HelpScreen, bindings_table
from ipsec_inspect.tui.widgets.packet_list import PacketList
from ipsec_inspect.tui.widgets.sa_tree import SaTree

from .conftest import TUNNEL, TUNNEL_KEYS, make_app, settle

PANES = ("#sa-tree", "#timeline", "#packets", "#bottom", "#throughput")


@pytest.mark.parametrize(
    ("size", "compact"),
    [((80, 24), True), ((99, 50), True), ((160, 26), True), ((100, 28), False), ((250, 70), False)],
)
def test_plan_switches_to_one_pane_with_tabs_when_small(size, compact) -> None:
    assert plan_layout(*size).compact is compact


def test_plan_gives_big_terminals_their_share() -> None:
    mid, big, huge = plan_layout(120, 40), plan_layout(200, 60), plan_layout(250, 70)
    assert mid.hex_per_line == 8  # the detail tree keeps room beside the hex dump
    assert 120 - mid.sa_width - 2 - mid.hex_width >= 34
    assert packet_rows(mid, 40) >= 8
    assert big.sa_width > 36 and big.hex_per_line == 16
    assert huge.sa_width >= big.sa_width and huge.timeline_height >= big.timeline_height
    assert packet_rows(huge, 70) > packet_rows(big, 60) > packet_rows(mid, 40)


def _regions(app) -> dict[str, tuple[int, int]]:
    return {sel: app.query_one(sel).region.size for sel in PANES if app.query_one(sel).display}


async def test_80x24_shows_one_pane_with_tabs_and_borders() -> None:
    app = make_app(TUNNEL, (TUNNEL_KEYS,))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.plan is not None and app.plan.compact
        assert app.query_one("#pane-tabs").display
        seen = []
        for key, pane, shown in (
            ("1", Pane.SAS, "#sa-tree"),
            ("2", Pane.TIMELINE, "#timeline"),
            ("3", Pane.PACKETS, "#packets"),
            ("4", Pane.DETAIL, "#bottom"),
        ):
            await pilot.press(key)
            await pilot.pause()
            assert app.pane is pane
            assert app.query_one("#pane-tabs").active == f"pane-{pane}"
            widget = app.query_one(shown)
            assert widget.region.width == 80  # the pane takes the whole width
            assert widget.styles.border_top[0] != ""  # and keeps its border
            assert widget.border_title
            shown_now = ("#timeline", "#packets", "#bottom")
            seen.append(sorted(s for s in shown_now if app.query_one(s).region.area))
        assert seen[1] == ["#timeline"] and seen[2] == ["#packets"] and seen[3] == ["#bottom"]
        await pilot.press("3")
        await pilot.pause()
        assert app.query_one(PacketList).size.height - 1 >= 10  # rows on the packets tab


async def test_120x40_detail_beside_hex_and_packet_rows() -> None:
    app = make_app(TUNNEL, (TUNNEL_KEYS,))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.plan is not None and not app.plan.compact
        assert not app.query_one("#pane-tabs").display
        tree, hexv = app.query_one("#detail-tree"), app.query_one("#hex-view")
        assert hexv.display and tree.region.width >= 34
        assert tree.region.right <= hexv.region.x  # side by side, not overlapping
        packets = app.query_one(PacketList)
        assert packets.size.height - 1 > 3  # rows below the header line
        for sel in PANES:
            widget = app.query_one(sel)
            assert widget.styles.border_top[0] != "", sel
            assert widget.border_title, sel


async def test_200x60_sa_pane_grows_and_labels_fit() -> None:
    app = make_app(TUNNEL, (TUNNEL_KEYS,))
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot)
        tree = app.query_one(SaTree)
        assert tree.region.width > 36
        lines = [tree.render_line(y).text for y in range(tree.count)]
        assert [line.rstrip() for line in lines] == [
            "▼ ● IKEv2 ef757aec (deleted)",
            "├ ● child-1 ESP e9511913 ⟶ child-2",
            "└ ● child-2 ESP 74c81c44 (deleted)",
        ]
        assert not any("…" in line for line in lines)


async def test_resizing_switches_layouts_and_back() -> None:
    app = make_app(TUNNEL, (TUNNEL_KEYS,))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert not app.plan.compact
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.plan.compact and app.query_one("#pane-tabs").display
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        assert not app.plan.compact
        assert all(w > 0 and h > 0 for w, h in _regions(app).values())


async def test_help_lists_keys_in_words() -> None:
    app = make_app(TUNNEL, (TUNNEL_KEYS,))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=110, file=io.StringIO(), record=True)
        console.print(bindings_table(app.screen.rows))  # what the help screen shows
        text = console.export_text()
        assert "? or F1" in text and "Show this help" in text
        assert "Shift+K" in text and "Load a key file" in text
        assert "Page Down or Ctrl+F" in text
        for internal in ("question_mark", "app.help", "app.", "focus_pane", "show_tab"):
            assert internal not in text


async def test_filter_errors_wrap_at_80_columns() -> None:
    app = make_app(TUNNEL, (TUNNEL_KEYS,))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"colour:red")
        await pilot.pause()
        status = app.query_one("#filter-status", Static)
        assert status.region.height >= 2  # wrapped onto a second line, not cut
        shown = " ".join(status.render_line(y).text for y in range(status.region.height))
        message = "unknown filter 'colour': use one of spi, peer, proto, exchange, stage, finding"
        assert " ".join(shown.split()).replace("✖ ", "").startswith(message)
