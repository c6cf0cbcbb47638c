"""The IPsec algorithm table: one row per transform, and the primitives that use it.

Why one table: ESP, AH, IKEv1 and IKEv2 all name the same ciphers and MACs, but in five
dialects (IANA transform names, strongSwan proposal keywords, strongSwan log names,
Wireshark's UAT strings, IKEv1 attribute values). Every row carries its IANA id, its
lengths and its aliases, so decryption, the TUI's names and the audit rules all read the
same facts, and adding an algorithm is adding a row.

All cryptography comes from the ``cryptography`` package. AES-XCBC-MAC (RFC 3566) is
assembled from AES in CBC mode exactly as the RFC defines it; CMAC comes from
``cryptography``'s CMAC. Algorithms that ``cryptography`` does not offer (Twofish,
RIPEMD-160, Camellia-CCM, ...) are still rows, marked unavailable with a reason, so a key
file naming them loads and each SA reports a clear message instead of crashing.
"""

from __future__ import annotations

import hmac as _stdlib_hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers import algorithms as decrepit
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.cmac import CMAC

# --------------------------------------------------------------------------- errors


class CryptoError(ValueError):
    """A key or input that cannot be used (wrong length, unavailable algorithm)."""


class IntegrityError(CryptoError):
    """The ICV / AEAD tag does not verify: wrong key or altered data."""


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class EncryptionAlg:
    """An ENCR_* transform (IKEv2 transform type 1; ESP uses the same ids).

    ``key_bits`` are the cipher key sizes without salt; a key given to this module is the
    cipher key followed by ``salt_len`` bytes of salt/nonce (RFC 3686, 4106, 4309, 7634).
    ``mode`` selects the primitive: ``null``, ``cbc``, ``ctr``, ``gcm``, ``ccm``,
    ``chacha20-poly1305`` or ``gmac``. ``unavailable`` is a reason when the primitive is
    missing from ``cryptography``.
    """

    iana_id: int
    name: str
    key_bits: tuple[int, ...]
    iv_len: int
    block_len: int
    salt_len: int
    icv_len: int
    aead: bool
    mode: str = "cbc"
    cipher: str = "aes"
    rfc: str = ""
    aliases: tuple[str, ...] = ()
    sized_aliases: tuple[str, ...] = ()  # templates with {bits}
    ikev1_esp_id: int | None = None  # IPsec DOI ESP transform id (RFC 2407 + IANA)
    ikev1_p1_id: int | None = None  # IKEv1 phase-1 Encryption Algorithm attribute value
    unavailable: str = ""

    def key_len(self, key_bits: int | None = None) -> int:
        """Bytes of key material including the salt, for ``key_bits`` or the only size."""
        bits = key_bits if key_bits is not None else (self.key_bits[0] if self.key_bits else 0)
        return bits // 8 + self.salt_len

    def bits_for_key(self, key: bytes) -> int | None:
        """The key size in bits that a key of this length implies, or None when invalid."""
        if self.mode == "null":
            return 0 if not key else None
        bits = (len(key) - self.salt_len) * 8
        return bits if bits in self.key_bits else None

    def display_name(self, key_bits: int | None = None) -> str:
        if key_bits and len(self.key_bits) > 1:
            return f"{self.name}_{key_bits}"
        return self.name


@dataclass(frozen=True)
class IntegrityAlg:
    """An AUTH_* transform (IKEv2 transform type 3), or Wireshark's unchecked ICV lengths.

    ``kind``: ``hmac`` (``hash`` names the digest), ``xcbc``, ``cmac``, ``gmac``, ``none``
    or ``unchecked`` (an ICV of ``icv_len`` bytes that cannot be verified). ``iana_id`` is
    -1 for rows that are not IANA transforms.
    """

    iana_id: int
    name: str
    key_len: int
    icv_len: int
    kind: str
    hash: str = ""
    rfc: str = ""
    aliases: tuple[str, ...] = ()
    ikev1_auth_id: int | None = None  # IPsec DOI Authentication Algorithm attribute value
    unavailable: str = ""

    @property
    def checks(self) -> bool:
        """Whether an ICV of this algorithm can be verified."""
        return self.kind not in ("none", "unchecked") and not self.unavailable


