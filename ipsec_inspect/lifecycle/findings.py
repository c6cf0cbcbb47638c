"""Audit findings: running the rule table of :mod:`ipsec_inspect.lifecycle.rules`.

Why three outcomes: a capture that does not show something cannot vouch for it. Every rule
answers ``fail`` (with the frames that show it), ``pass`` (the capture shows it is fine) or
``not_observable`` (encrypted without keys, never negotiated in the capture, no traffic) —
and never ``pass`` for what was not seen. Findings are derived from the final SA model, so
they are evaluated again (not merged) on the union of tunnel partitions (``scaleout.union``).
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


def evaluate(result: TrackerResult) -> list[Finding]:
    """Every rule against every SA of its scope, in rule order then SA order.

    The built-in rules come first, then those of the installed plugins (same row shape;
    a plugin rule that raises is reported against its plugin and skipped).
    """
    from ipsec_inspect.lifecycle.rules import RULES
    from ipsec_inspect.plugins import hooks as plugin_hooks

    out: list[Finding] = []
    for rule in RULES + plugin_hooks.rules():
        subjects: list[Any] = list(
            result.ike_sas.values() if rule.scope == "ike" else result.child_sas.values()
        )
        for sa in subjects:
            v = rule.check(sa, result)
            if v is None:
                continue
            out.append(
                Finding(
                    rule.id,
                    rule.title,
                    v.outcome,
                    rule.severity,
                    rule.reference,
                    sa.uid,
                    rule.stage,
                    v.detail,
                    v.frames,
                    v.certainty,
                    v.values,
                )
            )
    return out
