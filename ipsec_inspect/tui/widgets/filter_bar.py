"""The filter input: parsed as the user types; errors shown at once with their position."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Static

from ipsec_inspect.tui.filterlang import Filter, FilterError, parse_filter


class FilterBar(Horizontal):
    class Changed(Message):
        """A valid filter was entered (None: filter cleared)."""

        def __init__(self, flt: Filter | None) -> None:
            super().__init__()
            self.filter = flt

    def compose(self) -> ComposeResult:
        yield Static("filter", id="filter-label")
        yield Input(
            placeholder="e.g. spi:c27e43a0  proto:ike exchange:auth  stage:termination  "
            "finding:high  (press / to focus)",
            id="filter-input",
        )
        yield Static("", id="filter-status")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        status = self.query_one("#filter-status", Static)
        try:
            parse_filter(event.value)
        except FilterError as e:
            status.update(f"[red]✖ {e} (col {e.position + 1})[/red]")
            self.add_class("-invalid")
            return
        self.remove_class("-invalid")
        status.update("[green]✓[/green]" if event.value.strip() else "")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            flt = parse_filter(event.value)
        except FilterError:
            return
        self.post_message(self.Changed(flt))
