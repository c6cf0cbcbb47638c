"""IKEv1 payload encoding and RFC 2409 keying (PSK Main Mode, Quick Mode, Informational).

Why hand-encoded payload bodies: scapy's ISAKMP layer names only phase-1 attributes and has no
NAT-D payload, while the sample needs IPsec-DOI attributes and RFC 3947 NAT-D. The generic
payload header is four bytes, so the bodies are packed with ``struct`` and the header comes
from scapy's ``ISAKMP`` layer.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from scapy.layers.isakmp import ISAKMP

SA, PROPOSAL, TRANSFORM, KE, ID, HASH, NONCE, NOTIFICATION, DELETE, VID, NAT_D = (
    1,
    2,
    3,
    4,
    5,
    8,
    10,
    11,
    12,
    13,
    20,
)
MAIN_MODE, INFORMATIONAL, QUICK_MODE = 2, 5, 32
FLAG_ENCRYPTED = 0x01


def tv(attr_type: int, value: int) -> bytes:
    """A TV attribute (AF bit set): 2-byte type, 2-byte value."""
    return struct.pack("!HH", 0x8000 | attr_type, value)


def transform(number: int, transform_id: int, attrs: list[bytes], last: bool = True) -> bytes:
    body = struct.pack("!BBH", number, transform_id, 0) + b"".join(attrs)
    return struct.pack("!BBH", 0 if last else TRANSFORM, 0, 4 + len(body)) + body


def proposal(number: int, protocol: int, spi: bytes, transforms: list[bytes]) -> bytes:
    body = struct.pack("!BBBB", number, protocol, len(spi), len(transforms)) + spi
    body += b"".join(transforms)
    return struct.pack("!BBH", 0, 0, 4 + len(body)) + body


def sa_body(proposals: bytes) -> bytes:
    """DOI IPsec (1), situation SIT_IDENTITY_ONLY (1), then the proposals."""
    return struct.pack("!II", 1, 1) + proposals


def id_body(id_type: int, protocol: int, port: int, data: bytes) -> bytes:
    return struct.pack("!BBH", id_type, protocol, port) + data


def delete_body(protocol: int, spis: list[bytes]) -> bytes:
    size = len(spis[0]) if spis else 0
    return struct.pack("!IBBH", 1, protocol, size, len(spis)) + b"".join(spis)


def chain(payloads: list[tuple[int, bytes]]) -> tuple[int, bytes]:
    """Generic payload headers around each body; returns (first type, bytes)."""
    out = b""
    for i, (_, body) in enumerate(payloads):
        nxt = payloads[i + 1][0] if i + 1 < len(payloads) else 0
        out += struct.pack("!BBH", nxt, 0, 4 + len(body)) + body
    return (payloads[0][0] if payloads else 0), out


def header(
    cky_i: bytes, cky_r: bytes, first: int, exch: int, flags: int, mid: int, n: int
) -> bytes:
    return bytes(
        ISAKMP(
            init_cookie=cky_i,
            resp_cookie=cky_r,
            next_payload=first,
            version=0x10,
            exch_type=exch,
            flags=flags,
            id=mid,
            length=28 + n,
        )
    )


def prf(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha1).digest()


@dataclass
class Phase1Keys:
    skeyid: bytes
    skeyid_d: bytes
    skeyid_a: bytes
    skeyid_e: bytes
    enc_key: bytes


def phase1_keys(
    psk: bytes, ni_b: bytes, nr_b: bytes, g_xy: bytes, cky_i: bytes, cky_r: bytes
) -> Phase1Keys:
    """RFC 2409 §5 keying for pre-shared keys, with a 128-bit AES key from SKEYID_e."""
    skeyid = prf(psk, ni_b + nr_b)
    d = prf(skeyid, g_xy + cky_i + cky_r + b"\x00")
    a = prf(skeyid, d + g_xy + cky_i + cky_r + b"\x01")
    e = prf(skeyid, a + g_xy + cky_i + cky_r + b"\x02")
    return Phase1Keys(skeyid, d, a, e, e[:16])


def keymat(skeyid_d: bytes, protocol: int, spi: bytes, ni_b: bytes, nr_b: bytes, n: int) -> bytes:
    """Quick Mode KEYMAT without PFS (RFC 2409 §5.5), expanded to ``n`` bytes."""
    seed = bytes([protocol]) + spi + ni_b + nr_b
    out = b""
    k = b""
    while len(out) < n:
        k = prf(skeyid_d, k + seed)
        out += k
    return out[:n]


def cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """AES-CBC over the payloads, zero-padded to the block size."""
    padded = plaintext + b"\x00" * (-len(plaintext) % 16)
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(padded) + enc.finalize()


def phase2_iv(last_phase1_block: bytes, mid: int) -> bytes:
    """IV of a new exchange: hash(last phase-1 CBC block | M-ID), truncated."""
    return hashlib.sha1(last_phase1_block + mid.to_bytes(4, "big")).digest()[:16]
