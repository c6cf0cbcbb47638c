"""``ipsec-inspect decrypt CAPTURE --keys PATH -o PLAIN.pcapng``: a capture without ESP.

Why: once the traffic is decrypted, every other tool (tcpdump, Wireshark without key
tables, Zeek, an IDS) should be able to read it. Every frame of the input is written in
order with its timestamp; each ESP packet that decrypted and verified is replaced by the
packet it carried (nested ESP is peeled too), everything else is copied unchanged. Keys
derived from the IKE exchanges in the capture are used like supplied ones.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ipsec_inspect.commands._common import (
    add_capture_arguments,
    decode_options,
    extensions_of,
    time_window,
)
from ipsec_inspect.core.errors import InputError

if TYPE_CHECKING:  # imported when the command runs: every command is imported at start-up
    from ipsec_inspect.export.plaintext_rewriter import PlaintextRewriter
    from ipsec_inspect.sources.capture_units import Unit
    from ipsec_inspect.sources.multi import MergedReader

NAME = "decrypt"
HELP = "write a copy of a capture with every decrypted ESP packet replaced by its plaintext"
DESCRIPTION = (
    "Decrypt ESP with the given keys (and keys derived from the IKE exchanges in the "
    "capture) and write a pcapng: each decrypted ESP packet is replaced by its inner packet "
    "(tunnel mode) or the reconstructed IP packet (transport mode) and marked with a "
    "comment; every other frame and block is copied unchanged (-F pcap: a classic pcap)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_capture_arguments(p)
    p.add_argument(
        "-o", "--output", required=True, metavar="PLAIN.pcapng", help="capture file to write"
    )
    p.add_argument(
        "-F",
        "--output-format",
        choices=("pcapng", "pcap"),
        default="pcapng",
        help="pcapng (default): every frame kept with its interface, link type, timestamp "
        "resolution and comments, replaced frames marked by a comment; pcap: one link "
        "type, microseconds (frames of other link types are left out and named)",
    )


def _numbers(frames: list[int]) -> str:
    shown = ", ".join(map(str, frames[:20]))
    return shown + (f" and {len(frames) - 20} more" if len(frames) > 20 else "")


def _write_pcapng(units: Iterable[Unit], fh: BinaryIO, rewriter: PlaintextRewriter) -> None:
    """Every unit of the input, packets rewritten where their ESP decrypted."""
    from ipsec_inspect.export.plaintext_pcapng import PcapngRewriter
    from ipsec_inspect.sources.capture_units import RawPacket

    writer = PcapngRewriter(fh)
    for unit in units:
        if not isinstance(unit, RawPacket):
            writer.unit(unit)
            continue
        if not unit.usable:
            writer.unit(unit)  # a broken block: copied as it is, never dropped
            continue
        data = unit.data
        new = rewriter.frame(
            unit.number, unit.time, unit.link_type, data, unit.orig_len, unit.iface
        )
        if new is data:
            writer.unit(unit)
        else:
            comment = (
                f"ipsec-inspect: ESP SPI 0x{rewriter.last_spi:08x} decrypted; "
                f"the captured frame was {len(data)} bytes"
            )
            writer.unit(unit, new, comment)


def _write_merged_pcapng(
    units: Iterable[tuple[int, Unit, int]],
    fh: BinaryIO,
    rewriter: PlaintextRewriter,
    on_dropped: Callable[[str], None],
) -> None:
    """Several inputs (or a time window) as one pcapng: each input's interfaces kept and
    numbered on (``export.merged_pcapng``), packets in merged order and numbering."""
    from ipsec_inspect.export.merged_pcapng import MergedPcapngWriter
    from ipsec_inspect.sources.capture_units import RawPacket

    writer = MergedPcapngWriter(fh, on_dropped)
    for source, unit, number in units:
        if number < 0:
            continue  # a packet outside --since/--until
        if not isinstance(unit, RawPacket) or not unit.usable or number == 0:
            writer.unit(source, unit)
            continue
        data = unit.data
        new = rewriter.frame(number, unit.time, unit.link_type, data, unit.orig_len, unit.iface)
        if new is data:
            writer.unit(source, unit)
        else:
            comment = (
                f"ipsec-inspect: ESP SPI 0x{rewriter.last_spi:08x} decrypted; "
                f"the captured frame was {len(data)} bytes"
            )
            writer.unit(source, unit, new, comment)


def _write_pcap(reader: MergedReader, fh: BinaryIO, rewriter: PlaintextRewriter) -> list[int]:
    """The classic pcap output; returns the frames left out (another link type)."""
    from ipsec_inspect.export.plaintext_pcap import LINKTYPE_RAW, PcapWriter

    skipped: list[int] = []
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
    return skipped


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: every command module is imported to build the parser.
    from ipsec_inspect.core.records import CaptureWarning
    from ipsec_inspect.crypto.decryptor import Decryptor
    from ipsec_inspect.crypto.key_usage import SeenSpis, key_match_lines
    from ipsec_inspect.export.plaintext_rewriter import PlaintextRewriter
    from ipsec_inspect.ipsec.dissectors import ipsec_decoder
    from ipsec_inspect.pipeline.session import load_keys
    from ipsec_inspect.sources.capture_file import CaptureError
    from ipsec_inspect.sources.capture_units import iter_units
    from ipsec_inspect.sources.multi import MergedReader, expand_inputs
    from ipsec_inspect.sources.warning_log import WarningLog

    store = load_keys(args.keys, extensions_of(args).key_formats)
    options = decode_options(args)
    out_path = Path(args.output)
    warnings = WarningLog()  # capped per kind, as every command's warnings are
    reader: MergedReader | None = None
    units: Iterator[Unit] = iter(())
    merged_stream: Iterator[tuple[int, Unit, int]] | None = None
    dropped: list[str] = []
    try:  # open the capture first: "not a capture" is said before anything is written
        inputs = expand_inputs(args.capture)
        window = time_window(args)
        merged = len(inputs.names) > 1 or window is not None
        warnings.extend(CaptureWarning(0, line) for line in inputs.skipped)
        if args.output_format == "pcap":
            reader = MergedReader(inputs.names, window=window)
            reader.on_warning = warnings.append
        elif merged:
            from ipsec_inspect.sources.capture_units import iter_units as _check
            from ipsec_inspect.sources.merged_units import merged_units

            for name in inputs.names:  # "not a capture" is said before anything is written
                probe = _check(name, lambda w: None)  # a generator
                next(probe, None)
                probe.close()  # type: ignore[attr-defined]
            merged_stream = merged_units(inputs.names, warnings.append, window)
        else:
            units = iter_units(inputs.names[0], warnings.append)
            first = next(units, None)
            units = itertools.chain([first] if first is not None else [], units)
    except CaptureError as e:
        raise InputError(str(e)) from None
    if not args.keys:
        if reader is not None:
            reader.close()
        print(
            "ipsec-inspect: decrypt needs keys (--keys FILE or folder): without them no "
            "ESP packet can be decrypted, and nothing was written",
            file=sys.stderr,
        )
        return 1
    decryptor = Decryptor(store, extension_tables=options.extension_tables)
    rewriter = PlaintextRewriter(decryptor, ipsec_decoder(options), ipsec_decoder(options))
    skipped: list[int] = []
    try:
        with open(out_path, "wb") as fh:
            if reader is not None:
                with reader:
                    skipped = _write_pcap(reader, fh, rewriter)
            elif merged_stream is not None:
                _write_merged_pcapng(merged_stream, fh, rewriter, dropped.append)
            else:
                _write_pcapng(units, fh, rewriter)
    except CaptureError as e:
        raise InputError(str(e)) from None
    except OSError as e:
        raise InputError(f"{out_path}: cannot be written ({e.strerror or e})") from None
    if dropped:
        print(
            f"ipsec-inspect: warning: {len(dropped)} blocks of big-endian pcapng sections "
            f"could not be merged into {out_path} ({dropped[0]}, …)",
            file=sys.stderr,
        )
    seen = SeenSpis.of(rewriter.seen_sa, rewriter.seen_ike)
    for problem in [
        *warnings.lines(),
        *store.problems,
        *decryptor.problems(),
        *key_match_lines(store, seen),
    ]:
        print(f"ipsec-inspect: warning: {problem}", file=sys.stderr)
    status = 0
    if skipped:
        print(
            f"ipsec-inspect: {len(skipped)} frames have another link type than the first "
            f"and are not in {out_path} (a pcap holds one link type): frames "
            f"{_numbers(skipped)}; write pcapng (the default) to keep them",
            file=sys.stderr,
        )
        status = 1
    print(
        f"{out_path}: {rewriter.replaced} ESP packets replaced by their plaintext, "
        f"{rewriter.kept_encrypted} kept as captured",
        file=sys.stderr,
    )
    if rewriter.replaced == 0:
        why = (
            "the capture has no ESP packet"
            if rewriter.esp_packets == 0
            else f"no given or derived key decrypted any of its {rewriter.esp_packets} ESP packets"
        )
        print(f"ipsec-inspect: nothing was decrypted: {why}", file=sys.stderr)
        status = 1
    return status
