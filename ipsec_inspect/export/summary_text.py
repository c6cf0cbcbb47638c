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

from ipsec_inspect.audit.findings import Outcome, outcome_line
from ipsec_inspect.export.fold import print_table
from ipsec_inspect.export.timeline import child_ids_of, children_in_order, rfc3339
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


def _first_shown(sa: IkeSa | ChildSa) -> int | str:
    """The first frame of the ``frames`` column (``""`` where the column is empty): the
    order of the IKE SA table, read once per SA."""
    starts = [s.start_frame for s in sa.stages.values() if s.start_frame is not None]
    if not starts or all(s.end_frame is None for s in sa.stages.values()):
        return ""
    return min(starts)


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


def more_line(shown: int, total: int, what: str, how: str) -> str | None:
    """``… and 99,950 more IKE SAs (all of them: …)``, or None when every row was shown."""
    if total <= shown:
        return None
    return f"… and {total - shown:,} more {what} of {total:,} (all of them: {how})"


def render_summary(
    result: TrackerResult,
    console: Console,
    limit: int | None = None,
    list_all: str = "ipsec-inspect summary CAPTURE --all",
) -> None:
    """Print the IKE SA table, the child SA table and the failed findings.

    ``limit``: at most this many rows per table (the first by frame), with a line saying
    how many more there are and ``list_all``, the command that lists them all; a summary
    of 100,000 SAs stays something a person can read.
    """
    ordered = children_in_order(result)
    ids = child_ids_of(ordered)
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
    ike_rows = sorted(result.ike_sas.values(), key=_first_shown)
    for sa in ike_rows[:limit]:
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
    ike.title = f"IKE SAs ({len(ike_rows):,})"
    print_table(console, ike)
    print_more(console, len(ike_rows[:limit]), len(ike_rows), "IKE SAs", list_all)
    child = Table(title="Child SAs", title_justify="left")
    for col in ("id", "ike", "proto", "SPIs (packets)", "suite", "stages", "ending"):
        child.add_column(col)
    child_rows = ordered  # in the order of their ids
    for c in child_rows[:limit]:
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
    child.title = f"Child SAs ({len(child_rows):,})"
    print_table(console, child)
    print_more(console, len(child_rows[:limit]), len(child_rows), "child SAs", list_all)
    failed = [f for f in result.findings if f.outcome == Outcome.FAIL]
    table = Table(title=f"Findings: {outcome_line(result)}", title_justify="left")
    for col in ("rule", "severity", "sa", "detail", "reference", "frames"):
        table.add_column(col)
    if not failed:
        console.print(table.title)
    for f in failed[:limit]:
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
        print_more(console, len(failed[:limit]), len(failed), "failed findings", list_all)
    line = evicted_line(result)
    if line:
        console.print(f"[yellow]{escape(line)}[/]")
    if result.stats.first_time is not None:
        console.print(
            f"capture {rfc3339(result.stats.first_time)} .. {rfc3339(result.stats.last_time)}, "
            f"{result.stats.frames} frames, {len(result.errors)} errors"
        )


def print_more(console: Console, shown: int, total: int, what: str, how: str) -> None:
    line = more_line(shown, total, what, how)
    if line is not None:
        console.print(escape(line))


def evicted_line(result: TrackerResult) -> str | None:
    """What ``--max-sas`` evicted, in one sentence, or None when nothing was."""
    return result.evicted.sentence(result.config.max_sas)
