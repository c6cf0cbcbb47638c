"""Running the audit: every rule of the run's table over a finished tracking result.

Why after tracking, not inside it: the tracker is a state machine and knows nothing of
rules; the audit reads only the final SA model. So the pipeline (or a command, a test, a
merge of shards) tracks first and audits the result it got — with the rule table the run
was composed with (the built-in :data:`~ipsec_inspect.audit.rules.RULES` plus plugin
rules), never one looked up globally. A view that only wants an empty result (the TUI
before its first frame) runs no rule at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ipsec_inspect.audit.findings import Finding
from ipsec_inspect.audit.rules import RULES, Rule

if TYPE_CHECKING:
    from ipsec_inspect.lifecycle.tracker import TrackerResult


def evaluate(result: TrackerResult, rules: Sequence[Rule] = RULES) -> list[Finding]:
    """Every rule against every SA of its scope, in rule order then SA order.

    ``rules`` is the run's composed table: the built-in rules first, then those of the
    loaded plugins (same row shape; a plugin rule that raises was wrapped when it was
    loaded, so it is reported against its plugin and skipped).
    """
    out: list[Finding] = []
    for rule in rules:
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


def audit(result: TrackerResult, rules: Sequence[Rule] = RULES) -> TrackerResult:
    """Fill ``result.findings`` from ``rules`` (replacing any earlier audit) and return it."""
    result.findings = evaluate(result, rules)
    return result
