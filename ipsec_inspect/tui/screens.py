"""Modal screens: the help screen (every key binding) and the path prompt (keys, export)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

FILTER_HELP = """\
[b]Filter expressions[/b] (see docs/tui.md)
  spi:c27e43a0   peer:192.0.2.1   peer:10.0.0.0/8   proto:ike|esp|ah|keepalive|malformed
  exchange:IKE_AUTH   stage:negotiation   finding:K18   finding:high   finding:any
  terms side by side mean [i]and[/i]; also [i]or[/i], [i]not[/i] / [i]![/i], and ( … )
"""


def bindings_table(rows: list[tuple[str, str, str]]) -> Table:
    """Keys as typed on a keyboard and what they do, in words (ids stay out of sight)."""
    table = Table(box=None, expand=True, show_header=True, header_style="bold")
    table.add_column("key", no_wrap=True)
    table.add_column("what it does", ratio=1)
    for keys, description, _ident in rows:
        table.add_row(Text(keys, "bold"), description)
    return table


class HelpScreen(ModalScreen[None]):
    """Lists every key binding: the keys as a user types them, and what they do."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close", id="help.close")]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("[b]ipsec-inspect[/b] — key bindings (Esc closes)", id="help-title")
            yield Static(bindings_table(self.rows))
            yield Static(FILTER_HELP, id="help-filter")


class PathPrompt(ModalScreen[str | None]):
    """Asks for a file path; dismisses with the path, or None on Escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, title: str, placeholder: str = "", value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Static(self.title_text, id="prompt-title")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static("Enter to confirm, Esc to cancel", id="prompt-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
