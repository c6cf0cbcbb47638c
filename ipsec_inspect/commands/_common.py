"""Options and helpers shared by the commands that read a capture.

Why here: ``packets``, ``summary``, ``export``, ``decrypt`` and ``open`` accept the same
capture argument, decode-as rules and filters; declaring them once keeps their spelling
identical across commands (they are a public interface).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ipsec_inspect.core.errors import InputError, UsageError
from ipsec_inspect.core.records import AhPacket, EspPacket, IkeMessage, Record
from ipsec_inspect.lifecycle.flood import DEFAULT_MAX_SAS
from ipsec_inspect.sources.multi import STDIN, TimeBound, TimeWindow, input_size

if TYPE_CHECKING:  # every command module imports this one to build the parser (start-up)
    from ipsec_inspect.core.extensions import Extensions
    from ipsec_inspect.crypto.keys import KeyStore
    from ipsec_inspect.lifecycle.events import TrackerEvent
    from ipsec_inspect.lifecycle.tracker import TrackerConfig, TrackerResult
    from ipsec_inspect.sources.capture_file import CaptureInfo
    from ipsec_inspect.wire.decoder import DecodeOptions


def add_key_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--keys",
        action="append",
        default=[],
        metavar="PATH",
        help="key file or folder (TOML, Wireshark esp_sa / ikev1_decryption_table / "
        "ikev2_decryption_table or profile folder, strongSwan charon log, `ip xfrm state` "
        "output, tcpdump -E secrets); repeatable; format detected from content",
    )


def _decode_as_rule(text: str) -> str:
    """argparse type of ``--decode-as``: a bad rule is a usage error (exit 2)."""
    from ipsec_inspect.wire.decoder import DecodeOptions

    try:
        DecodeOptions.parse_decode_as(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--decode-as ")) from None
    return text


def _spi_text(text: str) -> str:
    """argparse type of ``--spi``: hex (``0x``, ``:`` allowed), up to 16 digits."""
    digits = text.lower().removeprefix("0x").replace(":", "")
    if not digits or len(digits) > 16 or any(c not in "0123456789abcdef" for c in digits):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a hexadecimal SPI (8 digits) or IKE SPI (16 digits)"
        )
    return text


def _peer_text(text: str) -> str:
    """argparse type of ``--peer``: an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address") from None
    return text


def add_decode_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--decode-as",
        action="append",
        default=[],
        type=_decode_as_rule,
        metavar="RULE",
        help="decode a port as IPsec: udp.port=N:ike|udpencap|esp or tcp.port=N:ike-tcp (repeatable)",
    )
    p.add_argument(
        "--no-ike-heuristic",
        action="store_true",
        help="do not look for IKE on UDP ports other than 500/4500 by a strict header check",
    )


def add_capture_arguments(
    p: argparse.ArgumentParser,
    *,
    keys: bool = True,
    optional: bool = False,
    workers: bool = False,
    cluster: bool = False,
) -> None:
    """The capture, its keys and decoding rules; ``workers``: the command runs an
    ``Analysis``, which can decrypt ESP in other processes (``--decrypt-workers``);
    ``cluster``: it can also run tunnel partitions on Dask (``--workers``, ``--scheduler``)."""
    p.add_argument(
        "capture",
        nargs="*" if optional else "+",
        metavar="CAPTURE",
        help="pcap or pcapng file (optionally gzip-compressed), a folder (every capture in "
        "it, recursively), '-' for standard input, or an fsspec URL; several are merged by "
        "timestamp into one capture, as mergecap would",
    )
    p.add_argument(
        "--since",
        type=_time_bound,
        metavar="TIME",
        help="drop frames before TIME: ISO 8601 (2024-05-01T12:00:00Z; no zone = UTC) or an "
        "offset from the first frame of the merged inputs (+30s, +5m, +2h, +250ms)",
    )
    p.add_argument(
        "--until",
        type=_time_bound,
        metavar="TIME",
        help="drop frames after TIME (same forms as --since); the frames left are numbered from 1",
    )
    if keys:
        add_key_arguments(p)
    if keys and workers:
        p.add_argument(
            "--decrypt-workers",
            type=_workers,
            default=None,
            metavar="N",
            help="processes that decrypt ESP beside the main one (default: 2 on a machine "
            "with more than one core, for captures over 16 MB; 0: decrypt in this process only)"
            + (
                "; for a run in one process only, not with --workers/--scheduler" if cluster else ""
            ),
        )
    if cluster:
        p.add_argument(
            "--workers",
            type=_workers,
            default=None,
            metavar="N",
            help="analyse the inputs split by tunnel on a local Dask cluster of N processes "
            f"(default: one per core on a machine with at least {AUTO_PARTITION_CORES} cores, "
            f"for inputs over {AUTO_PARTITION_BYTES >> 30} GB; else one process; 0: one "
            "process); the result is the same either way",
        )
        p.add_argument(
            "--scheduler",
            metavar="ADDRESS",
            help="run the tunnel partitions on an existing Dask cluster (tcp://host:8786); "
            "the inputs and key files must be readable by its workers (a shared path or a URL)",
        )
    add_decode_arguments(p)


