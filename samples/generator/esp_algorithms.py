"""Sample 3: one ESP SA per algorithm scapy's ``SecurityAssociation`` offers.

Why: the analyser's ESP decryption is tested against an independent implementation (scapy)
for every cipher and integrity algorithm it offers, in IPv4 and IPv6, tunnel and transport
mode, with one SA using extended sequence numbers across a 32-bit wrap.
"""

from __future__ import annotations

from dataclasses import dataclass

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.packet import Packet, Raw

from .common import Clock, Rng
from .keyfiles import KeyBook, SaKeys
from .pcapio import LINKTYPE_RAW, pcap_bytes


@dataclass(frozen=True)
class Case:
    """One SA: scapy names, IANA names, key sizes, Wireshark names, addressing."""

    scapy_crypt: str
    iana_crypt: str
    crypt_key_len: int  # including salt / nonce
    scapy_auth: str
    iana_auth: str
    auth_key_len: int
    ws_crypt: str | None
    ws_auth: str | None
    v6: bool = False
    tunnel: bool = True
    icv_size: int | None = None
    esn: bool = False


CASES = [
    Case(
        "NULL",
        "ENCR_NULL",
        0,
        "HMAC-SHA1-96",
        "AUTH_HMAC_SHA1_96",
        20,
        "NULL",
        "HMAC-SHA-1-96 [RFC2404]",
        tunnel=False,
    ),
    Case(
        "AES-CBC",
        "ENCR_AES_CBC",
        16,
        "HMAC-SHA1-96",
        "AUTH_HMAC_SHA1_96",
        20,
        "AES-CBC [RFC3602]",
        "HMAC-SHA-1-96 [RFC2404]",
    ),
    Case(
        "AES-CBC",
        "ENCR_AES_CBC",
        24,
        "SHA2-384-192",
        "AUTH_HMAC_SHA2_384_192",
        48,
        "AES-CBC [RFC3602]",
        "HMAC-SHA-384-192 [RFC4868]",
        tunnel=False,
    ),
    Case(
        "AES-CBC",
        "ENCR_AES_CBC",
        32,
        "SHA2-256-128",
        "AUTH_HMAC_SHA2_256_128",
        32,
        "AES-CBC [RFC3602]",
        "HMAC-SHA-256-128 [RFC4868]",
        v6=True,
    ),
    Case(
        "AES-CTR",
        "ENCR_AES_CTR",
        20,
        "SHA2-512-256",
        "AUTH_HMAC_SHA2_512_256",
        64,
        "AES-CTR [RFC3686]",
        "HMAC-SHA-512-256 [RFC4868]",
    ),
    Case(
        "AES-GCM",
        "ENCR_AES_GCM_16",
        20,
        "NULL",
        "NONE",
        0,
        "AES-GCM with 16 octet ICV [RFC4106]",
        "NULL",
    ),
    Case(
        "AES-GCM",
        "ENCR_AES_GCM_12",
        36,
        "NULL",
        "NONE",
        0,
        "AES-GCM with 12 octet ICV [RFC4106]",
        "NULL",
        v6=True,
        icv_size=12,
    ),
    Case(
        "AES-GCM",
        "ENCR_AES_GCM_8",
        28,
        "NULL",
        "NONE",
        0,
        "AES-GCM with 8 octet ICV [RFC4106]",
        "NULL",
        tunnel=False,
        icv_size=8,
    ),
    Case("AES-CCM", "ENCR_AES_CCM_16", 19, "NULL", "NONE", 0, None, None),
    Case("AES-CCM", "ENCR_AES_CCM_8", 35, "NULL", "NONE", 0, None, None, v6=True, icv_size=8),
    Case(
        "AES-NULL-GMAC",
        "ENCR_NULL_AUTH_AES_GMAC",
        20,
        "NULL",
        "NONE",
        0,
        None,
        None,
        v6=True,
        tunnel=False,
    ),
    Case("CHACHA20-POLY1305", "ENCR_CHACHA20_POLY1305", 36, "NULL", "NONE", 0, None, None),
    Case(
        "3DES",
        "ENCR_3DES",
        24,
        "HMAC-MD5-96",
        "AUTH_HMAC_MD5_96",
        16,
        "TripleDES-CBC [RFC2451]",
        "HMAC-MD5-96 [RFC2403]",
    ),
    Case(
        "DES",
        "ENCR_DES",
        8,
        "HMAC-SHA1-96",
        "AUTH_HMAC_SHA1_96",
        20,
        "DES-CBC [RFC2405]",
        "HMAC-SHA-1-96 [RFC2404]",
        tunnel=False,
    ),
    Case(
        "CAST",
        "ENCR_CAST",
        16,
        "SHA2-256-128",
        "AUTH_HMAC_SHA2_256_128",
        32,
        "CAST5-CBC [RFC2144]",
        "HMAC-SHA-256-128 [RFC4868]",
        v6=True,
    ),
    Case(
        "Blowfish",
        "ENCR_BLOWFISH",
        16,
        "AES-CMAC-96",
        "AUTH_AES_CMAC_96",
        16,
        "BLOWFISH-CBC [RFC2451]",
        "ANY 96 bit authentication [no checking]",
    ),
    # Extended sequence numbers across the 32-bit wrap; Wireshark 4.0 has no ESN, so its ICV
    # check is turned off for this SA (the ICV covers the high-order 32 bits).
    Case(
        "AES-CBC",
        "ENCR_AES_CBC",
        16,
        "SHA2-256-128",
        "AUTH_HMAC_SHA2_256_128",
        32,
        "AES-CBC [RFC3602]",
        "ANY 128 bit authentication [no checking]",
        esn=True,
    ),
]

