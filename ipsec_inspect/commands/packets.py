"""``ipsec-inspect packets``: one line per IPsec-related frame, like tshark's summary."""

from __future__ import annotations

import argparse
import json
import sys

from ipsec_inspect.commands._common import (
    RecordFilter,
    add_capture_arguments,
    add_filter_arguments,
    decode_options,
    extensions_of,
)

NAME = "packets"
HELP = "list IPsec packets one per line (or every field as JSON lines)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_capture_arguments(p)
    add_filter_arguments(p)
    p.add_argument(
        "--format", choices=["text", "jsonl"], default="text", help="output format (default: text)"
    )


def run(args: argparse.Namespace) -> int:
    # Imported here: every command module is imported to build the parser (start-up).
    from ipsec_inspect.pipeline.describe import endpoint, info_text, protocol_label, record_json
    from ipsec_inspect.pipeline.session import open_records

    keep = RecordFilter.from_args(args)
    out = sys.stdout
    jsonl = args.format == "jsonl"
    with open_records(args.capture, decode_options(args), args.keys, extensions_of(args)) as stream:
        first_time: float | None = None
        for r in stream:
            if first_time is None:
                first_time = (
                    stream.info.first_time if stream.info.first_time is not None else r.meta.time
                )
            if keep.active and not keep(r):
                continue
            if jsonl:
                out.write(json.dumps(record_json(r), separators=(",", ":")) + "\n")
            else:
                m = r.meta
                out.write(
                    f"{m.frame:>6} {m.time - first_time:>11.6f} {endpoint(m, True):>22} → "
                    f"{endpoint(m, False):<22} {protocol_label(r):<7} {info_text(r)}\n"
                )
        stream.report_problems(sys.stderr)
    return 0
