"""The IKEv1 SA logic: Main, Aggressive and Quick Mode, Informational exchanges.

Why apart from classification: :func:`classify` says which message of which mode this
is; this module moves the ISAKMP SA by the transition table and reads the details: the
phase-1 offer and choice (RFC 2409 attributes mapped onto IKEv2 numbers by
:mod:`suites`), NAT-D (RFC 3947), Aggressive Mode PSK parameters for psk-crack, and the
IPsec SAs each Quick Mode creates.
"""

from __future__ import annotations

import ipaddress

from ipsec_inspect.core.records import (
    HashBody,
    IdBody,
    IkeMessage,
    IkePayload,
    KeBody,
    PacketMeta,
    RawBody,
    SaBody,
)
from ipsec_inspect.ipsec import registry
from ipsec_inspect.lifecycle import suites
from ipsec_inspect.lifecycle.attribution import deletes, install_directions
from ipsec_inspect.lifecycle.classify import (
    V1_AGGRESSIVE,
    V1_INFO,
    V1_MAIN,
    V1_PT_KE,
    V1_PT_SA,
    V1_QUICK,
    Context,
    classify,
    error_notifies,
)
from ipsec_inspect.lifecycle.model import Certainty, Endpoint, IkeSa, Reason, Stage, Termination
from ipsec_inspect.lifecycle.state import (
    Exchange,
    TrackerState,
    first_body,
    spi_int,
    vendor_ids,
)
from ipsec_inspect.lifecycle.transitions import IkeState, Trigger

V1_PT_ID, V1_PT_HASH, V1_PT_NONCE, V1_PT_NATD, V1_PT_NATD_DRAFT = 5, 8, 10, 20, 130
#: IKEv1 hash algorithm (phase 1 attribute 2) -> hashlib name, for NAT-D (RFC 3947 §3.2)
V1_NATD_HASH = {1: "md5", 2: "sha1", 4: "sha256", 5: "sha384", 6: "sha512"}


def sent_by_initiator(sa: IkeSa, m: PacketMeta) -> bool:
    """IKEv1 has no initiator flag: tell the sides apart by address (and port, behind NAT)."""
    ini = sa.initiator
    if ini is None:
        return True
    if ini.addr != m.src:
        return False
    res = sa.responder
    if res is not None and res.addr == ini.addr:
        return ini.port == m.sport or (m.sport == 4500 and ini.port == 500)
    return True


def on_v1(st: TrackerState, sa: IkeSa, msg: IkeMessage, decrypted: bool) -> None:
    h, m = msg.header, msg.meta
    x = h.exchange
    from_init = sent_by_initiator(sa, m)
    if h.v1_encrypted and not decrypted:
        sa.certainty["deletes"] = Certainty.ENCRYPTED
    side = "initiator" if from_init else "responder"
    if x == V1_MAIN:
        sa.mode = sa.mode or "main"
    elif x == V1_AGGRESSIVE:
        sa.mode = sa.mode or "aggressive"
    elif x == V1_INFO:
        sa.last_info_time, sa.last_info_frame = m.time, m.frame
    what = classify(msg, Context(decrypted=decrypted, from_initiator=from_init))
    trig = what.trigger
    sa.last_exchange = "INFORMATIONAL" if x == V1_INFO else registry.exchange_name(1, x)
    tr = st.move(sa, trig, m, what.text, what.certainty)
    if tr is None:
        return
    payloads = msg.all_payloads
    vendor_ids(sa, payloads)
    if trig in (Trigger.MM1, Trigger.AM1):
        _offered(st, sa, msg)
        if trig == Trigger.AM1:
            _am1_store(st, sa, msg)
    if trig in (Trigger.MM2, Trigger.AM2):
        _chosen(st, sa, msg)
        if trig == Trigger.AM2:
            _am2_store(st, sa, msg)
    if trig in (Trigger.MM3, Trigger.MM4, Trigger.AM1, Trigger.AM2):
        _nat(st, sa, msg)
    if trig in (Trigger.AM1, Trigger.AM2):
        for p in msg.payloads:
            if isinstance(p.body, IdBody):
                sa.identities["initiator" if trig == Trigger.AM1 else "responder"] = p.body.text
    errors = error_notifies(payloads, 1)
    if tr.target == IkeState.FAILED and sa.hard_end is None and errors:
        st.fail(sa, m, 1, errors[0].notify_type, tr.stage)
    if trig == Trigger.QM:
        _quick(st, sa, msg, decrypted)
    if trig in (Trigger.V1_INFO, Trigger.V1_DELETE) and decrypted:
        deletes(st, sa, msg, m)
    if trig == Trigger.V1_DELETE:
        sa.hard_end = Termination(Reason.DELETED, m.time, m.frame)
        st.enter(sa, Stage.TERMINATION, m)
        st.end_children(sa, m)
    if decrypted and trig in (Trigger.MM5, Trigger.MM6, Trigger.AM3):
        for p in msg.decrypted or []:
            if isinstance(p.body, IdBody):
                sa.identities[side] = p.body.text