# (sequence low 32 bits, high 32 bits) of the ESN SA's packets.
ESN_SEQUENCE = [(0xFFFFFFFE, 0), (0xFFFFFFFF, 0), (0x00000000, 1), (0x00000001, 1)]


def _addresses(index: int, v6: bool) -> tuple[str, str]:
    if v6:
        return f"2001:db8:{index:x}::1", f"2001:db8:{index:x}::2"
    return f"192.0.2.{10 + index}", f"198.51.100.{10 + index}"


def _inner(index: int, src: str, dst: str, n: int) -> Packet:
    """The protected packet: a UDP datagram between the SA's endpoints (or inner hosts)."""
    data = Raw(f"esp-algorithms sa {index} packet {n}".encode())
    ip: Packet = IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst, id=n)
    return ip / UDP(sport=5000 + index, dport=6000) / data


def _truncate_gcm_icv(outer: Packet, cut: int) -> Packet:
    """Shorten a 16-byte GCM tag to 12 or 8 bytes.

    scapy's AES-GCM always emits the full 16-byte tag; a shorter GCM ICV is by definition
    its leading bytes (NIST SP 800-38D §5.2.1.2, RFC 4106 §6), so cutting the tail yields
    the exact packet an ENCR_AES_GCM_12 or _8 sender produces. The IP length is recomputed.
    """
    esp = outer[ESP]
    esp.data = esp.data[:-cut]
    if outer.version == 4:
        del outer.len
        del outer.chksum
    else:
        del outer.plen
    return outer.__class__(bytes(outer))


def build() -> dict[str, bytes]:
    rng = Rng(4303)
    clock = Clock(now=1768471200.0 + 7200)
    frames: list[tuple[float, bytes]] = []
    book = KeyBook()
    for index, case in enumerate(CASES, start=1):
        src, dst = _addresses(index, case.v6)
        spi = rng.spi32()
        crypt_key = rng.take(case.crypt_key_len)
        auth_key = rng.take(case.auth_key_len)
        tunnel_header = None
        if case.tunnel:
            tunnel_header = IPv6(src=src, dst=dst) if case.v6 else IP(src=src, dst=dst)
        sa = SecurityAssociation(
            ESP,
            spi=int.from_bytes(spi, "big"),
            crypt_algo=case.scapy_crypt,
            crypt_key=crypt_key or None,
            crypt_icv_size=case.icv_size,
            auth_algo=case.scapy_auth,
            auth_key=auth_key or None,
            tunnel_header=tunnel_header,
            esn_en=case.esn,
        )
        inner_src, inner_dst = (
            (f"2001:db8:{index:x}:1::10", f"2001:db8:{index:x}:2::10")
            if case.v6 and case.tunnel
            else (f"203.0.113.{index}", f"203.0.113.{100 + index}")
            if case.tunnel
            else (src, dst)
        )
        seqs = ESN_SEQUENCE if case.esn else [(n, 0) for n in (1, 2, 3)]
        for n, (seq, high) in enumerate(seqs, start=1):
            pkt = _inner(index, inner_src, inner_dst, n)
            iv_len = sa.crypt_algo.iv_size
            iv = rng.take(iv_len) if iv_len else None
            # scapy reads a sequence number or ESN of 0 as "use the SA's counter", so the
            # counter itself is set (the ESN SA's packet after the wrap has sequence 0).
            sa.seq_num, sa.esn = seq, high
            outer = sa.encrypt(pkt, iv=iv)
            if case.scapy_crypt == "AES-GCM" and case.icv_size and case.icv_size < 16:
                outer = _truncate_gcm_icv(outer, 16 - case.icv_size)
            frames.append((clock.tick(0.01), bytes(outer)))
        mode = "tunnel" if case.tunnel else "transport"
        book.sas.append(
            SaKeys(
                "esp",
                spi,
                src,
                dst,
                case.iana_crypt,
                crypt_key,
                case.iana_auth,
                auth_key,
                esn=case.esn,
                comment=f"SA {index}: {case.iana_crypt} ({len(crypt_key)}-byte key) + {case.iana_auth}, IPv{6 if case.v6 else 4} {mode}{', ESN' if case.esn else ''}",
                wireshark_encryption=case.ws_crypt,
                wireshark_integrity=case.ws_auth,
            )
        )
    return {
        "esp-algorithms.pcap": pcap_bytes(frames, LINKTYPE_RAW),
        "esp-algorithms.keys.toml": book.toml(
            "Keys for esp-algorithms.pcap: one ESP SA per algorithm"
        ).encode(),
        "esp-algorithms.wireshark/esp_sa": book.esp_sa().encode(),
        "esp-algorithms.wireshark/preferences": PREFERENCES.encode(),
    }


PREFERENCES = """\
# Wireshark preferences for the esp-algorithms sample profile.
esp.enable_encryption_decode: TRUE
esp.enable_authentication_check: TRUE
"""
