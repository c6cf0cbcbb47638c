"""ESP decryption and integrity verification (RFC 4303), the hot path of decryption.

Why it looks the way it does: a capture can hold millions of ESP packets, and building
``cryptography`` cipher objects per packet costs more than the decryption itself. So each
SA is *prepared* once — its cipher objects live in ``SaKey.context`` — and a packet costs
one MAC (a copy of a keyed HMAC/CMAC) plus one bulk cipher call:

- CBC runs on one per-SA CBC context, fed the IV as a leading block whose output is
  dropped (NIST SP 800-38A §6.2: each block depends only on its predecessor);
- CTR (RFC 3686) is the XOR with the ECB encryption of the counter blocks (SP 800-38A §6.5);
- AEADs use one reusable ``cryptography`` AEAD object per SA.

Order of checks, so a wrong key can never come out as data: the ICV (or AEAD tag) is
verified first; then the padding must be RFC 4303's 1, 2, 3, … Without integrity, the
padding check is the only evidence and a failure is reported as ``bad-padding``.
"""

from __future__ import annotations

import hmac as _stdlib_hmac
from collections.abc import Callable
from typing import cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from ipsec_inspect.core.records import EspDecryption
from ipsec_inspect.crypto.algorithms import (
    CryptoError,
    EncryptionAlg,
    IntegrityAlg,
    IntegrityError,
    aead_cipher,
    aead_decrypt_prepared,
    aes_xcbc_mac,
    block_cipher,
    check_encryption_key,
    check_integrity_key,
    encryption_by_name,
    hash_algorithm,
    split_salt,
)
from ipsec_inspect.crypto.keys import SaKey

_MONOTONIC = bytes(range(1, 256))
_NULL, _ = encryption_by_name("ENCR_NULL")
_GCM_GUESSES = tuple(
    encryption_by_name(n)[0] for n in ("ENCR_AES_GCM_16", "ENCR_AES_GCM_12", "ENCR_AES_GCM_8")
)

Runner = Callable[[bytes, int], EspDecryption]


# --------------------------------------------------------------------------- trailer


def _trailer(
    plaintext: bytes, iv: bytes, icv: bytes, source: str, verified: bool, counter_iv: bool = False
) -> EspDecryption:
    """Split the RFC 4303 trailer off and check the padding bytes."""
    if len(plaintext) < 2:
        return EspDecryption(
            "bad-padding", iv=iv, icv=icv, key_source=source, counter_iv=counter_iv
        )
    pad = plaintext[-2]
    nh = plaintext[-1]
    end = len(plaintext) - 2 - pad
    if (
        end < 0
        or plaintext[end:-2] != _MONOTONIC[:pad]
        or (not verified and not _plausible(nh, plaintext, end))
    ):
        # With a verified ICV the key is right and only the peer's padding is odd: keep
        # the data. Without one, odd padding means the key is wrong: show nothing.
        return EspDecryption(
            "bad-padding",
            next_header=nh,
            pad_length=pad,
            plaintext=plaintext[: max(end, 0)] if verified else b"",
            iv=iv,
            icv=icv,
            key_source=source,
            counter_iv=counter_iv,
        )
    return EspDecryption("ok", nh, pad, plaintext[:end], iv, icv, source, counter_iv, verified)


#: Next headers a payload may plausibly carry (RFC 4303 §2.6): tunnelled IP, the common
#: transports, ICMP, nested IPsec, GRE, SCTP, and 59 (a dummy packet, RFC 4303 §2.6).
_PLAUSIBLE_NEXT = frozenset({1, 4, 6, 17, 41, 47, 50, 51, 58, 59, 132})


def _plausible(nh: int, plaintext: bytes, end: int) -> bool:
    """Without an ICV, is this trailer likely a real one rather than a wrong key's noise?

    A wrong key with no integrity check turns the trailer into random bytes, which pass
    the padding check about once in 256 packets; requiring a plausible next header, and
    for tunnelled IP a version and length that fit the payload, makes that vanishingly
    rare — so garbage is not presented as data.
    """
    if nh not in _PLAUSIBLE_NEXT:
        return False
    if nh == 4:
        return end >= 20 and plaintext[0] >> 4 == 4 and int.from_bytes(plaintext[2:4], "big") == end
    if nh == 41:
        return (
            end >= 40
            and plaintext[0] >> 4 == 6
            and int.from_bytes(plaintext[4:6], "big") + 40 == end
        )
    if nh == 17:
        return end >= 8 and int.from_bytes(plaintext[4:6], "big") == end
    return True


# --------------------------------------------------------------------------- preparation


