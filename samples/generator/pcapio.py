"""Minimal, deterministic pcap and pcapng writers.

Why our own: scapy's writers take timestamps from packets and support one interface per
file; the samples need several interfaces with different link types and timestamp
resolutions in one pcapng, and records that are deliberately truncated. Both are a few
``struct.pack`` calls.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

SNAPLEN = 262144


def pcap_bytes(records: list[tuple[float, bytes]], linktype: int = LINKTYPE_RAW) -> bytes:
    """A classic little-endian microsecond pcap file holding ``records`` (time, frame)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, linktype)]
    for ts, frame in records:
        out.append(pcap_record(ts, frame))
    return b"".join(out)


def pcap_record(ts: float, frame: bytes, orig_len: int | None = None) -> bytes:
    """One pcap record header plus its data (microsecond resolution)."""
    usec_total = round(ts * 1_000_000)
    sec, usec = divmod(usec_total, 1_000_000)
    orig = len(frame) if orig_len is None else orig_len
    return struct.pack("<IIII", sec, usec, len(frame), orig) + frame


def _units(ts: float, tsresol: int) -> int:
    """``ts`` in units of 10^-tsresol s, exactly: timestamps are whole microseconds, and a
    float times 10^9 would lose the nanosecond digits of a 2026 epoch time."""
    usec = round(ts * 1_000_000)
    if tsresol >= 6:
        return usec * 10 ** (tsresol - 6)
    return usec // 10 ** (6 - tsresol)


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad4(value)


def _block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


@dataclass
class Interface:
    """A pcapng interface: link type, name and timestamp resolution exponent (10^-n s)."""

    linktype: int
    name: str
    tsresol: int = 6


@dataclass
class PcapNgWriter:
    """Builds a pcapng section with several interfaces, in memory."""

    interfaces: list[Interface] = field(default_factory=list)
    packets: list[bytes] = field(default_factory=list)

    def add_interface(self, linktype: int, name: str, tsresol: int = 6) -> int:
        self.interfaces.append(Interface(linktype, name, tsresol))
        return len(self.interfaces) - 1

    def add_packet(self, interface: int, ts: float, frame: bytes, comment: str = "") -> None:
        """An Enhanced Packet Block; the timestamp is converted to the interface's units."""
        units = _units(ts, self.interfaces[interface].tsresol)
        body = struct.pack(
            "<IIIII", interface, units >> 32, units & 0xFFFFFFFF, len(frame), len(frame)
        )
        body += _pad4(frame)
        if comment:
            body += _option(1, comment.encode()) + _option(0, b"")
        self.packets.append(_block(6, body))

    def add_simple_packet(self, frame: bytes) -> None:
        """A Simple Packet Block (always interface 0, no timestamp)."""
        self.packets.append(_block(3, struct.pack("<I", len(frame)) + _pad4(frame)))

    def add_unknown_block(self, block_type: int, payload: bytes) -> None:
        """A block a reader does not know and must skip."""
        self.packets.append(_block(block_type, _pad4(payload)))

    def to_bytes(self) -> bytes:
        shb_opts = _option(4, b"ipsec-inspect sample generator") + _option(0, b"")
        shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)
        idbs = []
        for itf in self.interfaces:
            opts = _option(2, itf.name.encode())
            if itf.tsresol != 6:
                opts += _option(9, bytes([itf.tsresol]))
            opts += _option(0, b"")
            idbs.append(_block(1, struct.pack("<HHI", itf.linktype, 0, SNAPLEN) + opts))
        return shb + b"".join(idbs) + b"".join(self.packets)
