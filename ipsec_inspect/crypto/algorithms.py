"""The cryptographic primitives behind the algorithm rows, and the rows re-exported.

The rows themselves (one per transform: IANA id, lengths, primitive, every dialect's name,
RFC 8221/8247 strength) are data in ``ipsec/registry/algorithms.py``, so the registries
below ``crypto/`` read them too. Here the primitive columns (``EncryptionAlg.cipher`` and
``.mode``, ``IntegrityAlg.kind``, ``PrfAlg.kind``) are bound to ``cryptography`` objects by
tables keyed by those values — never by an algorithm's name — so a new row with a known
primitive needs nothing here, and a new primitive is one table entry.

All cryptography comes from the ``cryptography`` package. AES-XCBC-MAC (RFC 3566) is
assembled from AES in CBC mode exactly as the RFC defines it; CMAC comes from
``cryptography``'s CMAC. Algorithms that ``cryptography`` does not offer (Twofish,
RIPEMD-160, Camellia-CCM, ...) are still rows, marked unavailable with a reason, so a key
file naming them loads and each SA reports a clear message instead of crashing.
"""

from __future__ import annotations

import hmac as _stdlib_hmac
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers import algorithms as decrepit
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.cmac import CMAC

# The rows and their look-ups, re-exported: callers in crypto/ and above import them here.
from ipsec_inspect.ipsec.registry.algorithms import (
    ENCRYPTION_ALGORITHMS,
    INTEGRITY_ALGORITHMS,
    PRF_ALGORITHMS,
    EncryptionAlg,
    IntegrityAlg,
    PrfAlg,
    Strength,
    UnknownAlgorithm,
    encryption_by_id,
    encryption_by_ikev1_attribute,
    encryption_by_ikev1_esp_id,
    encryption_by_name,
    integrity_by_id,
    integrity_by_ikev1_attribute,
    integrity_by_name,
    prf_by_id,
    prf_by_ikev1_hash,
    prf_by_name,
)

# --------------------------------------------------------------------------- errors


class CryptoError(ValueError):
    """A key or input that cannot be used (wrong length, unavailable algorithm)."""


class IntegrityError(CryptoError):
    """The ICV / AEAD tag does not verify: wrong key or altered data."""


__all__ = [
    "ENCRYPTION_ALGORITHMS",
    "INTEGRITY_ALGORITHMS",
    "PRF_ALGORITHMS",
    "CryptoError",
    "EncryptionAlg",
    "IntegrityAlg",
    "IntegrityError",
    "PrfAlg",
    "Strength",
    "UnknownAlgorithm",
    "aead_cipher",
    "aead_decrypt",
    "aead_decrypt_prepared",
    "aead_encrypt",
    "aes_cmac",
    "aes_xcbc_mac",
    "block_cipher",
    "check_encryption_key",
    "check_integrity_key",
    "cipher_decrypt",
    "cipher_encrypt",
    "compute_icv",
    "compute_prf",
    "encryption_by_id",
    "encryption_by_ikev1_attribute",
    "encryption_by_ikev1_esp_id",
    "encryption_by_name",
    "gmac_tag",
    "hash_algorithm",
    "integrity_by_id",
    "integrity_by_ikev1_attribute",
    "integrity_by_name",
    "nonce",
    "prf_by_id",
    "prf_by_ikev1_hash",
    "prf_by_name",
    "split_salt",
    "verify_icv",
]


# --------------------------------------------------------------------------- primitives

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "md5": hashes.MD5,
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    """A ``cryptography`` hash object by our short name (md5, sha1, sha256...)."""
    factory = _HASHES.get(name)
    if factory is None:
        raise CryptoError(f"hash {name!r} is not available")
    return factory()


#: ``EncryptionAlg.cipher`` -> the ``cryptography`` block cipher for a raw key
BLOCK_CIPHERS: dict[str, Callable[[bytes], CipherAlgorithm]] = {
    "aes": algorithms.AES,
    "camellia": decrepit.Camellia,
    "3des": decrepit.TripleDES,
    # Single DES is 3DES with K1 = K2 = K3 (EDE collapses to one encryption).
    "des": lambda key: decrepit.TripleDES(key * 3),
    "blowfish": decrepit.Blowfish,
    "cast5": decrepit.CAST5,
}

