"""Key derivation for IKEv2 (RFC 7296) and IKEv1 (RFC 2409).

Why a module of its own: derivation is pure arithmetic on byte strings — no packets, no
state — so it is tested alone against independently computed values, and both the
derivation watcher (:mod:`ipsec_inspect.crypto.derive`) and users of the library call the
same functions.

Naming follows the RFCs: ``prf``, ``prf+`` (``prf_plus``), SKEYSEED, ``SK_*``; IKEv1
SKEYID, SKEYID_d/a/e, KEYMAT, Ka. Lengths are passed in bytes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from ipsec_inspect.crypto import algorithms


class KdfError(ValueError):
    """A derivation cannot be carried out (unknown PRF, impossible length)."""


# --------------------------------------------------------------------------- PRFs


def _aes_prf(mac: Callable[[bytes, bytes], bytes], key: bytes, data: bytes, pad: bool) -> bytes:
    """The AES-based PRFs take keys of any length. A 16-byte key is used as is; a longer
    key is first reduced by the MAC under an all-zero key. A shorter key is zero-padded
    for AES-XCBC-PRF-128 (RFC 4434 §2) but reduced like a longer one for
    AES-CMAC-PRF-128 (RFC 4615 §3)."""
    if len(key) != 16:
        key = key + b"\x00" * (16 - len(key)) if pad and len(key) < 16 else mac(b"\x00" * 16, key)
    return mac(key, data)


def _hmac_prf(row: algorithms.PrfAlg) -> Callable[[bytes, bytes], bytes]:
    digest = row.hash
    # The stdlib's one-shot HMAC is the fastest HMAC Python offers; prf+ calls it often.
    return lambda key, data: hmac.digest(key, data, digest)


#: ``PrfAlg.kind`` -> the PRF function for that row
_PRF_FUNCTIONS: dict[str, Callable[[algorithms.PrfAlg], Callable[[bytes, bytes], bytes]]] = {
    "hmac": _hmac_prf,
    "xcbc": lambda _row: lambda key, data: _aes_prf(algorithms.aes_xcbc_mac, key, data, True),
    "cmac": lambda _row: lambda key, data: _aes_prf(algorithms.aes_cmac, key, data, False),
}


def _prf_function(row: algorithms.PrfAlg) -> Callable[[bytes, bytes], bytes]:
    build = _PRF_FUNCTIONS.get(row.kind)
    if build is None:
        raise algorithms.CryptoError(f"{row.name}: no primitive for PRF kind {row.kind!r}")
    return build(row)


@dataclass(frozen=True, slots=True)
class PrfSpec:
    """An IKEv2 PRF ready for derivation: its table row and its function."""

    row: algorithms.PrfAlg
    function: Callable[[bytes, bytes], bytes]

    @property
    def key_len(self) -> int:
        """Preferred key length: the length of SK_d, SK_pi and SK_pr (RFC 7296 §2.13)."""
        return self.row.key_len

    @property
    def fixed_key(self) -> bool:
        """AES-XCBC / AES-CMAC: SKEYSEED takes 64 bits of each nonce (§2.14)."""
        return self.row.kind != "hmac"


def prf_spec(prf_id: int) -> PrfSpec:
    """The PRF with IANA id ``prf_id``; :class:`KdfError` names it when unsupported."""
    row = algorithms.prf_by_id(prf_id)
    if row is None or row.unavailable:
        why = f" ({row.unavailable})" if row is not None else ""
        raise KdfError(f"PRF transform {prf_id} is not supported for key derivation{why}")
    return PrfSpec(row, _prf_function(row))


def prf(prf_id: int, key: bytes, data: bytes) -> bytes:
    """``prf(K, S)`` of RFC 7296 §2.13 for the IKEv2 PRF ``prf_id``."""
    return prf_spec(prf_id).function(key, data)


def prf_plus(prf_id: int, key: bytes, seed: bytes, length: int) -> bytes:
    """``prf+(K, S)`` (RFC 7296 §2.13): T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).

    The counter is one octet, so at most 255 blocks can be produced; asking for more is
    an error rather than silently wrong key material.
    """
    fn = prf_spec(prf_id).function
    out = bytearray()
    t = b""
    n = 1
    while len(out) < length:
        if n > 255:
            raise KdfError(f"prf+ cannot produce {length} bytes (255 blocks at most)")
        t = fn(key, t + seed + bytes((n,)))
        out += t
        n += 1
    return bytes(out[:length])


# --------------------------------------------------------------------------- IKEv2


@dataclass(frozen=True, slots=True)
class Ikev2Keys:
    """The seven IKE SA secrets of RFC 7296 §2.14, plus the SKEYSEED they came from."""

    skeyseed: bytes
    sk_d: bytes
    sk_ai: bytes
    sk_ar: bytes
    sk_ei: bytes
    sk_er: bytes
    sk_pi: bytes
    sk_pr: bytes


def skeyseed(prf_id: int, nonce_i: bytes, nonce_r: bytes, dh_secret: bytes) -> bytes:
    """SKEYSEED = prf(Ni | Nr, g^ir); fixed-key PRFs take 64 bits of each nonce (§2.14)."""
    spec = prf_spec(prf_id)
    key = nonce_i[:8] + nonce_r[:8] if spec.fixed_key else nonce_i + nonce_r
    return spec.function(key, dh_secret)


def rekeyed_skeyseed(
    old_prf_id: int, old_sk_d: bytes, dh_secret: bytes, nonce_i: bytes, nonce_r: bytes
) -> bytes:
    """SKEYSEED of a rekeyed IKE SA: prf(SK_d (old), g^ir (new) | Ni | Nr) (§2.18).

    The rekey exchange belongs to the old IKE SA, so its PRF computes SKEYSEED.
    """
    return prf(old_prf_id, old_sk_d, dh_secret + nonce_i + nonce_r)


def ike_sa_keys(
    prf_id: int,
    seed: bytes,
    nonce_i: bytes,
    nonce_r: bytes,
    spi_i: bytes,
    spi_r: bytes,
    integ_key_len: int,
    encr_key_len: int,
) -> Ikev2Keys:
    """{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni|Nr|SPIi|SPIr).

    ``encr_key_len`` includes any salt (AES-GCM/CTR/ChaCha20 +4, AES-CCM +3 bytes);
    ``integ_key_len`` is 0 for AEAD ciphers.
    """
    d_len = prf_spec(prf_id).key_len
    total = 3 * d_len + 2 * integ_key_len + 2 * encr_key_len
    km = prf_plus(prf_id, seed, nonce_i + nonce_r + spi_i + spi_r, total)
    parts = []
    pos = 0
    for n in (d_len, integ_key_len, integ_key_len, encr_key_len, encr_key_len, d_len, d_len):
        parts.append(km[pos : pos + n])
        pos += n
    return Ikev2Keys(seed, *parts)


def derive_ike_sa(
    prf_id: int,
    nonce_i: bytes,
    nonce_r: bytes,
    dh_secret: bytes,
    spi_i: bytes,
    spi_r: bytes,
    integ_key_len: int,
    encr_key_len: int,
) -> Ikev2Keys:
    """An initial IKE SA's keys from its DH shared secret, nonces and SPIs (§2.14)."""
    seed = skeyseed(prf_id, nonce_i, nonce_r, dh_secret)
    return ike_sa_keys(prf_id, seed, nonce_i, nonce_r, spi_i, spi_r, integ_key_len, encr_key_len)


