"""Key derivation against published vectors and an independent implementation.

Sources of truth: RFC 3566 (AES-XCBC-MAC), RFC 4434 (AES-XCBC-PRF-128), RFC 4615
(AES-CMAC-PRF-128), the NIST CAVS IKEv2 KDF vector that libreswan's CAVS driver carries
(SHA-1), and for the IKEv1 formulas a second implementation written here with
``cryptography``'s HMAC (not the stdlib ``hmac`` that kdf.py uses).
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as c_hmac

from ipsec_inspect.crypto import algorithms, kdf

H = bytes.fromhex


def _hmac(algo: hashes.HashAlgorithm, key: bytes, data: bytes) -> bytes:
    h = c_hmac.HMAC(key, algo)
    h.update(data)
    return h.finalize()


# ------------------------------------------------------------------ fixed-key PRFs

MSG20 = H("000102030405060708090a0b0c0d0e0f10111213")


def test_aes_xcbc_mac_rfc3566_vectors() -> None:
    key = H("000102030405060708090a0b0c0d0e0f")
    assert algorithms.aes_xcbc_mac(key, b"").hex() == "75f0251d528ac01c4573dfd584d79f29"
    assert algorithms.aes_xcbc_mac(key, H("000102")).hex() == "5b376580ae2f19afe7219ceef172756f"
    assert algorithms.aes_xcbc_mac(key, MSG20).hex() == "47f51b4564966215b8985c63055ed308"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("000102030405060708090a0b0c0d0e0f", "47f51b4564966215b8985c63055ed308"),
        ("00010203040506070809", "0fa087af7d866e7653434e602fdde835"),
        ("000102030405060708090a0b0c0d0e0fedcb", "8cd3c93ae598a9803006ffb67c40e9e4"),
    ],
)
def test_aes_xcbc_prf_rfc4434_vectors(key: str, expected: str) -> None:
    assert kdf.prf(4, H(key), MSG20).hex() == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("000102030405060708090a0b0c0d0e0fedcb", "84a348a4a45d235babfffc0d2b4da09a"),
        ("000102030405060708090a0b0c0d0e0f", "980ae87b5f4c9c5214f5b6a8455e4c2d"),
        ("00010203040506070809", "290d9e112edb09ee141fcf64c0b72f3d"),
    ],
)
def test_aes_cmac_prf_rfc4615_vectors(key: str, expected: str) -> None:
    assert kdf.prf(8, H(key), MSG20).hex() == expected


# ------------------------------------------------------------------ IKEv2 (NIST CAVS)

# NIST CAVS IKEv2 KDF, SHA-1, DKM length 1056 bits (as run by libreswan's CAVS driver).
CAVS_GIR = H("4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52")
CAVS_GIR_NEW = H("863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330")
CAVS_NI, CAVS_NR = H("32b50d5f4a3763f3"), H("9206a04b26564cb1")
CAVS_SPII, CAVS_SPIR = H("34c9e7c188868785"), H("3ff77d760d2b2199")
CAVS_DKM = (
    "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002a2a63080e514a062768b"
    "76606f9fa5e992204fc5a670bde3f10d6b027113936a5c55b648a194ae587b0088d52204b702c979fa28"
    "0870d2ed41efa9c549fd11198af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a8115"
    "7435a7a56cc4"
)
CAVS_DKM_CHILD = (
    "8059e3ee8810e6c3a91bc8bcd2a7a41151b8d0e6ae239c7b38093ad85ef4c5811a8e7b5d1cdabd9560b2"
    "d5e092d1f24e2d4b85eccdf0ad0dc9abd94b51ee71814ca6dbc8bb51b6309f5b9545c7eb35cf5580b1e5"
    "21a8fe20754a2d883ba0c2cf285f524aea6545b33106bc03e614296d319d41d4b50b3f510b1c0a22f3e6"
    "64994d234cb4"
)
CAVS_DKM_CHILD_DH = (
    "bb43244c1860ad65ee1e211ffe8bb3661750c8f89cb9f547df7f4fa61d37301628190e38c66232eab4b3"
    "ab14c400a5197dd3730ed4820a8a10394d51e1c0400052f63ebd36b0e7ef53aaed31eba4a5080d7d4b56"
    "66023a8bbb5ffb7857240f9a05884d1b7d2f933708450b7b3288f1fc863ab49fa901227cffc06e27899c"
    "7054d56fd74c"
)


def test_cavs_skeyseed_and_dkm() -> None:
    seed = kdf.skeyseed(2, CAVS_NI, CAVS_NR, CAVS_GIR)
    assert seed.hex() == "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7"
    dkm = kdf.prf_plus(2, seed, CAVS_NI + CAVS_NR + CAVS_SPII + CAVS_SPIR, 132)
    assert dkm.hex() == CAVS_DKM


def test_cavs_ike_sa_keys_split_in_rfc_order() -> None:
    # SK_d is the first PRF-length block of DKM; with 20-byte integrity keys and 16-byte
    # encryption keys the rest follows in the order of RFC 7296 §2.14.
    keys = kdf.derive_ike_sa(2, CAVS_NI, CAVS_NR, CAVS_GIR, CAVS_SPII, CAVS_SPIR, 20, 16)
    dkm = H(CAVS_DKM)
    assert keys.sk_d == dkm[:20]
    assert keys.sk_ai == dkm[20:40]
    assert keys.sk_ar == dkm[40:60]
    assert keys.sk_ei == dkm[60:76]
    assert keys.sk_er == dkm[76:92]
    assert keys.sk_pi == dkm[92:112]
    assert keys.sk_pr == dkm[112:132]


def test_cavs_child_keymat_with_and_without_pfs() -> None:
    sk_d = H(CAVS_DKM)[:20]
    assert kdf.prf_plus(2, sk_d, CAVS_NI + CAVS_NR, 132).hex() == CAVS_DKM_CHILD
    assert kdf.prf_plus(2, sk_d, CAVS_GIR_NEW + CAVS_NI + CAVS_NR, 132).hex() == CAVS_DKM_CHILD_DH
    # child_sa_keys splits the same bytes: i->r encryption, i->r integrity, then r->i.
    ck = kdf.child_sa_keys(2, sk_d, CAVS_NI, CAVS_NR, 32, 20, dh_secret=CAVS_GIR_NEW)
    km = H(CAVS_DKM_CHILD_DH)
    assert (ck.encr_i, ck.integ_i, ck.encr_r, ck.integ_r) == (
        km[0:32],
        km[32:52],
        km[52:84],
        km[84:104],
    )


def test_cavs_rekeyed_skeyseed() -> None:
    sk_d = H(CAVS_DKM)[:20]
    seed = kdf.rekeyed_skeyseed(2, sk_d, CAVS_GIR_NEW, CAVS_NI, CAVS_NR)
    assert seed.hex() == "63e81194946ebd05df7df5ebf5d8750056bf1f1d"


def test_prf_plus_matches_independent_hmac_sha256() -> None:
    key, seed = b"K" * 32, b"seed-bytes"
    t, expected = b"", b""
    for n in range(1, 5):
        t = _hmac(hashes.SHA256(), key, t + seed + bytes((n,)))
        expected += t
    assert kdf.prf_plus(5, key, seed, 100) == expected[:100]


def test_fixed_key_prf_skeyseed_uses_64_bits_of_each_nonce() -> None:
    ni, nr = bytes(range(32)), bytes(range(100, 132))
    expected = algorithms.aes_xcbc_mac(ni[:8] + nr[:8], b"g^ir")
    assert kdf.skeyseed(4, ni, nr, b"g^ir") == expected


def test_prf_plus_refuses_more_than_255_blocks() -> None:
    with pytest.raises(kdf.KdfError):
        kdf.prf_plus(2, b"k", b"s", 20 * 255 + 1)


def test_unknown_prf_is_named() -> None:
    with pytest.raises(kdf.KdfError, match="PRF transform 3"):
        kdf.prf(3, b"k", b"s")


# ------------------------------------------------------------------ IKEv1


def test_ikev1_skeyid_variants_match_independent_hmac() -> None:
    ni, nr, gxy, psk = b"N" * 16, b"n" * 16, b"G" * 128, b"secret"
    ci, cr = H("fafaeb49382a763c"), H("36e65ad2f66f4403")
    sha1 = hashes.SHA1()
    assert kdf.ikev1_skeyid(2, kdf.Ikev1AuthKind.PRE_SHARED_KEY, ni, nr, psk=psk) == _hmac(
        sha1, psk, ni + nr
    )
    assert kdf.ikev1_skeyid(2, kdf.Ikev1AuthKind.SIGNATURE, ni, nr, dh_secret=gxy) == _hmac(
        sha1, ni + nr, gxy
    )
    digest = hashes.Hash(sha1)
    digest.update(ni + nr)
    assert kdf.ikev1_skeyid(
        2, kdf.Ikev1AuthKind.PUBLIC_KEY_ENCRYPTION, ni, nr, cky_i=ci, cky_r=cr
    ) == _hmac(sha1, digest.finalize(), ci + cr)

    skeyid = b"S" * 20
    keys = kdf.ikev1_keys(2, skeyid, gxy, ci, cr)
    d = _hmac(sha1, skeyid, gxy + ci + cr + b"\x00")
    a = _hmac(sha1, skeyid, d + gxy + ci + cr + b"\x01")
    e = _hmac(sha1, skeyid, a + gxy + ci + cr + b"\x02")
    assert (keys.skeyid_d, keys.skeyid_a, keys.skeyid_e) == (d, a, e)


def test_ikev1_encryption_key_truncates_or_expands() -> None:
    skeyid_e = bytes(range(20))
    assert kdf.ikev1_encryption_key(2, skeyid_e, 16) == skeyid_e[:16]
    k1 = _hmac(hashes.SHA1(), skeyid_e, b"\x00")
    k2 = _hmac(hashes.SHA1(), skeyid_e, k1)
    assert kdf.ikev1_encryption_key(2, skeyid_e, 32) == (k1 + k2)[:32]


def test_ikev1_quick_mode_keymat_with_pfs() -> None:
    skeyid_d, spi, ni, nr, gqm = b"D" * 32, H("95f9fa06"), b"i" * 16, b"r" * 16, b"Q" * 64
    seed = gqm + b"\x03" + spi + ni + nr
    k1 = _hmac(hashes.SHA256(), skeyid_d, seed)
    k2 = _hmac(hashes.SHA256(), skeyid_d, k1 + seed)
    got = kdf.ikev1_keymat(4, skeyid_d, 3, spi, ni, nr, 56, dh_secret=gqm)
    assert got == (k1 + k2)[:56]


def test_ikev1_ivs() -> None:
    digest = hashes.Hash(hashes.MD5())
    digest.update(b"xi" + b"xr")
    assert kdf.ikev1_phase1_iv(1, b"xi", b"xr", 8) == digest.finalize()[:8]
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"B" * 16 + H("0000abcd"))
    assert kdf.ikev1_message_iv(4, b"B" * 16, H("0000abcd")) == digest.finalize()[:16]


def test_unknown_ikev1_hash_is_named() -> None:
    with pytest.raises(kdf.KdfError, match="hash algorithm 3"):
        kdf.ikev1_prf(3, b"k", b"d")
