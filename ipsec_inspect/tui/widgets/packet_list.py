"""The packet list: a virtual, line-based view over the packet index.

Why a ScrollView with ``render_line`` (as toolong's log view): a table widget holding a
million rows would cost seconds and hundreds of MB; here only the visible lines are
rendered, each from the compact index plus an LRU-cached re-read of its frame. The
list shows either every row or a sorted list of row numbers (an SA, a filter).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ipsec_inspect.tui.rows import PacketRows, Row
from ipsec_inspect.tui.widgets.messages import RowChosen

WIDE = 110  # from this width the list shows source and destination columns


class PacketList(ScrollView, can_focus=True):
    """Index rows, one line each, with a cursor; posts :class:`RowChosen` as it moves."""

    BINDINGS = [
        Binding("j,down", "cursor(1)", "Down", show=False, id="packets.down"),
        Binding("k,up", "cursor(-1)", "Up", show=False, id="packets.up"),
        Binding("g,home", "first", "First", show=False, id="packets.first"),
        Binding("G,end", "last", "Last", show=False, id="packets.last"),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False, id="packets.page_down"),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False, id="packets.page_up"),
    ]

    COMPONENT_CLASSES = {
        "packet-list--header",
        "packet-list--cursor",
        "packet-list--error",
        "packet-list--decrypted",
    }

    cursor: reactive[int] = reactive(0, always_update=True, repaint=True)

    def __init__(self, rows: PacketRows, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows = rows
        self.view: Sequence[int] | None = None  # None: every index row
        self._count = 0

    # ------------------------------------------------------------------ data

    def set_rows(self, rows: PacketRows) -> None:
        self.rows = rows
        self.view = None
        self.cursor = 0
        self.update_count()

    def set_view(self, view: Sequence[int] | None, keep_frame: bool = True) -> None:
        """Show only ``view`` (sorted index rows), keeping the cursor's frame if possible."""
        frame = self.current_frame() if keep_frame else None
        self.view = view
        self.update_count()
        if frame is not None:
            self.go_to_frame(frame)
        else:
            self.cursor = 0
        self.refresh()

    def update_count(self) -> None:
        """Follow the index as it grows (called on every progress report)."""
        count = len(self.view) if self.view is not None else len(self.rows.analysis.index)
        if count != self._count or self.virtual_size.height != count + 1:
            self._count = count
            self.virtual_size = Size(0, count + 1)
            self.refresh()

    @property
    def count(self) -> int:
        return self._count

    def row_at(self, position: int) -> int | None:
        if not 0 <= position < self._count:
            return None
        return self.view[position] if self.view is not None else position

    def current_row(self) -> int | None:
        return self.row_at(self.cursor)

    def current_frame(self) -> int | None:
        row = self.current_row()
        return self.rows.analysis.index.frame[row] if row is not None else None

    def go_to_frame(self, frame: int) -> bool:
        """Put the cursor on the first row of ``frame`` (or the next one shown)."""
        frames = self.rows.analysis.index.frame
        if self.view is None:
            pos = bisect_left(frames, frame, hi=self._count)
        else:
            pos = bisect_left(self.view, frame, key=lambda i: frames[i])
        if self._count == 0:
            return False
        self.cursor = min(pos, self._count - 1)
        return self.current_frame() == frame

    # ------------------------------------------------------------------ cursor

    def watch_cursor(self, old: int, new: int) -> None:
        if self._count and not 0 <= new < self._count:
            self.cursor = max(0, min(new, self._count - 1))
            return
        self._follow()
        row = self.current_row()
        if row is not None:
            self.post_message(RowChosen(row))

    def _follow(self) -> None:
        visible = max(1, self.size.height - 1)
        top = round(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self.cursor = max(0, min(self.cursor + delta, self._count - 1))

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = max(0, self._count - 1)

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.size.height - 2))

    def on_click(self, event: events.Click) -> None:
        position = round(self.scroll_offset.y) + event.y - 1
        if event.y >= 1 and 0 <= position < self._count:
            self.cursor = position

    def on_resize(self) -> None:
        self.virtual_size = Size(0, self._count + 1)

    # ------------------------------------------------------------------ rendering

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            style = self.get_component_rich_style("packet-list--header")
            return self._strip(self._header(width), width, style)
        position = round(self.scroll_offset.y) + y - 1
        row = self.row_at(position)
        if row is None:
            return Strip.blank(width, self.rich_style)
        r = self.rows.row(row)
        text = self._line(r, width)
        base = self.rich_style
        if r.error:
            text.stylize(self.get_component_rich_style("packet-list--error"))
        if position == self.cursor:
            base = self.get_component_rich_style("packet-list--cursor")
            text.stylize(base)
        return self._strip(text, width, base)

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        text.truncate(width, overflow="ellipsis")
        segments = [
            Segment(s.text, style + s.style if s.style else style)
            for s in text.render(self.app.console)
            if s.text != "\n"
        ]
        return Strip(segments).extend_cell_length(width, style).crop(0, width)

    @staticmethod
    def _header(width: int) -> Text:
        if width >= WIDE:
            return Text(
                f"{'Frame':>7}  {'Time':>11} {'Source':>22} → {'Destination':<22} {'Proto':<7} Info"
            )
        return Text(f"{'Frame':>6}  {'Time':>10} {'Proto':<6} Info")

    def _line(self, r: Row, width: int) -> Text:
        # "?": decrypted without an integrity check (decrypted_unverified)
        mark = ("?" if r.unverified else "✓") if r.decrypted else ("!" if r.error else " ")
        text = Text()
        if width >= WIDE:
            text.append(f"{r.frame:>7}")
            text.append(
                mark,
                self.get_component_rich_style("packet-list--decrypted") if r.decrypted else Style(),
            )
            text.append(f" {r.time:>11} {r.src:>22} → {r.dst:<22} {r.proto:<7} {r.info}")
        else:
            text.append(f"{r.frame:>6}")
            text.append(
                mark,
                self.get_component_rich_style("packet-list--decrypted") if r.decrypted else Style(),
            )
            text.append(f" {r.time:>10} {r.proto:<6} {r.info}")
        return text
