"""Find an IKEv2 IKE_SA_INIT request in a frame with a few byte compares, before any decoding.

Why: a capture taken during an IKE_SA_INIT flood is mostly such requests, each the first
and only message of a half-open IKE SA, and most of those SAs are evicted (``--max-sas``)
without anything ever reading them again. The pipeline therefore hands the tracker such a
request as its bytes (``Tracker.defer_first``), which dissects it only when the SA is
touched again or kept to the end; dissecting every one as it is read was most of a
flood's time. Like ``fast_esp``, this only has to be right, never complete: it takes
IPv4 without options or IPv6 without extension headers, unfragmented, UDP to or from a
port the decoder reads as IKE (500, or ``--decode-as``) but not 4500, and answers None for
everything else, which takes the full decoder.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

from ipsec_inspect.core.records import PacketMeta, Transport
from ipsec_inspect.wire.decoder import NATT_PORT
from ipsec_inspect.wire.link import link_ip_offset

#: version/IHL, total length, flags/fragment offset, protocol
_IPV4 = struct.Struct("!BxH2xHxB")
#: IPv6 payload length and next header
_IPV6 = struct.Struct("!4xHB")
_UDP = struct.Struct("!HHH")
#: the IKE header from the responder's SPI on: SPI_r, next payload, version, exchange type,
#: flags, message ID
_IKE = struct.Struct("!8x8sxBBBI")
_ZERO_SPI = bytes(8)
IKE_SA_INIT = 34
_FLAG_INITIATOR, _FLAG_RESPONSE = 0x08, 0x20
HEADER_LEN = 28

#: where a first IKE_SA_INIT request is: IP version, the source and destination addresses
#: (``data[addr_at:addr_at + n]`` and ``data[addr_at + n:addr_at + 2n]``, n = 4 or 16),
#: source and destination ports, the IKE message ``data[ike_at:ike_end]`` as the decoder
#: hands it to the dissector, and the IP packet's length on the wire
InitLocation = tuple[int, int, int, int, int, int, int]
InitLocator = Callable[[int, bytes], "InitLocation | None"]


def init_locator(udp_special: Mapping[int, str]) -> InitLocator:
    """The locator for a decoder's UDP port map (``Decoder.udp_special``), so that it finds
    only what that decoder would hand its IKE dissector (``Decoder._udp_ike``): a request
    the dissector reads as IKEv2 (major version 2), IKE_SA_INIT, initiator flag set, not a
    response, message ID 0, responder's SPI zero — the first message of an IKE SA."""
    natt_is_encap = udp_special.get(NATT_PORT) == "udpencap"
    ipv4 = _IPV4.unpack_from
    ipv6 = _IPV6.unpack_from
    udp_header = _UDP.unpack_from
    ike_header = _IKE.unpack_from

    def ike_in_udp(
        data: bytes, version: int, addr_at: int, udp_at: int, ip_end: int, wire_len: int
    ) -> InitLocation | None:
        if ip_end - udp_at < 8 + HEADER_LEN:
            return None
        sport, dport, ulen = udp_header(data, udp_at)
        if (udp_special.get(dport) or udp_special.get(sport)) != "ike":
            return None
        if natt_is_encap and NATT_PORT in (sport, dport):
            return None  # the decoder reads it as UDP 4500 (non-ESP marker, ESP)
        uend = udp_at + ulen
        if ulen < 8 or uend > ip_end:
            uend = ip_end  # bad or snapped length: as the decoder, what is there
        ike_at = udp_at + 8
        if uend - ike_at < HEADER_LEN:
            return None
        spi_r, version_byte, exchange, flags, mid = ike_header(data, ike_at)
        if (
            version_byte >> 4 != 2
            or exchange != IKE_SA_INIT
            or flags & (_FLAG_INITIATOR | _FLAG_RESPONSE) != _FLAG_INITIATOR
            or mid != 0
            or spi_r != _ZERO_SPI
        ):
            return None
        return version, addr_at, sport, dport, ike_at, uend, wire_len

    def locate(link_type: int, data: bytes) -> InitLocation | None:
        ip_at, version = link_ip_offset(link_type, data)
        if version == 4:
            if len(data) < ip_at + 20 + 8 + HEADER_LEN:
                return None
            vihl, total, frag, proto = ipv4(data, ip_at)
            if vihl != 0x45 or frag & 0x3FFF or proto != 17 or total < 20:
                return None
            ip_end = min(ip_at + total, len(data))
            return ike_in_udp(data, 4, ip_at + 12, ip_at + 20, ip_end, ip_end - ip_at)
        if version == 6:
            if len(data) < ip_at + 40 + 8 + HEADER_LEN:
                return None
            plen, nh = ipv6(data, ip_at)
            if nh != 17 or plen == 0:
                return None
            ip_end = min(ip_at + 40 + plen, len(data))
            return ike_in_udp(data, 6, ip_at + 8, ip_at + 40, ip_end, ip_end - ip_at)
        return None

    return locate


