"""The decoder's dispatch tables and its injected dissectors (issue 14 item 4).

The decoder routes by tables (IP protocol -> handler, UDP port kind -> handler) and calls
only the dissectors it is given, so a table of recording dissectors shows exactly what
each one receives: the bytes, and the PacketMeta built from the IP context.
"""

from __future__ import annotations

import struct

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from ipsec_inspect.core.records import PacketMeta, Transport
from ipsec_inspect.ipsec.ah import dissect_ah
from ipsec_inspect.ipsec.esp import dissect_esp
from ipsec_inspect.ipsec.ike import dissect_ike
from ipsec_inspect.wire.context import IpContext, IpsecDissectors
from ipsec_inspect.wire.decoder import Decoder

A4, B4 = "192.0.2.1", "198.51.100.1"


def recording() -> tuple[IpsecDissectors, list[tuple[str, int, int, PacketMeta]]]:
    seen: list[tuple[str, int, int, PacketMeta]] = []

    def esp(d: bytes, pos: int, end: int, meta: PacketMeta):
        seen.append(("esp", pos, end, meta))
        return dissect_esp(d, pos, end, meta)

    def ah(d: bytes, pos: int, end: int, meta: PacketMeta, ip_at: int):
        seen.append(("ah", pos, ip_at, meta))
        return dissect_ah(d, pos, end, meta, ip_at)

    def ike(d: bytes, pos: int, end: int, meta: PacketMeta):
        seen.append(("ike", pos, end, meta))
        return dissect_ike(d, pos, end, meta)

    return IpsecDissectors(esp=esp, ah=ah, ike=ike, looks_like_ike=lambda d, p, e: False), seen


def test_esp_in_udp_4500_reaches_the_injected_esp_dissector() -> None:
    table, seen = recording()
    frame = bytes(
        Ether()
        / IP(src=A4, dst=B4)
        / UDP(sport=4500, dport=4500)
        / Raw(struct.pack("!II", 9, 3) + bytes(24))
    )
    (rec,) = Decoder(table).decode(5, 7.5, 1, frame, len(frame), 2)
    ((kind, pos, end, meta),) = seen
    assert (kind, pos, end) == ("esp", 14 + 20 + 8, len(frame))
    assert meta == PacketMeta(
        5, 7.5, A4, B4, 4500, 4500, Transport.UDP_ENCAP, 4, 20 + 8 + 32, (), False, 2
    )
    assert rec.spi == 9


def test_ah_gets_the_ip_header_offset_and_tunnelled_esp_is_one_level_deeper() -> None:
    table, seen = recording()
    inner = bytes(
        IP(src="203.0.113.1", dst="203.0.113.2", proto=50)
        / Raw(struct.pack("!II", 77, 1) + bytes(16))
    )
    ah = (
        bytes([4, 4, 0, 0]) + struct.pack("!II", 0x51, 1) + bytes(12)
    )  # next header 4 (IPv4), 24 bytes
    frame = bytes(Ether() / IP(src=A4, dst=B4, proto=51) / Raw(ah + inner))
    records = Decoder(table).decode(1, 0.0, 1, frame)
    assert [k for k, *_ in seen] == ["ah", "esp"]
    assert seen[0][2] == 14  # where the outer IP header starts, for the ICV over it
    esp_meta = seen[1][3]
    assert (esp_meta.src, esp_meta.dst) == ("203.0.113.1", "203.0.113.2")
    assert [type(r).__name__ for r in records] == ["AhPacket", "EspPacket"]


def test_a_protocol_left_out_of_the_table_is_not_decoded() -> None:
    table, seen = recording()
    decoder = Decoder(table)
    del decoder.protocols[50]
    frame = bytes(Ether() / IP(src=A4, dst=B4, proto=50) / Raw(bytes(16)))
    assert decoder.decode(1, 0.0, 1, frame) == []
    assert seen == []
    assert decoder.stats.not_ipsec == 1


def test_context_meta_and_inside() -> None:
    ctx = IpContext(3, 1.25, 1, A4, B4, 6, 120, 14, 0, (2, 3), True)
    deeper = ctx.inside()
    assert deeper.depth == 1 and deeper.ip_offset == 14 and deeper.frames == (2, 3)
    assert ctx.meta(Transport.UDP, 500, 500) == PacketMeta(
        3, 1.25, A4, B4, 500, 500, Transport.UDP, 6, 120, (2, 3), True, 1
    )
