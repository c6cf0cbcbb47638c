"""The filter input: parsed as the user types; errors shown at once with their position.

Why the error has a line of its own below the input: a message such as "spi:xyz is not a
hexadecimal SPI (up to 16 digits) (col 5)" does not fit beside the input on an 80-column
terminal; on its own line it wraps instead of being cut off.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Static

from ipsec_inspect.tui.filterlang import Filter, FilterError, parse_filter


class FilterBar(Vertical):
    class Changed(Message):
        """A valid filter was entered (None: filter cleared)."""

        def __init__(self, flt: Filter | None) -> None:
            super().__init__()
            self.filter = flt

    def compose(self) -> ComposeResult:
        with Horizontal(id="filter-row"):
            yield Static("filter", id="filter-label")
            yield Input(
                placeholder="e.g. spi:c27e43a0  proto:ike exchange:auth  stage:termination  "
                "finding:high  (press / to focus)",
                id="filter-input",
            )
            yield Static("", id="filter-mark")
        yield Static("", id="filter-status")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        status = self.query_one("#filter-status", Static)
        mark = self.query_one("#filter-mark", Static)
        try:
            parse_filter(event.value)
        except FilterError as e:
            status.update(Text(f"✖ {e} (col {e.position + 1})", "red"))
            mark.update(Text("✖", "red"))
            self.add_class("-invalid")
            return
        self.remove_class("-invalid")
        status.update("")
        mark.update(Text("✓", "green") if event.value.strip() else "")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            flt = parse_filter(event.value)
        except FilterError:
            return
        self.post_message(self.Changed(flt))
