"""Every audit rule: one set of records that trips it and one that does not."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ipsec_inspect.audit.findings import Outcome
from ipsec_inspect.audit.rules import RULES
from ipsec_inspect.core.records import AhPacket, EspDecryption, Record
from tests.lifecycle.builders import (
    A,
    B,
    KeBody,
    NonceBody,
    SaBody,
    esp,
    ike2,
    ok,
    pl,
    ts_pair,
    v2_child_proposal,
    v2_ike_proposal,
)
from tests.lifecycle.conftest import track
from tests.lifecycle.scenarios import v1_aggressive_psk, v1_main, v2_full, v2_init

CI, CR = 0xC0000001, 0xD0000001


def v2(
    ike: dict | None = None,
    offers: list | None = None,
    child: dict | None = None,
    traffic: list[Record] | None = None,
    nat: bool = False,
) -> list[Record]:
    """IKE_SA_INIT (clear) + IKE_AUTH (decrypted) with the given suites, then ``traffic``."""
    init = v2_init(nat=nat)
    if offers is not None:
        init[0].payloads[0] = pl(33, SaBody(offers), "SA")
    if ike is not None:
        init[1].payloads[0] = pl(33, SaBody([v2_ike_proposal(**ike)]), "SA")
    c = child or {}
    recs = [
        *init,
        ike2(
            3,
            35,
            response=False,
            from_initiator=True,
            mid=1,
            decrypted=[pl(33, SaBody([v2_child_proposal(CI, **c)]), "SA"), *ts_pair()],
        ),
        ike2(
            4,
            35,
            response=True,
            from_initiator=False,
            mid=1,
            decrypted=[pl(33, SaBody([v2_child_proposal(CR, **c)]), "SA"), *ts_pair()],
        ),
    ]
    return recs + list(traffic or [esp(5, CR, 1), esp(6, CI, 1, src=B, dst=A)])


def seqs(*numbers: int) -> list[Record]:
    return [esp(5 + n, CR, s) for n, s in enumerate(numbers)]


def ivs(*values: bytes) -> list[Record]:
    return [esp(5 + n, CR, n + 1, decryption=ok(b"E" * 60, iv=v)) for n, v in enumerate(values)]


def cbc_ivs(*values: bytes) -> list[Record]:
    """CBC IVs: random per packet; a repeat is not the counter-mode nonce reuse S01 is about."""
    return [
        esp(5 + n, CR, n + 1, decryption=ok(b"E" * 60, iv=v, counter_iv=False))
        for n, v in enumerate(values)
    ]


def test_cbc_iv_repeat_is_not_counter_nonce_reuse() -> None:
    res = track(v2(traffic=cbc_ivs(b"a" * 16, b"a" * 16)))
    assert not [f for f in res.findings if f.rule == "S01" and f.outcome == Outcome.FAIL]


def ah_only() -> list[Record]:
    from tests.lifecycle.builders import meta

    return [AhPacket(meta(1, port=0), b"", 0, 50, 4, 0x500, 1, b"i" * 12, 0, 24)]


def with_rekey_ke(ke: bool) -> list[Record]:
    recs = v2_full()
    for r in recs:
        if r.meta.frame in (10, 11) and r.decrypted is not None and not ke:
            r.decrypted = [p for p in r.decrypted if not isinstance(p.body, KeBody)]
    return recs


def mtu(size: int) -> list[Record]:
    return [
        esp(5, CR, 1, decryption=ok(b"\x45" + b"x" * (size - 1)), wire_len=size + 73),
        esp(6, CR, 2, decryption=ok(b"\x45" + b"x" * 99), wire_len=100 + 73),
    ]


CASES: dict[str, tuple[Callable[[], list[Record]], Callable[[], list[Record]]]] = {
    "K01": (lambda: v2(ike={"encr": 2, "bits": None}), v2),
    "K02": (lambda: v2(ike={"encr": 7, "bits": 128}), v2),
    "K03": (lambda: v2(ike={"encr": 3, "bits": None}), v2),
    "K04": (
        lambda: v2(offers=[v2_ike_proposal(encr=11, bits=None)]),
        lambda: v2(offers=[v2_ike_proposal()]),
    ),
    "K05": (lambda: v2(ike={"prf": 1}), v2),
    "K06": (lambda: v2(ike={"prf": 2}), v2),
    "K07": (lambda: v2(ike={"integ": 1}), v2),
    "K08": (lambda: v2(ike={"integ": 2}), v2),
    "K09": (lambda: v2(ike={"integ": None}), lambda: v2(ike={"encr": 20, "integ": None})),
    "K10": (lambda: v2(ike={"dh": 1}), v2),
    "K11": (lambda: v2(ike={"dh": 5}), v2),
    "K12": (lambda: v2(ike={"dh": 22}), v2),
    "K15": (v2, lambda: v2(offers=[v2_ike_proposal()])),
    "V01": (lambda: v1_main(), v2),
    "V02": (v1_aggressive_psk, lambda: v1_main()),
    "N01": (lambda: v2(nat=True), v2),
    "A01": (lambda: v2(child={"encr": 2, "bits": None, "integ": 12}), v2),
    "A02": (lambda: v2(child={"encr": 7, "bits": 128, "integ": 12}), v2),
    "A03": (lambda: v2(child={"encr": 3, "bits": None, "integ": 12}), v2),
    "A05": (lambda: v2(child={"encr": 11, "bits": None, "integ": 12}), v2),
    "A06": (
        lambda: v2(child={"encr": 12, "bits": 128}),
        lambda: v2(child={"encr": 12, "bits": 128, "integ": 12}),
    ),
    "A07": (lambda: v2(child={"encr": 12, "bits": 128, "integ": 1}), v2),
    "A08": (lambda: v2(child={"encr": 12, "bits": 128, "integ": 2}), v2),
    "A10": (ah_only, v2),
    "K18": (lambda: with_rekey_ke(False), lambda: with_rekey_ke(True)),
    "S01": (
        lambda: v2(traffic=ivs(b"a" * 8, b"b" * 8, b"a" * 8)),
        lambda: v2(traffic=ivs(b"a" * 8, b"b" * 8)),
    ),
    "S03": (lambda: v2(traffic=seqs(1, 2, 2)), lambda: v2(traffic=seqs(1, 2, 3))),
    "S04": (lambda: v2(traffic=seqs(*range(1, 100), 1)), lambda: v2(traffic=seqs(*range(1, 101)))),
    "S05": (lambda: v2(traffic=seqs(0xFFFFFFFE, 0xFFFFFFFF)), lambda: v2(traffic=seqs(1, 2))),
    "S06": (lambda: v2(traffic=seqs(1, 5)), lambda: v2(traffic=seqs(1, 2))),
    "S08": (lambda: [esp(1, 0x9000, 1)], v2),
    "S09": (
        lambda: v2(traffic=[esp(5, CR, 1, decryption=ok(b"", status="icv-failed"))]),
        lambda: v2(traffic=[esp(5, CR, 1, decryption=ok(b"\x45" * 40))]),
    ),
    "S11": (
        lambda: v2(traffic=[esp(5, CR, 1, decryption=unverified(b"\x45" * 40))]),
        lambda: v2(traffic=[esp(5, CR, 1, decryption=ok(b"\x45" * 40))]),
    ),
    "M01": (lambda: v2(traffic=mtu(1450)), lambda: v2(traffic=mtu(1400))),
    "M02": (lambda: v2(traffic=[esp(5, CR, 1, fragmented=True)]), v2),
}


def unverified(plaintext: bytes) -> EspDecryption:
    """A good decryption by keys with no integrity key (ICV not checked)."""
    result = ok(plaintext)
    result.verified = False
    return result


def test_unverified_packets_are_a_finding_and_never_count_as_verified():
    res = track(v2(traffic=[esp(5, CR, 1, decryption=unverified(b"\x45" * 40))]))
    (d,) = [d for c in res.child_sas.values() for d in c.directions if d.packets]
    assert (d.decrypted_verified, d.decrypted_unverified, d.integrity_checked) == (0, 1, False)
    (f,) = [f for f in res.findings if f.rule == "S11"]
    assert f.outcome is Outcome.FAIL and f.frames == [5]
    assert "no integrity key" in f.detail and f.reference.startswith("RFC 4303 §3.4.4")
    (s09,) = [f for f in res.findings if f.rule == "S09"]
    assert s09.outcome is Outcome.NOT_OBSERVABLE  # nothing was verified: not a "pass"


def test_every_rule_has_a_case():
    assert sorted(CASES) == sorted(r.id for r in RULES)


def outcomes(records: list[Record], rule: str) -> list[Outcome]:
    return [f.outcome for f in track(records).findings if f.rule == rule]


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fails_on_trigger(rule):
    got = outcomes(CASES[rule][0](), rule)
    assert Outcome.FAIL in got, got


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_does_not_fail_without_trigger(rule):
    got = outcomes(CASES[rule][1](), rule)
    assert got and Outcome.FAIL not in got and Outcome.PASS in got, got


def test_failures_carry_evidence_frames_and_references():
    (f,) = [f for f in track(v2(traffic=seqs(1, 2, 2))).findings if f.rule == "S03"]
    assert f.frames == [7] and f.reference == "RFC 4303 §3.4.3" and f.values == {"count": 1}
    (f,) = [f for f in track(v2(ike={"dh": 1})).findings if f.rule == "K10"]
    assert f.frames == [2] and f.severity.value == "critical" and "768-bit" in f.detail


def test_encrypted_child_is_not_observable_never_pass():
    res = track(v2_full(decrypted=False))
    for rule in ("A01", "A05", "A06", "S09", "K18", "M01"):
        got = {f.outcome for f in res.findings if f.rule == rule}
        assert got == {Outcome.NOT_OBSERVABLE} or (
            rule == "K18" and Outcome.PASS in got and Outcome.FAIL not in got
        ), (rule, got)


def test_mtu_values_measured_from_decrypted_packets():
    (f,) = [f for f in track(v2(traffic=mtu(1400))).findings if f.rule == "M01"]
    assert f.values == {"overhead": 73, "inner_mtu": 1427, "tcp_mss": 1387, "largest_inner": 1400}


def test_nonce_only_child_without_sa_payload_is_handled():
    recs = v2()
    recs[3].decrypted = [pl(40, NonceBody(b"n"), "N")]
    res = track(recs)
    assert not res.errors
