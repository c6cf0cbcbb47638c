"""Find ESP in an IP frame with a few byte compares, before any decoding.

Why: a capture is mostly ESP, and the pipeline's fast lane (see ``session.Analysis.run``)
and the decryption workers (``crypto.offload``) both need to know, for millions of
frames, whether a frame is such a packet and where its ESP header starts — without
building records. Plain Ethernet/IPv4 is checked inline; every other link layer (VLAN
stacks, PPPoE, MPLS, Linux SLL/SLL2 as ``tcpdump -i any`` writes, raw IP, BSD loopback)
through the decoder's own link parsers, so the two can never disagree on where IP
starts. IPv4 without options and IPv6 without extension headers are taken. Anything less
common (IPv4 options, extension headers, fragments, IKE, keepalives) answers None here
and takes the full decoder, which handles every case; so this only has to be right,
never complete.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping

from ipsec_inspect.wire.decoder import NATT_PORT
from ipsec_inspect.wire.link import LINKTYPE_ETHERNET, link_ip_offset

#: version/IHL, total length, flags/fragment offset, protocol
_IPV4 = struct.Struct("!BxH2xHxB")
#: the same after an Ethernet header, with the EtherType first
_ETH_IPV4 = struct.Struct("!12xHBxH2xHxB")
#: IPv6 payload length and next header
_IPV6 = struct.Struct("!4xHB")
_UDP = struct.Struct("!HHH")
#: The commonest frame of all, ESP directly in IPv4 on Ethernet, in one call: EtherType,
#: version/IHL, total length, flags/fragment offset, protocol, the source and destination
#: addresses as one 8-byte string (``EspLocation``'s ``data[addr_at:addr_end]``), SPI and
#: sequence number. A frame of at least :data:`ETH_IPV4_ESP_MIN` bytes is ESP exactly as
#: ``locate`` finds it when the EtherType is 0x0800, version/IHL 0x45, the protocol 50,
#: ``frag & 0x3FFF`` zero and ``28 <= total length <= frame length - 14``.
ETH_IPV4_ESP = struct.Struct("!12xHBxH2xHxB2x8sII")
ETH_IPV4_ESP_MIN = ETH_IPV4_ESP.size

#: (link type, frame bytes) -> None, or where the packet is: ``data[addr_at:addr_end]`` are
#: the source and destination addresses (4 or 16 bytes each), the ESP packet is
#: ``data[esp_at:ip_end]`` (link-layer padding excluded) and ``ip_len`` is the IP packet's
#: length on the wire
EspLocation = tuple[int, int, int, int, int]  # addr_at, addr_end, esp_at, ip_end, ip_len
EspLocator = Callable[[int, bytes], "EspLocation | None"]


def esp_locator(udp_special: Mapping[int, str]) -> EspLocator:
    """The locator for a decoder's UDP port map (``Decoder.udp_special``, where
    ``--decode-as`` ports are), so it finds exactly what that decoder would.

    ESP is recognised directly (IP protocol / next header 50) or UDP-encapsulated on
    port 4500 (RFC 3948: not a zero non-ESP marker, and the other port not claimed by
    another decoder) — exactly the packets the full decoder would make an ESP record of.
    """
    natt_is_encap = udp_special.get(NATT_PORT) == "udpencap"
    ipv4 = _IPV4.unpack_from
    eth_ipv4 = _ETH_IPV4.unpack_from
    ipv6 = _IPV6.unpack_from
    udp_header = _UDP.unpack_from

    def natt(data: bytes, udp_at: int, udp_len: int) -> bool:
        """Is the UDP datagram at ``udp_at`` ESP in UDP 4500 (RFC 3948)?"""
        if not natt_is_encap or udp_len < 16:
            return False
        sport, dport, ulen = udp_header(data, udp_at)
        return (
            ulen == udp_len
            and data[udp_at + 8 : udp_at + 12] != b"\x00\x00\x00\x00"
            and (
                (dport == NATT_PORT and (sport == NATT_PORT or sport not in udp_special))
                or (sport == NATT_PORT and dport not in udp_special)
            )
        )

    def v6(data: bytes, ip_at: int) -> EspLocation | None:
        if len(data) < ip_at + 48:
            return None
        plen, nh = ipv6(data, ip_at)
        ip_len = 40 + plen
        if plen < 8 or ip_len > len(data) - ip_at:
            return None
        if nh == 50:
            return ip_at + 8, ip_at + 40, ip_at + 40, ip_at + ip_len, ip_len
        if nh == 17 and natt(data, ip_at + 40, plen):
            return ip_at + 8, ip_at + 40, ip_at + 48, ip_at + ip_len, ip_len
        return None

    def locate(link_type: int, data: bytes) -> EspLocation | None:
        if link_type == LINKTYPE_ETHERNET and len(data) >= ETH_IPV4_ESP_MIN:
            et, vihl, ip_len, frag, proto = eth_ipv4(data)  # the commonest frame: one call
            ip_at = 14
            if et != 0x0800:
                ip_at, version = link_ip_offset(link_type, data)
                if version == 6:
                    return v6(data, ip_at)
                if version != 4 or len(data) < ip_at + 28:
                    return None
                vihl, ip_len, frag, proto = ipv4(data, ip_at)
        else:
            ip_at, version = link_ip_offset(link_type, data)
            if version == 6:
                return v6(data, ip_at)
            if version != 4 or len(data) < ip_at + 28:
                return None
            vihl, ip_len, frag, proto = ipv4(data, ip_at)
        if vihl != 0x45 or frag & 0x3FFF or not 28 <= ip_len <= len(data) - ip_at:
            return None
        if proto == 50:
            return ip_at + 12, ip_at + 20, ip_at + 20, ip_at + ip_len, ip_len
        if proto == 17 and natt(data, ip_at + 20, ip_len - 20):
            return ip_at + 12, ip_at + 20, ip_at + 28, ip_at + ip_len, ip_len
        return None

    return locate