#: inputs at least this large are split by tunnel over one process per core unless
#: --workers says otherwise, on machines with at least AUTO_PARTITION_CORES cores. Measured
#: (benchmarks/scale_out.py, docs/scale-out.md): starting a LocalCluster costs 4-17 s, every
#: partition reads all inputs, and on two cores the one-process run — which already
#: decrypts on the second core — was faster at every size tried (2,000,000 packets).
AUTO_PARTITION_BYTES = 1 << 30
AUTO_PARTITION_CORES = 4


@dataclass
class AnalysisOutcome:
    """What ``summary`` and ``export`` need from a run, however it was made."""

    result: TrackerResult
    info: CaptureInfo
    path: str
    paths: list[str]
    problems: list[str]
    keys: KeyStore | None
    options: DecodeOptions


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cluster_workers(args: argparse.Namespace, *, events: bool = False) -> int:
    """How many Dask workers the run uses: 0 for the single-process pipeline."""
    workers, scheduler = getattr(args, "workers", None), getattr(args, "scheduler", None)
    if (workers or scheduler) and getattr(args, "decrypt_workers", None) is not None:
        raise InputError(
            "--decrypt-workers is for a run in one process; with --workers/--scheduler the "
            "partitions use the cores (choose one)"
        )
    if (workers or scheduler) and events:
        raise InputError("--events needs the run in one process (--workers 0)")
    if scheduler:
        return -1  # as many as the cluster has
    if workers is not None:
        return int(workers)
    if events or STDIN in args.capture or _usable_cores() < AUTO_PARTITION_CORES:
        return 0
    total = sum(input_size(c) for c in args.capture if not os.path.isdir(c))
    return _usable_cores() if total >= AUTO_PARTITION_BYTES else 0


