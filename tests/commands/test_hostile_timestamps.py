"""Issue 17: a hostile timestamp never ends a run. Each command, on a capture whose frame 7
claims year 508,989, exits 0 without a traceback, names the frame in one warning, and
still analyses the frame."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ipsec_inspect.commands import sniff
from ipsec_inspect.pipeline.session import Analysis
from ipsec_inspect.sources.live import CaptureCounters
from tests.hostile import (
    ROOT,
    TUNNEL,
    TUNNEL_KEYS,
    YEAR_508989_US,
    frames_of,
    year_508989_at_frame_7,
)

WARNING = "frame 7: timestamp out of range (year 508989); shown as the previous frame's time"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "year-508989.pcapng"
    path.write_bytes(year_508989_at_frame_7())
    return path


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ipsec_inspect", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _clean(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert f"ipsec-inspect: warning: {WARNING}" in done.stderr.splitlines()


def test_summary(hostile: Path) -> None:
    done = _cli("summary", str(hostile), "--keys", str(TUNNEL_KEYS))
    _clean(done)
    assert (
        "43 frames; 12 IKE messages, 30 ESP and 0 AH packets, 1 NAT keepalives, 0 malformed"
        in done.stdout
    )


def test_export_keeps_frame_7_in_its_sa(hostile: Path) -> None:
    done = _cli("export", str(hostile), "--keys", str(TUNNEL_KEYS), "-o", "-")
    _clean(done)
    doc = json.loads(done.stdout)
    reference = json.loads(
        _cli("export", str(TUNNEL), "--keys", str(TUNNEL_KEYS), "-o", "-").stdout
    )
    assert doc["capture"]["frames"] == 43
    assert [sa["messages"] for sa in doc["ike_sas"]] == [
        sa["messages"] for sa in reference["ike_sas"]
    ]
    assert doc["capture"]["esp_packets"] == reference["capture"]["esp_packets"]
    assert doc["capture"]["last_time"] == reference["capture"]["last_time"]


def test_packets_jsonl_keeps_the_raw_value(hostile: Path) -> None:
    done = _cli("packets", str(hostile), "--format", "jsonl")
    _clean(done)
    rows = {row["frame"]: row for row in map(json.loads, done.stdout.splitlines())}
    assert rows[7]["time"] == rows[6]["time"]  # shown as the previous frame's time
    assert rows[7]["time_raw"] == {
        "format": "pcapng",
        "value": YEAR_508989_US,
        "resolution": "10^-6",
    }
    assert "time_raw" not in rows[6]
    text = _cli("packets", str(hostile))
    _clean(text)
    assert len(text.stdout.splitlines()) == 43


def test_decrypt(hostile: Path, tmp_path: Path) -> None:
    out = tmp_path / "plain.pcap"
    done = _cli("decrypt", str(hostile), "--keys", str(TUNNEL_KEYS), "-o", str(out))
    _clean(done)
    frames = frames_of(out)
    assert len(frames) == 43
    assert frames[6][1] == frames[5][1]
    assert "30 ESP packets replaced" in done.stderr


def test_open_in_the_tui(hostile: Path) -> None:
    from ipsec_inspect.tui.app import InspectorApp
    from tests.tui.conftest import settle

    async def run() -> None:
        app = InspectorApp(Analysis(str(hostile), key_paths=[str(TUNNEL_KEYS)]))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            assert WARNING in app.analysis.problems()
            assert app.analysis.records == 43
            frame7 = app.analysis.record(6)  # re-read from the file: the accepted time
            frame6 = app.analysis.record(5)
            assert frame7 is not None and frame6 is not None
            assert frame7.meta.time == frame6.meta.time
            await pilot.press("m")  # the messages screen lists it
            await pilot.pause()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
        # leave a usable loop behind: pyshark (the tshark oracle tests) asks for the
        # current one, and asyncio.run would have left none
        asyncio.set_event_loop(asyncio.new_event_loop())


def test_sniff_pipeline_on_the_same_frames() -> None:
    """Frames as a live backend hands them on, with the raw hostile time unconverted:
    sniff's frame loop checks each time as the file reader does."""
    frames = frames_of(TUNNEL)
    raw = [f if f[0] != 7 else (7, YEAR_508989_US * 1e-6, *f[2:]) for f in frames]
    analysis = Analysis(None, key_paths=[str(TUNNEL_KEYS)], keep_index=False)
    out = io.StringIO()
    stopped: list[str] = []
    stream = sniff._frames(iter(raw), None, None, stopped.append, sniff.live_clock(analysis))
    sniff._stream(stream, analysis, out, sniff.event_line)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events and all(e["time"] is None or e["time"] < "2100" for e in events)
    assert WARNING in analysis.problems()
    assert analysis.records == 43
    args = argparse.Namespace(write=None, interface="veth-test", backend="scapy", bpf=None)
    doc = sniff._final_document(analysis, args, CaptureCounters(43, 43), None, "end")
    assert WARNING in doc["problems"]
    json.dumps(doc)
