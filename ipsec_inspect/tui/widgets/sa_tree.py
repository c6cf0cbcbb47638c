"""The SA tree: IKE SAs with their child SAs beneath, coloured by stage and health.

Why virtual (a ScrollView with ``render_line``, like the packet list): a capture may hold
a million SAs, and a Tree widget node per SA would cost a kilobyte each and seconds to
build. The rows are a list of uids (``tui/sa_rows.py``); only the lines on screen are
drawn, from an LRU of labels. During analysis the catalog is replaced twice a second;
the cursor stays on its SA and collapsed parents stay collapsed.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.text import Text
from textual import events, work
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from ipsec_inspect.lifecycle.model import ChildSa, IkeSa, Reason, Stage
from ipsec_inspect.tui.catalog import Health, SaCatalog
from ipsec_inspect.tui.filterlang import Filter
from ipsec_inspect.tui.rows import Lru
from ipsec_inspect.tui.sa_rows import visible_rows
from ipsec_inspect.tui.widgets.messages import SaChosen

STAGE_STYLE = {
    Stage.HOST_RECOGNITION: "cyan",
    Stage.NEGOTIATION: "blue",
    Stage.CIRCUIT: "magenta",
    Stage.TRANSMISSION: "green",
    Stage.TERMINATION: "bright_black",
}
STAGE_SHORT = {
    Stage.HOST_RECOGNITION: "hosts",
    Stage.NEGOTIATION: "negot",
    Stage.CIRCUIT: "circuit",
    Stage.TRANSMISSION: "transmit",
    Stage.TERMINATION: "ended",
}
HEALTH_MARK = {
    Health.OK: ("●", "green"),
    Health.WARNING: ("▲", "yellow"),
    Health.ERROR: ("✖", "red"),
}


def sa_label(catalog: SaCatalog, uid: str) -> Text:
    """Health mark, name, and the stage it reached (with why it ended)."""
    mark, colour = HEALTH_MARK[catalog.health(uid)]
    text = Text()
    text.append(mark + " ", colour)
    sa = catalog.sa(uid)
    text.append(catalog.label(uid), "bold" if isinstance(sa, IkeSa) else "")
    stage = catalog.current_stage(uid)
    ended = isinstance(sa, IkeSa | ChildSa) and sa.termination is not None
    if stage is not None and not (ended and stage is Stage.TERMINATION):
        # "ended (deleted)" says it twice: how it ended is enough
        text.append(f" {STAGE_SHORT[stage]}", STAGE_STYLE[stage])
    if isinstance(sa, IkeSa | ChildSa) and sa.termination is not None:
        reason = sa.termination.reason
        if reason is Reason.REKEYED and sa.rekeyed_to:
            text.append(f" ⟶ {sa.rekeyed_to}", "italic")
        elif reason is not Reason.STILL_ACTIVE:
            text.append(f" ({reason.value})", "red" if reason is Reason.FAILED else "dim")
    return text


#: From this many SAs a filter or a fold is computed in a thread (a million SAs take about
#: a second to filter), so the screen never freezes.
THREAD_ROWS = 20_000


class SaTree(ScrollView, can_focus=True):
    """SA rows with a cursor; posts :class:`SaChosen` when the cursor lands on an SA."""

    BINDINGS = [
        Binding("j,down", "cursor(1)", "Down", show=False, id="tree.down"),
        Binding("k,up", "cursor(-1)", "Up", show=False, id="tree.up"),
        Binding("g,home", "first", "First SA", show=False, id="tree.first"),
        Binding("G,end", "last", "Last SA", show=False, id="tree.last"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="tree.page_down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="tree.page_up"),
        Binding("space", "fold_toggle", "Fold or unfold an IKE SA", show=False, id="tree.toggle"),
        Binding("left", "fold", "Fold an IKE SA", show=False, id="tree.fold"),
        Binding("right", "unfold", "Unfold an IKE SA", show=False, id="tree.unfold"),
        Binding("enter", "choose", "Show this SA", show=False, id="tree.choose"),
    ]

    COMPONENT_CLASSES = {"sa-tree--cursor"}

    cursor: reactive[int] = reactive(0, always_update=True, repaint=True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.catalog: SaCatalog | None = None
        self.rows: Sequence[str] = ()
        self.filter: Filter | None = None
        self.collapsed: set[str] = set()
        self._labels: Lru[str, Text] = Lru(1024)
        self._posted: str | None = None

    # ------------------------------------------------------------------ data

    def update_catalog(self, catalog: SaCatalog) -> None:
        """Show a new snapshot, keeping the cursor on the SA it was on."""
        keep = self.selected_uid
        self.catalog = catalog
        self._labels.clear()
        self._relayout(keep)

    def set_filter(self, flt: Filter | None) -> None:
        """Show only the SAs that ``flt`` matches (their IKE SA too, for context)."""
        self.filter = flt
        self._relayout(self.selected_uid)

    def _relayout(self, keep: str | None) -> None:
        """Recompute the rows; filtering or folding a big catalog happens in a thread."""
        catalog = self.catalog
        if catalog is None:
            return
        collapsed, flt = frozenset(self.collapsed), self.filter
        if (flt is None and not collapsed) or len(catalog.order) < THREAD_ROWS:
            self._apply_rows(catalog, visible_rows(catalog, collapsed, flt), keep)
        else:
            self._rows_in_thread(catalog, collapsed, flt, keep)

    @work(thread=True, exclusive=True, group="sa-rows", exit_on_error=False)
    def _rows_in_thread(
        self, catalog: SaCatalog, collapsed: frozenset[str], flt: Filter | None, keep: str | None
    ) -> None:
        rows = visible_rows(catalog, collapsed, flt)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._apply_rows, catalog, rows, keep)

    def _apply_rows(self, catalog: SaCatalog, rows: Sequence[str], keep: str | None) -> None:
        if catalog is not self.catalog:
            return  # a newer snapshot arrived meanwhile; its own rows are on the way
        self.rows = rows
        self.virtual_size = Size(0, len(self.rows))
        position = self._position(keep) if keep is not None else None
        self.set_reactive(SaTree.cursor, position if position is not None else 0)
        self._follow()
        self.refresh()

    def _position(self, uid: str) -> int | None:
        try:
            return self.rows.index(uid)
        except ValueError:
            return None

    @property
    def count(self) -> int:
        return len(self.rows)

    def select_uid(self, uid: str) -> None:
        if self.catalog is None:
            return
        sa = self.catalog.sa(uid)
        parent = sa.ike_sa if isinstance(sa, ChildSa) else None
        if parent is not None and parent in self.collapsed:
            self.collapsed.discard(parent)
            self._relayout(uid)
        position = self._position(uid)
        if position is not None:
            self._posted = uid  # the app chose it: no need to tell the app
            self.cursor = position

    @property
    def selected_uid(self) -> str | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    # ------------------------------------------------------------------ cursor

    def watch_cursor(self, old: int, new: int) -> None:
        if self.rows and not 0 <= new < len(self.rows):
            self.cursor = max(0, min(new, len(self.rows) - 1))
            return
        self._follow()
        uid = self.selected_uid
        if uid is not None and uid != self._posted:
            self._posted = uid
            self.post_message(SaChosen(uid))

    def _follow(self) -> None:
        visible = max(1, self.scrollable_content_region.height)
        top = round(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self.cursor = max(0, min(self.cursor + delta, len(self.rows) - 1))

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = max(0, len(self.rows) - 1)

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height - 1))

    def action_choose(self) -> None:
        uid = self.selected_uid
        if uid is not None:
            self._posted = uid
            self.post_message(SaChosen(uid))

    def _root_at_cursor(self) -> str | None:
        uid = self.selected_uid
        if uid is None or self.catalog is None:
            return None
        sa = self.catalog.sa(uid)
        if isinstance(sa, ChildSa) and self.catalog.depth(uid):
            return sa.ike_sa
        return uid if self.catalog.has_children(uid) else None

    def action_fold(self) -> None:
        root = self._root_at_cursor()
        if root is not None and root not in self.collapsed:
            self.collapsed.add(root)
            self._relayout(root)

    def action_unfold(self) -> None:
        root = self._root_at_cursor()
        if root is not None and root in self.collapsed:
            self.collapsed.discard(root)
            self._relayout(root)

    def action_fold_toggle(self) -> None:
        root = self._root_at_cursor()
        if root is None:
            return
        if root in self.collapsed:
            self.action_unfold()
        else:
            self.action_fold()

    def on_click(self, event: events.Click) -> None:
        position = round(self.scroll_offset.y) + event.y
        if 0 <= position < len(self.rows):
            if event.x < 2 and self.catalog and self.catalog.has_children(self.rows[position]):
                self.cursor = position
                self.action_fold_toggle()
                return
            self.cursor = position

    def on_resize(self) -> None:
        self.virtual_size = Size(0, len(self.rows))
        self._follow()

    # ------------------------------------------------------------------ rendering

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        position = round(self.scroll_offset.y) + y
        if self.catalog is None or not 0 <= position < len(self.rows):
            if position == 0 and self.catalog is not None and self.filter is not None:
                return self._strip(Text("no SA matches the filter", "dim italic"), width, False)
            return Strip.blank(width, self.rich_style)
        uid = self.rows[position]
        catalog = self.catalog
        text = Text()
        if catalog.depth(uid):
            last = position + 1 >= len(self.rows) or not catalog.depth(self.rows[position + 1])
            text.append("└ " if last else "├ ", "dim")
        elif catalog.has_children(uid):
            text.append("▶ " if uid in self.collapsed else "▼ ")
        else:
            text.append("  ")
        text.append_text(self._labels.get(uid, lambda: sa_label(catalog, uid)))
        return self._strip(text, width, position == self.cursor)

    def _strip(self, text: Text, width: int, cursor: bool) -> Strip:
        base = self.rich_style
        if cursor:
            base = self.get_component_rich_style("sa-tree--cursor")
            text.stylize(base)
        text.truncate(width, overflow="ellipsis")
        segments = [
            Segment(s.text, base + s.style if s.style else base)
            for s in text.render(self.app.console)
            if s.text != "\n"
        ]
        return Strip(segments).extend_cell_length(width, base).crop(0, width)