AeadObject = AESGCM | AESCCM | ChaCha20Poly1305

#: ``EncryptionAlg.mode`` of an AEAD row -> its reusable ``cryptography`` object for a raw
#: key; None where the tag length needs the streaming GCM interface (8/12-byte GCM tags)
AEAD_CIPHERS: dict[str, Callable[[EncryptionAlg, bytes], AeadObject | None]] = {
    "gcm": lambda alg, key: AESGCM(key) if alg.icv_len == 16 else None,
    "gmac": lambda alg, key: AESGCM(key) if alg.icv_len == 16 else None,
    "ccm": lambda alg, key: AESCCM(key, tag_length=alg.icv_len),
    "chacha20-poly1305": lambda _alg, key: ChaCha20Poly1305(key),
}


def block_cipher(alg: EncryptionAlg, key: bytes) -> CipherAlgorithm:
    """The ``cryptography`` block cipher object for a CBC/CTR row and its raw key."""
    factory = BLOCK_CIPHERS.get(alg.cipher)
    if factory is None:
        raise CryptoError(f"{alg.name}: no cipher primitive for {alg.cipher!r}")
    return factory(key)


def check_encryption_key(alg: EncryptionAlg, key: bytes) -> str | None:
    """Why ``key`` cannot be used with ``alg`` (None when it can)."""
    if alg.unavailable:
        return f"{alg.name}: {alg.unavailable}"
    if alg.bits_for_key(key) is None:
        wanted = ", ".join(str(alg.key_len(b)) for b in alg.key_bits)
        return f"{alg.name}: key is {len(key)} bytes, expected {wanted}"
    return None


def check_integrity_key(alg: IntegrityAlg, key: bytes) -> str | None:
    """Why ``key`` cannot be used with ``alg`` (None when it can).

    HMAC takes any key length (RFC 2104), so only the fixed-key MACs are checked.
    """
    if alg.unavailable:
        return f"{alg.name}: {alg.unavailable}"
    if alg.kind in ("xcbc", "cmac", "gmac") and len(key) != alg.key_len:
        return f"{alg.name}: key is {len(key)} bytes, expected {alg.key_len}"
    if alg.kind == "hmac" and not key:
        return f"{alg.name}: empty key"
    return None


def split_salt(alg: EncryptionAlg, key: bytes) -> tuple[bytes, bytes]:
    """(cipher key, salt) for a key that carries its salt at the end."""
    if alg.salt_len:
        return key[: -alg.salt_len], key[-alg.salt_len :]
    return key, b""


def nonce(alg: EncryptionAlg, salt: bytes, iv: bytes) -> bytes:
    """The cipher nonce/counter block for a salted mode (RFC 3686, 4106, 4309, 7634)."""
    if alg.mode == "ctr":
        return salt + iv + b"\x00\x00\x00\x01"
    return salt + iv


