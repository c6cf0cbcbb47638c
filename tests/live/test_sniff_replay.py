"""``sniff --events`` on a veth fed by scapy replays agrees with ``export`` on the same file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ipsec_inspect.sources.capture_file import CaptureReader
from ipsec_inspect.sources.live import DEFAULT_FILTER
from tests.live.netns import VethPair
from tests.live.sniffing import (
    SAMPLES,
    cli_json,
    event_view,
    export_events,
    finish_sniff,
    replay,
    sa_view,
    start_sniff,
)

REPLAYED = [
    "ikev2-tunnel.pcapng",  # IKEv2, NAT-T ESP in UDP 4500, keepalive
    "ikev1-main-quick.pcap",  # IKEv1 Main + Quick Mode, ESP
    "esp-algorithms.pcap",  # raw-IP capture: replayed with an Ethernet header
    "ah.pcap",  # AH
    "realpeer/ikev2-cert-fragmentation/capture.pcap",  # strongSwan, IKEv2 fragmentation
]


def _frames(path: Path) -> int:
    return sum(1 for _ in CaptureReader(path))


def _filtered(capture: Path, tmp: Path) -> Path:
    """The frames of ``capture`` that sniff's default filter passes, as tcpdump selects them
    (real-peer captures also hold ARP): live frame numbers are positions in this file."""
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is needed to apply the capture filter to the file")
    out = tmp / "filtered.pcap"
    subprocess.run(
        ["tcpdump", "-r", str(capture), "-w", str(out), DEFAULT_FILTER],
        capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    return out


@pytest.mark.parametrize("name", REPLAYED)
def test_sniff_reports_what_export_reports(veth: VethPair, tmp_path: Path, name: str) -> None:
    capture = SAMPLES / name
    filtered = _filtered(capture, tmp_path)
    n = _frames(filtered)
    written = tmp_path / "live.pcapng"
    process, out, err = start_sniff(
        veth, tmp_path, "--count", str(n), "--duration", "30", "--write", str(written)
    )
    assert replay(veth, capture) == _frames(capture)
    live = finish_sniff(veth, process, out, err)
    expected, _ = export_events(capture, tmp_path)
    _, expected_events = export_events(filtered, tmp_path)

    assert live.returncode == 0, live.stderr
    assert live.document["capture"]["live"]["stopped_by"] == "count"
    assert live.document["capture"]["live"]["delivered"] == n
    assert live.document["capture"]["live"]["kernel_dropped"] == 0
    assert sa_view(live.document) == sa_view(expected)
    assert expected["child_sas"] or expected["ike_sas"]  # the comparison compared something
    # events: the same facts on the same SAs at the same frame numbers, as JSON lines
    assert event_view(live.events) == event_view(expected_events)
    assert "dropped: kernel 0, backend 0, interface 0" in live.stderr

    # the written file reopens and summarises to the same SPI counts as the original
    mine, _ = cli_json("summary", str(written), "--format", "json")
    original, _ = cli_json("summary", str(filtered), "--format", "json")
    assert mine["capture"]["frames"] == original["capture"]["frames"] == n
    assert sa_view(mine) == sa_view(original) == sa_view(expected)