@dataclass(frozen=True)
class PrfAlg:
    """A PRF_* transform (IKEv2 transform type 2); also the IKEv1 hash algorithm."""

    iana_id: int
    name: str
    hash: str  # digest name for HMAC PRFs; "" for the AES-based ones
    key_len: int  # preferred key length (RFC 7296 §2.13)
    out_len: int
    kind: str = "hmac"  # "hmac" | "xcbc" | "cmac"
    rfc: str = ""
    aliases: tuple[str, ...] = ()
    ikev1_hash_id: int | None = None  # IKEv1 phase-1 Hash Algorithm attribute value
    unavailable: str = ""


_AES = (128, 192, 256)

# One row per transform. Aliases are normalised (see _norm); "{b}" stands for a key size.
ENCRYPTION_ALGORITHMS: tuple[EncryptionAlg, ...] = (
    EncryptionAlg(11, "ENCR_NULL", (0,), 0, 1, 0, 0, False, mode="null", cipher="",
                  rfc="RFC 2410", aliases=("null", "encr_null", "none", "cipher_null"),
                  ikev1_esp_id=11),
    EncryptionAlg(2, "ENCR_DES", (64,), 8, 8, 0, 0, False, cipher="des", rfc="RFC 2405",
                  aliases=("des", "des_cbc", "encr_des", "des_iv64", "des_cbc_64"),
                  ikev1_esp_id=2, ikev1_p1_id=1),
    EncryptionAlg(3, "ENCR_3DES", (192,), 8, 8, 0, 0, False, cipher="3des", rfc="RFC 2451",
                  aliases=("3des", "encr_3des", "tripledes_cbc", "3des_cbc", "des3_ede",
                           "3des_cbc_192", "des_ede3_cbc", "triple_des"),
                  ikev1_esp_id=3, ikev1_p1_id=5),
    EncryptionAlg(6, "ENCR_CAST", (128,), 8, 8, 0, 0, False, cipher="cast5", rfc="RFC 2144",
                  aliases=("cast", "cast5", "cast5_cbc", "encr_cast", "cast128", "cast_cbc",
                           "cast128_cbc", "cast_cbc_128"),
                  ikev1_esp_id=6, ikev1_p1_id=6),
    EncryptionAlg(7, "ENCR_BLOWFISH", (128,), 8, 8, 0, 0, False, cipher="blowfish",
                  rfc="RFC 2451",
                  aliases=("blowfish", "blowfish_cbc", "encr_blowfish", "blowfish128",
                           "blowfish_cbc_128", "bf_cbc"),
                  ikev1_esp_id=7, ikev1_p1_id=3),
    EncryptionAlg(12, "ENCR_AES_CBC", _AES, 16, 16, 0, 0, False, rfc="RFC 3602",
                  aliases=("aes_cbc", "encr_aes_cbc", "aes", "cbc_aes"),
                  sized_aliases=("aes{b}", "aes_cbc_{b}", "encr_aes_cbc_{b}", "aes{b}_cbc"),
                  ikev1_esp_id=12, ikev1_p1_id=7),
    EncryptionAlg(13, "ENCR_AES_CTR", _AES, 8, 1, 4, 0, False, mode="ctr", rfc="RFC 3686",
                  aliases=("aes_ctr", "encr_aes_ctr", "aesctr"),
                  sized_aliases=("aes{b}ctr", "aes_ctr_{b}", "encr_aes_ctr_{b}"),
                  ikev1_esp_id=13),
    EncryptionAlg(14, "ENCR_AES_CCM_8", _AES, 8, 1, 3, 8, True, mode="ccm", rfc="RFC 4309",
                  aliases=("encr_aes_ccm_8", "aes_ccm_8", "aes_ccm_with_8_octet_icv"),
                  sized_aliases=("aes{b}ccm8", "aes{b}ccm64", "aes_ccm_8_{b}",
                                 "encr_aes_ccm_8_{b}", "aes_ccm_{b}_with_8_octet_icv"),
                  ikev1_esp_id=14),
    EncryptionAlg(15, "ENCR_AES_CCM_12", _AES, 8, 1, 3, 12, True, mode="ccm", rfc="RFC 4309",
                  aliases=("encr_aes_ccm_12", "aes_ccm_12", "aes_ccm_with_12_octet_icv"),
                  sized_aliases=("aes{b}ccm12", "aes{b}ccm96", "aes_ccm_12_{b}",
                                 "encr_aes_ccm_12_{b}", "aes_ccm_{b}_with_12_octet_icv"),
                  ikev1_esp_id=15),
    EncryptionAlg(16, "ENCR_AES_CCM_16", _AES, 8, 1, 3, 16, True, mode="ccm", rfc="RFC 4309",
                  aliases=("encr_aes_ccm_16", "aes_ccm_16", "aes_ccm_with_16_octet_icv",
                           "aes_ccm"),
                  sized_aliases=("aes{b}ccm16", "aes{b}ccm128", "aes{b}ccm", "aes_ccm_16_{b}",
                                 "encr_aes_ccm_16_{b}", "aes_ccm_{b}_with_16_octet_icv"),
                  ikev1_esp_id=16),
    EncryptionAlg(18, "ENCR_AES_GCM_8", _AES, 8, 1, 4, 8, True, mode="gcm", rfc="RFC 4106",
                  aliases=("encr_aes_gcm_8", "aes_gcm_8", "aes_gcm_with_8_octet_icv"),
                  sized_aliases=("aes{b}gcm8", "aes{b}gcm64", "aes_gcm_8_{b}",
                                 "encr_aes_gcm_8_{b}", "aes_gcm_{b}_with_8_octet_icv"),
                  ikev1_esp_id=18),
    EncryptionAlg(19, "ENCR_AES_GCM_12", _AES, 8, 1, 4, 12, True, mode="gcm", rfc="RFC 4106",
                  aliases=("encr_aes_gcm_12", "aes_gcm_12", "aes_gcm_with_12_octet_icv"),
                  sized_aliases=("aes{b}gcm12", "aes{b}gcm96", "aes_gcm_12_{b}",
                                 "encr_aes_gcm_12_{b}", "aes_gcm_{b}_with_12_octet_icv"),
                  ikev1_esp_id=19),
    EncryptionAlg(20, "ENCR_AES_GCM_16", _AES, 8, 1, 4, 16, True, mode="gcm", rfc="RFC 4106",
                  aliases=("encr_aes_gcm_16", "aes_gcm_16", "aes_gcm_with_16_octet_icv",
                           "aes_gcm"),
                  sized_aliases=("aes{b}gcm16", "aes{b}gcm128", "aes{b}gcm", "aes_gcm_16_{b}",
                                 "encr_aes_gcm_16_{b}", "aes_gcm_{b}_with_16_octet_icv"),
                  ikev1_esp_id=20),
    EncryptionAlg(21, "ENCR_NULL_AUTH_AES_GMAC", _AES, 8, 1, 4, 16, True, mode="gmac",
                  rfc="RFC 4543",
                  aliases=("encr_null_auth_aes_gmac", "null_auth_aes_gmac", "aes_gmac",
                           "aes_null_gmac", "null_aes_gmac", "rfc4543_gcm_aes"),
                  sized_aliases=("aes{b}gmac", "null_auth_aes_gmac_{b}", "null_aes_gmac_{b}",
                                 "encr_null_auth_aes_gmac_{b}", "aes_gmac_{b}"),
                  ikev1_esp_id=23),
    EncryptionAlg(23, "ENCR_CAMELLIA_CBC", _AES, 16, 16, 0, 0, False, cipher="camellia",
                  rfc="RFC 5529",
                  aliases=("camellia_cbc", "encr_camellia_cbc", "camellia"),
                  sized_aliases=("camellia{b}", "camellia_cbc_{b}", "encr_camellia_cbc_{b}"),
                  ikev1_esp_id=22, ikev1_p1_id=8),
    EncryptionAlg(24, "ENCR_CAMELLIA_CTR", _AES, 8, 1, 4, 0, False, mode="ctr",
                  cipher="camellia", rfc="RFC 5529",
                  aliases=("camellia_ctr", "encr_camellia_ctr"),
                  sized_aliases=("camellia{b}ctr", "camellia_ctr_{b}", "encr_camellia_ctr_{b}")),
    EncryptionAlg(28, "ENCR_CHACHA20_POLY1305", (256,), 8, 1, 4, 16, True,
                  mode="chacha20-poly1305", cipher="chacha20", rfc="RFC 7634",
                  aliases=("chacha20poly1305", "encr_chacha20_poly1305", "chacha20_poly1305",
                           "chacha20_with_poly1305", "rfc7539esp_chacha20_poly1305",
                           "chacha20_poly1305_256")),
    # Rows that name real transforms we cannot decrypt: loading a key file that uses them
    # works, and every SA reports why it is not decrypted.
    EncryptionAlg(253, "ENCR_TWOFISH_CBC", (128, 192, 256), 16, 16, 0, 0, False,
                  cipher="twofish", rfc="draft-ietf-ipsec-ciph-aes-cbc (KAME private 253)",
                  aliases=("twofish", "twofish_cbc", "encr_twofish_cbc"),
                  sized_aliases=("twofish{b}", "twofish_cbc_{b}"),
                  unavailable="Twofish is not offered by the cryptography library"),
    EncryptionAlg(25, "ENCR_CAMELLIA_CCM_8", _AES, 8, 1, 3, 8, True, mode="ccm",
                  cipher="camellia", rfc="RFC 5529", aliases=("encr_camellia_ccm_8",),
                  unavailable="Camellia-CCM is not offered by the cryptography library"),
    EncryptionAlg(26, "ENCR_CAMELLIA_CCM_12", _AES, 8, 1, 3, 12, True, mode="ccm",
                  cipher="camellia", rfc="RFC 5529", aliases=("encr_camellia_ccm_12",),
                  unavailable="Camellia-CCM is not offered by the cryptography library"),
    EncryptionAlg(27, "ENCR_CAMELLIA_CCM_16", _AES, 8, 1, 3, 16, True, mode="ccm",
                  cipher="camellia", rfc="RFC 5529", aliases=("encr_camellia_ccm_16",),
                  unavailable="Camellia-CCM is not offered by the cryptography library"),
    EncryptionAlg(5, "ENCR_IDEA", (128,), 8, 8, 0, 0, False, cipher="idea", rfc="RFC 2451",
                  aliases=("idea", "encr_idea", "idea_cbc"), ikev1_esp_id=5, ikev1_p1_id=2,
                  unavailable="IDEA is not supported for ESP by ipsec-inspect"),
    EncryptionAlg(4, "ENCR_RC5", (128,), 8, 8, 0, 0, False, cipher="rc5", rfc="RFC 2451",
                  aliases=("rc5", "encr_rc5"), ikev1_esp_id=4, ikev1_p1_id=4,
                  unavailable="RC5 is not offered by the cryptography library"),
    EncryptionAlg(29, "ENCR_AES_CCM_8_IIV", _AES, 0, 1, 3, 8, True, mode="ccm",
                  rfc="RFC 8750", aliases=("encr_aes_ccm_8_iiv",),
                  unavailable="implicit-IV ESP (RFC 8750) is not supported"),
    EncryptionAlg(30, "ENCR_AES_GCM_16_IIV", _AES, 0, 1, 4, 16, True, mode="gcm",
                  rfc="RFC 8750",
                  aliases=("encr_aes_gcm_16_iiv", "aes_gcm_with_iiv_and_16_octet_icv"),
                  unavailable="implicit-IV ESP (RFC 8750) is not supported"),
    EncryptionAlg(31, "ENCR_CHACHA20_POLY1305_IIV", (256,), 0, 1, 4, 16, True,
                  mode="chacha20-poly1305", cipher="chacha20", rfc="RFC 8750",
                  aliases=("encr_chacha20_poly1305_iiv", "chacha20_with_poly1305_and_iiv"),
                  unavailable="implicit-IV ESP (RFC 8750) is not supported"),
)  # fmt: skip

