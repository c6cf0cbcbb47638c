"""Algorithm names: strongSwan's proposal tokens -> IANA names and Wireshark UAT strings.

Why tables: every algorithm is one row, and the same rows drive keys.toml and the three
Wireshark key files. Wireshark's strings are exact and case-sensitive (one wrong string makes
tshark refuse the whole table), see ../shared/reference/wireshark.md sections 1.3, 1.4, 3.4.
A ``None`` Wireshark string means tshark 4.0 cannot decrypt it (ChaCha20-Poly1305).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cipher:
    iana: str  # IKEv2 transform type 1 name
    key_bits: int
    aead: bool
    esp_uat: str | None  # esp_sa "Encryption" column
    ikev2_uat: str | None  # ikev2_decryption_table "Encryption algorithm" column


# strongSwan token -> cipher (AEAD tokens carry the ICV length: AES_GCM_16_128 = 16-octet ICV)
CIPHERS: dict[str, Cipher] = {
    "AES_CBC_128": Cipher("ENCR_AES_CBC", 128, False, "AES-CBC [RFC3602]", "AES-CBC-128 [RFC3602]"),
    "AES_CBC_192": Cipher("ENCR_AES_CBC", 192, False, "AES-CBC [RFC3602]", "AES-CBC-192 [RFC3602]"),
    "AES_CBC_256": Cipher("ENCR_AES_CBC", 256, False, "AES-CBC [RFC3602]", "AES-CBC-256 [RFC3602]"),
    "AES_GCM_16_128": Cipher(
        "ENCR_AES_GCM_16",
        128,
        True,
        "AES-GCM with 16 octet ICV [RFC4106]",
        "AES-GCM-128 with 16 octet ICV [RFC5282]",
    ),
    "AES_GCM_16_192": Cipher(
        "ENCR_AES_GCM_16",
        192,
        True,
        "AES-GCM with 16 octet ICV [RFC4106]",
        "AES-GCM-192 with 16 octet ICV [RFC5282]",
    ),
    "AES_GCM_16_256": Cipher(
        "ENCR_AES_GCM_16",
        256,
        True,
        "AES-GCM with 16 octet ICV [RFC4106]",
        "AES-GCM-256 with 16 octet ICV [RFC5282]",
    ),
    "AES_GCM_12_128": Cipher(
        "ENCR_AES_GCM_12",
        128,
        True,
        "AES-GCM with 12 octet ICV [RFC4106]",
        "AES-GCM-128 with 12 octet ICV [RFC5282]",
    ),
    "AES_GCM_8_128": Cipher(
        "ENCR_AES_GCM_8",
        128,
        True,
        "AES-GCM with 8 octet ICV [RFC4106]",
        "AES-GCM-128 with 8 octet ICV [RFC5282]",
    ),
    "CHACHA20_POLY1305": Cipher("ENCR_CHACHA20_POLY1305", 256, True, None, None),
}


@dataclass(frozen=True, slots=True)
class Integrity:
    iana: str  # IKEv2 transform type 3 name
    esp_uat: str  # esp_sa "Authentication" column
    ikev2_uat: str  # ikev2_decryption_table "Integrity algorithm" column


INTEGRITY: dict[str, Integrity] = {
    "": Integrity("AUTH_NONE", "NULL", "NONE [RFC4306]"),
    "HMAC_MD5_96": Integrity("AUTH_HMAC_MD5_96", "HMAC-MD5-96 [RFC2403]", "HMAC_MD5_96 [RFC2403]"),
    "HMAC_SHA1_96": Integrity(
        "AUTH_HMAC_SHA1_96", "HMAC-SHA-1-96 [RFC2404]", "HMAC_SHA1_96 [RFC2404]"
    ),
    "HMAC_SHA2_256_128": Integrity(
        "AUTH_HMAC_SHA2_256_128", "HMAC-SHA-256-128 [RFC4868]", "HMAC_SHA2_256_128 [RFC4868]"
    ),
    "HMAC_SHA2_384_192": Integrity(
        "AUTH_HMAC_SHA2_384_192", "HMAC-SHA-384-192 [RFC4868]", "HMAC_SHA2_384_192 [RFC4868]"
    ),
    "HMAC_SHA2_512_256": Integrity(
        "AUTH_HMAC_SHA2_512_256", "HMAC-SHA-512-256 [RFC4868]", "HMAC_SHA2_512_256 [RFC4868]"
    ),
}

# strongSwan DH token -> IANA transform type 4 id
DH_GROUPS: dict[str, int] = {
    "MODP_1024": 2,
    "MODP_1536": 5,
    "MODP_2048": 14,
    "MODP_3072": 15,
    "MODP_4096": 16,
    "ECP_256": 19,
    "ECP_384": 20,
    "ECP_521": 21,
    "CURVE_25519": 31,
    "CURVE_448": 32,
}


def cipher(token: str) -> Cipher:
    try:
        return CIPHERS[token]
    except KeyError:
        raise ValueError(f"no naming row for strongSwan cipher {token!r}") from None


def integrity(token: str) -> Integrity:
    try:
        return INTEGRITY[token]
    except KeyError:
        raise ValueError(f"no naming row for strongSwan integrity {token!r}") from None
