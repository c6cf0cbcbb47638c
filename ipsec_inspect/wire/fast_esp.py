"""Find ESP in the commonest frame of all with a few byte compares, before any decoding.

Why: a capture is mostly ESP on Ethernet/IPv4, and the pipeline's fast lane (see
``session.Analysis.run``) and the decryption workers (``crypto.offload``) both need to
know, for millions of frames, whether a frame is such a packet and where its ESP header
starts — without building records. Anything less common (VLAN, IPv6, IP options,
fragments, IKE, keepalives) answers None here and takes the full decoder, which handles
every case; so this only has to be right, never complete.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping

from ipsec_inspect.wire.decoder import NATT_PORT

#: ethertype, version/IHL, total length, flags/fragment offset, protocol
_ETH_IPV4 = struct.Struct("!12xHBxH2xHxB")
_UDP = struct.Struct("!HHH")

#: (link type, frame bytes) -> (offset of the ESP header, IP total length), or None
EspLocator = Callable[[int, bytes], "tuple[int, int] | None"]


def esp_locator(udp_special: Mapping[int, str]) -> EspLocator:
    """The locator for a decoder's UDP port map (``Decoder.udp_special``, where
    ``--decode-as`` ports are), so it finds exactly what that decoder would.

    ESP is recognised directly (IP protocol 50) or UDP-encapsulated on port 4500
    (RFC 3948: not a zero non-ESP marker, and the other port not claimed by another
    decoder) — exactly the packets the full decoder would make an ESP record of.
    """
    natt_is_encap = udp_special.get(NATT_PORT) == "udpencap"
    eth_ipv4 = _ETH_IPV4.unpack_from
    udp_header = _UDP.unpack_from

    def locate(link_type: int, data: bytes) -> tuple[int, int] | None:
        if link_type != 1 or len(data) < 50:
            return None
        et, vihl, ip_len, frag, proto = eth_ipv4(data)
        if et != 0x0800 or vihl != 0x45 or frag & 0x3FFF or not 0 < ip_len <= len(data) - 14:
            return None
        if proto == 50:
            esp_at = 34
        elif proto == 17 and natt_is_encap and ip_len >= 36:
            sport, dport, ulen = udp_header(data, 34)
            if (
                ulen != ip_len - 20
                or data[42:46] == b"\x00\x00\x00\x00"
                or not (
                    (dport == NATT_PORT and (sport == NATT_PORT or sport not in udp_special))
                    or (sport == NATT_PORT and dport not in udp_special)
                )
            ):
                return None
            esp_at = 42
        else:
            return None
        if ip_len - (esp_at - 14) < 8:
            return None
        return esp_at, ip_len

    return locate
