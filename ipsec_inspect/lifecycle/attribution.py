"""SPI attribution: which child SA an ESP or AH SPI belongs to.

Why apart from the IKE logic: a (destination, SPI) pair is learnt in three ways — from a
decrypted SA payload (each side names the SPI it receives on), by pairing the missing
direction of a child SA seen one way only, or by the timing and addresses of a child SA
negotiated while encrypted — and otherwise it opens an *orphan* child SA whose negotiation
is not in the capture. Deletes and REKEY_SA notifies name SPIs too, and are resolved here.

Every lookup is by an index of :class:`TrackerState` — (destination, SPI, protocol), (SPI,
protocol), the addresses of a one-way child SA, the peers of a child SA awaiting SPIs — so
a new SPI costs the same with ten SAs or a million; nothing here scans all SAs.
"""

from __future__ import annotations

import bisect
from typing import Any

from ipsec_inspect.core.records import DeleteBody, IkeMessage, PacketMeta, Transport
from ipsec_inspect.lifecycle.addresses import moved_direction
from ipsec_inspect.lifecycle.events import Happened, SaOpened, StageEntered
from ipsec_inspect.lifecycle.ivs import IvHistory
from ipsec_inspect.lifecycle.model import Certainty, ChildSa, Direction, IkeSa, Stage
from ipsec_inspect.lifecycle.nursery import Nursed
from ipsec_inspect.lifecycle.pending import (
    PendingChildren,
    PendingOrphan,
    is_pending,
    peek_pending,
)
from ipsec_inspect.lifecycle.sequence import SequenceAnalyzer
from ipsec_inspect.lifecycle.state import (
    TrackerState,
    add_spi_dst,
    apply_delete,
    spi_dsts_of,
    spi_int,
)

#: a child SA's ``encapsulation`` by the transport of its first packet
_ENCAPSULATION = {Transport.UDP_ENCAP: "udp", Transport.TCP: "tcp"}


def install_directions(
    st: TrackerState,
    c: ChildSa,
    req_addr: str,
    resp_addr: str,
    req_spi: int,
    resp_spi: int,
    m: PacketMeta,
) -> None:
    """Directions from decrypted SA payloads: each side names the SPI it receives on."""
    esn = bool(c.chosen_ids.get("esn"))
    for spi, src, dst in ((resp_spi, req_addr, resp_addr), (req_spi, resp_addr, req_addr)):
        d = Direction(
            spi=spi,
            src=src,
            dst=dst,
            protocol=c.protocol,
            seq=SequenceAnalyzer(
                window=st.config.replay_window, esn=esn, keep_log=st.config.mergeable
            ),
            ivs=IvHistory(bounded=not st.config.mergeable),
        )
        c.directions.append(d)
        index_direction(st, d, c.uid)
    c.certainty["spis"] = Certainty.OBSERVED
    c.certainty["pairing"] = Certainty.OBSERVED
    st.awaiting.pop(c.uid, None)
    st.note(
        c,
        Stage.CIRCUIT,
        m,
        "child.installed",
        f"{c.protocol.upper()} SPIs 0x{resp_spi:08x} ({req_addr} -> {resp_addr}) and "
        f"0x{req_spi:08x} ({resp_addr} -> {req_addr})"
        + (f", {c.chosen.get('encryption')}" if c.chosen.get("encryption") else ""),
    )


def link_child_rekey(
    st: TrackerState, new: ChildSa, spi: int, requester: str, m: PacketMeta
) -> None:
    """A REKEY_SA notify names the SPI the requester receives on in the old child SA."""
    for proto in ("esp", "ah"):
        uid = st.dir_index.get((requester, spi, proto)) or _by_spi(st, spi, proto, new)
        if uid is None:
            continue
        old = st.child[uid]
        old.rekeyed_to, new.rekeyed_from = new.uid, old.uid
        new.certainty["rekey"] = Certainty.OBSERVED
        st.note(
            old,
            Stage.TERMINATION,
            m,
            "child.rekeyed",
            f"rekeyed: REKEY_SA for SPI 0x{spi:08x} in frame {m.frame}",
        )
        return


