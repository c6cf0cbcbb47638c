"""Wire decoding: link layers, IP, reassembly, NAT-T demultiplexing, RFC 8229 over TCP."""

from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import CookedLinux, Dot1AD, Dot1Q, Ether, Loopback
from scapy.packet import Raw

from ipsec_inspect.core.records import (
    AhPacket,
    EspPacket,
    IkeMessage,
    Malformed,
    NatKeepalive,
    Transport,
)
from ipsec_inspect.ipsec.dissectors import ipsec_decoder
from ipsec_inspect.wire.decoder import DecodeOptions

A4, B4 = "192.0.2.1", "198.51.100.1"
A6, B6 = "2001:db8::1", "2001:db8::2"


def ike_v2_init(spi_i: bytes = b"\x11" * 8, body_len: int = 0) -> bytes:
    """A minimal IKEv2 IKE_SA_INIT request header with one Nonce payload."""
    nonce = b"\x00\x00" + struct.pack("!H", 4 + 16 + body_len) + b"\xab" * (16 + body_len)
    hdr = spi_i + b"\x00" * 8 + bytes([40, 0x20, 34, 0x08]) + struct.pack("!II", 0, 28 + len(nonce))
    return hdr + nonce


def esp(spi: int, seq: int, n: int = 32) -> bytes:
    return struct.pack("!II", spi, seq) + bytes(range(n))


def decode(frames: list[tuple[int, bytes]], options: DecodeOptions | None = None) -> list:
    d = ipsec_decoder(options)
    out = []
    for i, (lt, data) in enumerate(frames, 1):
        out.extend(d.decode(i, 1000.0 + i, lt, data))
    return out


def test_ethernet_qinq_ipv4_esp() -> None:
    f = bytes(
        Ether()
        / Dot1AD(vlan=100)
        / Dot1Q(vlan=200)
        / IP(src=A4, dst=B4, proto=50)
        / Raw(esp(0xC1A2B3C4, 17))
    )
    (r,) = decode([(1, f)])
    assert isinstance(r, EspPacket)
    assert (r.spi, r.seq) == (0xC1A2B3C4, 17)
    assert (r.meta.src, r.meta.dst, r.meta.frame) == (A4, B4, 1)
    assert r.meta.transport is Transport.IP
    assert r.data[r.offset : r.offset + 4] == bytes.fromhex("c1a2b3c4")
    assert r.offset == 14 + 8 + 20
    assert r.length == 40


@pytest.mark.parametrize(
    ("link_type", "frame"),
    [
        (113, bytes(CookedLinux(proto=0x0800) / IP(src=A4, dst=B4, proto=50) / Raw(esp(7, 1)))),
        (0, bytes(Loopback(type=2) / IP(src=A4, dst=B4, proto=50) / Raw(esp(7, 1)))),
        (108, struct.pack(">I", 2) + bytes(IP(src=A4, dst=B4, proto=50) / Raw(esp(7, 1)))),
        (101, bytes(IP(src=A4, dst=B4, proto=50) / Raw(esp(7, 1)))),
        (228, bytes(IP(src=A4, dst=B4, proto=50) / Raw(esp(7, 1)))),
        (
            276,
            b"\x08\x00\x00\x00"
            + b"\x00\x00\x00\x02"
            + b"\x00\x01\x00\x06"
            + b"\x02" * 6
            + b"\x00\x00"
            + bytes(IP(src=A4, dst=B4, proto=50) / Raw(esp(7, 1))),
        ),
    ],
)
def test_link_types(link_type: int, frame: bytes) -> None:
    (r,) = decode([(link_type, frame)])
    assert isinstance(r, EspPacket)
    assert (r.spi, r.seq, r.meta.src, r.meta.dst) == (7, 1, A4, B4)


def test_ipv6_extension_headers_then_esp() -> None:
    pkt = (
        IPv6(src=A6, dst=B6)
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrRouting(addresses=[])
        / IPv6ExtHdrDestOpt(nh=50)
        / Raw(esp(0xABCD, 9))
    )
    (r,) = decode([(229, bytes(pkt))])
    assert isinstance(r, EspPacket)
    assert (r.spi, r.seq, r.meta.src, r.meta.dst, r.meta.ip_version) == (0xABCD, 9, A6, B6, 6)


