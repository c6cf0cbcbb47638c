"""The audit rules, one row each: id, title, severity, reference, scope, stage, check.

Why rows: a reviewer reads the table, not the code, and a site adding or re-grading a rule
changes one row. Rule ids follow ``../shared/reference/audit-rules.md``; algorithm numbers
are IKEv2 transform numbers (the tracker maps IKEv1 attributes onto them, see
:mod:`ipsec_inspect.lifecycle.suites`). Each check takes an SA and the whole result and
returns a :class:`~ipsec_inspect.audit.findings.Verdict`, or None where the rule does
not apply to that SA at all (an IKEv1 rule on an IKEv2 SA).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ipsec_inspect.audit.findings import Severity, Verdict, fail, passed, unseen
from ipsec_inspect.ipsec.registry.algorithms import (
    BROKEN,
    Strength,
    ids_where,
)
from ipsec_inspect.ipsec.registry.algorithms import ENCRYPTION_ALGORITHMS as _ENCR
from ipsec_inspect.ipsec.registry.algorithms import INTEGRITY_ALGORITHMS as _INTEG
from ipsec_inspect.ipsec.registry.algorithms import PRF_ALGORITHMS as _PRF
from ipsec_inspect.lifecycle import suites
from ipsec_inspect.lifecycle.model import Certainty, ChildSa, IkeSa, Stage

if TYPE_CHECKING:
    from ipsec_inspect.lifecycle.tracker import TrackerResult

Check = Callable[[Any, "TrackerResult"], Verdict | None]

# ---------------------------------------------------------------- algorithm sets (data)
# Read from the strength columns of the algorithm rows (ipsec/registry/algorithms.py,
# RFC 8221 for ESP/AH, RFC 8247 for IKEv2, RFC 9395 deprecations): a new or re-graded
# algorithm changes its row, never this file.
ENCR_DES = ids_where(_ENCR, lambda r: r.ike is Strength.MUST_NOT)
ENCR_DEPRECATED = ids_where(_ENCR, lambda r: r.ike is Strength.DEPRECATED)
ENCR_3DES = ids_where(_ENCR, lambda r: r.ike is Strength.MAY and r.block_len == 8)
ENCR_NULL = ids_where(_ENCR, lambda r: r.mode == "null")
ENCR_NOT_FOR_IKE = ids_where(_ENCR, lambda r: r.ike is Strength.NOT_ALLOWED)
PRF_BROKEN = ids_where(_PRF, lambda r: r.ike in BROKEN)
PRF_SHA1 = ids_where(_PRF, lambda r: r.ike is Strength.MUST_MINUS)
INTEG_BROKEN = ids_where(_INTEG, lambda r: r.ike in BROKEN)
INTEG_MD5 = ids_where(_INTEG, lambda r: r.esp in BROKEN and r.hash == "md5")
INTEG_SHA1 = ids_where(_INTEG, lambda r: r.esp is Strength.MUST_MINUS)
# ESP (RFC 8221 §5): the DES family is Critical, the other MUST NOT / deprecated High.
ESP_ENCR_DES = ids_where(_ENCR, lambda r: r.esp is Strength.MUST_NOT and r.cipher == "des")
ESP_ENCR_DEPRECATED = ids_where(_ENCR, lambda r: r.esp in BROKEN) - ESP_ENCR_DES
ESP_ENCR_3DES = ids_where(_ENCR, lambda r: r.esp is Strength.SHOULD_NOT)
DH_768 = frozenset({1})
DH_WEAK_MODP = frozenset({2, 5})
DH_22 = frozenset({22})
WEAK_OFFER = {
    "encryption": ENCR_DES | ENCR_DEPRECATED | ENCR_3DES,
    "prf": PRF_BROKEN | PRF_SHA1,
    "integrity": INTEG_BROKEN | INTEG_SHA1,
    "dh_group": DH_768 | DH_WEAK_MODP | DH_22,
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One audit rule: its id, severity, reference, scope and check.

    ``by_facts``: the check's verdict — its outcome, detail and values; a failure's frames
    aside — depends on nothing but the SA's :func:`ike_facts` / :func:`child_facts`. The
    audit then judges SAs with equal facts once (a flood leaves thousands of identical
    half-open or orphan SAs) and calls the check again only for each failure, for its
    frames. Every built-in rule is such a rule; a plugin's row is not unless it says so,
    and is checked SA by SA.
    """

    id: str
    title: str
    severity: Severity
    reference: str
    scope: str  # "ike" or "child"
    stage: Stage
    check: Check
    by_facts: bool = False


