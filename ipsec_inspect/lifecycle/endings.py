"""How SAs ended, where that takes more than one SA to tell.

Why after :func:`settle.settle`: settle reads each SA alone (its Delete, its failure, its
last packet). Some endings are relations between SAs, visible only once the capture (or
the merged halves) is complete, so they are worked out here, every time after settle:

- **childless IKE_AUTH** (RFC 6023) without keys: the child an IKE_AUTH seemed to create,
  whose response was too short to hold it, is dropped when the first child comes later;
- **rekey collisions** (RFC 7296 §2.8.1): two REKEY_SA for one SA; the successor is the
  one that carried traffic, the other is the redundant SA that got deleted;
- **reauthentication** (RFC 7296 §2.8.3): a new IKE_SA_INIT between the same peers and
  the old IKE SA deleted within ``REAUTH_WINDOW`` (before the new one: break-before-make;
  after it: make-before-break). The old SA ends ``reauthenticated`` and links to the new
  one; its children link to the new SA's children with the same traffic selectors;
- **re-creation after a hard expiry**: a child deleted and, within ``RECREATE_WINDOW``, a
  CREATE_CHILD_SA without REKEY_SA for the same selectors (without keys: an INFORMATIONAL
  then a CREATE_CHILD_SA, where a rekey has them the other way round) is a hard lifetime
  that ran out (``lifetime_expired``), not a rekey;
- **the trigger** of every rekey, reauthentication and ending (:mod:`triggers`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ipsec_inspect.lifecycle.model import (
    AddressCause,
    Certainty,
    ChildSa,
    Event,
    IkeSa,
    Reason,
    Stage,
    Termination,
)
from ipsec_inspect.lifecycle.triggers import assign_triggers

if TYPE_CHECKING:  # the charon log parser is imported when a log is read (start-up)
    from ipsec_inspect.crypto.strongswan_log import DaemonHint

#: How far apart the old IKE SA's Delete and the new IKE SA's IKE_SA_INIT may be (seconds).
REAUTH_WINDOW = 10.0
#: How soon after the old IKE SA's Delete a break-before-make reauthentication starts its
#: IKE_SA_INIT (strongSwan: at once; a user's reconnection takes seconds).
BREAK_BEFORE_MAKE_WINDOW = 2.0
#: How soon after a child's Delete a CREATE_CHILD_SA re-creates it (seconds).
RECREATE_WINDOW = 2.0


def explain_endings(
    ike_sas: dict[str, IkeSa],
    child_sas: dict[str, ChildSa],
    hints: Sequence[DaemonHint] = (),
) -> None:
    """Revise endings that relate SAs to each other (idempotent; see the module doc).
    ``hints`` are what a daemon's log said (given as keys), by SPI."""
    _childless(ike_sas, child_sas)
    _redirects(ike_sas)
    _rekey_collisions(child_sas)
    _reauthentications(ike_sas, child_sas)
    _recreations(ike_sas, child_sas)
    _logged_expiries(child_sas, hints)
    assign_triggers(ike_sas, child_sas, hints)


def _logged_expiries(child_sas: dict[str, ChildSa], hints: Sequence[DaemonHint]) -> None:
    """A child the daemon closed as expired ended ``lifetime_expired``, observed."""
    expired = {h.spi for h in hints if h.kind == "expired" and h.spi is not None}
    for c in child_sas.values():
        t = c.termination
        if t is None or not expired & {d.spi for d in c.directions}:
            continue
        if t.reason in (Reason.DELETED, Reason.LIFETIME_EXPIRED, Reason.REKEYED):
            t.reason = Reason.LIFETIME_EXPIRED
            t.certainty = Certainty.OBSERVED
            t.detail = (t.detail + "; " if t.detail else "") + (
                "the daemon's log: closing expired CHILD_SA"
            )


def _note(sa: IkeSa | ChildSa, stage: Stage, event: Event) -> None:
    """Add ``event`` unless it is there already (this module runs after every settle)."""
    span = sa.stages[stage]
    if any(e.kind == event.kind and e.frame == event.frame for e in span.events):
        return
    span.events.append(event)
    span.events.sort(key=lambda e: (e.time, e.frame))
    if event.time is not None:
        span.touch(event.time, event.frame)


