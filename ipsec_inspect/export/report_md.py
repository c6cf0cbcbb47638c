"""The report as Markdown, for a ticket: the same content as the HTML, the timeline as text.

Why text bars in a code block: a ticket renders Markdown but no charts; a fixed-width
row per SA with one letter per stage (H N C T X) shows overlaps and rekeys at a glance,
and the table beside it gives the exact times.
"""

from __future__ import annotations

from ipsec_inspect import __version__
from ipsec_inspect.export.report import STAGE_WORDS, CaptureReport
from ipsec_inspect.lifecycle.model import Stage

BAR_WIDTH = 60
STAGE_LETTER = {
    Stage.HOST_RECOGNITION: "H",
    Stage.NEGOTIATION: "N",
    Stage.CIRCUIT: "C",
    Stage.TRANSMISSION: "T",
    Stage.TERMINATION: "X",
}


def _cell(text: object) -> str:
    """A table cell: pipes escaped, no line breaks."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def timeline_text(report: CaptureReport, width: int = BAR_WIDTH) -> list[str]:
    """One row per SA: its stages as letters along the capture's time axis."""
    name_width = max((len(sa.id) for sa in report.sas), default=4)
    span = max(report.duration, 1e-9)
    lines = []
    for sa in report.sas:
        cells = ["·"] * width
        # longest first, so a short stage (a one-packet negotiation) stays visible
        for bar in sorted(sa.bars, key=lambda b: b.start - b.end):
            a = int(bar.start / span * (width - 1))
            b = int(bar.end / span * (width - 1))
            for i in range(max(0, a), min(width - 1, b) + 1):
                cells[i] = STAGE_LETTER[bar.stage]
        end = f" → {sa.rekeyed_to}" if sa.rekeyed_to else f" ({sa.ended})"
        lines.append(f"{sa.id:<{name_width}} |{''.join(cells)}|{end}")
    axis = f"{'':<{name_width}}  0s{'':>{width - 2 - len(f'{report.duration:.1f}s')}}{report.duration:.1f}s"
    lines.append(axis)
    legend = "  ".join(f"{STAGE_LETTER[s]} {STAGE_WORDS[s]}" for s in Stage)
    lines.append(f"{'':<{name_width}}  {legend}")
    return lines


def render_markdown(reports: list[CaptureReport], title: str) -> str:
    out = [f"# {title}", "", f"Written by ipsec-inspect {__version__}.", ""]
    for r in reports:
        out += [f"## Capture `{r.path}`", ""]
        counts = ", ".join(f"{v} {k}" for k, v in r.counts.items() if v)
        out += [
            f"{r.frames} frames from {r.first_time or '-'} to {r.last_time or '-'} "
            f"({r.duration:.3f} s): {counts or 'no IPsec packet'}.",
            "",
            "### Peers",
            "",
        ]
        if r.peers:
            out += ["| initiator | responder | IKE SAs |", "|---|---|---:|"]
            out += [f"| {_cell(a)} | {_cell(b)} | {n} |" for a, b, n in r.peers]
        else:
            out.append("No IKE exchange was seen" + (" (ESP/AH only)." if r.sas else "."))
        out += ["", "### Security associations", ""]
        if not r.sas:
            out.append("No SA was seen.")
        else:
            out += [
                "| SA | what | SPIs | peers | algorithms | packets | ended | rekeyed to |",
                "|---|---|---|---|---|---:|---|---|",
            ]
        for sa in r.sas:
            name = sa.id if sa.parent is None else f"↳ {sa.id}"
            out.append(
                f"| {_cell(name)} | {_cell(sa.kind)} | `{_cell(sa.spis)}` | {_cell(sa.peers)} | "
                f"{_cell(sa.algorithms)} | {sa.packets} | {_cell(sa.ended)} | {_cell(sa.rekeyed_to or '')} |"
            )
        if r.sas:
            out += ["", "### Timeline", "", "```text", *timeline_text(r), "```", ""]
            out += ["| SA | stage | from (s) | to (s) | frames |", "|---|---|---:|---:|---|"]
        for sa in r.sas:
            for bar in sa.bars:
                out.append(
                    f"| {_cell(sa.id)} | {STAGE_WORDS[bar.stage]} | {bar.start:.3f} | {bar.end:.3f} | "
                    f"{bar.start_frame}-{bar.end_frame} |"
                )
        out += ["", "### Traffic per direction", ""]
        if r.traffic:
            out += [
                "| direction | packets | lost | replayed | ICV failures | marks |",
                "|---|---:|---:|---:|---:|---|",
            ]
            for t in r.traffic:
                marks = "; ".join(f"frame {m[1]}: {m[2]}" for m in t.marks)
                out.append(
                    f"| {_cell(t.label)} | {t.packets} | {t.lost} | {t.replayed} | "
                    f"{t.icv_failures} | {_cell(marks)} |"
                )
        else:
            out.append("No ESP or AH traffic.")
        out += ["", "### Findings", ""]
        sev = r.failed_by_severity
        failed = ", ".join(f"{c} {s}" for s, c in sev.items())
        out.append(f"{failed + ' failed' if failed else 'Nothing failed'}; {r.passed} passed.")
        if r.findings:
            out += [
                "",
                "| rule | severity | SA | stage | finding | reference | frames |",
                "|---|---|---|---|---|---|---|",
            ]
            for f in r.findings:
                text = f.title + (f": {f.detail}" if f.detail else "")
                frames = ", ".join(str(x) for x in f.frames)
                out.append(
                    f"| {f.rule} | {f.severity} | {_cell(f.sa)} | {f.stage} | {_cell(text)} | "
                    f"{_cell(f.reference)} | {frames} |"
                )
        if r.problems or r.errors:
            out += ["", "### Messages", ""]
            out += [f"- {_cell(p)}" for p in [*r.problems, *r.errors]]
        out.append("")
    return "\n".join(out)