# ---------------------------------------------------------------- what the rules read


def ike_facts(sa: IkeSa) -> tuple[Any, ...]:
    """Everything a built-in IKE SA rule reads to reach a pass, an unseen or its outcome.

    Frames are left out: a rule that fails is checked again on each SA for its own.
    A check that starts reading something new must find it here (tests/audit checks
    every rule's reads against this function's on the sample captures).
    """
    return (
        sa.version,
        sa.mode,
        sa.auth_method,
        bool(sa.psk_crack),
        sa.nat_detected,
        sa.transport,
        tuple(sa.certainty.items()),
        tuple(sa.chosen.items()),
        tuple(sa.chosen_ids.items()),
        tuple(tuple((k, tuple(v)) for k, v in o.items()) for o in sa.offered_ids),
    )


def child_facts(c: ChildSa) -> tuple[Any, ...]:
    """Everything a built-in child SA rule reads to reach a pass, an unseen or its outcome
    (see :func:`ike_facts`): the negotiated suite and, per direction, the counters."""
    return (
        c.ike_sa,
        c.protocol,
        c.created_by,
        c.pfs,
        tuple(c.certainty.items()),
        tuple(c.chosen.items()),
        tuple(c.chosen_ids.items()),
        tuple(
            (
                d.packets,
                d.decrypted,
                d.decrypted_verified,
                d.decrypted_unverified,
                d.icv_failures,
                d.iv_count,
                len(d.iv_reuse_frames),
                d.max_overhead,
                d.max_inner,
                d.inner_ip_version,
                len(d.fragmented_frames),
                d.seq.replayed,
                d.seq.resets,
                d.seq.wraps,
                d.seq.lost,
                d.seq.window_violations,
            )
            for d in c.directions
        ),
    )


# ---------------------------------------------------------------- helpers


def _frames(sa: IkeSa | ChildSa, kind: str) -> list[int]:
    return [e.frame for span in sa.stages.values() for e in span.events if e.kind == kind]


def _chosen_frames(sa: IkeSa | ChildSa) -> list[int]:
    return _frames(sa, "ike.chosen") or _frames(sa, "child.installed")


def _ike_alg(key: str, bad: frozenset[int], what: str) -> Check:
    """An IKE SA rule on the chosen transform ``key``."""

    def check(sa: IkeSa, _r: TrackerResult) -> Verdict | None:
        if key not in sa.chosen_ids:
            if sa.certainty.get("chosen") == Certainty.OBSERVED:
                return passed(f"no {key} transform in the chosen suite")
            return unseen(f"no {key} transform was chosen in the capture")
        value = sa.chosen_ids[key]
        if value in bad:
            return fail(f"IKE SA uses {sa.chosen.get(key)} ({what})", _chosen_frames(sa))
        return passed(f"{key}: {sa.chosen.get(key)}")

    return check


def _child_alg(key: str, bad: frozenset[int], what: str) -> Check:
    """A child SA rule on the chosen transform ``key`` (needs decryption or a key file)."""

    def check(c: ChildSa, _r: TrackerResult) -> Verdict | None:
        if key == "encryption" and c.protocol == "ah":
            return None
        if key not in c.chosen_ids:
            if c.certainty.get("chosen") == Certainty.OBSERVED:
                return passed(f"no {key} transform in the chosen suite")
            why = "encrypted" if c.certainty.get("chosen") == Certainty.ENCRYPTED else "not seen"
            return unseen(f"the child SA's {key} is {why}")
        value = c.chosen_ids[key]
        if value in bad:
            return fail(f"child SA uses {c.chosen.get(key)} ({what})", _chosen_frames(c))
        return passed(f"{key}: {c.chosen.get(key)}")

    return check


