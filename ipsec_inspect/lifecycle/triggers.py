"""Why an SA was rekeyed, reauthenticated or ended: ``Termination.trigger``.

Why inference: IKEv2 carries no lifetimes, so what made a peer rekey is not on the wire.
What is observable (``../shared/design/lifecycle.md``, stage 5):

- IKEv1 lifetimes (seconds or kilobytes) negotiated in the SA, against the age and the
  bytes an SA reached: ``time`` or ``volume``, observed;
- a chain of successive rekeys of one SA: regular packet counts while the ages differ is a
  packet or byte limit (``volume``); regular ages while the counts differ is ``time``
  (both inferred; when both are regular the two cannot be told apart: ``unknown``);
- an IKEv2 REDIRECT from the gateway (RFC 5685): ``peer``, observed;
- a hard expiry inferred from a re-creation (:mod:`endings`): ``time``, inferred;
- the daemon's log: a rekey job (``time`` or ``volume`` from the counts), an IKE SA rekey
  task nobody commanded (``time``), a vici command (``user``), all observed.

Everything else is ``unknown``. SAs still active, idle or failed get no trigger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ipsec_inspect.lifecycle.model import Certainty, ChildSa, IkeSa, Reason, Stage, Trigger

if TYPE_CHECKING:  # the charon log parser is imported when a log is read (start-up)
    from ipsec_inspect.crypto.strongswan_log import DaemonHint

#: Two packet counts are "the same limit" within this many packets (in-flight packets
#: still use the old SA while the rekey exchange runs).
PACKET_SLACK = 3
#: Two ages are "the same lifetime" within this fraction (charon randomises rekey times).
AGE_SLACK = 0.15
#: An IKEv1 lifetime counts as reached at this fraction (peers rekey before the hard limit).
LIFETIME_REACHED = 0.85

_ENDED = frozenset(
    {Reason.REKEYED, Reason.REAUTHENTICATED, Reason.DELETED, Reason.LIFETIME_EXPIRED}
)


def assign_triggers(
    ike_sas: dict[str, IkeSa],
    child_sas: dict[str, ChildSa],
    hints: Sequence[DaemonHint] = (),
) -> None:
    by_spi: dict[int, str] = {}
    by_ike: dict[tuple[bytes, bytes], str] = {}
    for h in hints:  # the first line about an SA says why it went
        if h.spi is not None:
            by_spi.setdefault(h.spi, h.kind)
        if h.ike_spis is not None:
            by_ike.setdefault(h.ike_spis, h.kind)
    for sa in ike_sas.values():
        logged = by_ike.get((sa.spi_i, sa.spi_r))
        if logged == "user" and _ended(sa):
            _set(sa, Trigger.USER, Certainty.OBSERVED, "the daemon's log: a vici command")
        elif logged == "limit" and _ended(sa) and not sa.redirected_to:
            _set(sa, Trigger.TIME, Certainty.OBSERVED,
                 "the daemon's log: its own IKE_REKEY/IKE_REAUTH task, no vici command "
                 "(charon's IKE SA lifetimes are in seconds)")  # fmt: skip
        _ike_trigger(sa)
    lines = _Lines(child_sas)
    for c in child_sas.values():
        kinds = {by_spi[d.spi] for d in c.directions if d.spi in by_spi}
        if not kinds and _with_parent(c, ike_sas.get(c.ike_sa or "")):
            continue
        _child_trigger(c, lines, kinds)


#: what the rekeys of one line say: (trigger, its certainty, the detail)
Reading = tuple[Trigger, Certainty | None, str | None]


@dataclass(slots=True)
class _Lines:
    """The rekey lines (a child SA, its predecessors and successors) of one pass, each
    walked and read once.

    Why: every SA of a line is told from the same line, and walking it again for each of
    its SAs made a tunnel rekeyed N times cost N^2 (a headend's day: 48 rekeys per tunnel,
    the chains were most of the settlement). The links do not change during the pass
    (only the triggers are written), so one reading per line serves all its SAs.
    """

    child_sas: dict[str, ChildSa]
    #: child SA uid -> the first SA of its line, for SAs whose walk back found no loop
    firsts: dict[str, ChildSa] = field(default_factory=dict)
    #: the first SA's uid -> the line's rekeyed SAs, oldest first, and what they say
    read: dict[str, tuple[list[ChildSa], Reading | None]] = field(default_factory=dict)

    def first(self, c: ChildSa) -> ChildSa:
        """The oldest SA ``c``'s ``rekeyed_from`` links lead back to."""
        child_sas, firsts = self.child_sas, self.firsts
        path: list[str] = []
        seen = {c.uid}
        cur = c
        while True:
            known = firsts.get(cur.uid)
            if known is not None:  # its walk back ended without a loop: so does this one
                first = known
                break
            prev = cur.rekeyed_from
            if not prev or prev not in child_sas:
                first = cur
                break
            if prev in seen:  # a loop of links: walked again each time, never shared
                return cur
            path.append(cur.uid)
            cur = child_sas[prev]
            seen.add(cur.uid)
        for uid in path:
            firsts[uid] = first
        firsts[cur.uid] = first
        return first

    def line(self, c: ChildSa) -> tuple[list[ChildSa], Reading | None]:
        """``c``'s rekey chain (``_chain_from``) and, when it has two rekeys or more, what
        its counts and ages say (``_read_chain``)."""
        first = self.first(c)
        got = self.read.get(first.uid)
        if got is None:
            chain = _chain_from(first, self.child_sas)
            reading = _read_chain(chain, self.child_sas) if len(chain) >= 2 else None
            got = self.read[first.uid] = (chain, reading)
        return got