def _by_spi(st: TrackerState, spi: int, proto: str, new: ChildSa) -> str | None:
    """The child SA of the same IKE SA with this inbound SPI at any address: the requester
    of a rekey may have moved since the SA was made (MOBIKE)."""
    for dst in spi_dsts_of(st, (spi, proto)):
        uid = st.dir_index[(dst, spi, proto)]
        if uid != new.uid and st.child[uid].ike_sa == new.ike_sa:
            return uid
    return None


def deletes(st: TrackerState, sa: IkeSa, msg: IkeMessage, m: PacketMeta) -> None:
    """Delete payloads naming ESP or AH SPIs (each side names the SPI it receives on)."""
    for p in msg.decrypted or []:
        if not isinstance(p.body, DeleteBody) or p.body.protocol not in (2, 3):
            continue
        proto = "ah" if p.body.protocol == 2 else "esp"
        for raw in p.body.spis:
            spi = spi_int(raw)
            uid = st.dir_index.get((m.src, spi, proto))
            if uid is None:
                first = st.spi_first.get((spi, proto))
                uid = st.dir_index.get(first) if first is not None else None
            if uid is None:
                sa.unresolved_deletes.append((proto, spi, m.src, m.time, m.frame))
                continue
            c = st.child[uid]
            apply_delete(c, proto, spi, m.time, m.frame)
            st.out.append(
                Happened(
                    c.uid,
                    Stage.TERMINATION,
                    m.time,
                    m.frame,
                    "child.deleted",
                    f"Delete of {proto.upper()} SPI 0x{spi:08x}",
                )
            )


def attribute(
    st: TrackerState, m: PacketMeta, spi: int, proto: str, pending: PendingOrphan | None = None
) -> str:
    """Find the child SA a new (destination, SPI) belongs to; see the module doc.

    ``pending``: the packet, when a brand-new orphan may be only registered for it
    (:mod:`pending`): step 3 then keeps it unbuilt."""
    # 0. a known direction whose IKE SA moved to a new address (MOBIKE, NAT rebinding)
    moved = moved_direction(st, m, spi, proto)
    if moved is not None:
        return moved
    # 1. the missing direction of a child SA seen in one direction only
    c = _one_way_partner(st, m.src, m.dst, proto)
    if c is not None:
        return _attach(st, c, new_direction(st, m, spi, proto), m, "pairing")
    # 2. a child SA negotiated (encrypted) between these peers and still waiting for SPIs
    c = _awaiting_between(st, m.src, m.dst)
    if c is not None:
        c.protocol = proto
        return _attach(st, c, new_direction(st, m, spi, proto), m, "spis")
    # 3. an SA whose negotiation is not in the capture
    number = st.next_child
    uid = f"child-{number}"
    st.next_child += 1
    if pending is not None:
        _register_orphan(st, pending, uid, number)
        return uid
    c = open_orphan(st, m, spi, proto, uid)
    st.child[uid] = c
    st.orphans[uid] = None
    return _attach(st, c, new_direction(st, m, spi, proto), m, "orphan", number)


def plainly_orphan(st: TrackerState, p: PendingOrphan) -> bool:
    """A new ESP (destination, SPI) that :func:`attribute` would give a brand-new orphan
    with no step before 3 changing anything: no other destination has the SPI (step 0),
    no one-way child SA runs the other way (1), nothing negotiated waits between these
    peers (2). Why conservative: a caller without a record (the session's loop) may take
    this packet past the record path only when its outcome is certain; any doubt takes
    the record path, which gives the same result."""
    src, dst, spi = p.src, p.dst, p.spi
    if (dst, spi, "esp") in st.dir_index or (spi, "esp") in st.spi_dsts:
        return False
    if st.one_way.get((dst, src)):
        return False
    a, b = sorted((src, dst))
    return not st.awaiting_by_peers.get((a, b))


def register_orphan(st: TrackerState, p: PendingOrphan, events: bool) -> None:
    """Step 3 of :func:`attribute` for a packet :func:`plainly_orphan` vouched for."""
    number = st.next_child
    st.next_child += 1
    _register_orphan(st, p, f"child-{number}", number, events)


