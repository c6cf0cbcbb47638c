"""Find ESP in an IPv4 frame with a few byte compares, before any decoding.

Why: a capture is mostly ESP, and the pipeline's fast lane (see ``session.Analysis.run``)
and the decryption workers (``crypto.offload``) both need to know, for millions of
frames, whether a frame is such a packet and where its ESP header starts — without
building records. Plain Ethernet is checked inline; every other link layer (VLAN stacks,
PPPoE, MPLS, Linux SLL/SLL2 as ``tcpdump -i any`` writes, raw IP, BSD loopback) through
the decoder's own link parsers, so the two can never disagree on where IP starts.
Anything less common (IPv6, IP options, fragments, IKE, keepalives) answers None here and
takes the full decoder, which handles every case; so this only has to be right, never
complete.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping

from ipsec_inspect.wire.decoder import LINKTYPE_ETHERNET, NATT_PORT, link_ip_offset

#: version/IHL, total length, flags/fragment offset, protocol
_IPV4 = struct.Struct("!BxH2xHxB")
#: the same after an Ethernet header, with the EtherType first
_ETH_IPV4 = struct.Struct("!12xHBxH2xHxB")
_UDP = struct.Struct("!HHH")

#: (link type, frame bytes) -> (offset of the IP header, offset of the ESP header, IP
#: total length), or None
EspLocator = Callable[[int, bytes], "tuple[int, int, int] | None"]


def esp_locator(udp_special: Mapping[int, str]) -> EspLocator:
    """The locator for a decoder's UDP port map (``Decoder.udp_special``, where
    ``--decode-as`` ports are), so it finds exactly what that decoder would.

    ESP is recognised directly (IP protocol 50) or UDP-encapsulated on port 4500
    (RFC 3948: not a zero non-ESP marker, and the other port not claimed by another
    decoder) — exactly the packets the full decoder would make an ESP record of. The
    ESP packet is ``data[esp_at : ip_at + ip_len]`` (link-layer padding excluded).
    """
    natt_is_encap = udp_special.get(NATT_PORT) == "udpencap"
    ipv4 = _IPV4.unpack_from
    eth_ipv4 = _ETH_IPV4.unpack_from
    udp_header = _UDP.unpack_from

    def locate(link_type: int, data: bytes) -> tuple[int, int, int] | None:
        if link_type == LINKTYPE_ETHERNET and len(data) >= 42:
            et, vihl, ip_len, frag, proto = eth_ipv4(data)  # the commonest frame: one call
            ip_at = 14
            if et != 0x0800:
                ip_at, version = link_ip_offset(link_type, data)
                if version != 4 or len(data) < ip_at + 28:
                    return None
                vihl, ip_len, frag, proto = ipv4(data, ip_at)
        else:
            ip_at, version = link_ip_offset(link_type, data)
            if version != 4 or len(data) < ip_at + 28:
                return None
            vihl, ip_len, frag, proto = ipv4(data, ip_at)
        if vihl != 0x45 or frag & 0x3FFF or not 28 <= ip_len <= len(data) - ip_at:
            return None
        if proto == 50:
            return ip_at, ip_at + 20, ip_len
        if proto != 17 or not natt_is_encap or ip_len < 36:
            return None
        sport, dport, ulen = udp_header(data, ip_at + 20)
        if (
            ulen != ip_len - 20
            or data[ip_at + 28 : ip_at + 32] == b"\x00\x00\x00\x00"
            or not (
                (dport == NATT_PORT and (sport == NATT_PORT or sport not in udp_special))
                or (sport == NATT_PORT and dport not in udp_special)
            )
        ):
            return None
        return ip_at, ip_at + 28, ip_len

    return locate