def _with_parent(c: ChildSa, parent: IkeSa | None) -> bool:
    """A child deleted with its IKE SA ended for the IKE SA's reason."""
    t, pt = c.termination, parent.termination if parent is not None else None
    if t is None or pt is None or t.trigger is not None or pt.trigger is None:
        return False
    if t.reason != Reason.DELETED or t.frame != pt.frame:
        return False
    t.trigger, t.trigger_certainty = pt.trigger, pt.trigger_certainty
    t.trigger_detail = f"deleted with its IKE SA {parent.uid if parent else ''}" + (
        f": {pt.trigger_detail}" if pt.trigger_detail else ""
    )
    return True


def _ended(sa: IkeSa | ChildSa) -> bool:
    t = sa.termination
    return t is not None and t.reason in _ENDED and t.trigger is None


def _set(
    sa: IkeSa | ChildSa, trigger: Trigger, certainty: Certainty | None, detail: str | None
) -> None:
    t = sa.termination
    assert t is not None
    t.trigger, t.trigger_certainty, t.trigger_detail = trigger, certainty, detail


def _ike_trigger(sa: IkeSa) -> None:
    t = sa.termination
    if t is not None and t.reason == Reason.FAILED and sa.redirected_to and t.trigger is None:
        # REDIRECT in IKE_SA_INIT or IKE_AUTH (RFC 5685 §4.1, §4.2): sent away, not refused;
        # the unfinished negotiation is the redirect's doing, so it is not repeated. (The
        # follow-up SA is not named: with another gateway it may be in another partition.)
        t.detail = f"redirected to {sa.redirected_to} before the SA was established"
        _set(
            sa,
            Trigger.PEER,
            Certainty.OBSERVED,
            f"the gateway redirected the client to {sa.redirected_to} (RFC 5685)",
        )
        return
    if t is None or t.reason not in _ENDED or t.trigger is not None:
        return
    if sa.redirected_to:
        _set(
            sa,
            Trigger.PEER,
            Certainty.OBSERVED,
            f"the gateway redirected the client to {sa.redirected_to} (RFC 5685)",
        )
        return
    age = _age(sa.established_time, t.time)
    if sa.lifetime_seconds and age is not None and age >= LIFETIME_REACHED * sa.lifetime_seconds:
        _set(sa, Trigger.TIME, Certainty.OBSERVED,
             f"{age:.0f} s of a negotiated lifetime of {sa.lifetime_seconds} s")  # fmt: skip
        return
    _set(sa, Trigger.UNKNOWN, None, None)