def _offered(st: TrackerState, sa: IkeSa, msg: IkeMessage) -> None:
    body = first_body(msg.payloads, SaBody)
    if body is None:
        return
    sa.proposals_offered = [o for p in body.proposals for o in suites.v1_phase1_offered(p)]
    sa.offered_ids = [
        {k: [v] for k, v in suites.v1_phase1_suite(t).ids.items()}
        for p in body.proposals
        for t in p.transforms
    ]
    st.note(
        sa,
        Stage.NEGOTIATION,
        msg.meta,
        "ike.offer",
        f"Initiator offers {len(sa.proposals_offered)} transform(s) in {sa.mode} mode",
    )


def _chosen(st: TrackerState, sa: IkeSa, msg: IkeMessage) -> None:
    body = first_body(msg.payloads, SaBody)
    if body is None or not body.proposals or not body.proposals[0].transforms:
        return
    s = suites.v1_phase1_suite(body.proposals[0].transforms[0])
    sa.chosen = {k: v for k, v in s.names.items() if k != "auth_method"}
    sa.chosen_ids, sa.auth_method = s.ids, s.auth_method
    sa.lifetime_seconds, sa.lifetime_kilobytes = s.lifetime_seconds, s.lifetime_kilobytes
    sa.certainty["chosen"] = Certainty.OBSERVED
    st.note(
        sa,
        Stage.NEGOTIATION,
        msg.meta,
        "ike.chosen",
        "Responder chose " + ", ".join(str(v) for v in s.names.values()),
    )


def _payload_body_bytes(msg: IkeMessage, p: IkePayload) -> bytes:
    return bytes(msg.data[p.offset + 4 : p.offset + p.length])


def _am1_store(st: TrackerState, sa: IkeSa, msg: IkeMessage) -> None:
    parts: dict[int, bytes] = {}
    for p in msg.payloads:
        if p.type in (V1_PT_SA, V1_PT_KE, V1_PT_NONCE) and p.type not in parts:
            parts[p.type] = _payload_body_bytes(msg, p)
    if len(parts) == 3:
        st.am1[sa.uid] = (parts[V1_PT_KE], parts[V1_PT_SA], parts[V1_PT_NONCE])


def _am2_store(st: TrackerState, sa: IkeSa, msg: IkeMessage) -> None:
    """psk-crack inputs (ike-scan): g_xr g_xi cky_r cky_i sai_b idir_b ni_b nr_b hash_r."""
    if sa.auth_method not in suites.V1_PSK_METHODS:
        return
    sa.aggressive_psk_frames = [msg.meta.frame]
    am1 = st.am1.get(sa.uid)
    parts: dict[int, bytes] = {}
    for p in msg.payloads:
        if p.type in (V1_PT_KE, V1_PT_ID, V1_PT_NONCE, V1_PT_HASH) and p.type not in parts:
            parts[p.type] = _payload_body_bytes(msg, p)
    if am1 is None or len(parts) < 4:
        return
    g_xi, sai_b, ni_b = am1
    sa.psk_crack = (
        parts[V1_PT_KE],
        g_xi,
        bytes(msg.header.spi_r),
        bytes(msg.header.spi_i),
        sai_b,
        parts[V1_PT_ID],
        ni_b,
        parts[V1_PT_NONCE],
        parts[V1_PT_HASH],
    )