@dataclass(frozen=True, slots=True)
class ChildKeys:
    """Keys of one child SA pair, split per direction of the creating exchange.

    ``*_i`` keys protect traffic from the exchange's initiator to its responder (the SA
    whose SPI the responder chose), ``*_r`` keys the other direction.
    """

    encr_i: bytes
    integ_i: bytes
    encr_r: bytes
    integ_r: bytes


def split_keymat(keymat: bytes, encr_key_len: int, integ_key_len: int) -> ChildKeys:
    """Split KEYMAT (§2.17): initiator→responder first, encryption before integrity."""
    e, a = encr_key_len, integ_key_len
    return ChildKeys(
        keymat[0:e],
        keymat[e : e + a],
        keymat[e + a : 2 * e + a],
        keymat[2 * e + a : 2 * e + 2 * a],
    )


def child_sa_keys(
    prf_id: int,
    sk_d: bytes,
    nonce_i: bytes,
    nonce_r: bytes,
    encr_key_len: int,
    integ_key_len: int,
    dh_secret: bytes = b"",
) -> ChildKeys:
    """KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) split into the four child SA keys (§2.17).

    ``dh_secret`` is the shared secret of a CREATE_CHILD_SA exchange with PFS; empty for
    IKE_AUTH children and children without PFS.
    """
    total = 2 * (encr_key_len + integ_key_len)
    keymat = prf_plus(prf_id, sk_d, dh_secret + nonce_i + nonce_r, total)
    return split_keymat(keymat, encr_key_len, integ_key_len)


# --------------------------------------------------------------------------- IKEv1


class Ikev1AuthKind:
    """Which SKEYID formula applies (RFC 2409 §5): it depends on the authentication method."""

    SIGNATURE = "signature"  # DSS / RSA signatures
    PRE_SHARED_KEY = "psk"
    PUBLIC_KEY_ENCRYPTION = "pke"  # both encryption methods


