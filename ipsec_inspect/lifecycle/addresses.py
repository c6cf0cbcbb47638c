"""IKE SA endpoints that move: MOBIKE (RFC 4555), NAT rebinding, REDIRECT (RFC 5685).

Why apart from the exchange logic: an IKE SA is found by its SPIs, never by its addresses,
so a message from a new address already lands on the right SA; what changes is where the
SA *is*. This module compares each message's addresses with the SA's current endpoints and
records an :class:`~model.AddressUpdate` when they change, with its cause:

- ``mobike``: a (decrypted) UPDATE_SA_ADDRESSES request; without keys, an INFORMATIONAL
  request from a new address of an IKEv2 SA (inferred: MOBIKE moves with INFORMATIONAL
  exchanges, RFC 4555 §3.5). A decrypted INFORMATIONAL from a new address without
  UPDATE_SA_ADDRESSES is a path check (§3.6), which moves nothing;
- ``nat-rebinding``: a new address or port behind a detected NAT without MOBIKE
  (RFC 7296 §2.23: the peer not behind the NAT follows the mapping);
- ``unknown``: anything else.

The float from UDP 500 to 4500 (NAT-T) is not a move. ESP and AH directions follow their
IKE SA: a packet with a known SPI from the same sender to a new address is the same
direction, re-indexed under its new destination (:func:`moved_direction`).
"""

from __future__ import annotations

import ipaddress

from ipsec_inspect.core.records import IkeMessage, NotifyBody, PacketMeta
from ipsec_inspect.lifecycle.model import (
    AddressCause,
    AddressUpdate,
    Certainty,
    ChildSa,
    Direction,
    Endpoint,
    IkeSa,
    Stage,
)
from ipsec_inspect.lifecycle.pending import is_pending
from ipsec_inspect.lifecycle.state import (
    TrackerState,
    add_spi_dst,
    drop_spi_dst,
    peers_of,
    spi_dsts_of,
)

# RFC 4555 §4 and RFC 5685 §10 notify types
N_MOBIKE_SUPPORTED, N_ADDITIONAL_IP4, N_ADDITIONAL_IP6 = 16396, 16397, 16398
N_NO_ADDITIONAL, N_UPDATE_SA_ADDRESSES, N_COOKIE2, N_NO_NATS_ALLOWED = 16399, 16400, 16401, 16402
N_REDIRECT_SUPPORTED, N_REDIRECT, N_REDIRECTED_FROM = 16406, 16407, 16408
N_UNACCEPTABLE_ADDRESSES, N_UNEXPECTED_NAT_DETECTED = 40, 41
IKE_SA_INIT_V2, INFORMATIONAL_V2 = 34, 37
_NATT_PORTS = frozenset({500, 4500})


def _same(a: Endpoint, b: Endpoint) -> bool:
    """The same endpoint, counting the NAT-T float (500 <-> 4500) as no change."""
    return a.addr == b.addr and (a.port == b.port or {a.port, b.port} <= _NATT_PORTS)


def _floats(sa: IkeSa, ini: Endpoint, res: Endpoint) -> bool:
    """The first message on UDP 4500 of an SA that began on 500, between the same hosts,
    while it is being set up (IKEv2 IKE_AUTH, IKEv1 Main Mode 5 or Aggressive Mode 3)."""
    assert sa.initiator is not None and sa.responder is not None
    return (
        sa.state not in ("ESTABLISHED", "DELETING")
        # the float between the NAT-T ports on both sides is no change already (_same)
        and not {ini.port, sa.initiator.port} <= _NATT_PORTS
        and sa.responder.port == 500
        and res.port == 4500
        and ini.addr == sa.initiator.addr
        and res.addr == sa.responder.addr
    )


def _notify_types(msg: IkeMessage) -> dict[int, NotifyBody]:
    out: dict[int, NotifyBody] = {}
    for p in msg.all_payloads:
        if isinstance(p.body, NotifyBody):
            out.setdefault(p.body.notify_type, p.body)
    return out


def _sender_is_initiator(sa: IkeSa, msg: IkeMessage) -> bool:
    if msg.version == 2:
        return msg.header.is_initiator
    m = msg.meta
    assert sa.initiator is not None and sa.responder is not None
    if _same(Endpoint(m.src, m.sport), sa.initiator) or m.dst == sa.responder.addr:
        return True
    return not (_same(Endpoint(m.src, m.sport), sa.responder) or m.dst == sa.initiator.addr)


def _stage(sa: IkeSa, msg: IkeMessage | None = None) -> Stage:
    if msg is not None and msg.version == 2 and msg.header.exchange == IKE_SA_INIT_V2:
        return Stage.NEGOTIATION
    return Stage.TRANSMISSION if sa.state in ("ESTABLISHED", "DELETING") else Stage.CIRCUIT


