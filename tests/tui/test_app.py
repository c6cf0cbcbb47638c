"""Behaviour of the inspector with the Pilot: selection, timeline, filters, keys, findings."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Input, Static, TabbedContent

from ipsec_inspect.core.records import EspPacket
from ipsec_inspect.lifecycle.model import Stage
from ipsec_inspect.pipeline.session import Analysis
from ipsec_inspect.tui.app import InspectorApp
from ipsec_inspect.tui.screens import HelpScreen, PathPrompt
from ipsec_inspect.tui.widgets.findings_panel import FindingsPanel
from ipsec_inspect.tui.widgets.keys_panel import KeysPanel
from ipsec_inspect.tui.widgets.packet_detail import DetailTree, PacketDetail
from ipsec_inspect.tui.widgets.packet_list import PacketList
from ipsec_inspect.tui.widgets.sa_tree import SaTree
from ipsec_inspect.tui.widgets.timeline import Timeline

from .conftest import MALFORMED, SAMPLES, TUNNEL, TUNNEL_KEYS, fixed_clock, make_app, settle

IKE_UID = "ike-ef757aec6f6166d4"


async def test_opens_with_first_sa_selected_and_its_timeline(tunnel_app) -> None:
    async with tunnel_app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app = pilot.app
        assert app.selected == IKE_UID
        model = app.query_one(Timeline).model
        assert model is not None and model.uid == IKE_UID
        seen = {s.stage for s in model.spans if s.start is not None}
        assert seen == set(Stage)  # keys given: all five stages, delete included
        events = [(frame, text) for _t, frame, _s, text in model.events]
        assert (3, "IKE_AUTH request") in events
        assert (42, "Delete of the IKE SA") in events
        packets = app.query_one(PacketList)
        assert packets.count == 43
        assert packets.current_frame() == 1  # the SA's first packet is shown in detail
        assert app.query_one(PacketDetail).record is not None


async def test_selecting_child_sa_shows_its_stages_and_scope(tunnel_app) -> None:
    async with tunnel_app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app = pilot.app
        tree = app.query_one(SaTree)
        tree.focus()
        await pilot.press("j", "j")  # IKE SA → child-1 → child-2
        await pilot.pause()
        assert app.selected == "child-2"
        model = app.query_one(Timeline).model
        assert model is not None and model.uid == "child-2"
        assert any(s.stage is Stage.TRANSMISSION and s.start is not None for s in model.spans)
        await pilot.press("s")  # only this SA's packets
        await settle(pilot)
        packets = app.query_one(PacketList)
        assert packets.count == 14  # 8 + 6 ESP packets of child-2
        frames = {app.analysis.index.frame[packets.row_at(i)] for i in range(packets.count)}
        assert min(frames) > 25 and 25 not in frames


async def test_filter_by_spi_then_invalid_filter_is_reported(tunnel_app) -> None:
    async with tunnel_app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app = pilot.app
        await pilot.press("slash")
        await pilot.press(*"spi:c27e43a0", "enter")
        await settle(pilot)
        packets = app.query_one(PacketList)
        assert packets.count == 6
        rows = [packets.row_at(i) for i in range(packets.count)]
        assert all(app.rows.record(r).spi == 0xC27E43A0 for r in rows)
        app.query_one("#filter-input", Input).value = "spi:xyz"
        await pilot.pause()
        status = str(app.query_one("#filter-status", Static).render())
        assert "not a hexadecimal SPI" in status and "col 5" in status
        assert packets.count == 6  # an invalid filter leaves the list as it was


async def test_timeline_event_selects_its_frame(tunnel_app) -> None:
    async with tunnel_app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app = pilot.app
        timeline = app.query_one(Timeline)
        index = next(i for i, e in enumerate(timeline.model.events) if e[1] == 42)
        events = app.query_one("#timeline-events")
        events.focus()
        events.highlighted = index
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one(PacketList).current_frame() == 42


async def test_finding_jumps_to_sa_and_frame(tunnel_app) -> None:
    async with tunnel_app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app = pilot.app
        await pilot.press("f")
        assert app.query_one(TabbedContent).active == "tab-findings"
        panel = app.query_one(FindingsPanel)
        k18 = next(i for i, f in enumerate(panel.findings) if f.rule == "K18")
        panel.focus()
        panel.highlighted = k18
        await pilot.press("enter")
        await settle(pilot)
        assert app.selected == "child-2"
        assert app.query_one(SaTree).selected_uid == "child-2"
        assert app.query_one(PacketList).current_frame() == 25


async def test_load_keys_from_ui_decrypts(tmp_path: Path) -> None:
    app = make_app(TUNNEL)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        packets = app.query_one(PacketList)
        packets.focus()
        assert packets.go_to_frame(5)
        await pilot.pause()
        before = app.query_one(PacketDetail).record
        assert isinstance(before, EspPacket) and before.decryption is None
        assert {r.status for r in app.query_one(KeysPanel).rows} == {"missing"}

        await pilot.press("K")
        assert isinstance(app.screen, PathPrompt)
        await pilot.press(*str(tmp_path / "nope.toml"), "enter")
        await pilot.pause()
        assert app.analysis.key_paths == []  # a bad path changes nothing …
        assert any("no such key file" in n.message for n in app._notifications)

        await pilot.press("K")
        await pilot.press(*str(TUNNEL_KEYS), "enter")
        await settle(pilot)
        assert app.analysis.key_paths == [str(TUNNEL_KEYS)]
        assert app.query_one(PacketList).current_frame() == 5  # … a good one keeps the place
        record = app.query_one(PacketDetail).record
        assert isinstance(record, EspPacket) and record.decryption is not None
        assert record.decryption.status == "ok"
        assert record.decryption.plaintext[:1] == b"\x45"  # an IPv4 inner packet
        statuses = {r.what: r.status for r in app.query_one(KeysPanel).rows}
        assert statuses["IKE SA"] == "decrypted"
        assert statuses["ESP 0xe9511913 → 198.51.100.1"] == "supplied"


async def test_load_keys_that_match_nothing_says_so() -> None:
    other = SAMPLES / "ah.keys.toml"
    app = make_app(TUNNEL)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("K")
        await pilot.press(*str(other), "enter")
        await settle(pilot)
        assert app.analysis.key_paths == [str(other)]
        said = [n.message for n in app._notifications if n.title == "keys not used"]
        assert len(said) == 1
        assert said[0].startswith(f"{other}: no key matches this capture: it holds ESP SPIs ")
        assert "the capture has ESP SPIs 0x5689e52a, 0x74c81c44, 0xc27e43a0" in said[0]


async def test_inner_packet_dissected_on_demand_and_hex_follows(tunnel_app) -> None:
    async with tunnel_app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app = pilot.app
        app.query_one(PacketList).go_to_frame(5)
        await pilot.pause()
        tree = app.query_one(DetailTree)
        inner = next(n for n in _walk(tree.root) if n.data is not None and n.data.inner)
        assert not inner.children
        inner.expand()
        await pilot.pause()
        names = [str(c.label) for c in inner.children]
        assert names[0] == "IP"
        ip_fields = [str(c.label) for c in inner.children[0].children]
        assert "src: '203.0.113.1'" in ip_fields or "src: 203.0.113.1" in ip_fields
        spi = next(n for n in _walk(tree.root) if str(n.label).startswith("SPI"))
        tree.move_cursor(spi)
        await pilot.pause()
        hexv = app.query_one("#hex-view")
        assert (hexv.start, hexv.length) == (spi.data.offset, 4)
        assert hexv.data[hexv.start : hexv.start + 4] == bytes.fromhex("e9511913")


def _walk(node):
    for c in node.children:
        yield c
        yield from _walk(c)


async def test_malformed_capture_never_kills_the_ui() -> None:
    app = make_app(MALFORMED)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        packets = app.query_one(PacketList)
        assert packets.count == 11
        packets.focus()
        for _ in range(packets.count):  # show every record's detail
            await pilot.press("j")
        await pilot.pause()
        assert packets.current_frame() == 11
        await pilot.press("G", "g")
        await pilot.press("m")
        text = str(app.query_one("#messages", Static).render())
        assert "record truncated" in text
        assert app.is_running


async def test_unreadable_capture_is_shown(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-capture.pcap"
    bad.write_bytes(b"this is not a capture file at all")
    app = make_app(bad)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.fatal is not None and "not-a-capture.pcap" in app.fatal
        status = str(app.query_one("#status", Static).render())
        assert app.fatal in status
        assert app.is_running


async def test_help_theme_export(tunnel_app, tmp_path: Path) -> None:
    async with tunnel_app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app = pilot.app
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = {ident for _k, _d, ident in app.screen.rows}
        assert {"app.quit", "packets.down", "packets.last", "app.load_keys"} <= ids
        await pilot.press("escape")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Load key file", "Export timeline JSON", "Toggle SA-only packets"} <= titles
        theme = app.theme
        await pilot.press("t")
        assert app.theme != theme
        out = tmp_path / "timeline.json"
        await pilot.press("e")
        assert isinstance(app.screen, PathPrompt)
        app.screen.query_one(Input).value = str(out)
        await pilot.press("enter")
        await pilot.pause()
        doc = json.loads(out.read_text())
        assert doc["capture"]["frames"] == 43
        assert len(doc["capture"]) >= 5
        assert "sk_ei" not in out.read_text()  # keys are never exported from the UI


def test_samples_exist() -> None:
    assert (SAMPLES / "ikev2-tunnel.pcapng").exists()


async def test_sa_tree_folds_and_follows_the_filter(tunnel_app) -> None:
    async with tunnel_app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app = pilot.app
        tree = app.query_one(SaTree)
        assert list(tree.rows) == [IKE_UID, "child-1", "child-2"]
        tree.focus()
        await pilot.press("space")  # fold the IKE SA under the cursor
        await pilot.pause()
        assert list(tree.rows) == [IKE_UID]
        assert tree.render_line(0).text.startswith("▶ ● IKEv2 ef757aec")
        await pilot.press("right")
        await pilot.pause()
        assert tree.count == 3
        await pilot.press("j", "j")
        await pilot.pause()
        assert app.selected == "child-2"  # moving the cursor selects the SA
        await pilot.press("slash", *"spi:e9511913", "enter")
        await settle(pilot)
        assert list(tree.rows) == [IKE_UID, "child-1"]  # the filter applies to the SAs too
        assert app.query_one(PacketList).count == 9  # the packets of that SPI


XAUTH = SAMPLES / "realpeer" / "ikev1-aggressive-xauth"
XAUTH_PASSWORD = b"realpeer-xauth-password-not-secret"  # tests/realpeer/config.py
XAUTH_REPLY_FRAME = 7  # the client's Transaction-mode REPLY with user name and password


async def _xauth_password_node(include_keys: bool):
    analysis = Analysis(str(XAUTH / "capture.pcap"), key_paths=[str(XAUTH / "keys.toml")])
    app = InspectorApp(analysis, clock=fixed_clock, include_keys=include_keys)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert app.query_one(PacketList).go_to_frame(XAUTH_REPLY_FRAME)
        await pilot.pause()
        tree = app.query_one(DetailTree)
        node = next(n for n in _walk(tree.root) if str(n.label).startswith("XAUTH-USER-PASSWORD"))
        parent = node.parent
        while parent is not None:  # payload nodes under "Decryption" start collapsed
            parent.expand()
            parent = parent.parent
        await pilot.pause()
        tree.focus()
        tree.move_cursor(node)
        await pilot.pause()
        await pilot.pause()
        hexv = app.query_one("#hex-view")
        body = str(hexv.query_one("#hex-body", Static).render())
        return str(node.label), node.data, bytes(hexv.data), hexv.title, body


async def test_xauth_password_is_masked_in_the_hex_dump() -> None:
    label, node, data, title, body = await _xauth_password_node(include_keys=False)
    assert title == "decrypted"
    assert label.endswith(f"XAUTH-USER-PASSWORD = (secret, {len(XAUTH_PASSWORD)} bytes)")
    assert XAUTH_PASSWORD not in data
    # the attribute header stays (type 16522 = 0x408a, TLV; length 34), the value is ****
    assert data[node.offset : node.offset + 4] == bytes.fromhex("408a0022")
    assert data[node.offset + 4 : node.offset + node.length] == b"*" * len(XAUTH_PASSWORD)
    assert b"alice" in data  # the user name is not a secret
    # neither the text column nor the hex column of the dump shows it
    assert "password" not in body and "70 61 73 73 77 6f 72 64" not in body.lower()


async def test_xauth_password_shows_with_include_keys() -> None:
    _label, node, data, _title, body = await _xauth_password_node(include_keys=True)
    assert data[node.offset + 4 : node.offset + node.length] == XAUTH_PASSWORD
    assert "r-xauth-password" in body  # the text column, 16 bytes a line


async def test_status_bar_says_what_the_sa_cap_evicted(tmp_path: Path) -> None:
    """Issue 16: eviction is never silent; the TUI says how many and how to keep them."""
    import importlib.util

    from ipsec_inspect.lifecycle.result import TrackerConfig
    from ipsec_inspect.pipeline.session import Analysis
    from ipsec_inspect.tui.app import InspectorApp

    spec = importlib.util.spec_from_file_location(
        "make_sa_captures", Path(__file__).resolve().parents[2] / "benchmarks/make_sa_captures.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    capture = tmp_path / "esp-60.pcap"
    mod.write(capture, "esp", 60, 1, 20)
    analysis = Analysis(str(capture), config=TrackerConfig(max_sas=20))
    app = InspectorApp(analysis, clock=fixed_clock)
    async with app.run_test(size=(220, 40)) as pilot:
        await settle(pilot)
        status = str(app.query_one("#status", Static).render())
        evicted = app.catalog.result.evicted
        # 60 orphans, cap 20: over 20 evict down to 18, so 42 go and 18 stay.
        assert (evicted.orphan_child_sas, evicted.esp_packets) == (42, 42)
        assert "evicted 0 half-open IKE + 42 orphan SAs (42 ESP pkts)" in status
        assert "over --max-sas 20; raise --max-sas to keep them" in status
        assert "18 SAs" in status


async def test_status_bar_says_nothing_of_eviction_when_nothing_was(tunnel_app) -> None:
    async with tunnel_app.run_test(size=(220, 40)) as pilot:
        await settle(pilot)
        assert "evicted" not in str(tunnel_app.query_one("#status", Static).render())
