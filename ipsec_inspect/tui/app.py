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
from textual import work
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from ipsec_inspect.core.errors import InputError
from ipsec_inspect.lifecycle.tracker import Tracker
from ipsec_inspect.pipeline.session import Analysis, Progress
from ipsec_inspect.tui.catalog import FlowStats, SaCatalog, rows_of_flows, throughput
from ipsec_inspect.tui.filterlang import Filter
from ipsec_inspect.tui.rows import IndexFacts, PacketRows
from ipsec_inspect.tui.screens import HelpScreen, PathPrompt
from ipsec_inspect.tui.source import CaptureFileSource, FrameSource, LiveSource, drive
from ipsec_inspect.tui.widgets.filter_bar import FilterBar
from ipsec_inspect.tui.widgets.findings_panel import FindingsPanel
from ipsec_inspect.tui.widgets.keys_panel import KeysPanel
from ipsec_inspect.tui.widgets.messages import FrameChosen, RowChosen, SaChosen
from ipsec_inspect.tui.widgets.packet_detail import DetailTree, PacketDetail
from ipsec_inspect.tui.widgets.packet_list import PacketList
from ipsec_inspect.tui.widgets.sa_tree import SaTree
from ipsec_inspect.tui.widgets.status_bar import StatusBar
from ipsec_inspect.tui.widgets.throughput import Throughput
from ipsec_inspect.tui.widgets.timeline import Timeline, TimelineModel

SPARK_BUCKETS = 40


class InspectorApp(App[int]):
    """``ipsec-inspect open``: every SA's life in one screen."""

    CSS_PATH = "app.tcss"
    TITLE = "ipsec-inspect"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]

    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("slash", "focus_filter", "Filter", id="app.filter"),
        Binding("s", "toggle_scope", "SA only", id="app.scope"),
        Binding("K", "load_keys", "Load keys", id="app.load_keys"),
        Binding("e", "export", "Export", id="app.export"),
        Binding("t", "toggle_theme", "Theme", id="app.theme", show=False),
        Binding("1", "focus_pane('sa-tree')", "SAs", show=False, id="app.focus_sas"),
        Binding("2", "focus_pane('timeline-events')", "Events", show=False, id="app.focus_events"),
        Binding("3", "focus_pane('packets')", "Packets", show=False, id="app.focus_packets"),
        Binding("4", "focus_pane('detail-tree')", "Detail", show=False, id="app.focus_detail"),
        Binding("d", "show_tab('tab-detail')", "Detail", show=False, id="app.tab_detail"),
        Binding("f", "show_tab('tab-findings')", "Findings", id="app.tab_findings"),
        Binding("y", "show_tab('tab-keys')", "Keys", show=False, id="app.tab_keys"),
        Binding("m", "show_tab('tab-messages')", "Messages", show=False, id="app.tab_messages"),
    ]

    def __init__(
        self,
        analysis: Analysis,
        source: FrameSource | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh_seconds: float = 0.5,
    ) -> None:
        super().__init__()
        self.analysis = analysis
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

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield FilterBar(id="filter-bar")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield SaTree(id="sa-tree")
                yield Throughput(id="throughput")
            with Vertical(id="right"):
                yield Timeline(id="timeline")
                yield PacketList(self.rows, id="packets")
                with TabbedContent(id="bottom", initial="tab-detail"):
                    with TabPane("Detail", id="tab-detail"):
                        yield PacketDetail(id="detail")
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
        self.query_one(SaTree).focus()
        self._show_status()
        if isinstance(self.source, LiveSource) and self.source.drops is not None:
            self.set_interval(0.5, self._poll_drops)
        self.start_analysis()

    # ------------------------------------------------------------------ the worker

    def start_analysis(self) -> None:
        self._analyse(self.analysis)

    @work(thread=True, exclusive=True, group="analysis", exit_on_error=False)
    def _analyse(self, analysis: Analysis) -> None:
        worker = get_current_worker()
        last = float("-inf")

        def progress(p: Progress) -> None:
            nonlocal last
            catalog = None
            now = self.clock()
            if p.done or now - last >= self.refresh_seconds:
                last = now
                snapshot = analysis.result() if p.done else analysis.snapshot()
                catalog = SaCatalog(snapshot, analysis.flow_keys)
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
        self._show_status()

    def _apply_catalog(self, catalog: SaCatalog) -> None:
        self.catalog = catalog
        self.query_one(SaTree).update_catalog(catalog)
        self.query_one(FindingsPanel).update_catalog(catalog)
        self.query_one(KeysPanel).update_rows(
            catalog.key_rows(self.stats), [Path(p).name for p in self.analysis.key_paths]
        )
        if self.selected is None:
            roots = catalog.roots()
            if roots:  # first impression: the first SA, its timeline, its first packet
                self.query_one(SaTree).select_uid(roots[0])
                self.select_sa(roots[0])
                first = catalog.first_frame(roots[0])
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
        packets = self.query_one(PacketList)
        if not packets.go_to_frame(frame) and packets.view is not None:
            self.sa_scope, self.filter = False, None
            self.query_one("#filter-input", Input).value = ""
            self._recompute_view()
            packets.go_to_frame(frame)
            self.notify(f"filters cleared to show frame {frame}")
        packets.focus()

    def on_row_chosen(self, message: RowChosen) -> None:
        message.stop()
        record, problem = self.rows.record_and_problem(message.row)
        try:
            self.query_one(PacketDetail).show(record, problem)
        except Exception as e:  # a damaged record must not take the UI down
            self.query_one(PacketDetail).show(None, f"cannot show this record: {e}")

    # ------------------------------------------------------------------ packet view

    def on_filter_bar_changed(self, message: FilterBar.Changed) -> None:
        message.stop()
        self.filter = message.filter
        self._recompute_view()
        self.query_one(PacketList).focus()

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
        rows: list[tuple[str, str, str]] = []
        for owner in (InspectorApp, PacketList, SaTree, DetailTree):
            for b in owner.BINDINGS:
                if isinstance(b, Binding):
                    rows.append((b.key, b.description, b.id or ""))
        rows.append(("ctrl+p", "Command palette", "app.command_palette"))
        rows.append(("tab", "Next pane", ""))
        return rows

    def action_focus_filter(self) -> None:
        self.query_one("#filter-input", Input).focus()

    def action_focus_pane(self, pane: str) -> None:
        self.query_one(f"#{pane}").focus()

    def action_show_tab(self, tab: str) -> None:
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
                old.path,
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
        from ipsec_inspect.export.timeline import build_timeline

        info = self.analysis.info
        doc = build_timeline(
            self.analysis.result(),
            {"path": self.analysis.path or "", "frames": info.frames if info else 0},
        )
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
