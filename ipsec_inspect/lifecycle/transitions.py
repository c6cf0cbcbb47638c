"""The IKE SA state machine as a table (in the manner of h11).

Why a table: every way an IKE SA can move is one named row — the state it is in, what
arrived (the trigger), the state it goes to, and the stage the arriving frame belongs to.
Reading the table is reading the protocol; a message that fits no row is a named
:class:`IllegalTransition`, recorded as an error on the result rather than silently
ignored. ``docs/architecture.md`` has the diagram.

States follow strongSwan's IKE_SA states where a passive observer can see them
(``../shared/reference/peers.md`` §9): CONNECTING is split into the message steps we can
tell apart on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ipsec_inspect.lifecycle.model import Stage


class IkeState(StrEnum):
    START = "START"  # object made, nothing applied yet (or first seen mid-life)
    INIT_SENT = "INIT_SENT"  # IKE_SA_INIT request / Main or Aggressive Mode message 1
    INIT_DONE = "INIT_DONE"  # IKE_SA_INIT response / Main Mode message 2
    MM_KE_SENT = "MM_KE_SENT"  # Main Mode message 3
    MM_KE_DONE = "MM_KE_DONE"  # Main Mode message 4
    AM_REPLIED = "AM_REPLIED"  # Aggressive Mode message 2
    AUTH_SENT = "AUTH_SENT"  # IKE_AUTH request / Main Mode message 5
    ESTABLISHED = "ESTABLISHED"
    DELETING = "DELETING"  # Delete request seen (IKEv2), waiting for the answer
    CLOSED = "CLOSED"
    FAILED = "FAILED"


class Trigger(StrEnum):
    # IKEv2
    INIT_REQ = "INIT_REQ"
    INIT_RETRY = "INIT_RETRY"  # response with COOKIE or INVALID_KE_PAYLOAD
    INIT_RESP = "INIT_RESP"
    INIT_ERROR = "INIT_ERROR"  # response with an error notify (NO_PROPOSAL_CHOSEN, ...)
    INTERMEDIATE_REQ = "INTERMEDIATE_REQ"
    INTERMEDIATE_RESP = "INTERMEDIATE_RESP"
    AUTH_REQ = "AUTH_REQ"
    AUTH_RESP = "AUTH_RESP"
    AUTH_ERROR = "AUTH_ERROR"  # decrypted AUTHENTICATION_FAILED (or another fatal notify)
    CHILD_REQ = "CHILD_REQ"
    CHILD_RESP = "CHILD_RESP"
    INFO_REQ = "INFO_REQ"
    INFO_RESP = "INFO_RESP"
    DELETE_REQ = "DELETE_REQ"  # decrypted Delete of the IKE SA itself
    DELETE_RESP = "DELETE_RESP"
    # IKEv1
    MM1 = "MM1"
    MM2 = "MM2"
    MM3 = "MM3"
    MM4 = "MM4"
    MM5 = "MM5"
    MM6 = "MM6"
    AM1 = "AM1"
    AM2 = "AM2"
    AM3 = "AM3"
    QM = "QM"
    V1_INFO = "V1_INFO"
    V1_TRANSACTION = "V1_TRANSACTION"  # Transaction exchange: XAUTH, Mode Config
    V1_ERROR = "V1_ERROR"  # cleartext or decrypted error notify
    V1_DELETE = "V1_DELETE"  # decrypted Delete of the ISAKMP SA


@dataclass(frozen=True, slots=True)
class Transition:
    """One IKE SA state transition: from a state, on a trigger, to a state."""

    name: str
    source: IkeState
    trigger: Trigger
    target: IkeState
    stage: Stage


class IllegalTransition(ValueError):
    """A message arrived that no row allows in the SA's current state."""

    def __init__(self, state: IkeState, trigger: Trigger) -> None:
        super().__init__(f"{trigger.value} is not expected in state {state.value}")
        self.state = state
        self.trigger = trigger


S, T = IkeState, Trigger
NEG, CIR, TRA, TER = Stage.NEGOTIATION, Stage.CIRCUIT, Stage.TRANSMISSION, Stage.TERMINATION

