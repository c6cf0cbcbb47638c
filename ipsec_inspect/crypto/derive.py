"""Deriving keys from what the IKE exchanges show: the watcher of decrypted IKE.

Why: users hold the IKE SA keys (or just ``SK_d``, or just the DH shared secret) far more
often than every ESP key, and Wireshark cannot go from one to the other. Everything
needed besides the secret travels in the IKE messages themselves — the chosen
transforms, the nonces, the SPIs — so this watcher reads each (decrypted) IKE message in
capture order and, as soon as an exchange completes, derives:

- IKEv2 IKE SA keys from ``dh_secret`` alone (SKEYSEED, RFC 7296 §2.14);
- IKEv2 child SA keys from ``SK_d`` (§2.17): IKE_AUTH children and CREATE_CHILD_SA
  children, with PFS when a DH secret of that exchange is known. IKE_AUTH may take several
  round trips (EAP, RFC 4739 multiple authentication, RFC 7296 §2.16): the child's SA
  payload is offered in the first request and answered in the last response, so the two
  are paired by IKE SA, not by message ID. A childless IKE_AUTH (RFC 6023) creates no
  child; the first child then comes in a CREATE_CHILD_SA and derives like any other;
- rekeyed IKE SA keys (§2.18) from the old ``SK_d`` and the new DH secret;
- IKEv1 phase-1 keys from SKEYID / SKEYID_e / ``dh_secret`` (signature authentication),
  and quick-mode KEYMAT from ``SKEYID_d`` (RFC 2409 §5.5).

A DH secret of a CREATE_CHILD_SA exchange cannot be tied to its exchange by anything in
a key file, so every DH secret the key store holds (other than the IKE SA's own) is a
candidate: each candidate gives one set of keys, and the decryptor keeps the set whose
ICV verifies on the first packet (:class:`Candidates`). A rekeyed IKE SA whose own key
row carries its DH secret uses that one directly.

Every derived key has ``source=DERIVED`` and an ``origin`` that says from what.
This module does no decryption and no I/O; the decryptor feeds it messages.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from ipsec_inspect.core.records import (
    Attribute,
    IkeMessage,
    IkePayload,
    KeBody,
    NonceBody,
    NotifyBody,
    Proposal,
    SaBody,
)
from ipsec_inspect.crypto import algorithms, kdf
from ipsec_inspect.crypto.algorithms import EncryptionAlg, IntegrityAlg, PrfAlg
from ipsec_inspect.crypto.keys import IkeKey, KeySource, KeyStore, SaKey

# IKEv2 payload and exchange numbers used here (RFC 7296 §3.2, §3.1).
V2_SA, V2_KE, V2_NONCE, V2_NOTIFY, V2_DELETE = 33, 34, 40, 41, 42
IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA = 34, 35, 36
# IKEv2 transform types (§3.3.2) and protocol ids (§3.3.1).
T_ENCR, T_PRF, T_INTEG, T_KE, T_ESN = 1, 2, 3, 4, 5
PROTO_IKE, PROTO_AH, PROTO_ESP = 1, 2, 3
NOTIFY_REKEY_SA = 16393
# IKEv1 payloads and exchanges (RFC 2408 §3.1, RFC 2409).
V1_SA, V1_KE, V1_NONCE = 1, 4, 10
MAIN_MODE, AGGRESSIVE_MODE, QUICK_MODE = 2, 4, 32
# IKEv1 phase-1 attribute classes (RFC 2409 Appendix A) and phase-2 classes (RFC 2407 §4.5).
P1_ENCR, P1_HASH, P1_AUTH, P1_KEY_LENGTH = 1, 2, 3, 14
P2_AUTH_ALG, P2_KEY_LENGTH = 5, 6

# IKEv1 authentication methods grouped by SKEYID formula (RFC 2409 §5, RFC 4754,
# draft-ietf-ipsec-isakmp-xauth for the 65001+ XAUTH variants).
_V1_PSK = frozenset({1, 65001, 65002})
_V1_PKE = frozenset({4, 5, 65007, 65008, 65009, 65010})


def _v1_auth_kind(method: int | None) -> str | None:
    if method is None:
        return None
    if method in _V1_PSK:
        return kdf.Ikev1AuthKind.PRE_SHARED_KEY
    if method in _V1_PKE:
        return kdf.Ikev1AuthKind.PUBLIC_KEY_ENCRYPTION
    return kdf.Ikev1AuthKind.SIGNATURE


def _payloads(msg: IkeMessage, ptype: int) -> list[IkePayload]:
    return [p for p in msg.all_payloads if p.type == ptype and p.error is None]


def _first_body(msg: IkeMessage, ptype: int, kind: type) -> object | None:
    for p in _payloads(msg, ptype):
        if isinstance(p.body, kind):
            return p.body
    return None


def _attr(attrs: list[Attribute], kind: int) -> int | None:
    for a in attrs:
        if a.type == kind and isinstance(a.value, int):
            return a.value
    return None


def _rekeyed_spi(msg: IkeMessage) -> bytes | None:
    """The SPI of the child SA a CREATE_CHILD_SA request rekeys (N(REKEY_SA))."""
    for p in msg.all_payloads:
        if isinstance(p.body, NotifyBody) and p.body.notify_type == NOTIFY_REKEY_SA:
            return p.body.spi
    return None


# --------------------------------------------------------------------------- results


@dataclass(slots=True)
class Candidates:
    """Alternative key sets for SAs created by one exchange, one set per candidate DH
    secret; the decryptor keeps the set whose ICV verifies first."""

    spis: tuple[int, ...]
    sets: list[list[SaKey]]
    origin: str


@dataclass(slots=True)
class _Suite:
    encr: EncryptionAlg
    encr_bits: int | None
    integ: IntegrityAlg | None
    prf: PrfAlg | None = None
    esn: bool = False

    @property
    def encr_key_len(self) -> int:
        return self.encr.key_len(self.encr_bits)

    @property
    def integ_key_len(self) -> int:
        return self.integ.key_len if self.integ is not None and self.integ.checks else 0


def _v2_suite(proposal: Proposal) -> _Suite | str:
    """The algorithms of a chosen IKEv2 proposal, or why it cannot be used."""
    encr: EncryptionAlg | None = None
    bits: int | None = None
    integ: IntegrityAlg | None = None
    prf: PrfAlg | None = None
    esn = False
    for t in proposal.transforms:
        if t.type == T_ENCR:
            encr = algorithms.encryption_by_id(t.id)
            bits = t.key_length
            if encr is None:
                return f"encryption transform {t.id} is unknown"
        elif t.type == T_INTEG and t.id != 0:
            integ = algorithms.integrity_by_id(t.id)
            if integ is None:
                return f"integrity transform {t.id} is unknown"
        elif t.type == T_PRF:
            prf = algorithms.prf_by_id(t.id)
            if prf is None:
                return f"PRF transform {t.id} is unknown"
        elif t.type == T_ESN:
            esn = t.id == 1
    if encr is None:
        if proposal.protocol != PROTO_AH:
            return "the chosen proposal has no encryption transform"
        encr = algorithms.encryption_by_id(11)
        assert encr is not None
    if encr.unavailable:
        return f"{encr.name}: {encr.unavailable}"
    if bits is None and len(encr.key_bits) == 1:
        bits = encr.key_bits[0] or None
    return _Suite(encr, bits, integ, prf, esn)


# --------------------------------------------------------------------------- IKEv2 state


@dataclass(slots=True)
class _V2Sa:
    """What the watcher knows about one IKEv2 SA."""

    spi_i: bytes
    spi_r: bytes
    suite: _Suite | None = None
    nonce_i: bytes = b""
    nonce_r: bytes = b""
    frames: tuple[int, ...] = ()
    keys: IkeKey | None = None  # the key the decryptor uses (supplied or derived)


@dataclass(slots=True)
class _V2Request:
    """A request whose response has not been seen yet."""

    frame: int
    exchange: int
    proposals: list[Proposal]
    nonce: bytes
    has_ke: bool
    src: str
    dst: str
    rekeys: bytes | None = None  # N(REKEY_SA) SPI of a CREATE_CHILD_SA request


@dataclass(slots=True)
class _V1Sa:
    """What the watcher knows about one ISAKMP SA (IKEv1 phase 1)."""

    cky_i: bytes
    cky_r: bytes = b""
    initiator: str = ""
    encr: EncryptionAlg | None = None
    encr_bits: int | None = None
    hash_id: int | None = None
    auth_method: int | None = None
    ke_i: bytes | None = None
    ke_r: bytes | None = None
    nonce_i: bytes = b""
    nonce_r: bytes = b""
    skeyid_d: bytes = b""
    cipher_key: bytes = b""
    key_origin: str = ""


@dataclass(slots=True)
class _V1QuickMode:
    frame: int
    proposals: list[Proposal]
    nonce: bytes
    has_ke: bool
    src: str


@dataclass
class DeriveEvents:
    """What one message made derivable (the decryptor adds these to the key store)."""

    sa_keys: list[SaKey] = field(default_factory=list)
    ike_keys: list[IkeKey] = field(default_factory=list)
    candidates: list[Candidates] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class KeyDeriver:
    """Watches IKE messages in capture order and derives keys from the key store's
    secrets. Bounded: at most ``max_sas`` SAs and ``max_pending`` open exchanges are
    remembered (oldest dropped first)."""

    def __init__(self, store: KeyStore, max_sas: int = 4096, max_pending: int = 1024) -> None:
        self.store = store
        self._max_sas = max_sas
        self._max_pending = max_pending
        self._v2: OrderedDict[tuple[bytes, bytes], _V2Sa] = OrderedDict()
        self._v2_init: OrderedDict[bytes, _V2Request] = OrderedDict()
        self._v2_requests: OrderedDict[tuple[bytes, bytes, int, bool], _V2Request] = OrderedDict()
        # The IKE_AUTH request that offered the first child SA, per IKE SA: with EAP or
        # multiple authentication rounds its answer comes in a later message ID.
        self._v2_auth: OrderedDict[tuple[bytes, bytes], _V2Request] = OrderedDict()
        self._reported: set[str] = set()  # problems already said (each is said once)
        self._v1: OrderedDict[bytes, _V1Sa] = OrderedDict()
        self._v1_qm: OrderedDict[tuple[bytes, int], _V1QuickMode] = OrderedDict()
        # Rekeyed IKE SAs with several candidate DH secrets: the decryptor keeps the one
        # whose ICV verifies (promote_ike).
        self.ike_candidates: dict[tuple[bytes, bytes], list[IkeKey]] = {}

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _bounded(d: OrderedDict, limit: int) -> None:
        while len(d) > limit:
            d.popitem(last=False)

    def _dh_pool(self, exclude: bytes = b"") -> list[bytes]:
        """Every DH shared secret in the key store, first-seen order, without repeats."""
        seen: list[bytes] = []
        for k in self.store.ike_keys():
            for name, value in sorted(k.secrets.items()):
                usable = name.startswith("dh_secret") and value and value != exclude
                if usable and value not in seen:
                    seen.append(value)
        for c in self.store.child_dh:
            if c.dh_secret and c.dh_secret != exclude and c.dh_secret not in seen:
                seen.append(c.dh_secret)
        return seen

    def _supplied_ike(self, spi_i: bytes, spi_r: bytes) -> IkeKey | None:
        return self.store.find_ike(spi_i, spi_r)

    # ------------------------------------------------------------------ IKEv2 keys

    def ikev2_key(self, spi_i: bytes, spi_r: bytes) -> IkeKey | None:
        """The IKE SA key to decrypt with: derived ones (which know every algorithm) are
        preferred over a supplied row only when the supplied row lacks SK_e."""
        sa = self._v2.get((spi_i, spi_r))
        supplied = self._supplied_ike(spi_i, spi_r)
        if supplied is not None and supplied.version == 2 and "sk_ei" in supplied.secrets:
            return supplied
        if sa is not None and sa.keys is not None:
            return sa.keys
        return supplied

    def _v2_sa(self, spi_i: bytes, spi_r: bytes) -> _V2Sa:
        sa = self._v2.get((spi_i, spi_r))
        if sa is None:
            sa = self._v2[(spi_i, spi_r)] = _V2Sa(spi_i, spi_r)
            self._bounded(self._v2, self._max_sas)
        return sa

    def _sk_d(self, sa: _V2Sa) -> tuple[bytes, PrfAlg] | str:
        """SK_d and the PRF of an IKE SA, from a supplied or derived key."""
        keys = [k for k in (self._supplied_ike(sa.spi_i, sa.spi_r), sa.keys) if k is not None]
        for k in keys:
            sk_d = k.secrets.get("sk_d")
            if not sk_d:
                continue
            prf = (sa.suite.prf if sa.suite is not None else None) or k.prf
            if prf is None:
                return f"IKE SA {sa.spi_i.hex()}/{sa.spi_r.hex()}: the PRF is unknown"
            return sk_d, prf
        return f"IKE SA {sa.spi_i.hex()}/{sa.spi_r.hex()}: no SK_d known"

    def _derive_ike_sa(
        self,
        sa: _V2Sa,
        seed: bytes,
        suite: _Suite,
        origin: str,
    ) -> IkeKey | str:
        if suite.prf is None:
            return "the chosen IKE proposal has no PRF"
        try:
            keys = kdf.ike_sa_keys(
                suite.prf.iana_id,
                seed,
                sa.nonce_i,
                sa.nonce_r,
                sa.spi_i,
                sa.spi_r,
                suite.integ_key_len,
                suite.encr_key_len,
            )
        except kdf.KdfError as e:
            return str(e)
        secrets = {
            "skeyseed": keys.skeyseed,
            "sk_d": keys.sk_d,
            "sk_ai": keys.sk_ai,
            "sk_ar": keys.sk_ar,
            "sk_ei": keys.sk_ei,
            "sk_er": keys.sk_er,
            "sk_pi": keys.sk_pi,
            "sk_pr": keys.sk_pr,
        }
        if not suite.integ_key_len:
            del secrets["sk_ai"], secrets["sk_ar"]
        return IkeKey(
            2,
            sa.spi_i,
            sa.spi_r,
            suite.encr,
            suite.encr_bits,
            suite.integ,
            suite.prf,
            secrets,
            KeySource.DERIVED,
            origin,
        )

    # ------------------------------------------------------------------ feeding

    def observe(self, msg: IkeMessage) -> DeriveEvents:
        """Read one message (decrypted where possible); return what became derivable."""
        events = DeriveEvents()
        try:
            if msg.version == 2:
                self._observe_v2(msg, events)
            elif msg.version == 1:
                self._observe_v1(msg, events)
        except (ValueError, KeyError, IndexError) as e:  # defensive: never end the run
            events.problems.append(f"frame {msg.meta.frame}: key derivation failed: {e}")
        return events

    def _once(self, ev: DeriveEvents, text: str) -> None:
        """Report ``text`` unless it was reported before (retransmissions, repeated rounds)."""
        if text not in self._reported:
            self._reported.add(text)
            ev.problems.append(text)

    def _observe_v2(self, msg: IkeMessage, ev: DeriveEvents) -> None:
        h = msg.header
        frame = msg.meta.frame
        sa_body = _first_body(msg, V2_SA, SaBody)
        nonce = _first_body(msg, V2_NONCE, NonceBody)
        ke = _first_body(msg, V2_KE, KeBody)
        proposals = sa_body.proposals if isinstance(sa_body, SaBody) else []
        nonce_b = nonce.data if isinstance(nonce, NonceBody) else b""
        if h.exchange == IKE_SA_INIT:
            if not h.is_response:
                self._v2_init[h.spi_i] = _V2Request(
                    frame,
                    h.exchange,
                    proposals,
                    nonce_b,
                    ke is not None,
                    msg.meta.src,
                    msg.meta.dst,
                )
                self._bounded(self._v2_init, self._max_pending)
                return
            req = self._v2_init.get(h.spi_i)
            if req is None or not proposals or not nonce_b or not req.nonce:
                return
            sa = self._v2_sa(h.spi_i, h.spi_r)
            suite = _v2_suite(proposals[0])
            if isinstance(suite, str):
                ev.problems.append(
                    f"frame {frame}: IKE SA {h.spi_i.hex()}/{h.spi_r.hex()}: {suite}"
                )
                return
            sa.suite, sa.nonce_i, sa.nonce_r, sa.frames = (
                suite,
                req.nonce,
                nonce_b,
                (req.frame, frame),
            )
            self._ike_from_dh(sa, ev)
            return
        if h.exchange not in (IKE_AUTH, CREATE_CHILD_SA) or not proposals:
            # Fragments before the last one, retransmissions that did not decrypt and
            # messages without an SA payload carry nothing to derive from.
            return
        # Requests are keyed by who sent them: either peer may start an exchange.
        if not h.is_response:
            key = (h.spi_i, h.spi_r, h.message_id, h.is_initiator)
            self._v2_requests[key] = _V2Request(
                frame,
                h.exchange,
                proposals,
                nonce_b,
                ke is not None,
                msg.meta.src,
                msg.meta.dst,
                _rekeyed_spi(msg),
            )
            self._bounded(self._v2_requests, self._max_pending)
            if h.exchange == IKE_AUTH:
                self._v2_auth[(h.spi_i, h.spi_r)] = self._v2_requests[key]
                self._bounded(self._v2_auth, self._max_pending)
            return
        req = self._v2_requests.pop((h.spi_i, h.spi_r, h.message_id, not h.is_initiator), None)
        if h.exchange == IKE_AUTH:
            # several IKE_AUTH rounds: the SA payload answered now was offered in the first
            auth_req = self._v2_auth.pop((h.spi_i, h.spi_r), None)
            req = req or auth_req
        ike = f"IKE SA {h.spi_i.hex()}/{h.spi_r.hex()}"
        chosen_first = proposals[0]
        if chosen_first.protocol in (PROTO_ESP, PROTO_AH) and len(chosen_first.spi) == 4:
            proto = "esp" if chosen_first.protocol == PROTO_ESP else "ah"
            spi = int.from_bytes(chosen_first.spi, "big")
            if self.store.find_sa(proto, spi, msg.meta.dst, msg.meta.src):
                return  # the user supplied this child's keys: nothing to derive or explain
        if req is None or not req.proposals:
            self._once(
                ev,
                f"frame {frame}: {ike}: no child SA keys derived from its "
                f"{'IKE_AUTH' if h.exchange == IKE_AUTH else 'CREATE_CHILD_SA'} response: "
                "the request that offered the child SA is not in the capture",
            )
            return
        parent = self._v2.get((h.spi_i, h.spi_r))
        if parent is None:
            self._once(
                ev,
                f"frame {frame}: {ike}: no child SA keys derived: its IKE_SA_INIT (the nonces "
                "and the chosen PRF) is not in the capture",
            )
            return
        chosen = proposals[0]
        offered = next((p for p in req.proposals if p.number == chosen.number), req.proposals[0])
        if chosen.protocol == PROTO_IKE:
            self._rekeyed_ike(parent, req, offered, chosen, nonce_b, frame, ev)
            return
        if h.exchange == IKE_AUTH:
            ni, nr = parent.nonce_i, parent.nonce_r
            what = f"IKE_AUTH frames {req.frame}/{frame}"
        else:
            ni, nr = req.nonce, nonce_b
            what = f"CREATE_CHILD_SA frames {req.frame}/{frame}"
            if req.rekeys is not None:
                what += f" (rekey of child SA 0x{req.rekeys.hex()})"
        if not ni or not nr:
            return
        self._child(parent, req, offered, chosen, ni, nr, what, req.has_ke and ke is not None, ev)

    def _ike_from_dh(self, sa: _V2Sa, ev: DeriveEvents) -> None:
        supplied = self._supplied_ike(sa.spi_i, sa.spi_r)
        if supplied is None or supplied.version != 2 or "sk_ei" in supplied.secrets:
            return
        dh = supplied.secrets.get("dh_secret")
        if not dh or sa.suite is None or sa.suite.prf is None:
            return
        try:
            seed = kdf.skeyseed(sa.suite.prf.iana_id, sa.nonce_i, sa.nonce_r, dh)
        except kdf.KdfError as e:
            ev.problems.append(f"IKE SA {sa.spi_i.hex()}/{sa.spi_r.hex()}: {e}")
            return
        origin = f"SKEYSEED from dh_secret and the nonces of IKE_SA_INIT frames {sa.frames[0]}/{sa.frames[1]}"
        key = self._derive_ike_sa(sa, seed, sa.suite, origin)
        if isinstance(key, str):
            ev.problems.append(f"IKE SA {sa.spi_i.hex()}/{sa.spi_r.hex()}: {key}")
            return
        sa.keys = key
        ev.ike_keys.append(key)

    def _rekeyed_ike(
        self,
        old: _V2Sa,
        req: _V2Request,
        offered: Proposal,
        chosen: Proposal,
        nonce_r: bytes,
        frame: int,
        ev: DeriveEvents,
    ) -> None:
        """A CREATE_CHILD_SA that rekeys the IKE SA (RFC 7296 §2.18)."""
        new_i, new_r = offered.spi, chosen.spi
        if len(new_i) != 8 or len(new_r) != 8 or not req.nonce or not nonce_r:
            return
        suite = _v2_suite(chosen)
        if isinstance(suite, str):
            ev.problems.append(
                f"frame {frame}: rekeyed IKE SA {new_i.hex()}/{new_r.hex()}: {suite}"
            )
            return
        sa = self._v2_sa(new_i, new_r)
        sa.suite, sa.nonce_i, sa.nonce_r, sa.frames = suite, req.nonce, nonce_r, (req.frame, frame)
        supplied = self._supplied_ike(new_i, new_r)
        if supplied is not None and "sk_ei" in supplied.secrets:
            return
        got = self._sk_d(old)
        if isinstance(got, str):
            ev.problems.append(f"frame {frame}: rekeyed IKE SA {new_i.hex()}/{new_r.hex()}: {got}")
            return
        old_sk_d, old_prf = got
        own = supplied.secrets.get("dh_secret") if supplied is not None else None
        pool = [own] if own else self._dh_pool()
        if not pool:
            ev.problems.append(
                f"frame {frame}: rekeyed IKE SA {new_i.hex()}/{new_r.hex()}: "
                "the DH shared secret of the rekey exchange is not known"
            )
            return
        origin = (
            f"rekey of IKE SA {old.spi_i.hex()}/{old.spi_r.hex()} (SK_d + dh_secret), "
            f"CREATE_CHILD_SA frames {req.frame}/{frame}"
        )
        keys: list[IkeKey] = []
        for dh in pool:
            seed = kdf.rekeyed_skeyseed(old_prf.iana_id, old_sk_d, dh, req.nonce, nonce_r)
            key = self._derive_ike_sa(sa, seed, suite, origin)
            if isinstance(key, str):
                ev.problems.append(f"frame {frame}: {key}")
                return
            keys.append(key)
        if len(keys) == 1:
            sa.keys = keys[0]
            ev.ike_keys.append(keys[0])
        else:
            self.ike_candidates[(new_i, new_r)] = keys

    def promote_ike(self, key: IkeKey) -> None:
        """Keep ``key``, the candidate of a rekeyed IKE SA whose ICV verified."""
        self.ike_candidates.pop((key.spi_i, key.spi_r), None)
        sa = self._v2.get((key.spi_i, key.spi_r))
        if sa is not None:
            sa.keys = key

    def _child(
        self,
        sa: _V2Sa,
        req: _V2Request,
        offered: Proposal,
        chosen: Proposal,
        ni: bytes,
        nr: bytes,
        what: str,
        pfs: bool,
        ev: DeriveEvents,
    ) -> None:
        """Child SA keys from SK_d (RFC 7296 §2.17)."""
        if chosen.protocol not in (PROTO_ESP, PROTO_AH) or len(chosen.spi) != 4:
            return
        if len(offered.spi) != 4:
            return
        suite = _v2_suite(chosen)
        spi_in_r, spi_in_i = int.from_bytes(chosen.spi, "big"), int.from_bytes(offered.spi, "big")
        proto_name = "esp" if chosen.protocol == PROTO_ESP else "ah"
        if self.store.find_sa(proto_name, spi_in_r, req.src, req.dst) and self.store.find_sa(
            proto_name, spi_in_i, req.dst, req.src
        ):
            return  # both directions were supplied: nothing to derive
        if isinstance(suite, str):
            ev.problems.append(f"{what}: child SA 0x{spi_in_r:08x}/0x{spi_in_i:08x}: {suite}")
            return
        got = self._sk_d(sa)
        if isinstance(got, str):
            self._once(ev, f"{what}: child SA 0x{spi_in_r:08x}/0x{spi_in_i:08x}: {got}")
            return
        sk_d, prf = got
        secrets: list[bytes] = [b""]
        if pfs:
            # The IKE SA's own secret (IKE_SA_INIT) is not the child's; every other known
            # secret is a candidate, proven by the ICV of the first ESP packet.
            parent = self._supplied_ike(sa.spi_i, sa.spi_r)
            own = parent.secrets.get("dh_secret", b"") if parent is not None else b""
            secrets = self._dh_pool(exclude=own)
            if not secrets:
                ev.problems.append(
                    f"{what}: child SA 0x{spi_in_r:08x}/0x{spi_in_i:08x} uses PFS and the "
                    "exchange's DH shared secret is not known"
                )
                return
        base = f"SK_d of IKE SA {sa.spi_i.hex()}/{sa.spi_r.hex()}, {what}"
        origin = base + (" with dh_secret (PFS)" if pfs else "")
        proto = "esp" if chosen.protocol == PROTO_ESP else "ah"
        sets: list[list[SaKey]] = []
        for dh in secrets:
            try:
                ck = kdf.child_sa_keys(
                    prf.iana_id,
                    sk_d,
                    ni,
                    nr,
                    suite.encr_key_len if proto == "esp" else 0,
                    suite.integ_key_len,
                    dh_secret=dh,
                )
            except kdf.KdfError as e:
                ev.problems.append(f"{what}: {e}")
                return
            # *_i keys protect exchange initiator -> responder: the SPI the responder chose.
            sets.append(
                [
                    self._sa_key(
                        proto, spi_in_r, req.src, req.dst, suite, ck.encr_i, ck.integ_i, origin
                    ),
                    self._sa_key(
                        proto, spi_in_i, req.dst, req.src, suite, ck.encr_r, ck.integ_r, origin
                    ),
                ]
            )
        if pfs:
            ev.candidates.append(Candidates((spi_in_r, spi_in_i), sets, origin))
        else:
            ev.sa_keys.extend(sets[0])

    @staticmethod
    def _sa_key(
        proto: str,
        spi: int,
        src: str,
        dst: str,
        suite: _Suite,
        encr_key: bytes,
        integ_key: bytes,
        origin: str,
    ) -> SaKey:
        # Addresses are left open: NAT and MOBIKE move the outer addresses, the SPI does not.
        encr = suite.encr if proto == "esp" else None
        integ = suite.integ
        if integ is None and (proto == "ah" or not suite.encr.aead):
            integ = algorithms.integrity_by_id(0)
        return SaKey(
            proto, spi, None, None, encr, encr_key, integ, integ_key, suite.esn,
            KeySource.DERIVED, f"{origin}; {src} -> {dst}",
        )  # fmt: skip

    # ------------------------------------------------------------------ IKEv1

    def ikev1_state(self, cky_i: bytes) -> _V1Sa | None:
        return self._v1.get(cky_i)

    def _observe_v1(self, msg: IkeMessage, ev: DeriveEvents) -> None:
        h = msg.header
        sa = self._v1.get(h.spi_i)
        if sa is None:
            sa = self._v1[h.spi_i] = _V1Sa(h.spi_i)
            self._bounded(self._v1, self._max_sas)
        if any(h.spi_r) and not sa.cky_r:
            sa.cky_r = h.spi_r
        if not sa.initiator:
            # The first message of an ISAKMP SA carries a zero responder cookie.
            sa.initiator = msg.meta.src if not any(h.spi_r) else msg.meta.dst
        from_initiator = msg.meta.src == sa.initiator
        if h.exchange in (MAIN_MODE, AGGRESSIVE_MODE) and h.message_id == 0:
            self._v1_phase1(sa, msg, from_initiator, ev)
        elif h.exchange == QUICK_MODE:
            self._v1_quick_mode(sa, msg, from_initiator, ev)

    def _v1_phase1(self, sa: _V1Sa, msg: IkeMessage, from_i: bool, ev: DeriveEvents) -> None:
        body = _first_body(msg, V1_SA, SaBody)
        # The responder's SA holds the one chosen transform; the initiator's first
        # transform is only a guess until the response arrives.
        chosen = isinstance(body, SaBody) and body.proposals and body.proposals[0].transforms
        if chosen and isinstance(body, SaBody) and (not from_i or sa.encr is None):
            t = body.proposals[0].transforms[0]
            enc_id = _attr(t.attributes, P1_ENCR)
            sa.encr = algorithms.encryption_by_ikev1_attribute(enc_id) if enc_id else None
            sa.encr_bits = _attr(t.attributes, P1_KEY_LENGTH)
            if sa.encr is not None and sa.encr_bits is None and len(sa.encr.key_bits) == 1:
                sa.encr_bits = sa.encr.key_bits[0]
            sa.hash_id = _attr(t.attributes, P1_HASH)
            sa.auth_method = _attr(t.attributes, P1_AUTH)
        ke = _first_body(msg, V1_KE, KeBody)
        if isinstance(ke, KeBody):
            if from_i and sa.ke_i is None:
                sa.ke_i = ke.data
            elif not from_i and sa.ke_r is None:
                sa.ke_r = ke.data
        nonce = _first_body(msg, V1_NONCE, NonceBody)
        if isinstance(nonce, NonceBody):
            if from_i and not sa.nonce_i:
                sa.nonce_i = nonce.data
            elif not from_i and not sa.nonce_r:
                sa.nonce_r = nonce.data
        if sa.nonce_i and sa.nonce_r and sa.cky_r and not sa.cipher_key:
            self._v1_keys(sa, msg.meta.frame, ev)

    def _v1_keys(self, sa: _V1Sa, frame: int, ev: DeriveEvents) -> None:
        """Ka and SKEYID_d of a phase-1 SA from whichever secret the key store holds."""
        supplied = self.store.find_ike(sa.cky_i, sa.cky_r)
        if supplied is None or supplied.version != 1:
            return
        s = supplied.secrets
        hash_id = sa.hash_id
        if hash_id is None and supplied.prf is not None:
            hash_id = supplied.prf.ikev1_hash_id
        if hash_id is None or sa.encr is None:
            return
        key_len = sa.encr.key_len(sa.encr_bits)
        try:
            skeyid = s.get("skeyid", b"")
            kind = _v1_auth_kind(sa.auth_method)
            derived = False
            if not skeyid and s.get("dh_secret") and kind == kdf.Ikev1AuthKind.SIGNATURE:
                skeyid = kdf.ikev1_skeyid(hash_id, kind, sa.nonce_i, sa.nonce_r, s["dh_secret"])
                derived = True
            skeyid_d, skeyid_e = s.get("skeyid_d", b""), s.get("skeyid_e", b"")
            if skeyid and (not skeyid_d or not skeyid_e) and s.get("dh_secret"):
                k = kdf.ikev1_keys(hash_id, skeyid, s["dh_secret"], sa.cky_i, sa.cky_r)
                skeyid_d, skeyid_e = skeyid_d or k.skeyid_d, skeyid_e or k.skeyid_e
                derived = True
            enc_key = s.get("enc_key", b"")
            if not enc_key and skeyid_e:
                enc_key = kdf.ikev1_encryption_key(hash_id, skeyid_e, key_len)
                derived = True
        except kdf.KdfError as e:
            ev.problems.append(f"ISAKMP SA {sa.cky_i.hex()}: {e}")
            return
        sa.skeyid_d, sa.cipher_key = skeyid_d, enc_key[:key_len] if enc_key else b""
        if derived:
            secrets = {
                "skeyid": skeyid,
                "skeyid_d": skeyid_d,
                "skeyid_e": skeyid_e,
                "enc_key": sa.cipher_key,
            }
            origin = f"RFC 2409 keys from the supplied secrets and phase-1 nonces (frame {frame})"
            key = IkeKey(
                1, sa.cky_i, sa.cky_r, sa.encr, sa.encr_bits, None,
                algorithms.prf_by_ikev1_hash(hash_id),
                {n: v for n, v in secrets.items() if v}, KeySource.DERIVED, origin,
            )  # fmt: skip
            ev.ike_keys.append(key)

    def ikev1_cipher(self, cky_i: bytes, cky_r: bytes) -> tuple[EncryptionAlg, bytes, int] | str:
        """(cipher row, Ka, hash id) for decrypting an ISAKMP SA, or why not."""
        sa = self._v1.get(cky_i)
        supplied = self.store.find_ike(cky_i, cky_r)
        if supplied is None or supplied.version != 1:
            return "no-key"
        encr = sa.encr if sa is not None and sa.encr is not None else supplied.encryption
        if encr is None:
            return "the phase-1 encryption algorithm is unknown (SA payload not seen)"
        hash_id = sa.hash_id if sa is not None else None
        if hash_id is None and supplied.prf is not None:
            hash_id = supplied.prf.ikev1_hash_id
        if hash_id is None:
            return "the phase-1 hash algorithm is unknown (SA payload not seen)"
        key = sa.cipher_key if sa is not None else b""
        if not key:
            key = supplied.secrets.get("enc_key", b"")
            bits = sa.encr_bits if sa is not None else supplied.encryption_key_bits
            need = encr.key_len(bits) if bits else len(key)
            if bits is None and encr.bits_for_key(key) is None:
                # Wireshark's table may hold more key than the cipher takes.
                need = encr.key_len(max(encr.key_bits))
            key = key[:need]
        if not key:
            return "no encryption key (enc_key, skeyid_e or skeyid) for this ISAKMP SA"
        return encr, key, hash_id

    def _v1_quick_mode(self, sa: _V1Sa, msg: IkeMessage, from_i: bool, ev: DeriveEvents) -> None:
        if msg.decrypted is None:
            return
        h = msg.header
        body = _first_body(msg, V1_SA, SaBody)
        nonce = _first_body(msg, V1_NONCE, NonceBody)
        has_ke = _first_body(msg, V1_KE, KeBody) is not None
        if not isinstance(body, SaBody) or not isinstance(nonce, NonceBody):
            return
        key = (h.spi_i, h.message_id)
        pending = self._v1_qm.get(key)
        if pending is None:
            self._v1_qm[key] = _V1QuickMode(
                msg.meta.frame, body.proposals, nonce.data, has_ke, msg.meta.src
            )
            self._bounded(self._v1_qm, self._max_pending)
            return
        if msg.meta.src == pending.src:
            return  # a retransmitted first message
        del self._v1_qm[key]
        self._v1_child(sa, pending, body.proposals, nonce.data, has_ke, msg, ev)

    def _v1_child(
        self,
        sa: _V1Sa,
        req: _V1QuickMode,
        chosen_props: list[Proposal],
        nonce_r: bytes,
        resp_ke: bool,
        msg: IkeMessage,
        ev: DeriveEvents,
    ) -> None:
        """Quick-mode KEYMAT for each chosen ESP/AH proposal (RFC 2409 §5.5)."""
        if not sa.skeyid_d or sa.hash_id is None:
            if self.store.find_ike(sa.cky_i, sa.cky_r) is not None:
                ev.problems.append(
                    f"Quick Mode frames {req.frame}/{msg.meta.frame}: SKEYID_d is not known, "
                    "so its ESP keys cannot be derived"
                )
            return
        what = f"SKEYID_d of ISAKMP SA {sa.cky_i.hex()}, Quick Mode frames {req.frame}/{msg.meta.frame}"
        pfs = req.has_ke and resp_ke
        pool = self._dh_pool(exclude=self._v1_own_dh(sa)) if pfs else [b""]
        if not pool:
            ev.problems.append(f"{what}: PFS was used and its DH shared secret is not known")
            return
        origin = what + (" with dh_secret (PFS)" if pfs else "")
        for chosen in chosen_props:
            offered = next(
                (
                    p
                    for p in req.proposals
                    if p.number == chosen.number and p.protocol == chosen.protocol
                ),
                None,
            )
            if (
                offered is None
                or chosen.protocol not in (PROTO_ESP, PROTO_AH)
                or not chosen.transforms
            ):
                continue
            suite = self._v1_suite(chosen)
            if isinstance(suite, str):
                ev.problems.append(f"{what}: {suite}")
                continue
            proto = "esp" if chosen.protocol == PROTO_ESP else "ah"
            enc_len = suite.encr_key_len if proto == "esp" else 0
            sets: list[list[SaKey]] = []
            spis: list[int] = []
            for dh in pool:
                keys = []
                # The SA whose SPI the responder chose carries initiator -> responder.
                for spi, src, dst in (
                    (chosen.spi, req.src, msg.meta.src),
                    (offered.spi, msg.meta.src, req.src),
                ):
                    km = kdf.ikev1_keymat(
                        sa.hash_id, sa.skeyid_d, chosen.protocol, spi, req.nonce, nonce_r,
                        enc_len + suite.integ_key_len, dh_secret=dh,
                    )  # fmt: skip
                    keys.append(
                        self._sa_key(proto, int.from_bytes(spi, "big"), src, dst, suite,
                                     km[:enc_len], km[enc_len:], origin)
                    )  # fmt: skip
                sets.append(keys)
                spis = [k.spi for k in keys]
            if pfs:
                ev.candidates.append(Candidates(tuple(spis), sets, origin))
            else:
                ev.sa_keys.extend(sets[0])

    def _v1_own_dh(self, sa: _V1Sa) -> bytes:
        k = self.store.find_ike(sa.cky_i, sa.cky_r)
        return k.secrets.get("dh_secret", b"") if k is not None else b""

    @staticmethod
    def _v1_suite(chosen: Proposal) -> _Suite | str:
        t = chosen.transforms[0]
        bits = _attr(t.attributes, P2_KEY_LENGTH)
        auth = _attr(t.attributes, P2_AUTH_ALG)
        integ = algorithms.integrity_by_ikev1_attribute(auth) if auth else None
        if chosen.protocol == PROTO_AH:
            # AH transform ids: 2 AH_MD5, 3 AH_SHA, 4 AH_SHA2_256 ... follow the auth attribute.
            if integ is None:
                return f"AH transform {t.id} has no known authentication algorithm"
            encr = algorithms.encryption_by_id(11)
            assert encr is not None
            return _Suite(encr, None, integ)
        encr = algorithms.encryption_by_ikev1_esp_id(t.id)
        if encr is None:
            return f"ESP transform {t.id} is unknown"
        if encr.unavailable:
            return f"{encr.name}: {encr.unavailable}"
        if bits is None and len(encr.key_bits) == 1:
            bits = encr.key_bits[0] or None
        return _Suite(encr, bits, integ)