INTEGRITY_ALGORITHMS: tuple[IntegrityAlg, ...] = (
    IntegrityAlg(0, "AUTH_NONE", 0, 0, "none",
                 aliases=("none", "null", "auth_none", "no_auth")),
    IntegrityAlg(1, "AUTH_HMAC_MD5_96", 16, 12, "hmac", "md5", "RFC 2403",
                 aliases=("md5", "hmac_md5_96", "hmac_md5", "md5_96", "auth_hmac_md5_96",
                          "hmacmd5"),
                 ikev1_auth_id=1),
    IntegrityAlg(2, "AUTH_HMAC_SHA1_96", 20, 12, "hmac", "sha1", "RFC 2404",
                 aliases=("sha1", "sha", "hmac_sha1_96", "hmac_sha_1_96", "hmac_sha1", "sha1_96",
                          "auth_hmac_sha1_96", "hmac_sha"),
                 ikev1_auth_id=2),
    IntegrityAlg(5, "AUTH_AES_XCBC_96", 16, 12, "xcbc", rfc="RFC 3566",
                 aliases=("aesxcbc", "aes_xcbc_96", "aes_xcbc", "auth_aes_xcbc_96",
                          "aes_xcbc_mac_96", "xcbc_aes", "aes_xcbc_mac"),
                 ikev1_auth_id=9),
    IntegrityAlg(6, "AUTH_HMAC_MD5_128", 16, 16, "hmac", "md5", "RFC 4595",
                 aliases=("md5_128", "hmac_md5_128", "auth_hmac_md5_128")),
    IntegrityAlg(7, "AUTH_HMAC_SHA1_160", 20, 20, "hmac", "sha1", "RFC 4595",
                 aliases=("sha1_160", "hmac_sha1_160", "auth_hmac_sha1_160")),
    IntegrityAlg(8, "AUTH_AES_CMAC_96", 16, 12, "cmac", rfc="RFC 4494",
                 aliases=("aescmac", "aes_cmac_96", "aes_cmac", "auth_aes_cmac_96",
                          "cmac_aes")),
    IntegrityAlg(9, "AUTH_AES_128_GMAC", 20, 16, "gmac", rfc="RFC 4543",
                 aliases=("aes128gmac", "aes_128_gmac", "auth_aes_128_gmac"),
                 ikev1_auth_id=11),
    IntegrityAlg(10, "AUTH_AES_192_GMAC", 28, 16, "gmac", rfc="RFC 4543",
                 aliases=("aes192gmac", "aes_192_gmac", "auth_aes_192_gmac"),
                 ikev1_auth_id=12),
    IntegrityAlg(11, "AUTH_AES_256_GMAC", 36, 16, "gmac", rfc="RFC 4543",
                 aliases=("aes256gmac", "aes_256_gmac", "auth_aes_256_gmac"),
                 ikev1_auth_id=13),
    IntegrityAlg(12, "AUTH_HMAC_SHA2_256_128", 32, 16, "hmac", "sha256", "RFC 4868",
                 aliases=("sha256", "sha2_256", "hmac_sha2_256_128", "hmac_sha_256_128",
                          "auth_hmac_sha2_256_128", "sha256_128", "hmac_sha256_128",
                          "hmac_sha256"),
                 ikev1_auth_id=5),
    IntegrityAlg(13, "AUTH_HMAC_SHA2_384_192", 48, 24, "hmac", "sha384", "RFC 4868",
                 aliases=("sha384", "sha2_384", "hmac_sha2_384_192", "hmac_sha_384_192",
                          "auth_hmac_sha2_384_192", "sha384_192", "hmac_sha384_192",
                          "hmac_sha384"),
                 ikev1_auth_id=6),
    IntegrityAlg(14, "AUTH_HMAC_SHA2_512_256", 64, 32, "hmac", "sha512", "RFC 4868",
                 aliases=("sha512", "sha2_512", "hmac_sha2_512_256", "hmac_sha_512_256",
                          "auth_hmac_sha2_512_256", "sha512_256", "hmac_sha512_256",
                          "hmac_sha512"),
                 ikev1_auth_id=7),
    # strongSwan's private id 1026 for the pre-RFC 4868 truncation (Linux "sha256_96").
    IntegrityAlg(1026, "AUTH_HMAC_SHA2_256_96", 32, 12, "hmac", "sha256",
                 "draft-ietf-ipsec-ciph-sha-256-00",
                 aliases=("sha256_96", "hmac_sha2_256_96", "hmac_sha_256_96",
                          "auth_hmac_sha2_256_96", "sha2_256_96")),
    IntegrityAlg(-1, "HMAC_RIPEMD160_96", 20, 12, "hmac", "ripemd160", "RFC 2857",
                 aliases=("ripemd160", "hmac_ripemd160_96", "mac_ripemd_160_96",
                          "hmac_ripemd160", "rmd160"),
                 ikev1_auth_id=8,
                 unavailable="RIPEMD-160 is not offered by the cryptography library"),
    IntegrityAlg(-1, "ANY_64_UNCHECKED", 0, 8, "unchecked",
                 aliases=("any_64_bit_authentication",
                          "any_64_bits_of_authentication")),
    IntegrityAlg(-1, "ANY_96_UNCHECKED", 0, 12, "unchecked",
                 aliases=("any_96_bit_authentication",
                          "any_96_bits_of_authentication", "hmac96")),
    IntegrityAlg(-1, "ANY_128_UNCHECKED", 0, 16, "unchecked",
                 aliases=("any_128_bit_authentication",
                          "any_128_bits_of_authentication")),
    IntegrityAlg(-1, "ANY_160_UNCHECKED", 0, 20, "unchecked",
                 aliases=("any_160_bit_authentication",
                          "any_160_bits_of_authentication")),
    IntegrityAlg(-1, "ANY_192_UNCHECKED", 0, 24, "unchecked",
                 aliases=("any_192_bit_authentication",
                          "any_192_bits_of_authentication")),
    IntegrityAlg(-1, "ANY_256_UNCHECKED", 0, 32, "unchecked",
                 aliases=("any_256_bit_authentication",
                          "any_256_bits_of_authentication")),
)  # fmt: skip

