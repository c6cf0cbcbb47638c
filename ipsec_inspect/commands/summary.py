"""``ipsec-inspect summary``: peers, IKE SAs and ESP/AH SPIs with counts, stages and findings.

The text form is for people on a terminal (rich tables); ``--format json`` writes the same
document as ``export`` so scripts need only one parser. Filters (``--spi``, ``--peer``,
``--proto``) choose which SAs are shown; the analysis itself always sees the whole capture,
because an SA's life depends on packets the filter would hide.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ipsec_inspect.commands._common import (
    RecordFilter,
    add_capture_arguments,
    add_filter_arguments,
    add_tracker_arguments,
    decode_options,
    extensions_of,
    tracker_config,
)

if TYPE_CHECKING:  # the pipeline and rich are imported when the command runs (start-up)
    from rich.table import Table

    from ipsec_inspect.lifecycle.model import ChildSa, IkeSa
    from ipsec_inspect.lifecycle.tracker import TrackerResult

NAME = "summary"
HELP = "peers, IKE SAs and ESP/AH SPIs with packet and byte counts, stages and findings"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_capture_arguments(p, workers=True)
    add_filter_arguments(p)
    add_tracker_arguments(p)
    p.add_argument(
        "--format", choices=["text", "json"], default="text", help="output format (default: text)"
    )
    p.add_argument(
        "--include-keys",
        action="store_true",
        help="with --format json: include key material (secret!)",
    )


def _ts(t: float | None) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S.%f") if t is not None else "-"


def _ike_matches(sa: IkeSa, keep: RecordFilter) -> bool:
    if keep.protos and "ike" not in keep.protos:
        return False
    if (
        (keep.spis or keep.ike_spis)
        and sa.spi_i not in keep.ike_spis
        and sa.spi_r not in keep.ike_spis
    ):
        return False
    if keep.peers:
        addrs = {e.addr for e in (sa.initiator, sa.responder) if e is not None}
        if not addrs & keep.peers:
            return False
    return True


def _child_matches(c: ChildSa, keep: RecordFilter) -> bool:
    if keep.protos and c.protocol not in keep.protos:
        return False
    if (keep.spis or keep.ike_spis) and not any(d.spi in keep.spis for d in c.directions):
        return False
    return not keep.peers or any({d.src, d.dst} & keep.peers for d in c.directions)


def filtered(result: TrackerResult, keep: RecordFilter) -> TrackerResult:
    """The result with only the SAs (and their findings) that the filters select."""
    if not keep.active:
        return result
    ikes = {k: v for k, v in result.ike_sas.items() if _ike_matches(v, keep)}
    children = {k: v for k, v in result.child_sas.items() if _child_matches(v, keep)}
    findings = [f for f in result.findings if f.sa in ikes or f.sa in children]
    errors = [e for e in result.errors if e.sa is None or e.sa in ikes or e.sa in children]
    return replace(result, ike_sas=ikes, child_sas=children, findings=findings, errors=errors)


def _peers_table(result: TrackerResult) -> Table:
    pairs: dict[tuple[str, str], list[int]] = {}
    for sa in result.ike_sas.values():
        if sa.initiator is None or sa.responder is None:
            continue
        a, b = sorted((sa.initiator.addr, sa.responder.addr))
        pairs.setdefault((a, b), [0, 0, 0])[0] += 1
    for c in result.child_sas.values():
        for d in c.directions:
            a, b = sorted((d.src, d.dst))
            counts = pairs.setdefault((a, b), [0, 0, 0])
            counts[1] += d.packets
            counts[2] += d.byte_count
    from rich.table import Table

    table = Table(title="Peers", title_justify="left")
    for col, just in (
        ("address A", "left"),
        ("address B", "left"),
        ("IKE SAs", "right"),
        ("ESP/AH packets", "right"),
        ("bytes", "right"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for (a, b), (ike, packets, nbytes) in sorted(pairs.items()):
        table.add_row(a, b, str(ike), str(packets), str(nbytes))
    return table


def _spi_table(result: TrackerResult) -> Table:
    """One row per SPI. An "unverified" column (``decrypted_unverified`` in the JSON) appears
    when some SPI was decrypted with keys that check no integrity, so those packets are
    never shown as "decrypted"."""
    from rich.table import Table

    table = Table(title="ESP/AH SPIs", title_justify="left")
    unverified = any(
        d.decrypted_unverified for c in result.child_sas.values() for d in c.directions
    )
    numeric = ("packets", "bytes", "lost", "replayed", "decrypted", "unverified", "ICV fail")
    for col in (
        "proto",
        "SPI",
        "source",
        "destination",
        "packets",
        "bytes",
        "seq",
        "lost",
        "replayed",
        "first",
        "last",
        "decrypted",
        *(("unverified",) if unverified else ()),
        "ICV fail",
    ):
        table.add_column(col, justify="right" if col in numeric else "left")
    for c in sorted(
        result.child_sas.values(),
        key=lambda c: min((d.first_frame or 0 for d in c.directions), default=0),
    ):
        for d in c.directions:
            s = d.seq
            seq = f"{s.first}-{s.highest}" if s.first is not None else "-"
            table.add_row(
                d.protocol.upper(),
                f"0x{d.spi:08x}",
                d.src,
                d.dst,
                str(d.packets),
                str(d.byte_count),
                seq,
                str(s.lost),
                str(s.replayed),
                _ts(d.first_time),
                _ts(d.last_time),
                str(d.decrypted_verified),
                *((str(d.decrypted_unverified),) if unverified else ()),
                str(d.icv_failures),
            )
    return table


def run(args: argparse.Namespace) -> int:
    from ipsec_inspect.pipeline.session import Analysis

    keep = RecordFilter.from_args(args)
    analysis = Analysis(
        args.capture,
        decode_options(args),
        args.keys,
        tracker_config(args),
        keep_index=False,
        decrypt_workers=args.decrypt_workers,
        extensions=extensions_of(args),
    )
    result = filtered(analysis.run(), keep)
    info = analysis.info
    assert info is not None
    problems = analysis.problems()
    if args.format == "json":
        capture = {
            "path": args.capture,
            "frames": info.frames,
            "first_time": info.first_time,
            "last_time": info.last_time,
        }
        from ipsec_inspect.export.timeline import build_timeline

        doc = build_timeline(
            result, capture, include_keys=args.include_keys, keystore=analysis.keys
        )
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from ipsec_inspect.commands._console import CliConsole
        from ipsec_inspect.export.fold import print_table
        from ipsec_inspect.export.summary_text import render_summary

        # emoji=False: capture paths and peer names are data, not ":code:" shortcuts.
        console = CliConsole(highlight=False, emoji=False)
        if not console.is_terminal:
            # a pipe or file: no need to squeeze
            console = CliConsole(highlight=False, emoji=False, width=160)
        stats = result.stats
        console.print(
            f"[bold]{args.capture}[/]: {info.frames} frames; {stats.ike_messages} IKE messages, "
            f"{stats.esp_packets} ESP and {stats.ah_packets} AH packets, {stats.keepalives} NAT keepalives, "
            f"{stats.malformed} malformed"
        )
        print_table(console, _peers_table(result), heading_columns=2)
        render_summary(result, console)
        if result.child_sas:
            print_table(console, _spi_table(result), heading_columns=2)
    for line in problems:
        print(f"ipsec-inspect: warning: {line}", file=sys.stderr)
    return 0
