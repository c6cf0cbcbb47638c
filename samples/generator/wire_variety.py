"""Sample 5: the wire layers under IPsec (``wire-variety.pcapng``).

Why: real captures arrive on many link types and encapsulations; this file puts one of each
into a single pcapng with several interfaces (each with its own link type and timestamp
resolution): 802.1Q and QinQ, Linux SLL and SLL2, raw IPv4/IPv6, BSD loopback, IPv6
extension headers, IP-fragmented IKE_AUTH messages (IPv4 and IPv6), IKE behind the non-ESP
marker, NAT keepalives, RFC 8229 IKE/ESP over TCP (split and out-of-order segments) and IKE
on a non-standard UDP port.

The IKE SAs here use random SK_* keys (no key exchange: the point is the wire), written to
``wire-variety.keys.toml`` so the encrypted messages and ESP still decrypt.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    fragment6,
)
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether, Loopback
from scapy.packet import Packet, Raw

from . import ikev2_msg as m
from .certs import certificate
from .common import Clock, Rng
from .keyfiles import IkeKeys, KeyBook, SaKeys
from .pcapio import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    PcapNgWriter,
)
from .traffic import MAC_A, MAC_B, ping_pair

V4_I, V4_R = "192.0.2.1", "198.51.100.1"
V6_I, V6_R = "2001:db8::1", "2001:db8:1::1"
NON_STANDARD_PORT = 1500


@dataclass
class IkeSa:
    spi_i: bytes
    spi_r: bytes
    keys: IkeKeys

    def sk(self, initiator: bool) -> m.SkKeys:
        s = self.keys.secrets
        return m.SkKeys(s["sk_ei"], s["sk_ai"]) if initiator else m.SkKeys(s["sk_er"], s["sk_ar"])


def _ike_sa(rng: Rng, label: str) -> IkeSa:
    spi_i, spi_r = rng.spi64(), rng.spi64()
    secrets = {name: rng.take(32) for name in ("sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er")}
    keys = IkeKeys(
        2,
        spi_i,
        spi_r,
        "ENCR_AES_CBC",
        "AUTH_HMAC_SHA2_256_128",
        "PRF_HMAC_SHA2_256",
        secrets,
        comment=f"{label} (random SK_* keys, ENCR_AES_CBC with a 256-bit key)",
    )
    return IkeSa(spi_i, spi_r, keys)


def _sa_init(rng: Rng, spi_i: bytes, spi_r: bytes, response: bool) -> bytes:
    flags = m.FLAG_RESPONSE if response else m.FLAG_INITIATOR
    return m.message(
        spi_i,
        spi_r if response else b"\x00" * 8,
        m.IKE_SA_INIT,
        flags,
        0,
        [
            m.ike_sa_proposal(),
            m.IKEv2_KE(group=31, ke=rng.take(32)),
            m.IKEv2_Nonce(nonce=rng.take(32)),
        ],
    )


def _ike_auth(rng: Rng, sa: IkeSa, initiator: bool, child_spi: bytes, v6: bool) -> bytes:
    """A large IKE_AUTH (with a CERT payload) that will not fit one IP packet."""
    ident = b"big-cert.example.com" if initiator else b"responder.example.net"
    inner: list[Packet] = [
        m.IKEv2_IDi(IDtype=2, ID=ident) if initiator else m.IKEv2_IDr(IDtype=2, ID=ident),
        m.IKEv2_CERT(cert_encoding=4, cert_data=certificate(rng.take(32), ident.decode())),
        m.IKEv2_AUTH(auth_type=1, load=rng.take(256)),
        m.esp_gcm_proposal(child_spi),
    ]
    if not v6:
        inner += [m.host_ts(m.IKEv2_TSi, "203.0.113.1"), m.host_ts(m.IKEv2_TSr, "203.0.113.2")]
    flags = m.FLAG_INITIATOR if initiator else m.FLAG_RESPONSE
    return m.encrypted_message(
        sa.spi_i, sa.spi_r, m.IKE_AUTH, flags, 1, inner, sa.sk(initiator), rng.take(16)
    )


def _frame_8229(message: bytes, ike: bool) -> bytes:
    """RFC 8229 framing: 16-bit length (counting itself), non-ESP marker before IKE."""
    body = (b"\x00\x00\x00\x00" + message) if ike else message
    return struct.pack("!H", 2 + len(body)) + body


class Builder:
    def __init__(self) -> None:
        self.rng = Rng(8229)
        self.clock = Clock(now=1768471200.0 + 14400)
        self.pcap = PcapNgWriter()
        self.eth = self.pcap.add_interface(LINKTYPE_ETHERNET, "eth0", 6)
        self.sll = self.pcap.add_interface(LINKTYPE_LINUX_SLL, "any", 9)
        self.sll2 = self.pcap.add_interface(LINKTYPE_LINUX_SLL2, "any2", 9)
        self.raw4 = self.pcap.add_interface(LINKTYPE_IPV4, "ipv4-raw", 3)
        self.raw6 = self.pcap.add_interface(LINKTYPE_IPV6, "ipv6-raw", 6)
        self.null = self.pcap.add_interface(LINKTYPE_NULL, "lo0", 6)
        self.book = KeyBook()

    def add(self, itf: int, frame: Packet | bytes, dt: float = 0.01) -> None:
        self.pcap.add_packet(itf, self.clock.tick(dt), bytes(frame))

    def esp_sa(self, src: str, dst: str, label: str, nat_t: bool = False) -> SecurityAssociation:
        spi, key = self.rng.spi32(), self.rng.take(20)
        self.book.sas.append(
            SaKeys(
                "esp",
                spi,
                src,
                dst,
                "ENCR_AES_GCM_16",
                key,
                "NONE",
                b"",
                comment=label,
                wireshark_encryption="AES-GCM with 16 octet ICV [RFC4106]",
                wireshark_integrity="NULL",
            )
        )
        header: Packet = IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)
        return SecurityAssociation(
            ESP,
            spi=int.from_bytes(spi, "big"),
            crypt_algo="AES-GCM",
            crypt_key=key,
            tunnel_header=header,
            nat_t_header=UDP(sport=4500, dport=4500) if nat_t else None,
        )


def build() -> dict[str, bytes]:
    b = Builder()
    rng = b.rng
    eth_f, eth_b = Ether(src=MAC_A, dst=MAC_B), Ether(src=MAC_B, dst=MAC_A)

    # 802.1Q and QinQ (802.1ad outer tag): an IKE_SA_INIT exchange on UDP 500.
    sa4 = _ike_sa(rng, "IPv4 IKE SA")
    b.book.ike.append(sa4.keys)
    req = _sa_init(rng, sa4.spi_i, sa4.spi_r, False)
    resp = _sa_init(rng, sa4.spi_i, sa4.spi_r, True)
    b.add(
        b.eth,
        eth_f
        / Dot1Q(vlan=100)
        / IP(src=V4_I, dst=V4_R, id=1)
        / UDP(sport=500, dport=500)
        / Raw(req),
        0.0,
    )
    b.add(
        b.eth,
        eth_b
        / Dot1AD(vlan=200)
        / Dot1Q(vlan=100)
        / IP(src=V4_R, dst=V4_I, id=1)
        / UDP(sport=500, dport=500)
        / Raw(resp),
    )

    # IKE_AUTH over UDP 4500, IP-fragmented (raw IPv4 link, millisecond timestamps).
    child_i, child_r = rng.spi32(), rng.spi32()
    auth_req = _ike_auth(rng, sa4, True, child_i, False)
    dgram = (
        IP(src=V4_I, dst=V4_R, id=0x1001)
        / UDP(sport=4500, dport=4500)
        / Raw(b"\x00" * 4 + auth_req)
    )
    for frag in fragment(dgram, fragsize=1200):
        b.add(b.raw4, frag)
    auth_resp = _ike_auth(rng, sa4, False, child_r, False)
    dgram = (
        IP(src=V4_R, dst=V4_I, id=0x2001)
        / UDP(sport=4500, dport=4500)
        / Raw(b"\x00" * 4 + auth_resp)
    )
    frags = fragment(dgram, fragsize=1200)
    for frag in reversed(frags):  # fragments arriving last-first
        b.add(b.raw4, frag)

    # ESP-in-UDP on Linux cooked captures (SLL and SLL2), NAT keepalives, IKE behind the marker.
    esp_ir = b.esp_sa(V4_I, V4_R, "IPv4 ESP SA, initiator to responder", nat_t=True)
    esp_ri = b.esp_sa(V4_R, V4_I, "IPv4 ESP SA, responder to initiator", nat_t=True)
    sll_out = CookedLinux(
        pkttype=4,
        lladdrtype=1,
        lladdrlen=6,
        src=bytes.fromhex("02005e000001") + b"\x00\x00",
        proto=0x0800,
    )
    sll_in = CookedLinux(
        pkttype=0,
        lladdrtype=1,
        lladdrlen=6,
        src=bytes.fromhex("02005e000002") + b"\x00\x00",
        proto=0x0800,
    )
    for forward, inner in ping_pair("203.0.113.1", "203.0.113.2", 0x99, 1):
        sa = esp_ir if forward else esp_ri
        b.add(b.sll, (sll_out if forward else sll_in) / sa.encrypt(inner, iv=rng.take(8)))
    info = m.encrypted_message(
        sa4.spi_i, sa4.spi_r, m.INFORMATIONAL, m.FLAG_INITIATOR, 2, [], sa4.sk(True), rng.take(16)
    )
    b.add(
        b.sll,
        sll_out
        / IP(src=V4_I, dst=V4_R, id=7)
        / UDP(sport=4500, dport=4500)
        / Raw(b"\x00" * 4 + info),
    )
    info_r = m.encrypted_message(
        sa4.spi_i, sa4.spi_r, m.INFORMATIONAL, m.FLAG_RESPONSE, 2, [], sa4.sk(False), rng.take(16)
    )
    b.add(
        b.sll,
        sll_in
        / IP(src=V4_R, dst=V4_I, id=7)
        / UDP(sport=4500, dport=4500)
        / Raw(b"\x00" * 4 + info_r),
    )
    sll2 = CookedLinuxV2(
        proto=0x0800,
        ifindex=2,
        lladdrtype=1,
        pkttype=4,
        lladdrlen=6,
        src=bytes.fromhex("02005e000001") + b"\x00\x00",
    )
    b.add(
        b.sll2,
        sll2 / IP(src=V4_I, dst=V4_R, id=8) / UDP(sport=4500, dport=4500) / Raw(b"\xff"),
        5.0,
    )
    for forward, inner in ping_pair("203.0.113.1", "203.0.113.2", 0x99, 2):
        sa = esp_ir if forward else esp_ri
        sll2_dir = CookedLinuxV2(
            proto=0x0800,
            ifindex=2,
            lladdrtype=1,
            pkttype=4 if forward else 0,
            lladdrlen=6,
            src=bytes.fromhex("02005e00000" + ("1" if forward else "2")) + b"\x00\x00",
        )
        b.add(b.sll2, sll2_dir / sa.encrypt(inner, iv=rng.take(8)))

    # BSD null/loopback: an IPv4 NAT keepalive and ESP-in-UDP (AF_INET = 2).
    b.add(
        b.null,
        Loopback(type=2)
        / IP(src=V4_I, dst=V4_R, id=9)
        / UDP(sport=4500, dport=4500)
        / Raw(b"\xff"),
        5.0,
    )
    fwd = ping_pair("203.0.113.1", "203.0.113.2", 0x99, 3)[0][1]
    b.add(b.null, Loopback(type=2) / esp_ir.encrypt(fwd, iv=rng.take(8)))

    # IPv6: an IKE SA whose IKE_AUTH is fragmented with the IPv6 fragment header, then ESP
    # behind hop-by-hop, routing and destination-options headers, also on BSD loopback.
    sa6 = _ike_sa(rng, "IPv6 IKE SA")
    b.book.ike.append(sa6.keys)
    req6 = _sa_init(rng, sa6.spi_i, sa6.spi_r, False)
    resp6 = _sa_init(rng, sa6.spi_i, sa6.spi_r, True)
    b.add(b.raw6, IPv6(src=V6_I, dst=V6_R) / UDP(sport=500, dport=500) / Raw(req6), 1.0)
    b.add(b.raw6, IPv6(src=V6_R, dst=V6_I) / UDP(sport=500, dport=500) / Raw(resp6))
    child6_i = rng.spi32()
    auth6 = _ike_auth(rng, sa6, True, child6_i, True)
    dgram6 = (
        IPv6(src=V6_I, dst=V6_R)
        / IPv6ExtHdrFragment(id=0x6001)
        / UDP(sport=500, dport=500)
        / Raw(auth6)
    )
    for frag in fragment6(dgram6, 1280):
        b.add(b.raw6, frag)
    esp6 = b.esp_sa(V6_I, V6_R, "IPv6 ESP SA behind extension headers")
    inner6 = (
        IPv6(src="2001:db8:a::1", dst="2001:db8:b::1")
        / UDP(sport=40001, dport=40002)
        / Raw(b"ipv6 inner")
    )
    outer6 = esp6.encrypt(inner6, iv=rng.take(8))
    esp_bytes = bytes(outer6[ESP])
    ext = (
        IPv6(src=V6_I, dst=V6_R)
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrRouting(type=0, segleft=0, addresses=[])
        / IPv6ExtHdrDestOpt()
    )
    b.add(b.eth, Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=100) / ext / ESP(esp_bytes))
    outer6b = esp6.encrypt(inner6, iv=rng.take(8))
    b.add(
        b.null,
        Loopback(type=30)
        / IPv6(src=V6_I, dst=V6_R)
        / IPv6ExtHdrDestOpt()
        / ESP(bytes(outer6b[ESP])),
    )

    # RFC 8229: IKE and ESP over TCP port 4500.
    _tcp_8229(b, sa4, esp_ir, esp_ri)

    # IKE on a non-standard UDP port, found by the strict header check.
    sa_np = _ike_sa(rng, "IKE SA on UDP port 1500")
    req_np = _sa_init(rng, sa_np.spi_i, sa_np.spi_r, False)
    resp_np = _sa_init(rng, sa_np.spi_i, sa_np.spi_r, True)
    b.add(
        b.eth,
        eth_f
        / IP(src=V4_I, dst=V4_R, id=30)
        / UDP(sport=NON_STANDARD_PORT, dport=NON_STANDARD_PORT)
        / Raw(req_np),
        1.0,
    )
    b.add(
        b.eth,
        eth_b
        / IP(src=V4_R, dst=V4_I, id=30)
        / UDP(sport=NON_STANDARD_PORT, dport=NON_STANDARD_PORT)
        / Raw(resp_np),
    )

    return {
        "wire-variety.pcapng": b.pcap.to_bytes(),
        "wire-variety.keys.toml": b.book.toml(
            "Keys for wire-variety.pcapng (random keys, no key exchange)"
        ).encode(),
        "wire-variety.wireshark/esp_sa": b.book.esp_sa().encode(),
        "wire-variety.wireshark/ikev2_decryption_table": b.book.ikev2_table(
            "AES-CBC-256 [RFC3602]", "HMAC_SHA2_256_128 [RFC4868]"
        ).encode(),
        "wire-variety.wireshark/preferences": (
            b"esp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\n"
        ),
    }


def _tcp_8229(
    b: Builder, sa4: IkeSa, esp_ir: SecurityAssociation, esp_ri: SecurityAssociation
) -> None:
    """One TCP connection carrying IKE and ESP (RFC 8229), with split and reordered segments."""
    rng = b.rng
    cport, sport = 50000, 4500
    seq = {True: 100000, False: 900000}
    eth = {True: Ether(src=MAC_A, dst=MAC_B), False: Ether(src=MAC_B, dst=MAC_A)}

    def seg(
        forward: bool, flags: str, data: bytes = b"", at: int | None = None, advance: bool = True
    ) -> None:
        src, dst = (V4_I, V4_R) if forward else (V4_R, V4_I)
        sp, dp = (cport, sport) if forward else (sport, cport)
        s = seq[forward] if at is None else at
        tcp = TCP(sport=sp, dport=dp, flags=flags, seq=s, ack=seq[not forward], window=64000)
        b.add(b.eth, eth[forward] / IP(src=src, dst=dst, id=40) / tcp / Raw(data), 0.005)
        if advance:
            seq[forward] += len(data) + (1 if ("S" in flags or "F" in flags) else 0)

    seg(True, "S")
    seg(False, "SA")
    seg(True, "A")
    # The initiator's stream: the IKETCP prefix, then a framed INFORMATIONAL split in two.
    info = m.encrypted_message(
        sa4.spi_i, sa4.spi_r, m.INFORMATIONAL, m.FLAG_INITIATOR, 3, [], sa4.sk(True), rng.take(16)
    )
    stream = b"IKETCP" + _frame_8229(info, ike=True)
    seg(True, "PA", stream[:40])
    seg(True, "PA", stream[40:])
    info_r = m.encrypted_message(
        sa4.spi_i, sa4.spi_r, m.INFORMATIONAL, m.FLAG_RESPONSE, 3, [], sa4.sk(False), rng.take(16)
    )
    seg(False, "PA", _frame_8229(info_r, ike=True))
    # Two ESP packets in one stream chunk, sent as two segments, the second arriving first.
    flows = ping_pair("203.0.113.1", "203.0.113.2", 0x88, 1)
    esp1 = bytes(esp_ir.encrypt(flows[0][1], iv=rng.take(8))[ESP])
    esp2 = bytes(
        esp_ir.encrypt(ping_pair("203.0.113.1", "203.0.113.2", 0x88, 2)[0][1], iv=rng.take(8))[ESP]
    )
    chunk = _frame_8229(esp1, ike=False) + _frame_8229(esp2, ike=False)
    cut = 70
    start = seq[True]
    seg(True, "PA", chunk[cut:], at=start + cut, advance=False)
    seg(True, "PA", chunk[:cut], at=start, advance=False)
    seq[True] += len(chunk)
    reply = bytes(esp_ri.encrypt(flows[1][1], iv=rng.take(8))[ESP])
    seg(False, "PA", _frame_8229(reply, ike=False))
    seg(True, "FA")
    seg(False, "FA")
    seg(True, "A")
