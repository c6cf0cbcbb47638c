"""``ipsec-inspect export``: the SA timeline as JSON (and psk-crack parameters, events).

Runs the capture through the session (decode, decrypt where keys are given) into the
lifecycle tracker and the audit, then hands the result to the exporter named by
``--format``: a row of the run's exporter table, where the built-in ``json`` (the document
of :mod:`ipsec_inspect.export.timeline`) is a row like a plugin's.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, TextIO

from ipsec_inspect.commands._common import (
    add_capture_arguments,
    add_tracker_arguments,
    analyse,
    extensions_of,
    tracker_config,
)
from ipsec_inspect.core.errors import InputError, UsageError
from ipsec_inspect.core.output import GuardedOutput
from ipsec_inspect.lifecycle.flood import DEFAULT_MAX_SAS

if TYPE_CHECKING:  # the pipeline is imported when the command runs (start-up)
    from ipsec_inspect.commands._common import AnalysisOutcome
    from ipsec_inspect.core.extensions import Exporter
    from ipsec_inspect.lifecycle.tracker import TrackerResult

#: half-open IKE SAs ``export`` keeps in memory; older ones are parked (a flood's state).
#: By default only when ``--max-sas`` allows more SAs than its default (or is 0): up to
#: the default cap the cap itself keeps memory under its budget (``lifecycle/flood.py``),
#: and the oldest half-open SAs it would park are the ones it evicts soon after, so
#: parking them only cost time (40% of a 100,000-request flood's export; issue 16).
PARK_HALF_OPEN = 1_000

NAME = "export"
HELP = "write the SA lifecycle timeline (stages, findings) as JSON, or a plugin's format"
DESCRIPTION = (
    "Track every IKE SA and child SA of a capture through the five stages (host recognition, "
    "negotiation, circuit, transmission, termination), audit them, and write the timeline as "
    "JSON that validates against the schema printed by --schema."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_capture_arguments(p, optional=True, workers=True, cluster=True)
    p.add_argument(
        "-o",
        "--output",
        default="-",
        metavar="FILE",
        help="where to write the JSON ('-' = stdout, the default)",
    )
    p.add_argument(
        "--format",
        default="json",
        metavar="NAME",
        help="output format: json (the timeline, default) or a plugin exporter's name "
        "(listed by 'ipsec-inspect plugins')",
    )
    p.add_argument(
        "--schema", action="store_true", help="print the JSON Schema of the timeline and exit"
    )
    p.add_argument(
        "--include-keys", action="store_true", help="include key material in the export (secret!)"
    )
    p.add_argument(
        "--pretty",
        action="store_true",
        help="indent the JSON for people (default: compact, written as the SAs are encoded)",
    )
    p.add_argument(
        "--events",
        metavar="FILE",
        help="also write the tracker's events as JSON lines ('-' = stderr)",
    )
    p.add_argument(
        "--export-psk-crack",
        metavar="FILE",
        help="write IKEv1 Aggressive Mode PSK parameters for ike-scan's psk-crack",
    )
    add_tracker_arguments(p)
    # export reads the result once, in order: half-open IKE SAs beyond this many are parked
    # in a temporary file while the capture is read (lifecycle/parked.py; same document)
    p.add_argument(
        "--park-half-open",
        type=int,
        default=None,
        metavar="N",
        help="keep at most N half-open IKE SAs in memory while reading; older ones wait in "
        "a temporary file and come back if a message touches them (-1: keep all in memory; "
        f"default: {PARK_HALF_OPEN:,} when --max-sas is 0 or above {DEFAULT_MAX_SAS:,}, "
        "else -1, as the cap bounds memory). The document is the same either way",
    )


def default_parking(max_sas: int) -> int:
    """``--park-half-open`` when not given, for this ``--max-sas`` (see PARK_HALF_OPEN)."""
    return PARK_HALF_OPEN if max_sas == 0 or max_sas > DEFAULT_MAX_SAS else -1


def _event_line(event: Any) -> str:
    from ipsec_inspect.export.timeline import rfc3339
    from ipsec_inspect.lifecycle.events import event_to_json

    obj = event_to_json(event)
    if isinstance(obj.get("time"), float):
        obj["time"] = rfc3339(obj["time"])
    return json.dumps(obj, separators=(",", ":"))


def _open(path: str, stack: ExitStack, default: TextIO) -> TextIO:
    """The output ``path`` ('-': ``default``); its write errors become one sentence."""
    if path == "-":
        return default
    try:
        fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by the stack
    except OSError as e:
        raise InputError(f"{path}: cannot write ({e.strerror})") from None
    guarded = GuardedOutput(fh, path)
    # Closing flushes what is buffered; a disk that fills then is the same error.
    stack.callback(guarded.close)
    return guarded  # type: ignore[return-value]


def _run_exporter(
    exporter: Exporter,
    analysis: AnalysisOutcome,
    result: TrackerResult,
    capture: dict[str, Any],
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    """Run an exporter; one that raises is reported (exit 1), never a traceback."""
    from ipsec_inspect.export.json_exporter import timeline_of
    from ipsec_inspect.pipeline.export_input import ExportInput
    from ipsec_inspect.plugins.registry import describe_exception

    data = ExportInput(
        analysis.path,
        analysis.options,
        result,
        capture,
        timeline_of,
        include_keys=args.include_keys,
        keystore=analysis.keys,
        pretty=args.pretty,
        inputs=analysis.paths,
    )
    try:
        exporter.write(data, out)
    except (InputError, BrokenPipeError):
        raise
    except Exception as exc:
        print(
            f"ipsec-inspect: exporter {exporter.name} failed ({describe_exception(exc)}); "
            "no output in that format",
            file=sys.stderr,
        )
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    from ipsec_inspect.export.psk_crack import write_psk_crack
    from ipsec_inspect.export.timeline import capture_json, load_schema

    if args.schema:
        json.dump(load_schema(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not args.capture:
        raise UsageError("export needs a capture file (or --schema)")
    exporters = extensions_of(args).exporters
    exporter = exporters.get(args.format)
    if exporter is None:
        known = ", ".join(sorted(exporters))
        raise UsageError(f"unknown export format {args.format!r} (known: {known})")
    if args.park_half_open is None:
        args.park_half_open = default_parking(args.max_sas)
    tracker_config(args)  # bad --replay-window or --idle-timeout: exit 3 before any output
    with ExitStack() as stack:
        events_fh = _open(args.events, stack, sys.stderr) if args.events else None

        def write_events(events: list[Any]) -> None:
            if events_fh is not None:
                for event in events:
                    events_fh.write(_event_line(event) + "\n")
                events_fh.flush()

        # no listener without --events: the pipeline then skips what only a listener reads
        # (the events of deferred IKE_SA_INIT requests and orphans, Tracker.defer_first)
        listener = write_events if events_fh is not None else None
        run = analyse(args, include_keys=args.include_keys, on_events=listener)
        result = run.result
        evicted = result.evicted.sentence(result.config.max_sas)
        for line in [*run.problems, *([evicted] if evicted else [])]:
            print(f"ipsec-inspect: warning: {line}", file=sys.stderr)
        capture = capture_json(run.info, run.path)
        out = _open(args.output, stack, sys.stdout)
        status = _run_exporter(exporter, run, result, capture, args, out)
        if args.export_psk_crack:
            psk_out = _open(args.export_psk_crack, stack, sys.stdout)
            n = write_psk_crack(result, psk_out)
            psk_out.flush()  # a write error is reported instead of "written"
            print(
                f"ipsec-inspect: {n} Aggressive Mode PSK SA(s) written to {args.export_psk_crack}",
                file=sys.stderr,
            )
    return status