def _created(c: ChildSa) -> float | None:
    return c.stages[Stage.CIRCUIT].start or c.stages[Stage.HOST_RECOGNITION].start


def _packets(c: ChildSa) -> int:
    return sum(d.packets for d in c.directions)


# ---------------------------------------------------------------- childless IKE_AUTH


def _childless(ike_sas: dict[str, IkeSa], child_sas: dict[str, ChildSa]) -> None:
    for c in list(child_sas.values()):
        if (
            c.certainty.get("childless") != Certainty.INFERRED
            or c.directions
            or c.created_by != "IKE_AUTH"
        ):
            continue
        sa = ike_sas.get(c.ike_sa or "")
        if sa is None:
            continue
        later = [
            child_sas[u]
            for u in sa.child_sas
            if u in child_sas and child_sas[u].created_by == "CREATE_CHILD_SA"
        ]
        if not later:
            continue  # no child ever: the IKE_AUTH child was refused (it stays failed)
        del child_sas[c.uid]
        sa.child_sas.remove(c.uid)
        t = c.hard_end
        if t is not None and t.time is not None and t.frame is not None:
            _note(
                sa,
                Stage.CIRCUIT,
                Event(
                    t.time,
                    t.frame,
                    "ike.childless",
                    "IKE_AUTH created no child SA (childless, RFC 6023): its response is too "
                    "short for SA, TSi and TSr and the first child SA came in CREATE_CHILD_SA",
                    Certainty.INFERRED,
                ),
            )


# ---------------------------------------------------------------- REDIRECT


def _redirects(ike_sas: dict[str, IkeSa]) -> None:
    """An IKE_SA_INIT with N(REDIRECTED_FROM) (in the clear, RFC 5685 §6) names the gateway
    that sent the client away: the client's SA with that gateway was redirected, and
    ended (without keys: at its last INFORMATIONAL, the REDIRECT and the Delete)."""
    for new in ike_sas.values():
        gateway = new.redirected_from
        if not gateway or new.initiator is None or new.responder is None:
            continue
        start = new.stages[Stage.HOST_RECOGNITION].start or 0.0
        for old in ike_sas.values():
            if (
                old is new
                or old.responder is None
                or old.initiator is None
                or old.responder.addr != gateway
                or old.initiator.addr != new.initiator.addr
                or (old.stages[Stage.HOST_RECOGNITION].start or 0.0) >= start
            ):
                continue
            old.redirected_to = old.redirected_to or new.responder.addr
            t = old.termination
            end = _end_of(old)
            if t is not None and t.reason in (Reason.STILL_ACTIVE, Reason.IDLE) and end:
                old.termination = Termination(
                    Reason.DELETED,
                    end[0],
                    end[1],
                    certainty=Certainty.INFERRED,
                    detail=f"redirected to {new.responder.addr} ({new.uid} names it in "
                    "REDIRECTED_FROM); its Delete is encrypted",
                )
            break


# ---------------------------------------------------------------- rekey collisions


def _rekey_collisions(child_sas: dict[str, ChildSa]) -> None:
    for new in child_sas.values():
        old = child_sas.get(new.rekeyed_from or "")
        if old is None or old.rekeyed_to == new.uid or new.certainty.get("rekey") is None:
            continue
        other = child_sas.get(old.rekeyed_to or "")
        if other is None or other.rekeyed_from != old.uid:
            continue
        # two successors: the one that carried traffic won, the other is redundant
        winner, loser = (new, other) if _packets(new) >= _packets(other) else (other, new)
        if _packets(loser) and _packets(winner):
            continue
        old.rekeyed_to = winner.uid
        t = loser.termination
        if t is not None and t.detail is None:
            t.detail = (
                f"redundant SA of a simultaneous rekey of {old.uid} (RFC 7296 2.8.1): "
                f"{winner.uid} replaced it"
            )


# ---------------------------------------------------------------- reauthentication


