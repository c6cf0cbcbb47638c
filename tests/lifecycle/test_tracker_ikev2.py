"""The tracker on hand-made IKEv2 exchanges, with and without the keys."""

from __future__ import annotations

from ipsec_inspect.lifecycle.events import SaClosed, SaOpened, StageEntered
from ipsec_inspect.lifecycle.model import Certainty, Reason, Stage
from ipsec_inspect.lifecycle.tracker import Tracker

from .builders import SPI_I, SPI_R, T0, A, B, esp, ike2
from .conftest import track
from .scenarios import (
    C1_I,
    C1_R,
    C2_I,
    C2_R,
    v2_auth_failed,
    v2_auth_failed_encrypted,
    v2_full,
    v2_init,
    v2_no_proposal,
)


def _only_ike(res):
    assert len(res.ike_sas) == 1
    return next(iter(res.ike_sas.values()))


def _child_with(res, spi):
    return next(c for c in res.child_sas.values() if any(d.spi == spi for d in c.directions))


def test_full_exchange_with_keys_places_every_stage():
    res = track(v2_full())
    sa = _only_ike(res)
    assert sa.uid == f"ike-{SPI_I.hex()}" and sa.spi_r == SPI_R
    assert (sa.initiator.addr, sa.responder.addr) == (A, B)
    assert sa.state == "CLOSED"
    st = sa.stages
    assert (st[Stage.HOST_RECOGNITION].start_frame, st[Stage.HOST_RECOGNITION].end_frame) == (1, 1)
    assert (st[Stage.NEGOTIATION].start_frame, st[Stage.NEGOTIATION].end_frame) == (1, 2)
    assert (st[Stage.CIRCUIT].start_frame, st[Stage.CIRCUIT].end_frame) == (3, 4)
    assert (st[Stage.TRANSMISSION].start_frame, st[Stage.TRANSMISSION].end_frame) == (5, 15)
    assert (st[Stage.TERMINATION].start_frame, st[Stage.TERMINATION].end_frame) == (16, 17)
    assert sa.termination.reason == Reason.DELETED and sa.termination.frame == 16
    assert sa.chosen == {
        "encryption": "ENCR_AES_CBC_256",
        "prf": "PRF_HMAC_SHA2_256",
        "integrity": "AUTH_HMAC_SHA2_256_128",
        "dh_group": "256-bit random ECP group",
    }
    assert len(sa.proposals_offered) == 2 and sa.proposals_offered[1]["encryption"] == ["ENCR_3DES"]
    assert sa.identities == {"initiator": "alice.example", "responder": "gw.example"}
    assert sa.nat_detected is False


def test_child_sas_paired_from_sa_payloads_and_rekey_linked_both_ways():
    res = track(v2_full())
    first, second = _child_with(res, C1_R), _child_with(res, C2_R)
    assert first.ike_sa == second.ike_sa == f"ike-{SPI_I.hex()}"
    out, back = first.direction(B, C1_R), first.direction(A, C1_I)
    assert (out.src, out.packets, out.seq.first, out.seq.last) == (A, 3, 1, 3)
    assert (back.src, back.packets) == (B, 2)
    assert first.certainty["pairing"] == Certainty.OBSERVED
    assert first.chosen == {
        "encryption": "ENCR_AES_GCM_16_256",
        "integrity": None,
        "esn": False,
        "dh_group": None,
    }
    assert first.traffic_selectors == {"initiator": ["10.1.0.0/24"], "responder": ["10.2.0.0/24"]}
    assert first.mode == "tunnel"
    assert first.rekeyed_to == second.uid and second.rekeyed_from == first.uid
    assert first.termination.reason == Reason.REKEYED and first.termination.frame == 14
    assert second.pfs is True and second.chosen["dh_group"] == "256-bit random ECP group"
    # the IKE SA's Delete takes its remaining child with it
    assert second.termination.reason == Reason.DELETED and second.termination.frame == 16
    assert (
        first.stages[Stage.TRANSMISSION].start_frame,
        first.stages[Stage.TRANSMISSION].end_frame,
    ) == (5, 9)


def test_without_keys_stages_come_from_exchanges_and_details_are_marked():
    res = track(v2_full(decrypted=False), end=T0 + 60)
    sa = _only_ike(res)
    assert sa.stages[Stage.CIRCUIT].start_frame == 3 and sa.state == "ESTABLISHED"
    assert sa.termination.reason == Reason.DELETED
    assert sa.termination.certainty == Certainty.INFERRED and sa.termination.frame == 16
    first, second = _child_with(res, C1_R), _child_with(res, C2_R)
    assert {d.spi for d in first.directions} == {C1_R, C1_I}
    assert {d.spi for d in second.directions} == {C2_R, C2_I}
    assert first.certainty["chosen"] == Certainty.ENCRYPTED
    assert (
        first.certainty["spis"] == Certainty.INFERRED
        and first.certainty["pairing"] == Certainty.INFERRED
    )
    assert first.rekeyed_to == second.uid and second.certainty["rekey"] == Certainty.INFERRED
    assert first.termination.reason == Reason.REKEYED
    assert first.chosen == {}


