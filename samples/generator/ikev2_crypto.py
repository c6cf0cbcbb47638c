"""IKEv2 key derivation and SK payload protection (RFC 7296 §2.13-2.17, §3.14, §2.15).

Only what the samples use: PRF_HMAC_SHA2_256, ENCR_AES_CBC (256) and AUTH_HMAC_SHA2_256_128.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def prf(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def prf_plus(key: bytes, seed: bytes, length: int) -> bytes:
    """prf+ (RFC 7296 §2.13): T1 | T2 | ... with Tn = prf(K, Tn-1 | S | n)."""
    out = b""
    t = b""
    n = 1
    while len(out) < length:
        t = prf(key, t + seed + bytes([n]))
        out += t
        n += 1
    return out[:length]


@dataclass
class IkeSaKeys:
    sk_d: bytes
    sk_ai: bytes
    sk_ar: bytes
    sk_ei: bytes
    sk_er: bytes
    sk_pi: bytes
    sk_pr: bytes


def derive_ike_sa(
    ni: bytes, nr: bytes, g_ir: bytes, spi_i: bytes, spi_r: bytes, enc_len: int = 32
) -> IkeSaKeys:
    """SKEYSEED = prf(Ni | Nr, g^ir); the seven keys from prf+(SKEYSEED, Ni|Nr|SPIi|SPIr)."""
    skeyseed = prf(ni + nr, g_ir)
    sizes = [32, 32, 32, enc_len, enc_len, 32, 32]
    stream = prf_plus(skeyseed, ni + nr + spi_i + spi_r, sum(sizes))
    parts = []
    pos = 0
    for size in sizes:
        parts.append(stream[pos : pos + size])
        pos += size
    return IkeSaKeys(*parts)


def child_keymat(sk_d: bytes, ni: bytes, nr: bytes, length: int, g_ir: bytes = b"") -> bytes:
    """KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) (RFC 7296 §2.17)."""
    return prf_plus(sk_d, g_ir + ni + nr, length)


def encrypt_sk(
    header_and_clear: bytes, sk_e: bytes, sk_a: bytes, iv: bytes, plaintext: bytes
) -> bytes:
    """Encrypt ``plaintext`` (the inner payloads) into SK body bytes: IV | C | ICV.

    ``header_and_clear`` is the message as it will be on the wire up to the SK body, with the
    final lengths already filled in; the ICV covers it plus IV and ciphertext.
    """
    pad_len = (-(len(plaintext) + 1)) % 16
    padded = plaintext + bytes(range(1, pad_len + 1)) + bytes([pad_len])
    enc = Cipher(algorithms.AES(sk_e), modes.CBC(iv)).encryptor()
    ciphertext = enc.update(padded) + enc.finalize()
    icv = hmac.new(sk_a, header_and_clear + iv + ciphertext, hashlib.sha256).digest()[:16]
    return iv + ciphertext + icv


def sk_body_length(plaintext_len: int) -> int:
    """Bytes of IV | C | ICV for a plaintext of that length (AES-CBC, 16-byte ICV)."""
    return 16 + (plaintext_len + 1 + 15) // 16 * 16 + 16


def psk_auth(
    psk: bytes, signed_message: bytes, peer_nonce: bytes, sk_p: bytes, id_body: bytes
) -> bytes:
    """AUTH = prf(prf(PSK, "Key Pad for IKEv2"), Message | Nonce | prf(SK_p, IDbody))."""
    octets = signed_message + peer_nonce + prf(sk_p, id_body)
    return prf(prf(psk, b"Key Pad for IKEv2"), octets)