def test_udp_4500_demultiplexing() -> None:
    base = Ether() / IP(src=A4, dst=B4) / UDP(sport=4500, dport=4500)
    frames = [
        (1, bytes(base / Raw(b"\xff"))),
        (1, bytes(base / Raw(b"\x00\x00\x00\x00" + ike_v2_init()))),
        (1, bytes(base / Raw(esp(0x01020304, 5)))),
    ]
    ka, ike, e = decode(frames)
    assert isinstance(ka, NatKeepalive)
    assert isinstance(ike, IkeMessage)
    assert ike.header.spi_i == b"\x11" * 8
    assert ike.meta.transport is Transport.UDP_ENCAP
    assert ike.data[ike.offset : ike.offset + 8] == b"\x11" * 8
    assert isinstance(e, EspPacket)
    assert (e.spi, e.seq, e.meta.sport, e.meta.dport) == (0x01020304, 5, 4500, 4500)


def test_ike_on_500_and_nat_keepalive_on_500() -> None:
    base = Ether() / IP(src=A4, dst=B4) / UDP(sport=500, dport=500)
    ike, ka = decode([(1, bytes(base / Raw(ike_v2_init()))), (1, bytes(base / Raw(b"\xff")))])
    assert isinstance(ike, IkeMessage) and ike.version == 2 and ike.header.exchange == 34
    assert isinstance(ka, NatKeepalive)


def test_ike_on_other_port_by_heuristic_and_decode_as() -> None:
    f = bytes(Ether() / IP(src=A4, dst=B4) / UDP(sport=1500, dport=1500) / Raw(ike_v2_init()))
    (r,) = decode([(1, f)])
    assert isinstance(r, IkeMessage)
    assert decode([(1, f)], DecodeOptions(ike_heuristic=False)) == []
    opts = DecodeOptions(ike_heuristic=False)
    opts.add_decode_as("udp.port=1500:ike")
    (r2,) = decode([(1, f)], opts)
    assert isinstance(r2, IkeMessage)
    # Random data on another port is not taken for IKE.
    junk = bytes(Ether() / IP(src=A4, dst=B4) / UDP(sport=1500, dport=1500) / Raw(bytes(range(60))))
    assert decode([(1, junk)]) == []


def test_decode_as_rejects_bad_rules() -> None:
    with pytest.raises(ValueError, match="expected"):
        DecodeOptions.parse_decode_as("udp:1500")
    with pytest.raises(ValueError, match="UDP ports decode as"):
        DecodeOptions.parse_decode_as("udp.port=1500:http")


def test_ipv4_fragmented_ike_is_reassembled() -> None:
    payload = ike_v2_init(body_len=2000)
    pkt = IP(src=A4, dst=B4, id=4242) / UDP(sport=500, dport=500) / Raw(payload)
    from scapy.layers.inet import fragment

    frags = fragment(pkt, fragsize=800)
    assert len(frags) == 3
    # Deliver out of order: last fragment first.
    order = [frags[2], frags[0], frags[1]]
    out = decode([(101, bytes(f)) for f in order])
    assert len(out) == 1
    (r,) = out
    assert isinstance(r, IkeMessage)
    assert r.meta.frames == (1, 2, 3)
    assert r.meta.frame == 3
    assert r.meta.ip_fragmented
    assert r.header.length == len(payload)
    assert r.data[r.offset : r.offset + r.header.length] == payload


def test_ipv6_fragmented_ike_is_reassembled() -> None:
    from scapy.layers.inet6 import fragment6

    payload = ike_v2_init(body_len=1800)
    pkt = (
        IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(id=99) / UDP(sport=500, dport=500) / Raw(payload)
    )
    frags = fragment6(pkt, 900)
    assert len(frags) >= 2
    out = decode([(229, bytes(f)) for f in frags])
    (r,) = out
    assert isinstance(r, IkeMessage)
    assert r.meta.frames == tuple(range(1, len(frags) + 1))
    assert r.data[r.offset : r.offset + len(payload)] == payload


def test_lone_fragment_expires_and_is_reported() -> None:
    from scapy.layers.inet import fragment

    frags = fragment(
        IP(src=A4, dst=B4, id=7) / UDP(sport=500, dport=500) / Raw(ike_v2_init(body_len=2000)),
        fragsize=800,
    )
    d = ipsec_decoder()
    assert d.decode(1, 0.0, 101, bytes(frags[0])) == []
    expired = d.finish()
    assert expired == [((1,), "incomplete at the end of the capture")]