PRF_ALGORITHMS: tuple[PrfAlg, ...] = (
    PrfAlg(1, "PRF_HMAC_MD5", "md5", 16, 16, rfc="RFC 2104",
           aliases=("prfmd5", "md5", "prf_hmac_md5", "hmac_md5_prf", "md5_prf"), ikev1_hash_id=1),
    PrfAlg(2, "PRF_HMAC_SHA1", "sha1", 20, 20, rfc="RFC 2104",
           aliases=("prfsha1", "sha1", "sha", "prf_hmac_sha1", "hmac_sha1_prf", "sha1_prf", "prf_sha1"),
           ikev1_hash_id=2),
    PrfAlg(4, "PRF_AES128_XCBC", "", 16, 16, "xcbc", "RFC 4434",
           aliases=("prfaesxcbc", "aesxcbc", "prf_aes128_xcbc", "aes_xcbc_prf", "prf_aes_xcbc"),
           ikev1_hash_id=None),
    PrfAlg(5, "PRF_HMAC_SHA2_256", "sha256", 32, 32, rfc="RFC 4868",
           aliases=("prfsha256", "sha256", "prf_hmac_sha2_256", "prf_sha256", "prf_sha2_256"),
           ikev1_hash_id=4),
    PrfAlg(6, "PRF_HMAC_SHA2_384", "sha384", 48, 48, rfc="RFC 4868",
           aliases=("prfsha384", "sha384", "prf_hmac_sha2_384", "prf_sha384", "prf_sha2_384"),
           ikev1_hash_id=5),
    PrfAlg(7, "PRF_HMAC_SHA2_512", "sha512", 64, 64, rfc="RFC 4868",
           aliases=("prfsha512", "sha512", "prf_hmac_sha2_512", "prf_sha512", "prf_sha2_512"),
           ikev1_hash_id=6),
    PrfAlg(8, "PRF_AES128_CMAC", "", 16, 16, "cmac", "RFC 4615",
           aliases=("prfaescmac", "aescmac", "prf_aes128_cmac", "aes_cmac_prf", "prf_aes_cmac")),
    PrfAlg(3, "PRF_HMAC_TIGER", "tiger", 24, 24, rfc="RFC 2104",
           aliases=("prf_hmac_tiger",),
           unavailable="Tiger is not offered by the cryptography library"),
)  # fmt: skip


