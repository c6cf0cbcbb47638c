"""The app driven by a live source: frames trickle in, SAs appear and update, LIVE shows."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from textual.widgets import Static

from ipsec_inspect.pipeline.session import Analysis
from ipsec_inspect.sources.capture_file import CaptureReader
from ipsec_inspect.tui.app import InspectorApp
from ipsec_inspect.tui.source import Frame, LiveSource
from ipsec_inspect.tui.widgets.packet_list import PacketList

from .conftest import TUNNEL, settle


def _frames() -> list[Frame]:
    with CaptureReader(str(TUNNEL)) as reader:
        return [tuple(f) for f in reader]


class Trickle:
    """Yields frames with small delays; holds at ``gate_at`` until released."""

    def __init__(self, frames: list[Frame], gate_at: int) -> None:
        self.frames = frames
        self.gate_at = gate_at
        self.gate = threading.Event()
        self.sent = 0

    def __iter__(self) -> Iterator[Frame]:
        for i, f in enumerate(self.frames):
            if i == self.gate_at:
                self.gate.wait(10)
            time.sleep(0.002)
            self.sent += 1
            yield f


async def test_live_source_sas_appear_and_update() -> None:
    frames = _frames()
    assert len(frames) >= 43
    feed = Trickle(frames, gate_at=10)  # stop after the IKE SA and the first ESP packets
    drops = {"kernel": 0, "interface": 0}
    source = LiveSource(feed, drops=lambda: dict(drops), label="eth0")
    app = InspectorApp(Analysis(None), source, refresh_seconds=0.0)
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(500):  # wait until the gate holds the feed and the views caught up
            await pilot.pause(0.01)
            child = app.catalog.child.get("child-1")
            if (
                child
                and sum(d.packets for d in child.directions) == 6
                and app.query_one(PacketList).count == 10
            ):
                break
        assert feed.sent == 10
        assert "ike-ef757aec6f6166d4" in app.catalog.ike
        assert set(app.catalog.child) == {"child-1"}  # the rekeyed child has not happened yet
        first = app.catalog.child["child-1"].directions[0].packets
        assert app.query_one(PacketList).count == 10

        drops["kernel"] = 7
        # The status polls the drop counters twice a second; on a loaded machine a poll can
        # come late, so wait for it (bounded: 5 s) instead of for a fixed time.
        status = ""
        for _ in range(50):
            await pilot.pause(0.1)
            status = str(app.query_one("#status", Static).render())
            if "kernel 7" in status:
                break
        assert "LIVE eth0" in status and "kernel 7" in status

        feed.gate.set()
        await settle(pilot)
        assert set(app.catalog.child) == {"child-1", "child-2"}
        assert app.catalog.child["child-1"].directions[0].packets > first
        assert app.catalog.child["child-1"].rekeyed_to == "child-2"
        assert app.query_one(PacketList).count == 43
        assert app.progress is not None and app.progress.done