def register_nursed(st: TrackerState, base: int, packets: list[Nursed]) -> None:
    """:func:`register_orphan` for each packet the nursery kept (``nursery.OrphanNursery``),
    in order, child numbers from ``base``, without events (nothing listened when they were
    nursed). One loop with the indexes in locals: at a flush it registers up to
    ``max_sas`` packets. The nursery vouched that each SPI is new (so ``spi_dsts`` gets the
    destination itself) and that the numbers grow past every ``one_way`` entry."""
    child = st.child
    assert isinstance(child, PendingChildren)
    put = _raw_set  # the raw dict slot: a PendingOrphan stands in for the child SA
    orphans, dir_index, spi_first, spi_dsts = st.orphans, st.dir_index, st.spi_first, st.spi_dsts
    one_way = st.one_way
    ip = Transport.IP
    number = base
    for frame, time, (src, dst), spi, seq, wire_len in packets:
        uid = f"child-{number}"
        put(child, uid, PendingOrphan(frame, time, src, dst, ip, wire_len, False, spi, seq))
        orphans[uid] = None
        key = (dst, spi, "esp")
        dir_index[key] = uid
        sp = (spi, "esp")
        spi_first.setdefault(sp, key)
        spi_dsts[sp] = dst
        entries = one_way.get((src, dst))
        if entries is None:
            one_way[(src, dst)] = [(number, uid)]
        elif not entries or entries[-1][0] < number:
            entries.append((number, uid))
        else:
            bisect.insort(entries, (number, uid))
        number += 1
    child.pending += len(packets)


_raw_set: Any = dict.__setitem__


def new_direction(st: TrackerState, m: PacketMeta, spi: int, proto: str) -> Direction:
    """A direction first seen in a packet (its sequence numbers and IVs still to count)."""
    return Direction(
        spi=spi,
        src=m.src,
        dst=m.dst,
        protocol=proto,
        seq=SequenceAnalyzer(window=st.config.replay_window, keep_log=st.config.mergeable),
        ivs=IvHistory(bounded=not st.config.mergeable),
    )


def open_orphan(st: TrackerState, m: PacketMeta, spi: int, proto: str, uid: str) -> ChildSa:
    """An orphan child SA as its first packet opens it, with its events (not yet stored,
    without directions)."""
    c = ChildSa(uid=uid, protocol=proto, observed_from_start=False)
    c.encapsulation = _ENCAPSULATION.get(m.transport, "none")
    st.out.append(SaOpened(uid, "child", m.time, m.frame, False))
    st.enter(c, Stage.HOST_RECOGNITION, m)
    st.note(
        c,
        Stage.HOST_RECOGNITION,
        m,
        "child.orphan",
        _orphan_text(m.src, m.dst, spi, proto),
        Certainty.INFERRED,
    )
    return c


def _orphan_text(src: str, dst: str, spi: int, proto: str) -> str:
    return (
        f"{proto.upper()} SPI 0x{spi:08x} ({src} -> {dst}) first seen with no IKE exchange for it"
    )


def _register_orphan(
    st: TrackerState, p: PendingOrphan, uid: str, number: int, events: bool = True
) -> None:
    """Step 3 without building the child SA (:mod:`pending`): the same uid, dict slots and
    index entries as :func:`open_orphan` and :func:`_attach` make, and the same events as
    the full path emits for the packet (live views show them as they come): opened, host
    recognition entered, the orphan note, transmission entered (``traffic.count``; a
    deferred packet raises no sequence or ICV note). ``events`` False: the caller drops
    them (nothing listens), so they are not made."""
    child = st.child
    assert isinstance(child, PendingChildren)
    child.register(uid, p)
    st.orphans[uid] = None
    src, dst, spi = p.src, p.dst, p.spi
    key = (dst, spi, "esp")
    st.dir_index[key] = uid
    sp = (spi, "esp")
    st.spi_first.setdefault(sp, key)
    add_spi_dst(st, sp, dst)
    bisect.insort(st.one_way.setdefault((src, dst), []), (number, uid))
    if not events:
        return
    t, f = p.time, p.frame
    text = _orphan_text(src, dst, spi, "esp")
    st.out += (
        SaOpened(uid, "child", t, f, False),
        StageEntered(uid, Stage.HOST_RECOGNITION, t, f),
        Happened(uid, Stage.HOST_RECOGNITION, t, f, "child.orphan", text, Certainty.INFERRED),
        StageEntered(uid, Stage.TRANSMISSION, t, f),
    )


