"""Sample 6: deliberately broken packets (``malformed.pcap``).

Why: the analyser must turn each of these into a record carrying an error that says what is
wrong and where, and keep reading. Valid packets sit between the broken ones to show that the
rest of the capture survives. The file's last record is cut short, as a capture whose writer
was killed would be.
"""

from __future__ import annotations

import struct

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.packet import Raw

from . import ikev1 as v1
from . import ikev2_msg as m
from .common import Clock, Rng
from .pcapio import LINKTYPE_RAW, pcap_bytes, pcap_record

SRC, DST = "192.0.2.66", "198.51.100.66"

# Frame by frame: (what is wrong, built below). Kept here so the README and the tests agree.
DESCRIPTIONS = [
    "valid IKEv2 IKE_SA_INIT request",
    "IKEv2 Nonce payload length 4660 runs past the message end",
    "IKEv2 payload with length 0 (shorter than its own 4-byte header)",
    "IKEv2 header length 1000 larger than the UDP payload (message truncated)",
    "IKEv1 transform length running past its proposal",
    "ESP over IP with a 6-byte (truncated) header",
    "ESP-in-UDP on port 4500 with 5 bytes (truncated ESP header)",
    "IPv4 header length 4 words (less than the minimum 5)",
    "AH whose payload length (40, i.e. 168 bytes) runs past the packet",
    "IPv6 destination-options header length running past the packet",
    "valid ESP packet",
    "truncated last record (the record header promises more bytes than the file holds)",
]


def _ipv4(payload: bytes, proto: int) -> bytes:
    return bytes(IP(src=SRC, dst=DST, proto=proto, id=66) / Raw(payload))


def build() -> dict[str, bytes]:
    rng = Rng(666)
    clock = Clock(now=1768471200.0 + 18000)
    frames: list[tuple[float, bytes]] = []

    def add(frame: bytes) -> None:
        frames.append((clock.tick(0.1), frame))

    def udp(payload: bytes, port: int = 500) -> bytes:
        return bytes(IP(src=SRC, dst=DST, id=66) / UDP(sport=port, dport=port) / Raw(payload))

    spi_i = rng.spi64()
    nonce = rng.take(32)
    valid = m.message(
        spi_i,
        b"\x00" * 8,
        m.IKE_SA_INIT,
        m.FLAG_INITIATOR,
        0,
        [m.ike_sa_proposal(), m.IKEv2_KE(group=31, ke=rng.take(32)), m.IKEv2_Nonce(nonce=nonce)],
    )
    add(udp(valid))

    # Nonce is the last payload: patch its length field to 4660.
    bad = bytearray(valid)
    nonce_at = len(valid) - (4 + len(nonce))
    bad[nonce_at + 2 : nonce_at + 4] = struct.pack("!H", 4660)
    add(udp(bytes(bad)))

    zero = bytearray(valid)
    zero[nonce_at + 2 : nonce_at + 4] = b"\x00\x00"
    add(udp(bytes(zero)))

    long_hdr = bytearray(valid)
    long_hdr[24:28] = struct.pack("!I", 1000)
    add(udp(bytes(long_hdr)))

    # IKEv1 Main Mode message 1 whose transform claims 200 bytes inside a 40-byte proposal.
    transform = v1.transform(1, 1, [v1.tv(1, 7), v1.tv(2, 2), v1.tv(3, 1), v1.tv(4, 14)])
    transform = transform[:2] + struct.pack("!H", 200) + transform[4:]
    sa = v1.sa_body(v1.proposal(1, 1, b"", [transform]))
    first, body = v1.chain([(v1.SA, sa)])
    add(udp(v1.header(rng.spi64(), b"\x00" * 8, first, v1.MAIN_MODE, 0, 0, len(body)) + body))

    add(_ipv4(rng.spi32() + b"\x00\x01", 50))
    add(udp(rng.spi32() + b"\x00", 4500))

    good_ip = bytearray(udp(valid))
    good_ip[0] = 0x44  # IHL 4
    add(bytes(good_ip))

    ah = struct.pack("!BBHII", 1, 40, 0, int.from_bytes(rng.spi32(), "big"), 1) + rng.take(12)
    add(_ipv4(ah, 51))

    v6_pkt = (
        IPv6(src="2001:db8::66", dst="2001:db8:1::66")
        / IPv6ExtHdrDestOpt(nh=50)
        / Raw(rng.spi32() + b"\x00\x00\x00\x01")
    )
    v6 = bytearray(bytes(v6_pkt))
    v6[41] = 20  # destination options: (20 + 1) * 8 = 168 bytes
    add(bytes(v6))

    esp_sa = SecurityAssociation(
        ESP,
        spi=int.from_bytes(rng.spi32(), "big"),
        crypt_algo="NULL",
        auth_algo="HMAC-SHA1-96",
        auth_key=rng.take(20),
    )
    inner = IP(src=SRC, dst=DST, id=67) / UDP(sport=9999, dport=9999) / Raw(b"still here")
    add(bytes(esp_sa.encrypt(inner)))

    data = pcap_bytes(frames, LINKTYPE_RAW)
    last = udp(valid)
    data += pcap_record(clock.tick(0.1), last)[: 16 + 30]
    return {"malformed.pcap": data}
