"""``ipsec-inspect decrypt CAPTURE --keys PATH -o PLAIN.pcap``: a capture without ESP.

Why: once the traffic is decrypted, every other tool (tcpdump, Wireshark without key
tables, Zeek, an IDS) should be able to read it. Every frame of the input is written in
order with its timestamp; each ESP packet that decrypted and verified is replaced by the
packet it carried (nested ESP is peeled too), everything else is copied unchanged. Keys
derived from the IKE exchanges in the capture are used like supplied ones.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ipsec_inspect.commands._common import add_capture_arguments, decode_options, extensions_of
from ipsec_inspect.core.errors import InputError

NAME = "decrypt"
HELP = "write a copy of a capture with every decrypted ESP packet replaced by its plaintext"
DESCRIPTION = (
    "Decrypt ESP with the given keys (and keys derived from the IKE exchanges in the "
    "capture) and write a pcap in the input's link type: each decrypted ESP packet is "
    "replaced by its inner packet (tunnel mode) or the reconstructed IP packet (transport "
    "mode); all other frames are copied unchanged, timestamps kept."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_capture_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="PLAIN.pcap", help="pcap file to write")


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: every command module is imported to build the parser.
    from ipsec_inspect.crypto.decryptor import Decryptor
    from ipsec_inspect.export.plaintext_pcap import LINKTYPE_RAW, PcapWriter
    from ipsec_inspect.export.plaintext_rewriter import PlaintextRewriter
    from ipsec_inspect.pipeline.session import load_keys
    from ipsec_inspect.sources.capture_file import CaptureError, CaptureReader
    from ipsec_inspect.wire.decoder import Decoder

    store = load_keys(args.keys, extensions_of(args).key_formats)
    options = decode_options(args)
    out_path = Path(args.output)
    try:
        reader = CaptureReader(args.capture)
    except CaptureError as e:
        raise InputError(str(e)) from None
    decryptor = Decryptor(store, extension_tables=options.extension_tables)
    rewriter = PlaintextRewriter(decryptor, Decoder(options), Decoder(options))
    skipped: list[int] = []
    try:
        with reader, open(out_path, "wb") as fh:
            writer: PcapWriter | None = None
            for number, time, link_type, data, orig_len, iface in reader:
                if writer is None:
                    writer = PcapWriter(fh, link_type)
                if link_type != writer.link_type:
                    skipped.append(number)  # a pcap file has one link type
                    continue
                new = rewriter.frame(number, time, link_type, data, orig_len, iface)
                writer.write(time, new, orig_len if new is data else len(new))
            if writer is None:
                PcapWriter(fh, LINKTYPE_RAW)
    except CaptureError as e:
        raise InputError(str(e)) from None
    except OSError as e:
        raise InputError(f"{out_path}: cannot be written ({e.strerror or e})") from None
    for problem in [*store.problems, *decryptor.problems()]:
        print(f"ipsec-inspect: warning: {problem}", file=sys.stderr)
    if skipped:
        print(
            f"ipsec-inspect: warning: {len(skipped)} frames (first: {skipped[0]}) have another "
            "link type than the first frame and were not written",
            file=sys.stderr,
        )
    print(
        f"{out_path}: {rewriter.replaced} ESP packets replaced by their plaintext, "
        f"{rewriter.kept_encrypted} kept as captured",
        file=sys.stderr,
    )
    return 0
