"""Sample 1: an IKEv2 tunnel through its whole life (``ikev2-tunnel.pcapng``).

IKE_SA_INIT on UDP 500 (Curve25519, AES-CBC-256, HMAC-SHA2-256-128, PRF-HMAC-SHA2-256, NAT
detection showing the initiator behind a NAT), IKE_AUTH with PSK authentication after the
float to UDP 4500, ESP-in-UDP AES-GCM-16-128 traffic, a NAT keepalive, a DPD, a child SA
rekey without PFS, the old child SA's deletion and finally the IKE SA's deletion.
"""

from __future__ import annotations

import hashlib

from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.packet import Packet

from . import ikev2_msg as m
from .common import Clock, Rng
from .ikev2_crypto import IkeSaKeys, child_keymat, derive_ike_sa, psk_auth
from .kex import keypair
from .keyfiles import IkeKeys, KeyBook, SaKeys
from .pcapio import LINKTYPE_ETHERNET, PcapNgWriter
from .traffic import ether, ping_pair, tcp_flow, udp_exchange, udp_ip

INITIATOR = "192.0.2.1"
RESPONDER = "198.51.100.1"
INITIATOR_PRIVATE = "192.0.2.101"  # the initiator's address before its NAT
INNER_I = "203.0.113.1"
INNER_R = "203.0.113.2"
PSK = b"ipsec-inspect sample psk"
STRONGSWAN_VID = bytes.fromhex("882fe56d6fd20dbc2251613b2ebe5beb")

WS_IKE_ENCR = "AES-CBC-256 [RFC3602]"
WS_IKE_INTEG = "HMAC_SHA2_256_128 [RFC4868]"
WS_ESP_ENCR = "AES-GCM with 16 octet ICV [RFC4106]"


def nat_hash(spi_i: bytes, spi_r: bytes, addr: str, port: int) -> bytes:
    """NAT_DETECTION_*_IP data: SHA-1(SPIi | SPIr | IP | port) (RFC 7296 §2.23)."""
    packed = bytes(int(x) for x in addr.split("."))
    return hashlib.sha1(spi_i + spi_r + packed + port.to_bytes(2, "big")).digest()


class Tunnel:
    """Holds the conversation state while frames are appended in order."""

    def __init__(self) -> None:
        self.rng = Rng(20260115)
        self.clock = Clock()
        self.pcap = PcapNgWriter()
        self.pcap.add_interface(LINKTYPE_ETHERNET, "eth0")
        self.book = KeyBook()
        self.spi_i = self.rng.spi64()
        self.spi_r = b"\x00" * 8
        self.floated = False
        self.ike: IkeSaKeys | None = None
        self.esp_out: dict[bool, SecurityAssociation] = {}

    # -- framing
    def send_ike(self, forward: bool, ike: bytes, dt: float) -> None:
        src, dst = (INITIATOR, RESPONDER) if forward else (RESPONDER, INITIATOR)
        if self.floated:
            pkt = udp_ip(src, dst, 4500, 4500, b"\x00\x00\x00\x00" + ike)
        else:
            pkt = udp_ip(src, dst, 500, 500, ike)
        self.pcap.add_packet(0, self.clock.tick(dt), ether(pkt, forward))

    def send_inner(self, flows: list[tuple[bool, Packet]], dt: float = 0.01) -> None:
        for forward, inner in flows:
            sa = self.esp_out[forward]
            iv = self.rng.take(8)
            outer = sa.encrypt(inner, iv=iv)
            self.pcap.add_packet(0, self.clock.tick(dt), ether(outer, forward))

    def sk(self, forward: bool) -> m.SkKeys:
        assert self.ike is not None
        if forward:
            return m.SkKeys(self.ike.sk_ei, self.ike.sk_ai)
        return m.SkKeys(self.ike.sk_er, self.ike.sk_ar)

    def exchange(self, exch: int, mid: int, req: list[Packet], resp: list[Packet]) -> None:
        """A request from the initiator and the responder's answer, both encrypted."""
        for forward, inner in ((True, req), (False, resp)):
            flags = m.FLAG_INITIATOR if forward else m.FLAG_RESPONSE
            msg = m.encrypted_message(
                self.spi_i,
                self.spi_r,
                exch,
                flags,
                mid,
                inner,
                self.sk(forward),
                self.rng.take(16),
            )
            self.send_ike(forward, msg, 0.004 if forward else 0.002)

    def install_child(self, spi_i: bytes, spi_r: bytes, ni: bytes, nr: bytes, label: str) -> None:
        """Derive the child SA's keys from SK_d and the nonces, install both directions."""
        assert self.ike is not None
        keymat = child_keymat(self.ike.sk_d, ni, nr, 40)
        key_ir, key_ri = keymat[:20], keymat[20:]
        for forward, spi, key in ((True, spi_r, key_ir), (False, spi_i, key_ri)):
            src, dst = (INITIATOR, RESPONDER) if forward else (RESPONDER, INITIATOR)
            self.esp_out[forward] = SecurityAssociation(
                ESP,
                spi=int.from_bytes(spi, "big"),
                crypt_algo="AES-GCM",
                crypt_key=key,
                tunnel_header=IP(src=src, dst=dst),
                nat_t_header=UDP(sport=4500, dport=4500),
            )
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
                    comment=f"{label}, {'initiator to responder' if forward else 'responder to initiator'}",
                    wireshark_encryption=WS_ESP_ENCR,
                    wireshark_integrity="NULL",
                )
            )