def _peers(sa: IkeSa) -> frozenset[str] | None:
    if sa.initiator is None or sa.responder is None:
        return None
    return frozenset((sa.initiator.addr, sa.responder.addr))


def _first_peers(sa: IkeSa) -> frozenset[str] | None:
    """The peers an IKE SA started with (its first endpoints, before any address update)."""
    return _peers(sa)


def entangled_with(live: dict[str, IkeSa]) -> Callable[[IkeSa], bool]:
    """Which half-open IKE SAs (one request, no answer, no child) the passes of
    :func:`explain_endings` could change, given the other SAs ``live``: one that a later
    SA's REDIRECTED_FROM names as redirected (:func:`_redirects`), or that started between
    the peers of an established SA (it could be its reauthentication,
    :func:`_reauthentications`). Every other one is explained on its own, with the same
    result (``Tracker`` parks such SAs, ``lifecycle.parked``)."""
    redirected = {
        (s.initiator.addr, s.redirected_from)
        for s in live.values()
        if s.redirected_from and s.initiator is not None
    }
    established = {_peers(s) for s in live.values() if s.established_frame is not None}

    def tangled(sa: IkeSa) -> bool:
        if (
            sa.initiator is not None
            and sa.responder is not None
            and (sa.initiator.addr, sa.responder.addr) in redirected
        ):
            return True
        return _first_peers(sa) in established

    return tangled


def _end_of(sa: IkeSa) -> tuple[float, int, Certainty] | None:
    """When an IKE SA was deleted: its Delete, or (without keys) its last INFORMATIONAL
    request when nothing followed it."""
    h = sa.hard_end
    if h is not None:
        if h.reason != Reason.DELETED or h.time is None or h.frame is None:
            return None
        return h.time, h.frame, h.certainty
    if (
        sa.last_exchange == "INFORMATIONAL"
        and sa.last_info_time is not None
        and sa.last_info_frame is not None
        and sa.last_time is not None
        and sa.last_time <= sa.last_info_time + 1.0
        and sa.certainty.get("deletes") == Certainty.ENCRYPTED
    ):
        return sa.last_info_time, sa.last_info_frame, Certainty.INFERRED
    return None


def _reauthentications(ike_sas: dict[str, IkeSa], child_sas: dict[str, ChildSa]) -> None:
    ordered = sorted(ike_sas.values(), key=lambda s: s.stages[Stage.HOST_RECOGNITION].start or 0.0)
    taken: set[str] = {s.rekeyed_from for s in ordered if s.rekeyed_from}
    # the candidates an IKE SA can reauthenticate, by (version, peers), in start order: only
    # established SAs can be, so a flood of half-open ones costs nothing here (a scan of every
    # SA per SA was quadratic: 4 s for 5,000 unanswered IKE_SA_INIT)
    candidates: dict[tuple[int, frozenset[str]], list[IkeSa]] = {}
    for s in ordered:
        peers = _peers(s)
        if s.established_frame is not None and peers is not None:
            candidates.setdefault((s.version, peers), []).append(s)
    for new in ordered:
        start = new.stages[Stage.HOST_RECOGNITION].start
        if not new.observed_from_start or start is None:
            continue
        if new.rekeyed_from and not _reauth_of(ike_sas.get(new.rekeyed_from)):
            continue  # an IKE SA rekey (CREATE_CHILD_SA) made this one
        best: tuple[IkeSa, float, int, Certainty] | None = None
        first = _first_peers(new)
        for old in candidates.get((new.version, first), []) if first is not None else []:
            if old is new:
                continue
            if (old.rekeyed_to and old.rekeyed_to != new.uid) or (
                old.uid in taken and old.rekeyed_to != new.uid
            ):
                continue
            if old.redirected_to or _peers(old) != _first_peers(new) or _peers(old) is None:
                continue
            old_start = old.stages[Stage.HOST_RECOGNITION].start or 0.0
            end = _end_of(old)
            if end is None or old_start >= start:
                continue
            t, frame, cert = end
            # make-before-break: the old SA deleted once the new one stands; break-before-make:
            # the new IKE_SA_INIT right after the Delete (a reconnection comes later)
            window = REAUTH_WINDOW if t >= start else BREAK_BEFORE_MAKE_WINDOW
            if abs(t - start) > window or (new.termination and _ended_before(new, t)):
                continue
            if best is None or t < best[1]:
                best = (old, t, frame, cert)
        if best is not None:
            _link_reauth(best[0], new, best[1], best[2], best[3], child_sas)
            taken.add(best[0].uid)