def test_rfc8229_tcp_stream() -> None:
    ike = ike_v2_init()
    e = esp(0x0BADCAFE, 3)
    stream = (
        b"IKETCP"
        + struct.pack("!H", 2 + 4 + len(ike))
        + b"\x00\x00\x00\x00"
        + ike
        + struct.pack("!H", 2 + len(e))
        + e
    )
    base = Ether() / IP(src=A4, dst=B4)
    isn = 1000
    cut1, cut2 = 20, 50
    segs = [
        TCP(sport=40000, dport=4500, flags="S", seq=isn),
        TCP(sport=40000, dport=4500, flags="PA", seq=isn + 1 + cut2)
        / Raw(stream[cut2:]),  # out of order
        TCP(sport=40000, dport=4500, flags="PA", seq=isn + 1) / Raw(stream[:cut1]),
        TCP(sport=40000, dport=4500, flags="PA", seq=isn + 1 + cut1) / Raw(stream[cut1:cut2]),
    ]
    out = decode([(1, bytes(base / s)) for s in segs])
    assert [type(r) for r in out] == [IkeMessage, EspPacket]
    ike_r, esp_r = out
    assert ike_r.meta.transport is Transport.TCP
    assert ike_r.header.spi_i == b"\x11" * 8
    assert ike_r.meta.frames == (3, 4, 2) or set(ike_r.meta.frames) == {2, 3, 4}
    assert (esp_r.spi, esp_r.seq) == (0x0BADCAFE, 3)


def test_ah_then_protected_esp_and_tunnel() -> None:
    ah = struct.pack("!BBHII", 50, 4, 0, 0x1000, 8) + b"\xcc" * 12  # next header ESP, 24-byte AH
    f = bytes(Ether() / IP(src=A4, dst=B4, proto=51) / Raw(ah + esp(0x2000, 8)))
    a, e = decode([(1, f)])
    assert isinstance(a, AhPacket) and isinstance(e, EspPacket)
    assert (a.spi, a.seq, a.next_header, a.icv) == (0x1000, 8, 50, b"\xcc" * 12)
    assert a.ip_offset == 14
    assert (e.spi, e.seq) == (0x2000, 8)
    # AH tunnel mode: the inner packet is IPv4 carrying ICMP (not IPsec): only the AH record.
    inner = bytes(IP(src="203.0.113.1", dst="203.0.113.2") / ICMP())
    ah4 = struct.pack("!BBHII", 4, 4, 0, 0x3000, 1) + b"\xdd" * 12
    (only,) = decode([(1, bytes(Ether() / IP(src=A4, dst=B4, proto=51) / Raw(ah4 + inner)))])
    assert isinstance(only, AhPacket) and only.next_header == 4


def test_malformed_headers_become_records() -> None:
    bad_ihl = bytearray(bytes(IP(src=A4, dst=B4, proto=50) / Raw(esp(1, 1, n=4))))
    bad_ihl[0] = 0x4F  # IHL 60 bytes, longer than the packet
    (m,) = decode([(101, bytes(bad_ihl))])
    assert isinstance(m, Malformed)
    assert "IPv4 header length 60" in m.error.message
    (short,) = decode([(101, bytes(IP(src=A4, dst=B4, proto=50) / Raw(b"\x00\x01")))])
    assert isinstance(short, EspPacket)
    assert short.errors and "ESP header truncated" in short.errors[0].message
    lying_ah = struct.pack("!BBHII", 6, 200, 0, 5, 1) + b"\x00" * 12
    (ahr,) = decode([(101, bytes(IP(src=A4, dst=B4, proto=51) / Raw(lying_ah)))])
    assert isinstance(ahr, AhPacket)
    assert "runs past the packet end" in ahr.errors[0].message


def test_non_ipsec_traffic_yields_nothing() -> None:
    frames = [
        (1, bytes(Ether() / IP(src=A4, dst=B4) / ICMP())),
        (1, bytes(Ether() / IP(src=A4, dst=B4) / UDP(sport=53, dport=53) / Raw(b"dns"))),
        (1, bytes(Ether(type=0x0806) / Raw(b"arp" * 10))),
        (999, b"unknown link type"),
    ]
    assert decode(frames) == []
