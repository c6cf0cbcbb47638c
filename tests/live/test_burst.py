"""Bursts are accounted for (drops reported, not hidden) and memory stays flat.

Both tests are bounded: a fixed number of replayed frames and a ``--duration`` on sniff.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from ipsec_inspect.sources.capture_file import CaptureReader
from tests.live.netns import VethPair
from tests.live.sniffing import SAMPLES, export_events, finish_sniff, replay, sa_view, start_sniff

CAPTURE = SAMPLES / "ikev2-tunnel.pcapng"  # every frame passes the default filter
BURST_REPEAT = 300  # 300 x 43 = 12 900 frames, sent back to back
LONG_STREAM = 60_000  # ESP frames of the memory test
RSS_SLACK = 4 << 20  # bytes: allocator and interpreter noise


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def test_burst_reports_every_frame_as_delivered_or_dropped(
    veth: VethPair, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    per_file = sum(1 for _ in CaptureReader(CAPTURE))
    total = per_file * BURST_REPEAT
    process, out, err = start_sniff(veth, tmp_path, "--count", str(total), "--duration", "40")
    sent = replay(veth, CAPTURE, repeat=BURST_REPEAT)
    live = finish_sniff(veth, process, out, err)
    counters = live.document["capture"]["live"]
    record_property("burst_frames", sent)
    record_property("kernel_dropped", counters["kernel_dropped"])
    print(f"burst of {sent} frames: {counters}")
    assert sent == total
    # nothing vanishes silently: each frame was handed on or counted as dropped
    assert counters["delivered"] + counters["kernel_dropped"] == sent
    assert counters["received"] == counters["delivered"]
    assert f"dropped: kernel {counters['kernel_dropped']}," in live.stderr
    if counters["kernel_dropped"] == 0:
        assert counters["stopped_by"] == "count"
        once = sa_view(export_events(CAPTURE, tmp_path)[0])
        assert (
            live.document["capture"]["esp_packets"] == once["counts"]["esp_packets"] * BURST_REPEAT
        )
        assert (
            live.document["capture"]["ike_messages"]
            == once["counts"]["ike_messages"] * BURST_REPEAT
        )


def test_memory_stays_flat_over_a_long_replay(veth: VethPair, tmp_path: Path) -> None:
    """A long well-formed ESP stream on one SA after its IKE exchanges: state is per SA.

    Live analysis keeps no per-packet state (the sequence analyser's merge log is off unless a
    result is meant to be merged), so growth beyond a fixed slack fails.
    """
    process, out, err = start_sniff(veth, tmp_path, "--duration", "120")
    warm = replay(veth, CAPTURE, esp_stream=2000)  # every SA exists, caches are filled
    time.sleep(0.5)
    before = _rss(process.pid)
    sent = replay(veth, CAPTURE, esp_stream=LONG_STREAM) - (warm - 2000)
    time.sleep(0.5)
    after = _rss(process.pid)
    process.send_signal(signal.SIGTERM)
    live = finish_sniff(veth, process, out, err)
    counters = live.document["capture"]["live"]
    growth = after - before
    print(f"RSS {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB over {sent} frames "
          f"({growth / sent:.1f} B/frame)")  # fmt: skip
    assert live.returncode == 0
    assert counters["stopped_by"] == "SIGTERM"
    assert counters["delivered"] + counters["kernel_dropped"] == warm + sent + (warm - 2000)
    assert growth < RSS_SLACK
