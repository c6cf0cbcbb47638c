"""Findings that failed, worst first; choosing one jumps to its SA and first frame."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ipsec_inspect.audit.findings import Finding, Severity
from ipsec_inspect.tui.catalog import SaCatalog
from ipsec_inspect.tui.widgets.messages import FrameChosen, SaChosen

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
ORDER = list(Severity)


class FindingsPanel(OptionList):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.findings: list[Finding] = []

    def update_catalog(self, catalog: SaCatalog) -> None:
        found = sorted(
            (f for fs in catalog.failing.values() for f in fs),
            key=lambda f: (ORDER.index(f.severity), f.frames[:1], f.rule, f.sa),
        )
        if [(f.rule, f.sa, f.frames) for f in found] == [
            (f.rule, f.sa, f.frames) for f in self.findings
        ]:
            return
        self.findings = found
        highlighted = self.highlighted
        self.clear_options()
        if not found:
            self.add_option(Option(Text("no failing findings", "dim"), disabled=True))
            return
        self.add_options(Option(self._text(f), id=str(i)) for i, f in enumerate(found))
        if highlighted is not None and highlighted < len(found):
            self.highlighted = highlighted

    @staticmethod
    def _text(f: Finding) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(f"{f.severity.value:<8} ", SEVERITY_STYLE[f.severity])
        out.append(f"{f.rule:<4} {f.sa:<12} ", "bold")
        out.append(f.title + ": " + f.detail)
        if f.frames:
            out.append(f"  (frame {f.frames[0]})", "dim")
        return out

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_id is None:
            return
        f = self.findings[int(event.option_id)]
        self.post_message(SaChosen(f.sa))
        if f.frames:
            self.post_message(FrameChosen(f.frames[0], f.sa))
