"""Classification: which trigger of the state machine an IKE message is.

Why a pure function apart from the SA logic: what a message *is* (an IKE_SA_INIT retry, a
Main Mode message 3, a Delete of the IKE SA) depends only on the message and on three facts
about its SA, so it can be read, tested and extended as a table, in the manner of h11's
``_readers``: one reader per (IKE version, exchange type), and a default per version. The
SA logic (:mod:`ikev2_sa`, :mod:`ikev1_sa`) then moves the SA by the transition table
(:mod:`transitions`) and reads the message's details.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ipsec_inspect.core.records import DeleteBody, IkeMessage, IkePayload, NotifyBody
from ipsec_inspect.ipsec import registry
from ipsec_inspect.lifecycle import suites
from ipsec_inspect.lifecycle.model import Certainty
from ipsec_inspect.lifecycle.transitions import Trigger

# IKEv2 exchange types (RFC 7296 §3.1, RFC 9242)
IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL, IKE_INTERMEDIATE = 34, 35, 36, 37, 43
# IKEv1 exchange types (RFC 2408 §3.1, RFC 2409)
V1_MAIN, V1_AGGRESSIVE, V1_INFO, V1_TRANSACTION, V1_QUICK = 2, 4, 5, 6, 32
# IKEv1 payload types the classification looks at
V1_PT_SA, V1_PT_KE = 1, 4
# notify types
N_INVALID_KE, N_AUTH_FAILED, N_COOKIE = 17, 24, 16390
#: IKEv2 notifies in an IKE_AUTH response that fail the IKE SA itself (RFC 7296 §2.21.2)
IKE_FATAL = frozenset({N_AUTH_FAILED, 7, 5, 4})
#: error notifies are below these numbers (RFC 7296 §3.10.1, RFC 2408 §3.14.1)
V2_ERROR_LIMIT, V1_ERROR_LIMIT = 16384, 8192


@dataclass(frozen=True, slots=True)
class Context:
    """What classification needs to know about the message's SA (and nothing else)."""

    decrypted: bool = False
    #: IKEv1: the message was sent by the SA's initiator (IKEv2 carries the flag itself)
    from_initiator: bool = True
    #: IKEv2: the request of this exchange deleted the IKE SA (so this is its answer)
    deletes_ike: bool = False
    #: the IANA numbers chosen in IKE_SA_INIT (the size of an encrypted IKE_AUTH reply)
    chosen_ids: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Classified:
    """A message read as a trigger, with the sentence a person reads for it."""

    trigger: Trigger
    text: str
    certainty: Certainty


def notifies(payloads: list[IkePayload]) -> list[NotifyBody]:
    return [p.body for p in payloads if isinstance(p.body, NotifyBody)]


def error_notifies(payloads: list[IkePayload], version: int) -> list[NotifyBody]:
    limit = V2_ERROR_LIMIT if version == 2 else V1_ERROR_LIMIT
    return [n for n in notifies(payloads) if 0 < n.notify_type < limit]


def notify_name(version: int, n: int) -> str:
    return registry.notify_name(version, n)


def _encrypted(ctx: Context) -> str:
    return "" if ctx.decrypted else " (contents encrypted)"


# ---------------------------------------------------------------- IKEv2 readers


def _v2_certainty(msg: IkeMessage, ctx: Context) -> Certainty:
    observed = ctx.decrypted or msg.header.exchange == IKE_SA_INIT
    return Certainty.OBSERVED if observed else Certainty.INFERRED


def _v2_init(msg: IkeMessage, ctx: Context) -> Classified:
    cert = _v2_certainty(msg, ctx)
    if not msg.header.is_response:
        return Classified(Trigger.INIT_REQ, "IKE_SA_INIT request", cert)
    notes = notifies(msg.all_payloads)
    retry = [n for n in notes if n.notify_type in (N_COOKIE, N_INVALID_KE)]
    if retry:
        which = notify_name(2, retry[0].notify_type)
        return Classified(
            Trigger.INIT_RETRY, f"Responder asks the initiator to retry: {which}", cert
        )
    errors = [n for n in notes if 0 < n.notify_type < V2_ERROR_LIMIT]
    if errors:
        return Classified(
            Trigger.INIT_ERROR, f"Responder refuses: {notify_name(2, errors[0].notify_type)}", cert
        )
    return Classified(Trigger.INIT_RESP, "IKE_SA_INIT response", cert)


def _v2_intermediate(msg: IkeMessage, ctx: Context) -> Classified:
    resp = msg.header.is_response
    return Classified(
        Trigger.INTERMEDIATE_RESP if resp else Trigger.INTERMEDIATE_REQ,
        f"IKE_INTERMEDIATE {'response' if resp else 'request'}",
        _v2_certainty(msg, ctx),
    )


