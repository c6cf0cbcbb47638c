"""Audit findings: what a rule says about an SA (:class:`Verdict`) and the finding it becomes.

Why three outcomes: a capture that does not show something cannot vouch for it. Every rule
answers ``fail`` (with the frames that show it), ``pass`` (the capture shows it is fine) or
``not_observable`` (encrypted without keys, never negotiated in the capture, no traffic) —
and never ``pass`` for what was not seen. Findings are derived from the final SA model, so
they are evaluated again (not merged) on the union of tunnel partitions (``pipeline.union``).

Running the rules is :func:`ipsec_inspect.audit.run.audit`; this module holds only the
records, so the rule table can import them without the two modules importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ipsec_inspect.lifecycle.model import Certainty, Stage

if TYPE_CHECKING:
    from ipsec_inspect.lifecycle.tracker import TrackerResult


class Outcome(StrEnum):
    FAIL = "fail"
    PASS = "pass"
    NOT_OBSERVABLE = "not_observable"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


@dataclass(slots=True)
class Verdict:
    """What one rule says about one SA (before it becomes a :class:`Finding`)."""

    outcome: Outcome
    detail: str
    frames: list[int] = field(default_factory=list)
    certainty: Certainty = Certainty.OBSERVED
    values: dict[str, Any] = field(default_factory=dict)


def fail(
    detail: str,
    frames: list[int] | None = None,
    certainty: Certainty = Certainty.OBSERVED,
    values: dict[str, Any] | None = None,
) -> Verdict:
    return Verdict(Outcome.FAIL, detail, sorted(set(frames or [])), certainty, dict(values or {}))


def passed(detail: str, values: dict[str, Any] | None = None) -> Verdict:
    return Verdict(Outcome.PASS, detail, values=dict(values or {}))


def unseen(detail: str) -> Verdict:
    return Verdict(Outcome.NOT_OBSERVABLE, detail)


@dataclass(slots=True)
class Finding:
    """One rule's outcome for one SA, with the frames that show it."""

    rule: str
    title: str
    outcome: Outcome
    severity: Severity
    reference: str
    sa: str
    stage: Stage
    detail: str
    frames: list[int]
    certainty: Certainty
    values: dict[str, Any] = field(default_factory=dict)


#: SA ids a rule summary lists per outcome; the counts are always whole
SUMMARY_SA_IDS = 1000


@dataclass(slots=True)
class RuleSummary:
    """One rule over every SA of its scope: how many failed, passed, could not be seen.

    Why: a capture with 100,000 SAs would otherwise repeat every rule that passed 100,000
    times. The failed verdicts are always kept whole (:class:`Finding`); the passed and
    not-observable ones are counted here, with the first ``SUMMARY_SA_IDS`` SA ids.
    """

    rule: str
    title: str
    severity: Severity
    reference: str
    stage: Stage
    failed: int = 0
    passed: int = 0
    not_observable: int = 0
    passed_sas: list[str] = field(default_factory=list)
    not_observable_sas: list[str] = field(default_factory=list)


#: the id of a finding about the capture as a whole rather than one SA
CAPTURE = "capture"


def flood_finding(result: TrackerResult) -> Finding | None:
    """An IKE_SA_INIT flood, with its figures, when the capture holds one.

    Half-open IKE SAs are those still waiting for their first answer at the end plus those
    evicted for ``max_sas``; a flood is ``FLOOD_MIN_HALF_OPEN`` of them or more.
    """
    from ipsec_inspect.lifecycle.flood import FLOOD_MIN_HALF_OPEN

    watch = getattr(result, "flood", None)
    evicted = getattr(result, "evicted", None)
    if watch is None or watch.first_time is None:
        return None
    waiting = sum(1 for sa in result.ike_sas.values() if sa.state in ("START", "INIT_SENT"))
    half_open = waiting + (evicted.half_open_ike_sas if evicted is not None else 0)
    if half_open < FLOOD_MIN_HALF_OPEN:
        return None
    seconds = (watch.last_time or watch.first_time) - watch.first_time
    busiest = watch.busiest_responder()
    took = f"{seconds:,.1f}" if seconds < 10 else f"{seconds:,.0f}"
    detail = (
        f"IKE_SA_INIT flood: {half_open:,} half-open IKE SAs from {watch.sources_text()} "
        f"sources in {took} s"
    )
    values: dict[str, Any] = {
        "half_open_ike_sas": half_open,
        "sources": len(watch.sources),
        "seconds": round(seconds, 6),
        "top_sources": [{"addr": a, "requests": n} for a, n in watch.top_sources()],
    }
    if busiest is not None:
        addr, requests, answered = busiest
        detail += f"; responder {addr} answered {answered:,} of {requests:,}"
        values["responder"] = {"addr": addr, "requests": requests, "answered": answered}
    top = ", ".join(f"{a} ({n:,})" for a, n in watch.top_sources())
    detail += f"; top sources: {top}"
    return Finding(
        "DOS-01",
        "IKE_SA_INIT flood (half-open IKE SAs)",
        Outcome.FAIL,
        Severity.HIGH,
        "RFC 7296 §2.6",
        CAPTURE,
        Stage.NEGOTIATION,
        detail,
        [],
        Certainty.OBSERVED,
        values,
    )


def severity_counts(findings: list[Finding]) -> list[tuple[Severity, int]]:
    """Failed findings per severity, most severe first, only those that occur."""
    counts = {s: 0 for s in Severity}
    for f in findings:
        if f.outcome == Outcome.FAIL:
            counts[f.severity] += 1
    return [(s, n) for s, n in counts.items() if n]


def outcome_line(result: TrackerResult) -> str:
    """``2 high, 1 info failed; 62 passed; 3 not observable`` (issue 15: by severity)."""
    failed = severity_counts(result.findings)
    summaries = getattr(result, "rule_summaries", None) or []
    passed = sum(s.passed for s in summaries)
    unseen = sum(s.not_observable for s in summaries)
    head = ", ".join(f"{n:,} {s.value}" for s, n in failed) + " failed" if failed else "0 failed"
    return f"{head}; {passed:,} passed; {unseen:,} not observable"