def analyse(
    args: argparse.Namespace,
    *,
    include_keys: bool = False,
    on_events: Callable[[list[TrackerEvent]], None] | None = None,
) -> AnalysisOutcome:
    """Run the capture(s) through the pipeline: in this process, or split by tunnel on
    Dask (``pipeline.dask_engine``) — the same result either way."""
    options = decode_options(args)
    config = tracker_config(args)
    window = time_window(args)
    workers = cluster_workers(
        args, events=on_events is not None and bool(getattr(args, "events", None))
    )
    extensions = extensions_of(args)
    if workers == 0:
        from ipsec_inspect.pipeline.session import Analysis

        analysis = Analysis(
            args.capture,
            options,
            args.keys,
            config,
            keep_index=False,
            decrypt_workers=getattr(args, "decrypt_workers", None),
            window=window,
            extensions=extensions,
        )
        result = analysis.run(on_events=on_events)
        assert analysis.info is not None and analysis.path is not None
        return AnalysisOutcome(
            result,
            analysis.info,
            analysis.path,
            analysis.paths,
            analysis.problems(),
            analysis.keys,
            options,
        )
    from ipsec_inspect.pipeline.dask_engine import executor_for, run_partitioned

    executor = executor_for(getattr(args, "scheduler", None), workers if workers > 0 else None)
    try:
        with progress_bar() as progress:
            u = run_partitioned(
                args.capture,
                options,
                args.keys,
                config,
                window=window,
                executor=executor,
                include_keys=include_keys,
                progress=progress,
                extensions=extensions,
            )
    finally:
        executor.close()
    problems = [w.text() for w in u.warnings]
    problems += u.problems
    keys = u.keys
    if keys is None and args.keys:
        from ipsec_inspect.pipeline.session import load_keys

        # for the exporters' lookups (the key rows' problems came from the workers)
        keys = load_keys(args.keys, extensions.key_formats)
    return AnalysisOutcome(
        u.result, u.info, ", ".join(args.capture), list(args.capture), problems, keys, options
    )


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress bar on standard error — on a terminal only: bytes surveyed and
    partitions done."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.fields[amount]}"),
        TimeElapsedColumn(),
        transient=True,
        console=Console(stderr=True),
    )
    tasks: dict[str, Any] = {}

    def update(what: str, done: int, total: int) -> None:
        if what == "bytes":
            label, amount = "bytes read", f"{done / 1e6:,.0f} / {total / 1e6:,.0f} MB"
        else:
            label, amount = "partitions", f"{done} / {total} done"
        if what not in tasks:
            tasks[what] = bar.add_task(label, total=total or None, amount=amount)
        bar.update(tasks[what], completed=done, total=total or None, amount=amount)

    with bar:
        yield update


def _time_bound(text: str) -> TimeBound:
    try:
        return TimeBound.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def time_window(args: argparse.Namespace) -> TimeWindow | None:
    """The ``--since``/``--until`` cut of the merged inputs, if any."""
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    if since is None and until is None:
        return None
    if (
        since is not None
        and until is not None
        and since.relative == until.relative
        and until.seconds < since.seconds
    ):
        raise InputError("--until is before --since: no frame would be left")
    return TimeWindow(since, until)


def _workers(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if not 0 <= n <= 64:
        raise argparse.ArgumentTypeError(
            f"expected a number of processes from 0 to 64, got {text!r}"
        )
    return n


def add_tracker_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="an SA with no traffic for this long ends 'idle' (default 300)",
    )
    p.add_argument(
        "--replay-window",
        type=int,
        default=64,
        metavar="N",
        help="anti-replay window for the sequence analysis (default 64)",
    )
    p.add_argument(
        "--findings",
        choices=["failed", "all"],
        default="failed",
        help="'failed' (default): list the failed findings per SA and count the rest per rule; "
        "'all': list every rule's verdict for every SA",
    )
    p.add_argument(
        "--max-sas",
        type=int,
        default=DEFAULT_MAX_SAS,
        metavar="N",
        help="keep at most N IKE and child SAs; beyond, the oldest half-open IKE SAs and "
        f"orphan SPIs are evicted and counted (default {DEFAULT_MAX_SAS:,}; 0: no cap)",
    )
    p.add_argument(
        "--compact-half-open",
        choices=["auto", "on", "off"],
        default="auto",
        help="'on': keep a half-open IKE SA (one request, no answer) as its message, "
        "about 800 bytes instead of 3.6 KB, and rebuild it exactly each time it is read "
        "(slower at the end of the run); 'off': keep it whole; 'auto' (default): 'on' "
        "where export parks half-open SAs (--park-half-open). The output is the same",
    )


def tracker_config(args: argparse.Namespace) -> TrackerConfig:
    from ipsec_inspect.lifecycle.tracker import TrackerConfig

    if args.replay_window < 1 or args.idle_timeout <= 0:
        raise UsageError("--replay-window and --idle-timeout must be positive")
    max_sas = getattr(args, "max_sas", DEFAULT_MAX_SAS)
    if max_sas < 0:
        raise UsageError("--max-sas must be 0 (no cap) or positive")
    return TrackerConfig(
        max_sas=max_sas or None,
        idle_timeout=args.idle_timeout,
        replay_window=args.replay_window,
        all_findings=getattr(args, "findings", "failed") == "all",
        park_half_open=_park(getattr(args, "park_half_open", None)),
        compact_half_open={"on": True, "off": False}.get(getattr(args, "compact_half_open", "")),
    )