def _v2_auth(msg: IkeMessage, ctx: Context) -> Classified:
    cert = _v2_certainty(msg, ctx)
    if not msg.header.is_response:
        return Classified(Trigger.AUTH_REQ, "IKE_AUTH request" + _encrypted(ctx), cert)
    errors = error_notifies(msg.all_payloads, 2)
    fatal = [n for n in errors if n.notify_type in IKE_FATAL]
    if fatal:
        text = f"IKE_AUTH failed: {notify_name(2, fatal[0].notify_type)}"
        return Classified(Trigger.AUTH_ERROR, text, cert)
    if not ctx.decrypted:
        short = auth_response_too_short(ctx.chosen_ids, msg.header.length)
        if short:
            return Classified(Trigger.AUTH_ERROR, short, cert)
    text = "IKE_AUTH response: IKE SA established" + _encrypted(ctx)
    return Classified(Trigger.AUTH_RESP, text, cert)


def _v2_create_child(msg: IkeMessage, ctx: Context) -> Classified:
    resp = msg.header.is_response
    return Classified(
        Trigger.CHILD_RESP if resp else Trigger.CHILD_REQ,
        f"CREATE_CHILD_SA {'response' if resp else 'request'}" + _encrypted(ctx),
        _v2_certainty(msg, ctx),
    )


def _v2_informational(msg: IkeMessage, ctx: Context) -> Classified:
    """INFORMATIONAL, and any exchange type IKEv2 does not define (read as one)."""
    resp = msg.header.is_response
    cert = _v2_certainty(msg, ctx)
    payloads = msg.all_payloads
    if not resp and any(n.notify_type == N_AUTH_FAILED for n in notifies(payloads)):
        return Classified(Trigger.AUTH_ERROR, "peer reports AUTHENTICATION_FAILED", cert)
    if not resp and any(isinstance(p.body, DeleteBody) and p.body.protocol == 1 for p in payloads):
        return Classified(Trigger.DELETE_REQ, "Delete of the IKE SA", cert)
    if resp and ctx.deletes_ike:
        return Classified(Trigger.DELETE_RESP, "Delete of the IKE SA acknowledged", cert)
    name = registry.exchange_name(2, msg.header.exchange)
    what = f"{name} {'response' if resp else 'request'}"
    if not ctx.decrypted:
        text = what + " (contents encrypted)"
    else:
        text = what + ("" if payloads[len(msg.payloads) :] else " (liveness check)")
    return Classified(Trigger.INFO_RESP if resp else Trigger.INFO_REQ, text, cert)


# ---------------------------------------------------------------- IKEv1 readers


def _v1_certainty(msg: IkeMessage, ctx: Context) -> Certainty:
    observed = ctx.decrypted or not msg.header.v1_encrypted
    return Certainty.OBSERVED if observed else Certainty.INFERRED


def _side(ctx: Context) -> str:
    return "initiator" if ctx.from_initiator else "responder"


def _v1_main(msg: IkeMessage, ctx: Context) -> Classified:
    encrypted = msg.header.v1_encrypted
    types = {p.type for p in msg.payloads}
    init = ctx.from_initiator
    if not encrypted and V1_PT_SA in types:
        trig, num = (Trigger.MM1, 1) if init else (Trigger.MM2, 2)
    elif not encrypted and V1_PT_KE in types:
        trig, num = (Trigger.MM3, 3) if init else (Trigger.MM4, 4)
    elif encrypted:
        trig, num = (Trigger.MM5, 5) if init else (Trigger.MM6, 6)
    else:
        trig, num = Trigger.V1_INFO, 0
    side = _side(ctx)
    text = f"Main Mode message {num} ({side})" if num else f"Main Mode message from the {side}"
    return Classified(trig, text, _v1_certainty(msg, ctx))


def _v1_aggressive(msg: IkeMessage, ctx: Context) -> Classified:
    if ctx.from_initiator:
        types = {p.type for p in msg.payloads}
        third = msg.header.v1_encrypted or V1_PT_SA not in types
        trig, num = (Trigger.AM3, 3) if third else (Trigger.AM1, 1)
    else:
        trig, num = Trigger.AM2, 2
    text = f"Aggressive Mode message {num} ({_side(ctx)})"
    return Classified(trig, text, _v1_certainty(msg, ctx))


def _v1_quick(msg: IkeMessage, ctx: Context) -> Classified:
    return Classified(Trigger.QM, "Quick Mode", _v1_certainty(msg, ctx))


def _v1_informational(msg: IkeMessage, ctx: Context) -> Classified:
    """Informational and Transaction (mode config / XAUTH) exchanges."""
    cert = _v1_certainty(msg, ctx)
    payloads = msg.all_payloads
    if any(isinstance(p.body, DeleteBody) and p.body.protocol == 1 for p in payloads):
        return Classified(Trigger.V1_DELETE, "Delete of the ISAKMP SA", cert)
    errors = error_notifies(payloads, 1)
    if errors:
        text = f"error notify {notify_name(1, errors[0].notify_type)}"
        return Classified(Trigger.V1_ERROR, text, cert)
    x = msg.header.exchange
    what = "Transaction (mode config/XAUTH)" if x == V1_TRANSACTION else "Informational"
    hidden = msg.header.v1_encrypted and not ctx.decrypted
    trig = Trigger.V1_TRANSACTION if x == V1_TRANSACTION else Trigger.V1_INFO
    return Classified(trig, what + (" (contents encrypted)" if hidden else ""), cert)


