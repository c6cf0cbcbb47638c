"""Key files: every format, wildcards and matching, writers, malformed rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipsec_inspect.crypto.algorithms import (
    UnknownAlgorithm,
    encryption_by_name,
    integrity_by_name,
    prf_by_name,
)
from ipsec_inspect.crypto.keyfiles.common import KeyFileError, format_spi, parse_hex, parse_spi
from ipsec_inspect.crypto.keyfiles.detect import detect_format, load_key_path, load_key_text
from ipsec_inspect.crypto.keyfiles.toml_keys import load_toml, write_toml
from ipsec_inspect.crypto.keyfiles.wireshark import (
    load_esp_sa,
    load_ikev2_table,
    split_uat_line,
    write_wireshark,
)
from ipsec_inspect.crypto.keyfiles.xfrm import load_xfrm
from ipsec_inspect.crypto.keys import IkeKey, KeyStore, SaKey

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / ".." / "shared" / "captures"
SAMPLES = ROOT / "samples"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path.name} is not present")
    return path


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "row", "bits"),
    [("ENCR_AES_GCM_16", "ENCR_AES_GCM_16", None), ("encr_aes_cbc_256", "ENCR_AES_CBC", 256),
     ("aes128gcm16", "ENCR_AES_GCM_16", 128), ("aes256", "ENCR_AES_CBC", 256),
     ("chacha20poly1305", "ENCR_CHACHA20_POLY1305", 256), ("3des", "ENCR_3DES", 192),
     ("aes128ctr", "ENCR_AES_CTR", 128), ("aes192ccm12", "ENCR_AES_CCM_12", 192),
     ("aes128gmac", "ENCR_NULL_AUTH_AES_GMAC", 128), ("AES_GCM_16_128", "ENCR_AES_GCM_16", 128),
     ("CHACHA20_POLY1305_256", "ENCR_CHACHA20_POLY1305", 256),
     ("AES-GCM with 12 octet ICV [RFC4106]", "ENCR_AES_GCM_12", None),
     ("AES-CCM-256 with 16 octet ICV [RFC5282]", "ENCR_AES_CCM_16", 256),
     ("TripleDES-CBC [RFC2451]", "ENCR_3DES", 192), ("AES-CTR-192 [RFC5930]", "ENCR_AES_CTR", 192)],
)  # fmt: skip
def test_encryption_names(name: str, row: str, bits: int | None) -> None:
    alg, got_bits = encryption_by_name(name)
    assert (alg.name, got_bits) == (row, bits)


def test_integrity_and_prf_names() -> None:
    assert integrity_by_name("HMAC-SHA-256-128 [RFC4868]").name == "AUTH_HMAC_SHA2_256_128"
    assert integrity_by_name("HMAC_SHA1_160 [RFC4595]").icv_len == 20
    assert integrity_by_name("ANY 64 bit authentication [no checking]").icv_len == 8
    assert integrity_by_name("aesxcbc").name == "AUTH_AES_XCBC_96"
    assert (
        prf_by_name("prfsha256").name
        == prf_by_name("PRF_HMAC_SHA2_256").name
        == "PRF_HMAC_SHA2_256"
    )
    assert prf_by_name("aescmac").name == "PRF_AES128_CMAC"
    with pytest.raises(UnknownAlgorithm, match="unknown encryption algorithm 'rot13'"):
        encryption_by_name("rot13")


# --------------------------------------------------------------------------- helpers, matching


def test_hex_and_spi_parsing() -> None:
    assert parse_hex("0x0abc") == bytes.fromhex("0abc")
    assert parse_hex("ab:cd ef") == bytes.fromhex("abcdef")
    with pytest.raises(ValueError, match="3 hex digits, an odd count"):
        parse_hex("0xabc")
    assert parse_spi("*") == (0, 0)
    assert parse_spi("110") == (110, 0xFFFFFFFF)
    assert parse_spi("0x12**56**") == (0x12005600, 0xFF00FF00)
    assert format_spi(0x12005600, 0xFF00FF00) == "0x12**56**"
    with pytest.raises(ValueError):
        parse_spi("0x123456789")


def test_matching_exact_before_wildcard_and_patterns() -> None:
    aes = encryption_by_name("aes")[0]
    store = KeyStore()
    wild = SaKey("esp", 5, "*", "*", aes, b"w" * 16, None, b"")
    exact = SaKey("esp", 5, "10.0.0.1", "10.0.0.2", aes, b"e" * 16, None, b"")
    octets = SaKey("esp", 6, "190.*.*.1", None, aes, b"o" * 16, None, b"")
    nibble = SaKey("esp", 7, None, "3ffe::45*6", aes, b"n" * 16, None, b"")
    prefix = SaKey("esp", 8, None, "2001:db8::/32", aes, b"p" * 16, None, b"", ip_version=6)
    anyspi = SaKey("esp", 0, None, "192.0.2.9", aes, b"a" * 16, None, b"", spi_mask=0)
    for k in (wild, exact, octets, nibble, prefix, anyspi):
        store.add_sa(k)
    assert store.find_sa("esp", 5, "10.0.0.1", "10.0.0.2") is exact
    assert store.find_sa("esp", 5, "10.0.0.9", "10.0.0.2") is wild
    assert store.find_sa("esp", 6, "190.7.8.1", "1.1.1.1") is octets
    assert store.find_sa("esp", 6, "191.7.8.1", "1.1.1.1") is None
    assert store.find_sa("esp", 7, "::1", "3ffe::4576") is nibble
    assert store.find_sa("esp", 7, "::1", "3ffe::4577") is None
    assert store.find_sa("esp", 8, "::1", "2001:db8:5::1") is prefix
    assert store.find_sa("esp", 0xDEAD, "1.2.3.4", "192.0.2.9") is anyspi
    assert store.find_sa("ah", 5, "10.0.0.1", "10.0.0.2") is None


def test_find_ike_by_initiator_cookie_alone() -> None:
    store = KeyStore()
    v1 = IkeKey(1, b"\x01" * 8, b"", None, None, None, None, {"enc_key": b"k" * 16})
    v2 = IkeKey(2, b"\x02" * 8, b"\x03" * 8, None, None, None, None, {})
    store.add_ike(v1)
    store.add_ike(v2)
    assert store.find_ike(b"\x01" * 8, b"\x09" * 8) is v1
    assert store.find_ike(b"\x02" * 8, b"\x03" * 8) is v2
    assert store.find_ike(b"\x02" * 8, b"\x04" * 8) is None


def test_repr_never_shows_key_bytes() -> None:
    secret = bytes.fromhex("0123456789abcdef0123456789abcdef")
    sa = SaKey(
        "esp",
        1,
        None,
        None,
        encryption_by_name("aes")[0],
        secret,
        integrity_by_name("sha1"),
        secret,
    )
    ike = IkeKey(2, b"\x01" * 8, b"\x02" * 8, None, None, None, None, {"sk_d": secret})
    for text in (repr(sa), str(sa), repr(ike), str(ike), repr(KeyStore())):
        assert secret.hex() not in text
    assert "ESP SPI 0x00000001 * -> * ENCR_AES_CBC_128/AUTH_HMAC_SHA1_96 (supplied)" in repr(sa)


# --------------------------------------------------------------------------- TOML

TOML = """
[[ike]]
version = 2
spi_i = "89922c915f35570e"
spi_r = "98d56d32e2a04742"
encryption = "aes256gcm16"
prf = "prfsha256"
sk_d = "00112233"
sk_ei = "f49c0d53899c8aef4435e2850619825dacc1c8b4bfd636f7175032cfbe4c57db8b7b260f"
dh_secret = "0xaabb"