def _nat(st: TrackerState, sa: IkeSa, msg: IkeMessage) -> None:
    """NAT-D (RFC 3947 §3.2): the first hash is of the destination, the rest of the source."""
    natd = [
        p.body.data
        for p in msg.payloads
        if p.type in (V1_PT_NATD, V1_PT_NATD_DRAFT) and isinstance(p.body, HashBody | RawBody)
    ]
    hash_id = next((v for k, v in _v1_hash_attr(sa).items() if k == "hash"), None)
    if len(natd) < 2 or hash_id not in V1_NATD_HASH:
        return
    m, h = msg.meta, msg.header

    import hashlib  # here: only IKEv1 NAT-D needs it (start-up of a short command)

    def digest(addr: str, port: int) -> bytes:
        return hashlib.new(
            V1_NATD_HASH[hash_id],
            h.spi_i + h.spi_r + ipaddress.ip_address(addr).packed + port.to_bytes(2, "big"),
        ).digest()

    try:
        dst_ok = natd[0] == digest(m.dst, m.dport)
        src_ok = any(d == digest(m.src, m.sport) for d in natd[1:])
    except ValueError:
        return
    if not dst_ok or not src_ok:
        st.nat_found(sa, m, "destination" if not dst_ok else "source")
    elif sa.nat_detected is None:
        sa.nat_detected = False


def _v1_hash_attr(sa: IkeSa) -> dict[str, int]:
    """The IKEv1 phase-1 Hash Algorithm attribute value, recovered from the chosen PRF."""
    prf = sa.chosen_ids.get("prf")
    back = {1: 1, 2: 2, 5: 4, 6: 5, 7: 6}
    return {"hash": back[prf]} if prf in back else {}


def _quick(st: TrackerState, sa: IkeSa, msg: IkeMessage, decrypted: bool) -> None:
    h, m = msg.header, msg.meta
    ex_key = (sa.uid, h.message_id, True)
    ex = st.exchanges.get(ex_key)
    if ex is None:
        ex = Exchange(V1_QUICK, Endpoint(m.src, m.sport), m.time, m.frame)
        st.exchanges[ex_key] = ex
        c = st.new_child(sa, m, "QUICK_MODE", ex_key)
        ex.child = c.uid
    c = st.child[ex.child or ""]
    by_requester = m.src == ex.requester.addr and m.sport == ex.requester.port
    if not by_requester:
        ex.answered = True
        c.answered = True
    number = 1 if by_requester and not ex.answered else (2 if not by_requester else 3)
    st.enter(c, Stage.NEGOTIATION, m)
    st.enter(c, Stage.CIRCUIT, m)
    st.note(
        c,
        Stage.CIRCUIT,
        m,
        f"child.qm{number}",
        f"Quick Mode message {number}" + ("" if decrypted else " (contents encrypted)"),
        Certainty.OBSERVED if decrypted else Certainty.INFERRED,
    )
    if not decrypted:
        for k in ("chosen", "traffic_selectors", "spis", "mode"):
            c.certainty.setdefault(k, Certainty.ENCRYPTED)
        return
    plain = msg.decrypted or []
    body = first_body(plain, SaBody)
    has_ke = first_body(plain, KeBody) is not None
    ids = [p.body for p in plain if isinstance(p.body, IdBody)]
    if len(ids) >= 2:
        c.traffic_selectors = {"initiator": [ids[0].text], "responder": [ids[1].text]}
        c.certainty["traffic_selectors"] = Certainty.OBSERVED
    if number == 1 and body is not None and body.proposals:
        c.protocol = "ah" if body.proposals[0].protocol == 2 else "esp"
        c.proposals_offered = [o for p in body.proposals for o in suites.v1_phase2_offered(p)]
        ex.request_spi = spi_int(body.proposals[0].spi)
        c.pfs = has_ke
    elif number == 2:
        errors = error_notifies(plain, 1)
        if errors:
            st.fail(c, m, 1, errors[0].notify_type, Stage.CIRCUIT)
            return
        c.pfs = bool(c.pfs) and has_ke
        if body is not None and body.proposals and body.proposals[0].transforms:
            p = body.proposals[0]
            s = suites.v1_phase2_suite(p, p.transforms[0])
            c.protocol = "ah" if p.protocol == 2 else "esp"
            c.chosen = {
                "encryption": s.names.get("encryption"),
                "integrity": s.names.get("integrity"),
                "esn": s.names.get("esn", False),
                "dh_group": s.names.get("dh_group"),
            }
            c.chosen_ids = s.ids
            c.mode = s.mode
            if s.udp_encap:
                c.encapsulation = "udp"
            c.lifetime_seconds, c.lifetime_kilobytes = s.lifetime_seconds, s.lifetime_kilobytes
            c.certainty["chosen"] = Certainty.OBSERVED
            c.certainty["mode"] = Certainty.OBSERVED
            if ex.request_spi is not None:
                install_directions(
                    st, c, ex.requester.addr, m.src, ex.request_spi, spi_int(p.spi), m
                )
