"""The SA table for people: stages, ending and findings, rendered with ``rich``.

Why a separate renderer: ``summary`` and ``export`` print the same table on a terminal, and
the JSON document carries the same facts for scripts; this module only decides how the
tracker's result looks, never what it contains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ipsec_inspect.audit.findings import Outcome
from ipsec_inspect.export.fold import print_table
from ipsec_inspect.export.timeline import child_id_map, rfc3339
from ipsec_inspect.lifecycle.model import ChildSa, IkeSa, Stage

if TYPE_CHECKING:
    from ipsec_inspect.lifecycle.tracker import TrackerResult

_STAGE_SHORT = {
    Stage.HOST_RECOGNITION: "H",
    Stage.NEGOTIATION: "N",
    Stage.CIRCUIT: "C",
    Stage.TRANSMISSION: "T",
    Stage.TERMINATION: "X",
}
_SEVERITY_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


def stage_strip(sa: IkeSa | ChildSa) -> str:
    """``HNCT-``: one letter per stage reached, ``-`` for a stage not seen."""
    return "".join(_STAGE_SHORT[s] if sa.stages[s].seen else "-" for s in Stage)


def _frames(sa: IkeSa | ChildSa) -> str:
    starts = [s.start_frame for s in sa.stages.values() if s.start_frame is not None]
    ends = [s.end_frame for s in sa.stages.values() if s.end_frame is not None]
    return f"{min(starts)}-{max(ends)}" if starts and ends else ""


def _ending(sa: IkeSa | ChildSa) -> str:
    t = sa.termination
    if t is None:
        return ""
    text = t.reason.value
    if t.notify:
        text += f" ({t.notify})"
    elif t.detail:
        text += f" ({t.detail})"
    if t.frame is not None:
        text += f" @{t.frame}"
    if t.certainty.value != "observed":
        text += f" ({t.certainty.value})"
    return text


def render_summary(result: TrackerResult, console: Console) -> None:
    """Print the IKE SA table, the child SA table and the failed findings."""
    ids = child_id_map(result)
    ike = Table(title="IKE SAs", title_justify="left")
    for col in (
        "id",
        "ver",
        "initiator",
        "responder",
        "suite",
        "stages",
        "frames",
        "ending",
        "children",
    ):
        ike.add_column(col)
    for sa in sorted(
        result.ike_sas.values(), key=lambda s: _frames(s) and int(_frames(s).split("-")[0])
    ):
        ini = f"{sa.initiator.addr}:{sa.initiator.port}" if sa.initiator else "?"
        res = f"{sa.responder.addr}:{sa.responder.port}" if sa.responder else "?"
        suite = "/".join(str(v) for v in sa.chosen.values() if v) or "-"
        mode = f" {sa.mode}" if sa.mode else ""
        ike.add_row(
            sa.uid,
            f"v{sa.version}{mode}",
            ini,
            res,
            suite,
            stage_strip(sa),
            _frames(sa),
            _ending(sa),
            ", ".join(ids[u] for u in sa.child_sas if u in ids),
        )
    print_table(console, ike)
    child = Table(title="Child SAs", title_justify="left")
    for col in ("id", "ike", "proto", "SPIs (packets)", "suite", "stages", "ending"):
        child.add_column(col)
    for c in sorted(result.child_sas.values(), key=lambda c: int(ids[c.uid].split("-")[1])):
        spis = ", ".join(f"{d.spi:08x}->{d.dst} ({d.packets})" for d in c.directions) or "-"
        suite = "/".join(str(v) for k, v in c.chosen.items() if v and k != "esn") or (
            "encrypted"
            if c.certainty.get("chosen") and c.certainty["chosen"].value == "encrypted"
            else "-"
        )
        child.add_row(
            ids[c.uid],
            c.ike_sa or "(none)",
            c.protocol.upper(),
            spis,
            suite,
            stage_strip(c),
            _ending(c),
        )
    print_table(console, child)
    failed = [f for f in result.findings if f.outcome == Outcome.FAIL]
    unseen = sum(1 for f in result.findings if f.outcome == Outcome.NOT_OBSERVABLE)
    passed = sum(1 for f in result.findings if f.outcome == Outcome.PASS)
    table = Table(
        title=f"Findings: {len(failed)} failed, {passed} passed, {unseen} not observable",
        title_justify="left",
    )
    for col in ("rule", "severity", "sa", "detail", "reference", "frames"):
        table.add_column(col)
    if not failed:
        console.print(table.title)
    for f in failed:
        style = _SEVERITY_STYLE.get(f.severity.value, "")
        frames = ", ".join(map(str, f.frames[:6])) + ("…" if len(f.frames) > 6 else "")
        table.add_row(
            f.rule,
            f"[{style}]{f.severity.value}[/]",
            ids.get(f.sa, f.sa),
            escape(f.detail),
            f.reference,
            frames,
        )
    if failed:
        print_table(console, table)
    if result.stats.first_time is not None:
        console.print(
            f"capture {rfc3339(result.stats.first_time)} .. {rfc3339(result.stats.last_time)}, "
            f"{result.stats.frames} frames, {len(result.errors)} errors"
        )
