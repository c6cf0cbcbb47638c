"""``ipsec-inspect report``: one shareable file (HTML, or Markdown for tickets).

Why it runs the same analysis as ``export``: the report must agree with the JSON
timeline, the summary and the TUI, so it reads the tracker result, the packet index and
the timeline document of :class:`~ipsec_inspect.pipeline.session.Analysis` and re-parses nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ipsec_inspect.commands._common import (
    add_decode_arguments,
    add_key_arguments,
    add_tracker_arguments,
    decode_options,
    extensions_of,
    tracker_config,
)
from ipsec_inspect.core.errors import InputError

if TYPE_CHECKING:  # the pipeline is imported when the command runs (start-up)
    from ipsec_inspect.export.report import CaptureReport

NAME = "report"
HELP = "write a shareable report (one self-contained HTML file, or Markdown) of captures"
DESCRIPTION = (
    "Analyse each capture and write one report: the capture, its peers and every SA; a "
    "timeline of every SA's five stages with rekey chains; traffic per direction over time "
    "with loss and replay marks; and the findings with their RFC references. The HTML file "
    "embeds its charts' JavaScript and needs no network to view."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("captures", nargs="+", metavar="CAPTURE", help="pcap or pcapng file(s)")
    add_key_arguments(p)
    add_decode_arguments(p)
    p.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="where to write the report"
    )
    p.add_argument(
        "--format",
        choices=("html", "md"),
        default=None,
        help="html (default; or from the file name) or md (Markdown, for tickets)",
    )
    p.add_argument("--title", default=None, help="the report's title")
    add_tracker_arguments(p)


def _analyse(path: str, args: argparse.Namespace) -> CaptureReport:
    from ipsec_inspect.export.report import build_report
    from ipsec_inspect.export.timeline import build_timeline
    from ipsec_inspect.pipeline.session import Analysis

    analysis = Analysis(
        path,
        decode_options(args),
        args.keys,
        tracker_config(args),
        extensions=extensions_of(args),
    )
    try:
        result = analysis.run()
        info = analysis.info
        capture: dict[str, Any] = {"path": path}
        if info is not None:
            capture.update(frames=info.frames, first_time=info.first_time, last_time=info.last_time)
        doc = build_timeline(result, capture)
        index = analysis.index
        for line in analysis.problems():
            print(f"ipsec-inspect: warning: {path}: {line}", file=sys.stderr)
        return build_report(
            result, doc, index.time, index.flow, analysis.flow_keys, analysis.problems()
        )
    finally:
        analysis.close()


def run(args: argparse.Namespace) -> int:
    fmt = args.format or ("md" if args.output.endswith((".md", ".markdown")) else "html")
    reports = [_analyse(path, args) for path in args.captures]
    names = ", ".join(Path(p).name for p in args.captures)
    title = args.title or f"IPsec report: {names}"
    if fmt == "md":
        from ipsec_inspect.export.report_md import render_markdown

        text = render_markdown(reports, title)
    else:
        from ipsec_inspect.export.report_html import ReportUnavailable, render_html

        try:
            text = render_html(reports, title)
        except ReportUnavailable as e:
            raise InputError(str(e)) from None
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as e:
        raise InputError(f"{args.output}: cannot write ({e.strerror})") from None
    sas = sum(len(r.sas) for r in reports)
    print(
        f"ipsec-inspect: report of {len(reports)} capture(s), {sas} SA(s) written to {args.output}",
        file=sys.stderr,
    )
    return 0