def ikev1_hash_name(hash_id: int) -> str:
    """hashlib name of the IKEv1 Hash Algorithm attribute value (RFC 2409 Appendix A).

    IKEv1's prf is HMAC with this hash unless a PRF attribute was negotiated, which no
    implementation we know of does.
    """
    row = algorithms.prf_by_ikev1_hash(hash_id)
    if row is None or not row.hash or row.unavailable:
        raise KdfError(f"IKEv1 hash algorithm {hash_id} is not supported")
    return row.hash


def ikev1_prf(hash_id: int, key: bytes, data: bytes) -> bytes:
    """IKEv1 prf: HMAC with the negotiated hash algorithm."""
    return hmac.digest(key, data, ikev1_hash_name(hash_id))


def ikev1_hash(hash_id: int, data: bytes) -> bytes:
    return hashlib.new(ikev1_hash_name(hash_id), data).digest()


@dataclass(frozen=True, slots=True)
class Ikev1Keys:
    skeyid: bytes
    skeyid_d: bytes
    skeyid_a: bytes
    skeyid_e: bytes


def ikev1_skeyid(
    hash_id: int,
    auth_kind: str,
    nonce_i: bytes,
    nonce_r: bytes,
    dh_secret: bytes = b"",
    psk: bytes = b"",
    cky_i: bytes = b"",
    cky_r: bytes = b"",
) -> bytes:
    """SKEYID by authentication method (RFC 2409 §5)."""
    if auth_kind == Ikev1AuthKind.SIGNATURE:
        return ikev1_prf(hash_id, nonce_i + nonce_r, dh_secret)
    if auth_kind == Ikev1AuthKind.PRE_SHARED_KEY:
        return ikev1_prf(hash_id, psk, nonce_i + nonce_r)
    if auth_kind == Ikev1AuthKind.PUBLIC_KEY_ENCRYPTION:
        return ikev1_prf(hash_id, ikev1_hash(hash_id, nonce_i + nonce_r), cky_i + cky_r)
    raise KdfError(f"unknown IKEv1 authentication kind {auth_kind!r}")


def ikev1_keys(
    hash_id: int, skeyid: bytes, dh_secret: bytes, cky_i: bytes, cky_r: bytes
) -> Ikev1Keys:
    """SKEYID_d, SKEYID_a and SKEYID_e from SKEYID (RFC 2409 §5)."""
    tail = dh_secret + cky_i + cky_r
    d = ikev1_prf(hash_id, skeyid, tail + b"\x00")
    a = ikev1_prf(hash_id, skeyid, d + tail + b"\x01")
    e = ikev1_prf(hash_id, skeyid, a + tail + b"\x02")
    return Ikev1Keys(skeyid, d, a, e)


def ikev1_encryption_key(hash_id: int, skeyid_e: bytes, key_len: int) -> bytes:
    """Ka from SKEYID_e (RFC 2409 §5.3 and Appendix B): truncate, or expand with
    K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, Kn-1) when SKEYID_e is too short."""
    if len(skeyid_e) >= key_len:
        return skeyid_e[:key_len]
    out = b""
    k = b"\x00"
    while len(out) < key_len:
        k = ikev1_prf(hash_id, skeyid_e, k)
        out += k
    return out[:key_len]


def ikev1_phase1_iv(hash_id: int, ke_i: bytes, ke_r: bytes, block_size: int) -> bytes:
    """Phase-1 IV = hash(g^xi | g^xr) truncated to the cipher block (RFC 2409 Appendix B)."""
    return ikev1_hash(hash_id, ke_i + ke_r)[:block_size]


def ikev1_message_iv(hash_id: int, last_phase1_block: bytes, message_id: bytes) -> bytes:
    """First IV of a phase-2 / informational exchange: hash(last phase-1 CBC block | M-ID)."""
    return ikev1_hash(hash_id, last_phase1_block + message_id)[: len(last_phase1_block)]


def ikev1_keymat(
    hash_id: int,
    skeyid_d: bytes,
    protocol: int,
    spi: bytes,
    nonce_i: bytes,
    nonce_r: bytes,
    length: int,
    dh_secret: bytes = b"",
) -> bytes:
    """Quick Mode KEYMAT (RFC 2409 §5.5) for the SA with ``spi`` (the SPI its receiver
    chose): K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b),
    Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)."""
    seed = dh_secret + bytes((protocol,)) + spi + nonce_i + nonce_r
    out = b""
    k = b""
    while len(out) < length:
        k = ikev1_prf(hash_id, skeyid_d, k + seed)
        out += k
    return out[:length]
