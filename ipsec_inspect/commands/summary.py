"""``ipsec-inspect summary``: peers, IKE SAs, ESP/AH SPIs with packet and byte counts."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from ipsec_inspect.commands._common import (
    RecordFilter,
    add_capture_arguments,
    add_filter_arguments,
    decode_options,
)
from ipsec_inspect.export.traffic import TrafficSummary
from ipsec_inspect.session import open_records

NAME = "summary"
HELP = "peers, IKE SAs and ESP/AH SPIs with packet and byte counts"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_capture_arguments(p)
    add_filter_arguments(p)
    p.add_argument(
        "--format", choices=["text", "json"], default="text", help="output format (default: text)"
    )


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def run(args: argparse.Namespace) -> int:
    keep = RecordFilter.from_args(args)
    summary = TrafficSummary()
    with open_records(args.capture, decode_options(args), args.keys) as stream:
        add = summary.add
        if keep.active:
            for r in stream:
                if keep(r):
                    add(r)
        else:
            for r in stream:
                add(r)
        info = stream.info
        problems = stream.problems()
    doc = {
        "capture": {
            "path": args.capture,
            "frames": info.frames,
            "first_time": info.first_time,
            "last_time": info.last_time,
        },
        **summary.to_json(),
        "problems": problems,
    }
    if args.format == "json":
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    console = Console(highlight=False)
    console.print(f"[bold]{args.capture}[/]: {info.frames} frames, {summary.records} IPsec records")
    peers = Table(title="Peers", title_justify="left")
    for col in ("Address A", "Address B", "Packets"):
        peers.add_column(col, justify="right" if col == "Packets" else "left")
    for (a, b), n in sorted(summary.peers.items()):
        peers.add_row(a, b, str(n))
    console.print(peers)
    if summary.ike:
        ike = Table(title="IKE SAs", title_justify="left")
        for col in (
            "Ver",
            "SPI i",
            "SPI r",
            "Initiator",
            "Responder",
            "Msgs",
            "Frames",
            "Exchanges",
        ):
            ike.add_column(col)
        for c in summary.ike.values():
            ike.add_row(
                str(c.version),
                c.spi_i.hex(),
                c.spi_r.hex(),
                c.initiator,
                c.responder,
                str(c.messages),
                f"{c.first_frame}-{c.last_frame}",
                ", ".join(f"{k} x{v}" for k, v in c.exchanges.items()),
            )
        console.print(ike)
    if summary.spis:
        spis = Table(title="ESP/AH SPIs", title_justify="left")
        for col in (
            "Proto",
            "SPI",
            "Source",
            "Destination",
            "Packets",
            "Bytes",
            "Seq",
            "First",
            "Last",
            "Decrypted",
            "ICV fail",
        ):
            spis.add_column(
                col,
                justify="right" if col in ("Packets", "Bytes", "Decrypted", "ICV fail") else "left",
            )
        for s in summary.spis.values():
            spis.add_row(
                s.protocol.upper(),
                f"0x{s.spi:08x}",
                s.src,
                s.dst,
                str(s.packets),
                str(s.bytes),
                f"{s.first_seq}-{s.last_seq}",
                _ts(s.first_time),
                _ts(s.last_time),
                str(s.decrypted),
                str(s.icv_failures),
            )
        console.print(spis)
    if summary.keepalives or summary.malformed:
        console.print(
            f"NAT keepalives: {summary.keepalives}   malformed records: {summary.malformed}"
        )
    for line in problems:
        print(f"ipsec-inspect: warning: {line}", file=sys.stderr)
    return 0