def gateway_text(data: bytes) -> str:
    """The New Responder GW Identity of REDIRECT / REDIRECTED_FROM (RFC 5685 §8)."""
    if len(data) < 2:
        return "?"
    kind, length = data[0], data[1]
    ident = data[2 : 2 + length]
    try:
        if kind in (1, 2) and len(ident) in (4, 16):
            return str(ipaddress.ip_address(ident))
        if kind == 3:
            return ident.decode("ascii", "replace")
    except ValueError:
        pass
    return ident.hex()


def track_endpoints(st: TrackerState, sa: IkeSa, msg: IkeMessage, decrypted: bool) -> None:
    """Note MOBIKE/REDIRECT notifies and follow a change of the SA's endpoints."""
    if sa.initiator is None or sa.responder is None:
        return
    notes = _notify_types(msg)  # the clear ones, and the decrypted ones where keys allow
    _mobike_notes(st, sa, msg, notes)
    if not sa.observed_from_start and sa.messages <= 1:
        return  # a mid-life SA's first message defines its endpoints
    m = msg.meta
    sender, receiver = Endpoint(m.src, m.sport), Endpoint(m.dst, m.dport)
    from_init = _sender_is_initiator(sa, msg)
    ini, res = (sender, receiver) if from_init else (receiver, sender)
    if _floats(sa, ini, res):
        # the NAT-T float (RFC 3947 §4, RFC 7296 §2.23): the responder moves from 500 to
        # 4500; behind a NAT the initiator's public port changes with it (a new NAT flow),
        # which is no rebinding. The SA's endpoints take the new ports quietly (without a NAT
        # they keep 500, as before: 500 <-> 4500 counts as the same endpoint).
        old_peers = peers_of(sa)
        sa.initiator, sa.responder = Endpoint(ini.addr, ini.port), Endpoint(res.addr, res.port)
        st.repeer(sa, old_peers)
        return
    if sa.state not in ("ESTABLISHED", "DELETING") and N_UPDATE_SA_ADDRESSES not in notes:
        return  # before IKE_AUTH completes only the NAT-T float moves the peers
    if _same(ini, sa.initiator) and _same(res, sa.responder):
        return
    request = not (msg.version == 2 and msg.header.is_response)
    informational = msg.version == 2 and msg.header.exchange == INFORMATIONAL_V2
    cause, certainty = AddressCause.UNKNOWN, Certainty.INFERRED
    if N_UPDATE_SA_ADDRESSES in notes:
        cause, certainty = AddressCause.MOBIKE, Certainty.OBSERVED
    elif decrypted and informational:
        if request:
            st.note(
                sa,
                _stage(sa),
                m,
                "ike.mobike.path_check",
                f"path check from {sender.addr}:{sender.port} (an INFORMATIONAL without "
                "UPDATE_SA_ADDRESSES moves nothing, RFC 4555 3.6)",
            )
        return
    elif (
        not decrypted
        and informational
        and request
        and (ini.addr != sa.initiator.addr or res.addr != sa.responder.addr)
    ):
        cause = AddressCause.MOBIKE
    elif sa.nat_detected:
        cause = AddressCause.NAT_REBINDING
    elif not request:
        return  # a response to a request from the old address: the request decides
    old_i, old_r = sa.initiator, sa.responder
    old_peers = peers_of(sa)
    sa.initiator, sa.responder = Endpoint(ini.addr, ini.port), Endpoint(res.addr, res.port)
    st.repeer(sa, old_peers)
    sa.address_updates.append(
        AddressUpdate(m.frame, m.time, sa.initiator, sa.responder, cause, certainty)
    )
    how = {
        AddressCause.MOBIKE: "UPDATE_SA_ADDRESSES"
        if certainty == Certainty.OBSERVED
        else "an INFORMATIONAL from the new address (MOBIKE, inferred)",
        AddressCause.NAT_REBINDING: "the NAT mapping changed",
        AddressCause.UNKNOWN: "cause unknown",
    }[cause]
    st.note(
        sa,
        _stage(sa),
        m,
        f"ike.address_update.{cause.value}",
        f"endpoints move from {old_i.addr}:{old_i.port} <-> {old_r.addr}:{old_r.port} to "
        f"{ini.addr}:{ini.port} <-> {res.addr}:{res.port} ({how})",
        certainty,
    )


