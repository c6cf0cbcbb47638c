"""Options and helpers shared by the commands that read a capture.

Why here: ``packets``, ``summary``, ``export``, ``decrypt`` and ``open`` accept the same
capture argument, decode-as rules and filters; declaring them once keeps their spelling
identical across commands (they are a public interface).
"""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ipsec_inspect.core.errors import InputError, UsageError
from ipsec_inspect.core.records import AhPacket, EspPacket, IkeMessage, Record

if TYPE_CHECKING:  # every command module imports this one to build the parser (start-up)
    from ipsec_inspect.core.extensions import Extensions
    from ipsec_inspect.lifecycle.tracker import TrackerConfig
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
    p: argparse.ArgumentParser, *, keys: bool = True, optional: bool = False, workers: bool = False
) -> None:
    """The capture, its keys and decoding rules; ``workers``: the command runs an
    ``Analysis``, which can decrypt ESP in other processes (``--decrypt-workers``)."""
    p.add_argument(
        "capture",
        nargs="?" if optional else None,
        help="pcap or pcapng file (optionally gzip-compressed)",
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
            "with more than one core, for captures over 16 MB; 0: decrypt in this process only)",
        )
    add_decode_arguments(p)


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


def tracker_config(args: argparse.Namespace) -> TrackerConfig:
    from ipsec_inspect.lifecycle.tracker import TrackerConfig

    if args.replay_window < 1 or args.idle_timeout <= 0:
        raise UsageError("--replay-window and --idle-timeout must be positive")
    return TrackerConfig(idle_timeout=args.idle_timeout, replay_window=args.replay_window)


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
