"""Link layers: where the IP header starts in a frame, and which IP version it is.

Why a module of its own: the decoder, the fast lane (``wire/fast_esp.py``), the decryption
workers and the decrypted-pcap writer must agree on where IP starts in every link type, so
they all read the one table here (``LINK_PARSERS``), link type -> parser, as dpkt's
``pcap`` link-type switch. A parser returns (offset of the IP header, version 4/6), or
(-1, 0) for a frame that does not carry IP.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

# Link types (https://www.tcpdump.org/linktypes.html)
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_OLD = 12
LINKTYPE_RAW_OLD2 = 14
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
ETH_PPPOE_SESSION = 0x8864
ETH_MPLS = frozenset({0x8847, 0x8848})


def _link_ethernet(d: bytes) -> tuple[int, int]:
    if len(d) < 14:
        return -1, 0
    off = 12
    etype = (d[12] << 8) | d[13]
    while etype in ETH_VLAN_TAGS:
        off += 4
        if len(d) < off + 2:
            return -1, 0
        etype = (d[off] << 8) | d[off + 1]
    off += 2
    if etype == ETH_IPV4:
        return off, 4
    if etype == ETH_IPV6:
        return off, 6
    if etype == ETH_PPPOE_SESSION and len(d) >= off + 8:
        ppp = (d[off + 6] << 8) | d[off + 7]
        if ppp == 0x0021:
            return off + 8, 4
        if ppp == 0x0057:
            return off + 8, 6
        return -1, 0
    if etype in ETH_MPLS:
        while len(d) >= off + 4:
            bottom = d[off + 2] & 0x01
            off += 4
            if bottom:
                break
        return _by_version(d, off)
    return -1, 0


def _by_version(d: bytes, off: int) -> tuple[int, int]:
    if len(d) <= off:
        return -1, 0
    v = d[off] >> 4
    if v in (4, 6):
        return off, v
    return -1, 0


def _link_raw(d: bytes) -> tuple[int, int]:
    return _by_version(d, 0)


_AF_INET6 = frozenset({10, 24, 28, 30})  # Linux, BSD, FreeBSD, macOS values of AF_INET6


def _by_family(family: int) -> tuple[int, int]:
    """BSD null/loopback: a 4-byte address family before the IP header."""
    if family == 2:
        return 4, 4
    if family in _AF_INET6:
        return 4, 6
    return -1, 0


def _link_null(d: bytes) -> tuple[int, int]:
    # Address family in the host byte order of the capturing machine.
    if len(d) < 4:
        return -1, 0
    fam = struct.unpack_from("<I", d)[0]
    if fam > 0xFFFF:
        fam = struct.unpack_from(">I", d)[0]
    return _by_family(fam)


def _link_loop(d: bytes) -> tuple[int, int]:
    return _by_family(struct.unpack_from(">I", d)[0]) if len(d) >= 4 else (-1, 0)


def _by_ethertype(d: bytes, type_at: int, ip_at: int) -> tuple[int, int]:
    """Link headers that name the payload by an EtherType at ``type_at`` (SLL, SLL2)."""
    if len(d) < ip_at:
        return -1, 0
    proto = (d[type_at] << 8) | d[type_at + 1]
    if proto == ETH_IPV4:
        return ip_at, 4
    if proto == ETH_IPV6:
        return ip_at, 6
    return -1, 0


def _link_sll(d: bytes) -> tuple[int, int]:
    return _by_ethertype(d, 14, 16)


def _link_sll2(d: bytes) -> tuple[int, int]:
    return _by_ethertype(d, 0, 20)


#: link type -> parser; a link type missing here is "not IP" to every reader
LINK_PARSERS: dict[int, Callable[[bytes], tuple[int, int]]] = {
    LINKTYPE_ETHERNET: _link_ethernet,
    LINKTYPE_NULL: _link_null,
    LINKTYPE_LOOP: _link_loop,
    LINKTYPE_RAW: _link_raw,
    LINKTYPE_RAW_OLD: _link_raw,
    LINKTYPE_RAW_OLD2: _link_raw,
    LINKTYPE_IPV4: _link_raw,
    LINKTYPE_IPV6: _link_raw,
    LINKTYPE_LINUX_SLL: _link_sll,
    LINKTYPE_LINUX_SLL2: _link_sll2,
}


def link_ip_offset(link_type: int, data: bytes) -> tuple[int, int]:
    """(offset of the IP header, IP version) in a frame of ``link_type``; (-1, 0) if not IP."""
    parser = LINK_PARSERS.get(link_type)
    return parser(data) if parser is not None else (-1, 0)
