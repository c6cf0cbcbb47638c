"""The Textual-free helpers behind the panes: filter language, SA catalog, rows, detail."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipsec_inspect.lifecycle.model import Stage
from ipsec_inspect.pipeline.session import Analysis
from ipsec_inspect.tui.catalog import FlowStats, Health, SaCatalog, rows_of_flows, throughput
from ipsec_inspect.tui.detail import PLAINTEXT, detail_nodes, inner_nodes
from ipsec_inspect.tui.filterlang import FilterError, parse_filter
from ipsec_inspect.tui.rows import IndexFacts, PacketRows
from ipsec_inspect.tui.widgets.hex_view import hex_text
from ipsec_inspect.tui.widgets.timeline import TimelineModel, draw_bars

from .conftest import MALFORMED, TUNNEL, TUNNEL_KEYS


@pytest.fixture(scope="module")
def keyed() -> Analysis:
    a = Analysis(str(TUNNEL), key_paths=[str(TUNNEL_KEYS)])
    a.run()
    return a


@pytest.fixture(scope="module")
def views(keyed: Analysis) -> tuple[SaCatalog, PacketRows, IndexFacts]:
    catalog = SaCatalog(keyed.result(), keyed.flow_keys)
    rows = PacketRows(keyed)
    return catalog, rows, IndexFacts(keyed, catalog, rows)


def frames_matching(text: str, analysis: Analysis, facts: IndexFacts) -> list[int]:
    flt = parse_filter(text)
    assert flt is not None
    return [analysis.index.frame[i] for i in range(len(analysis.index)) if flt(facts, i)]


@pytest.mark.parametrize(
    ("text", "frames"),
    [
        ("proto:ike", [1, 2, 3, 4, 22, 23, 24, 25, 30, 31, 42, 43]),
        ("exchange:IKE_AUTH", [3, 4]),
        ("exchange:create_child", [24, 25]),
        ("stage:termination", [42, 43]),
        ("stage:term proto:ike", [42, 43]),
        ("finding:K18 and proto:ike", []),  # K18 is a child-2 finding; child-2 is ESP only
        (
            "spi:ef757aec6f6166d4 and (exchange:auth or exchange:informational)",
            [3, 4, 22, 23, 30, 31, 42, 43],
        ),
        ("not proto:esp and not proto:ike", [21]),
    ],
)
def test_filter_language_selects_frames(keyed, views, text: str, frames: list[int]) -> None:
    _catalog, _rows, facts = views
    assert frames_matching(text, keyed, facts) == frames


def test_filter_by_spi_and_peer(keyed, views) -> None:
    _catalog, _rows, facts = views
    got = frames_matching("spi:0xc27e43a0", keyed, facts)
    assert len(got) == 6 and min(got) > 25
    assert frames_matching("peer:198.51.100.0/24 spi:c27e43a0", keyed, facts) == got
    assert frames_matching("peer:10.0.0.1", keyed, facts) == []
    k18 = frames_matching("finding:K18", keyed, facts)
    assert len(k18) == 14  # every packet of child-2, the SA with the failing rule


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("spi:zz", "not a hexadecimal SPI", 4),
        ("colour:red", "unknown filter 'colour'", 7),
        ("proto:gre", "not one of ike, esp", 6),
        ("(proto:esp", "missing ')'", 10),
        ("proto:esp)", "unexpected ')'", 9),
        ("peer:300.1.1.1", "not an IP address", 5),
        ("esp", "should be NAME:VALUE", 0),
        ("not", "ends too early", 3),
    ],
)
def test_filter_errors_say_where(text: str, message: str, position: int) -> None:
    with pytest.raises(FilterError) as err:
        parse_filter(text)
    assert message in str(err.value)
    assert err.value.position == position


def test_filter_per_flow_flag() -> None:
    assert parse_filter("spi:1 or proto:esp").per_flow  # type: ignore[union-attr]
    assert not parse_filter("spi:1 stage:circuit").per_flow  # type: ignore[union-attr]
    assert parse_filter("   ") is None


def test_catalog_tree_rekey_health_and_keys(keyed, views) -> None:
    catalog, _rows, _facts = views
    assert list(catalog.walk()) == [("ike-ef757aec6f6166d4", 0), ("child-1", 1), ("child-2", 1)]
    assert catalog.child["child-2"].rekeyed_from == "child-1"
    assert catalog.health("child-1") is Health.OK
    assert catalog.current_stage("ike-ef757aec6f6166d4") is Stage.TERMINATION
    assert catalog.stage_of_frame("ike-ef757aec6f6166d4", 3) is Stage.CIRCUIT
    assert catalog.first_frame("child-2") == 24 or catalog.first_frame("child-2") == 25
    stats = FlowStats()
    stats.update(keyed.index)
    rows = {(r.sa, r.what): r for r in catalog.key_rows(stats)}
    ike = rows[("ike-ef757aec6f6166d4", "IKE SA")]
    assert (ike.status, ike.decrypted, ike.packets) == ("decrypted", 10, 12)
    esp = rows[("child-2", "ESP 0xc27e43a0 → 192.0.2.1")]
    assert (esp.status, esp.decrypted, esp.packets) == ("supplied", 6, 6)
    assert esp.origin.endswith("ikev2-tunnel.keys.toml:53")


def test_catalog_without_keys_reports_missing() -> None:
    a = Analysis(str(TUNNEL))
    a.run()
    catalog = SaCatalog(a.result(), a.flow_keys)
    stats = FlowStats()
    stats.update(a.index)
    assert {r.status for r in catalog.key_rows(stats)} == {"missing"}


def test_flows_rows_and_throughput(keyed, views) -> None:
    catalog, _rows, _facts = views
    flows = catalog.packet_flows("child-1")
    rows = rows_of_flows(keyed.index, flows)
    assert len(rows) == 16
    t0, t1 = keyed.index.time[0], keyed.index.time[len(keyed.index) - 1]
    spark = throughput(keyed.index, flows, t0, t1, 10)
    assert sum(spark) == 16 and len(spark) == 10
    assert spark[-1] == 0  # child-1 was rekeyed before the end of the capture


def test_rows_text_and_malformed_rows() -> None:
    a = Analysis(str(MALFORMED))
    a.run()
    rows = PacketRows(a)
    texts = [rows.row(i) for i in range(len(a.index))]
    assert [r.frame for r in texts] == list(range(1, 12))
    assert sum(r.error for r in texts) == 9
    assert texts[7].info.startswith("Malformed IP: IPv4 header length 16")
    for i in range(len(a.index)):  # every record has a detail tree, damaged or not
        record = rows.record(i)
        assert record is not None
        assert detail_nodes(record)[0].label.startswith(f"Frame {i + 1}")


def test_detail_and_inner_packet(keyed, views) -> None:
    _catalog, rows, _facts = views
    i = next(i for i in range(len(keyed.index)) if keyed.index.frame[i] == 5)
    nodes = detail_nodes(rows.record(i))
    esp = nodes[1]
    spi = next(n for n in esp.children if n.label.startswith("SPI"))
    assert (spi.offset, spi.length) == (42, 4)
    dec = nodes[2]
    assert dec.label == "Decryption: ok"
    inner = next(n for n in dec.children if n.inner)
    assert inner.buffer == PLAINTEXT
    record = rows.record(i)
    layers = inner_nodes(record.decryption.plaintext, record.decryption.next_header)
    assert layers[0].label == "IP" and (layers[0].offset, layers[0].length) == (0, 20)
    assert any(
        "dst: '203.0.113.2'" in c.label or "dst: 203.0.113.2" in c.label for c in layers[0].children
    )
    assert inner_nodes(b"\x45\x00", 4)  # a truncated inner packet is shown, not raised


def test_hex_highlight_and_bars() -> None:
    text = hex_text(bytes(range(20)), 16, 2, style="reverse")
    assert text.plain.splitlines()[1].startswith("0010  10 11 12 13")
    highlighted = [text.plain[s.start : s.end] for s in text.spans if s.style == "reverse"]
    assert highlighted[:2] == ["10", "11"]
    a = Analysis(str(TUNNEL), key_paths=[str(TUNNEL_KEYS)])
    a.run()
    sa = a.result().ike_sas["ike-ef757aec6f6166d4"]
    model = TimelineModel.of(sa, a.index.time[0], a.index.time[len(a.index) - 1])
    lines = draw_bars(model, 60).plain.splitlines()
    assert len(lines) == 6
    assert lines[4].startswith("termination") and lines[4].endswith("█")
    assert lines[0].startswith("hosts        █")


def test_keys_derived_from_ike_keys() -> None:
    a = Analysis(str(TUNNEL), key_paths=[str(TUNNEL.with_name("ikev2-tunnel.ike-only.toml"))])
    a.run()
    catalog = SaCatalog(a.result(), a.flow_keys)
    stats = FlowStats()
    stats.update(a.index)
    statuses = {r.what: r.status for r in catalog.key_rows(stats)}
    assert statuses.pop("IKE SA") == "decrypted"
    assert set(statuses.values()) == {"derived"}


def test_sa_facts_show_the_vpn_client() -> None:
    """The timeline's facts of an XAUTH client: identities, auth, virtual IP, DNS, the ending;
    never the XAUTH password."""
    from ipsec_inspect.tui.sa_facts import sa_facts

    sample = Path(__file__).resolve().parents[2] / "samples" / "realpeer" / "ikev1-aggressive-xauth"
    if not (sample / "capture.pcap").exists():
        pytest.skip("samples/realpeer/ikev1-aggressive-xauth not generated")
    a = Analysis(str(sample / "capture.pcap"), key_paths=[str(sample / "keys.toml")])
    res = a.run()
    [sa] = res.ike_sas.values()
    facts = sa_facts(sa)
    assert facts[0] == "state CLOSED, auth xauth-psk"
    assert (
        "identities: initiator left.example.org, responder right.example.org, xauth alice" in facts
    )
    assert "virtual IP 203.0.113.1" in facts
    assert any(
        f.startswith("config: dns 198.51.100.53, 198.51.100.54; nbns 198.51.100.137") for f in facts
    )
    assert facts[-1].startswith("ended: deleted at #")
    assert not any("password" in f for f in facts)
    model = TimelineModel.of(sa, 0.0, 1.0)
    assert model.facts == tuple(facts)


def test_hex_dump_with_8_bytes_a_line() -> None:
    lines = hex_text(bytes(range(20)), 0, 0, per_line=8).plain.splitlines()
    assert lines[0] == "0000  00 01 02 03  04 05 06 07  ........"
    assert lines[2].startswith("0010  10 11 12 13")
    assert len(lines) == 3


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (None, ["ike-ef757aec6f6166d4", "child-1", "child-2"]),
        ("proto:ike", ["ike-ef757aec6f6166d4", "child-1", "child-2"]),  # a parent: all its kids
        ("spi:c27e43a0", ["ike-ef757aec6f6166d4", "child-2"]),  # the parent kept for context
        ("finding:K18", ["ike-ef757aec6f6166d4", "child-2"]),
        ("peer:10.0.0.0/8", []),
        ("proto:esp not spi:e9511913", ["ike-ef757aec6f6166d4", "child-2"]),
    ],
)
def test_sa_rows_follow_the_filter(views, text, shown) -> None:
    from ipsec_inspect.tui.sa_rows import visible_rows

    catalog, _rows, _facts = views
    assert list(visible_rows(catalog, frozenset(), parse_filter(text) if text else None)) == shown


def test_sa_rows_fold_a_parent(views) -> None:
    from ipsec_inspect.tui.sa_rows import visible_rows

    catalog, _rows, _facts = views
    assert visible_rows(catalog) is catalog.order  # nothing to do: no copy
    folded = visible_rows(catalog, frozenset({"ike-ef757aec6f6166d4"}))
    assert list(folded) == ["ike-ef757aec6f6166d4"]
