"""The inspector application: panes, selection routing and the analysis worker.

Constructor (also used by the live capture of issue 7)::

    InspectorApp(analysis, source=None, *, clock=time.monotonic, refresh_seconds=0.5)

``analysis`` is an :class:`ipsec_inspect.pipeline.session.Analysis` (not yet run). ``source`` says
where frames come from: ``None`` or :class:`~ipsec_inspect.tui.source.CaptureFileSource`
replays ``analysis.path`` through :meth:`Analysis.run`; a
:class:`~ipsec_inspect.tui.source.LiveSource` wraps any iterator of frames
``(number, time, link_type, data, orig_len, iface)`` that the worker feeds into
:meth:`Analysis.feed_frame`, and an optional ``drops()`` callable whose counters the
status bar shows beside a LIVE badge. ``clock`` paces the SA refreshes (tests pass a
fixed clock); the SA views are refreshed from a tracker snapshot at most every
``refresh_seconds`` and always when the source ends.

Why the app owns selection: panes only post messages (SA chosen, frame chosen, row
chosen); the app decides what each other pane shows, so panes never reference each
other. The engine runs in a thread worker; its callbacks come back with
``call_from_thread``, which also pauses the worker while the views copy what they need.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from rich.text import Text
from textual import events, work
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, Tab, TabbedContent, TabPane, Tabs
from textual.worker import get_current_worker

from ipsec_inspect.core.errors import InputError
from ipsec_inspect.lifecycle.tracker import Tracker
from ipsec_inspect.pipeline.session import Analysis, Progress
from ipsec_inspect.tui.catalog import FlowStats, SaCatalog, rows_of_flows, throughput
from ipsec_inspect.tui.filterlang import Filter
from ipsec_inspect.tui.layout import LayoutPlan, Pane, plan_layout
from ipsec_inspect.tui.rows import IndexFacts, PacketRows
from ipsec_inspect.tui.screens import HelpScreen, PathPrompt
from ipsec_inspect.tui.source import CaptureFileSource, FrameSource, LiveSource, drive
from ipsec_inspect.tui.widgets.filter_bar import FilterBar
from ipsec_inspect.tui.widgets.findings_panel import FindingsPanel
from ipsec_inspect.tui.widgets.hex_view import HexView
from ipsec_inspect.tui.widgets.keys_panel import KeysPanel
from ipsec_inspect.tui.widgets.messages import FrameChosen, RowChosen, SaChosen
from ipsec_inspect.tui.widgets.packet_detail import DetailTree, PacketDetail
from ipsec_inspect.tui.widgets.packet_list import PacketList
from ipsec_inspect.tui.widgets.sa_tree import SaTree
from ipsec_inspect.tui.widgets.status_bar import StatusBar
from ipsec_inspect.tui.widgets.throughput import Throughput
from ipsec_inspect.tui.widgets.timeline import Timeline, TimelineModel

SPARK_BUCKETS = 40


class Workspace(Horizontal):
    """The panes' container; tells the app to lay them out again when the terminal resizes.

    Why here and not ``App.on_resize``: Textual's app consumes its own Resize event and
    passes the new size on to the screen and its widgets only."""

    def on_resize(self, event: events.Resize) -> None:
        app = self.app
        if isinstance(app, InspectorApp):
            app.apply_layout()


class InspectorApp(App[int]):
    """``ipsec-inspect open``: every SA's life in one screen."""

    CSS_PATH = "app.tcss"
    TITLE = "ipsec-inspect"

    # The descriptions are what the footer and the help screen (?) show: words a user
    # knows, not action names.
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("slash", "focus_filter", "Filter", id="app.filter"),
        Binding("s", "toggle_scope", "SA only", id="app.scope"),
        Binding("K", "load_keys", "Load keys", id="app.load_keys"),
        Binding("e", "export", "Export", id="app.export"),
        Binding("t", "toggle_theme", "Switch light/dark theme", id="app.theme", show=False),
        Binding("1", "focus_pane('sa-tree')", "Go to the SA list", show=False, id="app.focus_sas"),
        Binding(
            "2",
            "focus_pane('timeline-events')",
            "Go to the SA's timeline",
            show=False,
            id="app.focus_events",
        ),
        Binding(
            "3",
            "focus_pane('packets')",
            "Go to the packet list",
            show=False,
            id="app.focus_packets",
        ),
        Binding(
            "4",
            "focus_pane('detail-tree')",
            "Go to the packet's fields and bytes",
            show=False,
            id="app.focus_detail",
        ),
        Binding(
            "d", "show_tab('tab-detail')", "Show the packet detail", show=False, id="app.tab_detail"
        ),
        Binding("f", "show_tab('tab-findings')", "Findings", id="app.tab_findings"),
        Binding(
            "y", "show_tab('tab-keys')", "Show which SAs have keys", show=False, id="app.tab_keys"
        ),
        Binding(
            "m",
            "show_tab('tab-messages')",
            "Show warnings and errors",
            show=False,
            id="app.tab_messages",
        ),
    ]

    #: Longer words for the help screen where the footer's must be short.
    HELP_WORDS = {
        "app.quit": "Quit",
        "app.help": "Show this help",
        "app.filter": "Type a filter for packets and SAs",
        "app.scope": "Show only the selected SA's packets (again: all packets)",
        "app.load_keys": "Load a key file and analyse again",
        "app.export": "Export the SA timeline as JSON",
        "app.tab_findings": "Show the audit findings",
    }
    #: The pane each focus target lives in (the compact layout shows one pane at a time).
    PANE_OF = {
        "sa-tree": Pane.SAS,
        "timeline-events": Pane.TIMELINE,
        "packets": Pane.PACKETS,
        "detail-tree": Pane.DETAIL,
    }

    def __init__(
        self,
        analysis: Analysis,
        source: FrameSource | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh_seconds: float = 0.5,
        include_keys: bool = False,
    ) -> None:
        super().__init__()
        self.analysis = analysis
        self.include_keys = include_keys
        self.source: FrameSource = source or CaptureFileSource()
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self.rows = PacketRows(analysis)
        self.stats = FlowStats()
        self.catalog = SaCatalog(Tracker(analysis.config).result(), [])
        self.progress: Progress | None = None
        self.selected: str | None = None
        self.sa_scope = False
        self.filter: Filter | None = None
        self.fatal: str | None = None
        self._view_scanned = 0
        self._view: list[int] | None = None
        self._drops: Mapping[str, int] | None = None
        self._reselect_frame: int | None = None  # after a key reload: where the cursor was
        self._keys_just_loaded: str | None = None  # after K: report it if it matched nothing
        self.pane = Pane.SAS  # the pane the compact layout shows
        self.plan: LayoutPlan | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield FilterBar(id="filter-bar")
        yield Tabs(
            Tab("1 SAs", id=f"pane-{Pane.SAS}"),
            Tab("2 Timeline", id=f"pane-{Pane.TIMELINE}"),
            Tab("3 Packets", id=f"pane-{Pane.PACKETS}"),
            Tab("4 Detail", id=f"pane-{Pane.DETAIL}"),
            id="pane-tabs",
        )
        with Workspace(id="main"):
            with Vertical(id="left"):
                yield SaTree(id="sa-tree")
                yield Throughput(id="throughput")
            with Vertical(id="right"):
                yield Timeline(id="timeline")
                yield PacketList(self.rows, id="packets")
                with TabbedContent(id="bottom", initial="tab-detail"):
                    with TabPane("Detail", id="tab-detail"):
                        yield PacketDetail(id="detail", include_keys=self.include_keys)
                    with TabPane("Findings", id="tab-findings"):
                        yield FindingsPanel(id="findings")
                    with TabPane("Keys", id="tab-keys"):
                        yield KeysPanel(id="keys")
                    with TabPane("Messages", id="tab-messages"), VerticalScroll():
                        yield Static("no messages", id="messages")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#sa-tree").border_title = "SAs"
        self.query_one("#timeline").border_title = "timeline"
        self.query_one("#packets").border_title = "packets"
        self.query_one("#throughput").border_title = "throughput"
        self.query_one("#bottom").border_title = "packet"
        self.apply_layout()
        self.query_one(SaTree).focus()
        self._show_status()
        if isinstance(self.source, LiveSource) and self.source.drops is not None:
            self.set_interval(0.5, self._poll_drops)
        self.start_analysis()

    def apply_layout(self) -> None:
        """Size the panes for the terminal (``tui/layout.py``): all of them, or one with tabs."""
        width, height = self.size
        plan = plan_layout(width, height)
        self.plan = plan
        left, right = self.query_one("#left"), self.query_one("#right")
        timeline, packets = self.query_one(Timeline), self.query_one(PacketList)
        bottom = self.query_one("#bottom")
        self.query_one("#pane-tabs").display = plan.compact
        self.query_one(Footer).compact = plan.compact  # every key hint fits in 80 columns
        if plan.compact:
            pane = self.pane
            left.display = pane is Pane.SAS
            right.display = pane is not Pane.SAS
            left.styles.width = "1fr"
            timeline.display = pane is Pane.TIMELINE
            packets.display = pane is Pane.PACKETS
            bottom.display = pane is Pane.DETAIL
            timeline.styles.height = "1fr"
            bottom.styles.height = "1fr"
        else:
            for widget in (left, right, timeline, packets, bottom):
                widget.display = True
            left.styles.width = plan.sa_width
            timeline.styles.height = plan.timeline_height
            bottom.styles.height = plan.bottom_height
        hexv = self.query_one(HexView)
        hexv.display = plan.hex_per_line > 0
        if plan.hex_per_line:
            hexv.styles.width = plan.hex_width
            hexv.set_per_line(plan.hex_per_line)

    def show_pane(self, pane: Pane, focus: bool = False) -> None:
        """In the compact layout, show ``pane`` (the tab bar follows); ``focus``: and focus it.

        Why focus at once: the widget that had the focus may just have been hidden, and
        Textual would otherwise move the focus to the next visible widget, in another pane.
        """
        if self.pane is not pane:
            self.pane = pane
            tabs = self.query_one("#pane-tabs", Tabs)
            if tabs.active != f"pane-{pane}":
                tabs.active = f"pane-{pane}"
            self.apply_layout()
        if focus:
            self._focus_pane_widget(pane)

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tabs.id != "pane-tabs" or event.tab.id is None:
            return
        event.stop()
        pane = Pane(event.tab.id.removeprefix("pane-"))
        if pane is not self.pane:
            self.show_pane(pane, focus=True)

    def _focus_pane_widget(self, pane: Pane, target: str | None = None) -> None:
        target = target or next((w for w, p in self.PANE_OF.items() if p is pane), None)
        if target is not None:
            self.query_one(f"#{target}").focus()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Tab moves the focus through every pane; the compact layout follows it."""
        if self.plan is None or not self.plan.compact:
            return
        node = event.widget
        while node is not None:
            pane = self.PANE_OF.get(node.id or "")
            if node.id == "bottom":
                pane = Pane.DETAIL
            if pane is not None:
                self.show_pane(pane)
                return
            node = node.parent  # type: ignore[assignment]

    # ------------------------------------------------------------------ the worker

    def start_analysis(self) -> None:
        self._analyse(self.analysis)

    @work(thread=True, exclusive=True, group="analysis", exit_on_error=False)
    def _analyse(self, analysis: Analysis) -> None:
        worker = get_current_worker()
        last = float("-inf")

        pause = self.refresh_seconds

        def progress(p: Progress) -> None:
            nonlocal last, pause
            catalog = None
            now = self.clock()
            if p.done or now - last >= pause:
                snapshot = analysis.result() if p.done else analysis.snapshot()
                catalog = SaCatalog(snapshot, analysis.flow_keys)
                # A snapshot of a million SAs takes seconds, in this (the analysis) thread:
                # refresh at most a tenth of the time, so the analysis goes on at 90 %.
                spent = self.clock() - now
                pause = max(self.refresh_seconds, 10 * spent)
                last = self.clock()
            if not worker.is_cancelled:
                self.call_from_thread(self._on_progress, analysis, p, catalog)

        try:
            drive(analysis, self.source, progress, stop=lambda: worker.is_cancelled)
        except InputError as e:
            self.call_from_thread(self._on_fatal, analysis, str(e))
        except Exception as e:  # the UI must outlive any engine failure and say what it was
            self.call_from_thread(self._on_fatal, analysis, f"analysis stopped: {e!r}")

    def _has_views(self) -> bool:
        """False while the app shuts down: late worker callbacks then have nothing to update."""
        try:
            self.query_one(PacketList)
        except (NoMatches, ScreenStackError):
            return False
        return True

    def _on_fatal(self, analysis: Analysis, message: str) -> None:
        if analysis is not self.analysis or not self._has_views():
            return
        self.fatal = message
        self.notify(message, title="cannot analyse", severity="error", timeout=30)
        self._show_messages()
        self._show_status()

    def _on_progress(self, analysis: Analysis, p: Progress, catalog: SaCatalog | None) -> None:
        if analysis is not self.analysis or not self._has_views():
            return
        self.progress = p
        self.stats.update(analysis.index)
        self._extend_view()
        self.query_one(PacketList).update_count()
        if catalog is not None:
            self._apply_catalog(catalog)
        if p.done:
            if self._reselect_frame is not None:
                self.query_one(PacketList).go_to_frame(self._reselect_frame)
                self._reselect_frame = None
            self._show_messages()
            self._update_throughput()
            problems = len(self.analysis.problems())
            if problems:
                self.notify(f"{problems} messages: press m to read them", title="analysed")
            self._report_loaded_keys()
        self._show_status()

    def _report_loaded_keys(self) -> None:
        """After ``K``: say so when the file just loaded matched no SA or added nothing."""
        path, self._keys_just_loaded = self._keys_just_loaded, None
        if path is None:
            return
        for line in self.analysis.problems():
            if line.startswith(f"{path}: ") and ("no key matches" in line or "adds no key" in line):
                self.notify(line, title="keys not used", severity="warning", timeout=20)

    def _apply_catalog(self, catalog: SaCatalog) -> None:
        self.catalog = catalog
        self.query_one(SaTree).update_catalog(catalog)
        self.query_one(FindingsPanel).update_catalog(catalog)
        self.query_one(KeysPanel).update_rows(
            catalog.key_rows(self.stats), [Path(p).name for p in self.analysis.key_paths]
        )
        if self.selected is None:
            if catalog.order:  # first impression: the first SA, its timeline, its first packet
                root = catalog.order[0]
                self.query_one(SaTree).select_uid(root)
                self.select_sa(root)
                first = catalog.first_frame(root)
                if first is not None:
                    self.query_one(PacketList).go_to_frame(first)
        else:
            self._show_timeline()

    # ------------------------------------------------------------------ selection

    def select_sa(self, uid: str) -> None:
        changed = uid != self.selected
        self.selected = uid
        self._show_timeline()
        if changed:
            self._update_throughput()
            if self.sa_scope:
                self._recompute_view()

    def _axis(self) -> tuple[float, float]:
        index = self.analysis.index
        t0 = self.rows.first_time
        info = self.analysis.info
        t1 = index.time[len(index) - 1] if len(index) else t0
        if info is not None and info.last_time is not None and self.progress and self.progress.done:
            t1 = max(t1, info.last_time)
        return t0, t1

    def _show_timeline(self) -> None:
        sa = self.catalog.sa(self.selected or "")
        model = TimelineModel.of(sa, *self._axis()) if sa is not None else None
        timeline = self.query_one(Timeline)
        timeline.border_title = (
            self.catalog.title(self.selected) if sa and self.selected else "timeline"
        )
        timeline.show(model)

    def on_sa_chosen(self, message: SaChosen) -> None:
        message.stop()
        if message.uid != self.query_one(SaTree).selected_uid:
            self.query_one(SaTree).select_uid(message.uid)
        self.select_sa(message.uid)

    def on_frame_chosen(self, message: FrameChosen) -> None:
        message.stop()
        if message.sa is not None and message.sa != self.selected:
            self.query_one(SaTree).select_uid(message.sa)
            self.select_sa(message.sa)
        self.go_to_frame(message.frame)

    def go_to_frame(self, frame: int) -> None:
        self.show_pane(Pane.PACKETS, focus=True)
        packets = self.query_one(PacketList)
        if not packets.go_to_frame(frame) and packets.view is not None:
            self.sa_scope, self.filter = False, None
            self.query_one("#filter-input", Input).value = ""
            self.query_one(SaTree).set_filter(None)
            self._recompute_view()
            packets.go_to_frame(frame)
            self.notify(f"filters cleared to show frame {frame}")
        packets.focus()

    def on_row_chosen(self, message: RowChosen) -> None:
        message.stop()
        index = self.analysis.index
        if message.row < len(index):
            self.query_one("#bottom").border_title = f"packet: frame {index.frame[message.row]}"
        record, problem = self.rows.record_and_problem(message.row)
        origin = None
        if record is not None and self.analysis.merged:
            origin = self.analysis.origin(record.meta.frame)
        try:
            self.query_one(PacketDetail).show(record, problem, origin)
        except Exception as e:  # a damaged record must not take the UI down
            self.query_one(PacketDetail).show(None, f"cannot show this record: {e}")

    # ------------------------------------------------------------------ packet view

    def on_filter_bar_changed(self, message: FilterBar.Changed) -> None:
        message.stop()
        self.filter = message.filter
        self.query_one(SaTree).set_filter(message.filter)
        self._recompute_view()
        self.show_pane(Pane.PACKETS, focus=True)

    def _scope_flows(self) -> set[int] | None:
        if not self.sa_scope or self.selected is None:
            return None
        return self.catalog.packet_flows(self.selected)

    def _recompute_view(self) -> None:
        if self.filter is None and self._scope_flows() is None:
            self._view = None
            self._view_scanned = 0
            self.query_one(PacketList).set_view(None)
            self._show_status()
            return
        self._compute_view(self.analysis, self._scope_flows(), self.filter)

    def _matching(
        self, analysis: Analysis, flows: set[int] | None, flt: Filter | None, start: int, end: int
    ) -> list[int]:
        """Rows in ``[start, end)`` within ``flows`` that pass ``flt``."""
        index = analysis.index
        facts = IndexFacts(analysis, self.catalog, self.rows)
        if flt is not None and flt.per_flow:
            first = self.stats.first_row
            other = {i for i, k in enumerate(analysis.flow_keys) if k == ("other",)}
            ok = {f for f in range(len(first)) if f not in other and flt(facts, first[f])}
            if flows is not None:
                ok &= flows
            keep_other = other if flows is None else other & flows
            wanted = ok | keep_other
            rows = [i for i in rows_of_flows(index, wanted, start) if i < end]
            if keep_other:
                rows = [i for i in rows if index.flow[i] not in keep_other or flt(facts, i)]
            return rows
        candidates: Iterable[int] = (
            rows_of_flows(index, flows, start) if flows is not None else range(start, end)
        )
        if flt is None:
            return [i for i in candidates if i < end]
        return [i for i in candidates if i < end and flt(facts, i)]

    @work(thread=True, exclusive=True, group="view", exit_on_error=False)
    def _compute_view(self, analysis: Analysis, flows: set[int] | None, flt: Filter | None) -> None:
        end = self.stats.scanned
        rows = self._matching(analysis, flows, flt, 0, end)
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self._set_view, analysis, rows, end)

    def _set_view(self, analysis: Analysis, rows: list[int], end: int) -> None:
        if analysis is not self.analysis or not self._has_views():
            return
        self._view = rows
        self._view_scanned = end
        self._extend_view()
        self.query_one(PacketList).set_view(self._view)
        self._show_status()

    def _extend_view(self) -> None:
        """Add rows indexed since the view was computed (the capture is still streaming)."""
        if self._view is None:
            return
        end = self.stats.scanned
        if end > self._view_scanned:
            self._view.extend(
                self._matching(
                    self.analysis, self._scope_flows(), self.filter, self._view_scanned, end
                )
            )
            self._view_scanned = end

    # ------------------------------------------------------------------ side panes

    def _update_throughput(self) -> None:
        if self.selected is None:
            return
        self._compute_throughput(self.analysis, self.selected)

    @work(thread=True, exclusive=True, group="spark", exit_on_error=False)
    def _compute_throughput(self, analysis: Analysis, uid: str) -> None:
        t0, t1 = self._axis()
        flows = self.catalog.packet_flows(uid)
        data = throughput(analysis.index, flows, t0, t1, SPARK_BUCKETS)
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self._show_throughput, uid, data)

    def _show_throughput(self, uid: str, data: list[float]) -> None:
        if self._has_views():
            self.query_one(Throughput).show(uid, data)

    def _show_messages(self) -> None:
        lines: list[Text] = []
        if self.fatal:
            lines.append(Text("✖ " + self.fatal, "bold red"))
        lines += [Text("⚠ " + p, "yellow") for p in self.analysis.problems()]
        lines += [Text(f"frame {e.frame}: {e.message}", "red") for e in self.catalog.result.errors]
        body = Text("\n").join(lines) if lines else Text("no messages", "dim")
        self.query_one("#messages", Static).update(body)

    def _show_status(self) -> None:
        packets = self.query_one(PacketList)
        total = len(self.analysis.index)
        scope = []
        if self.sa_scope and self.selected:
            scope.append(f"only {self.selected}")
        if self.filter is not None:
            scope.append(f"filter: {self.filter.text}")
        status = self.query_one(StatusBar)
        if self.fatal:
            status.update(Text("✖ " + self.fatal, "bold red"))
            return
        status.show(
            self.progress,
            sas=len(self.catalog.ike) + len(self.catalog.child),
            shown=packets.count if packets.view is not None else total,
            total=total,
            problems=len(self.analysis.problems()),
            scope=" · ".join(scope) or "all packets",
            live=self.source.label if isinstance(self.source, LiveSource) else None,
            drops=self._drops,
            evicted=self.catalog.result.evicted,
            max_sas=self.catalog.result.config.max_sas,
        )

    def _poll_drops(self) -> None:
        if not self._has_views():
            return
        if isinstance(self.source, LiveSource) and self.source.drops is not None:
            try:
                self._drops = dict(self.source.drops())
            except Exception as e:  # a failing counter must not stop the capture view
                self._drops = {"unavailable": 0}
                self.log.warning(f"drop counters: {e}")
            self._show_status()

    # ------------------------------------------------------------------ actions

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.binding_rows()))

    def binding_rows(self) -> list[tuple[str, str, str]]:
        """(keys as a user types them, what they do, binding id) for the help screen."""
        rows: list[tuple[str, str, str]] = []
        sections = (
            (InspectorApp, ""),
            (SaTree, "in the SA list: "),
            (PacketList, "in the packet list: "),
            (DetailTree, "in the packet detail: "),
        )
        for owner, where in sections:
            for b in owner.BINDINGS:
                if isinstance(b, Binding):
                    words = self.HELP_WORDS.get(b.id or "", b.description)
                    rows.append((key_words(b.key), where + words, b.id or ""))
        rows.append(("Ctrl+P", "Command palette: every action by name", "app.command_palette"))
        rows.append(("Tab / Shift+Tab", "Next / previous pane", ""))
        return rows

    def action_focus_filter(self) -> None:
        self.query_one("#filter-input", Input).focus()

    def action_focus_pane(self, pane: str) -> None:
        self.show_pane(self.PANE_OF[pane])
        self._focus_pane_widget(self.PANE_OF[pane], pane)

    def action_show_tab(self, tab: str) -> None:
        self.show_pane(Pane.DETAIL)
        self.query_one(TabbedContent).active = tab

    def action_toggle_scope(self) -> None:
        self.sa_scope = not self.sa_scope
        self._recompute_view()
        self._show_status()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_load_keys(self) -> None:
        self.push_screen(
            PathPrompt(
                "Load a key file (TOML, Wireshark, strongSwan log, xfrm, tcpdump)", "path/to/keys"
            ),
            self.load_keys,
        )

    def load_keys(self, path: str | None) -> None:
        """Re-run the analysis with one more key file; views follow without reopening."""
        if not path:
            return
        old = self.analysis
        if isinstance(self.source, LiveSource) or old.path is None:
            self.notify(
                "keys can only be added to a capture file, not a live capture", severity="warning"
            )
            return
        try:
            new = Analysis(
                old.paths,
                old.options,
                [*old.key_paths, path],
                old.config,
                decrypt_workers=old.decrypt_workers,
                extensions=old.extensions,
            )
        except InputError as e:
            self.notify(str(e), title="bad key file", severity="error", timeout=15)
            return
        self.workers.cancel_group(self, "analysis")
        old.close()
        self.analysis = new
        self.rows = PacketRows(new)
        self.stats = FlowStats()
        self.fatal = None
        self._view = None if self._view is None else []
        self._view_scanned = 0
        packets = self.query_one(PacketList)
        frame = packets.current_frame()
        packets.set_rows(self.rows)
        if self._view is not None:
            packets.set_view(self._view, keep_frame=False)
        self.notify(f"loaded {path}; analysing again")
        self._keys_just_loaded = path
        self._reselect_frame = frame
        self.start_analysis()

    def action_export(self) -> None:
        if not (self.progress and self.progress.done):
            self.notify("the analysis is still running; export when it is done", severity="warning")
            return
        default = Path(self.analysis.path or "capture").with_suffix(".timeline.json").name
        self.push_screen(
            PathPrompt("Export the SA timeline as JSON to", default, default), self.export_json
        )

    def export_json(self, path: str | None) -> None:
        if not path:
            return
        from ipsec_inspect.export.timeline import build_timeline, capture_json

        info = self.analysis.info
        capture = (
            capture_json(info, self.analysis.path)
            if info is not None and self.analysis.path is not None
            else {"path": self.analysis.path or "", "frames": info.frames if info else 0}
        )
        doc = build_timeline(self.analysis.result(), capture)
        try:
            Path(path).write_text(json.dumps(doc, indent=2) + "\n")
        except OSError as e:
            self.notify(f"{path}: cannot write ({e.strerror})", severity="error")
            return
        self.notify(f"timeline written to {path}", title="exported")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Load key file", "Decrypt with another key file", self.action_load_keys)
        yield SystemCommand(
            "Export timeline JSON", "Write the SA timeline to a file", self.action_export
        )
        yield SystemCommand(
            "Toggle SA-only packets",
            "Show only the selected SA's packets",
            self.action_toggle_scope,
        )
        yield SystemCommand("Toggle dark/light theme", "Switch themes", self.action_toggle_theme)
        yield SystemCommand(
            "Show findings", "Failing audit findings", lambda: self.action_show_tab("tab-findings")
        )
        yield SystemCommand(
            "Show keys", "Which SAs have keys", lambda: self.action_show_tab("tab-keys")
        )
        yield SystemCommand(
            "Show messages", "Warnings and errors", lambda: self.action_show_tab("tab-messages")
        )
        yield SystemCommand("Key bindings", "Help screen", self.action_help)


#: How keys read on a keyboard (Textual's names are for code: ``question_mark``).
KEY_WORDS = {
    "question_mark": "?",
    "slash": "/",
    "space": "Space",
    "enter": "Enter",
    "escape": "Esc",
    "pagedown": "Page Down",
    "pageup": "Page Up",
    "home": "Home",
    "end": "End",
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "tab": "Tab",
}


def key_words(keys: str) -> str:
    """``question_mark,f1`` → ``? or F1``; ``ctrl+f`` → ``Ctrl+F``; ``K`` → ``Shift+K``."""
    out = []
    for key in keys.split(","):
        key = key.strip()
        if key in KEY_WORDS:
            out.append(KEY_WORDS[key])
        elif len(key) == 1 and key.isupper():
            out.append(f"Shift+{key}")
        elif "+" in key:
            mods, _, last = key.rpartition("+")
            out.append("+".join(m.capitalize() for m in mods.split("+")) + "+" + last.upper())
        elif key.startswith("f") and key[1:].isdigit():
            out.append(key.upper())
        else:
            out.append(key)
    return " or ".join(out)