def _mobike_notes(
    st: TrackerState, sa: IkeSa, msg: IkeMessage, notes: dict[int, NotifyBody]
) -> None:
    if not notes:
        return  # every note below is of a notify (a flood's requests carry none)
    m = msg.meta
    stage = _stage(sa, msg)
    for kind in (N_ADDITIONAL_IP4, N_ADDITIONAL_IP6):
        if kind in notes:
            addrs = [
                _address(p.body.data)
                for p in msg.all_payloads
                if isinstance(p.body, NotifyBody) and p.body.notify_type == kind
            ]
            st.note(
                sa,
                stage,
                m,
                "ike.mobike.additional_address",
                f"{m.src} announces additional address(es) {', '.join(addrs)} "
                f"({'ADDITIONAL_IP4_ADDRESS' if kind == N_ADDITIONAL_IP4 else 'ADDITIONAL_IP6_ADDRESS'})",
            )
    texts = {
        N_MOBIKE_SUPPORTED: ("ike.mobike.supported", f"{m.src} supports MOBIKE (RFC 4555)"),
        N_NO_ADDITIONAL: (
            "ike.mobike.no_additional_addresses",
            f"{m.src} has no additional addresses (NO_ADDITIONAL_ADDRESSES)",
        ),
        N_UPDATE_SA_ADDRESSES: (
            "ike.mobike.update",
            f"UPDATE_SA_ADDRESSES from {m.src}:{m.sport}",
        ),
        N_COOKIE2: (
            "ike.mobike.cookie2",
            f"COOKIE2 return routability check ({'answered' if msg.header.is_response else 'sent'} "
            f"by {m.src})",
        ),
        N_NO_NATS_ALLOWED: ("ike.mobike.no_nats_allowed", "NO_NATS_ALLOWED"),
        N_UNACCEPTABLE_ADDRESSES: ("ike.mobike.unacceptable", "UNACCEPTABLE_ADDRESSES"),
        N_UNEXPECTED_NAT_DETECTED: ("ike.mobike.unexpected_nat", "UNEXPECTED_NAT_DETECTED"),
        N_REDIRECT_SUPPORTED: ("ike.redirect.supported", f"{m.src} supports REDIRECT (RFC 5685)"),
    }
    for kind, (event, text) in texts.items():
        if kind in notes and not (
            kind in (N_MOBIKE_SUPPORTED, N_REDIRECT_SUPPORTED)
            and any(e.kind == event and text == e.text for e in sa.stages[stage].events)
        ):
            st.note(sa, stage, m, event, text)
    if N_REDIRECT in notes:
        gateway = gateway_text(notes[N_REDIRECT].data)
        sa.redirected_to = gateway
        st.note(sa, stage, m, "ike.redirect", f"{m.src} redirects the client to {gateway}")
    if N_REDIRECTED_FROM in notes:
        gateway = gateway_text(notes[N_REDIRECTED_FROM].data)
        sa.redirected_from = gateway
        st.note(sa, Stage.NEGOTIATION, m, "ike.redirected_from", f"redirected from {gateway}")


def _address(data: bytes) -> str:
    try:
        return str(ipaddress.ip_address(data))
    except ValueError:
        return data.hex()


def moved_direction(st: TrackerState, m: PacketMeta, spi: int, proto: str) -> str | None:
    """A known direction whose destination moved: same SPI and sender, a new address that
    its IKE SA now has (MOBIKE, NAT rebinding). Re-indexed; returns the child SA's uid."""
    for dst in list(spi_dsts_of(st, (spi, proto))):
        if dst == m.dst:
            continue
        uid = st.dir_index[(dst, spi, proto)]
        if is_pending(st.child, uid):
            continue  # untouched since its first packet: no IKE SA to have moved
        c = st.child[uid]
        d = c.direction(dst, spi)
        sa = st.ike.get(c.ike_sa or "")
        if d is None or c.hard_end is not None or d.src != m.src or sa is None:
            continue
        current = {e.addr for e in (sa.initiator, sa.responder) if e is not None}
        if m.dst not in current or not sa.address_updates:
            continue
        _reindex(st, c, d, m, dst)
        return uid
    return None


def _reindex(st: TrackerState, c: ChildSa, d: Direction, m: PacketMeta, old_dst: str) -> None:
    del st.dir_index[d.key]
    drop_spi_dst(st, (d.spi, d.protocol), d.dst)
    d.dst = m.dst
    st.dir_index[d.key] = c.uid
    add_spi_dst(st, (d.spi, d.protocol), d.dst)
    st.note(
        c,
        Stage.TRANSMISSION,
        m,
        "child.moved",
        f"SPI 0x{d.spi:08x} now to {m.dst} (was {old_dst}): its IKE SA moved",
    )


def follow_source(st: TrackerState, c: ChildSa, d: Direction, m: PacketMeta) -> None:
    """The sender of a known direction moved (the destination and SPI are unchanged)."""
    if d.src == m.src or not m.src:
        return
    old = d.src
    d.src = m.src
    st.note(
        c,
        Stage.TRANSMISSION,
        m,
        "child.moved",
        f"SPI 0x{d.spi:08x} now from {m.src} (was {old})",
    )
