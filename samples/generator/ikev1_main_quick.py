"""Sample 2: IKEv1 Main Mode + Quick Mode + ESP + Delete (``ikev1-main-quick.pcap``).

Main Mode with a pre-shared key (AES-CBC-128, SHA-1, MODP-2048, 28800 s), NAT-D payloads and
the RFC 3947 vendor ID (no NAT: the hashes match, so the peers stay on UDP 500), Quick Mode
negotiating ESP AES-CBC-256 + HMAC-SHA1-96 in tunnel mode between two subnets, ESP directly
over IP, then Informational exchanges deleting the ESP SA and the ISAKMP SA. Messages 5 and 6,
Quick Mode and Informational are encrypted with the real RFC 2409 IV chain.
"""

from __future__ import annotations

import hashlib

from scapy.layers.inet import IP
from scapy.layers.ipsec import ESP, SecurityAssociation

from . import ikev1 as v1
from .common import Clock, Rng
from .kex import keypair
from .keyfiles import IkeKeys, KeyBook, SaKeys
from .pcapio import LINKTYPE_ETHERNET, pcap_bytes
from .traffic import ether, ping_pair, tcp_flow, udp_ip

INITIATOR = "192.0.2.1"
RESPONDER = "198.51.100.1"
LAN_I, LAN_R = "203.0.113.10", "203.0.113.130"
PSK = b"ipsec-inspect ikev1 psk"
VID_RFC3947 = bytes.fromhex("4a131c81070358455c5728f20e95452f")
VID_DPD = bytes.fromhex("afcad71368a1f1c96b8696fc77570100")