def _reauth_of(sa: IkeSa | None) -> bool:
    return sa is not None and sa.reauthenticated


def _ended_before(sa: IkeSa, t: float) -> bool:
    end = sa.termination
    return end is not None and end.time is not None and end.time < t


def _link_reauth(
    old: IkeSa,
    new: IkeSa,
    t: float,
    frame: int,
    cert: Certainty,
    child_sas: dict[str, ChildSa],
) -> None:
    same_ids = bool(old.identities) and all(
        old.identities.get(k) == new.identities.get(k) for k in ("initiator", "responder")
    )
    certainty = (
        Certainty.OBSERVED if cert == Certainty.OBSERVED and same_ids else Certainty.INFERRED
    )
    start = new.stages[Stage.HOST_RECOGNITION].start or 0.0
    how = "make-before-break" if t >= start else "break-before-make"
    old.rekeyed_to, new.rekeyed_from = new.uid, old.uid
    old.reauthenticated = True
    old.rekey_certainty = new.rekey_certainty = certainty
    old.termination = Termination(
        Reason.REAUTHENTICATED,
        t,
        frame,
        certainty=certainty,
        detail=f"replaced by {new.uid}: a new IKE_SA_INIT between the same peers, the old SA "
        f"deleted {'after' if how == 'make-before-break' else 'before'} it ({how}, "
        "RFC 7296 2.8.3)",
    )
    _note(
        old,
        Stage.TERMINATION,
        Event(t, frame, "ike.reauthenticated", f"reauthenticated as {new.uid} ({how})", certainty),
    )
    first = new.stages[Stage.HOST_RECOGNITION]
    if first.start is not None and first.start_frame is not None:
        _note(
            new,
            Stage.HOST_RECOGNITION,
            Event(
                first.start,
                first.start_frame,
                "ike.reauthenticates",
                f"reauthenticates {old.uid} ({how})",
                certainty,
            ),
        )
    olds = [child_sas[u] for u in old.child_sas if u in child_sas]
    news = [child_sas[u] for u in new.child_sas if u in child_sas]
    for oc in olds:
        if oc.rekeyed_to and oc.certainty.get("reauth") is None:
            continue  # rekeyed inside the old SA
        match = next(
            (
                nc
                for nc in news
                if (nc.rekeyed_from in (None, oc.uid))
                and nc.traffic_selectors == oc.traffic_selectors
            ),
            None,
        )
        if match is None:
            continue
        oc.rekeyed_to, match.rekeyed_from = match.uid, oc.uid
        match.certainty["reauth"] = certainty
        oc.certainty["reauth"] = certainty
        ot = oc.termination
        if ot is None or ot.time is None or ot.reason in (Reason.STILL_ACTIVE, Reason.IDLE):
            ot = Termination(Reason.DELETED, t, frame, certainty=certainty)
        oc.termination = Termination(
            Reason.REAUTHENTICATED,
            ot.time,
            ot.frame,
            certainty=min_certainty(ot.certainty, certainty),
            detail=f"re-created as {match.uid} in the reauthenticated IKE SA {new.uid}",
        )


def min_certainty(a: Certainty, b: Certainty) -> Certainty:
    return a if a != Certainty.OBSERVED else b


# ---------------------------------------------------------------- re-creation


