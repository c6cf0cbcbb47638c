"""sniff's counters: a frame the source delivered but the analysis never saw (left in the
TUI's hand-over queue when it closed) is counted as dropped at our queue, not lost."""

from __future__ import annotations

from ipsec_inspect.commands.sniff import _analysed, _drop_text
from ipsec_inspect.pipeline.session import Analysis
from ipsec_inspect.sources.live import CaptureCounters
from tests.hostile import TUNNEL, frames_of


def test_frames_left_in_the_hand_over_queue_are_queue_dropped() -> None:
    analysis = Analysis(None, keep_index=False)
    for frame in frames_of(TUNNEL)[:30]:
        analysis.feed_frame(*frame)
    source = CaptureCounters(received=43, delivered=40, kernel_dropped=2, queue_dropped=3)
    c = _analysed(source, analysis)
    assert (c.received, c.delivered, c.queue_dropped, c.kernel_dropped) == (43, 30, 13, 2)
    assert c.received == c.delivered + c.queue_dropped
    assert c.dropped == 15
    assert _analysed(CaptureCounters(30, 30), analysis) == CaptureCounters(30, 30)


def test_drop_line_names_every_stage() -> None:
    class Args:
        interface = "veth-c"
        backend = "scapy"

    text = _drop_text(Args(), CaptureCounters(10, 7, 1, 0, 0, 3))  # type: ignore[arg-type]
    assert text == (
        "ipsec-inspect: 7 frames captured on veth-c (scapy); dropped: kernel 1, backend 0, "
        "interface 0, queue 3 (received at the stop, not analysed)"
    )
