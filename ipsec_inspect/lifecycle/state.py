"""The tracker's state, and the operations every part of the SA logic shares.

Why one record: the IKEv2 and IKEv1 SA logic, the SPI attribution and the ESP/AH
accounting all read and change the same SAs and indexes, and all emit events into the
same list. Keeping that state in one plain object (not in a class hierarchy) lets each of
those modules be a set of functions on it, tested through :class:`Tracker`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ipsec_inspect.core.records import (
    IdBody,
    IkePayload,
    PacketMeta,
    TsBody,
    VendorIdBody,
)
from ipsec_inspect.lifecycle.classify import notify_name
from ipsec_inspect.lifecycle.events import Happened, SaOpened, StageEntered, TrackerEvent
from ipsec_inspect.lifecycle.flood import Evicted, FloodWatch
from ipsec_inspect.lifecycle.model import (
    Certainty,
    ChildSa,
    Endpoint,
    Event,
    IkeSa,
    Reason,
    Stage,
    Termination,
)
from ipsec_inspect.lifecycle.result import CaptureStats, TrackerConfig, TrackerError
from ipsec_inspect.lifecycle.transitions import (
    IkeState,
    IllegalTransition,
    Transition,
    Trigger,
    next_transition,
)


@dataclass(slots=True)
class Exchange:
    """One request/response pair in flight on an IKE SA."""

    exchange: int
    requester: Endpoint
    time: float
    frame: int
    child: str | None = None
    delete_ike: bool = False
    ike_rekey_spi: bytes | None = None
    request_spi: int | None = None
    messages: int = 0
    answered: bool = False
    length: int = 0  # the request's IKE message length (the size of what it offered)


#: (IKE SA uid, message id, requested by the original initiator)
ExchangeKey = tuple[str, int, bool]


#: distinct IKE_SA_INIT offers remembered for sharing (the cache is emptied when full)
OFFERS_KEPT = 1024


@dataclass(slots=True)
class TrackerState:
    """Every SA, every index over them, and the events of the record being fed."""

    config: TrackerConfig
    ike: dict[str, IkeSa] = field(default_factory=dict)
    #: (IKE version, initiator's SPI) -> IKE SA uid
    ike_index: dict[tuple[int, bytes], str] = field(default_factory=dict)
    child: dict[str, ChildSa] = field(default_factory=dict)
    #: (destination, SPI, protocol) -> child SA uid
    dir_index: dict[tuple[str, int, str], str] = field(default_factory=dict)
    #: (SPI, protocol) -> the first (destination, SPI, protocol) of ``dir_index`` with them
    #: (a Delete from an address that is not the SPI's destination, behind NAT)
    spi_first: dict[tuple[int, str], tuple[str, int, str]] = field(default_factory=dict)
    #: (SPI, protocol) -> the destinations ``dir_index`` has them for, in its order (an
    #: ordered set): a moved or rekeyed SPI is looked up among these, not by a scan of
    #: every direction (which made each new SPI cost as much as all the SAs so far). One
    #: destination is held as itself (a dict per SPI was the largest part of a pending
    #: orphan, lifecycle/pending.py): read and change it with the ``spi_dst`` functions
    spi_dsts: dict[tuple[int, str], str | dict[str, None]] = field(default_factory=dict)
    #: (source, destination) -> (child number, uid) of child SAs seen one way only, in
    #: the order they were made: the candidates for pairing a new SPI the other way
    one_way: dict[tuple[str, str], list[tuple[int, str]]] = field(default_factory=dict)
    exchanges: dict[ExchangeKey, Exchange] = field(default_factory=dict)
    #: child SAs negotiated in the capture whose SPIs are not known yet (encrypted), as
    #: an ordered set, and the same by the (sorted) addresses of their IKE SA's peers
    awaiting: dict[str, None] = field(default_factory=dict)
    awaiting_by_peers: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    #: IKE SA uid -> the child SA its IKE_AUTH creates
    auth_child: dict[str, str] = field(default_factory=dict)
    #: the addresses of an IKE SA's peers (``peers_of``) -> the IKE SAs between them that a
    #: CREATE_CHILD_SA opened a child SA for (an ordered set): the only ones an IKE SA
    #: rekey seen without keys can have come from (ike_rekey_inference)
    ccsa_parents: dict[tuple[str, ...], dict[str, None]] = field(default_factory=dict)
    #: IKE SA uid -> message id of an encrypted IKE_AUTH response read as a failure by its
    #: size alone (a later IKE_AUTH request shows it was one round of several, EAP)
    short_auth: dict[str, int] = field(default_factory=dict)
    #: IKE SA uid -> IKEv1 Aggressive Mode message 1's (KE, SA, nonce) bodies (psk-crack)
    am1: dict[str, tuple[bytes, bytes, bytes]] = field(default_factory=dict)
    #: IKE SAs whose first message has no answer yet, and child SAs with no IKE SA, oldest
    #: first (ordered sets): what ``max_sas`` evicts first
    half_open: dict[str, None] = field(default_factory=dict)
    orphans: dict[str, None] = field(default_factory=dict)
    evicted: Evicted = field(default_factory=Evicted)
    flood: FloodWatch = field(default_factory=FloodWatch)
    #: SA payload bytes -> the offer read from them (ikev2_sa._offer), at most OFFERS_KEPT
    offers: dict[bytes, tuple[list[dict[str, Any]], list[dict[str, list[int]]]]] = field(
        default_factory=dict
    )
    errors: list[TrackerError] = field(default_factory=list)
    stats: CaptureStats = field(default_factory=CaptureStats)
    out: list[TrackerEvent] = field(default_factory=list)
    next_child: int = 1
    #: new orphans may be registered unbuilt: ``child`` is a ``pending.PendingChildren``
    defer_orphans: bool = False
    #: False: the stage and note events of :meth:`enter` and :meth:`note` are not made.
    #: Only for a state whose events nobody reads (a replay's: ``Tracker._replay``); the
    #: model is the same either way
    emit: bool = True

    # ---------------------------------------------------------------- events

    def error(self, meta: PacketMeta, kind: str, message: str, sa: str | None = None) -> None:
        self.errors.append(TrackerError(meta.frame, meta.time, kind, message, sa))

    def enter(self, sa: IkeSa | ChildSa, stage: Stage, meta: PacketMeta) -> None:
        span = sa.stages[stage]
        if not span.seen and self.emit:
            self.out.append(StageEntered(sa.uid, stage, meta.time, meta.frame))
        span.touch(meta.time, meta.frame)

    def note(
        self,
        sa: IkeSa | ChildSa,
        stage: Stage,
        meta: PacketMeta,
        kind: str,
        text: str,
        certainty: Certainty = Certainty.OBSERVED,
    ) -> None:
        sa.stages[stage].events.append(Event(meta.time, meta.frame, kind, text, certainty))
        if self.emit:
            self.out.append(Happened(sa.uid, stage, meta.time, meta.frame, kind, text, certainty))

    # ---------------------------------------------------------------- IKE SAs

    def move(
        self, sa: IkeSa, trigger: Trigger, m: PacketMeta, text: str, cert: Certainty
    ) -> Transition | None:
        """Move ``sa`` by the transition table; a message no row allows is an error."""
        try:
            tr = next_transition(IkeState(sa.state), trigger)
        except IllegalTransition as e:
            self.error(m, "ike.unexpected", str(e), sa.uid)
            stage = Stage.TRANSMISSION if sa.state == IkeState.ESTABLISHED else Stage.NEGOTIATION
            self.enter(sa, stage, m)
            self.note(
                sa, stage, m, "ike.unexpected", f"{text} (unexpected in state {sa.state})", cert
            )
            return None
        sa.state = tr.target.value
        self.enter(sa, tr.stage, m)
        self.note(sa, tr.stage, m, f"ike.{_clean(tr.name)}", text, cert)
        return tr

    def nat_found(self, sa: IkeSa, m: PacketMeta, which: str) -> None:
        first = not sa.nat_detected
        sa.nat_detected = True
        sa.nat_frames.append(m.frame)
        if first:
            self.note(
                sa,
                Stage.HOST_RECOGNITION,
                m,
                "ike.nat",
                f"NAT detected ({which} address/port rewritten)",
            )

    def end_children(self, sa: IkeSa, m: PacketMeta) -> None:
        for uid in sa.child_sas:
            c = self.child[uid]
            if end_with_parent(c, sa, m.time, m.frame):
                self.out.append(
                    Happened(
                        c.uid,
                        Stage.TERMINATION,
                        m.time,
                        m.frame,
                        "child.deleted",
                        f"deleted with its IKE SA {sa.uid}",
                    )
                )

    def fail(
        self, sa: IkeSa | ChildSa, m: PacketMeta, version: int, notify: int, stage: Stage
    ) -> None:
        """``sa`` ended on the wire with an error notify."""
        sa.hard_end = Termination(
            Reason.FAILED, m.time, m.frame, notify_name(version, notify), stage
        )
        self.enter(sa, Stage.TERMINATION, m)

    def repeer(self, sa: IkeSa, old: tuple[str, ...]) -> None:
        """``sa``'s peers moved from the addresses ``old``: file it under the new ones
        wherever it is filed by its peers."""
        parents = self.ccsa_parents.get(old)
        if parents is not None and sa.uid in parents:
            del parents[sa.uid]
            if not parents:
                del self.ccsa_parents[old]
            self.ccsa_parents.setdefault(peers_of(sa), {})[sa.uid] = None

    # ---------------------------------------------------------------- child SAs

    def await_spis(self, c: ChildSa, sa: IkeSa) -> None:
        """``c`` waits for its SPIs between the peers of ``sa`` (see attribution)."""
        self.awaiting[c.uid] = None
        if sa.initiator is not None and sa.responder is not None:
            a, b = sorted((sa.initiator.addr, sa.responder.addr))
            self.awaiting_by_peers.setdefault((a, b), []).append(c.uid)

    def new_child(
        self, sa: IkeSa, m: PacketMeta, created_by: str, ex_key: ExchangeKey | None
    ) -> ChildSa:
        uid = f"child-{self.next_child}"
        self.next_child += 1
        c = ChildSa(
            uid=uid,
            ike_sa=sa.uid,
            created_by=created_by,
            creating_exchange=(ex_key[1], ex_key[2]) if ex_key else None,
        )
        c.encapsulation = {"udp-encap": "udp", "tcp": "tcp"}.get(sa.transport, "none")
        c.initiator_addr = m.src
        self.child[uid] = c
        sa.child_sas.append(uid)
        if created_by == "CREATE_CHILD_SA":
            self.ccsa_parents.setdefault(peers_of(sa), {})[sa.uid] = None
        self.await_spis(c, sa)
        if sa.last_info_time is not None and sa.last_info_frame is not None:
            c.info_before = (sa.last_info_time, sa.last_info_frame)
        self.out.append(SaOpened(uid, "child", m.time, m.frame, True))
        self.enter(c, Stage.HOST_RECOGNITION, m)
        self.enter(c, Stage.NEGOTIATION, m)
        self.enter(c, Stage.CIRCUIT, m)
        self.note(
            c,
            Stage.HOST_RECOGNITION,
            m,
            "child.created",
            f"child SA requested in {created_by} of {sa.uid}",
        )
        return c


def spi_dsts_of(st: TrackerState, sp: tuple[int, str]) -> Iterable[str]:
    """The destinations ``dir_index`` has (SPI, protocol) ``sp`` for, in its order."""
    v = st.spi_dsts.get(sp)
    if v is None:
        return ()
    return (v,) if isinstance(v, str) else v


def add_spi_dst(st: TrackerState, sp: tuple[int, str], dst: str) -> None:
    v = st.spi_dsts.get(sp)
    if v is None:
        st.spi_dsts[sp] = dst
    elif isinstance(v, str):
        if v != dst:
            st.spi_dsts[sp] = {v: None, dst: None}
    else:
        v[dst] = None


def drop_spi_dst(st: TrackerState, sp: tuple[int, str], dst: str) -> None:
    v = st.spi_dsts.get(sp)
    if v is None:
        return
    if isinstance(v, str):
        if v == dst:
            del st.spi_dsts[sp]
        return
    v.pop(dst, None)
    if not v:
        del st.spi_dsts[sp]


def apply_delete(c: ChildSa, proto: str, spi: int, time: float, frame: int) -> None:
    """A Delete payload naming one of ``c``'s SPIs (shared with the merge)."""
    c.stages[Stage.TERMINATION].touch(time, frame)
    if c.hard_end is None:
        c.hard_end = Termination(Reason.DELETED, time, frame)
        c.stages[Stage.TERMINATION].events.append(
            Event(time, frame, "child.deleted", f"Delete of {proto.upper()} SPI 0x{spi:08x}")
        )


