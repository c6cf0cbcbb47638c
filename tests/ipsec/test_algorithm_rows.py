"""Every algorithm is one row (issue 14 item 5): the registries, the key-file parsers and
writers, decryption and the audit rules all read the row's columns.

These tests walk the rows rather than naming algorithms, so a row added to
``ipsec/registry/algorithms.py`` is checked here without touching this file: its
Wireshark, xfrm and tcpdump names must resolve back to it, Wireshark's writer must
produce its exact string, the IANA registry must name it, and its primitive must be bound.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ipsec_inspect.audit import rules
from ipsec_inspect.crypto import algorithms as crypto
from ipsec_inspect.crypto.keyfiles.tcpdump import load_tcpdump
from ipsec_inspect.crypto.keyfiles.wireshark import load_esp_sa, load_ikev2_table, write_wireshark
from ipsec_inspect.crypto.keyfiles.xfrm import load_xfrm
from ipsec_inspect.crypto.keys import IkeKey, KeyStore, SaKey
from ipsec_inspect.ipsec import registry
from ipsec_inspect.ipsec.registry import algorithms as rows

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "wireshark.md"
ENC, INTEG, PRF = rows.ENCRYPTION_ALGORITHMS, rows.INTEGRITY_ALGORITHMS, rows.PRF_ALGORITHMS


def _key(alg: rows.EncryptionAlg, bits: int | None) -> bytes:
    return bytes(range(alg.key_len(bits))) if alg.mode != "null" else b""


@pytest.mark.parametrize(
    ("transform_type", "table"), [(1, ENC), (2, PRF), (3, INTEG)], ids=["encr", "prf", "integ"]
)
def test_the_iana_registry_names_come_from_the_rows(transform_type: int, table: tuple) -> None:
    for row in table:
        if row.iana:
            name = getattr(row, "iana_name", "") or row.name
            assert registry.transform_name(transform_type, row.iana_id) == name


def test_the_rules_strength_sets_are_read_from_the_rows() -> None:
    # The sets the rules used to spell out by number, now derived from the strength
    # columns (RFC 8221, RFC 8247, RFC 9395): the same numbers.
    assert {2} == rules.ENCR_DES and {3} == rules.ENCR_3DES and {11} == rules.ENCR_NULL
    assert {1, 4, 5, 6, 7, 8, 9} == rules.ENCR_DEPRECATED
    assert {11, 21, 29, 30, 31, 32, 33} == rules.ENCR_NOT_FOR_IKE
    assert {1, 2, 9} == rules.ESP_ENCR_DES and {4, 5, 6, 7, 8} == rules.ESP_ENCR_DEPRECATED
    assert {3} == rules.ESP_ENCR_3DES
    assert {1, 3} == rules.PRF_BROKEN and {2} == rules.PRF_SHA1
    assert {1, 3, 4, 6, 7} == rules.INTEG_BROKEN and {1, 6} == rules.INTEG_MD5
    assert {2} == rules.INTEG_SHA1


@pytest.mark.parametrize("alg", [a for a in ENC if not a.unavailable], ids=lambda a: a.name)
def test_every_runnable_cipher_has_its_primitive_bound(alg: rows.EncryptionAlg) -> None:
    bits = alg.key_bits[0] or None
    key = _key(alg, bits)
    iv = bytes(alg.iv_len)
    if alg.aead:
        ct, icv = crypto.aead_encrypt(alg, key, iv, b"\x45" * 32, b"aad")
        assert crypto.aead_decrypt(alg, key, iv, ct, b"aad", icv) == b"\x45" * 32
    else:
        ct = crypto.cipher_encrypt(alg, key, iv, bytes(16))
        assert crypto.cipher_decrypt(alg, key, iv, ct) == bytes(16)


@pytest.mark.parametrize(
    "alg", [a for a in INTEG if a.kind in crypto.MACS and not a.unavailable], ids=lambda a: a.name
)
def test_every_mac_row_computes_an_icv_of_its_length(alg: rows.IntegrityAlg) -> None:
    icv = crypto.compute_icv(alg, bytes(alg.key_len or 20), b"data")
    assert len(icv) == alg.icv_len


@pytest.mark.parametrize("alg", [a for a in ENC if a.wireshark_esp], ids=lambda a: a.name)
def test_wireshark_esp_names_read_and_write_through_the_row(alg: rows.EncryptionAlg) -> None:
    bits = alg.key_bits[-1] or None
    key = _key(alg, bits)
    store = KeyStore()
    store.add_sa(SaKey("esp", 0x1000, "192.0.2.1", "198.51.100.1", alg, key, None, b""))
    written = write_wireshark(store)["esp_sa"]
    assert f'"{alg.wireshark_esp}"' in written
    (back,) = load_esp_sa(written, "esp_sa").sa_keys()
    assert back.encryption is alg and back.encryption_key == key


@pytest.mark.parametrize(
    "alg", [a for a in INTEG if a.wireshark_ikev2 and a.kind != "none"], ids=lambda a: a.name
)
def test_wireshark_ikev2_integrity_names_read_and_write_through_the_row(
    alg: rows.IntegrityAlg,
) -> None:
    aes, _ = crypto.encryption_by_name("ENCR_AES_CBC")
    secrets = {"sk_ei": bytes(16), "sk_er": bytes(16)}
    if alg.kind != "unchecked":
        secrets |= {"sk_ai": bytes(alg.key_len), "sk_ar": bytes(alg.key_len)}
    store = KeyStore()
    store.add_ike(IkeKey(2, b"\x01" * 8, b"\x02" * 8, aes, 128, alg, None, secrets))
    written = write_wireshark(store)["ikev2_decryption_table"]
    assert f'"{alg.wireshark_ikev2}"' in written
    (back,) = load_ikev2_table(written, "t").ike_keys()
    assert back.integrity is alg


@pytest.mark.parametrize(
    ("alg", "bits"),
    [(a, b) for a in ENC if a.wireshark_ikev2 for b in a.key_bits],
    ids=lambda v: v.name if isinstance(v, rows.EncryptionAlg) else str(v),
)
def test_wireshark_ikev2_encryption_names_resolve_with_their_key_size(
    alg: rows.EncryptionAlg, bits: int
) -> None:
    assert crypto.encryption_by_name(alg.wireshark_ikev2.format(bits=bits)) == (alg, bits or None)


def test_every_exact_wireshark_string_of_the_reference_resolves() -> None:
    if not REFERENCE.exists():
        pytest.skip(f"{REFERENCE} is not present")
    text = REFERENCE.read_text()
    esp_enc = text.split("### 1.3")[1].split("### 1.4")[0]
    esp_auth = text.split("### 1.4")[1].split("### 1.5")[0]
    table_strings = re.findall(r"^\| `([^`]+)`", esp_enc + esp_auth, re.MULTILINE)
    assert len(table_strings) == 28
    for s in table_strings:
        if s in ("NULL",) or "bit authentication" in s or s.startswith(("HMAC", "MAC")):
            assert s == "NULL" or crypto.integrity_by_name(s).wireshark_esp == s
        else:
            enc, _bits = crypto.encryption_by_name(s)
            assert s == "AES-GCM [RFC4106]" or s in (enc.wireshark_esp, enc.wireshark_esp_newer)


@pytest.mark.parametrize("alg", [a for a in ENC if a.xfrm], ids=lambda a: a.name)
def test_xfrm_names_resolve_to_the_row(alg: rows.EncryptionAlg) -> None:
    bits = alg.key_bits[0] or None
    key = _key(alg, bits)
    line = (
        f"\taead {alg.xfrm[0]} 0x{key.hex()} {alg.icv_len * 8}"
        if alg.aead
        else f"\tenc {alg.xfrm[0]} 0x{key.hex()}"
    )
    text = (
        f"src 192.0.2.1 dst 198.51.100.1\n\tproto esp spi 0x00001000 reqid 1 mode tunnel\n{line}\n"
    )
    (sa,) = load_xfrm(text, "xfrm").sa_keys()
    assert sa.encryption is alg


@pytest.mark.parametrize(
    "alg", [a for a in INTEG if a.xfrm and a.kind != "none"], ids=lambda a: a.name
)
def test_xfrm_auth_trunc_resolves_to_the_row(alg: rows.IntegrityAlg) -> None:
    text = (
        "src 192.0.2.1 dst 198.51.100.1\n\tproto esp spi 0x00001000 reqid 1 mode tunnel\n"
        f"\tauth-trunc {alg.xfrm[0]} 0x{bytes(alg.key_len).hex()} {alg.icv_len * 8}\n"
        "\tenc cbc(aes) 0x000102030405060708090a0b0c0d0e0f\n"
    )
    (sa,) = load_xfrm(text, "xfrm").sa_keys()
    assert sa.integrity is alg


@pytest.mark.parametrize("alg", [a for a in ENC if a.tcpdump], ids=lambda a: a.name)
def test_tcpdump_names_resolve_to_the_row(alg: rows.EncryptionAlg) -> None:
    bits = alg.key_bits[-1] or None
    name = alg.tcpdump.format(bits=bits)
    secret = _key(alg, bits).hex()
    (sa,) = load_tcpdump(f"0x1000@198.51.100.1 {name}:0x{secret}\n", "secrets").sa_keys()
    assert sa.encryption is alg and sa.integrity is None
