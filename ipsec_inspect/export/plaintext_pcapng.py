"""Writing a decrypted capture as pcapng, every frame kept.

Why pcapng: the input may have several interfaces with their own link types and timestamp
resolutions, comments and other blocks; a classic pcap holds one link type and none of
that, so frames were dropped. Here every block of a pcapng input is copied byte for byte,
and a frame whose ESP packet was decrypted is written as an Enhanced Packet Block on the
same interface with the same raw timestamp and options, plus an ``opt_comment`` saying
what was replaced. A pcap input becomes one section with one interface of its link type
and timestamp unit (``if_tsresol`` 9 for nanosecond pcap).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from ipsec_inspect import __version__
from ipsec_inspect.sources.capture_units import (
    EPB,
    PCAP_RECORD,
    SPB,
    PcapHeader,
    RawBlock,
    RawPacket,
    Unit,
)

_SHB = 0x0A0D0D0A
_IDB = 1
_OPT_COMMENT = 1
_SHB_USERAPPL = 4
_IF_TSRESOL = 9


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(endian: str, code: int, value: bytes) -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + _pad(value)


def _block(endian: str, kind: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack(endian + "II", kind, total) + body + struct.pack(endian + "I", total)


class PcapngRewriter:
    """Writes the units of a capture, each frame as read or with new packet bytes."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.frames = 0

    def unit(self, unit: Unit, new_data: bytes | None = None, comment: str = "") -> None:
        if isinstance(unit, RawBlock):
            self._fh.write(unit.raw)
        elif isinstance(unit, PcapHeader):
            self._fh.write(self._pcap_section(unit))
        else:
            self.frames += 1
            self._fh.write(self._packet(unit, new_data, comment))

    @staticmethod
    def _pcap_section(header: PcapHeader) -> bytes:
        e = "<"
        shb_opts = _option(e, _SHB_USERAPPL, f"ipsec-inspect {__version__}".encode())
        shb = _block(e, _SHB, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts + b"\0" * 4)
        idb_opts = _option(e, _IF_TSRESOL, bytes([9 if header.nanoseconds else 6]))
        idb = _block(
            e,
            _IDB,
            struct.pack(e + "HHI", header.link_type, 0, header.snaplen) + idb_opts + b"\0" * 4,
        )
        return shb + idb

    @staticmethod
    def _packet(p: RawPacket, new_data: bytes | None, comment: str) -> bytes:
        if p.kind != PCAP_RECORD and new_data is None:
            return p.raw  # byte for byte, options and all
        data = p.data if new_data is None else new_data
        orig = p.orig_len if new_data is None else len(new_data)
        e = p.endian if p.kind != PCAP_RECORD else "<"
        options = p.options if p.kind not in (SPB, PCAP_RECORD) else b""
        if comment:
            options += _option(e, _OPT_COMMENT, comment.encode())
        if options:
            options += b"\0" * 4  # opt_endofopt
        iface = p.iface if p.kind != SPB else 0
        ts = p.ts_units
        body = struct.pack(
            e + "IIIII", iface, ts >> 32 & 0xFFFFFFFF, ts & 0xFFFFFFFF, len(data), orig
        )
        return _block(e, EPB, body + _pad(data) + options)