def init_meta(
    found: InitLocation,
    data: bytes,
    number: int,
    time: float,
    iface: int,
    ipv4_name: Callable[[bytes], str],
    ipv6_name: Callable[[bytes], str],
) -> PacketMeta:
    """The ``PacketMeta`` the decoder gives the request ``found`` (``IpContext.meta``)."""
    version, addr_at, sport, dport, _ike_at, _ike_end, wire_len = found
    n, name = (4, ipv4_name) if version == 4 else (16, ipv6_name)
    return PacketMeta(
        number,
        time,
        name(data[addr_at : addr_at + n]),
        name(data[addr_at + n : addr_at + 2 * n]),
        sport,
        dport,
        Transport.UDP,
        version,
        wire_len,
        (),
        False,
        iface,
    )


#: The commonest frame of an IKE_SA_INIT flood, a request in UDP in IPv4 on Ethernet, in one
#: call and as few fields as its checks need: the EtherType, version/IHL and TOS as one
#: number; the total length; flags/fragment offset, TTL and protocol as one number; the
#: source and destination addresses as one 8-byte string; source and destination ports and
#: the UDP length; the initiator's SPI; the responder's SPI as a number; the IKE header's
#: next payload, version, exchange type, flags and message ID as one number (``locate``
#: reads the same fields one by one). The masks below keep of each wide field what
#: ``locate`` checks.
ETH_IPV4_INIT = struct.Struct("!12xIH2xI2x8sHHH2x8sQQ")
ETH_IPV4_INIT_MIN = 14 + 20 + 8 + HEADER_LEN  # Ethernet, IPv4, UDP and the IKE header: 70
#: EtherType 0x0800, version 4 and a 20-byte header (the TOS is not looked at)
_HEAD_MASK, _HEAD_IPV4 = 0xFFFF_FF00, 0x0800_4500
#: not a fragment (no more-fragments flag, offset 0), protocol UDP (the TTL not looked at)
_FRAG_MASK, _FRAG_UDP = 0x3FFF_00FF, 17
#: major version 2, IKE_SA_INIT, initiator and not a response, message ID 0
_IKE_MASK = 0x00F0_FF00_FFFF_FFFF | (_FLAG_INITIATOR | _FLAG_RESPONSE) << 32
_IKE_INIT = 0x0020_0000_0000_0000 | IKE_SA_INIT << 40 | _FLAG_INITIATOR << 32
_ETH_IKE_AT = 14 + 20 + 8
#: what :func:`eth_ipv4_taker` hands on for a request, as ``lifecycle.first_run.RawRequest``:
#: the function that reads it, then the frame, its number, time and interface
InitRequest = tuple[Any, ...]
#: (initiator's SPI, (source, destination), frame number, time, the request) -> taken?
InitTake = Callable[[bytes, tuple[str, str], int, float, InitRequest], bool]
#: (frame number, time, interface, frame bytes) -> whether the request was taken
InitTaker = Callable[[int, float, int, bytes], bool]
_NAME_CACHE = 65536


