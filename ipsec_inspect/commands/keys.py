"""``ipsec-inspect keys export``: write every key we know for a capture, given or derived.

Why: a user who fed us ``SK_d`` or a charon log should be able to open the same capture
in Wireshark (which derives nothing) or keep one TOML file that explains where each key
came from. The capture is read once so that the keys derivable from its IKE exchanges
are included. Key bytes are written only with ``--include-keys``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ipsec_inspect.commands._common import decode_options, extensions_of
from ipsec_inspect.core.errors import InputError, UsageError

if TYPE_CHECKING:  # imported when the command runs: every command is imported at start-up
    from ipsec_inspect.crypto.decryptor import Decryptor
    from ipsec_inspect.crypto.keys import KeyStore

NAME = "keys"
HELP = "export the keys known for a capture (supplied and derived) as Wireshark tables or TOML"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="keys_command", metavar="ACTION")
    sub.required = True
    e = sub.add_parser(
        "export",
        help="write the supplied and derived keys",
        description="Read CAPTURE with the given keys, derive what its IKE exchanges allow, "
        "and write all keys: --format wireshark writes a profile folder OUT/ holding esp_sa, "
        "ikev1_decryption_table and ikev2_decryption_table; --format toml writes our TOML "
        "file OUT. Key bytes are secrets and are written only with --include-keys.",
    )
    e.add_argument("--format", choices=["wireshark", "toml"], default="toml")
    e.add_argument("--include-keys", action="store_true", help="write the key bytes (secrets)")
    e.add_argument("out", metavar="OUT", help="profile folder (wireshark) or file (toml)")
    e.add_argument("capture", help="pcap or pcapng file whose IKE exchanges give derived keys")
    e.add_argument("--keys", action="append", default=[], metavar="PATH", required=True,
                   help="key file or folder (any supported format); repeatable")  # fmt: skip
    e.add_argument("--decode-as", action="append", default=[], metavar="RULE",
                   help="decode a port as IPsec: udp.port=N:ike|udpencap|esp or tcp.port=N:ike-tcp")  # fmt: skip


def known_keys(capture: str, store: KeyStore, args: argparse.Namespace) -> Decryptor:
    """Run the capture through decryption so that every derivable key lands in ``store``."""
    from ipsec_inspect.crypto.decryptor import Decryptor
    from ipsec_inspect.pipeline.records import read_records
    from ipsec_inspect.sources.capture_file import CaptureError

    options = decode_options(args)
    decryptor = Decryptor(store, extension_tables=options.extension_tables)
    try:
        for record in read_records(capture, options):
            decryptor.process(record)
    except CaptureError as e:
        raise InputError(str(e)) from None
    return decryptor


def run(args: argparse.Namespace) -> int:
    if args.format == "wireshark" and not args.include_keys:
        raise UsageError("Wireshark tables are key material; add --include-keys to write them")
    from ipsec_inspect.crypto.keyfiles.toml_keys import write_toml
    from ipsec_inspect.crypto.keyfiles.wireshark import write_wireshark
    from ipsec_inspect.crypto.keys import KeySource
    from ipsec_inspect.pipeline.session import load_keys

    store = load_keys(args.keys, extensions_of(args).key_formats)
    decryptor = known_keys(args.capture, store, args)
    out = Path(args.out)
    derived = sum(k.source is KeySource.DERIVED for k in store.sa_keys()) + sum(
        k.source is KeySource.DERIVED for k in store.ike_keys()
    )
    if args.format == "wireshark":
        try:
            out.mkdir(parents=True, exist_ok=True)
            for name, text in write_wireshark(store).items():
                (out / name).write_text(text, encoding="utf-8")
        except OSError as e:
            raise InputError(f"{out}: cannot be written ({e.strerror or e})") from None
    else:
        try:
            out.write_text(write_toml(store, args.include_keys), encoding="utf-8")
        except OSError as e:
            raise InputError(f"{out}: cannot be written ({e.strerror or e})") from None
    for problem in [*store.problems, *decryptor.problems()]:
        print(f"ipsec-inspect: warning: {problem}", file=sys.stderr)
    print(f"{out}: {len(store)} keys written ({derived} derived from the capture)", file=sys.stderr)
    return 0
