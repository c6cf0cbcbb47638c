"""One line: progress while the capture is read, then counts, filter state, LIVE drops and
what the SA cap evicted (issue 16: never evicted silently, and the user is told the way out)."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.widgets import Static

from ipsec_inspect.lifecycle.flood import Evicted
from ipsec_inspect.pipeline.session import Progress


class StatusBar(Static):
    def show(
        self,
        progress: Progress | None,
        *,
        sas: int,
        shown: int,
        total: int,
        problems: int,
        scope: str,
        live: str | None = None,
        drops: Mapping[str, int] | None = None,
        evicted: Evicted | None = None,
        max_sas: int | None = None,
    ) -> None:
        text = Text()
        if live is not None:
            text.append(f" LIVE {live} ", "bold white on red")
            text.append(" ")
            if drops:
                text.append(
                    "drops " + " ".join(f"{k} {v}" for k, v in drops.items()) + "  ",
                    "red" if any(drops.values()) else "dim",
                )
        if progress is not None and not progress.done and live is None:
            pct = progress.fraction * 100
            filled = int(progress.fraction * 12)
            text.append("reading " + "█" * filled + "░" * (12 - filled), "cyan")
            text.append(f" {pct:3.0f}%  ")
        elif progress is not None and progress.done and live is None:
            text.append("analysed  ", "green")
        text.append(f"{sas} SAs  ")
        text.append(f"{shown:,}/{total:,} packets" if shown != total else f"{total:,} packets")
        text.append(f"  {scope}", "italic")
        if problems:
            text.append(f"  ⚠ {problems} messages", "yellow")
        if evicted is not None and evicted.total:
            text.append(
                f"  evicted {evicted.half_open_ike_sas:,} half-open IKE + "
                f"{evicted.orphan_child_sas:,} orphan SAs ({evicted.esp_packets:,} ESP pkts) "
                f"over --max-sas {max_sas or 0:,}; raise --max-sas to keep them",
                "bold yellow",
            )
        self.update(text)