def _v1_other(msg: IkeMessage, ctx: Context) -> Classified:
    text = f"{registry.exchange_name(1, msg.header.exchange)} exchange"
    return Classified(Trigger.V1_INFO, text, _v1_certainty(msg, ctx))


Reader = Callable[[IkeMessage, Context], Classified]

#: (IKE version, exchange type) -> reader
READERS: dict[tuple[int, int], Reader] = {
    (2, IKE_SA_INIT): _v2_init,
    (2, IKE_INTERMEDIATE): _v2_intermediate,
    (2, IKE_AUTH): _v2_auth,
    (2, CREATE_CHILD_SA): _v2_create_child,
    (2, INFORMATIONAL): _v2_informational,
    (1, V1_MAIN): _v1_main,
    (1, V1_AGGRESSIVE): _v1_aggressive,
    (1, V1_QUICK): _v1_quick,
    (1, V1_INFO): _v1_informational,
    (1, V1_TRANSACTION): _v1_informational,
}
#: IKE version -> the reader of an exchange type the table does not name
DEFAULT_READERS: dict[int, Reader] = {2: _v2_informational, 1: _v1_other}


def classify(msg: IkeMessage, ctx: Context) -> Classified:
    """The trigger (and text) of one IKE message; pure: reads, never changes, anything."""
    version = 2 if msg.version == 2 else 1
    reader = READERS.get((version, msg.header.exchange)) or DEFAULT_READERS[version]
    return reader(msg, ctx)


def _smallest_sk_message(chosen_ids: Mapping[str, int], plain: int) -> int | None:
    """The size of the smallest IKEv2 message whose SK payload holds ``plain`` bytes (plus
    the pad length byte) with the suite chosen in IKE_SA_INIT; None if it is unknown."""
    encr = suites.encryption_alg(chosen_ids.get("encryption"))
    if encr is None:
        return None
    integ: Any = None if encr.aead else suites.integrity_alg(chosen_ids.get("integrity"))
    if not encr.aead and integ is None:
        return None
    icv = encr.icv_len if encr.aead else (integ.icv_len if integ is not None else 0)
    block = max(encr.block_len, 1)
    return 28 + 4 + encr.iv_len + -(-(plain + 1) // block) * block + icv


def _prf_len(chosen_ids: Mapping[str, int]) -> int | None:
    from ipsec_inspect.ipsec.registry import algorithms

    prf = algorithms.prf_by_id(chosen_ids.get("prf", -1))
    return prf.out_len if prf is not None else None


def auth_response_too_short(chosen_ids: Mapping[str, int], length: int) -> str | None:
    """Why an encrypted IKE_AUTH response of ``length`` bytes cannot be a success, or None.

    Without keys the notify of a failed IKE_AUTH is invisible, but its size is not: a
    successful response carries at least IDr and AUTH (RFC 7296 §1.2), and with the suite
    chosen in IKE_SA_INIT the smallest SK payload that can hold them has a known size. A
    shorter message can only carry an error notify (AUTHENTICATION_FAILED, in practice) —
    or be one round of a multi-round IKE_AUTH (EAP, RFC 4739), which the next IKE_AUTH
    request then shows (:mod:`ikev2_sa` takes the failure back).
    """
    prf = _prf_len(chosen_ids)
    if prf is None:
        return None
    # IDr (one-byte identity), AUTH (PSK: prf output)
    minimum = _smallest_sk_message(chosen_ids, 9 + 8 + prf)
    if minimum is None or length >= minimum:
        return None
    return (
        f"IKE_AUTH failed (inferred): the encrypted response of {length} bytes is too "
        f"short to hold IDr and AUTH (at least {minimum} bytes with this suite); it can only "
        "carry an error notify such as AUTHENTICATION_FAILED"
    )


def auth_response_without_child(chosen_ids: Mapping[str, int], length: int) -> str | None:
    """Why an encrypted, successful IKE_AUTH response of ``length`` bytes cannot carry a
    child SA, or None: besides IDr and AUTH, a child needs SA (one proposal with an SPI and
    a transform) and TSi and TSr (one IPv4 selector each), RFC 7296 §1.2. What it lacks
    was refused (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE) or never asked for (RFC 6023)."""
    prf = _prf_len(chosen_ids)
    if prf is None:
        return None
    minimum = _smallest_sk_message(chosen_ids, 9 + 8 + prf + 24 + 24 + 24)
    if minimum is None or length >= minimum:
        return None
    return (
        f"the encrypted IKE_AUTH response of {length} bytes is too short to hold SA, TSi and "
        f"TSr besides IDr and AUTH (at least {minimum} bytes with this suite): no child SA "
        "was created in IKE_AUTH (inferred)"
    )