def end_with_parent(c: ChildSa, sa: IkeSa, time: float, frame: int) -> bool:
    """Deleting an IKE SA deletes its child SAs (RFC 7296 §1.4.1); True if ``c`` ended now."""
    if c.hard_end is not None:
        return False
    c.hard_end = Termination(Reason.DELETED, time, frame)
    c.stages[Stage.TERMINATION].touch(time, frame)
    c.stages[Stage.TERMINATION].events.append(
        Event(time, frame, "child.deleted", f"deleted with its IKE SA {sa.uid}")
    )
    return True


# ---------------------------------------------------------------- payload helpers


def peers_of(sa: IkeSa) -> tuple[str, ...]:
    """The addresses of an IKE SA's two peers, sorted (which one initiated aside)."""
    return tuple(sorted(e.addr for e in (sa.initiator, sa.responder) if e is not None))


def first_body(payloads: list[IkePayload], kind: type) -> Any:
    for p in payloads:
        if isinstance(p.body, kind):
            return p.body
    return None


def spi_int(spi: bytes) -> int:
    return int.from_bytes(spi[-4:], "big") if spi else 0


def vendor_ids(sa: IkeSa, payloads: list[IkePayload]) -> None:
    for p in payloads:
        if isinstance(p.body, VendorIdBody):
            name = p.body.name or p.body.data.hex()
            if name not in sa.vendor_ids:
                sa.vendor_ids.append(name)


def ts_text(body: TsBody) -> list[str]:
    out = []
    for ts in body.selectors:
        try:
            nets = ipaddress.summarize_address_range(
                ipaddress.ip_address(ts.start_addr), ipaddress.ip_address(ts.end_addr)
            )
            text = ",".join(str(n) for n in nets)
        except (ValueError, TypeError):
            text = f"{ts.start_addr}-{ts.end_addr}"
        if ts.ip_protocol or (ts.start_port, ts.end_port) != (0, 65535):
            ports = (
                str(ts.start_port)
                if ts.start_port == ts.end_port
                else f"{ts.start_port}-{ts.end_port}"
            )
            text += f"[{ts.ip_protocol or 'any'}/{ports}]"
        out.append(text)
    return out


def id_text(body: IdBody) -> str:
    return body.text


def _clean(name: str) -> str:
    return name.removesuffix("_midlife").removeprefix("midlife_")