def _k09_no_integrity(sa: IkeSa, _r: TrackerResult) -> Verdict | None:
    if "encryption" not in sa.chosen_ids:
        return unseen("no IKE suite was chosen in the capture")
    e = suites.encryption_alg(sa.chosen_ids["encryption"])
    if e is not None and not e.aead and sa.chosen_ids.get("integrity", 0) == 0:
        return fail(
            f"{sa.chosen.get('encryption')} without an integrity transform", _chosen_frames(sa)
        )
    return passed("encryption is AEAD or paired with integrity")


def _k04_null_offered(sa: IkeSa, _r: TrackerResult) -> Verdict | None:
    if not sa.offered_ids and "encryption" not in sa.chosen_ids:
        return unseen("no IKE proposal in the capture")
    ids = {i for o in sa.offered_ids for i in o.get("encryption", [])} | {
        sa.chosen_ids.get("encryption", -1)
    }
    bad = ids & ENCR_NOT_FOR_IKE
    if bad:
        return fail(f"encryption {sorted(bad)} offered for an IKE SA", _frames(sa, "ike.offer"))
    return passed("no NULL or IIV cipher offered")


def _k15_weak_offered(sa: IkeSa, _r: TrackerResult) -> Verdict | None:
    if not sa.offered_ids:
        return unseen("the initiator's proposals are not in the capture")
    weak = sorted(
        {
            f"{k}:{i}"
            for o in sa.offered_ids
            for k, bad in WEAK_OFFER.items()
            for i in o.get(k, [])
            if i in bad
        }
    )
    if weak:
        return fail(f"weak transforms offered: {', '.join(weak)}", _frames(sa, "ike.offer"))
    return passed("every offered transform is acceptable")


def _v01_ikev1(sa: IkeSa, _r: TrackerResult) -> Verdict | None:
    if sa.version == 1:
        return fail("IKEv1 (ISAKMP) SA", [sa.stages[Stage.HOST_RECOGNITION].start_frame or 0])
    return passed("IKEv2")


def _v02_aggressive_psk(sa: IkeSa, _r: TrackerResult) -> Verdict | None:
    if sa.version != 1:
        return None
    if sa.mode != "aggressive":
        return passed(f"{sa.mode or 'unknown'} mode")
    if sa.auth_method is None:
        return unseen(
            "Aggressive Mode, but the responder's choice of authentication is not in the capture"
        )
    if sa.auth_method in suites.V1_PSK_METHODS:
        return fail(
            "Aggressive Mode with a pre-shared key: HASH_R in message 2 can be cracked offline"
            + (" (psk-crack parameters available)" if sa.psk_crack else ""),
            sa.aggressive_psk_frames,
        )
    return passed("Aggressive Mode without a pre-shared key")


def _pfs(c: ChildSa, _r: TrackerResult) -> Verdict | None:
    if c.created_by is None:
        return unseen("the child SA's negotiation is not in the capture")
    if c.created_by == "IKE_AUTH":
        return passed("first child SA: keys come from the IKE SA's own key exchange")
    if c.pfs is None:
        return unseen("the creating exchange is encrypted")
    if not c.pfs:
        return fail(
            f"{c.created_by} without a KE payload: no perfect forward secrecy",
            _frames(c, "child.installed"),
        )
    return passed("KE payload present (PFS)")


def _a05_null(c: ChildSa, r: TrackerResult) -> Verdict | None:
    if c.protocol == "ah":
        return None
    return _child_alg("encryption", ENCR_NULL, "ESP without confidentiality")(c, r)


def _a06_no_integrity(c: ChildSa, _r: TrackerResult) -> Verdict | None:
    if c.protocol == "ah":
        return None
    if "encryption" not in c.chosen_ids:
        return unseen("the child SA's suite is not visible")
    e = suites.encryption_alg(c.chosen_ids["encryption"])
    if e is not None and not e.aead and e.mode != "null" and c.chosen_ids.get("integrity", 0) == 0:
        return fail(f"{c.chosen.get('encryption')} without integrity", _chosen_frames(c))
    return passed("integrity present or AEAD")