def _hmac_icv(integ: IntegrityAlg, key: bytes) -> Callable[[bytes], bytes]:
    base = crypto_hmac.HMAC(key, hash_algorithm(integ.hash))
    n = integ.icv_len

    def hmac_icv(data: bytes) -> bytes:
        h = base.copy()
        h.update(data)
        return h.finalize()[:n]

    return hmac_icv


def _cmac_icv(integ: IntegrityAlg, key: bytes) -> Callable[[bytes], bytes]:
    base = CMAC(algorithms.AES(key))
    n = integ.icv_len

    def cmac_icv(data: bytes) -> bytes:
        c = base.copy()
        c.update(data)
        return c.finalize()[:n]

    return cmac_icv


def _xcbc_icv(integ: IntegrityAlg, key: bytes) -> Callable[[bytes], bytes]:
    n = integ.icv_len
    return lambda data: aes_xcbc_mac(key, data)[:n]


#: ``IntegrityAlg.kind`` -> a keyed ICV function (a copy of one keyed MAC per packet)
_ICV_FUNCTIONS: dict[str, Callable[[IntegrityAlg, bytes], Callable[[bytes], bytes]]] = {
    "hmac": _hmac_icv,
    "cmac": _cmac_icv,
    "xcbc": _xcbc_icv,
}


def _mac_function(integ: IntegrityAlg, key: bytes) -> Callable[[bytes], bytes]:
    """A function data -> truncated ICV, keyed once (copies of a keyed MAC per packet)."""
    build = _ICV_FUNCTIONS.get(integ.kind)
    if build is None:
        raise CryptoError(f"{integ.name} cannot protect ESP (use ENCR_NULL_AUTH_AES_GMAC for GMAC)")
    return build(integ, key)


def _null_decryptor(enc: EncryptionAlg, _key: bytes) -> Callable[[bytes], bytes]:
    iv_len = enc.iv_len
    return lambda body: body[iv_len:]


def _cbc_decryptor(enc: EncryptionAlg, key: bytes) -> Callable[[bytes], bytes]:
    # One CBC context for the whole SA: the packet's IV is fed as a first ciphertext
    # block, so every block after it decrypts against its true predecessor whatever
    # state the context carries from the last packet; that first block's output is
    # dropped. Why: a context per packet costs ten times the decryption.
    raw, _salt = split_salt(enc, key)
    block = enc.block_len
    cbc = Cipher(block_cipher(enc, raw), modes.CBC(bytes(block))).decryptor()
    update = cbc.update
    return lambda body: update(body)[block:] if len(body) > block else b""


def _block_decryptor(enc: EncryptionAlg, key: bytes) -> Callable[[bytes], bytes]:
    """A function (IV followed by ciphertext) -> plaintext for NULL, CBC and CTR rows,
    chosen by the row's ``mode`` column."""
    build = _BLOCK_MODES.get(enc.mode)
    if build is None:
        raise CryptoError(f"{enc.name}: no decryptor for mode {enc.mode!r}")
    return build(enc, key)


def _ctr_decryptor(enc: EncryptionAlg, key: bytes) -> Callable[[bytes], bytes]:
    iv_len = enc.iv_len
    raw, salt = split_salt(enc, key)
    ecb_enc = Cipher(block_cipher(enc, raw), modes.ECB()).encryptor()
    bl = enc.block_len if enc.block_len > 1 else 16

    def ctr(body: bytes) -> bytes:
        ct = body[iv_len:]
        if not ct:
            return b""
        prefix = salt + body[:iv_len]
        blocks = (len(ct) + bl - 1) // bl
        counters = b"".join(prefix + i.to_bytes(4, "big") for i in range(1, blocks + 1))
        stream = ecb_enc.update(counters)[: len(ct)]
        x = int.from_bytes(stream, "big") ^ int.from_bytes(ct, "big")
        return x.to_bytes(len(ct), "big")

    return ctr


#: ``EncryptionAlg.mode`` of a non-AEAD row -> its per-SA decryptor
_BLOCK_MODES: dict[str, Callable[[EncryptionAlg, bytes], Callable[[bytes], bytes]]] = {
    "null": _null_decryptor,
    "cbc": _cbc_decryptor,
    "ctr": _ctr_decryptor,
}


def _error_runner(message: str, source: str) -> Runner:
    result = EspDecryption(f"error: {message}", key_source=source)
    return lambda _esp, _high: result


