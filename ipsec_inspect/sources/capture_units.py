"""A capture as its raw units, for rewriting it without loss: every pcapng block as it is
in the file, and every packet with its raw timestamp, interface and options.

Why not :class:`~ipsec_inspect.sources.capture_file.CaptureReader`: analysis needs frames
(a float time, the bytes); a rewritten capture (``decrypt``) must keep what analysis
drops — other block types, per-packet comments and options, the timestamp in its
interface's own units (a float cannot hold nanoseconds since 1970), several sections.
Frames are numbered as the reader numbers them (each packet block is one frame, a broken
one included), so messages and the analysis agree on frame numbers.

Memory stays bounded: one block at a time, and a block longer than
:data:`MAX_BLOCK_BYTES` ends the reading with a warning instead of being allocated.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ipsec_inspect.core.records import CaptureWarning
from ipsec_inspect.sources.capture_file import CaptureError, _open_stream

#: A pcapng block or pcap record longer than this is taken for damage (jumbo frames and
#: GRO super-packets stay far below it).
MAX_BLOCK_BYTES = 16 * 1024 * 1024

SHB = 0x0A0D0D0A
IDB = 1
PB = 2  # obsolete Packet Block
SPB = 3
EPB = 6
PCAP_RECORD = 0

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}


@dataclass(slots=True)
class RawBlock:
    """A pcapng block that is not a packet (section, interface, statistics, names, …)."""

    block_type: int
    raw: bytes
    endian: str


@dataclass(slots=True)
class PcapHeader:
    """The file header of a classic pcap: its one link type and timestamp unit."""

    link_type: int
    snaplen: int
    nanoseconds: bool


@dataclass(slots=True)
class RawPacket:
    """One frame: what analysis reads, and what a rewriter needs to write it back."""

    number: int
    time: float
    link_type: int
    data: bytes
    orig_len: int
    iface: int
    ts_units: int  # the raw timestamp, in its interface's units
    options: bytes  # pcapng packet options as in the file (without end-of-options)
    raw: bytes  # the whole block or record as read, copied when the frame is not replaced
    kind: int  # EPB, SPB, PB, or PCAP_RECORD
    endian: str
    usable: bool = True  # False: a broken block, copied as it is but not analysed


@dataclass(slots=True)
class _Interface:
    link_type: int
    resolution: float
    offset: int


Unit = RawBlock | PcapHeader | RawPacket


def _read(fh: BinaryIO, n: int) -> bytes:
    try:
        return fh.read(n)
    except (OSError, EOFError, zlib.error) as exc:  # damaged compression
        raise _Damaged(str(exc) or type(exc).__name__) from None


class _Damaged(Exception):
    pass


def iter_units(path: str, on_warning: Callable[[CaptureWarning], None]) -> Iterator[Unit]:
    """Every unit of the capture at ``path`` in file order. Damage ends the iteration with
    one warning naming the frame; what came before has been yielded."""
    fh, raw_fh, _compressed = _open_stream(path)
    try:
        try:
            magic = _read(fh, 4)
        except _Damaged as exc:
            raise CaptureError(f"{path}: cannot be decompressed ({exc})") from None
        if magic in _PCAP_MAGICS:
            yield from _pcap(fh, magic, on_warning)
        elif magic == struct.pack("<I", SHB):
            yield from _pcapng(fh, magic, on_warning)
        else:
            raise CaptureError(f"{path}: not a pcap or pcapng capture")
    finally:
        fh.close()
        if raw_fh is not fh:
            raw_fh.close()


def _pcap(fh: BinaryIO, magic: bytes, warn: Callable[[CaptureWarning], None]) -> Iterator[Unit]:
    endian, nano = _PCAP_MAGICS[magic]
    try:
        rest = _read(fh, 20)
    except _Damaged as exc:
        warn(CaptureWarning(1, f"pcap file header unreadable ({exc})"))
        return
    if len(rest) < 20:
        warn(CaptureWarning(1, "pcap file header truncated (fewer than 24 bytes)"))
        return
    snaplen, network = struct.unpack_from(endian + "II", rest, 12)
    link_type = network & 0x0FFFFFFF
    yield PcapHeader(link_type, snaplen, nano)
    unit = 1e-9 if nano else 1e-6
    record = struct.Struct(endian + "IIII")
    number = 0
    while True:
        try:
            head = _read(fh, 16)
            if not head:
                return
            if len(head) < 16:
                warn(CaptureWarning(number + 1, "record header truncated; capture ends here"))
                return
            sec, frac, incl, orig = record.unpack(head)
            if incl > MAX_BLOCK_BYTES:
                warn(
                    CaptureWarning(
                        number + 1,
                        f"captured length {incl} is over {MAX_BLOCK_BYTES} bytes; "
                        "the rest of the file is corrupt and was not read",
                    )
                )
                return
            data = _read(fh, incl)
        except _Damaged as exc:
            warn(CaptureWarning(number + 1, f"decompression failed ({exc}); capture ends here"))
            return
        if len(data) < incl:
            warn(CaptureWarning(number + 1, "record truncated; capture ends here"))
            return
        number += 1
        ts = sec * (1_000_000_000 if nano else 1_000_000) + frac
        yield RawPacket(
            number, sec + frac * unit, link_type, data, orig, 0, ts, b"", head + data,
            PCAP_RECORD, endian,
        )  # fmt: skip


def _pcapng(fh: BinaryIO, first: bytes, warn: Callable[[CaptureWarning], None]) -> Iterator[Unit]:
    pending = first
    endian = "<"
    interfaces: list[_Interface] = []
    number = 0
    while True:
        try:
            head = pending + _read(fh, 12 - len(pending))
            pending = b""
            if not head:
                return
            if len(head) < 12:
                warn(CaptureWarning(number + 1, "block header truncated; capture ends here"))
                return
            block_type = struct.unpack_from("<I", head)[0]
            if block_type == SHB:
                bom = head[8:12]
                endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
                if bom not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                    warn(CaptureWarning(number + 1, "section header with a bad byte-order magic"))
                    return
                interfaces = []
            block_type, length = struct.unpack_from(endian + "II", head)
            if length < 12 or length % 4 or length > MAX_BLOCK_BYTES:
                warn(
                    CaptureWarning(
                        number + 1,
                        f"corrupt block (type {block_type:#x}, length {length}); "
                        "the rest of the file was not read",
                    )
                )
                return
            rest = _read(fh, length - 12)
        except _Damaged as exc:
            warn(CaptureWarning(number + 1, f"decompression failed ({exc}); capture ends here"))
            return
        if len(rest) < length - 12:
            warn(CaptureWarning(number + 1, "block truncated; capture ends here"))
            return
        raw = head + rest
        if block_type == IDB and length >= 20:
            interfaces.append(_interface(raw, endian))
        if block_type in (EPB, PB, SPB):
            number += 1
            yield _packet(number, block_type, raw, endian, interfaces)
        else:
            yield RawBlock(block_type, raw, endian)


def _interface(raw: bytes, endian: str) -> _Interface:
    link_type = struct.unpack_from(endian + "H", raw, 8)[0]
    resolution, offset = 1e-6, 0
    pos, end = 16, len(raw) - 4
    while pos + 4 <= end:
        code, size = struct.unpack_from(endian + "HH", raw, pos)
        value = raw[pos + 4 : pos + 4 + size]
        pos += 4 + ((size + 3) & ~3)
        if code == 0:
            break
        if code == 9 and size >= 1:
            r = value[0]
            resolution = 2.0 ** -(r & 0x7F) if r & 0x80 else 10.0 ** -(r & 0x7F)
        elif code == 14 and size == 8:
            offset = struct.unpack(endian + "q", value)[0]
    return _Interface(link_type, resolution, offset)


def _packet(
    number: int, block_type: int, raw: bytes, endian: str, interfaces: list[_Interface]
) -> RawPacket:
    body_end = len(raw) - 4
    broken = RawPacket(number, 0.0, 0, b"", 0, 0, 0, b"", raw, block_type, endian, usable=False)
    if block_type == SPB:
        if not interfaces or body_end < 12:
            return broken
        (orig,) = struct.unpack_from(endian + "I", raw, 8)
        incl = min(orig, body_end - 12)
        iface = interfaces[0]
        return RawPacket(
            number, 0.0, iface.link_type, raw[12 : 12 + incl], orig, 0, 0, b"", raw, SPB, endian
        )
    if body_end - 8 < 20:
        return broken
    if block_type == EPB:
        iface_id, ts_hi, ts_lo, incl, orig = struct.unpack_from(endian + "IIIII", raw, 8)
    else:
        iface_id, _drops, ts_hi, ts_lo, incl, orig = struct.unpack_from(endian + "HHIIII", raw, 8)
    data_end = 28 + incl
    if iface_id >= len(interfaces) or data_end > body_end:
        return broken
    iface = interfaces[iface_id]
    ts = (ts_hi << 32) | ts_lo
    options = raw[28 + ((incl + 3) & ~3) : body_end]
    return RawPacket(
        number, ts * iface.resolution + iface.offset, iface.link_type, raw[28:data_end], orig,
        iface_id, ts, _without_end(options, endian), raw, block_type, endian,
    )  # fmt: skip


def _without_end(options: bytes, endian: str) -> bytes:
    """The options up to (not including) opt_endofopt."""
    pos = 0
    while pos + 4 <= len(options):
        code, size = struct.unpack_from(endian + "HH", options, pos)
        if code == 0:
            return options[:pos]
        pos += 4 + ((size + 3) & ~3)
    return options[:pos]
