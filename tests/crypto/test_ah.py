"""AH ICV verification against packets scapy's SecurityAssociation signed."""

from __future__ import annotations

import random
import warnings

import pytest

from ipsec_inspect.crypto.ah import verify_ah
from ipsec_inspect.crypto.algorithms import integrity_by_name
from ipsec_inspect.crypto.keys import SaKey

warnings.filterwarnings("ignore", module="scapy")
from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop, RouterAlert  # noqa: E402
from scapy.layers.ipsec import AH, SecurityAssociation  # noqa: E402
from scapy.packet import Raw  # noqa: E402

ALGS = [("HMAC-SHA1-96", "AUTH_HMAC_SHA1_96", 20), ("SHA2-256-128", "sha256", 32),
        ("SHA2-384-192", "sha384", 48), ("SHA2-512-256", "sha512", 64),
        ("HMAC-MD5-96", "md5", 16), ("AES-CMAC-96", "aescmac", 16)]  # fmt: skip
PACKETS = {
    "ipv4": IP(src="192.0.2.1", dst="192.0.2.2", tos=0x10, ttl=33)
    / UDP(sport=1, dport=2)
    / Raw(b"a" * 30),
    "ipv6": IPv6(src="2001:db8::1", dst="2001:db8::2", tc=3, fl=0x12345, hlim=7)
    / UDP()
    / Raw(b"b" * 21),
    "ipv6-hbh": IPv6(src="2001:db8::1", dst="2001:db8::2")
    / IPv6ExtHdrHopByHop(options=[RouterAlert()])
    / UDP()
    / Raw(b"c" * 9),
}


def _signed(scapy_alg: str, packet, key: bytes, esn: int | None = None) -> bytes:
    kw = {"esn_en": True, "esn": esn} if esn is not None else {}
    sa = SecurityAssociation(AH, spi=0x4242, auth_algo=scapy_alg, auth_key=key, **kw)
    return bytes(sa.encrypt(packet, seq_num=9))


def _ah_offset(data: bytes) -> int:
    return data.find(b"\x00\x00\x42\x42") - 4


def _mutate(data: bytes) -> bytes:
    """Change what routers change: TTL / hop limit, TOS / traffic class, IPv4 checksum."""
    b = bytearray(data)
    if b[0] >> 4 == 4:
        b[1] ^= 0xFC
        b[8] -= 3
        b[10:12] = b"\xbe\xef"
        b[6] |= 0x40  # DF
    else:
        b[0] = 0x6F
        b[3] ^= 0x55
        b[7] = 1
    return bytes(b)


@pytest.mark.parametrize(("scapy_alg", "ours", "key_len"), ALGS)
@pytest.mark.parametrize("kind", list(PACKETS))
@pytest.mark.parametrize("esn", [None, 7])
def test_scapy_signed_packets_verify(
    scapy_alg: str, ours: str, key_len: int, kind: str, esn: int | None
) -> None:
    rnd = random.Random(f"{scapy_alg}{kind}{esn}")
    key_bytes = rnd.randbytes(key_len)
    data = _signed(scapy_alg, PACKETS[kind], key_bytes, esn)
    key = SaKey(
        "ah", 0x4242, None, None, None, b"", integrity_by_name(ours), key_bytes, esn=esn is not None
    )
    off = _ah_offset(data)
    assert off == (20 if kind == "ipv4" else 40 if kind == "ipv6" else 48)
    assert verify_ah(key, data, off, esn or 0) == "ok"
    assert verify_ah(key, _mutate(data), off, esn or 0) == "ok"
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    assert verify_ah(key, tampered, off, esn or 0) == "icv-failed"
    wrong = SaKey(
        "ah",
        0x4242,
        None,
        None,
        None,
        b"",
        integrity_by_name(ours),
        rnd.randbytes(key_len),
        esn=esn is not None,
    )
    assert verify_ah(wrong, data, off, esn or 0) == "icv-failed"
    if esn is not None:
        assert verify_ah(key, data, off, esn + 1) == "icv-failed"


def test_errors_are_reported_not_raised() -> None:
    sha1 = integrity_by_name("sha1")
    key = SaKey("ah", 1, None, None, None, b"", sha1, b"k" * 20)
    data = _signed("HMAC-SHA1-96", PACKETS["ipv4"], b"k" * 20)
    assert verify_ah(key, data[:25], 20) == "error: AH header is truncated"
    assert verify_ah(key, b"\x70" + data[1:], 20) == "error: not an IPv6 header"
    none_key = SaKey("ah", 1, None, None, None, b"", None, b"")
    assert verify_ah(none_key, data, 20) == "error: the AH key has no integrity algorithm"
    unchecked = SaKey(
        "ah",
        1,
        None,
        None,
        None,
        b"",
        integrity_by_name("ANY 96 bit authentication [no checking]"),
        b"",
    )
    assert verify_ah(unchecked, data, 20) == "error: ANY_96_UNCHECKED ICVs cannot be verified"
    big = SaKey("ah", 1, None, None, None, b"", integrity_by_name("sha512"), b"k" * 64)
    assert verify_ah(big, data, 20).startswith(
        "error: AH authentication data of 12 bytes cannot hold"
    )
    cmac_short = SaKey("ah", 1, None, None, None, b"", integrity_by_name("aescmac"), b"k" * 5)
    assert verify_ah(cmac_short, data, 20) == "error: AUTH_AES_CMAC_96: key is 5 bytes, expected 16"


def test_ipv4_options_mutable_zeroed_immutable_kept() -> None:
    key_bytes = b"o" * 20
    pkt = IP(src="192.0.2.1", dst="192.0.2.2", options=b"\x94\x04\x00\x00") / UDP() / Raw(b"x" * 8)
    data = _signed("HMAC-SHA1-96", pkt, key_bytes)
    key = SaKey("ah", 0x4242, None, None, None, b"", integrity_by_name("sha1"), key_bytes)
    assert verify_ah(key, data, 24) == "ok"
    changed = bytearray(data)
    changed[22] = 1  # router alert value is immutable: covered by the ICV
    assert verify_ah(key, bytes(changed), 24) == "icv-failed"