TRANSITIONS: tuple[Transition, ...] = (
    # ---- IKEv2 IKE_SA_INIT (negotiation)
    Transition("init_requested", S.START, T.INIT_REQ, S.INIT_SENT, NEG),
    Transition("init_retransmitted", S.INIT_SENT, T.INIT_REQ, S.INIT_SENT, NEG),
    Transition("init_retry_requested", S.INIT_SENT, T.INIT_RETRY, S.INIT_SENT, NEG),
    Transition("init_answered", S.INIT_SENT, T.INIT_RESP, S.INIT_DONE, NEG),
    Transition("init_answered_midlife", S.START, T.INIT_RESP, S.INIT_DONE, NEG),
    Transition("init_response_repeated", S.INIT_DONE, T.INIT_RESP, S.INIT_DONE, NEG),
    Transition("init_request_repeated", S.INIT_DONE, T.INIT_REQ, S.INIT_DONE, NEG),
    Transition("init_rejected", S.INIT_SENT, T.INIT_ERROR, S.FAILED, NEG),
    Transition("init_rejected_midlife", S.START, T.INIT_ERROR, S.FAILED, NEG),
    Transition("init_retransmitted_after_failure", S.FAILED, T.INIT_REQ, S.FAILED, NEG),
    Transition("rejection_repeated", S.FAILED, T.INIT_ERROR, S.FAILED, NEG),
    Transition("intermediate_requested", S.INIT_DONE, T.INTERMEDIATE_REQ, S.INIT_DONE, NEG),
    Transition("intermediate_answered", S.INIT_DONE, T.INTERMEDIATE_RESP, S.INIT_DONE, NEG),
    # ---- IKEv2 IKE_AUTH (circuit)
    Transition("auth_requested", S.INIT_DONE, T.AUTH_REQ, S.AUTH_SENT, CIR),
    Transition("auth_requested_midlife", S.START, T.AUTH_REQ, S.AUTH_SENT, CIR),
    Transition("auth_retransmitted", S.AUTH_SENT, T.AUTH_REQ, S.AUTH_SENT, CIR),
    Transition("auth_completed", S.AUTH_SENT, T.AUTH_RESP, S.ESTABLISHED, CIR),
    Transition("auth_completed_midlife", S.START, T.AUTH_RESP, S.ESTABLISHED, CIR),
    Transition("auth_response_repeated", S.ESTABLISHED, T.AUTH_RESP, S.ESTABLISHED, CIR),
    Transition("auth_round_continued", S.ESTABLISHED, T.AUTH_REQ, S.AUTH_SENT, CIR),
    Transition("auth_failed", S.AUTH_SENT, T.AUTH_ERROR, S.FAILED, CIR),
    Transition("auth_failed_midlife", S.START, T.AUTH_ERROR, S.FAILED, CIR),
    Transition("auth_failure_repeated", S.FAILED, T.AUTH_ERROR, S.FAILED, CIR),
    Transition("auth_retransmitted_after_failure", S.FAILED, T.AUTH_REQ, S.FAILED, CIR),
    # ---- IKEv2 life of an established SA (transmission)
    Transition("child_requested", S.ESTABLISHED, T.CHILD_REQ, S.ESTABLISHED, TRA),
    Transition("child_answered", S.ESTABLISHED, T.CHILD_RESP, S.ESTABLISHED, TRA),
    Transition("info_requested", S.ESTABLISHED, T.INFO_REQ, S.ESTABLISHED, TRA),
    Transition("info_answered", S.ESTABLISHED, T.INFO_RESP, S.ESTABLISHED, TRA),
    Transition("midlife_child_requested", S.START, T.CHILD_REQ, S.ESTABLISHED, TRA),
    Transition("midlife_child_answered", S.START, T.CHILD_RESP, S.ESTABLISHED, TRA),
    Transition("midlife_info_requested", S.START, T.INFO_REQ, S.ESTABLISHED, TRA),
    Transition("midlife_info_answered", S.START, T.INFO_RESP, S.ESTABLISHED, TRA),
    Transition("info_during_auth", S.AUTH_SENT, T.INFO_REQ, S.AUTH_SENT, CIR),
    Transition("info_answered_during_auth", S.AUTH_SENT, T.INFO_RESP, S.AUTH_SENT, CIR),
    # ---- IKEv2 deletion (termination)
    Transition("delete_requested", S.ESTABLISHED, T.DELETE_REQ, S.DELETING, TER),
    Transition("delete_requested_midlife", S.START, T.DELETE_REQ, S.DELETING, TER),
    Transition("delete_retransmitted", S.DELETING, T.DELETE_REQ, S.DELETING, TER),
    Transition("delete_acknowledged", S.DELETING, T.DELETE_RESP, S.CLOSED, TER),
    Transition("delete_acknowledged_midlife", S.START, T.DELETE_RESP, S.CLOSED, TER),
    Transition("delete_ack_repeated", S.CLOSED, T.DELETE_RESP, S.CLOSED, TER),
    Transition("info_while_deleting", S.DELETING, T.INFO_REQ, S.DELETING, TER),
    Transition("info_answered_while_deleting", S.DELETING, T.INFO_RESP, S.DELETING, TER),
    Transition("delete_after_auth_failure", S.FAILED, T.DELETE_REQ, S.FAILED, TER),
    Transition("info_after_failure", S.FAILED, T.INFO_REQ, S.FAILED, TER),
    Transition("info_answered_after_failure", S.FAILED, T.INFO_RESP, S.FAILED, TER),
    # ---- IKEv1 Main Mode
    Transition("mm1_sent", S.START, T.MM1, S.INIT_SENT, NEG),
    Transition("mm1_retransmitted", S.INIT_SENT, T.MM1, S.INIT_SENT, NEG),
    Transition("mm1_retransmitted_after_failure", S.FAILED, T.MM1, S.FAILED, NEG),
    Transition("mm2_answered", S.INIT_SENT, T.MM2, S.INIT_DONE, NEG),
    Transition("mm2_answered_midlife", S.START, T.MM2, S.INIT_DONE, NEG),
    Transition("mm2_repeated", S.INIT_DONE, T.MM2, S.INIT_DONE, NEG),
    Transition("mm3_sent", S.INIT_DONE, T.MM3, S.MM_KE_SENT, NEG),
    Transition("mm3_sent_midlife", S.START, T.MM3, S.MM_KE_SENT, NEG),
    Transition("mm3_retransmitted", S.MM_KE_SENT, T.MM3, S.MM_KE_SENT, NEG),
    Transition("mm4_answered", S.MM_KE_SENT, T.MM4, S.MM_KE_DONE, NEG),
    Transition("mm4_answered_midlife", S.START, T.MM4, S.MM_KE_DONE, NEG),
    Transition("mm4_repeated", S.MM_KE_DONE, T.MM4, S.MM_KE_DONE, NEG),
    Transition("mm5_sent", S.MM_KE_DONE, T.MM5, S.AUTH_SENT, CIR),
    Transition("mm5_retransmitted", S.AUTH_SENT, T.MM5, S.AUTH_SENT, CIR),
    Transition("mm6_answered", S.AUTH_SENT, T.MM6, S.ESTABLISHED, CIR),
    Transition("mm6_repeated", S.ESTABLISHED, T.MM6, S.ESTABLISHED, CIR),
    Transition("mm5_repeated_after_mm6", S.ESTABLISHED, T.MM5, S.ESTABLISHED, CIR),
    # ---- IKEv1 Aggressive Mode
    Transition("am1_sent", S.START, T.AM1, S.INIT_SENT, NEG),
    Transition("am1_retransmitted", S.INIT_SENT, T.AM1, S.INIT_SENT, NEG),
    Transition("am2_answered", S.INIT_SENT, T.AM2, S.AM_REPLIED, NEG),
    Transition("am2_answered_midlife", S.START, T.AM2, S.AM_REPLIED, NEG),
    Transition("am2_repeated", S.AM_REPLIED, T.AM2, S.AM_REPLIED, NEG),
    Transition("am3_sent", S.AM_REPLIED, T.AM3, S.ESTABLISHED, CIR),
    Transition("am3_repeated", S.ESTABLISHED, T.AM3, S.ESTABLISHED, CIR),
    # ---- IKEv1 after phase 1
    Transition("quick_mode", S.ESTABLISHED, T.QM, S.ESTABLISHED, TRA),
    Transition("quick_mode_implies_established", S.AUTH_SENT, T.QM, S.ESTABLISHED, TRA),
    Transition("quick_mode_after_am2", S.AM_REPLIED, T.QM, S.ESTABLISHED, TRA),
    Transition("midlife_quick_mode", S.START, T.QM, S.ESTABLISHED, TRA),
    Transition("v1_informational", S.ESTABLISHED, T.V1_INFO, S.ESTABLISHED, TRA),
    # XAUTH and Mode Config (draft-beaulieu-ike-xauth, draft-dukes-ike-mode-cfg) follow
    # phase 1 but authenticate the user and configure the client: the circuit stage
    Transition("v1_transaction", S.ESTABLISHED, T.V1_TRANSACTION, S.ESTABLISHED, CIR),
    Transition("midlife_v1_transaction", S.START, T.V1_TRANSACTION, S.ESTABLISHED, CIR),
    Transition("v1_transaction_during_auth", S.AUTH_SENT, T.V1_TRANSACTION, S.AUTH_SENT, CIR),
    Transition("v1_transaction_after_am2", S.AM_REPLIED, T.V1_TRANSACTION, S.AM_REPLIED, CIR),
    Transition("v1_transaction_after_failure", S.FAILED, T.V1_TRANSACTION, S.FAILED, TER),
    Transition("v1_transaction_after_delete", S.CLOSED, T.V1_TRANSACTION, S.CLOSED, TER),
    Transition("midlife_v1_informational", S.START, T.V1_INFO, S.ESTABLISHED, TRA),
    Transition("v1_informational_after_mm1", S.INIT_SENT, T.V1_INFO, S.INIT_SENT, NEG),
    Transition("v1_informational_after_mm2", S.INIT_DONE, T.V1_INFO, S.INIT_DONE, NEG),
    Transition("v1_informational_after_mm3", S.MM_KE_SENT, T.V1_INFO, S.MM_KE_SENT, NEG),
    Transition("v1_informational_after_mm4", S.MM_KE_DONE, T.V1_INFO, S.MM_KE_DONE, NEG),
    Transition("v1_informational_during_auth", S.AUTH_SENT, T.V1_INFO, S.AUTH_SENT, CIR),
    Transition("v1_informational_after_am2", S.AM_REPLIED, T.V1_INFO, S.AM_REPLIED, CIR),
    Transition("v1_error_notified", S.ESTABLISHED, T.V1_ERROR, S.ESTABLISHED, TRA),
    Transition("v1_rejected_at_mm1", S.INIT_SENT, T.V1_ERROR, S.FAILED, NEG),
    Transition("v1_rejected_midlife", S.START, T.V1_ERROR, S.FAILED, NEG),
    Transition("v1_rejected_at_mm2", S.INIT_DONE, T.V1_ERROR, S.FAILED, NEG),
    Transition("v1_rejected_at_mm3", S.MM_KE_SENT, T.V1_ERROR, S.FAILED, NEG),
    Transition("v1_rejected_at_mm4", S.MM_KE_DONE, T.V1_ERROR, S.FAILED, NEG),
    Transition("v1_rejected_at_auth", S.AUTH_SENT, T.V1_ERROR, S.FAILED, CIR),
    Transition("v1_rejected_after_am2", S.AM_REPLIED, T.V1_ERROR, S.FAILED, CIR),
    Transition("v1_error_repeated", S.FAILED, T.V1_ERROR, S.FAILED, TER),
    Transition("v1_informational_after_failure", S.FAILED, T.V1_INFO, S.FAILED, TER),
    Transition("v1_deleted", S.ESTABLISHED, T.V1_DELETE, S.CLOSED, TER),
    Transition("v1_deleted_midlife", S.START, T.V1_DELETE, S.CLOSED, TER),
    Transition("v1_deleted_during_auth", S.AUTH_SENT, T.V1_DELETE, S.CLOSED, TER),
    Transition("v1_delete_repeated", S.CLOSED, T.V1_DELETE, S.CLOSED, TER),
    Transition("v1_informational_after_delete", S.CLOSED, T.V1_INFO, S.CLOSED, TER),
)

TABLE: dict[tuple[IkeState, Trigger], Transition] = {(t.source, t.trigger): t for t in TRANSITIONS}


def next_transition(state: IkeState, trigger: Trigger) -> Transition:
    """The row for ``trigger`` in ``state``; :class:`IllegalTransition` when there is none."""
    try:
        return TABLE[(state, trigger)]
    except KeyError:
        raise IllegalTransition(state, trigger) from None
