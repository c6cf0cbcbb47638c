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


def hex_text(data: bytes, start: int, length: int, style: str = "reverse") -> Text:
    """Offset, hex bytes and ASCII; bytes in ``[start, start+length)`` get ``style``."""
    out = Text()
    end = start + length if start >= 0 else -1
    for line in range(0, len(data), PER_LINE):
        chunk = data[line : line + PER_LINE]
        out.append(f"{line:04x}  ", "dim")
        for i, b in enumerate(chunk):
            at = line + i
            out.append(f"{b:02x}", style if start <= at < end else "")
            out.append(" " if i != 7 else "  ")
        out.append("   " * (PER_LINE - len(chunk)) + (" " if len(chunk) <= 7 else "") + " ")
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

    def compose(self) -> ComposeResult:
        yield Static(id="hex-body")

    def show(self, title: str, data: bytes, start: int = -1, length: int = 0) -> None:
        self.title, self.data, self.start, self.length = title, data, start, length
        self.border_title = title
        self.query_one("#hex-body", Static).update(hex_text(data, start, length))
        if start >= 0:
            self.scroll_to(y=max(0, start // PER_LINE - 1), animate=False)