def cipher_decrypt(alg: EncryptionAlg, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """Decrypt with a non-AEAD row (NULL, CBC, CTR). ``key`` includes a CTR nonce.

    CBC input must be whole blocks; raises CryptoError otherwise.
    """
    problem = check_encryption_key(alg, key)
    if problem:
        raise CryptoError(problem)
    if alg.mode == "null":
        return ciphertext
    if alg.aead:
        raise CryptoError(f"{alg.name} is an AEAD: use aead_decrypt")
    raw, salt = split_salt(alg, key)
    if alg.mode == "cbc":
        if len(ciphertext) % alg.block_len:
            raise CryptoError(
                f"{alg.name}: ciphertext of {len(ciphertext)} bytes is not a multiple of "
                f"the {alg.block_len}-byte block"
            )
        dec = Cipher(block_cipher(alg, raw), modes.CBC(iv)).decryptor()
    else:
        return ctr_xor(alg, raw, nonce(alg, salt, iv), ciphertext)
    return dec.update(ciphertext) + dec.finalize()


def cipher_encrypt(alg: EncryptionAlg, key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """Encrypt with a non-AEAD row; the counterpart of cipher_decrypt (for tests, rewriting)."""
    problem = check_encryption_key(alg, key)
    if problem:
        raise CryptoError(problem)
    if alg.mode == "null":
        return plaintext
    raw, salt = split_salt(alg, key)
    if alg.mode == "cbc":
        enc = Cipher(block_cipher(alg, raw), modes.CBC(iv)).encryptor()
    else:
        return ctr_xor(alg, raw, nonce(alg, salt, iv), plaintext)
    return enc.update(plaintext) + enc.finalize()


def ctr_xor(alg: EncryptionAlg, raw_key: bytes, counter: bytes, data: bytes) -> bytes:
    """CTR mode (SP 800-38A §6.5) from the block cipher's ECB encryption of the counter
    blocks. Why not ``modes.CTR``: OpenSSL offers CTR for AES but not for Camellia
    (RFC 5529), and the keystream is the same for both."""
    block = 16
    blocks = (len(data) + block - 1) // block
    start = int.from_bytes(counter, "big")
    counters = b"".join(((start + i) % (1 << 128)).to_bytes(block, "big") for i in range(blocks))
    ecb = Cipher(block_cipher(alg, raw_key), modes.ECB()).encryptor()
    stream = (ecb.update(counters) + ecb.finalize())[: len(data)]
    return (int.from_bytes(stream, "big") ^ int.from_bytes(data, "big")).to_bytes(len(data), "big")


def aead_cipher(alg: EncryptionAlg, key: bytes) -> AeadObject | None:
    """A reusable AEAD object for ``alg`` and its raw key, or None when the tag length
    needs the streaming GCM interface (8- and 12-byte GCM tags)."""
    factory = AEAD_CIPHERS.get(alg.mode)
    if factory is None:
        raise CryptoError(f"{alg.name} is not an AEAD we can run")
    return factory(alg, key)


def aead_decrypt(
    alg: EncryptionAlg, key: bytes, iv: bytes, ciphertext: bytes, aad: bytes, icv: bytes
) -> bytes:
    """Decrypt and verify with an AEAD row (GCM, CCM, ChaCha20-Poly1305, GMAC).

    ``key`` includes the salt. For ENCR_NULL_AUTH_AES_GMAC the "ciphertext" is plaintext
    that is authenticated only: the tag covers ``aad`` ‖ ``iv`` ‖ data (RFC 4543 §3.3),
    and the data is returned as is. Raises IntegrityError when the tag does not verify.
    """
    problem = check_encryption_key(alg, key)
    if problem:
        raise CryptoError(problem)
    if len(icv) != alg.icv_len:
        raise CryptoError(f"{alg.name}: ICV is {len(icv)} bytes, expected {alg.icv_len}")
    raw, salt = split_salt(alg, key)
    return aead_decrypt_prepared(alg, aead_cipher(alg, raw), raw, salt, iv, ciphertext, aad, icv)


def aead_decrypt_prepared(
    alg: EncryptionAlg,
    cipher: AeadObject | None,
    raw_key: bytes,
    salt: bytes,
    iv: bytes,
    ciphertext: bytes,
    aad: bytes,
    icv: bytes,
) -> bytes:
    """aead_decrypt with a cipher object made once per SA by aead_cipher (the hot path)."""
    n = salt + iv
    if alg.mode == "gmac":
        aad, ciphertext, result = aad + iv + ciphertext, b"", ciphertext
    else:
        result = b""
    try:
        if cipher is not None:
            out = cipher.decrypt(n, ciphertext + icv, aad)
        else:
            dec = Cipher(
                algorithms.AES(raw_key), modes.GCM(n, icv, min_tag_length=len(icv))
            ).decryptor()
            dec.authenticate_additional_data(aad)
            out = dec.update(ciphertext) + dec.finalize()
    except InvalidTag:
        raise IntegrityError(f"{alg.name}: authentication tag does not verify") from None
    return result if alg.mode == "gmac" else out


def aead_encrypt(
    alg: EncryptionAlg, key: bytes, iv: bytes, plaintext: bytes, aad: bytes
) -> tuple[bytes, bytes]:
    """(ciphertext, icv): the counterpart of aead_decrypt (for tests and rewriting)."""
    problem = check_encryption_key(alg, key)
    if problem:
        raise CryptoError(problem)
    raw, salt = split_salt(alg, key)
    n = salt + iv
    if alg.mode == "gmac":
        tag = AESGCM(raw).encrypt(n, b"", aad + iv + plaintext)
        return plaintext, tag
    cipher = aead_cipher(alg, raw)
    if cipher is None:
        enc = Cipher(algorithms.AES(raw), modes.GCM(n)).encryptor()
        enc.authenticate_additional_data(aad)
        ct = enc.update(plaintext) + enc.finalize()
        return ct, enc.tag[: alg.icv_len]
    out = cipher.encrypt(n, plaintext, aad)
    return out[: -alg.icv_len], out[-alg.icv_len :]


def aes_xcbc_mac(key: bytes, data: bytes) -> bytes:
    """AES-XCBC-MAC (RFC 3566 §4), full 16 bytes, from AES-CBC with a zero IV."""
    if len(key) != 16:
        raise CryptoError(f"AES-XCBC-MAC: key is {len(key)} bytes, expected 16")
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    derived = ecb.update(b"\x01" * 16 + b"\x02" * 16 + b"\x03" * 16) + ecb.finalize()
    k1, k2, k3 = derived[:16], derived[16:32], derived[32:]
    if data and len(data) % 16 == 0:
        head, last, mask = data[:-16], data[-16:], k2
    else:
        cut = len(data) - len(data) % 16
        head, last, mask = data[:cut], data[cut:] + b"\x80" + b"\x00" * (15 - len(data) % 16), k3
    last = bytes(a ^ b for a, b in zip(last, mask, strict=True))
    cbc = Cipher(algorithms.AES(k1), modes.CBC(b"\x00" * 16)).encryptor()
    return (cbc.update(head + last) + cbc.finalize())[-16:]


def aes_cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC (RFC 4493), full 16 bytes."""
    mac = CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()


def gmac_tag(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-GMAC (RFC 4543): ``key`` is the AES key plus its 4-byte salt."""
    raw, salt = key[:-4], key[-4:]
    return AESGCM(raw).encrypt(salt + iv, b"", data)


def compute_icv(alg: IntegrityAlg, key: bytes, data: bytes) -> bytes:
    """The truncated ICV of ``data`` (HMAC, AES-XCBC-96, AES-CMAC-96).

    GMAC needs a per-packet IV, so it goes through gmac_tag instead.
    """
    problem = check_integrity_key(alg, key)
    if problem:
        raise CryptoError(problem)
    mac = MACS.get(alg.kind)
    if mac is None:
        raise CryptoError(f"{alg.name}: no ICV can be computed without an IV ({alg.kind})")
    return mac(alg.hash, key, data)[: alg.icv_len]


def _hmac(digest: str, key: bytes, data: bytes) -> bytes:
    mac = crypto_hmac.HMAC(key, hash_algorithm(digest))
    mac.update(data)
    return mac.finalize()


#: ``IntegrityAlg.kind`` / ``PrfAlg.kind`` -> (digest name, key, data) -> the full MAC
MACS: dict[str, Callable[[str, bytes, bytes], bytes]] = {
    "hmac": _hmac,
    "xcbc": lambda _digest, key, data: aes_xcbc_mac(key, data),
    "cmac": lambda _digest, key, data: aes_cmac(key, data),
}


def verify_icv(alg: IntegrityAlg, key: bytes, data: bytes, icv: bytes) -> bool:
    """Constant-time comparison of compute_icv(...) with ``icv``."""
    return _stdlib_hmac.compare_digest(compute_icv(alg, key, data), icv)


def compute_prf(alg: PrfAlg, key: bytes, data: bytes) -> bytes:
    """prf(key, data) for IKE key derivation (RFC 7296 §2.13, RFC 4434, RFC 4615).

    The AES-based PRFs take a key of any length: shorter keys are zero-padded, longer
    keys are first reduced with the PRF itself under an all-zero key.
    """
    if alg.unavailable:
        raise CryptoError(f"{alg.name}: {alg.unavailable}")
    mac = MACS.get(alg.kind)
    if mac is None:
        raise CryptoError(f"{alg.name}: no primitive for PRF kind {alg.kind!r}")
    if alg.kind != "hmac":  # the AES-based PRFs take a 16-byte key (RFC 4434 §2)
        if len(key) < 16:
            key = key + b"\x00" * (16 - len(key))
        elif len(key) > 16:
            key = mac(alg.hash, b"\x00" * 16, key)
    return mac(alg.hash, key, data)