[[esp]]
spi = "0xc1a9656b"
dst = "192.0.2.2"
encryption = "AES-GCM with 16 octet ICV [RFC4106]"
encryption_key = "167fc4915921b24f27f71e7498b1978c238398d6"
esn = true

[[ah]]
spi = 4096
integrity = "sha256"
integrity_key = "00000000000000000000000000000000000000000000000000000000000000ff"

[[esp]]
encryption = "rot13"
spi = "2"
"""


def test_toml_reads_tables_and_names_problem_lines() -> None:
    store = load_toml(TOML, "k.toml")
    ike = store.ike_keys()[0]
    assert (ike.encryption.name, ike.encryption_key_bits, ike.prf.name) == (
        "ENCR_AES_GCM_16",
        256,
        "PRF_HMAC_SHA2_256",
    )  # type: ignore[union-attr]
    assert ike.secrets == {
        "sk_d": bytes.fromhex("00112233"),
        "sk_ei": bytes.fromhex(
            "f49c0d53899c8aef4435e2850619825dacc1c8b4bfd636f7175032cfbe4c57db8b7b260f"
        ),
        "dh_secret": b"\xaa\xbb",
    }
    esp, ah = store.sa_keys()
    assert (esp.protocol, esp.spi, esp.dst, esp.esn, esp.encryption_bits) == (
        "esp",
        0xC1A9656B,
        "192.0.2.2",
        True,
        128,
    )
    assert (ah.protocol, ah.spi, ah.integrity.name) == ("ah", 4096, "AUTH_HMAC_SHA2_256_128")  # type: ignore[union-attr]
    assert esp.origin == "k.toml:12"
    assert store.problems == ["k.toml:24: [[esp]] skipped: unknown encryption algorithm 'rot13'"]


def test_toml_round_trip_and_key_omission() -> None:
    store = load_toml(TOML, "k.toml")
    full = write_toml(store, include_keys=True)
    again = load_toml(full, "again.toml")
    assert again.problems == []
    assert [(k.spi, k.encryption_key, k.integrity_key, k.esn) for k in again.sa_keys()] == [
        (k.spi, k.encryption_key, k.integrity_key, k.esn) for k in store.sa_keys()
    ]
    assert again.ike_keys()[0].secrets == store.ike_keys()[0].secrets
    bare = write_toml(store, include_keys=False)
    assert "167fc4915921b24f27f71e7498b1978c238398d6" not in bare
    assert "00112233" not in bare
    assert 'spi = "0xc1a9656b"' in bare


def test_bad_toml_is_an_error_naming_file_line_and_field() -> None:
    with pytest.raises(KeyFileError, match=r"^bad\.toml:2: spi: not valid TOML: Invalid value$"):
        load_toml("[[esp]]\nspi = ", "bad.toml")


# --------------------------------------------------------------------------- Wireshark


def test_uat_line_splitting() -> None:
    assert split_uat_line('"IPv4","a\\x2cb",,x') == ["IPv4", "a,b", "", "x"]
    assert split_uat_line('"open') is None


def test_esp_sa_ascii_hex_wildcards_and_problems() -> None:
    text = "\n".join([
        "# comment",
        '"IPv4","*","192.0.2.2","0x12345678","AES-CBC [RFC3602]","aescbcencryption","HMAC-SHA-1-96 [RFC2404]","hmacsha1authenticati"',
        '"IPv6","3ffe::1","3ffe::3","*","BLOWFISH-CBC [RFC2451]","0xecafecacafecafebbccbbccdadaffff","NULL",""',
        '"Any","*","*","0x1234**78","AES-GCM with 16 octet ICV [RFC4106]","0x' + "11" * 20 + '","NULL","","64-bit","2a"',
        '"IPv4","*","*","1","rot13","0x00","NULL",""',
        '"IPv4","*","*"',
    ])  # fmt: skip
    store = load_esp_sa(text, "esp_sa")
    a, b, c = store.sa_keys()
    assert a.encryption_key == b"aescbcencryption" and a.integrity_key == b"hmacsha1authenticati"
    assert (a.src, a.ip_version) == ("*", 4)
    assert b.encryption_key == bytes.fromhex("0ecafecacafecafebbccbbccdadaffff")  # odd count padded
    assert (b.spi_mask, b.integrity) == (0, None)
    assert (c.spi, c.spi_mask, c.esn, c.esn_high, c.ip_version) == (
        0x12340078,
        0xFFFF00FF,
        True,
        0x2A,
        None,
    )
    assert store.problems == [
        "esp_sa:5: row skipped: unknown encryption algorithm 'rot13'",
        "esp_sa:6: expected 8 or 10 fields, found 3",
    ]
    wrong_length = '"IPv4","*","*","1","AES-CBC [RFC3602]","0011223344556677889a","NULL",""'
    with pytest.raises(KeyFileError) as raised:
        load_esp_sa("# comment\n" + wrong_length, "esp_sa")
    assert str(raised.value) == (
        "esp_sa:2: Encryption Key: is 160 bits; AES-CBC [RFC3602] takes 128 or 192 or 256 "
        "(keys without 0x are read as ASCII text)"
    )


def test_esp_sa_rejects_case_changed_names_like_wireshark() -> None:
    # Wireshark's enumeration strings are case-sensitive in its tables; ours are lenient on
    # purpose (every dialect is accepted), except the exact strings written back out.
    store = load_esp_sa(
        '"IPv4","*","*","1","TripleDes-CBC [RFC2451]","0x' + "00" * 24 + '","NULL",""', "x"
    )
    assert store.problems == [
        "x:1: 'TripleDes-CBC [RFC2451]' accepted, but it is not Wireshark's exact "
        "spelling (Wireshark refuses the whole table)"
    ]
    written = write_wireshark(store)
    assert '"TripleDES-CBC [RFC2451]"' in written["esp_sa"]


def test_ikev2_table_validation() -> None:
    good = (
        "5a64e0edca3a3614,7c9ebe2a8e9ff7b8,"
        + "aa" * 32
        + ","
        + "bb" * 32
        + ',"AES-CBC-256 [RFC3602]",'
        + "cc" * 32
        + ","
        + "dd" * 32
        + ',"HMAC_SHA2_256_128 [RFC4868]"'
    )
    short = good.replace("aa" * 32, "aa" * 16)
    with pytest.raises(KeyFileError) as raised:
        load_ikev2_table(good + "\n" + short + "\n", "ikev2_decryption_table")
    assert str(raised.value) == (
        "ikev2_decryption_table:2: SK_ei: is 16 bytes; AES-CBC-256 [RFC3602] takes 32"
    )
    store = load_ikev2_table(good + "\n", "ikev2_decryption_table")
    (key,) = store.ike_keys()
    assert (key.encryption.name, key.encryption_key_bits, key.integrity.name) == (
        "ENCR_AES_CBC",
        256,
        "AUTH_HMAC_SHA2_256_128",
    )  # type: ignore[union-attr]
    assert key.secrets["sk_ar"] == b"\xdd" * 32
    assert store.problems == []


def test_wireshark_profile_folder_and_round_trip(tmp_path: Path) -> None:
    profile = _need(CAPTURES / "wireshark" / "profile")
    store = load_key_path(profile)
    assert (len(store.sa_keys()), len(store.ike_keys()), store.problems) == (2, 12, [])
    v1 = [k for k in store.ike_keys() if k.version == 1]
    assert (
        len(v1) == 3
        and v1[0].secrets["enc_key"].hex() == "735be0cb62f82675c4f7bf8fbab9b56834ba76d6ab4fa240"
    )
    ccm = [k for k in store.ike_keys() if k.encryption and k.encryption.name == "ENCR_AES_CCM_12"]
    assert ccm and ccm[0].encryption_key_bits == 128
    for name, text in write_wireshark(store).items():
        (tmp_path / name).write_text(text)
    again = load_key_path(tmp_path)
    assert again.problems == []
    assert [(k.spi, k.src, k.dst, k.encryption_key, k.integrity_key) for k in again.sa_keys()] == [
        (k.spi, k.src, k.dst, k.encryption_key, k.integrity_key) for k in store.sa_keys()
    ]
    assert sorted(
        (k.spi_i, k.spi_r, tuple(sorted(k.secrets.items()))) for k in again.ike_keys()
    ) == sorted((k.spi_i, k.spi_r, tuple(sorted(k.secrets.items()))) for k in store.ike_keys())


def test_writer_comments_what_wireshark_cannot_take() -> None:
    store = KeyStore()
    store.add_sa(
        SaKey(
            "esp", 1, "192.0.2.1", None, encryption_by_name("aes128ccm16")[0], b"k" * 19, None, b""
        )
    )
    store.add_sa(
        SaKey(
            "esp",
            2,
            None,
            None,
            encryption_by_name("aes")[0],
            b"k" * 16,
            integrity_by_name("aesxcbc"),
            b"x" * 16,
        )
    )
    out = write_wireshark(store)["esp_sa"].splitlines()
    assert (
        out[1]
        == "# SPI 0x00000001 (supplied): ENCR_AES_CCM_16 is not supported by Wireshark's ESP decryption"
    )
    assert out[2].startswith('"IPv4","*","*","0x00000002","AES-CBC [RFC3602]","0x6b6b')
    assert out[2].endswith(
        '"ANY 96 bit authentication [no checking]","0x78787878787878787878787878787878"'
    )
    assert out[3].startswith('"IPv6","*","*","0x00000002"')


# --------------------------------------------------------------------------- xfrm, tcpdump

XFRM = """src 192.0.2.1 dst 192.0.2.2
	proto esp spi 0xc1a9656b reqid 1 mode tunnel
	replay-window 0 flag af-unspec esn
	aead rfc4106(gcm(aes)) 0x167fc4915921b24f27f71e7498b1978c238398d6 128
	encap type espinudp sport 4500 dport 4500 addr 0.0.0.0
	anti-replay esn context:
src 192.0.2.2 dst 192.0.2.1
	proto esp spi 0x0000abcd reqid 1 mode transport
	replay-window 32
	auth-trunc hmac(sha256) 0x1cfd5c2079c7cab5a98cbe091e6d935832a3b410204313c3e15265567489b7c6 128
	enc cbc(aes) 0x343c9a1a9e4519749c3c2b5e5240b428
src 192.0.2.2 dst 192.0.2.1
	proto esp spi 0x00000010 reqid 2 mode tunnel
	auth hmac(sha1) 0x51c9213c18232f8f26c70c4dee6e0e6d56e31e8a
	enc rfc3686(ctr(aes)) 0x9e93603f8c0e5406e7bf052518fec074c3ff06c9
src 192.0.2.2 dst 192.0.2.1
	proto ah spi 0x00000011 reqid 3 mode transport
	auth hmac(sha256) 0x1cfd5c2079c7cab5a98cbe091e6d935832a3b410204313c3e15265567489b7c6
src 192.0.2.2 dst 192.0.2.1
	proto esp spi 0x00000012 reqid 4 mode tunnel
	enc cbc(serpent) 0x00
"""


def test_xfrm_state() -> None:
    assert detect_format(XFRM) == "xfrm"
    store = load_xfrm(XFRM, "xfrm.txt")
    gcm, cbc, ctr, ah = store.sa_keys()
    assert (gcm.spi, gcm.src, gcm.dst, gcm.encryption.name, gcm.esn) == (
        0xC1A9656B,
        "192.0.2.1",
        "192.0.2.2",
        "ENCR_AES_GCM_16",
        True,
    )  # type: ignore[union-attr]
    assert (cbc.integrity.name, cbc.esn) == ("AUTH_HMAC_SHA2_256_128", False)  # type: ignore[union-attr]
    assert (ctr.encryption.name, ctr.integrity.name) == ("ENCR_AES_CTR", "AUTH_HMAC_SHA1_96")  # type: ignore[union-attr]
    assert (ah.protocol, ah.integrity.name) == ("ah", "AUTH_HMAC_SHA2_256_96")  # type: ignore[union-attr]
    assert store.problems == [
        "xfrm.txt:21: unknown enc algorithm 'cbc(serpent)'; state at xfrm.txt:19 skipped"
    ]


def test_tcpdump_secrets() -> None:
    esp = load_key_path(_need(CAPTURES / "tcpdump" / "esp-secrets.txt"))
    assert [(k.spi, k.src, k.dst, k.encryption.name, k.integrity.name) for k in esp.sa_keys()] == [  # type: ignore[union-attr]
        (0x12345678, None, "192.1.2.45", "ENCR_3DES", "ANY_96_UNCHECKED"),
        (0xABCDABCD, None, "192.0.1.1", "ENCR_3DES", "ANY_96_UNCHECKED"),
        (0xD1234567, None, "192.1.2.45", "ENCR_AES_CBC", "ANY_96_UNCHECKED"),
    ]
    ike = load_key_path(CAPTURES / "tcpdump" / "ikev2pI2-secrets.txt").ike_keys()
    assert len(ike) == 1
    assert (ike[0].encryption.name, ike[0].encryption_key_bits, ike[0].integrity.name) == (
        "ENCR_AES_CBC",
        128,
        "AUTH_HMAC_SHA1_96",
    )  # type: ignore[union-attr]
    assert ike[0].secrets["sk_er"].hex() == "bedb67ec7dc3d00cccac42e70cd63bde"
    assert ike[0].secrets["sk_ai"].hex() == "4ea8e662b07cdd430f6944c6723e4b82d5722418"
    bad = load_key_text("0x1@1.2.3.4 rc3-cbc:0x00\n0x2@1.2.3.4 none:\n", "secrets.txt")
    assert bad.problems == ["secrets.txt:1: line skipped: unknown encryption algorithm 'rc3-cbc'"]


# --------------------------------------------------------------------------- charon log


def test_charon_log_matches_the_ground_truth_toml() -> None:
    folder = _need(SAMPLES / "realpeer" / "ikev2-chacha20")
    from_log = load_key_path(folder / "left.log")
    truth = load_key_path(folder / "keys.toml")
    assert from_log.problems == []
    assert sorted(
        (k.spi, k.encryption.name, k.encryption_key) for k in from_log.sa_keys()
    ) == sorted(  # type: ignore[union-attr]
        (k.spi, k.encryption.name, k.encryption_key) for k in truth.sa_keys()
    )  # type: ignore[union-attr]
    (ike,) = from_log.ike_keys()
    assert ike.secrets["sk_d"] == truth.ike_keys()[0].secrets["sk_d"]
    assert ike.prf is not None and ike.encryption.name == "ENCR_CHACHA20_POLY1305"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- detection


def test_missing_and_unknown_paths(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no such file or folder"):
        load_key_path(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(KeyFileError, match="not a key file"):
        load_key_path(tmp_path / "notes.txt")
    with pytest.raises(KeyFileError, match="holds no key file"):
        load_key_path(tmp_path)
    (tmp_path / "state.txt").write_text(XFRM)
    assert len(load_key_path(tmp_path).sa_keys()) == 4
