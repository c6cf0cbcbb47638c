"""The IPsec algorithm table: one row per transform, as data.

Why one table: ESP, AH, IKEv1 and IKEv2 all name the same ciphers and MACs, but in many
dialects (IANA transform names, strongSwan proposal keywords and log names, Wireshark's
UAT strings, the Linux kernel's xfrm names, tcpdump's ``-E`` names, IKEv1 attribute
values), and the audit grades them by RFC 8221 (ESP/AH) and RFC 8247 (IKEv2). Every row
carries its IANA id, its lengths, its primitive, each dialect's name and both strengths,
so the IANA registries (``registry/ikev2.py``), the key-file parsers and writers
(``crypto/keyfiles/``), decryption (``crypto/``) and the audit rules (``lifecycle/rules.py``)
all read the same facts.

**Adding a cipher is adding a row here** (plus its tests): its names resolve in every key
file, the registry names it, the rules grade it. Only a primitive that no row used before
(a new ``cipher``, ``mode`` or ``kind`` value) also needs one entry in the binding tables of
``crypto/algorithms.py``, which turn those column values into ``cryptography`` objects.

This module is pure data (no ``cryptography`` import), so it sits in ``ipsec/`` below
``crypto/`` and both can read it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any


class Strength(StrEnum):
    """A requirement level of RFC 8221 / RFC 8247 (or RFC 9395's deprecation)."""

    MUST = "MUST"
    MUST_MINUS = "MUST-"  # expected to be demoted
    SHOULD_PLUS = "SHOULD+"  # expected to be promoted
    SHOULD = "SHOULD"
    MAY = "MAY"
    SHOULD_NOT = "SHOULD NOT"
    MUST_NOT = "MUST NOT"
    DEPRECATED = "DEPRECATED"  # RFC 9395
    NOT_ALLOWED = "not allowed"  # the IANA registry: not for this protocol (IKEv2)
    UNLISTED = ""  # the RFC does not list it


S = Strength  # short form for the rows below
#: levels the audit treats as broken (a finding of high severity)
BROKEN = frozenset({Strength.MUST_NOT, Strength.DEPRECATED})

# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class EncryptionAlg:
    """An ENCR_* transform (IKEv2 transform type 1; ESP uses the same ids).

    ``key_bits`` are the cipher key sizes without salt; a key given to this module is the
    cipher key followed by ``salt_len`` bytes of salt/nonce (RFC 3686, 4106, 4309, 7634).
    The primitive is two columns: ``cipher`` (the block or stream cipher: ``aes``,
    ``camellia``, ``3des``…) and ``mode`` (``null``, ``cbc``, ``ctr``, ``gcm``, ``ccm``,
    ``chacha20-poly1305``, ``gmac``); ``crypto.algorithms`` binds each value to a
    ``cryptography`` object through a table, never by the row's name. ``unavailable`` is
    a reason when no primitive exists. ``esp``/``ike`` are the RFC 8221/8247 strengths;
    the ``wireshark_*``, ``xfrm`` and ``tcpdump`` columns are the names key files use.
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
    esp: Strength = Strength.UNLISTED  # RFC 8221 §5 (RFC 9395 for deprecated ones)
    ike: Strength = Strength.UNLISTED  # RFC 8247 §3.1; NOT_ALLOWED per the IANA registry
    iana: bool = True  # an IANA assignment (False: a private or pre-standard id)
    wireshark_esp: str = ""  # Wireshark 4.0 ``esp_sa`` string (written and read)
    wireshark_esp_newer: str = ""  # accepted by newer Wireshark only: read, never written
    wireshark_ikev2: str = ""  # ``ikev2_decryption_table`` string; ``{bits}`` = key size
    xfrm: tuple[str, ...] = ()  # Linux kernel crypto names (``ip xfrm state`` enc/aead)
    tcpdump: str = ""  # tcpdump ``-E`` (OpenSSL) name; ``{bits}`` = key size

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

    ``kind`` is the primitive column: ``hmac`` (``hash`` names the digest), ``xcbc``,
    ``cmac``, ``gmac``, ``none`` or ``unchecked`` (an ICV of ``icv_len`` bytes that cannot
    be verified). ``iana_id`` is -1 for rows that are not IANA transforms.
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
    esp: Strength = Strength.UNLISTED  # RFC 8221 §6 (RFC 9395 for deprecated ones)
    ike: Strength = Strength.UNLISTED  # RFC 8247 §3.3; NOT_ALLOWED per the IANA registry
    iana: bool = True  # an IANA assignment (False: private id or Wireshark's ANY rows)
    iana_name: str = ""  # where IANA spells it differently (AUTH_NONE is "NONE")
    wireshark_esp: str = ""  # Wireshark ``esp_sa`` string
    wireshark_ikev2: str = ""  # Wireshark ``ikev2_decryption_table`` string
    xfrm: tuple[str, ...] = ()  # kernel ``auth``/``auth-trunc`` names
    xfrm_default: bool = False  # the row ``auth NAME`` means (the kernel's default truncation)

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
    ike: Strength = Strength.UNLISTED  # RFC 8247 §3.2
    iana: bool = True


_AES = (128, 192, 256)

# One row per transform. Aliases are normalised (see _norm); "{b}" stands for a key size.
ENCRYPTION_ALGORITHMS: tuple[EncryptionAlg, ...] = (
    EncryptionAlg(11, "ENCR_NULL", (0,), 0, 1, 0, 0, False, mode="null", cipher="",
                  rfc="RFC 2410", aliases=("null", "encr_null", "none", "cipher_null"),
                  ikev1_esp_id=11,
                  esp=S.MUST, ike=S.NOT_ALLOWED, wireshark_esp="NULL", wireshark_ikev2="NULL [RFC2410]", xfrm=("ecb(cipher_null)", "cipher_null"), tcpdump="none"),
    EncryptionAlg(2, "ENCR_DES", (64,), 8, 8, 0, 0, False, cipher="des", rfc="RFC 2405",
                  aliases=("des", "des_cbc", "encr_des", "des_iv64", "des_cbc_64"),
                  ikev1_esp_id=2, ikev1_p1_id=1,
                  esp=S.MUST_NOT, ike=S.MUST_NOT, wireshark_esp="DES-CBC [RFC2405]", xfrm=("cbc(des)",), tcpdump="des-cbc"),
    EncryptionAlg(3, "ENCR_3DES", (192,), 8, 8, 0, 0, False, cipher="3des", rfc="RFC 2451",
                  aliases=("3des", "encr_3des", "tripledes_cbc", "3des_cbc", "des3_ede",
                           "3des_cbc_192", "des_ede3_cbc", "triple_des"),
                  ikev1_esp_id=3, ikev1_p1_id=5,
                  esp=S.SHOULD_NOT, ike=S.MAY, wireshark_esp="TripleDES-CBC [RFC2451]", wireshark_ikev2="3DES [RFC2451]", xfrm=("cbc(des3_ede)",), tcpdump="3des-cbc"),
    EncryptionAlg(6, "ENCR_CAST", (128,), 8, 8, 0, 0, False, cipher="cast5", rfc="RFC 2144",
                  aliases=("cast", "cast5", "cast5_cbc", "encr_cast", "cast128", "cast_cbc",
                           "cast128_cbc", "cast_cbc_128"),
                  ikev1_esp_id=6, ikev1_p1_id=6,
                  esp=S.DEPRECATED, ike=S.DEPRECATED, wireshark_esp="CAST5-CBC [RFC2144]", xfrm=("cbc(cast5)",), tcpdump="cast128-cbc"),
    EncryptionAlg(7, "ENCR_BLOWFISH", (128,), 8, 8, 0, 0, False, cipher="blowfish",
                  rfc="RFC 2451",
                  aliases=("blowfish", "blowfish_cbc", "encr_blowfish", "blowfish128",
                           "blowfish_cbc_128", "bf_cbc"),
                  ikev1_esp_id=7, ikev1_p1_id=3,
                  esp=S.MUST_NOT, ike=S.DEPRECATED, wireshark_esp="BLOWFISH-CBC [RFC2451]", xfrm=("cbc(blowfish)",), tcpdump="blowfish-cbc"),
    EncryptionAlg(12, "ENCR_AES_CBC", _AES, 16, 16, 0, 0, False, rfc="RFC 3602",
                  aliases=("aes_cbc", "encr_aes_cbc", "aes", "cbc_aes"),
                  sized_aliases=("aes{b}", "aes_cbc_{b}", "encr_aes_cbc_{b}", "aes{b}_cbc"),
                  ikev1_esp_id=12, ikev1_p1_id=7,
                  esp=S.MUST, ike=S.MUST, wireshark_esp="AES-CBC [RFC3602]", wireshark_ikev2="AES-CBC-{bits} [RFC3602]", xfrm=("cbc(aes)",), tcpdump="aes{bits}-cbc"),
    EncryptionAlg(13, "ENCR_AES_CTR", _AES, 8, 1, 4, 0, False, mode="ctr", rfc="RFC 3686",
                  aliases=("aes_ctr", "encr_aes_ctr", "aesctr"),
                  sized_aliases=("aes{b}ctr", "aes_ctr_{b}", "encr_aes_ctr_{b}"),
                  ikev1_esp_id=13,
                  esp=S.MAY, wireshark_esp="AES-CTR [RFC3686]", wireshark_ikev2="AES-CTR-{bits} [RFC5930]", xfrm=("rfc3686(ctr(aes))",)),
    EncryptionAlg(14, "ENCR_AES_CCM_8", _AES, 8, 1, 3, 8, True, mode="ccm", rfc="RFC 4309",
                  aliases=("encr_aes_ccm_8", "aes_ccm_8", "aes_ccm_with_8_octet_icv"),
                  sized_aliases=("aes{b}ccm8", "aes{b}ccm64", "aes_ccm_8_{b}",
                                 "encr_aes_ccm_8_{b}", "aes_ccm_{b}_with_8_octet_icv"),
                  ikev1_esp_id=14,
                  esp=S.SHOULD, ike=S.SHOULD, wireshark_ikev2="AES-CCM-{bits} with 8 octet ICV [RFC5282]", xfrm=("rfc4309(ccm(aes))",)),
    EncryptionAlg(15, "ENCR_AES_CCM_12", _AES, 8, 1, 3, 12, True, mode="ccm", rfc="RFC 4309",
                  aliases=("encr_aes_ccm_12", "aes_ccm_12", "aes_ccm_with_12_octet_icv"),
                  sized_aliases=("aes{b}ccm12", "aes{b}ccm96", "aes_ccm_12_{b}",
                                 "encr_aes_ccm_12_{b}", "aes_ccm_{b}_with_12_octet_icv"),
                  ikev1_esp_id=15,
                  wireshark_ikev2="AES-CCM-{bits} with 12 octet ICV [RFC5282]", xfrm=("rfc4309(ccm(aes))",)),
    EncryptionAlg(16, "ENCR_AES_CCM_16", _AES, 8, 1, 3, 16, True, mode="ccm", rfc="RFC 4309",
                  aliases=("encr_aes_ccm_16", "aes_ccm_16", "aes_ccm_with_16_octet_icv",
                           "aes_ccm"),
                  sized_aliases=("aes{b}ccm16", "aes{b}ccm128", "aes{b}ccm", "aes_ccm_16_{b}",
                                 "encr_aes_ccm_16_{b}", "aes_ccm_{b}_with_16_octet_icv"),
                  ikev1_esp_id=16,
                  wireshark_ikev2="AES-CCM-{bits} with 16 octet ICV [RFC5282]", xfrm=("rfc4309(ccm(aes))",)),
    EncryptionAlg(18, "ENCR_AES_GCM_8", _AES, 8, 1, 4, 8, True, mode="gcm", rfc="RFC 4106",
                  aliases=("encr_aes_gcm_8", "aes_gcm_8", "aes_gcm_with_8_octet_icv"),
                  sized_aliases=("aes{b}gcm8", "aes{b}gcm64", "aes_gcm_8_{b}",
                                 "encr_aes_gcm_8_{b}", "aes_gcm_{b}_with_8_octet_icv"),
                  ikev1_esp_id=18,
                  wireshark_esp="AES-GCM with 8 octet ICV [RFC4106]", wireshark_ikev2="AES-GCM-{bits} with 8 octet ICV [RFC5282]", xfrm=("rfc4106(gcm(aes))",)),
    EncryptionAlg(19, "ENCR_AES_GCM_12", _AES, 8, 1, 4, 12, True, mode="gcm", rfc="RFC 4106",
                  aliases=("encr_aes_gcm_12", "aes_gcm_12", "aes_gcm_with_12_octet_icv"),
                  sized_aliases=("aes{b}gcm12", "aes{b}gcm96", "aes_gcm_12_{b}",
                                 "encr_aes_gcm_12_{b}", "aes_gcm_{b}_with_12_octet_icv"),
                  ikev1_esp_id=19,
                  wireshark_esp="AES-GCM with 12 octet ICV [RFC4106]", wireshark_ikev2="AES-GCM-{bits} with 12 octet ICV [RFC5282]", xfrm=("rfc4106(gcm(aes))",)),
    EncryptionAlg(20, "ENCR_AES_GCM_16", _AES, 8, 1, 4, 16, True, mode="gcm", rfc="RFC 4106",
                  aliases=("encr_aes_gcm_16", "aes_gcm_16", "aes_gcm_with_16_octet_icv",
                           "aes_gcm"),
                  sized_aliases=("aes{b}gcm16", "aes{b}gcm128", "aes{b}gcm", "aes_gcm_16_{b}",
                                 "encr_aes_gcm_16_{b}", "aes_gcm_{b}_with_16_octet_icv"),
                  ikev1_esp_id=20,
                  esp=S.MUST, ike=S.SHOULD, wireshark_esp="AES-GCM with 16 octet ICV [RFC4106]", wireshark_ikev2="AES-GCM-{bits} with 16 octet ICV [RFC5282]", xfrm=("rfc4106(gcm(aes))",)),
    EncryptionAlg(21, "ENCR_NULL_AUTH_AES_GMAC", _AES, 8, 1, 4, 16, True, mode="gmac",
                  rfc="RFC 4543",
                  aliases=("encr_null_auth_aes_gmac", "null_auth_aes_gmac", "aes_gmac",
                           "aes_null_gmac", "null_aes_gmac", "rfc4543_gcm_aes"),
                  sized_aliases=("aes{b}gmac", "null_auth_aes_gmac_{b}", "null_aes_gmac_{b}",
                                 "encr_null_auth_aes_gmac_{b}", "aes_gmac_{b}"),
                  ikev1_esp_id=23,
                  esp=S.SHOULD, ike=S.NOT_ALLOWED, xfrm=("rfc4543(gcm(aes))",)),
    EncryptionAlg(23, "ENCR_CAMELLIA_CBC", _AES, 16, 16, 0, 0, False, cipher="camellia",
                  rfc="RFC 5529",
                  aliases=("camellia_cbc", "encr_camellia_cbc", "camellia"),
                  sized_aliases=("camellia{b}", "camellia_cbc_{b}", "encr_camellia_cbc_{b}"),
                  ikev1_esp_id=22, ikev1_p1_id=8,
                  xfrm=("cbc(camellia)",)),
    EncryptionAlg(24, "ENCR_CAMELLIA_CTR", _AES, 8, 1, 4, 0, False, mode="ctr",
                  cipher="camellia", rfc="RFC 5529",
                  aliases=("camellia_ctr", "encr_camellia_ctr"),
                  sized_aliases=("camellia{b}ctr", "camellia_ctr_{b}", "encr_camellia_ctr_{b}"),
                  xfrm=("rfc3686(ctr(camellia))",)),
    EncryptionAlg(28, "ENCR_CHACHA20_POLY1305", (256,), 8, 1, 4, 16, True,
                  mode="chacha20-poly1305", cipher="chacha20", rfc="RFC 7634",
                  aliases=("chacha20poly1305", "encr_chacha20_poly1305", "chacha20_poly1305",
                           "chacha20_with_poly1305", "rfc7539esp_chacha20_poly1305",
                           "chacha20_poly1305_256"),
                  esp=S.SHOULD, ike=S.SHOULD, wireshark_esp="ChaCha20 with Poly1305 [RFC7634]", xfrm=("rfc7539esp(chacha20,poly1305)",)),
    # Rows that name real transforms we cannot decrypt: loading a key file that uses them
    # works, and every SA reports why it is not decrypted.
    EncryptionAlg(253, "ENCR_TWOFISH_CBC", (128, 192, 256), 16, 16, 0, 0, False,
                  cipher="twofish", rfc="draft-ietf-ipsec-ciph-aes-cbc (KAME private 253)",
                  aliases=("twofish", "twofish_cbc", "encr_twofish_cbc"),
                  sized_aliases=("twofish{b}", "twofish_cbc_{b}"),
                  unavailable="Twofish is not offered by the cryptography library",
                  iana=False, wireshark_esp="TWOFISH-CBC", xfrm=("cbc(twofish)",)),
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
                  unavailable="IDEA is not supported for ESP by ipsec-inspect",
                  esp=S.DEPRECATED, ike=S.DEPRECATED),
    EncryptionAlg(4, "ENCR_RC5", (128,), 8, 8, 0, 0, False, cipher="rc5", rfc="RFC 2451",
                  aliases=("rc5", "encr_rc5"), ikev1_esp_id=4, ikev1_p1_id=4,
                  unavailable="RC5 is not offered by the cryptography library",
                  esp=S.DEPRECATED, ike=S.DEPRECATED),
    EncryptionAlg(29, "ENCR_AES_CCM_8_IIV", _AES, 0, 1, 3, 8, True, mode="ccm",
                  rfc="RFC 8750", aliases=("encr_aes_ccm_8_iiv",),
                  unavailable="implicit-IV ESP (RFC 8750) is not supported",
                  ike=S.NOT_ALLOWED),
    EncryptionAlg(30, "ENCR_AES_GCM_16_IIV", _AES, 0, 1, 4, 16, True, mode="gcm",
                  rfc="RFC 8750",
                  aliases=("encr_aes_gcm_16_iiv", "aes_gcm_with_iiv_and_16_octet_icv"),
                  unavailable="implicit-IV ESP (RFC 8750) is not supported",
                  ike=S.NOT_ALLOWED, wireshark_esp_newer="AES-GCM with IIV and 16 octet ICV [RFC4106 & RFC8750]"),
    EncryptionAlg(31, "ENCR_CHACHA20_POLY1305_IIV", (256,), 0, 1, 4, 16, True,
                  mode="chacha20-poly1305", cipher="chacha20", rfc="RFC 8750",
                  aliases=("encr_chacha20_poly1305_iiv", "chacha20_with_poly1305_and_iiv"),
                  unavailable="implicit-IV ESP (RFC 8750) is not supported",
                  ike=S.NOT_ALLOWED, wireshark_esp_newer="ChaCha20 with Poly1305 and IIV [RFC7634 & RFC8750]"),
    # IANA assignments we cannot run: still rows, so every name and strength is here.
    EncryptionAlg(1, "ENCR_DES_IV64", (64,), 8, 8, 0, 0, False, cipher="des", rfc="RFC 1827",
                  esp=S.MUST_NOT, ike=S.DEPRECATED,
                  unavailable="DES with a 64-bit IV (RFC 1827) is not supported"),
    EncryptionAlg(8, "ENCR_3IDEA", (384,), 8, 8, 0, 0, False, cipher="3idea", rfc="RFC 2451",
                  esp=S.MUST_NOT, ike=S.DEPRECATED,
                  unavailable="3IDEA is not offered by the cryptography library"),
    EncryptionAlg(9, "ENCR_DES_IV32", (64,), 4, 8, 0, 0, False, cipher="des", rfc="RFC 1827",
                  esp=S.MUST_NOT, ike=S.DEPRECATED,
                  unavailable="DES with a 32-bit IV (RFC 1827) is not supported"),
    EncryptionAlg(32, "ENCR_KUZNYECHIK_MGM_KTREE", (256,), 8, 16, 4, 16, True, mode="mgm",
                  cipher="kuznyechik", rfc="RFC 9227", ike=S.NOT_ALLOWED,
                  unavailable="Kuznyechik-MGM is not offered by the cryptography library"),
    EncryptionAlg(33, "ENCR_MAGMA_MGM_KTREE", (256,), 8, 8, 4, 8, True, mode="mgm",
                  cipher="magma", rfc="RFC 9227", ike=S.NOT_ALLOWED,
                  unavailable="Magma-MGM is not offered by the cryptography library"),
    EncryptionAlg(34, "ENCR_KUZNYECHIK_MGM_MAC_KTREE", (256,), 8, 16, 4, 16, True, mode="mgm",
                  cipher="kuznyechik", rfc="RFC 9227",
                  unavailable="Kuznyechik-MGM is not offered by the cryptography library"),
    EncryptionAlg(35, "ENCR_MAGMA_MGM_MAC_KTREE", (256,), 8, 8, 4, 8, True, mode="mgm",
                  cipher="magma", rfc="RFC 9227",
                  unavailable="Magma-MGM is not offered by the cryptography library"),
)  # fmt: skip

INTEGRITY_ALGORITHMS: tuple[IntegrityAlg, ...] = (
    IntegrityAlg(0, "AUTH_NONE", 0, 0, "none",
                 aliases=("none", "null", "auth_none", "no_auth"),
                 iana_name="NONE", wireshark_esp="NULL", wireshark_ikev2="NONE [RFC4306]", xfrm=("digest_null",), xfrm_default=True),
    IntegrityAlg(1, "AUTH_HMAC_MD5_96", 16, 12, "hmac", "md5", "RFC 2403",
                 aliases=("md5", "hmac_md5_96", "hmac_md5", "md5_96", "auth_hmac_md5_96",
                          "hmacmd5"),
                 ikev1_auth_id=1,
                 esp=S.MUST_NOT, ike=S.MUST_NOT, wireshark_esp="HMAC-MD5-96 [RFC2403]", wireshark_ikev2="HMAC_MD5_96 [RFC2403]", xfrm=("hmac(md5)",), xfrm_default=True),
    IntegrityAlg(2, "AUTH_HMAC_SHA1_96", 20, 12, "hmac", "sha1", "RFC 2404",
                 aliases=("sha1", "sha", "hmac_sha1_96", "hmac_sha_1_96", "hmac_sha1", "sha1_96",
                          "auth_hmac_sha1_96", "hmac_sha"),
                 ikev1_auth_id=2,
                 esp=S.MUST_MINUS, ike=S.MUST_MINUS, wireshark_esp="HMAC-SHA-1-96 [RFC2404]", wireshark_ikev2="HMAC_SHA1_96 [RFC2404]", xfrm=("hmac(sha1)",), xfrm_default=True),
    IntegrityAlg(5, "AUTH_AES_XCBC_96", 16, 12, "xcbc", rfc="RFC 3566",
                 aliases=("aesxcbc", "aes_xcbc_96", "aes_xcbc", "auth_aes_xcbc_96",
                          "aes_xcbc_mac_96", "xcbc_aes", "aes_xcbc_mac"),
                 ikev1_auth_id=9,
                 esp=S.MAY, ike=S.SHOULD, xfrm=("xcbc(aes)",), xfrm_default=True),
    IntegrityAlg(6, "AUTH_HMAC_MD5_128", 16, 16, "hmac", "md5", "RFC 4595",
                 aliases=("md5_128", "hmac_md5_128", "auth_hmac_md5_128"),
                 esp=S.DEPRECATED, ike=S.DEPRECATED, wireshark_ikev2="HMAC_MD5_128 [RFC4595]", xfrm=("hmac(md5)",)),
    IntegrityAlg(7, "AUTH_HMAC_SHA1_160", 20, 20, "hmac", "sha1", "RFC 4595",
                 aliases=("sha1_160", "hmac_sha1_160", "auth_hmac_sha1_160"),
                 esp=S.DEPRECATED, ike=S.DEPRECATED, wireshark_ikev2="HMAC_SHA1_160 [RFC4595]", xfrm=("hmac(sha1)",)),
    IntegrityAlg(8, "AUTH_AES_CMAC_96", 16, 12, "cmac", rfc="RFC 4494",
                 aliases=("aescmac", "aes_cmac_96", "aes_cmac", "auth_aes_cmac_96",
                          "cmac_aes"),
                 xfrm=("cmac(aes)",), xfrm_default=True),
    IntegrityAlg(9, "AUTH_AES_128_GMAC", 20, 16, "gmac", rfc="RFC 4543",
                 aliases=("aes128gmac", "aes_128_gmac", "auth_aes_128_gmac"),
                 ikev1_auth_id=11,
                 esp=S.MAY, ike=S.NOT_ALLOWED),
    IntegrityAlg(10, "AUTH_AES_192_GMAC", 28, 16, "gmac", rfc="RFC 4543",
                 aliases=("aes192gmac", "aes_192_gmac", "auth_aes_192_gmac"),
                 ikev1_auth_id=12,
                 ike=S.NOT_ALLOWED),
    IntegrityAlg(11, "AUTH_AES_256_GMAC", 36, 16, "gmac", rfc="RFC 4543",
                 aliases=("aes256gmac", "aes_256_gmac", "auth_aes_256_gmac"),
                 ikev1_auth_id=13,
                 esp=S.MAY, ike=S.NOT_ALLOWED),
    IntegrityAlg(12, "AUTH_HMAC_SHA2_256_128", 32, 16, "hmac", "sha256", "RFC 4868",
                 aliases=("sha256", "sha2_256", "hmac_sha2_256_128", "hmac_sha_256_128",
                          "auth_hmac_sha2_256_128", "sha256_128", "hmac_sha256_128",
                          "hmac_sha256"),
                 ikev1_auth_id=5,
                 esp=S.MUST, ike=S.MUST, wireshark_esp="HMAC-SHA-256-128 [RFC4868]", wireshark_ikev2="HMAC_SHA2_256_128 [RFC4868]", xfrm=("hmac(sha256)",)),
    IntegrityAlg(13, "AUTH_HMAC_SHA2_384_192", 48, 24, "hmac", "sha384", "RFC 4868",
                 aliases=("sha384", "sha2_384", "hmac_sha2_384_192", "hmac_sha_384_192",
                          "auth_hmac_sha2_384_192", "sha384_192", "hmac_sha384_192",
                          "hmac_sha384"),
                 ikev1_auth_id=6,
                 wireshark_esp="HMAC-SHA-384-192 [RFC4868]", wireshark_ikev2="HMAC_SHA2_384_192 [RFC4868]", xfrm=("hmac(sha384)",), xfrm_default=True),
    IntegrityAlg(14, "AUTH_HMAC_SHA2_512_256", 64, 32, "hmac", "sha512", "RFC 4868",
                 aliases=("sha512", "sha2_512", "hmac_sha2_512_256", "hmac_sha_512_256",
                          "auth_hmac_sha2_512_256", "sha512_256", "hmac_sha512_256",
                          "hmac_sha512"),
                 ikev1_auth_id=7,
                 esp=S.SHOULD, ike=S.SHOULD, wireshark_esp="HMAC-SHA-512-256 [RFC4868]", wireshark_ikev2="HMAC_SHA2_512_256 [RFC4868]", xfrm=("hmac(sha512)",), xfrm_default=True),
    # strongSwan's private id 1026 for the pre-RFC 4868 truncation (Linux "sha256_96").
    IntegrityAlg(1026, "AUTH_HMAC_SHA2_256_96", 32, 12, "hmac", "sha256",
                 "draft-ietf-ipsec-ciph-sha-256-00",
                 aliases=("sha256_96", "hmac_sha2_256_96", "hmac_sha_256_96",
                          "auth_hmac_sha2_256_96", "sha2_256_96"),
                 iana=False, wireshark_esp="HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]", wireshark_ikev2="HMAC_SHA2_256_96 [draft-ietf-ipsec-ciph-sha-256-00]", xfrm=("hmac(sha256)",), xfrm_default=True),
    IntegrityAlg(-1, "HMAC_RIPEMD160_96", 20, 12, "hmac", "ripemd160", "RFC 2857",
                 aliases=("ripemd160", "hmac_ripemd160_96", "mac_ripemd_160_96",
                          "hmac_ripemd160", "rmd160"),
                 ikev1_auth_id=8,
                 unavailable="RIPEMD-160 is not offered by the cryptography library",
                 iana=False, wireshark_esp="MAC-RIPEMD-160-96 [RFC2857]", xfrm=("hmac(rmd160)",), xfrm_default=True),
    IntegrityAlg(-1, "ANY_64_UNCHECKED", 0, 8, "unchecked",
                 aliases=("any_64_bit_authentication",
                          "any_64_bits_of_authentication"),
                 iana=False, wireshark_esp="ANY 64 bit authentication [no checking]", wireshark_ikev2="ANY 64-bits of Authentication [No Checking]"),
    IntegrityAlg(-1, "ANY_96_UNCHECKED", 0, 12, "unchecked",
                 aliases=("any_96_bit_authentication",
                          "any_96_bits_of_authentication", "hmac96"),
                 iana=False, wireshark_esp="ANY 96 bit authentication [no checking]", wireshark_ikev2="ANY 96-bits of Authentication [No Checking]"),
    IntegrityAlg(-1, "ANY_128_UNCHECKED", 0, 16, "unchecked",
                 aliases=("any_128_bit_authentication",
                          "any_128_bits_of_authentication"),
                 iana=False, wireshark_esp="ANY 128 bit authentication [no checking]", wireshark_ikev2="ANY 128-bits of Authentication [No Checking]"),
    IntegrityAlg(-1, "ANY_160_UNCHECKED", 0, 20, "unchecked",
                 aliases=("any_160_bit_authentication",
                          "any_160_bits_of_authentication"),
                 iana=False, wireshark_ikev2="ANY 160-bits of Authentication [No Checking]"),
    IntegrityAlg(-1, "ANY_192_UNCHECKED", 0, 24, "unchecked",
                 aliases=("any_192_bit_authentication",
                          "any_192_bits_of_authentication"),
                 iana=False, wireshark_esp="ANY 192 bit authentication [no checking]", wireshark_ikev2="ANY 192-bits of Authentication [No Checking]"),
    IntegrityAlg(-1, "ANY_256_UNCHECKED", 0, 32, "unchecked",
                 aliases=("any_256_bit_authentication",
                          "any_256_bits_of_authentication"),
                 iana=False, wireshark_esp="ANY 256 bit authentication [no checking]", wireshark_ikev2="ANY 256-bits of Authentication [No Checking]"),
    IntegrityAlg(3, "AUTH_DES_MAC", 8, 8, "des-mac", rfc="RFC 4306", esp=S.MUST_NOT,
                 ike=S.MUST_NOT, unavailable="DES-MAC is not supported"),
    IntegrityAlg(4, "AUTH_KPDK_MD5", 16, 16, "kpdk", rfc="RFC 1826", esp=S.MUST_NOT,
                 ike=S.MUST_NOT, unavailable="KPDK-MD5 (RFC 1826) is not supported"),
)  # fmt: skip

PRF_ALGORITHMS: tuple[PrfAlg, ...] = (
    PrfAlg(1, "PRF_HMAC_MD5", "md5", 16, 16, rfc="RFC 2104",
           aliases=("prfmd5", "md5", "prf_hmac_md5", "hmac_md5_prf", "md5_prf"), ikev1_hash_id=1,
           ike=S.MUST_NOT),
    PrfAlg(2, "PRF_HMAC_SHA1", "sha1", 20, 20, rfc="RFC 2104",
           aliases=("prfsha1", "sha1", "sha", "prf_hmac_sha1", "hmac_sha1_prf", "sha1_prf", "prf_sha1"),
           ikev1_hash_id=2,
           ike=S.MUST_MINUS),
    PrfAlg(4, "PRF_AES128_XCBC", "", 16, 16, "xcbc", "RFC 4434",
           aliases=("prfaesxcbc", "aesxcbc", "prf_aes128_xcbc", "aes_xcbc_prf", "prf_aes_xcbc"),
           ikev1_hash_id=None,
           ike=S.SHOULD),
    PrfAlg(5, "PRF_HMAC_SHA2_256", "sha256", 32, 32, rfc="RFC 4868",
           aliases=("prfsha256", "sha256", "prf_hmac_sha2_256", "prf_sha256", "prf_sha2_256"),
           ikev1_hash_id=4,
           ike=S.MUST),
    PrfAlg(6, "PRF_HMAC_SHA2_384", "sha384", 48, 48, rfc="RFC 4868",
           aliases=("prfsha384", "sha384", "prf_hmac_sha2_384", "prf_sha384", "prf_sha2_384"),
           ikev1_hash_id=5),
    PrfAlg(7, "PRF_HMAC_SHA2_512", "sha512", 64, 64, rfc="RFC 4868",
           aliases=("prfsha512", "sha512", "prf_hmac_sha2_512", "prf_sha512", "prf_sha2_512"),
           ikev1_hash_id=6,
           ike=S.SHOULD_PLUS),
    PrfAlg(8, "PRF_AES128_CMAC", "", 16, 16, "cmac", "RFC 4615",
           aliases=("prfaescmac", "aescmac", "prf_aes128_cmac", "aes_cmac_prf", "prf_aes_cmac")),
    PrfAlg(3, "PRF_HMAC_TIGER", "tiger", 24, 24, rfc="RFC 2104",
           aliases=("prf_hmac_tiger",),
           unavailable="Tiger is not offered by the cryptography library",
           ike=S.DEPRECATED),
    PrfAlg(9, "PRF_HMAC_STREEBOG_512", "streebog512", 64, 64, rfc="RFC 9385",
           aliases=("prf_hmac_streebog_512",),
           unavailable="Streebog is not offered by the cryptography library"),
)  # fmt: skip


# --------------------------------------------------------------------------- look-up


def _norm(name: str) -> str:
    """Fold the dialects: lower case, drop ``[RFC…]``, every separator run becomes ``_``."""
    text = re.sub(r"\[[^\]]*\]", " ", name.strip().lower())
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def _build_encryption_index() -> dict[str, tuple[EncryptionAlg, int | None]]:
    index: dict[str, tuple[EncryptionAlg, int | None]] = {}
    for alg in ENCRYPTION_ALGORITHMS:
        names = (alg.name, *alg.aliases, alg.wireshark_esp, alg.wireshark_esp_newer)
        for n in names:
            if n:
                index.setdefault(_norm(n), (alg, None))
        for bits in alg.key_bits:
            if not bits:
                continue
            for template in (alg.wireshark_ikev2, alg.tcpdump):
                if template:
                    index.setdefault(_norm(template.format(bits=bits)), (alg, bits))
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
                  *row.aliases, *(getattr(row, c, "") for c in _NAME_COLUMNS)):  # fmt: skip
            if n:
                index.setdefault(_norm(n), row)
    return index


_NAME_COLUMNS = ("wireshark_esp", "wireshark_ikev2")


@cache
def _name_indexes() -> tuple[
    dict[str, tuple[EncryptionAlg, int | None]], dict[str, object], dict[str, object]
]:
    """The name indexes (encryption, integrity, PRF), built at the first look-up by name.

    Why not at import: only key files and filters look names up, and folding every
    dialect's name costs each short command (``summary``) part of its start-up.
    """
    return (
        _build_encryption_index(),
        _build_index(INTEGRITY_ALGORITHMS),
        _build_index(PRF_ALGORITHMS),
    )


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
    found = _name_indexes()[0].get(_norm(name))
    if found is None:
        raise UnknownAlgorithm(f"unknown encryption algorithm {name!r}")
    alg, bits = found
    if bits is None and len(alg.key_bits) == 1:
        bits = alg.key_bits[0] or None
    return alg, bits


def integrity_by_name(name: str) -> IntegrityAlg:
    """Resolve any dialect's integrity name; raises UnknownAlgorithm."""
    found = _name_indexes()[1].get(_norm(name))
    if not isinstance(found, IntegrityAlg):
        raise UnknownAlgorithm(f"unknown integrity algorithm {name!r}")
    return found


def prf_by_name(name: str) -> PrfAlg:
    """Resolve any dialect's PRF name; raises UnknownAlgorithm."""
    key = _norm(name)
    index = _name_indexes()[2]
    found = index.get(key) or index.get("prf_" + key)
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


def iana_names(
    rows: tuple[EncryptionAlg, ...] | tuple[IntegrityAlg, ...] | tuple[PrfAlg, ...],
) -> tuple[tuple[int, str], ...]:
    """``(value, IANA name)`` of the IANA-assigned rows, by value: the registry table."""
    named = [(r.iana_id, getattr(r, "iana_name", "") or r.name) for r in rows if r.iana]
    return tuple(sorted(named))


def ids_where(rows: tuple[Any, ...], test: Callable[[Any], bool]) -> frozenset[int]:
    """IANA ids of the rows for which ``test(row)`` holds (the audit's algorithm sets)."""
    return frozenset(r.iana_id for r in rows if r.iana and test(r))


def integrity_by_xfrm(kernel: str, icv_bits: int | None) -> IntegrityAlg | None:
    """The row of an ``ip xfrm state`` ``auth``/``auth-trunc`` line; ``icv_bits`` None
    means the kernel's default truncation."""
    return _INTEG_BY_XFRM.get((kernel, icv_bits))


def encryption_by_xfrm(kernel: str, icv_bits: int | None = None) -> EncryptionAlg | None:
    """The row of an ``enc`` line (``icv_bits`` None) or an ``aead`` line."""
    return _ENCR_BY_XFRM.get((kernel, icv_bits))


def _xfrm_integrity_index() -> dict[tuple[str, int | None], IntegrityAlg]:
    index: dict[tuple[str, int | None], IntegrityAlg] = {}
    for row in INTEGRITY_ALGORITHMS:
        for name in row.xfrm:
            index.setdefault((name, row.icv_len * 8), row)
            if row.xfrm_default:
                index.setdefault((name, None), row)
    return index


def _xfrm_encryption_index() -> dict[tuple[str, int | None], EncryptionAlg]:
    index: dict[tuple[str, int | None], EncryptionAlg] = {}
    for row in ENCRYPTION_ALGORITHMS:
        for name in row.xfrm:
            index.setdefault((name, row.icv_len * 8 if row.aead else None), row)
    return index


_INTEG_BY_XFRM = _xfrm_integrity_index()
_ENCR_BY_XFRM = _xfrm_encryption_index()
