"""Rewriting frames for a decrypted capture: ESP replaced by what it carried.

Why a module of its own: ``ipsec-inspect decrypt`` promises a file that opens in any
tool, so the output keeps the input's link type and every frame that is not a decrypted
ESP packet byte for byte. A decrypted ESP packet becomes its inner IP packet (tunnel
mode) or its outer IP header re-labelled with the next header it carried and followed by
the payload (transport mode; a NAT-T UDP header is dropped with the ESP header). The
link-layer header in front is kept, with its protocol field adjusted when the inner IP
version differs from the outer one.

What is not rewritten (and therefore copied unchanged, and counted by the caller):
dummy packets (next header 59), ESP carried over TCP (RFC 8229 stream framing), ESP that
arrived in IP fragments, and link types whose header cannot be adjusted.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from ipsec_inspect.core.records import EspPacket, Transport
from ipsec_inspect.wire.link import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    LINKTYPE_RAW_OLD,
    LINKTYPE_RAW_OLD2,
    link_ip_offset,
)

_ETHERTYPE = {4: 0x0800, 6: 0x86DD}
_RAW_TYPES = frozenset({LINKTYPE_RAW, LINKTYPE_RAW_OLD, LINKTYPE_RAW_OLD2})
# IPv6 extension headers that may sit between the fixed header and ESP / UDP.
_V6_EXTENSIONS = frozenset({0, 43, 60, 135, 139, 140, 253, 254})
NEXT_HEADER_DUMMY = 59
MAX_NESTING = 4


class PcapWriter:
    """A classic microsecond pcap file: the format every tool reads."""

    def __init__(self, fh: BinaryIO, link_type: int, snaplen: int = 262144) -> None:
        self._fh = fh
        self.link_type = link_type
        self.frames = 0
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, link_type))

    def write(self, time: float, data: bytes, orig_len: int = 0) -> None:
        # Split before scaling: ``time * 1e6`` loses the last microsecond digit.
        sec = int(time)
        usec = round((time - sec) * 1_000_000)
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        self._fh.write(struct.pack("<IIII", sec, usec, len(data), max(orig_len, len(data))))
        self._fh.write(data)
        self.frames += 1


def ip_offset(link_type: int, frame: bytes) -> int:
    """Where the IP header starts in a frame of ``link_type``; -1 when it is not IP or
    the link header is one this module cannot adjust (PPPoE, MPLS: their length fields or
    labels would need rewriting too)."""
    off, _version = link_ip_offset(link_type, frame)
    if off < 0:
        return -1
    if link_type == LINKTYPE_ETHERNET and frame[off - 2 : off] not in (b"\x08\x00", b"\x86\xdd"):
        return -1
    return off


def _link_header(link_type: int, header: bytes, version: int, outer_version: int) -> bytes | None:
    """The link header in front of an IP packet of ``version`` (None: cannot express)."""
    if version == outer_version:
        return header
    if link_type in (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL):
        return header[:-2] + struct.pack("!H", _ETHERTYPE[version])
    if link_type == LINKTYPE_LINUX_SLL2:
        return struct.pack("!H", _ETHERTYPE[version]) + header[2:]
    if link_type in (LINKTYPE_NULL, LINKTYPE_LOOP):
        family = 2 if version == 4 else 24  # AF_INET; the BSD AF_INET6 every reader knows
        little = link_type == LINKTYPE_NULL and struct.unpack("<I", header)[0] <= 0xFFFF
        return struct.pack("<I" if little else ">I", family)
    if link_type in _RAW_TYPES:
        return header
    return None


def _ipv4_checksum(header: bytes | bytearray) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", bytes(header)))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _transport_v4(packet: bytes, esp_at: int, next_header: int, payload: bytes) -> bytes | None:
    ihl = (packet[0] & 0x0F) * 4
    proto = packet[9]
    if len(packet) < ihl or not (
        (proto == 50 and esp_at == ihl) or (proto == 17 and esp_at == ihl + 8)
    ):
        return None
    hdr = bytearray(packet[:ihl])
    hdr[9] = next_header
    struct.pack_into("!H", hdr, 2, ihl + len(payload))
    hdr[6] &= 0x40  # keep DF, clear MF and the fragment offset
    hdr[7] = 0
    hdr[10:12] = b"\x00\x00"
    struct.pack_into("!H", hdr, 10, _ipv4_checksum(hdr))
    return bytes(hdr) + payload


def _transport_v6(packet: bytes, esp_at: int, next_header: int, payload: bytes) -> bytes | None:
    field = 6  # the byte holding the next-header value of the current header
    nh = packet[6]
    pos = 40
    while nh in _V6_EXTENSIONS and pos + 2 <= len(packet):
        field, nh = pos, packet[pos]
        pos += (packet[pos + 1] + 1) * 8
    if not ((nh == 50 and esp_at == pos) or (nh == 17 and esp_at == pos + 8)):
        return None
    hdr = bytearray(packet[:pos])
    hdr[field] = next_header
    struct.pack_into("!H", hdr, 4, pos - 40 + len(payload))
    return bytes(hdr) + payload


def plaintext_ip_packet(ip_packet: bytes, esp_at: int, pkt: EspPacket) -> bytes | None:
    """The IP packet that replaces ``ip_packet`` (which carries ``pkt`` at ``esp_at``),
    or None when it stays as it is."""
    d = pkt.decryption
    if d is None or d.status != "ok" or d.next_header == NEXT_HEADER_DUMMY:
        return None
    if pkt.meta.transport == Transport.TCP or pkt.meta.ip_fragmented or len(pkt.meta.frames) > 1:
        return None
    if d.next_header in (4, 41):
        return d.plaintext  # tunnel mode: the inner packet itself
    if not ip_packet:
        return None
    version = ip_packet[0] >> 4
    if version == 4 and len(ip_packet) >= 20:
        return _transport_v4(ip_packet, esp_at, d.next_header, d.plaintext)
    if version == 6 and len(ip_packet) >= 40:
        return _transport_v6(ip_packet, esp_at, d.next_header, d.plaintext)
    return None


def rebuild_frame(link_type: int, frame: bytes, ip_at: int, new_ip: bytes) -> bytes | None:
    """``frame`` with the IP packet at ``ip_at`` replaced by ``new_ip`` (None: the link
    header cannot carry it)."""
    if not new_ip:
        return None
    version = new_ip[0] >> 4
    outer = frame[ip_at] >> 4 if ip_at < len(frame) else 0
    if version not in (4, 6):
        return None
    if (link_type == LINKTYPE_IPV4 and version != 4) or (
        link_type == LINKTYPE_IPV6 and version != 6
    ):
        return None
    header = _link_header(link_type, frame[:ip_at], version, outer)
    return None if header is None else header + new_ip