def _age(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return end - start


def _child_start(c: ChildSa) -> float | None:
    return c.stages[Stage.CIRCUIT].end or c.stages[Stage.TRANSMISSION].start


def _child_trigger(c: ChildSa, lines: _Lines, logged: set[str]) -> None:
    t = c.termination
    if t is None or t.reason not in _ENDED or t.trigger is not None:
        return
    if "user" in logged:
        _set(c, Trigger.USER, Certainty.OBSERVED, "the daemon's log: a vici rekey/terminate")
        return
    if logged & {"limit", "expired"}:
        _from_log(c, lines, "expired" in logged)
        return
    age = _age(_child_start(c), t.time)
    octets = max((d.byte_count for d in c.directions), default=0)
    if c.lifetime_kilobytes and octets >= LIFETIME_REACHED * c.lifetime_kilobytes * 1024:
        _set(c, Trigger.VOLUME, Certainty.OBSERVED,
             f"{octets} bytes of a negotiated lifetime of {c.lifetime_kilobytes} KB")  # fmt: skip
        return
    if c.lifetime_seconds and age is not None and age >= LIFETIME_REACHED * c.lifetime_seconds:
        _set(c, Trigger.TIME, Certainty.OBSERVED,
             f"{age:.0f} s of a negotiated lifetime of {c.lifetime_seconds} s")  # fmt: skip
        return
    if t.reason == Reason.LIFETIME_EXPIRED:
        _set(c, Trigger.TIME, Certainty.INFERRED,
             "a hard expiry re-created without REKEY_SA; lifetimes are usually in seconds")  # fmt: skip
        return
    if t.reason == Reason.REKEYED:
        reading = lines.line(c)[1]
        if reading is not None:
            _set(c, *reading)
            return
    _set(c, Trigger.UNKNOWN, None, None)


def _from_log(c: ChildSa, lines: _Lines, hard: bool) -> None:
    """The log says a lifetime ran out (soft: a rekey job; hard: expired) but not which of
    seconds, packets or bytes: regular counts tell volume, else it is time."""
    line = "closing expired CHILD_SA" if hard else "creating rekey job"
    reading = lines.line(c)[1]
    if reading is not None:
        _set(c, *reading)
        t = c.termination
        assert t is not None
        if t.trigger in (Trigger.VOLUME, Trigger.TIME):
            t.trigger_certainty = Certainty.OBSERVED
            t.trigger_detail = f"the daemon's log: {line}; {t.trigger_detail}"
            return
    _set(c, Trigger.TIME, Certainty.INFERRED,
         f"the daemon's log: {line} (a lifetime; seconds unless counts say otherwise)")  # fmt: skip


def _chain_from(first: ChildSa, child_sas: dict[str, ChildSa]) -> list[ChildSa]:
    """The rekeyed SAs of the line starting at ``first`` (it and its successors), oldest
    first, each with a rekeyed ending: the samples for regular counts and ages."""
    out: list[ChildSa] = []
    cur: ChildSa | None = first
    visited: set[str] = set()
    while cur is not None and cur.uid not in visited:
        visited.add(cur.uid)
        if cur.termination is not None and cur.termination.reason == Reason.REKEYED:
            out.append(cur)
        cur = child_sas.get(cur.rekeyed_to or "")
    return out


def _rekeyed_at(c: ChildSa, child_sas: dict[str, ChildSa]) -> float | None:
    """When the rekey began: the successor's CREATE_CHILD_SA request (the old SA's Delete
    and its last packets come later)."""
    succ = child_sas.get(c.rekeyed_to or "")
    if succ is not None:
        start = succ.stages[Stage.CIRCUIT].start or succ.stages[Stage.HOST_RECOGNITION].start
        if start is not None:
            return start
    return c.termination.time if c.termination else None


def _read_chain(chain: list[ChildSa], child_sas: dict[str, ChildSa]) -> Reading:
    """What a chain of two rekeys or more says of its SAs' trigger."""
    counts = [max((d.packets for d in x.directions), default=0) for x in chain]
    ages = [
        a
        for a in (_age(_child_start(x), _rekeyed_at(x, child_sas)) for x in chain)
        if a is not None
    ]
    same_count = max(counts) - min(counts) <= PACKET_SLACK and min(counts) > 0
    same_age = (
        len(ages) == len(chain)
        and min(ages) > 0
        and (max(ages) - min(ages)) <= AGE_SLACK * max(ages)
    )
    summary = (
        f"{len(chain)} rekeys of this SA's line: packets per direction {counts}, "
        f"ages {[round(a, 1) for a in ages]} s"
    )
    if same_count and not same_age:
        return Trigger.VOLUME, Certainty.INFERRED, summary + ": a packet or byte limit"
    if same_age and not same_count:
        return Trigger.TIME, Certainty.INFERRED, summary + ": a lifetime in seconds"
    return Trigger.UNKNOWN, None, summary
