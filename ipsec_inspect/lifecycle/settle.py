"""Deciding how each SA ended, once the end of the capture is known.

Why separate from the tracker: some endings depend on where the capture stops (an SA is
``still_active`` or ``idle`` only relative to the last frame), so they are recomputed
whenever the end moves (``Tracker.finish`` is given the end of the whole capture, also in
each tunnel partition).
What was seen on the wire (a Delete, a failure notify) is kept in ``hard_end`` and never
revised; ``settle`` derives ``termination`` from it and from the timing.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from ipsec_inspect.lifecycle.model import Certainty, ChildSa, IkeSa, Reason, Stage, Termination


@dataclass(slots=True)
class SettleConfig:
    """The timeouts that settle SAs still open at the end of the capture."""

    idle_timeout: float = 300.0
    inferred_delete_after: float = 10.0


_UNFINISHED = {
    "INIT_SENT": (Stage.NEGOTIATION, "no response to the first message"),
    "INIT_DONE": (Stage.NEGOTIATION, "negotiation did not complete"),
    "MM_KE_SENT": (Stage.NEGOTIATION, "no response to Main Mode message 3"),
    "MM_KE_DONE": (Stage.CIRCUIT, "authentication never started"),
    "AM_REPLIED": (Stage.CIRCUIT, "Aggressive Mode message 3 never sent"),
    "AUTH_SENT": (Stage.CIRCUIT, "no response to the authentication request"),
}


#: How soon after its successor starts carrying traffic an old child SA must fall silent
#: for the pair to be read as a rekey when the CREATE_CHILD_SA contents are encrypted.
REKEY_GRACE = 10.0
#: How long before the successor's negotiation the old SA may have gone quiet.
REKEY_LEAD = 60.0


def infer_rekeys(ike_sas: dict[str, IkeSa], child_sas: dict[str, ChildSa]) -> None:
    """Link encrypted CREATE_CHILD_SA children to the SA they most likely replaced.

    Without keys the REKEY_SA notify is invisible, so a new child SA is taken as the
    successor of an older child SA of the same IKE SA when the old one stops carrying
    traffic shortly after the new one starts (``REKEY_GRACE``). Links made this way are
    marked ``inferred`` and recomputed from scratch on every call (so a merge can redo them).
    """
    for c in child_sas.values():
        if c.certainty.get("rekey") == Certainty.INFERRED:
            old = child_sas.get(c.rekeyed_from or "")
            if old is not None and old.rekeyed_to == c.uid:
                old.rekeyed_to = None
            c.rekeyed_from = None
            del c.certainty["rekey"]
    for sa in ike_sas.values():
        kids = [child_sas[u] for u in sa.child_sas if u in child_sas]
        _link_same_selector_quick_modes(kids)
        # after an IKE SA rekey (not a reauthentication) a child SA may be rekeyed under the
        # new IKE SA while its predecessor stayed with the old one (RFC 7296 §2.18)
        before = ike_sas.get(sa.rekeyed_from or "")
        olds = list(kids)
        if before is not None and before.rekeyed_to == sa.uid and not before.reauthenticated:
            olds += [child_sas[u] for u in before.child_sas if u in child_sas]
        by_activity = _ByActivity(olds)
        for new in kids:
            if new.created_by not in ("CREATE_CHILD_SA", "QUICK_MODE") or new.rekeyed_from:
                continue
            if new.certainty.get("chosen") != Certainty.ENCRYPTED:
                continue
            firsts = [d.first_time for d in new.directions if d.first_time is not None]
            created = new.stages[Stage.CIRCUIT].start
            if not firsts or created is None:
                continue
            start = min(firsts)
            best: ChildSa | None = None
            for old in by_activity.between(created - REKEY_LEAD, start + REKEY_GRACE):
                act = old.last_activity
                if old is new or old.rekeyed_to or act is None or old.hard_end is not None:
                    continue
                old_created = (
                    old.stages[Stage.CIRCUIT].start or old.stages[Stage.HOST_RECOGNITION].start
                )
                if old_created is None or old_created >= created:
                    continue
                if created - REKEY_LEAD <= act[0] <= start + REKEY_GRACE and (
                    best is None or old_created < (best.stages[Stage.CIRCUIT].start or 0)
                ):
                    best = old
            if best is not None:
                best.rekeyed_to, new.rekeyed_from = new.uid, best.uid
                new.certainty["rekey"] = Certainty.INFERRED


class _ByActivity:
    """Child SAs by the time of their last packet, to find those that fell silent in a
    window without walking all of them.

    Why: each new child SA of an IKE SA was compared with every older one, so a tunnel
    rekeyed N times cost N^2 at the end of the capture. Only SAs whose last activity is in
    the window can be a predecessor; they are handed back in their original order, so the
    choice among them is the one a walk of all of them makes.
    """

    def __init__(self, olds: list[ChildSa]) -> None:
        acts = []
        for n, old in enumerate(olds):
            act = old.last_activity
            if act is not None:
                acts.append((act[0], n))
        acts.sort()
        self._olds = olds
        self._times = [t for t, _n in acts]
        self._order = [n for _t, n in acts]

    def between(self, lo: float, hi: float) -> list[ChildSa]:
        """The SAs last active from ``lo`` to ``hi`` (both included), in their order."""
        first = bisect.bisect_left(self._times, lo)
        last = bisect.bisect_right(self._times, hi)
        return [self._olds[n] for n in sorted(self._order[first:last])]


def _link_same_selector_quick_modes(kids: list[ChildSa]) -> None:
    """IKEv1 has no REKEY_SA: a new Quick Mode for the same selectors (in either order) while
    the old SA is alive is its rekey (RFC 2409 §5.5; the lifecycle's stage 5). With the Quick Mode
    decrypted the selectors are observed, so the link is too."""
    for new in kids:
        if new.created_by != "QUICK_MODE" or new.rekeyed_from or not new.traffic_selectors:
            continue
        if new.certainty.get("chosen") != Certainty.OBSERVED:
            continue
        created = new.stages[Stage.CIRCUIT].start
        if created is None:
            continue
        for old in kids:
            old_created = old.stages[Stage.CIRCUIT].start
            if (
                old is new
                or old.rekeyed_to
                or old.created_by != "QUICK_MODE"
                or old_created is None
                or old_created >= created
                or _selector_pair(old) != _selector_pair(new)
                or (old.hard_end is not None and (old.hard_end.time or 0.0) < created)
            ):
                continue
            old.rekeyed_to, new.rekeyed_from = new.uid, old.uid
            new.certainty["rekey"] = Certainty.OBSERVED
            break


def _selector_pair(c: ChildSa) -> frozenset[tuple[str, ...]]:
    """The two ends of a child SA's selectors, whichever peer proposed them: a Quick Mode
    rekey started by the responder names them the other way round (its own side first)."""
    ts = c.traffic_selectors or {}
    return frozenset(tuple(v) for v in ts.values())


def _ike_activity(sa: IkeSa, children: dict[str, ChildSa]) -> tuple[float, int] | None:
    acts = [(sa.last_time, sa.last_frame or 0)] if sa.last_time is not None else []
    for uid in sa.child_sas:
        c = children.get(uid)
        if c is not None and c.last_activity is not None:
            acts.append(c.last_activity)
    return max(acts) if acts else None


def settle(
    ike_sas: dict[str, IkeSa],
    child_sas: dict[str, ChildSa],
    end_time: float | None,
    config: SettleConfig,
) -> None:
    """Set ``termination`` on every SA (idempotent)."""
    for sa in ike_sas.values():
        sa.termination = _settle_ike(sa, child_sas, end_time, config)
    for child in child_sas.values():
        parent = ike_sas.get(child.ike_sa) if child.ike_sa else None
        child.termination = _settle_child(child, parent, child_sas, end_time, config)


def _rekeyed(end: Termination) -> Termination:
    return Termination(
        Reason.REKEYED, end.time, end.frame, end.notify, end.stage, end.certainty, end.detail
    )


def _settle_ike(
    sa: IkeSa, children: dict[str, ChildSa], end: float | None, cfg: SettleConfig
) -> Termination:
    if sa.hard_end is not None:
        if sa.hard_end.reason == Reason.DELETED and sa.rekeyed_to:
            return _rekeyed(sa.hard_end)
        return sa.hard_end
    if sa.state in _UNFINISHED:
        stage, text = _UNFINISHED[sa.state]
        return Termination(Reason.FAILED, sa.last_time, sa.last_frame, None, stage, detail=text)
    act = _ike_activity(sa, children)
    if sa.rekeyed_to and act is not None:
        return Termination(Reason.REKEYED, act[0], act[1], certainty=Certainty.INFERRED)
    if act is None or end is None:
        return Termination(Reason.STILL_ACTIVE)
    if sa.lifetime_seconds and sa.stages[Stage.CIRCUIT].end is not None:
        expiry = (sa.stages[Stage.CIRCUIT].end or 0.0) + sa.lifetime_seconds
        if expiry <= end and act[0] <= expiry + 1.0:
            return Termination(
                Reason.LIFETIME_EXPIRED, expiry, act[1], certainty=Certainty.INFERRED
            )
    if (
        sa.last_exchange == "INFORMATIONAL"
        and sa.last_time is not None
        and end - sa.last_time >= cfg.inferred_delete_after
        and act[0] <= sa.last_time + 1.0
        and sa.certainty.get("deletes") == Certainty.ENCRYPTED
    ):
        return Termination(
            Reason.DELETED, sa.last_info_time, sa.last_info_frame, certainty=Certainty.INFERRED
        )
    if end - act[0] >= cfg.idle_timeout:
        return Termination(Reason.IDLE, act[0], act[1])
    return Termination(Reason.STILL_ACTIVE)


def _settle_child(
    c: ChildSa,
    parent: IkeSa | None,
    children: dict[str, ChildSa],
    end: float | None,
    cfg: SettleConfig,
) -> Termination:
    if c.hard_end is not None:
        if c.hard_end.reason == Reason.DELETED and c.rekeyed_to:
            return _rekeyed(c.hard_end)
        return c.hard_end
    act = c.last_activity
    if parent is not None and parent.termination is not None:
        pt = parent.termination
        if pt.reason == Reason.FAILED and act is None:
            return Termination(
                Reason.FAILED, pt.time, pt.frame, pt.notify, pt.stage, pt.certainty, pt.detail
            )
    if c.created_by and not c.answered and act is None:
        circ = c.stages[Stage.CIRCUIT]
        return Termination(
            Reason.FAILED,
            circ.end,
            circ.end_frame,
            None,
            Stage.CIRCUIT,
            detail="no response to the creating request",
        )
    if c.rekeyed_to:
        succ = children.get(c.rekeyed_to)
        if act is not None:
            return Termination(Reason.REKEYED, act[0], act[1], certainty=Certainty.INFERRED)
        if succ is not None and succ.stages[Stage.CIRCUIT].end is not None:
            circ = succ.stages[Stage.CIRCUIT]
            return Termination(
                Reason.REKEYED, circ.end, circ.end_frame, certainty=Certainty.INFERRED
            )
    if parent is not None and parent.termination is not None:
        pt = parent.termination
        if (
            pt.reason == Reason.DELETED
            and pt.time is not None
            and (act is None or act[0] <= pt.time + 1.0)
        ):
            return Termination(Reason.DELETED, pt.time, pt.frame, certainty=pt.certainty)
    if end is None:
        return Termination(Reason.STILL_ACTIVE)
    if act is None:
        circ = c.stages[Stage.CIRCUIT]
        act = (circ.end, circ.end_frame or 0) if circ.end is not None else None
    if c.lifetime_seconds and act is not None:
        start = c.stages[Stage.CIRCUIT].end or c.stages[Stage.TRANSMISSION].start
        if (
            start is not None
            and start + c.lifetime_seconds <= end
            and act[0] <= start + c.lifetime_seconds + 1.0
        ):
            return Termination(
                Reason.LIFETIME_EXPIRED,
                start + c.lifetime_seconds,
                act[1],
                certainty=Certainty.INFERRED,
            )
    if act is not None and end - act[0] >= cfg.idle_timeout:
        return Termination(Reason.IDLE, act[0], act[1])
    return Termination(Reason.STILL_ACTIVE)