def _a10_ah_only(c: ChildSa, _r: TrackerResult) -> Verdict | None:
    if c.protocol != "ah":
        return passed("ESP")
    frames = [d.first_frame for d in c.directions if d.first_frame] or [
        c.stages[Stage.CIRCUIT].start_frame or 0
    ]
    return fail("AH protects integrity only: the traffic is not encrypted", frames)


def _traffic(c: ChildSa) -> bool:
    return any(d.packets for d in c.directions)


def _seq_rule(attr: str, frames_attr: str, what: str) -> Check:
    def check(c: ChildSa, _r: TrackerResult) -> Verdict | None:
        if not _traffic(c):
            return unseen("no ESP/AH packets of this SA in the capture")
        n = sum(getattr(d.seq, attr) for d in c.directions)
        if n:
            frames = [f for d in c.directions for f in getattr(d.seq, frames_attr)]
            return fail(f"{n} {what}", frames, values={"count": n})
        return passed(f"no {what} in {sum(d.packets for d in c.directions)} packets")

    return check


def _s05_wrap(c: ChildSa, _r: TrackerResult) -> Verdict | None:
    if not _traffic(c):
        return unseen("no ESP/AH packets of this SA in the capture")
    if c.chosen_ids.get("esn"):
        return passed("extended sequence numbers negotiated")
    n = sum(d.seq.wraps for d in c.directions)
    if n:
        return fail(
            f"sequence number wrapped {n} time(s) without ESN",
            [f for d in c.directions for f in d.seq.wrap_frames],
        )
    return passed("no wrap")


def _s06_loss(c: ChildSa, _r: TrackerResult) -> Verdict | None:
    if not _traffic(c):
        return unseen("no ESP/AH packets of this SA in the capture")
    lost = sum(d.seq.lost for d in c.directions)
    late = sum(d.seq.window_violations for d in c.directions)
    if lost or late:
        return fail(
            f"{lost} sequence numbers missing, {late} packets outside the anti-replay window",
            [f for d in c.directions for f in d.seq.window_frames],
            values={"lost": lost, "window_violations": late},
        )
    return passed("no gaps and no packets outside the anti-replay window")


def _s01_iv_reuse(c: ChildSa, _r: TrackerResult) -> Verdict | None:
    if c.protocol == "ah":
        return None
    e = suites.encryption_alg(c.chosen_ids.get("encryption"))
    checked = sum(d.iv_count for d in c.directions)
    if not checked:
        return unseen("no explicit IVs could be read (cipher unknown and no decryption)")
    if e is not None and not (e.aead or e.mode == "ctr"):
        return passed(f"{c.chosen.get('encryption')} is not a counter-mode cipher")
    frames = [f for d in c.directions for f in d.iv_reuse_frames]
    if frames:
        return fail(f"{len(frames)} explicit IVs repeated under one key (nonce reuse)", frames)
    if e is None:
        return unseen("the cipher is not known, so the IV rule cannot be applied")
    return passed(f"{checked} explicit IVs, none repeated")


def _s08_orphan(c: ChildSa, _r: TrackerResult) -> Verdict | None:
    if c.ike_sa is None:
        return fail(
            "SPIs with no IKE exchange in the capture (capture began late, or manual keys)",
            [d.first_frame for d in c.directions if d.first_frame],
            Certainty.INFERRED,
        )
    return passed(f"negotiated by {c.ike_sa}")


def _s09_icv(c: ChildSa, _r: TrackerResult) -> Verdict | None:
    checked = sum(d.decrypted_verified + d.icv_failures for d in c.directions)
    if not checked:
        return unseen("no key for this SA: integrity not checked")
    n = sum(d.icv_failures for d in c.directions)
    if n:
        return fail(
            f"{n} of {checked} packets failed the integrity check (tampering, or wrong keys)",
            [e.frame for s in c.stages.values() for e in s.events if e.kind.endswith("icv_failed")],
        )
    return passed(f"{checked} packets verified")