def test_no_proposal_chosen_fails_in_negotiation_with_the_notify():
    res = track(v2_no_proposal())
    sa = _only_ike(res)
    t = sa.termination
    assert (t.reason, t.stage, t.notify, t.frame) == (
        Reason.FAILED,
        Stage.NEGOTIATION,
        "NO_PROPOSAL_CHOSEN",
        2,
    )
    assert sa.stages[Stage.TERMINATION].start_frame == 2
    assert not res.child_sas


def test_authentication_failed_fails_in_circuit_and_takes_the_child():
    res = track(v2_auth_failed())
    sa = _only_ike(res)
    t = sa.termination
    assert (t.reason, t.stage, t.notify, t.frame) == (
        Reason.FAILED,
        Stage.CIRCUIT,
        "AUTHENTICATION_FAILED",
        4,
    )
    (child,) = res.child_sas.values()
    assert (
        child.termination.reason == Reason.FAILED
        and child.termination.notify == "AUTHENTICATION_FAILED"
    )


def test_too_short_encrypted_auth_response_is_an_inferred_failure():
    # AES-CBC-256 / HMAC-SHA2-256-128 / PRF-HMAC-SHA2-256: IDr + AUTH need at least
    # 28 + 4 + 16 (IV) + 64 (9 + 8 + 32 + 1 padded to 16) + 16 (ICV) = 128 bytes.
    res = track(v2_auth_failed_encrypted(112))
    t = _only_ike(res).termination
    assert (t.reason, t.stage, t.notify, t.frame, t.certainty) == (
        Reason.FAILED,
        Stage.CIRCUIT,
        None,
        4,
        Certainty.INFERRED,
    )
    assert "112 bytes" in t.detail and "at least 128 bytes" in t.detail
    ok = _only_ike(track(v2_auth_failed_encrypted(128), end=T0 + 10))
    assert ok.state == "ESTABLISHED" and ok.termination.reason != Reason.FAILED


def test_unanswered_init_fails_for_lack_of_response():
    res = track(v2_init()[:1])
    t = _only_ike(res).termination
    assert (t.reason, t.stage, t.notify, t.detail) == (
        Reason.FAILED,
        Stage.NEGOTIATION,
        None,
        "no response to the first message",
    )


def test_nat_detected_from_mismatching_hash():
    res = track(v2_init(nat=True))
    sa = _only_ike(res)
    assert sa.nat_detected is True and sa.nat_frames == [1]


def test_esp_without_ike_forms_its_own_child_sa():
    res = track([esp(1, 0x1000, 1), esp(2, 0x2000, 1, src=B, dst=A), esp(3, 0x1000, 2)])
    (child,) = res.child_sas.values()
    assert child.ike_sa is None and child.observed_from_start is False
    assert [(d.spi, d.packets) for d in child.directions] == [(0x1000, 2), (0x2000, 1)]
    assert child.certainty["pairing"] == Certainty.INFERRED
    assert child.termination.reason == Reason.STILL_ACTIVE


def test_same_spi_towards_two_destinations_is_two_sas_not_a_replay():
    res = track(
        [
            esp(1, 0x1000, 1),
            esp(2, 0x1000, 1, src="192.0.2.7", dst="203.0.113.5"),
            esp(3, 0x1000, 2),
        ]
    )
    dirs = [d for c in res.child_sas.values() for d in c.directions]
    assert len(dirs) == 2
    assert all(d.seq.replayed == 0 for d in dirs)


def test_idle_child_sa_ends_idle_at_its_last_packet():
    res = track([esp(1, 0x1000, 1), esp(2, 0x1000, 2)], end=T0 + 2 + 301)
    (child,) = res.child_sas.values()
    assert (child.termination.reason, child.termination.frame) == (Reason.IDLE, 2)
    res = track([esp(1, 0x1000, 1), esp(2, 0x1000, 2)], end=T0 + 2 + 299)
    assert next(iter(res.child_sas.values())).termination.reason == Reason.STILL_ACTIVE


def test_feed_emits_events_as_they_happen():
    t = Tracker()
    first = t.feed(v2_init()[0])
    assert isinstance(first[0], SaOpened) and first[0].observed_from_start
    assert any(isinstance(e, StageEntered) and e.stage == Stage.NEGOTIATION for e in first)
    closing = t.finish()
    assert [type(e) for e in closing] == [SaClosed]


def test_midlife_ike_sa_is_marked_not_observed_from_start():
    msg = ike2(1, 37, response=False, from_initiator=False, mid=9)
    res = track([msg])
    sa = _only_ike(res)
    assert sa.observed_from_start is False and sa.state == "ESTABLISHED"
    assert (sa.initiator.addr, sa.responder.addr) == (A, B)


def test_unexpected_message_is_a_named_error_not_an_exception():
    recs = v2_init()
    recs.append(
        ike2(3, 36, response=False, from_initiator=True, mid=1)
    )  # CREATE_CHILD_SA before IKE_AUTH
    res = track(recs)
    assert [e.kind for e in res.errors] == ["ike.unexpected"]
    assert "CHILD_REQ is not expected in state INIT_DONE" in res.errors[0].message
