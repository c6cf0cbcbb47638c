"""Sample 4: AH over IPv4 and IPv6, transport and tunnel, and AH+ESP (``ah.pcap``).

Why: Wireshark cannot verify AH; the analyser can, so it needs AH packets whose ICVs were
computed by an independent implementation (scapy zeroes the mutable IP fields itself).
"""

from __future__ import annotations

from dataclasses import dataclass

from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.ipsec import AH, ESP, SecurityAssociation, zero_mutable_fields
from scapy.packet import Packet, Raw

from .common import Clock, Rng
from .keyfiles import KeyBook, SaKeys
from .pcapio import LINKTYPE_RAW, pcap_bytes


@dataclass(frozen=True)
class AhCase:
    scapy_auth: str
    iana_auth: str
    key_len: int
    v6: bool
    tunnel: bool
    with_esp: bool = False


CASES = [
    AhCase("HMAC-SHA1-96", "AUTH_HMAC_SHA1_96", 20, v6=False, tunnel=False),
    AhCase("SHA2-256-128", "AUTH_HMAC_SHA2_256_128", 32, v6=False, tunnel=True),
    AhCase("SHA2-256-128", "AUTH_HMAC_SHA2_256_128", 32, v6=True, tunnel=False),
    AhCase("HMAC-SHA1-96", "AUTH_HMAC_SHA1_96", 20, v6=True, tunnel=True),
    AhCase("HMAC-SHA1-96", "AUTH_HMAC_SHA1_96", 20, v6=False, tunnel=False, with_esp=True),
]


def _ip(src: str, dst: str, n: int, payload: bytes) -> Packet:
    if ":" in src:
        return IPv6(src=src, dst=dst, hlim=64) / ICMPv6EchoRequest(id=0x42, seq=n, data=payload)
    return IP(src=src, dst=dst, id=n, ttl=64) / ICMP(type=8, id=0x42, seq=n) / Raw(payload)


def _ah_over_esp(sa: SecurityAssociation, esp_pkt: Packet, seq: int, key: bytes) -> bytes:
    """AH (transport) around an ESP packet, signed with scapy's own AH primitives.

    Why not ``sa.encrypt``: scapy's signer checks for an ESP layer before an AH layer, so on
    IP/AH/ESP it appends a MAC to the ESP payload and leaves the AH ICV zero. Here the same
    scapy pieces (``zero_mutable_fields`` and the algorithm's MAC) are applied in the right
    order: ICV = HMAC over the IP header with mutable fields zeroed, AH with a zero ICV,
    and the ESP packet.
    """
    icv_size = sa.auth_algo.icv_size
    ip = esp_pkt.copy()
    ip.remove_payload()
    ah = AH(spi=sa.spi, seq=seq, nh=50, icv=b"\x00" * icv_size, payloadlen=(12 + icv_size) // 4 - 2)
    del ip.proto, ip.len, ip.chksum
    pkt = IP(bytes(ip / ah / Raw(bytes(esp_pkt[ESP]))))
    mac = sa.auth_algo.new_mac(key)
    mac.update(bytes(zero_mutable_fields(pkt.copy(), sending=True)))
    pkt[AH].icv = mac.finalize()[:icv_size]
    return bytes(pkt)


def build() -> dict[str, bytes]:
    rng = Rng(4302)
    clock = Clock(now=1768471200.0 + 10800)
    frames: list[tuple[float, bytes]] = []
    book = KeyBook()
    for index, case in enumerate(CASES, start=1):
        if case.v6:
            src, dst = f"2001:db8:a{index}::1", f"2001:db8:a{index}::2"
            inner_src, inner_dst = f"2001:db8:b{index}::1", f"2001:db8:b{index}::2"
        else:
            src, dst = f"192.0.2.{50 + index}", f"198.51.100.{50 + index}"
            inner_src, inner_dst = f"203.0.113.{50 + index}", f"203.0.113.{150 + index}"
        tunnel_header = None
        if case.tunnel:
            tunnel_header = (
                IPv6(src=src, dst=dst, hlim=64) if case.v6 else IP(src=src, dst=dst, ttl=64)
            )
        spi, key = rng.spi32(), rng.take(case.key_len)
        ah_sa = SecurityAssociation(
            AH,
            spi=int.from_bytes(spi, "big"),
            auth_algo=case.scapy_auth,
            auth_key=key,
            tunnel_header=tunnel_header,
        )
        esp_sa = None
        if case.with_esp:
            esp_spi, esp_key = rng.spi32(), rng.take(16)
            esp_sa = SecurityAssociation(
                ESP, spi=int.from_bytes(esp_spi, "big"), crypt_algo="AES-CBC", crypt_key=esp_key
            )
            book.sas.append(
                SaKeys(
                    "esp",
                    esp_spi,
                    src,
                    dst,
                    "ENCR_AES_CBC",
                    esp_key,
                    "NONE",
                    b"",
                    comment=f"ESP under AH SA {index} (transport, no ESP integrity: AH protects it)",
                    wireshark_encryption="AES-CBC [RFC3602]",
                    wireshark_integrity="NULL",
                )
            )
        for n in (1, 2, 3):
            a, b = (inner_src, inner_dst) if case.tunnel else (src, dst)
            pkt = _ip(a, b, n, f"ah sample {index} packet {n}".encode())
            if esp_sa is not None:
                esp_sa.seq_num = n
                esp_pkt = esp_sa.encrypt(pkt, iv=rng.take(16))
                frames.append((clock.tick(0.02), _ah_over_esp(ah_sa, esp_pkt, n, key)))
                continue
            ah_sa.seq_num = n
            frames.append((clock.tick(0.02), bytes(ah_sa.encrypt(pkt))))
        mode = "tunnel" if case.tunnel else "transport"
        book.sas.append(
            SaKeys(
                "ah",
                spi,
                src,
                dst,
                "",
                b"",
                case.iana_auth,
                key,
                comment=f"AH SA {index}: {case.iana_auth}, IPv{6 if case.v6 else 4} {mode}"
                + (", carrying ESP" if case.with_esp else ""),
            )
        )
    return {
        "ah.pcap": pcap_bytes(frames, LINKTYPE_RAW),
        "ah.keys.toml": book.toml("Keys for ah.pcap: AH SAs and the ESP SA under AH").encode(),
        "ah.wireshark/esp_sa": book.esp_sa().encode(),
        "ah.wireshark/preferences": b"esp.enable_encryption_decode: TRUE\n",
    }