def _s11_unverified(c: ChildSa, _r: TrackerResult) -> Verdict | None:
    """Packets decrypted with keys that have no integrity key: nothing shows they were not
    altered (tcpdump ``-E`` secrets with an encryption key only, integrity NONE)."""
    if c.protocol != "esp":
        return None
    ways = [d for d in c.directions if d.decrypted_unverified]
    if ways:
        n = sum(d.decrypted_unverified for d in ways)
        spis = ", ".join(f"0x{d.spi:08x}" for d in ways)
        return fail(
            f"SA has no integrity key (SPI {spis}): {n} packets decrypted without an ICV "
            "check, so tampering cannot be detected; give the integrity key to verify them",
            [d.first_frame for d in ways if d.first_frame],
        )
    if not any(d.decrypted for d in c.directions):
        return unseen("no packet of this SA was decrypted")
    return passed("every decrypted packet had its ICV or AEAD tag checked")


def _n01_nat(sa: IkeSa, _r: TrackerResult) -> Verdict | None:
    if sa.nat_detected is None:
        if sa.transport == "udp-encap":
            return fail(
                "peers use UDP 4500 (NAT-T) but no NAT detection payloads were seen",
                [],
                Certainty.INFERRED,
            )
        return unseen("no NAT detection payloads in the capture")
    if sa.nat_detected:
        return fail("NAT between the peers: the SA runs over UDP 4500", sa.nat_frames)
    return passed("NAT detection hashes match: no NAT")


def _m01_mtu(c: ChildSa, _r: TrackerResult) -> Verdict | None:
    over = [d.max_overhead for d in c.directions if d.max_overhead is not None]
    if not over:
        return unseen("per-packet overhead needs decrypted packets")
    overhead = max(over)
    mtu = 1500 - overhead
    v6 = any(d.inner_ip_version == 6 for d in c.directions)
    mss = mtu - (60 if v6 else 40)
    largest = max((d.max_inner or 0) for d in c.directions)
    values = {"overhead": overhead, "inner_mtu": mtu, "tcp_mss": mss, "largest_inner": largest}
    text = f"overhead {overhead} bytes: inner MTU {mtu}, TCP MSS {mss} on a 1500-byte path; largest inner packet {largest}"
    if largest > mtu:
        return fail(text + " (larger than the path allows)", [], values=values)
    return passed(text, values)


def _m02_fragments(c: ChildSa, _r: TrackerResult) -> Verdict | None:
    if not _traffic(c):
        return unseen("no ESP/AH packets of this SA in the capture")
    frames = [f for d in c.directions for f in d.fragmented_frames]
    if frames:
        return fail(f"{len(frames)} ESP/AH packets were IP-fragmented on the wire", frames)
    return passed("no outer fragmentation")


# ---------------------------------------------------------------- the table

N, C, T, H = Stage.NEGOTIATION, Stage.CIRCUIT, Stage.TRANSMISSION, Stage.HOST_RECOGNITION
SEV = Severity

