"""``ipsec-inspect report``: one self-contained HTML file, checked in headless Chromium,
and the same report as Markdown."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
TUNNEL = SAMPLES / "ikev2-tunnel.pcapng"
TUNNEL_KEYS = SAMPLES / "ikev2-tunnel.keys.toml"
IKEV1 = SAMPLES / "ikev1-main-quick.pcap"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ipsec_inspect", "report", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def html_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("plotly", reason="the 'report' extra (plotly) is not installed")
    out = tmp_path_factory.mktemp("report") / "report.html"
    done = _report(str(TUNNEL), str(IKEV1), "--keys", str(TUNNEL_KEYS), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "2 capture(s)" in done.stderr
    return out


def test_html_is_one_self_contained_file(html_report: Path) -> None:
    page = html_report.read_text()
    # nothing is fetched when the page is viewed: no external script, style or image
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    # plotly.js names CDN URLs for map data it never loads here; the page forbids any fetch
    assert "default-src 'none'" in page
    assert "Plotly.newPlot" in page and "plotly.js" in page.lower()
    for name in ("ike-ef757aec6f6166d4", "child-1", "child-2", "192.0.2.1:500"):
        assert name in page
    assert "RFC 7296 §2.23" in page  # findings with their references
    assert "sk_ei" not in page and "encryption_key" not in page  # keys never exported
    assert page.count('<section class="capture"') == 2


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package chromium)")
def test_html_renders_in_headless_chromium(html_report: Path, tmp_path: Path) -> None:
    base = [CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    url = html_report.as_uri()
    dom = subprocess.run(
        [
            *base,
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # the charts were drawn by the embedded plotly.js: SVG plots with their traces
    assert html.count('class="main-svg"') >= 4
    assert html.count('class="trace bars"') >= 5  # one bar trace per stage on the timeline
    assert "rekeyed to" in html  # the rekey link's legend entry
    for name in ("ike-ef757aec6f6166d4 (IKEv2 SA)", "child-1 (ESP child SA (tunnel))"):
        assert name in html  # SA names on the timeline's axis
    assert "child-1 0xe9511913 192.0.2.1 → 198.51.100.1" in html  # a traffic direction
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console  # no error (nor any other message) on the console

    shot = tmp_path / "report.png"
    done = subprocess.run(
        [
            *base,
            "--window-size=1280,2400",
            "--virtual-time-budget=10000",
            f"--screenshot={shot}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and shot.stat().st_size > 50_000  # a page with charts, not blank


def test_markdown_report_has_the_same_content_as_text(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    done = _report(str(TUNNEL), "--keys", str(TUNNEL_KEYS), "-o", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.startswith("# IPsec report: ikev2-tunnel.pcapng")
    assert "| 192.0.2.1:500 | 198.51.100.1:500 | 1 |" in text
    assert "| ↳ child-1 | ESP child SA (tunnel) | `0xe9511913, 0x5689e52a` |" in text
    timeline = text.split("```text\n", 1)[1].split("```", 1)[0].splitlines()
    assert timeline[0].startswith("ike-ef757aec6f6166d4 |") and timeline[0].endswith("(deleted)")
    assert timeline[1].startswith("child-1") and timeline[1].endswith("→ child-2")  # rekey chain
    assert "| child-2 | termination | 40.240 | 40.240 | 42-42 |" in text
    assert "| child-1 0xe9511913 192.0.2.1 → 198.51.100.1 | 9 | 0 | 0 | 0 |  |" in text
    assert "2 info failed; 51 passed." in text
    assert "| K18 | info | child-2 | circuit |" in text and "RFC 7296 §1.3.1" in text


def test_format_option_and_unreadable_capture(tmp_path: Path) -> None:
    out = tmp_path / "r.txt"
    done = _report(str(TUNNEL), "--format", "md", "-o", str(out))
    assert done.returncode == 0 and out.read_text().startswith("# IPsec report")
    done = _report(str(tmp_path / "absent.pcap"), "-o", str(tmp_path / "x.html"))
    assert done.returncode == 3 and "absent.pcap" in done.stderr
    assert not (tmp_path / "x.html").exists()


SHARED = ROOT / ".." / "shared" / "captures"


def _model(path: Path, keys: tuple[Path, ...] = ()):
    from ipsec_inspect.export.report import build_report
    from ipsec_inspect.export.timeline import build_timeline
    from ipsec_inspect.pipeline.session import Analysis

    a = Analysis(str(path), key_paths=[str(k) for k in keys])
    result = a.run()
    doc = build_timeline(result, {"path": str(path)})
    try:
        return build_report(result, doc, a.index.time, a.index.flow, a.flow_keys, a.problems())
    finally:
        a.close()


def test_model_stages_rekeys_and_traffic_from_the_analysis() -> None:
    r = _model(TUNNEL, (TUNNEL_KEYS,))
    assert [s.id for s in r.sas] == ["ike-ef757aec6f6166d4", "child-1", "child-2"]
    child1 = r.sas[1]
    assert child1.parent == "ike-ef757aec6f6166d4" and child1.rekeyed_to == "child-2"
    assert [b.stage.value for b in r.sas[0].bars] == [
        "host_recognition",
        "negotiation",
        "circuit",
        "transmission",
        "termination",
    ]
    assert (r.sas[0].bars[-1].start_frame, r.sas[0].bars[-1].end_frame) == (42, 43)
    per_direction = {t.label: t.packets for t in r.traffic}
    assert per_direction["child-1 0xe9511913 192.0.2.1 → 198.51.100.1"] == 9
    for t in r.traffic:  # the index counts agree with the tracker's per-direction counts
        assert sum(t.counts) == t.packets
    assert r.peers == [("192.0.2.1:500", "198.51.100.1:500", 1)]
    assert {f.rule for f in r.findings} == {"K18", "N01"}


def test_replay_and_loss_marks_on_a_real_capture() -> None:
    path = SHARED / "tcpdump" / "OSPFv3_with_AH.pcap"
    if not path.exists():
        pytest.skip("../shared/captures is not present")
    r = _model(path)
    by_label = {t.label: t for t in r.traffic}
    multicast = by_label["child-1 0x00000100 fe80::1 → ff02::5"]
    assert multicast.replayed == 10 and len(multicast.marks) == 10
    assert multicast.marks[0][1] == 24 and "sequence number 23 seen again" in multicast.marks[0][2]
    assert by_label["child-2 0x00000100 fe80::1 → fe80::2"].lost == 5
    from ipsec_inspect.export.report_html import traffic_figure

    pytest.importorskip("plotly", reason="the 'report' extra (plotly) is not installed")
    fig = traffic_figure(r)
    names = [t["name"] for t in fig["data"]]
    assert "child-1 0x00000100 fe80::1 → ff02::5 (10 replayed)" in names
    assert "child-2 0x00000100 fe80::1 → fe80::2 (5 lost)" in names
    marks = next(t for t in fig["data"] if t["name"].endswith("replay / ICV / IV marks"))
    assert len(marks["x"]) == 10


def test_many_directions_keep_a_few_series() -> None:
    from ipsec_inspect.export.report import TRAFFIC_SERIES

    path = SHARED / "ndpi" / "ipsec_isakmp_esp.pcap"
    if not path.exists():
        pytest.skip("../shared/captures is not present")
    r = _model(path)
    with_series = [t for t in r.traffic if t.counts]
    assert len(r.traffic) > TRAFFIC_SERIES and len(with_series) == TRAFFIC_SERIES
    least_drawn = min(t.packets for t in with_series)
    assert all(t.packets <= least_drawn for t in r.traffic if not t.counts)  # the busiest
    counted = sum(sum(t.counts) for t in with_series) + sum(r.other_traffic)
    assert counted == sum(t.packets for t in r.traffic)  # nothing lost in the summing
