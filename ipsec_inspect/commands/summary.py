"""``ipsec-inspect summary``: peers, IKE SAs and ESP/AH SPIs with counts, stages and findings.

The text form is for people on a terminal (rich tables); ``--format json`` writes the same
document as ``export`` so scripts need only one parser. Filters (``--spi``, ``--peer``,
``--proto``) choose which SAs are shown; the analysis itself always sees the whole capture,
because an SA's life depends on packets the filter would hide.
"""

from __future__ import annotations

import argparse
import heapq
import shlex
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

from ipsec_inspect.commands._common import (
    RecordFilter,
    add_capture_arguments,
    add_filter_arguments,
    add_tracker_arguments,
    analyse,
    extensions_of,
)
from ipsec_inspect.sources.timestamps import utc_text

if TYPE_CHECKING:  # the pipeline and rich are imported when the command runs (start-up)
    from collections.abc import Sequence

    from rich.table import Table

    from ipsec_inspect.audit.rules import Rule
    from ipsec_inspect.lifecycle.model import ChildSa, IkeSa
    from ipsec_inspect.lifecycle.tracker import TrackerResult

NAME = "summary"
HELP = "peers, IKE SAs and ESP/AH SPIs with packet and byte counts, stages and findings"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_capture_arguments(p, workers=True, cluster=True)
    add_filter_arguments(p)
    add_tracker_arguments(p)
    p.add_argument(
        "--format", choices=["text", "json"], default="text", help="output format (default: text)"
    )
    p.add_argument(
        "--limit",
        type=int,
        default=50,
        metavar="N",
        help="text: at most N rows per table, the busiest first, with a count of the rest "
        "(default 50)",
    )
    p.add_argument("--all", action="store_true", help="text: every row of every table")
    p.add_argument(
        "--include-keys",
        action="store_true",
        help="with --format json: include key material (secret!)",
    )


def _ts(t: float | None) -> str:
    return utc_text(t, "%H:%M:%S.%f") or "-"


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


def filtered(
    result: TrackerResult, keep: RecordFilter, rules: Sequence[Rule] | None = None
) -> TrackerResult:
    """The result with only the SAs (and their findings) that the filters select."""
    if not keep.active:
        return result
    ikes = {k: v for k, v in result.ike_sas.items() if _ike_matches(v, keep)}
    children = {k: v for k, v in result.child_sas.items() if _child_matches(v, keep)}
    findings = [f for f in result.findings if f.sa in ikes or f.sa in children]
    errors = [e for e in result.errors if e.sa is None or e.sa in ikes or e.sa in children]
    out = replace(result, ike_sas=ikes, child_sas=children, findings=findings, errors=errors)
    # The counts per rule must be of the SAs shown too: run the rules again on them.
    from ipsec_inspect.audit.run import audit

    return audit(out) if rules is None else audit(out, rules)


def _peers_table(result: TrackerResult, limit: int | None) -> tuple[Table, int, int]:
    pairs: dict[tuple[str, str], list[int]] = {}
    for sa in result.ike_sas.values():
        if sa.initiator is None or sa.responder is None:
            continue
        a, b = sa.initiator.addr, sa.responder.addr
        pair = (a, b) if a <= b else (b, a)
        counts = pairs.get(pair)
        if counts is None:
            counts = pairs[pair] = [0, 0, 0]
        counts[0] += 1
    for c in result.child_sas.values():
        for d in c.directions:
            a, b = d.src, d.dst
            pair = (a, b) if a <= b else (b, a)
            counts = pairs.get(pair)
            if counts is None:
                counts = pairs[pair] = [0, 0, 0]
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
    rows = sorted(pairs.items())
    if limit is not None and len(rows) > limit:  # the busiest first (as sorted()[:limit])
        rows = heapq.nsmallest(limit, rows, key=lambda row: (-row[1][1], -row[1][0], row[0]))
    for (a, b), (ike, packets, nbytes) in rows:
        table.add_row(a, b, str(ike), str(packets), str(nbytes))
    table.title = f"Peers ({len(pairs):,})"
    return table, len(rows), len(pairs)


def _spi_table(result: TrackerResult, limit: int | None) -> tuple[Table, int, int]:
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
    directions = [
        d
        for c in sorted(
            result.child_sas.values(),
            key=lambda c: min((d.first_frame or 0 for d in c.directions), default=0),
        )
        for d in c.directions
    ]
    total = len(directions)
    if limit is not None and total > limit:  # the busiest first (as sorted()[:limit])
        directions = heapq.nsmallest(limit, directions, key=lambda d: -d.packets)
    for d in directions:
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
    table.title = f"ESP/AH SPIs ({total:,})"
    return table, len(directions), total


def run(args: argparse.Namespace) -> int:
    keep = RecordFilter.from_args(args)
    run = analyse(args, include_keys=args.include_keys)
    result = filtered(run.result, keep, extensions_of(args).rules)
    info = run.info
    problems = run.problems

    evicted = result.evicted.sentence(result.config.max_sas)
    if evicted and args.format == "json":
        problems.append(evicted)  # the text output says it among the tables
    if args.format == "json":
        from ipsec_inspect.export.timeline import capture_json, write_timeline

        capture = capture_json(info, run.path)
        write_timeline(
            sys.stdout, result, capture, include_keys=args.include_keys, keystore=run.keys
        )
        sys.stdout.write("\n")
    else:
        from ipsec_inspect.commands._console import CliConsole
        from ipsec_inspect.export.fold import print_table
        from ipsec_inspect.export.summary_text import print_more, render_summary

        # emoji=False: capture paths and peer names are data, not ":code:" shortcuts.
        console = CliConsole(highlight=False, emoji=False)
        if not console.is_terminal:
            # a pipe or file: no need to squeeze
            console = CliConsole(highlight=False, emoji=False, width=160)
        stats = result.stats
        console.print(
            f"[bold]{run.path}[/]: {info.frames} frames; {stats.ike_messages} IKE messages, "
            f"{stats.esp_packets} ESP and {stats.ah_packets} AH packets, {stats.keepalives} NAT keepalives, "
            f"{stats.malformed} malformed"
        )
        limit = None if args.all else max(args.limit, 1)
        how = f"ipsec-inspect summary {shlex.join(args.capture)} --all, or export"
        table, shown, total = _peers_table(result, limit)
        print_table(console, table, heading_columns=2)
        print_more(console, shown, total, "peer pairs", how)
        render_summary(result, console, limit, how)
        if result.child_sas:
            table, shown, total = _spi_table(result, limit)
            print_table(console, table, heading_columns=2)
            print_more(console, shown, total, "SPIs", how)
    for line in problems:
        print(f"ipsec-inspect: warning: {line}", file=sys.stderr)
    return 0
