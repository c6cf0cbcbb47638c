"""Classification on its own: message -> trigger, with no SA and no tracker."""

from __future__ import annotations

import pytest

from ipsec_inspect.core.records import DeleteBody, KeBody, Proposal, SaBody
from ipsec_inspect.lifecycle.classify import (
    DEFAULT_READERS,
    READERS,
    Context,
    auth_response_too_short,
    classify,
)
from ipsec_inspect.lifecycle.model import Certainty
from ipsec_inspect.lifecycle.transitions import Trigger

from .builders import ike1, ike2, notify, pl, v1_p1_transform, v2_ike_proposal

AES_GCM_16 = {"encryption": 20, "prf": 5}


def test_ikev2_init_request_response_retry_and_refusal() -> None:
    req = ike2(1, 34, response=False, from_initiator=True, mid=0)
    got = classify(req, Context())
    assert (got.trigger, got.text, got.certainty) == (
        Trigger.INIT_REQ,
        "IKE_SA_INIT request",
        Certainty.OBSERVED,
    )
    resp = ike2(2, 34, response=True, from_initiator=False, mid=0)
    assert classify(resp, Context()).trigger == Trigger.INIT_RESP
    cookie = ike2(2, 34, response=True, from_initiator=False, mid=0, payloads=[notify(16390)])
    got = classify(cookie, Context())
    assert got.trigger == Trigger.INIT_RETRY
    assert got.text == "Responder asks the initiator to retry: COOKIE"
    refused = ike2(2, 34, response=True, from_initiator=False, mid=0, payloads=[notify(14)])
    got = classify(refused, Context())
    assert (got.trigger, got.text) == (
        Trigger.INIT_ERROR,
        "Responder refuses: NO_PROPOSAL_CHOSEN",
    )


def test_ikev2_encrypted_auth_response_inferred_from_its_size() -> None:
    short = ike2(4, 35, response=True, from_initiator=False, mid=1, length=80)
    got = classify(short, Context(decrypted=False, chosen_ids=AES_GCM_16))
    assert got.trigger == Trigger.AUTH_ERROR
    assert got.certainty == Certainty.INFERRED
    assert "80 bytes is too short" in got.text
    long = ike2(4, 35, response=True, from_initiator=False, mid=1, length=300)
    got = classify(long, Context(decrypted=False, chosen_ids=AES_GCM_16))
    assert (got.trigger, got.text) == (
        Trigger.AUTH_RESP,
        "IKE_AUTH response: IKE SA established (contents encrypted)",
    )
    # AES-GCM-16 with PRF_HMAC_SHA2_256: 28 + 4 + 8 + ceil((9 + 8 + 32 + 1) / 1) + 16 = 106
    assert auth_response_too_short(AES_GCM_16, 105) is not None
    assert auth_response_too_short(AES_GCM_16, 106) is None


def test_ikev2_delete_of_the_ike_sa_and_its_answer() -> None:
    delete = [pl(42, DeleteBody(1, 0, []))]
    req = ike2(9, 37, response=False, from_initiator=True, mid=5, decrypted=delete)
    assert classify(req, Context(decrypted=True)).trigger == Trigger.DELETE_REQ
    resp = ike2(10, 37, response=True, from_initiator=False, mid=5, decrypted=[])
    assert classify(resp, Context(decrypted=True, deletes_ike=True)).trigger == Trigger.DELETE_RESP
    got = classify(resp, Context(decrypted=True))
    assert (got.trigger, got.text) == (Trigger.INFO_RESP, "INFORMATIONAL response (liveness check)")


def test_ikev1_main_mode_messages_by_side() -> None:
    sa = [pl(1, SaBody([Proposal(1, 1, b"", [v1_p1_transform()])]))]
    ke = [pl(4, KeBody(14, b"\x01" * 8))]
    cases = [
        (sa, False, True, Trigger.MM1, "Main Mode message 1 (initiator)"),
        (sa, False, False, Trigger.MM2, "Main Mode message 2 (responder)"),
        (ke, False, True, Trigger.MM3, "Main Mode message 3 (initiator)"),
        (ke, False, False, Trigger.MM4, "Main Mode message 4 (responder)"),
        ([], True, True, Trigger.MM5, "Main Mode message 5 (initiator)"),
        ([], True, False, Trigger.MM6, "Main Mode message 6 (responder)"),
    ]
    for payloads, encrypted, init, trigger, text in cases:
        msg = ike1(1, 2, from_initiator=init, payloads=payloads, encrypted=encrypted)
        got = classify(msg, Context(from_initiator=init))
        assert (got.trigger, got.text) == (trigger, text)
    hidden = classify(ike1(1, 2, from_initiator=True, encrypted=True), Context())
    assert hidden.certainty == Certainty.INFERRED


@pytest.mark.parametrize(
    ("exchange", "trigger"), [(32, Trigger.QM), (5, Trigger.V1_INFO), (99, Trigger.V1_INFO)]
)
def test_ikev1_other_exchanges(exchange: int, trigger: Trigger) -> None:
    assert classify(ike1(1, exchange, from_initiator=True), Context()).trigger == trigger


def test_every_reader_is_pure() -> None:
    """Classifying twice gives the same answer and leaves the message as it was."""
    msg = ike2(
        1,
        34,
        response=False,
        from_initiator=True,
        mid=0,
        payloads=[pl(33, SaBody([v2_ike_proposal()]))],
    )
    before = repr(msg)
    assert classify(msg, Context()) == classify(msg, Context())
    assert repr(msg) == before
    assert set(DEFAULT_READERS) == {1, 2}
    assert {v for v, _ in READERS} == {1, 2}
