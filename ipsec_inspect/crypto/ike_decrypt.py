"""Decryption of IKE messages: the IKEv2 SK/SKF payload and IKEv1's encrypted body.

Why a module of its own: IKE encryption differs from ESP in what is authenticated (the
whole IKE message, or the IKE header up to the SK payload header as AEAD associated data)
and, for IKEv1, in a CBC IV chain that runs across messages. This module works on bytes
and algorithm rows only; the pipeline stage (:mod:`ipsec_inspect.crypto.decryptor`)
finds the keys and dissects the plaintext.

IKEv2 (RFC 7296 §3.14, RFC 5282 for AEAD, RFC 7634 for ChaCha20-Poly1305, RFC 7383 for
SKF): ``IV | ciphertext | ICV``; the plaintext ends with padding and a pad-length octet.

IKEv1 (RFC 2409 §5, Appendix B): CBC without integrity. The first phase-1 IV is
hash(g^xi | g^xr); each later phase-1 message continues the CBC chain; each phase-2 or
informational exchange starts from hash(last phase-1 block | M-ID) and then chains per
M-ID. A byte-identical retransmission reuses the IV of its original and does not advance
the chain.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

from ipsec_inspect.crypto import algorithms, kdf
from ipsec_inspect.crypto.algorithms import EncryptionAlg, IntegrityAlg

STATUS_OK = "ok"
STATUS_ICV_FAILED = "icv-failed"

# Generic payload header (4) and the SKF header (generic + fragment number + total).
SK_HEADER_LEN = 4
SKF_HEADER_LEN = 8
IKE_HEADER_LEN = 28

# Encryption transforms IKEv2 allows for the SK payload (RFC 7296 §3.3.2, RFC 5282,
# RFC 7634, RFC 5529); ESP-only transforms such as ENCR_NULL_AUTH_AES_GMAC are refused.
IKEV2_ENCRYPTION_IDS = frozenset(
    {2, 3, 6, 7, 12, 13, 14, 15, 16, 18, 19, 20, 23, 24, 25, 26, 27, 28}
)
# IKEv1 phase-1 ciphers Wireshark and we decrypt (plus Blowfish/CAST/Camellia when present).
IKEV1_CBC_IDS = frozenset({2, 3, 6, 7, 12, 23})


def error_status(message: str) -> str:
    return f"error: {message}"


@dataclass(slots=True)
class SkResult:
    """The outcome of decrypting one SK or SKF payload.

    ``plaintext`` is the inner payload chain with padding and pad length removed. It is
    empty on errors; on ``icv-failed`` with a separate integrity algorithm it holds what
    the encryption key gives, which the caller may show only as unverified (an AEAD tag
    failure gives nothing). ``icv_checked`` is False when the ICV could not be verified
    (Wireshark's "ANY n-bits [No Checking]" integrity), so a view can say so.
    """

    status: str
    plaintext: bytes = b""
    pad_length: int = 0
    iv: bytes = b""
    icv: bytes = b""
    icv_checked: bool = True

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


def check_ikev2_suite(
    encr: EncryptionAlg, encr_key: bytes, integ: IntegrityAlg | None, integ_key: bytes
) -> str | None:
    """Why this algorithm/key combination cannot decrypt IKEv2 (None when it can)."""
    if encr.iana_id not in IKEV2_ENCRYPTION_IDS:
        return f"{encr.name} is not an IKEv2 encryption algorithm"
    problem = algorithms.check_encryption_key(encr, encr_key)
    if problem:
        return problem
    if not encr.aead:
        if integ is None:
            return f"{encr.name} needs an integrity algorithm"
        if integ.kind == "gmac":
            return f"{integ.name} is not an IKEv2 integrity algorithm"
        if integ.checks:
            return algorithms.check_integrity_key(integ, integ_key)
    return None


def decrypt_sk(
    message: bytes,
    payload_offset: int,
    header_len: int,
    payload_end: int,
    encr: EncryptionAlg,
    encr_key: bytes,
    integ: IntegrityAlg | None,
    integ_key: bytes,
) -> SkResult:
    """Decrypt and verify the SK (``header_len`` 4) or SKF (8) payload at
    ``message[payload_offset:payload_end]``; ``message`` starts at the IKE header.

    Never raises: every problem is a status.
    """
    problem = check_ikev2_suite(encr, encr_key, integ, integ_key)
    if problem:
        return SkResult(error_status(problem))
    body_start = payload_offset + header_len
    if payload_end > len(message) or body_start > payload_end:
        return SkResult(error_status("encrypted payload extends past the message"))
    iv_len = encr.iv_len
    if encr.aead:
        icv_len = encr.icv_len
    else:
        assert integ is not None
        icv_len = integ.icv_len
    ct_start = body_start + iv_len
    ct_end = payload_end - icv_len
    if ct_end < ct_start:
        return SkResult(
            error_status(
                f"encrypted payload of {payload_end - body_start} bytes is shorter than "
                f"IV ({iv_len}) + ICV ({icv_len})"
            )
        )
    iv = message[body_start:ct_start]
    ciphertext = message[ct_start:ct_end]
    icv = message[ct_end:payload_end]
    icv_checked = True
    try:
        if encr.aead:
            aad = message[:body_start]
            plain = algorithms.aead_decrypt(encr, encr_key, iv, ciphertext, aad, icv)
        else:
            assert integ is not None
            icv_ok = True
            if integ.checks:
                icv_ok = algorithms.verify_icv(integ, integ_key, message[:ct_end], icv)
            else:
                icv_checked = integ.kind == "none"
            plain = algorithms.cipher_decrypt(encr, encr_key, iv, ciphertext)
            if not icv_ok:
                # Kept for the caller to judge (a payload chain that parses means the
                # encryption key was right and only the ICV disagrees); never shown as
                # verified data.
                return _unverified(plain, iv, icv)
    except algorithms.IntegrityError:
        return SkResult(STATUS_ICV_FAILED, iv=iv, icv=icv)
    except algorithms.CryptoError as e:
        return SkResult(error_status(str(e)), iv=iv, icv=icv)
    if not plain:
        return SkResult(error_status("no encrypted data after the IV"), iv=iv, icv=icv)
    pad = plain[-1]
    if pad + 1 > len(plain):
        return SkResult(
            error_status(f"pad length {pad} exceeds the {len(plain)} decrypted bytes"),
            iv=iv,
            icv=icv,
            icv_checked=icv_checked,
        )
    return SkResult(STATUS_OK, plain[: -pad - 1], pad, iv, icv, icv_checked)


def _unverified(plain: bytes, iv: bytes, icv: bytes) -> SkResult:
    pad = plain[-1] if plain else 0
    inner = plain[: -pad - 1] if plain and pad + 1 <= len(plain) else b""
    return SkResult(STATUS_ICV_FAILED, inner, pad, iv, icv)


# --------------------------------------------------------------------------- SKF


@dataclass(slots=True)
class _PendingMessage:
    total: int
    first_payload: int = 0
    fragments: dict[int, bytes] = field(default_factory=dict)
    frames: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Reassembled:
    """A whole message rebuilt from its decrypted SKF fragments (RFC 7383 §2.6)."""

    first_payload: int
    plaintext: bytes
    frames: tuple[int, ...]


class FragmentAssembler:
    """Collects decrypted SKF fragments per (SPIs, message id, direction).

    Bounded: at most ``max_pending`` messages wait for missing fragments; the oldest is
    dropped first, so a capture full of lost fragments cannot grow memory.
    """

    def __init__(self, max_pending: int = 64) -> None:
        self._pending: OrderedDict[tuple[bytes, bytes, int, bool], _PendingMessage] = OrderedDict()
        self._max = max_pending
        self._done: OrderedDict[tuple[bytes, bytes, int, bool], None] = OrderedDict()

    def add(
        self,
        key: tuple[bytes, bytes, int, bool],
        number: int,
        total: int,
        first_payload: int,
        plaintext: bytes,
        frame: int,
    ) -> Reassembled | str | None:
        """Add fragment ``number`` of ``total``. Returns the reassembled message when this
        fragment completes it, an error text for an invalid or late fragment, else None."""
        if number < 1 or total < 1 or number > total:
            return f"invalid fragment number {number} of {total}"
        if key in self._done:
            return "fragment of a message already reassembled (retransmission)"
        pending = self._pending.get(key)
        if pending is None or pending.total != total:
            # A new message, or the sender re-fragmented it with a different total
            # (RFC 7383 §2.6.1): start over.
            pending = _PendingMessage(total)
            self._pending[key] = pending
            while len(self._pending) > self._max:
                self._pending.popitem(last=False)
        if number == 1:
            pending.first_payload = first_payload
        pending.fragments.setdefault(number, plaintext)
        pending.frames.append(frame)
        if len(pending.fragments) < total:
            return None
        del self._pending[key]
        self._done[key] = None
        while len(self._done) > 4 * self._max:
            self._done.popitem(last=False)
        data = b"".join(pending.fragments[n] for n in range(1, total + 1))
        return Reassembled(pending.first_payload, data, tuple(pending.frames))


# --------------------------------------------------------------------------- IKEv1


@dataclass(slots=True)
class Ikev1Cipher:
    """What IKEv1 phase-1 decryption needs: the CBC cipher row, Ka and the hash that
    computes IVs (the negotiated phase-1 hash)."""

    encr: EncryptionAlg
    key: bytes
    hash_id: int


@dataclass(slots=True)
class Ikev1Result:
    status: str
    plaintext: bytes = b""
    iv: bytes = b""
    retransmission: bool = False

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


class Ikev1IvChain:
    """The RFC 2409 Appendix B IV chain of one ISAKMP SA.

    Phase 1 (message id 0) chains from hash(g^xi | g^xr); the first message of every other
    message id starts from hash(last phase-1 block | M-ID) and then chains per id. IVs are
    remembered per ciphertext, so a byte-identical retransmission is decrypted with the IV
    its original used and leaves the chain where it is.
    """

    def __init__(self, max_remembered: int = 256) -> None:
        self.ke_i: bytes | None = None
        self.ke_r: bytes | None = None
        self._phase1_block: bytes | None = None  # last CBC block of phase 1
        self._per_mid: OrderedDict[int, bytes] = OrderedDict()
        self._seen: OrderedDict[bytes, bytes] = OrderedDict()  # digest(ct) -> IV used
        self._max = max_remembered

    def _iv_for(self, cipher: Ikev1Cipher, message_id: int) -> bytes | str:
        block = cipher.encr.block_len
        if self._phase1_block is None:
            if self.ke_i is None or self.ke_r is None:
                return "the phase-1 KE payloads of both peers were not seen, so the IV is unknown"
            self._phase1_block = kdf.ikev1_phase1_iv(cipher.hash_id, self.ke_i, self.ke_r, block)
        if message_id == 0:
            return self._phase1_block
        iv = self._per_mid.get(message_id)
        if iv is None:
            iv = kdf.ikev1_message_iv(
                cipher.hash_id, self._phase1_block, message_id.to_bytes(4, "big")
            )
        return iv

    def decrypt(self, cipher: Ikev1Cipher, message_id: int, ciphertext: bytes) -> Ikev1Result:
        """Decrypt one encrypted IKEv1 body (everything after the 28-byte header)."""
        block = cipher.encr.block_len
        if not ciphertext or len(ciphertext) % block:
            return Ikev1Result(
                error_status(
                    f"encrypted body of {len(ciphertext)} bytes is not a whole number of "
                    f"{block}-byte blocks"
                )
            )
        digest = hashlib.sha1(message_id.to_bytes(4, "big") + ciphertext).digest()
        iv = self._seen.get(digest)
        retransmission = iv is not None
        if iv is None:
            found = self._iv_for(cipher, message_id)
            if isinstance(found, str):
                return Ikev1Result(error_status(found))
            iv = found
            last = ciphertext[-block:]
            if message_id == 0:
                self._phase1_block = last
            else:
                self._per_mid[message_id] = last
                while len(self._per_mid) > self._max:
                    self._per_mid.popitem(last=False)
            self._seen[digest] = iv
            while len(self._seen) > self._max:
                self._seen.popitem(last=False)
        try:
            plain = algorithms.cipher_decrypt(cipher.encr, cipher.key, iv, ciphertext)
        except algorithms.CryptoError as e:
            return Ikev1Result(error_status(str(e)), iv=iv, retransmission=retransmission)
        return Ikev1Result(STATUS_OK, plain, iv, retransmission)


def ikev1_chain_end(plaintext: bytes, first_payload: int) -> int | None:
    """Where the payload chain starting with ``first_payload`` ends in ``plaintext``, or
    None when the generic headers do not form a chain that fits.

    IKEv1 has no integrity check on encrypted messages: a chain whose lengths add up is
    the evidence that the key and IV were right. What follows the chain is padding.
    """
    pos = 0
    nxt = first_payload
    while nxt != 0:
        if pos + 4 > len(plaintext):
            return None
        length = int.from_bytes(plaintext[pos + 2 : pos + 4], "big")
        if length < 4 or pos + length > len(plaintext):
            return None
        nxt = plaintext[pos]
        pos += length
    return pos
