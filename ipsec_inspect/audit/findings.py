"""Audit findings: what a rule says about an SA (:class:`Verdict`) and the finding it becomes.

Why three outcomes: a capture that does not show something cannot vouch for it. Every rule
answers ``fail`` (with the frames that show it), ``pass`` (the capture shows it is fine) or
``not_observable`` (encrypted without keys, never negotiated in the capture, no traffic) —
and never ``pass`` for what was not seen. Findings are derived from the final SA model, so
they are recomputed (not merged) after :func:`ipsec_inspect.lifecycle.merge.merge`.

Running the rules is :func:`ipsec_inspect.audit.run.audit`; this module holds only the
records, so the rule table can import them without the two modules importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ipsec_inspect.lifecycle.model import Certainty, Stage


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