def eth_ipv4_taker(
    udp_special: Mapping[int, str], ipv4_name: Callable[[bytes], str], take: InitTake
) -> InitTaker:
    """A function that finds, in one ``struct`` call, what ``init_locator``'s ``locate``
    finds in an Ethernet frame with IPv4 inside (and nothing else), and hands it to
    ``take`` (``Tracker.defer_request``) as its initiator's SPI, addresses, frame, time
    and a request that makes its ``PacketMeta`` and message only when read; False,
    having changed nothing, for any other frame or when ``take`` declines it.

    Why: in an IKE_SA_INIT flood this is every frame; locating it field by field, making
    its ``PacketMeta`` and naming its addresses again for every request was a third of the
    cost of a request the tracker then evicts untouched. Address pairs are named once
    (cached by their bytes, as ``Decoder.ipv4_name`` caches each address)."""
    natt_is_encap = udp_special.get(NATT_PORT) == "udpencap"
    port_kind = udp_special.get
    ike_ports = frozenset(p for p, kind in udp_special.items() if kind == "ike")
    unpack = ETH_IPV4_INIT.unpack_from
    names: dict[bytes, tuple[str, str]] = {}
    at = _ETH_IKE_AT

    def found(data: bytes) -> tuple[bytes, int, int, bytes, int, int] | None:
        """(address bytes, source port, destination port, initiator's SPI, IKE message
        end, IP packet end) of a first request, else None: ``locate``'s checks."""
        if len(data) < ETH_IPV4_INIT_MIN:
            return None
        head, total, frag, addrs, sport, dport, ulen, spi_i, spi_r, ike = unpack(data)
        if (
            head & _HEAD_MASK != _HEAD_IPV4
            or frag & _FRAG_MASK != _FRAG_UDP
            or ike & _IKE_MASK != _IKE_INIT
            or spi_r
            or (dport not in ike_ports and (port_kind(dport) or port_kind(sport)) != "ike")
            or (natt_is_encap and (sport == NATT_PORT or dport == NATT_PORT))
        ):
            return None
        ip_end = 14 + total
        if ip_end > len(data):
            ip_end = len(data)
        uend = 34 + ulen
        if ulen < 8 or uend > ip_end:
            uend = ip_end  # bad or snapped length: as the decoder, what is there
        if uend < at + HEADER_LEN:  # (so the UDP datagram and the IP packet hold it too)
            return None
        return addrs, sport, dport, spi_i, uend, ip_end

    def named(addrs: bytes) -> tuple[str, str]:
        pair = names.get(addrs)
        if pair is None:
            pair = (ipv4_name(addrs[:4]), ipv4_name(addrs[4:]))
            if len(names) < _NAME_CACHE:
                names[addrs] = pair
        return pair

    def read(req: InitRequest) -> tuple[bytes, int, int, PacketMeta]:
        """The request the taker took: (the frame from the IKE message on, the message's
        offset, its length, its ``PacketMeta`` as ``init_meta`` makes it)."""
        _read, data, number, time, iface = req
        where = found(data)
        assert where is not None  # the frame it was taken from
        addrs, sport, dport, _spi_i, uend, ip_end = where
        src, dst = named(addrs)
        wire_len = ip_end - 14
        meta = PacketMeta(
            number, time, src, dst, sport, dport, Transport.UDP, 4, wire_len, (), False, iface
        )
        return bytes(data[at:]), at, uend - at, meta

    def taker(number: int, time: float, iface: int, data: bytes) -> bool:
        # found()'s checks written out again: this runs for every frame of a flood, and
        # the call and the tuple it returns were a sixth of the taker's cost (the tests
        # hold both to ``locate``, byte by byte)
        if len(data) < ETH_IPV4_INIT_MIN:
            return False
        head, total, frag, addrs, sport, dport, ulen, spi_i, spi_r, ike = unpack(data)
        if (
            head & _HEAD_MASK != _HEAD_IPV4
            or frag & _FRAG_MASK != _FRAG_UDP
            or ike & _IKE_MASK != _IKE_INIT
            or spi_r
            or (dport not in ike_ports and (port_kind(dport) or port_kind(sport)) != "ike")
            or (natt_is_encap and (sport == NATT_PORT or dport == NATT_PORT))
        ):
            return False
        ip_end = 14 + total
        if ip_end > len(data):
            ip_end = len(data)
        uend = 34 + ulen
        if ulen < 8 or uend > ip_end:
            uend = ip_end
        if uend < at + HEADER_LEN:
            return False
        pair = names.get(addrs)
        if pair is None:
            pair = named(addrs)
        return take(spi_i, pair, number, time, (read, data, number, time, iface))

    return taker