def _icv_only_runner(
    key: SaKey, enc: EncryptionAlg, integ: IntegrityAlg, problem: str, source: str
) -> Runner:
    """For a cipher we cannot run (Twofish…): still verify the ICV, so the user learns
    whether the keys are right even though the payload stays encrypted."""
    problem_key = check_integrity_key(integ, key.integrity_key)
    if problem_key:
        return _error_runner(f"{problem}; {problem_key}", source)
    mac = _mac_function(integ, key.integrity_key)
    icv_len, iv_len, esn = integ.icv_len, enc.iv_len, key.esn
    compare = _stdlib_hmac.compare_digest

    def run(esp: bytes, seq_high: int) -> EspDecryption:
        end = len(esp) - icv_len
        if end < 8 + iv_len:
            return EspDecryption(
                f"error: ESP packet of {len(esp)} bytes is too short", key_source=source
            )
        data = esp[:end] + seq_high.to_bytes(4, "big") if esn else esp[:end]
        iv, icv = esp[8 : 8 + iv_len], esp[end:]
        if not compare(mac(data), icv):
            return EspDecryption("icv-failed", iv=iv, icv=icv, key_source=source)
        return EspDecryption(f"error: {problem} (ICV verified)", iv=iv, icv=icv, key_source=source)

    return run


def _source(key: SaKey) -> str:
    return f"{key.source.value}: {key.origin}" if key.origin else key.source.value


def _prepare(key: SaKey, enc: EncryptionAlg | None = None) -> Runner:
    """Build the per-SA decrypt function, or one that reports why the SA cannot work."""
    source = _source(key)
    enc = enc or key.encryption or _NULL
    integ = key.integrity
    problem = check_encryption_key(enc, key.encryption_key)
    if problem and enc.unavailable and integ is not None and integ.checks and not enc.aead:
        return _icv_only_runner(key, enc, integ, problem, source)
    if problem:
        return _error_runner(problem, source)
    if integ is not None and integ.kind != "none":
        if enc.aead:
            return _error_runner(
                f"{enc.name} is an AEAD and takes no integrity algorithm (got {integ.name})",
                source,
            )
        if integ.kind != "unchecked":
            problem = check_integrity_key(integ, key.integrity_key)
            if problem:
                return _error_runner(problem, source)
    try:
        if enc.aead:
            return _prepare_aead(key, enc, source)
        return _prepare_plain(key, enc, integ, source)
    except (CryptoError, ValueError) as exc:
        return _error_runner(str(exc), source)


def _prepare_plain(
    key: SaKey, enc: EncryptionAlg, integ: IntegrityAlg | None, source: str
) -> Runner:
    iv_len = enc.iv_len
    block = enc.block_len
    icv_len = integ.icv_len if integ is not None else 0
    mac = _mac_function(integ, key.integrity_key) if integ is not None and integ.checks else None
    decrypt = _block_decryptor(enc, key.encryption_key)
    esn = key.esn
    minimum = 8 + iv_len + icv_len + 2
    compare = _stdlib_hmac.compare_digest
    name = enc.name
    counter = enc.mode == "ctr"

    def run(esp: bytes, seq_high: int) -> EspDecryption:
        n = len(esp)
        if n < minimum:
            return EspDecryption(
                f"error: ESP packet of {n} bytes is too short for {name}", key_source=source
            )
        end = n - icv_len
        icv = esp[end:]
        if mac is not None:
            data = esp[:end] + seq_high.to_bytes(4, "big") if esn else esp[:end]
            if not compare(mac(data), icv):
                return EspDecryption(
                    "icv-failed", iv=esp[8 : 8 + iv_len], icv=icv, key_source=source
                )
        iv = esp[8 : 8 + iv_len]
        size = end - 8 - iv_len
        if size % block:
            return EspDecryption(
                f"error: ciphertext of {size} bytes is not a multiple of the "
                f"{block}-byte {name} block",
                iv=iv,
                icv=icv,
                key_source=source,
            )
        return _trailer(decrypt(esp[8:end]), iv, icv, source, mac is not None, counter)

    return run


def _prepare_aead(key: SaKey, enc: EncryptionAlg, source: str) -> Runner:
    raw, salt = split_salt(enc, key.encryption_key)
    cipher = aead_cipher(enc, raw)
    iv_len = enc.iv_len
    icv_len = enc.icv_len
    esn = key.esn
    minimum = 8 + iv_len + icv_len + 2
    body = 8 + iv_len
    # GCM, CCM and ChaCha20-Poly1305 with a prepared object take ciphertext and tag as one
    # buffer: hand them the packet's tail in one slice (the hot path of most tunnels).
    direct = cipher.decrypt if cipher is not None and enc.mode != "gmac" else None

    def run(esp: bytes, seq_high: int) -> EspDecryption:
        n = len(esp)
        if n < minimum:
            return EspDecryption(
                f"error: ESP packet of {n} bytes is too short for {enc.name}", key_source=source
            )
        end = n - icv_len
        iv = esp[8:body]
        aad = esp[:4] + seq_high.to_bytes(4, "big") + esp[4:8] if esn else esp[:8]
        try:
            if direct is not None:
                plain = direct(salt + iv, esp[body:], aad)
            else:
                plain = aead_decrypt_prepared(
                    enc, cipher, raw, salt, iv, esp[body:end], aad, esp[end:]
                )
        except (IntegrityError, InvalidTag):
            return EspDecryption(
                "icv-failed", iv=iv, icv=esp[end:], key_source=source, counter_iv=True
            )
        return _trailer(plain, iv, esp[end:], source, True, True)

    return run