def _park(n: int | None) -> int | None:
    return None if n is None or n < 0 else n


def add_filter_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--spi",
        action="append",
        default=[],
        type=_spi_text,
        help="only this SPI (ESP/AH SPI or IKE SPI/cookie, hex); repeatable",
    )
    p.add_argument(
        "--peer",
        action="append",
        default=[],
        type=_peer_text,
        metavar="ADDR",
        help="only packets to or from this address; repeatable",
    )
    p.add_argument(
        "--proto",
        action="append",
        default=[],
        choices=["ike", "esp", "ah"],
        help="only this protocol; repeatable",
    )


def extensions_of(args: argparse.Namespace) -> Extensions:
    """The run's extension tables, composed by the CLI at start-up (``cli._compose``);
    a command run without the CLI (a test) gets the core's tables and no plugin."""
    ext = getattr(args, "extensions", None)
    if ext is None:
        from ipsec_inspect.export.formats import BUILTIN_EXPORTERS
        from ipsec_inspect.plugins.compose import compose_extensions

        ext = compose_extensions(None, BUILTIN_EXPORTERS)
        args.extensions = ext
    return ext


def decode_options(args: argparse.Namespace) -> DecodeOptions:
    """Decoding as the user asked, with the run's dissector extension tables."""
    from ipsec_inspect.wire.decoder import DecodeOptions

    opts = DecodeOptions(
        ike_heuristic=not getattr(args, "no_ike_heuristic", False),
        extension_tables=extensions_of(args).dissectors,
    )
    for rule in getattr(args, "decode_as", []) or []:
        try:
            opts.add_decode_as(rule)
        except ValueError as e:
            raise InputError(str(e)) from None
    return opts


@dataclass
class RecordFilter:
    """The ``--spi``, ``--peer`` and ``--proto`` filters as one predicate."""

    spis: frozenset[int] = frozenset()
    ike_spis: frozenset[bytes] = frozenset()
    peers: frozenset[str] = frozenset()
    protos: frozenset[str] = frozenset()

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RecordFilter:
        spis: set[int] = set()
        ike_spis: set[bytes] = set()
        for s in getattr(args, "spi", []) or []:
            text = s.lower().removeprefix("0x").replace(":", "")
            try:
                value = int(text, 16)
            except ValueError:
                raise InputError(f"--spi {s!r} is not a hexadecimal SPI") from None
            if len(text) > 8:
                ike_spis.add(value.to_bytes(8, "big"))
            else:
                spis.add(value)
                ike_spis.add(value.to_bytes(8, "big"))
        peers: set[str] = set()
        for a in getattr(args, "peer", []) or []:
            try:
                peers.add(str(ipaddress.ip_address(a)))
            except ValueError:
                raise InputError(f"--peer {a!r} is not an IP address") from None
        return cls(
            frozenset(spis),
            frozenset(ike_spis),
            frozenset(peers),
            frozenset(getattr(args, "proto", []) or []),
        )

    @property
    def active(self) -> bool:
        return bool(self.spis or self.ike_spis or self.peers or self.protos)

    def __call__(self, r: Record) -> bool:
        if isinstance(r, IkeMessage):
            proto = "ike"
        elif isinstance(r, EspPacket):
            proto = "esp"
        elif isinstance(r, AhPacket):
            proto = "ah"
        else:
            proto = ""
        if self.protos and proto not in self.protos:
            return False
        if self.peers and r.meta.src not in self.peers and r.meta.dst not in self.peers:
            return False
        if self.spis or self.ike_spis:
            if isinstance(r, EspPacket | AhPacket):
                return r.spi in self.spis
            if isinstance(r, IkeMessage):
                return r.header.spi_i in self.ike_spis or r.header.spi_r in self.ike_spis
            return False
        return True