# --------------------------------------------------------------------------- look-up


def _norm(name: str) -> str:
    """Fold the dialects: lower case, drop ``[RFC…]``, every separator run becomes ``_``."""
    text = re.sub(r"\[[^\]]*\]", " ", name.strip().lower())
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def _build_encryption_index() -> dict[str, tuple[EncryptionAlg, int | None]]:
    index: dict[str, tuple[EncryptionAlg, int | None]] = {}
    for alg in ENCRYPTION_ALGORITHMS:
        names = (alg.name, *alg.aliases)
        for n in names:
            index.setdefault(_norm(n), (alg, None))
        for bits in alg.key_bits:
            if not bits:
                continue
            for template in alg.sized_aliases:
                index.setdefault(_norm(template.format(b=bits)), (alg, bits))
            index.setdefault(_norm(f"{alg.name}_{bits}"), (alg, bits))
            # strongSwan log form: AES_GCM_16_128, CHACHA20_POLY1305_256, AES_CBC_256
            index.setdefault(_norm(f"{alg.name.removeprefix('ENCR_')}_{bits}"), (alg, bits))
    return index


def _build_index(rows: tuple) -> dict[str, object]:
    index: dict[str, object] = {}
    for row in rows:
        for n in (row.name, row.name.split("_", 1)[1] if "_" in row.name else row.name,
                  *row.aliases):  # fmt: skip
            index.setdefault(_norm(n), row)
    return index


