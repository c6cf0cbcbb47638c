"""A hex dump of one buffer with the selected field's bytes highlighted.

Why its own widget: the detail tree decides *which* bytes; this pane only knows how to
draw a buffer and keep the highlighted range in view.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

PER_LINE = 16


def hex_text(
    data: bytes, start: int, length: int, style: str = "reverse", per_line: int = PER_LINE
) -> Text:
    """Offset, hex bytes and ASCII; bytes in ``[start, start+length)`` get ``style``.

    ``per_line`` is 16 or 8 (a narrow terminal): a gap after each half of the line."""
    out = Text()
    end = start + length if start >= 0 else -1
    half = per_line // 2 - 1
    for line in range(0, len(data), per_line):
        chunk = data[line : line + per_line]
        out.append(f"{line:04x}  ", "dim")
        for i, b in enumerate(chunk):
            at = line + i
            out.append(f"{b:02x}", style if start <= at < end else "")
            out.append(" " if i != half else "  ")
        out.append("   " * (per_line - len(chunk)) + (" " if len(chunk) <= half else "") + " ")
        for i, b in enumerate(chunk):
            at = line + i
            out.append(chr(b) if 32 <= b < 127 else ".", style if start <= at < end else "dim")
        out.append("\n")
    if not data:
        out.append("(no bytes)", "dim")
    return out


class HexView(VerticalScroll):
    """Shows ``(title, data)`` and highlights a byte range."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data = b""
        self.title = ""
        self.start = -1
        self.length = 0
        self.per_line = PER_LINE

    def set_per_line(self, per_line: int) -> None:
        """Redraw with ``per_line`` bytes a line (the layout chose it for the width)."""
        if per_line and per_line != self.per_line:
            self.per_line = per_line
            self.show(self.title, self.data, self.start, self.length)

    def compose(self) -> ComposeResult:
        yield Static(id="hex-body")

    def show(self, title: str, data: bytes, start: int = -1, length: int = 0) -> None:
        self.title, self.data, self.start, self.length = title, data, start, length
        self.border_title = title
        self.query_one("#hex-body", Static).update(
            hex_text(data, start, length, per_line=self.per_line)
        )
        if start >= 0:
            self.scroll_to(y=max(0, start // self.per_line - 1), animate=False)