def _prepare_guess(key: SaKey) -> Runner:
    """Wireshark's deprecated ``AES-GCM [RFC4106]``: find the ICV length whose tag verifies,
    then keep that algorithm on the key for every later packet."""
    runners = [(alg, _prepare(key, alg)) for alg in _GCM_GUESSES]

    def run(esp: bytes, seq_high: int) -> EspDecryption:
        first: EspDecryption | None = None
        for alg, runner in runners:
            result = runner(esp, seq_high)
            if result.status == "ok":
                key.encryption = alg
                key.icv_unknown = False
                key.context = runner
                return result
            first = first or result
        assert first is not None
        return first

    return run


# --------------------------------------------------------------------------- public API


def esp_runner(key: SaKey) -> Runner:
    """``key``'s prepared decrypt function ``(esp, seq_high) -> result`` (made once):
    :func:`decrypt_esp` without the per-call look-up, for loops over many packets."""
    runner = key.context
    if runner is None:
        runner = key.context = _prepare_guess(key) if key.icv_unknown else _prepare(key)
    return cast(Runner, runner)


def decrypt_esp(key: SaKey, esp: bytes, seq_high: int = 0) -> EspDecryption:
    """Verify and decrypt one ESP packet (``esp`` = SPI through ICV) with ``key``.

    ``seq_high`` is the high 32 bits of the extended sequence number (see EsnTracker);
    it only matters when ``key.esn`` is set. Never raises for bad input or keys: the
    status says what happened.
    """
    return esp_runner(key)(esp, seq_high)


def verifies(key: SaKey) -> bool:
    """Whether a good result of ``key`` had its ICV or AEAD tag checked: an AEAD cipher,
    or an integrity algorithm that can be verified (not NONE, not "ANY n bit unchecked")."""
    enc = key.encryption or _NULL
    integ = key.integrity
    return enc.aead or (integ is not None and integ.checks)


def good_result_traits(key: SaKey) -> tuple[str, bool]:
    """What every good (``ok``) result of ``key`` carries besides the packet's own data:
    its ``key_source`` text and whether its IV is a counter that must never repeat
    (whether it was verified is :func:`verifies`).

    For ``crypto.offload``, whose workers send back only per-packet values: the main
    process fills these in exactly as the runner would have.
    """
    enc = key.encryption or _NULL
    return _source(key), enc.aead or enc.mode == "ctr"


def reset_prepared(key: SaKey) -> None:
    """Forget the prepared cipher objects (after changing a key's algorithms or bytes)."""
    key.context = None


class EsnTracker:
    """Infers the high 32 bits of extended sequence numbers per SA (RFC 4303 Appendix A).

    Why per SA and fed only verified packets: the inference window follows the highest
    authenticated sequence number ``T``; advancing it on a forged or mis-keyed packet
    would desynchronise every later packet. ``window`` is the replay window (64 default).
    """

    def __init__(self, window: int = 64) -> None:
        self.window = window
        self._top: dict[int, tuple[int, int]] = {}  # id(SaKey) -> (Th, Tl)
        self._keys: dict[int, SaKey] = {}  # keeps the SaKey alive so id() stays unique

    def high(self, key: SaKey, seq_low: int) -> int:
        """The high 32 bits to try for a packet with low bits ``seq_low`` (Appendix A2.2)."""
        top = self._top.get(id(key))
        if top is None:
            return key.esn_high
        th, tl = top
        w = self.window
        if tl >= w - 1:
            return th if seq_low >= tl - w + 1 else (th + 1) & 0xFFFFFFFF
        return (th - 1) & 0xFFFFFFFF if seq_low >= (tl - w + 1) & 0xFFFFFFFF else th

    def accept(self, key: SaKey, seq_high: int, seq_low: int) -> None:
        """Record an authenticated packet: move T forward when it is the highest yet."""
        kid = id(key)
        top = self._top.get(kid)
        if top is None or (seq_high << 32 | seq_low) > (top[0] << 32 | top[1]):
            self._top[kid] = (seq_high, seq_low)
            self._keys[kid] = key

    def decrypt(self, key: SaKey, esp: bytes) -> tuple[EspDecryption, int]:
        """Decrypt with the inferred high bits; returns (result, full 64-bit sequence).

        Without ESN on the key this is decrypt_esp with the 32-bit sequence.
        """
        low = int.from_bytes(esp[4:8], "big") if len(esp) >= 8 else 0
        if not key.esn:
            return decrypt_esp(key, esp, 0), low
        high = self.high(key, low)
        result = decrypt_esp(key, esp, high)
        if result.status == "ok":
            self.accept(key, high, low)
        return result, high << 32 | low


