"""The IKEv2 SA logic: what each classified message does to its IKE SA and child SAs.

Why apart from classification: :func:`classify` says *what* a message is; this module
moves the IKE SA by the transition table and then reads the details the message carries
(proposals and the chosen suite, NAT detection, the child SA it creates and its SPIs,
REKEY_SA, IKE SA rekeys, deletes, identities). RFC 7296 throughout.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ipsec_inspect.core.records import (
    AuthBody,
    IdBody,
    IkeMessage,
    KeBody,
    PacketMeta,
    Proposal,
    SaBody,
    TsBody,
)
from ipsec_inspect.ipsec import registry
from ipsec_inspect.lifecycle import suites
from ipsec_inspect.lifecycle.attribution import deletes, install_directions, link_child_rekey
from ipsec_inspect.lifecycle.classify import (
    CREATE_CHILD_SA,
    IKE_AUTH,
    IKE_FATAL,
    IKE_INTERMEDIATE,
    IKE_SA_INIT,
    INFORMATIONAL,
    Context,
    auth_response_without_child,
    classify,
    error_notifies,
    notifies,
    notify_name,
)
from ipsec_inspect.lifecycle.events import SaOpened
from ipsec_inspect.lifecycle.model import (
    Certainty,
    ChildSa,
    Endpoint,
    IkeSa,
    Reason,
    Stage,
    StageSpan,
    Termination,
)
from ipsec_inspect.lifecycle.state import (
    OFFERS_KEPT,
    Exchange,
    ExchangeKey,
    TrackerState,
    first_body,
    id_text,
    spi_int,
    ts_text,
    vendor_ids,
)
from ipsec_inspect.lifecycle.transitions import IkeState, Trigger

PT_IDI, PT_TSI, PT_TSR = 35, 44, 45
N_NAT_SRC, N_NAT_DST, N_USE_TRANSPORT, N_REKEY_SA = 16388, 16389, 16391, 16393
#: the smallest SA (one proposal, an SPI, one transform), TSi and TSr (one IPv4 range each)
CHILD_PAYLOADS_MIN = 24 + 24 + 24
_NAMED_EXCHANGES = (IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, IKE_INTERMEDIATE)


def on_v2(st: TrackerState, sa: IkeSa, msg: IkeMessage, decrypted: bool) -> None:
    h, m = msg.header, msg.meta
    resp = h.is_response
    req_by_init = (not h.is_initiator) if resp else h.is_initiator
    ex_key = (sa.uid, h.message_id, req_by_init)
    ex = st.exchanges.get(ex_key)
    if not resp and ex is None:
        ex = Exchange(h.exchange, Endpoint(m.src, m.sport), m.time, m.frame, length=h.length)
        st.exchanges[ex_key] = ex
    if ex is not None:
        ex.messages += 1
        if resp:
            ex.answered = True
    x = h.exchange
    if x != IKE_SA_INIT and not decrypted:
        sa.certainty["deletes"] = Certainty.ENCRYPTED
    ctx = Context(
        decrypted=decrypted,
        deletes_ike=ex is not None and ex.delete_ike,
        chosen_ids=sa.chosen_ids,
    )
    if x == IKE_AUTH and not resp:
        continue_auth_rounds(st, sa, msg)
    what = classify(msg, ctx)
    trig = what.trigger
    if trig == Trigger.DELETE_REQ and ex is not None:
        ex.delete_ike = True
    if not resp and x == INFORMATIONAL:
        sa.last_info_time, sa.last_info_frame = m.time, m.frame
    sa.last_exchange = registry.exchange_name(2, x) if x in _NAMED_EXCHANGES else "INFORMATIONAL"
    tr = st.move(sa, trig, m, what.text, what.certainty)
    if tr is None:
        return
    payloads = msg.all_payloads
    vendor_ids(sa, payloads)
    if trig in (Trigger.INIT_REQ, Trigger.INIT_RESP):
        _init(st, sa, msg, trig == Trigger.INIT_RESP)
    elif trig == Trigger.INIT_ERROR:
        st.fail(sa, m, 2, error_notifies(payloads, 2)[0].notify_type, Stage.NEGOTIATION)
    elif trig == Trigger.AUTH_ERROR:
        _auth_failed(st, sa, msg, what.text)
    elif trig in (Trigger.AUTH_REQ, Trigger.AUTH_RESP, Trigger.CHILD_REQ, Trigger.CHILD_RESP):
        assert ex is not None or resp
        _child_exchange(st, sa, msg, ex, ex_key, decrypted, resp)
        if trig == Trigger.AUTH_RESP and not decrypted:
            child_in_auth_response(st, sa, msg)
    elif trig in (Trigger.INFO_REQ, Trigger.INFO_RESP) and decrypted:
        deletes(st, sa, msg, m)
    elif trig == Trigger.DELETE_REQ:
        sa.hard_end = Termination(Reason.DELETED, m.time, m.frame)
        st.enter(sa, Stage.TERMINATION, m)
        st.end_children(sa, m)
    if decrypted:
        for p in msg.decrypted or []:
            if isinstance(p.body, IdBody):
                role = "initiator" if p.type == PT_IDI else "responder"
                name = id_text(p.body)
                # RFC 4739: a later authentication round may use another identity
                rounds = [k for k in sa.identities if k.split("_")[0] == role]
                if name not in (sa.identities.get(k) for k in rounds):
                    key = role if not rounds else f"{role}_{len(rounds) + 1}"
                    sa.identities[key] = name
            elif isinstance(p.body, AuthBody) and (not resp or sa.auth_method is None):
                sa.auth_method = p.body.method


def continue_auth_rounds(st: TrackerState, sa: IkeSa, msg: IkeMessage) -> None:
    """A new IKE_AUTH request after a short encrypted response that was read as a failure:
    that response was one round of several (EAP, RFC 4739), so the failure is taken back."""
    short = st.short_auth.get(sa.uid)
    end = sa.hard_end
    if short is None or msg.header.message_id <= short or end is None:
        return
    del st.short_auth[sa.uid]
    if end.certainty != Certainty.INFERRED or end.reason != Reason.FAILED:
        return
    sa.hard_end = None
    sa.state = IkeState.ESTABLISHED.value  # the table then continues the rounds
    for stage in (Stage.CIRCUIT, Stage.TERMINATION):
        span = sa.stages[stage]
        span.events = [
            e for e in span.events if not (e.frame == end.frame and e.kind == "ike.auth_failed")
        ]
    if not sa.stages[Stage.TERMINATION].events:
        sa.stages[Stage.TERMINATION] = StageSpan()
    child_uid = st.auth_child.get(sa.uid)
    c = st.child.get(child_uid or "")
    if c is not None and c.hard_end is not None and c.hard_end.frame == end.frame:
        c.hard_end = None
        if not c.stages[Stage.TERMINATION].events:
            c.stages[Stage.TERMINATION] = StageSpan()
    st.note(
        sa,
        Stage.CIRCUIT,
        msg.meta,
        "ike.auth_round",
        f"another IKE_AUTH request: the short response in frame {end.frame} was one round of a "
        "multi-round IKE_AUTH (EAP or RFC 4739), not a failure",
        Certainty.INFERRED,
    )


def child_in_auth_response(st: TrackerState, sa: IkeSa, msg: IkeMessage) -> None:
    """Without keys: an IKE_AUTH response too short to hold SA, TSi and TSr created no
    child SA. Its child is held back from ESP attribution (marked failed, inferred); a later
    response of a multi-round IKE_AUTH that is large enough gives it back."""
    c = st.child.get(st.auth_child.get(sa.uid) or "")
    if c is None or c.directions:
        return
    why = auth_response_without_child(sa.chosen_ids, msg.header.length)
    inferred = c.hard_end is not None and c.certainty.get("auth_child") == Certainty.INFERRED
    if why is None:
        if inferred:
            c.hard_end = None
            del c.certainty["auth_child"]
        return
    m = msg.meta
    req = st.exchanges.get((sa.uid, *c.creating_exchange)) if c.creating_exchange else None
    # A request that carried SA, TSi and TSr is larger than its answer by at least those
    # (24 + 24 + 24 bytes); a childless request (RFC 6023) is not.
    offered = req is not None and req.length - msg.header.length >= CHILD_PAYLOADS_MIN
    if req is not None and not offered:
        c.certainty["childless"] = Certainty.INFERRED
        why += "; the request was not larger by SA, TSi and TSr either: childless (RFC 6023)?"
    else:
        c.certainty.pop("childless", None)
        why += "; the request offered one: refused (NO_PROPOSAL_CHOSEN or TS_UNACCEPTABLE)"
    c.hard_end = Termination(
        Reason.FAILED, m.time, m.frame, None, Stage.CIRCUIT, Certainty.INFERRED, why
    )
    c.certainty["auth_child"] = Certainty.INFERRED


def _auth_failed(st: TrackerState, sa: IkeSa, msg: IkeMessage, text: str) -> None:
    """IKE_AUTH failed: the IKE SA and the child SA it was creating end here."""
    m = msg.meta
    fatal = next((n for n in notifies(msg.all_payloads) if n.notify_type in IKE_FATAL), None)
    if fatal is not None:
        sa.hard_end = Termination(
            Reason.FAILED, m.time, m.frame, notify_name(2, fatal.notify_type), Stage.CIRCUIT
        )
    else:  # inferred from the size of an encrypted response
        sa.hard_end = Termination(
            Reason.FAILED, m.time, m.frame, None, Stage.CIRCUIT, Certainty.INFERRED, text
        )
        st.short_auth[sa.uid] = msg.header.message_id
    st.enter(sa, Stage.TERMINATION, m)
    child_uid = st.auth_child.get(sa.uid)
    if child_uid is not None:
        c = st.child[child_uid]
        c.hard_end = Termination(Reason.FAILED, m.time, m.frame, sa.hard_end.notify, Stage.CIRCUIT)
        st.enter(c, Stage.TERMINATION, m)


def _init(st: TrackerState, sa: IkeSa, msg: IkeMessage, response: bool) -> None:
    m = msg.meta
    body = first_body(msg.payloads, SaBody)
    ke = first_body(msg.payloads, KeBody)
    if body is not None and not response:
        sa.proposals_offered, sa.offered_ids = _offer(st, msg, body)
        st.note(
            sa,
            Stage.NEGOTIATION,
            m,
            "ike.offer",
            f"Initiator offers {len(body.proposals)} proposal(s)"
            + (f", KE group {ke.group}" if ke is not None and ke.group else ""),
        )
    if body is not None and response and body.proposals:
        s = suites.v2_suite(body.proposals[0])
        sa.chosen, sa.chosen_ids = s.names, s.ids
        sa.certainty["chosen"] = Certainty.OBSERVED
        st.note(
            sa,
            Stage.NEGOTIATION,
            m,
            "ike.chosen",
            "Responder chose " + ", ".join(str(v) for v in s.names.values()),
        )
    _nat(st, sa, msg)


def _offer(
    st: TrackerState, msg: IkeMessage, body: SaBody
) -> tuple[list[dict[str, Any]], list[dict[str, list[int]]]]:
    """The initiator's offer as names and numbers, shared by every SA that offers the same
    bytes: a flood repeats one offer a million times, and it is read-only once made."""
    raw = b""
    for p in msg.payloads:
        if p.body is body and p.length > 4 and p.offset + p.length <= len(msg.data):
            raw = bytes(msg.data[p.offset + 4 : p.offset + p.length])
    made = st.offers.get(raw) if raw else None
    if made is None:
        made = (
            [suites.v2_offered(p) for p in body.proposals],
            [suites.v2_offered_ids(p) for p in body.proposals],
        )
        if raw:
            if len(st.offers) >= OFFERS_KEPT:
                st.offers.clear()
            st.offers[raw] = made
    return made


def _nat(st: TrackerState, sa: IkeSa, msg: IkeMessage) -> None:
    """NAT detection from NAT_DETECTION_* hashes (RFC 7296 §2.23), checked in the clear."""
    import hashlib  # here: a capture without IKE (or a short command) never needs it

    m, h = msg.meta, msg.header
    spi_r = h.spi_r if msg.header.is_response else b"\x00" * 8
    for n in notifies(msg.payloads):
        if n.notify_type not in (N_NAT_SRC, N_NAT_DST):
            continue
        addr, port = (m.src, m.sport) if n.notify_type == N_NAT_SRC else (m.dst, m.dport)
        try:
            packed = ipaddress.ip_address(addr).packed
        except ValueError:
            continue
        expect = hashlib.sha1(h.spi_i + spi_r + packed + port.to_bytes(2, "big")).digest()
        if n.data != expect:
            st.nat_found(sa, m, "source" if n.notify_type == N_NAT_SRC else "destination")
        elif sa.nat_detected is None:
            sa.nat_detected = False


def _child_exchange(
    st: TrackerState,
    sa: IkeSa,
    msg: IkeMessage,
    ex: Exchange | None,
    ex_key: ExchangeKey,
    decrypted: bool,
    resp: bool,
) -> None:
    m, x = msg.meta, msg.header.exchange
    plain = msg.decrypted or []
    body = first_body(plain, SaBody)
    if ex is None:  # a response whose request we never saw (capture started in between)
        ex = Exchange(x, Endpoint(m.dst, m.dport), m.time, m.frame, messages=1, answered=True)
        st.exchanges[ex_key] = ex
    # IKE SA rekey: CREATE_CHILD_SA whose SA payload proposes protocol IKE
    if (
        x == CREATE_CHILD_SA
        and body is not None
        and body.proposals
        and body.proposals[0].protocol == 1
    ):
        if not resp:
            ex.ike_rekey_spi = bytes(body.proposals[0].spi)
        elif ex.ike_rekey_spi is not None:
            _ike_rekeyed(st, sa, ex, bytes(body.proposals[0].spi), body.proposals[0], m)
        return
    if ex.child is None:
        existing = st.auth_child.get(sa.uid) if x == IKE_AUTH else None
        if existing is not None:
            ex.child = existing
        elif x == IKE_AUTH and decrypted and body is None:
            # no SA payload: a childless IKE_AUTH (RFC 6023), or a round without the child
            if not resp and first_body(plain, IdBody) is not None:
                st.note(
                    sa,
                    Stage.CIRCUIT,
                    m,
                    "ike.childless",
                    "IKE_AUTH without SA, TSi and TSr: childless initiation (RFC 6023)",
                )
            return
        else:
            c = st.new_child(
                sa,
                m if not resp else PacketMeta(ex.frame, ex.time, ex.requester.addr, m.src),
                "IKE_AUTH" if x == IKE_AUTH else "CREATE_CHILD_SA",
                ex_key,
            )
            ex.child = c.uid
            if x == IKE_AUTH:
                st.auth_child[sa.uid] = c.uid
    c = st.child[ex.child]
    st.enter(c, Stage.NEGOTIATION, m)
    st.enter(c, Stage.CIRCUIT, m)
    if resp:
        c.answered = True
    if not decrypted:
        for k in ("chosen", "traffic_selectors", "spis", "mode"):
            c.certainty.setdefault(k, Certainty.ENCRYPTED)
        return
    notes = notifies(plain)
    errors = error_notifies(plain, 2)
    tsi, tsr = None, None
    for p in plain:
        if isinstance(p.body, TsBody):
            if p.type == PT_TSI:
                tsi = p.body
            elif p.type == PT_TSR:
                tsr = p.body
    if tsi is not None and tsr is not None:
        c.traffic_selectors = {"initiator": ts_text(tsi), "responder": ts_text(tsr)}
        c.certainty["traffic_selectors"] = Certainty.OBSERVED
        if resp:
            owner = st.ike.get(c.ike_sa or "")
            if owner is not None:
                st.note(
                    owner,
                    Stage.HOST_RECOGNITION,
                    m,
                    "ike.ts",
                    f"traffic to protect: {', '.join(c.traffic_selectors['initiator'])} <-> "
                    f"{', '.join(c.traffic_selectors['responder'])}",
                )
    if any(n.notify_type == N_USE_TRANSPORT for n in notes):
        c.mode = "transport"
    elif resp and not errors:
        c.mode = c.mode or "tunnel"
    c.certainty["mode"] = Certainty.OBSERVED
    if x == CREATE_CHILD_SA:
        has_ke = first_body(plain, KeBody) is not None
        c.pfs = has_ke if not resp else (c.pfs or False) and has_ke
    if not resp:
        if body is not None and body.proposals:
            c.protocol = "ah" if body.proposals[0].protocol == 2 else "esp"
            c.proposals_offered = [suites.v2_offered(p) for p in body.proposals]
            ex.request_spi = spi_int(body.proposals[0].spi)
        for n in notes:
            if n.notify_type == N_REKEY_SA:
                link_child_rekey(st, c, spi_int(n.spi), m.src, m)
        return
    if errors:
        st.fail(c, m, 2, errors[0].notify_type, Stage.CIRCUIT)
        assert c.hard_end is not None
        st.note(c, Stage.CIRCUIT, m, "child.failed", f"child SA refused: {c.hard_end.notify}")
        return
    if body is not None and body.proposals:
        _child_chosen(c, body.proposals[0])
        if ex.request_spi is not None:
            install_directions(
                st, c, ex.requester.addr, m.src, ex.request_spi, spi_int(body.proposals[0].spi), m
            )


def _child_chosen(c: ChildSa, p: Proposal) -> None:
    s = suites.v2_suite(p)
    c.protocol = "ah" if p.protocol == 2 else "esp"
    c.chosen = {
        "encryption": s.names.get("encryption"),
        "integrity": s.names.get("integrity"),
        "esn": s.names.get("esn", False),
        "dh_group": s.names.get("dh_group"),
    }
    c.chosen_ids = s.ids
    c.certainty["chosen"] = Certainty.OBSERVED


def _ike_rekeyed(
    st: TrackerState, sa: IkeSa, ex: Exchange, new_spi_r: bytes, p: Proposal, m: PacketMeta
) -> None:
    new_spi_i = ex.ike_rekey_spi or b""
    uid = f"ike-{new_spi_i.hex()}"
    succ = IkeSa(uid=uid, version=2, spi_i=new_spi_i, spi_r=new_spi_r)
    succ.initiator = ex.requester
    succ.responder = Endpoint(m.src, m.sport)
    succ.transport = sa.transport
    succ.state = IkeState.ESTABLISHED.value
    s = suites.v2_suite(p)
    succ.chosen, succ.chosen_ids = s.names, s.ids
    succ.certainty = {"roles": Certainty.OBSERVED, "chosen": Certainty.OBSERVED}
    succ.nat_detected = sa.nat_detected
    succ.rekeyed_from, sa.rekeyed_to = sa.uid, uid
    st.ike[uid] = succ
    st.ike_index[(2, new_spi_i)] = uid
    st.out.append(SaOpened(uid, "ike", m.time, m.frame, True))
    req = PacketMeta(ex.frame, ex.time, ex.requester.addr, m.src)
    for stage in (Stage.HOST_RECOGNITION, Stage.NEGOTIATION, Stage.CIRCUIT):
        st.enter(succ, stage, req)
        st.enter(succ, stage, m)
    st.note(
        succ,
        Stage.NEGOTIATION,
        m,
        "ike.chosen",
        "rekeyed IKE SA chose " + ", ".join(str(v) for v in s.names.values()),
    )
    st.note(sa, Stage.TRANSMISSION, m, "ike.rekeyed", f"IKE SA rekeyed: successor {uid}")
    # The new IKE SA inherits every child SA still alive (RFC 7296 §2.18).
    moved = [
        u
        for u in sa.child_sas
        if u in st.child and st.child[u].hard_end is None and not st.child[u].rekeyed_to
    ]
    for u in moved:
        sa.child_sas.remove(u)
        succ.child_sas.append(u)
        st.child[u].ike_sa = uid
        if u in st.awaiting and _peers(succ) != _peers(sa):
            st.await_spis(st.child[u], succ)  # found by its new peers' addresses too
        st.note(
            st.child[u],
            Stage.TRANSMISSION,
            m,
            "child.inherited",
            f"now under the rekeyed IKE SA {uid}",
        )


def _peers(sa: IkeSa) -> tuple[str, ...]:
    return tuple(sorted(e.addr for e in (sa.initiator, sa.responder) if e is not None))
