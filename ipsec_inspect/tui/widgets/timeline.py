"""The selected SA's five stages as bars along the capture's time axis, with events.

Why a bar per stage on the *capture's* axis (not the SA's): bars of different SAs then
line up, and a rekey or a late delete is seen at a glance against the whole capture.
Selecting an event posts :class:`FrameChosen` so the packet list jumps to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ipsec_inspect.lifecycle.model import ChildSa, IkeSa, Stage
from ipsec_inspect.tui.sa_facts import sa_facts
from ipsec_inspect.tui.widgets.messages import FrameChosen
from ipsec_inspect.tui.widgets.sa_tree import STAGE_SHORT, STAGE_STYLE

STAGE_NAMES = {
    Stage.HOST_RECOGNITION: "hosts",
    Stage.NEGOTIATION: "negotiation",
    Stage.CIRCUIT: "circuit",
    Stage.TRANSMISSION: "transmission",
    Stage.TERMINATION: "termination",
}
LABEL = 13


@dataclass(frozen=True)
class Span:
    stage: Stage
    start: float | None
    end: float | None
    events: int


@dataclass(frozen=True)
class TimelineModel:
    """A copy of what the timeline draws (copied so the worker may go on mutating the SA)."""

    uid: str
    t0: float
    t1: float
    spans: tuple[Span, ...]
    events: tuple[tuple[float, int, Stage, str], ...]  # time, frame, stage, text
    facts: tuple[str, ...] = ()  # identities, virtual IPs, moves, the ending (sa_facts)

    @classmethod
    def of(cls, sa: IkeSa | ChildSa, t0: float, t1: float) -> TimelineModel:
        spans = tuple(
            Span(s, sa.stages[s].start, sa.stages[s].end, len(sa.stages[s].events)) for s in Stage
        )
        events = sorted(
            (e.time, e.frame, s, e.text) for s in Stage for e in list(sa.stages[s].events)
        )
        return cls(sa.uid, t0, t1, spans, tuple(events), tuple(sa_facts(sa)))


def draw_bars(model: TimelineModel, width: int) -> Text:
    """Five lines of bars plus an axis line, ``width`` cells wide."""
    room = max(8, width - LABEL)
    span = max(model.t1 - model.t0, 1e-9)
    out = Text()
    for s in model.spans:
        out.append(
            f"{STAGE_NAMES[s.stage]:<{LABEL - 1}} ", "bold" if s.start is not None else "dim"
        )
        cells = [" "] * room
        if s.start is not None and s.end is not None:
            a = int((s.start - model.t0) / span * (room - 1))
            b = int((s.end - model.t0) / span * (room - 1))
            a, b = max(0, min(a, room - 1)), max(0, min(b, room - 1))
            for i in range(a, b + 1):
                cells[i] = "█"
            bar_start, bar_end = a, b
            out.append("".join(cells[:bar_start]))
            out.append("".join(cells[bar_start : bar_end + 1]), STAGE_STYLE[s.stage])
            out.append("".join(cells[bar_end + 1 :]))
        else:
            out.append("·" * room, "dim")
        out.append("\n")
    left, right = "0s", f"{model.t1 - model.t0:.1f}s"
    out.append(" " * LABEL + left + " " * max(1, room - len(left) - len(right)) + right, "dim")
    return out


class Timeline(Vertical):
    """Bars on top, the SA's events below."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model: TimelineModel | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="timeline-facts")
        yield Static("select an SA to see its stages", id="timeline-bars")
        yield OptionList(id="timeline-events")

    def show(self, model: TimelineModel | None) -> None:
        old = self.model
        self.model = model
        self._draw()
        if (
            model is not None
            and old is not None
            and old.uid == model.uid
            and old.events == model.events
        ):
            return
        events = self.query_one("#timeline-events", OptionList)
        events.clear_options()
        if model is None:
            return
        events.add_options(
            Option(self._event_text(model, e), id=f"{i}") for i, e in enumerate(model.events)
        )

    @staticmethod
    def _event_text(model: TimelineModel, e: tuple[float, int, Stage, str]) -> Text:
        when, frame, stage, text = e
        out = Text(f"{when - model.t0:>9.3f}s ", "dim", no_wrap=True, overflow="ellipsis")
        out.append(f"{STAGE_SHORT[stage]:<9}", STAGE_STYLE[stage])  # whole words, never cut
        out.append(f"#{frame:<6} {text}")
        return out

    def _draw(self) -> None:
        bars = self.query_one("#timeline-bars", Static)
        facts = self.query_one("#timeline-facts", Static)
        if self.model is None:
            facts.update("")
            bars.update("select an SA to see its stages")
            return
        facts.update(Text("\n".join(self.model.facts), "italic"))
        bars.update(draw_bars(self.model, max(20, bars.size.width or self.size.width or 80)))

    def on_resize(self) -> None:
        self._draw()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.model is None or event.option_id is None:
            return
        _when, frame, _stage, _text = self.model.events[int(event.option_id)]
        self.post_message(FrameChosen(frame, self.model.uid))