# --------------------------------------------------------------------------- inner data

_PROTOCOL_NAMES = {
    0: "hopopt",
    1: "icmp",
    2: "igmp",
    4: "ipv4",
    6: "tcp",
    17: "udp",
    41: "ipv6",
    43: "ipv6-route",
    44: "ipv6-frag",
    47: "gre",
    50: "esp",
    51: "ah",
    58: "icmpv6",
    59: "dummy",
    60: "ipv6-opts",
    89: "ospf",
    97: "etherip",
    103: "pim",
    108: "ipcomp",
    112: "vrrp",
    115: "l2tp",
    132: "sctp",
    136: "udplite",
    137: "mpls-in-ip",
    143: "ethernet",
}


def protocol_name(number: int) -> str:
    """IANA protocol keyword for a next-header value (``proto 253`` when unknown)."""
    return _PROTOCOL_NAMES.get(number, f"proto {number}")


def classify_inner(next_header: int, plaintext: bytes) -> str:
    """What an ESP payload carries: ``ipv4 tunnel``, ``transport tcp``, ``dummy (59)``…"""
    if next_header == 59:
        return "dummy (59)"
    if next_header in (4, 41):
        version = 4 if next_header == 4 else 6
        label = f"ipv{version} tunnel"
        if not plaintext or plaintext[0] >> 4 != version:
            return f"{label} (not an IPv{version} header)"
        return label
    if next_header == 143:
        return "ethernet (143)"
    return f"transport {protocol_name(next_header)}"


# --------------------------------------------------------------------------- RFC 5879


def _valid_inner(nh: int, data: bytes) -> bool:
    """Strict structural checks of a candidate cleartext payload (RFC 5879 §5)."""
    n = len(data)
    if nh == 4:
        if n < 20 or data[0] >> 4 != 4 or (data[0] & 15) < 5:
            return False
        ihl = (data[0] & 15) * 4
        if int.from_bytes(data[2:4], "big") != n or ihl > n:
            return False
        total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, ihl, 2))
        while total > 0xFFFF:
            total = (total & 0xFFFF) + (total >> 16)
        return total == 0xFFFF
    if nh == 41:
        return n >= 40 and data[0] >> 4 == 6 and int.from_bytes(data[4:6], "big") + 40 == n
    if nh == 17:
        return n >= 8 and int.from_bytes(data[4:6], "big") == n
    if nh == 6:
        if n < 20:
            return False
        offset = (data[12] >> 4) * 4
        return 20 <= offset <= n and not (data[12] & 0x0E)
    if nh in (1, 58):
        return n >= 8 and (nh == 58 or data[0] in (0, 3, 4, 5, 8, 11, 12, 13, 14))
    return False


_HEURISTIC_ICVS = (12, 16, 24, 32, 0)


def esp_null_heuristic(esp: bytes) -> EspDecryption | None:
    """Recognise ESP with ENCR_NULL without keys (RFC 5879), or None.

    Tries the common ICV lengths, requires RFC 4303 padding 1, 2, 3 … and a next header
    whose payload passes structural checks (IPv4 header checksum, IPv6/UDP lengths, TCP
    data offset, ICMP type). Only next headers that can be checked are accepted, which
    keeps encrypted traffic from being mistaken for cleartext.
    """
    for icv_len in _HEURISTIC_ICVS:
        end = len(esp) - icv_len
        if end < 8 + 2 + 8:
            continue
        nh = esp[end - 1]
        pad = esp[end - 2]
        start = end - 2 - pad
        if start < 8 or esp[start : end - 2] != _MONOTONIC[:pad]:
            continue
        payload = esp[8:start]
        if _valid_inner(nh, payload):
            return EspDecryption(
                "ok",
                next_header=nh,
                pad_length=pad,
                plaintext=payload,
                icv=esp[end:],
                key_source="heuristic (RFC 5879)",
                verified=False,
            )
    return None
