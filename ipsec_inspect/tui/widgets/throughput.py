"""Per-SA throughput: packets over the capture's time axis as a sparkline."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static


class Throughput(Vertical):
    def compose(self) -> ComposeResult:
        yield Static("throughput", id="throughput-label")
        yield Sparkline([], id="throughput-spark")

    def show(self, uid: str | None, buckets: list[float]) -> None:
        total = int(sum(buckets))
        label = f"throughput: {total:,} packets" if uid else "throughput"
        self.query_one("#throughput-label", Static).update(label)
        self.border_title = label
        self.query_one("#throughput-spark", Sparkline).data = buckets