def build() -> dict[str, bytes]:
    t = Tunnel()
    rng = t.rng
    kp_i = keypair(31, rng.take(32))
    kp_r = keypair(31, rng.take(32))
    ni, nr = rng.take(32), rng.take(32)

    # IKE_SA_INIT request (responder SPI still zero in the NAT hashes).
    zero = b"\x00" * 8
    init_req = m.message(
        t.spi_i,
        zero,
        m.IKE_SA_INIT,
        m.FLAG_INITIATOR,
        0,
        [
            m.ike_sa_proposal(),
            m.IKEv2_KE(group=31, ke=kp_i.public),
            m.IKEv2_Nonce(nonce=ni),
            m.IKEv2_Notify(type=16388, notify=nat_hash(t.spi_i, zero, INITIATOR_PRIVATE, 500)),
            m.IKEv2_Notify(type=16389, notify=nat_hash(t.spi_i, zero, RESPONDER, 500)),
            m.IKEv2_VendorID(vendorID=STRONGSWAN_VID),
        ],
    )
    t.send_ike(True, init_req, 0.0)
    t.spi_r = rng.spi64()
    init_resp = m.message(
        t.spi_i,
        t.spi_r,
        m.IKE_SA_INIT,
        m.FLAG_RESPONSE,
        0,
        [
            m.ike_sa_proposal(),
            m.IKEv2_KE(group=31, ke=kp_r.public),
            m.IKEv2_Nonce(nonce=nr),
            m.IKEv2_Notify(type=16388, notify=nat_hash(t.spi_i, t.spi_r, RESPONDER, 500)),
            m.IKEv2_Notify(type=16389, notify=nat_hash(t.spi_i, t.spi_r, INITIATOR, 500)),
            m.IKEv2_VendorID(vendorID=STRONGSWAN_VID),
        ],
    )
    t.send_ike(False, init_resp, 0.012)

    g_ir = kp_i.shared(kp_r.public)
    assert g_ir == kp_r.shared(kp_i.public)
    t.ike = derive_ike_sa(ni, nr, g_ir, t.spi_i, t.spi_r)
    k = t.ike
    ike_keys = IkeKeys(
        2,
        t.spi_i,
        t.spi_r,
        "ENCR_AES_CBC",
        "AUTH_HMAC_SHA2_256_128",
        "PRF_HMAC_SHA2_256",
        {
            "sk_d": k.sk_d,
            "sk_ai": k.sk_ai,
            "sk_ar": k.sk_ar,
            "sk_ei": k.sk_ei,
            "sk_er": k.sk_er,
            "dh_secret": g_ir,
        },
        comment="IKE SA (ENCR_AES_CBC with a 256-bit key)",
    )
    t.book.ike.append(ike_keys)

    # IKE_AUTH on UDP 4500 (NAT detected: the initiator's source hash did not match).
    t.floated = True
    child_spi_i, child_spi_r = rng.spi32(), rng.spi32()
    idi = m.IKEv2_IDi(IDtype=2, ID=b"left.example.com")
    idr = m.IKEv2_IDr(IDtype=2, ID=b"right.example.net")
    auth_i = psk_auth(PSK, init_req, nr, k.sk_pi, m.id_body(idi))
    auth_r = psk_auth(PSK, init_resp, ni, k.sk_pr, m.id_body(idr))
    t.exchange(
        m.IKE_AUTH,
        1,
        [
            idi,
            m.IKEv2_AUTH(auth_type=2, load=auth_i),
            m.IKEv2_Notify(type=16384),  # INITIAL_CONTACT
            m.esp_gcm_proposal(child_spi_i),
            m.host_ts(m.IKEv2_TSi, INNER_I),
            m.host_ts(m.IKEv2_TSr, INNER_R),
        ],
        [
            idr,
            m.IKEv2_AUTH(auth_type=2, load=auth_r),
            m.esp_gcm_proposal(child_spi_r),
            m.host_ts(m.IKEv2_TSi, INNER_I),
            m.host_ts(m.IKEv2_TSr, INNER_R),
        ],
    )
    t.install_child(child_spi_i, child_spi_r, ni, nr, "first child SA (IKE_AUTH)")

    for seq in range(1, 4):
        t.send_inner(ping_pair(INNER_I, INNER_R, 0x1234, seq), 0.2)
    t.send_inner(udp_exchange(INNER_I, INNER_R))
    t.send_inner(tcp_flow(INNER_I, INNER_R))

    # NAT keepalive from the initiator (behind the NAT), then a DPD.
    pkt = udp_ip(INITIATOR, RESPONDER, 4500, 4500, b"\xff")
    t.pcap.add_packet(0, t.clock.tick(20.0), ether(pkt, True))
    t.clock.tick(10.0)
    t.exchange(m.INFORMATIONAL, 2, [], [])

    # CREATE_CHILD_SA rekey of the child SA, no PFS.
    new_spi_i, new_spi_r = rng.spi32(), rng.spi32()
    ni2, nr2 = rng.take(32), rng.take(32)
    t.clock.tick(5.0)
    t.exchange(
        m.CREATE_CHILD_SA,
        3,
        [
            m.IKEv2_Notify(proto=3, SPIsize=4, SPI=child_spi_i, type=16393),  # REKEY_SA
            m.esp_gcm_proposal(new_spi_i),
            m.IKEv2_Nonce(nonce=ni2),
            m.host_ts(m.IKEv2_TSi, INNER_I),
            m.host_ts(m.IKEv2_TSr, INNER_R),
        ],
        [
            m.esp_gcm_proposal(new_spi_r),
            m.IKEv2_Nonce(nonce=nr2),
            m.host_ts(m.IKEv2_TSi, INNER_I),
            m.host_ts(m.IKEv2_TSr, INNER_R),
        ],
    )
    t.install_child(new_spi_i, new_spi_r, ni2, nr2, "rekeyed child SA (CREATE_CHILD_SA)")
    for seq in range(4, 6):
        t.send_inner(ping_pair(INNER_I, INNER_R, 0x1234, seq), 0.2)

    # Delete the old child SA (each side names its own inbound SPI).
    t.clock.tick(1.0)
    t.exchange(m.INFORMATIONAL, 4, [m.delete(3, [child_spi_i])], [m.delete(3, [child_spi_r])])
    t.send_inner(udp_exchange(INNER_I, INNER_R))
    t.send_inner(tcp_flow(INNER_I, INNER_R, base=1))

    # Delete the IKE SA (and with it every child SA).
    t.clock.tick(2.0)
    t.exchange(m.INFORMATIONAL, 5, [m.delete(1, [])], [])

    ike_only = KeyBook(ike=[ike_keys])
    profile = "ikev2-tunnel.wireshark/"
    return {
        "ikev2-tunnel.pcapng": t.pcap.to_bytes(),
        "ikev2-tunnel.keys.toml": t.book.toml(
            "Keys for ikev2-tunnel.pcapng: IKE SA and every ESP SA"
        ).encode(),
        "ikev2-tunnel.ike-only.toml": ike_only.toml(
            "IKE keys only for ikev2-tunnel.pcapng: the ESP keys must be derived from sk_d",
            include_sas=False,
        ).encode(),
        profile + "esp_sa": t.book.esp_sa().encode(),
        profile + "ikev2_decryption_table": t.book.ikev2_table(WS_IKE_ENCR, WS_IKE_INTEG).encode(),
        profile + "preferences": PREFERENCES.encode(),
    }


PREFERENCES = """\
# Wireshark preferences for the ikev2-tunnel sample profile.
esp.enable_encryption_decode: TRUE
esp.enable_authentication_check: TRUE
"""