def _recreations(ike_sas: dict[str, IkeSa], child_sas: dict[str, ChildSa]) -> None:
    for sa in ike_sas.values():
        kids = [child_sas[u] for u in sa.child_sas if u in child_sas]
        # kid positions by what they were rekeyed to: a new SA can only be the re-creation
        # of one rekeyed to nothing or to itself, so only those are looked at (comparing
        # each new child SA with every older one made a tunnel rekeyed N times cost N^2)
        by_target: dict[str | None, list[int]] = {}
        for n, kid in enumerate(kids):
            by_target.setdefault(kid.rekeyed_to, []).append(n)
        for new in kids:
            created = _created(new)
            if new.created_by != "CREATE_CHILD_SA" or created is None:
                continue
            if new.certainty.get("rekey") == Certainty.OBSERVED:
                continue  # REKEY_SA: a rekey
            free = by_target.get(None, [])
            for n in sorted(free + by_target.get(new.uid, [])):
                old = kids[n]
                old_created = _created(old)
                if old is new or old_created is None or old_created >= created:
                    continue
                if old.rekeyed_to not in (None, new.uid):
                    continue
                if (
                    old.traffic_selectors
                    and new.traffic_selectors
                    and (old.traffic_selectors != new.traffic_selectors)
                ):
                    continue
                found = _deleted_before(old, new, created)
                if found is None or _moving(sa, found):
                    continue
                was = old.rekeyed_to
                _link_recreation(old, new, *found)
                if was is None:  # now rekeyed to ``new``
                    free.remove(n)
                    by_target.setdefault(new.uid, []).append(n)
                break


def _deleted_before(
    old: ChildSa, new: ChildSa, created: float
) -> tuple[float, int, Certainty] | None:
    """(time, frame, certainty) of ``old``'s Delete just before ``new`` was requested."""
    h = old.hard_end
    if h is not None:
        if h.reason != Reason.DELETED or h.time is None or h.frame is None:
            return None
        if h.time <= created <= h.time + RECREATE_WINDOW:
            return h.time, h.frame, h.certainty
        return None
    info = new.info_before
    act = old.last_activity
    if info is None or act is None:
        return None
    t, frame = info
    # without keys: the old SA fell silent, an INFORMATIONAL (its Delete), then the request
    if act[0] <= t <= created <= t + RECREATE_WINDOW and t >= (_created(old) or t):
        return t, frame, Certainty.INFERRED
    return None


def _moving(sa: IkeSa, found: tuple[float, int, Certainty]) -> bool:
    """Whether an encrypted INFORMATIONAL taken for a Delete is part of a MOBIKE move.

    Why: right after an address change the INFORMATIONALs are the path check and
    UPDATE_SA_ADDRESSES (RFC 4555 §3.5), and an implementation that cannot move an
    installed SA (strongSwan's kernel-libipsec) then rekeys its children. Without keys that
    looks like "an INFORMATIONAL, then a CREATE_CHILD_SA", the shape of a re-creation; it
    is a rekey after the move, so no hard expiry is inferred from it. An observed Delete
    (with keys) is never overruled.
    """
    t, _frame, cert = found
    if cert == Certainty.OBSERVED:
        return False
    return any(
        u.cause == AddressCause.MOBIKE and u.time <= t <= u.time + RECREATE_WINDOW
        for u in sa.address_updates
    )


def _link_recreation(old: ChildSa, new: ChildSa, t: float, frame: int, cert: Certainty) -> None:
    if new.certainty.get("rekey") == Certainty.INFERRED:
        del new.certainty["rekey"]
    old.rekeyed_to, new.rekeyed_from = new.uid, old.uid
    new.certainty["recreated"] = Certainty.INFERRED
    seen = "Delete" if cert == Certainty.OBSERVED else "an INFORMATIONAL (its Delete, encrypted)"
    old.termination = Termination(
        Reason.LIFETIME_EXPIRED,
        t,
        frame,
        certainty=Certainty.INFERRED,
        detail=f"{seen} in frame {frame}, then re-created as {new.uid} by a CREATE_CHILD_SA "
        "without REKEY_SA: a hard lifetime ran out (not a rekey)",
    )
    _note(
        old,
        Stage.TERMINATION,
        Event(t, frame, "child.expired", f"hard lifetime reached; re-created as {new.uid}",
              Certainty.INFERRED),
    )  # fmt: skip