_ENCR_INDEX = _build_encryption_index()
_INTEG_INDEX = _build_index(INTEGRITY_ALGORITHMS)
_PRF_INDEX = _build_index(PRF_ALGORITHMS)
_ENCR_BY_ID = {a.iana_id: a for a in ENCRYPTION_ALGORITHMS}
_INTEG_BY_ID = {a.iana_id: a for a in INTEGRITY_ALGORITHMS if a.iana_id >= 0}
_PRF_BY_ID = {a.iana_id: a for a in PRF_ALGORITHMS}
_ENCR_BY_V1_ESP = {a.ikev1_esp_id: a for a in ENCRYPTION_ALGORITHMS if a.ikev1_esp_id}
_ENCR_BY_V1_P1 = {a.ikev1_p1_id: a for a in ENCRYPTION_ALGORITHMS if a.ikev1_p1_id}
_INTEG_BY_V1 = {a.ikev1_auth_id: a for a in INTEGRITY_ALGORITHMS if a.ikev1_auth_id}
_PRF_BY_V1 = {a.ikev1_hash_id: a for a in PRF_ALGORITHMS if a.ikev1_hash_id}


class UnknownAlgorithm(KeyError):
    """A name that no row of the table knows."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown algorithm"


def encryption_by_name(name: str) -> tuple[EncryptionAlg, int | None]:
    """Resolve any dialect's encryption name to (row, key bits or None).

    Raises UnknownAlgorithm with a readable message for names no row knows.
    """
    found = _ENCR_INDEX.get(_norm(name))
    if found is None:
        raise UnknownAlgorithm(f"unknown encryption algorithm {name!r}")
    alg, bits = found
    if bits is None and len(alg.key_bits) == 1:
        bits = alg.key_bits[0] or None
    return alg, bits


def integrity_by_name(name: str) -> IntegrityAlg:
    """Resolve any dialect's integrity name; raises UnknownAlgorithm."""
    found = _INTEG_INDEX.get(_norm(name))
    if not isinstance(found, IntegrityAlg):
        raise UnknownAlgorithm(f"unknown integrity algorithm {name!r}")
    return found