def _attach(
    st: TrackerState, c: ChildSa, d: Direction, m: PacketMeta, how: str, number: int = 0
) -> str:
    """``number``: the child SA's number when the caller knows it (0: read from its uid)."""
    d.seq.esn = bool(c.chosen_ids.get("esn"))
    c.directions.append(d)
    index_direction(st, d, c.uid)
    if len(c.directions) == 1:
        key = (number or _number(c.uid), c.uid)
        bisect.insort(st.one_way.setdefault((d.src, d.dst), []), key)
    if how == "pairing":
        c.certainty["pairing"] = Certainty.INFERRED
        st.awaiting.pop(c.uid, None)
        text = f"SPI 0x{d.spi:08x} ({d.src} -> {d.dst}) paired by timing and addresses"
    elif how == "spis":
        c.certainty["spis"] = Certainty.INFERRED
        text = f"SPI 0x{d.spi:08x} ({d.src} -> {d.dst}) attributed to this child SA by timing and addresses"
    else:
        return c.uid
    st.note(c, Stage.TRANSMISSION, m, "child.spi", text, Certainty.INFERRED)
    return c.uid


def index_direction(st: TrackerState, d: Direction, uid: str) -> None:
    """(``_register_orphan`` makes the same entries for a pending orphan.)"""
    key = d.key
    st.dir_index[key] = uid
    st.spi_first.setdefault((d.spi, d.protocol), key)
    add_spi_dst(st, (d.spi, d.protocol), d.dst)


def _number(uid: str) -> int:
    return int(uid.rsplit("-", 1)[1])


def _one_way_partner(st: TrackerState, src: str, dst: str, proto: str) -> ChildSa | None:
    """The newest child SA whose only direction runs ``dst`` -> ``src``, still unpaired.

    Entries that can never pair again (a second direction, an ending, observed pairing)
    are dropped as they are met, so each costs its removal once.
    """
    entries = st.one_way.get((dst, src))
    if not entries:
        return None
    found: ChildSa | None = None
    stale = 0
    child = st.child
    for i in range(len(entries) - 1, -1, -1):
        uid = entries[i][1]
        p = peek_pending(child, uid)
        if p is not None:  # one ESP direction, untouched since: a candidate, built only if chosen
            if proto == "esp":
                found = child[uid]
                break
            continue
        c = child.get(uid)
        if (
            c is None
            or len(c.directions) != 1
            or c.hard_end is not None
            or c.certainty.get("pairing") == Certainty.OBSERVED
        ):
            stale += 1
            continue
        if c.protocol == proto:
            found = c
            break
    if stale:
        entries[:] = [e for e in entries if is_pending(child, e[1]) or _may_pair(child.get(e[1]))]
    return found


def _may_pair(c: ChildSa | None) -> bool:
    return (
        c is not None
        and len(c.directions) == 1
        and c.hard_end is None
        and c.certainty.get("pairing") != Certainty.OBSERVED
    )


def _awaiting_between(st: TrackerState, src: str, dst: str) -> ChildSa | None:
    """The oldest child SA negotiated between these two addresses that has no SPI yet."""
    if not st.awaiting_by_peers:
        return None  # nothing negotiated waits (a flood of orphan SPIs)
    a, b = sorted((src, dst))
    uids = st.awaiting_by_peers.get((a, b))
    if not uids:
        return None
    found: ChildSa | None = None
    keep: list[str] = []
    for i, uid in enumerate(uids):
        if uid not in st.awaiting:
            continue  # never a candidate again (or withdrawn: ike_rekey_inference)
        c = st.child[uid]
        if c.directions or c.hard_end is not None:
            continue  # never a candidate again
        sa = st.ike.get(c.ike_sa or "")
        if (
            sa is not None
            and sa.initiator is not None
            and sa.responder is not None
            and {sa.initiator.addr, sa.responder.addr} == {src, dst}
        ):
            found = c
            keep.extend(uids[i:])
            break
        keep.append(uid)
    uids[:] = keep
    return found