def _addr(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def nat_d(cky_i: bytes, cky_r: bytes, addr: str, port: int) -> bytes:
    return hashlib.sha1(cky_i + cky_r + _addr(addr) + port.to_bytes(2, "big")).digest()


def build() -> dict[str, bytes]:
    rng = Rng(2409)
    clock = Clock(now=1768471200.0 + 3600)
    frames: list[tuple[float, bytes]] = []

    def send(forward: bool, ike: bytes, dt: float) -> None:
        src, dst = (INITIATOR, RESPONDER) if forward else (RESPONDER, INITIATOR)
        frames.append((clock.tick(dt), ether(udp_ip(src, dst, 500, 500, ike), forward)))

    cky_i, cky_r = rng.spi64(), b"\x00" * 8
    p1_attrs = [
        v1.tv(1, 7),  # Encryption: AES-CBC
        v1.tv(14, 128),  # Key length
        v1.tv(2, 2),  # Hash: SHA
        v1.tv(3, 1),  # Authentication: pre-shared key
        v1.tv(4, 14),  # Group: MODP-2048
        v1.tv(11, 1),  # Life type: seconds
        v1.tv(12, 28800),  # Life duration
    ]
    sa_i_b = v1.sa_body(v1.proposal(1, 1, b"", [v1.transform(1, 1, p1_attrs)]))

    # 1-2: SA negotiation.
    first, body = v1.chain([(v1.SA, sa_i_b), (v1.VID, VID_RFC3947), (v1.VID, VID_DPD)])
    send(True, v1.header(cky_i, cky_r, first, v1.MAIN_MODE, 0, 0, len(body)) + body, 0.0)
    cky_r = rng.spi64()
    first, body = v1.chain([(v1.SA, sa_i_b), (v1.VID, VID_RFC3947), (v1.VID, VID_DPD)])
    send(False, v1.header(cky_i, cky_r, first, v1.MAIN_MODE, 0, 0, len(body)) + body, 0.01)

    # 3-4: KE, nonces, NAT-D (first hash: the peer's address, second: our own).
    kp_i, kp_r = keypair(14, rng.take(32)), keypair(14, rng.take(32))
    ni_b, nr_b = rng.take(32), rng.take(32)
    first, body = v1.chain(
        [
            (v1.KE, kp_i.public),
            (v1.NONCE, ni_b),
            (v1.NAT_D, nat_d(cky_i, cky_r, RESPONDER, 500)),
            (v1.NAT_D, nat_d(cky_i, cky_r, INITIATOR, 500)),
        ]
    )
    send(True, v1.header(cky_i, cky_r, first, v1.MAIN_MODE, 0, 0, len(body)) + body, 0.01)
    first, body = v1.chain(
        [
            (v1.KE, kp_r.public),
            (v1.NONCE, nr_b),
            (v1.NAT_D, nat_d(cky_i, cky_r, INITIATOR, 500)),
            (v1.NAT_D, nat_d(cky_i, cky_r, RESPONDER, 500)),
        ]
    )
    send(False, v1.header(cky_i, cky_r, first, v1.MAIN_MODE, 0, 0, len(body)) + body, 0.05)

    g_xy = kp_i.shared(kp_r.public)
    assert g_xy == kp_r.shared(kp_i.public)
    keys = v1.phase1_keys(PSK, ni_b, nr_b, g_xy, cky_i, cky_r)

    def encrypted(
        forward: bool, exch: int, mid: int, payloads: list[tuple[int, bytes]], iv: bytes, dt: float
    ) -> bytes:
        first, plain = v1.chain(payloads)
        cipher = v1.cbc_encrypt(keys.enc_key, iv, plain)
        hdr = v1.header(cky_i, cky_r, first, exch, v1.FLAG_ENCRYPTED, mid, len(cipher))
        send(forward, hdr + cipher, dt)
        return cipher[-16:]

    # 5-6: identities and HASH_I / HASH_R, encrypted.
    idii_b = v1.id_body(1, 17, 500, _addr(INITIATOR))
    idir_b = v1.id_body(1, 17, 500, _addr(RESPONDER))
    hash_i = v1.prf(keys.skeyid, kp_i.public + kp_r.public + cky_i + cky_r + sa_i_b + idii_b)
    hash_r = v1.prf(keys.skeyid, kp_r.public + kp_i.public + cky_r + cky_i + sa_i_b + idir_b)
    iv = hashlib.sha1(kp_i.public + kp_r.public).digest()[:16]
    iv = encrypted(True, v1.MAIN_MODE, 0, [(v1.ID, idii_b), (v1.HASH, hash_i)], iv, 0.01)
    last_p1 = encrypted(False, v1.MAIN_MODE, 0, [(v1.ID, idir_b), (v1.HASH, hash_r)], iv, 0.01)

    # Quick Mode: ESP AES-CBC-256 + HMAC-SHA1-96, tunnel, subnet identities.
    mid = int.from_bytes(rng.take(4), "big")
    spi_i, spi_r = rng.spi32(), rng.spi32()
    qm_ni, qm_nr = rng.take(16), rng.take(16)
    p2_attrs = [
        v1.tv(1, 1),  # SA life type: seconds
        v1.tv(2, 3600),  # SA life duration
        v1.tv(4, 1),  # Encapsulation mode: tunnel
        v1.tv(5, 2),  # Authentication algorithm: HMAC-SHA
        v1.tv(6, 256),  # Key length
    ]
    idci = v1.id_body(4, 0, 0, _addr("203.0.113.0") + _addr("255.255.255.128"))
    idcr = v1.id_body(4, 0, 0, _addr("203.0.113.128") + _addr("255.255.255.128"))

    def qm_sa(spi: bytes) -> bytes:
        return v1.sa_body(v1.proposal(1, 3, spi, [v1.transform(1, 12, p2_attrs)]))

    mbytes = mid.to_bytes(4, "big")
    _, rest1 = v1.chain([(v1.SA, qm_sa(spi_i)), (v1.NONCE, qm_ni), (v1.ID, idci), (v1.ID, idcr)])
    hash1 = v1.prf(keys.skeyid_a, mbytes + rest1)
    _, rest2 = v1.chain([(v1.SA, qm_sa(spi_r)), (v1.NONCE, qm_nr), (v1.ID, idci), (v1.ID, idcr)])
    hash2 = v1.prf(keys.skeyid_a, mbytes + qm_ni + rest2)
    hash3 = v1.prf(keys.skeyid_a, b"\x00" + mbytes + qm_ni + qm_nr)
    clock.tick(0.5)
    iv = v1.phase2_iv(last_p1, mid)
    qm1 = [(v1.HASH, hash1), (v1.SA, qm_sa(spi_i)), (v1.NONCE, qm_ni), (v1.ID, idci), (v1.ID, idcr)]
    iv = encrypted(True, v1.QUICK_MODE, mid, qm1, iv, 0.0)
    qm2 = [(v1.HASH, hash2), (v1.SA, qm_sa(spi_r)), (v1.NONCE, qm_nr), (v1.ID, idci), (v1.ID, idcr)]
    iv = encrypted(False, v1.QUICK_MODE, mid, qm2, iv, 0.01)
    encrypted(True, v1.QUICK_MODE, mid, [(v1.HASH, hash3)], iv, 0.01)

    book = KeyBook()
    book.ike.append(
        IkeKeys(
            1,
            cky_i,
            cky_r,
            "ENCR_AES_CBC",
            "AUTH_HMAC_SHA1_96",
            "PRF_HMAC_SHA1",
            {
                "skeyid_d": keys.skeyid_d,
                "skeyid_a": keys.skeyid_a,
                "skeyid_e": keys.skeyid_e,
                "enc_key": keys.enc_key,
                "dh_secret": g_xy,
            },
            comment="ISAKMP SA (AES-CBC with a 128-bit key, SHA-1, MODP-2048)",
        )
    )
    sas: dict[bool, SecurityAssociation] = {}
    for forward, spi in ((True, spi_r), (False, spi_i)):
        km = v1.keymat(keys.skeyid_d, 3, spi, qm_ni, qm_nr, 52)
        enc_key, auth_key = km[:32], km[32:]
        src, dst = (INITIATOR, RESPONDER) if forward else (RESPONDER, INITIATOR)
        sas[forward] = SecurityAssociation(
            ESP,
            spi=int.from_bytes(spi, "big"),
            crypt_algo="AES-CBC",
            crypt_key=enc_key,
            auth_algo="HMAC-SHA1-96",
            auth_key=auth_key,
            tunnel_header=IP(src=src, dst=dst),
        )
        book.sas.append(
            SaKeys(
                "esp",
                spi,
                src,
                dst,
                "ENCR_AES_CBC",
                enc_key,
                "AUTH_HMAC_SHA1_96",
                auth_key,
                comment=f"Quick Mode SA, {'initiator to responder' if forward else 'responder to initiator'}",
                wireshark_encryption="AES-CBC [RFC3602]",
                wireshark_integrity="HMAC-SHA-1-96 [RFC2404]",
            )
        )

    flows = (
        ping_pair(LAN_I, LAN_R, 0x77, 1)
        + ping_pair(LAN_I, LAN_R, 0x77, 2)
        + tcp_flow(LAN_I, LAN_R, 7)
    )
    for forward, inner in flows:
        outer = sas[forward].encrypt(inner, iv=rng.take(16))
        frames.append((clock.tick(0.05), ether(outer, forward)))

    # Informational: delete the ESP SA (our inbound SPI), then the ISAKMP SA.
    for payload in (v1.delete_body(3, [spi_i]), v1.delete_body(1, [cky_i + cky_r])):
        mid = int.from_bytes(rng.take(4), "big")
        h = v1.prf(keys.skeyid_a, mid.to_bytes(4, "big") + v1.chain([(v1.DELETE, payload)])[1])
        iv = v1.phase2_iv(last_p1, mid)
        clock.tick(1.0)
        encrypted(True, v1.INFORMATIONAL, mid, [(v1.HASH, h), (v1.DELETE, payload)], iv, 0.0)

    return {
        "ikev1-main-quick.pcap": pcap_bytes(frames, LINKTYPE_ETHERNET),
        "ikev1-main-quick.keys.toml": book.toml("Keys for ikev1-main-quick.pcap").encode(),
        "ikev1-main-quick.wireshark/ikev1_decryption_table": book.ikev1_table().encode(),
        "ikev1-main-quick.wireshark/esp_sa": book.esp_sa().encode(),
        "ikev1-main-quick.wireshark/preferences": PREFERENCES.encode(),
    }


PREFERENCES = """\
# Wireshark preferences for the ikev1-main-quick sample profile.
esp.enable_encryption_decode: TRUE
esp.enable_authentication_check: TRUE
"""