def prf_by_name(name: str) -> PrfAlg:
    """Resolve any dialect's PRF name; raises UnknownAlgorithm."""
    key = _norm(name)
    found = _PRF_INDEX.get(key) or _PRF_INDEX.get("prf_" + key)
    if not isinstance(found, PrfAlg):
        raise UnknownAlgorithm(f"unknown PRF {name!r}")
    return found


def encryption_by_id(iana_id: int) -> EncryptionAlg | None:
    return _ENCR_BY_ID.get(iana_id)


def integrity_by_id(iana_id: int) -> IntegrityAlg | None:
    return _INTEG_BY_ID.get(iana_id)


def prf_by_id(iana_id: int) -> PrfAlg | None:
    return _PRF_BY_ID.get(iana_id)


def encryption_by_ikev1_esp_id(transform_id: int) -> EncryptionAlg | None:
    """IKEv1 phase 2: the ESP transform id of an IPsec DOI proposal."""
    return _ENCR_BY_V1_ESP.get(transform_id)


def encryption_by_ikev1_attribute(value: int) -> EncryptionAlg | None:
    """IKEv1 phase 1: the Encryption Algorithm attribute (1 DES, 5 3DES, 7 AES...)."""
    return _ENCR_BY_V1_P1.get(value)


def integrity_by_ikev1_attribute(value: int) -> IntegrityAlg | None:
    """IKEv1 phase 2: the Authentication Algorithm attribute (1 HMAC-MD5, 2 HMAC-SHA...)."""
    return _INTEG_BY_V1.get(value)