RULES: tuple[Rule, ...] = (
    Rule(
        "K01",
        "IKE SA encryption DES",
        SEV.CRITICAL,
        "RFC 8247 §3.1 (MUST NOT)",
        "ike",
        N,
        _ike_alg("encryption", ENCR_DES, "MUST NOT"),
    ),
    Rule(
        "K02",
        "IKE SA encryption deprecated (RC5, IDEA, CAST, Blowfish, 3IDEA, DES_IV64/32)",
        SEV.HIGH,
        "RFC 9395 §5; RFC 8247 §3.1",
        "ike",
        N,
        _ike_alg("encryption", ENCR_DEPRECATED, "deprecated"),
    ),
    Rule(
        "K03",
        "IKE SA encryption 3DES",
        SEV.MEDIUM,
        "RFC 8247 §3.1 (MAY; 64-bit block)",
        "ike",
        N,
        _ike_alg("encryption", ENCR_3DES, "64-bit block cipher"),
    ),
    Rule(
        "K04",
        "NULL or IIV cipher offered for an IKE SA",
        SEV.HIGH,
        "RFC 8247 §3.1; RFC 8750 §1",
        "ike",
        N,
        _k04_null_offered,
    ),
    Rule(
        "K05",
        "PRF HMAC-MD5 or HMAC-Tiger",
        SEV.HIGH,
        "RFC 8247 §3.2 (MD5 MUST NOT)",
        "ike",
        N,
        _ike_alg("prf", PRF_BROKEN, "MUST NOT"),
    ),
    Rule(
        "K06",
        "PRF HMAC-SHA1",
        SEV.LOW,
        "RFC 8247 §3.2 (MUST-)",
        "ike",
        N,
        _ike_alg("prf", PRF_SHA1, "MUST-, expected to be demoted"),
    ),
    Rule(
        "K07",
        "IKE integrity MD5 / DES-MAC / KPDK-MD5 / SHA1-160",
        SEV.HIGH,
        "RFC 8247 §3.3 (MUST NOT)",
        "ike",
        N,
        _ike_alg("integrity", INTEG_BROKEN, "MUST NOT"),
    ),
    Rule(
        "K08",
        "IKE integrity HMAC-SHA1-96",
        SEV.LOW,
        "RFC 8247 §3.3 (MUST-)",
        "ike",
        N,
        _ike_alg("integrity", INTEG_SHA1, "MUST-, expected to be demoted"),
    ),
    Rule(
        "K09",
        "IKE encryption without integrity",
        SEV.HIGH,
        "RFC 8247 §3.3; RFC 7296 §3.3.2",
        "ike",
        N,
        _k09_no_integrity,
    ),
    Rule(
        "K10",
        "Diffie-Hellman group 1 (768-bit MODP)",
        SEV.CRITICAL,
        "RFC 8247 §3.4 (MUST NOT)",
        "ike",
        N,
        _ike_alg("dh_group", DH_768, "MUST NOT"),
    ),
    Rule(
        "K11",
        "Diffie-Hellman group 2 or 5 (1024/1536-bit MODP)",
        SEV.HIGH,
        "RFC 8247 §3.4 (SHOULD NOT)",
        "ike",
        N,
        _ike_alg("dh_group", DH_WEAK_MODP, "SHOULD NOT"),
    ),
    Rule(
        "K12",
        "Diffie-Hellman group 22 (1024-bit MODP, 160-bit subgroup)",
        SEV.HIGH,
        "RFC 8247 §3.4 (SHOULD NOT)",
        "ike",
        N,
        _ike_alg("dh_group", DH_22, "SHOULD NOT"),
    ),
    Rule("K15", "Weak transform offered", SEV.LOW, "RFC 8247 §3", "ike", N, _k15_weak_offered),
    Rule("V01", "IKEv1 in use", SEV.MEDIUM, "RFC 9395 §3 (IKEv1 deprecated)", "ike", H, _v01_ikev1),
    Rule(
        "V02",
        "IKEv1 Aggressive Mode with a pre-shared key",
        SEV.HIGH,
        "RFC 2409 §5.4; RFC 9395 §3",
        "ike",
        N,
        _v02_aggressive_psk,
    ),
    Rule("N01", "NAT detected", SEV.INFO, "RFC 7296 §2.23; RFC 3947 §3", "ike", H, _n01_nat),
    Rule(
        "A01",
        "ESP encryption DES",
        SEV.CRITICAL,
        "RFC 8221 §5 (MUST NOT)",
        "child",
        C,
        _child_alg("encryption", ESP_ENCR_DES, "MUST NOT"),
    ),
    Rule(
        "A02",
        "ESP encryption deprecated (RC5, IDEA, CAST, Blowfish, 3IDEA)",
        SEV.HIGH,
        "RFC 8221 §5; RFC 9395 §5",
        "child",
        C,
        _child_alg("encryption", ESP_ENCR_DEPRECATED, "deprecated"),
    ),
    Rule(
        "A03",
        "ESP encryption 3DES",
        SEV.MEDIUM,
        "RFC 8221 §5 (SHOULD NOT)",
        "child",
        C,
        _child_alg("encryption", ESP_ENCR_3DES, "SHOULD NOT"),
    ),
    Rule(
        "A05",
        "ESP with NULL encryption",
        SEV.HIGH,
        "RFC 8221 §5; RFC 2410 §1",
        "child",
        C,
        _a05_null,
    ),
    Rule(
        "A06",
        "ESP encryption without integrity",
        SEV.HIGH,
        "RFC 8221 §6 (AUTH_NONE only with AEAD)",
        "child",
        C,
        _a06_no_integrity,
    ),
    Rule(
        "A07",
        "ESP/AH integrity HMAC-MD5-96",
        SEV.HIGH,
        "RFC 8221 §6 (MUST NOT)",
        "child",
        C,
        _child_alg("integrity", INTEG_MD5, "MUST NOT"),
    ),
    Rule(
        "A08",
        "ESP/AH integrity HMAC-SHA1-96",
        SEV.LOW,
        "RFC 8221 §6 (MUST-)",
        "child",
        C,
        _child_alg("integrity", INTEG_SHA1, "MUST-, expected to be demoted"),
    ),
    Rule("A10", "AH without ESP", SEV.MEDIUM, "RFC 4302 §1; RFC 8221 §6", "child", T, _a10_ah_only),
    Rule(
        "K18",
        "Child SA without perfect forward secrecy",
        SEV.INFO,
        "RFC 7296 §1.3.1; RFC 2409 §5.5",
        "child",
        C,
        _pfs,
    ),
    Rule(
        "S01",
        "Explicit IV reuse on a counter-mode or AEAD SA",
        SEV.CRITICAL,
        "RFC 4106 §3.1; RFC 3686 §3.1",
        "child",
        T,
        _s01_iv_reuse,
    ),
    Rule(
        "S03",
        "Replayed sequence numbers",
        SEV.MEDIUM,
        "RFC 4303 §3.4.3",
        "child",
        T,
        _seq_rule("replayed", "replay_frames", "replayed sequence numbers"),
    ),
    Rule(
        "S04",
        "Sequence counter reset without a new SA",
        SEV.MEDIUM,
        "RFC 4303 §3.3.3",
        "child",
        T,
        _seq_rule("resets", "reset_frames", "counter resets"),
    ),
    Rule(
        "S05",
        "Sequence number wrap without ESN",
        SEV.HIGH,
        "RFC 4303 §3.3.3, §2.2.1",
        "child",
        T,
        _s05_wrap,
    ),
    Rule(
        "S06",
        "Lost packets or anti-replay window violations",
        SEV.INFO,
        "RFC 4303 §3.4.3",
        "child",
        T,
        _s06_loss,
    ),
    Rule(
        "S08",
        "ESP/AH SPI with no IKE exchange",
        SEV.INFO,
        "RFC 4301 §4.5 (manual keying)",
        "child",
        H,
        _s08_orphan,
    ),
    Rule("S09", "Integrity check failures", SEV.HIGH, "RFC 4303 §3.4.4", "child", T, _s09_icv),
    Rule(
        "S11",
        "ESP decrypted without an integrity check (no integrity key)",
        SEV.MEDIUM,
        "RFC 4303 §3.4.4; RFC 8221 §6 (encryption without integrity)",
        "child",
        T,
        _s11_unverified,
    ),
    Rule(
        "M01",
        "Per-packet overhead, inner MTU and TCP MSS",
        SEV.INFO,
        "RFC 4303 §2; RFC 4459 §2",
        "child",
        T,
        _m01_mtu,
    ),
    Rule(
        "M02",
        "Outer IP fragmentation of ESP/AH",
        SEV.LOW,
        "RFC 4459 §3; RFC 4301 §8",
        "child",
        T,
        _m02_fragments,
    ),
)

# Every built-in check reads no more than ike_facts / child_facts (tests/audit proves it).
RULES = tuple(replace(r, by_facts=True) for r in RULES)

RULES_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}