def prf_by_ikev1_hash(value: int) -> PrfAlg | None:
    """IKEv1 phase 1: the Hash Algorithm attribute (1 MD5, 2 SHA, 4 SHA2-256...)."""
    return _PRF_BY_V1.get(value)


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


def block_cipher(alg: EncryptionAlg, key: bytes) -> CipherAlgorithm:
    """The ``cryptography`` block cipher object for a CBC/CTR row and its raw key."""
    if alg.cipher == "aes":
        return algorithms.AES(key)
    if alg.cipher == "camellia":
        return algorithms.Camellia(key)
    if alg.cipher == "3des":
        return decrepit.TripleDES(key)
    if alg.cipher == "des":
        # Single DES is 3DES with K1 = K2 = K3 (EDE collapses to one encryption).
        return decrepit.TripleDES(key * 3)
    if alg.cipher == "blowfish":
        return decrepit.Blowfish(key)
    if alg.cipher == "cast5":
        return decrepit.CAST5(key)
    raise CryptoError(f"{alg.name}: no cipher primitive for {alg.cipher!r}")


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
        dec = Cipher(block_cipher(alg, raw), modes.CTR(nonce(alg, salt, iv))).decryptor()
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
        enc = Cipher(block_cipher(alg, raw), modes.CTR(nonce(alg, salt, iv))).encryptor()
    return enc.update(plaintext) + enc.finalize()


def aead_cipher(alg: EncryptionAlg, key: bytes) -> AESGCM | AESCCM | ChaCha20Poly1305 | None:
    """A reusable AEAD object for ``alg`` and its raw key, or None when the tag length
    needs the streaming GCM interface (8- and 12-byte GCM tags)."""
    if alg.mode in ("gcm", "gmac"):
        return AESGCM(key) if alg.icv_len == 16 else None
    if alg.mode == "ccm":
        return AESCCM(key, tag_length=alg.icv_len)
    if alg.mode == "chacha20-poly1305":
        return ChaCha20Poly1305(key)
    raise CryptoError(f"{alg.name} is not an AEAD")


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
    cipher: AESGCM | AESCCM | ChaCha20Poly1305 | None,
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
    if alg.kind == "hmac":
        mac = crypto_hmac.HMAC(key, hash_algorithm(alg.hash))
        mac.update(data)
        return mac.finalize()[: alg.icv_len]
    if alg.kind == "xcbc":
        return aes_xcbc_mac(key, data)[: alg.icv_len]
    if alg.kind == "cmac":
        return aes_cmac(key, data)[: alg.icv_len]
    raise CryptoError(f"{alg.name}: no ICV can be computed without an IV ({alg.kind})")


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
    if alg.kind == "hmac":
        mac = crypto_hmac.HMAC(key, hash_algorithm(alg.hash))
        mac.update(data)
        return mac.finalize()
    fn = aes_xcbc_mac if alg.kind == "xcbc" else aes_cmac
    if len(key) < 16:
        key = key + b"\x00" * (16 - len(key))
    elif len(key) > 16:
        key = fn(b"\x00" * 16, key)
    return fn(key, data)
