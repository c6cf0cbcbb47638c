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

from ipsec_inspect.audit.findings import (
    SUMMARY_SA_IDS,
    Finding,
    Outcome,
    RuleSummary,
    flood_finding,
)
from ipsec_inspect.audit.rules import RULES, Rule

if TYPE_CHECKING:
    from ipsec_inspect.lifecycle.tracker import TrackerResult


def evaluate(
    result: TrackerResult, rules: Sequence[Rule] = RULES, keep_all: bool = True
) -> list[Finding]:
    """Every rule against every SA of its scope, in rule order then SA order.

    ``rules`` is the run's composed table: the built-in rules first, then those of the
    loaded plugins (same row shape; a plugin rule that raises was wrapped when it was
    loaded, so it is reported against its plugin and skipped). With ``keep_all`` False only
    failed verdicts become findings; every verdict is counted in ``result.rule_summaries``
    either way, and a flood of half-open IKE SAs is a finding about the capture.
    """
    # SA-major, one pass per scope: an SA parked out of memory (lifecycle.parked) is read
    # back once, not once per rule, and never all at once; the findings are then put in
    # rule order, SA order within a rule, as a rule-major loop would give them.
    per_rule: list[list[Finding]] = [[] for _ in rules]
    summaries = [RuleSummary(r.id, r.title, r.severity, r.reference, r.stage) for r in rules]
    for scope, sas in (("ike", result.ike_sas.values()), ("child", result.child_sas.values())):
        mine = [n for n, r in enumerate(rules) if (r.scope == "ike") == (scope == "ike")]
        if not mine:
            continue
        for sa in sas:
            for n in mine:
                _verdict(rules[n], sa, result, summaries[n], per_rule[n], keep_all)
    out = [f for found in per_rule for f in found]
    flood = flood_finding(result)
    if flood is not None:
        out.append(flood)
        summaries.append(
            RuleSummary(
                flood.rule, flood.title, flood.severity, flood.reference, flood.stage, failed=1
            )
        )
    result.rule_summaries = [s for s in summaries if s.failed or s.passed or s.not_observable]
    return out


def _verdict(
    rule: Rule,
    sa: Any,
    result: TrackerResult,
    summary: RuleSummary,
    out: list[Finding],
    keep_all: bool,
) -> None:
    """One rule on one SA: counted in ``summary``, a finding in ``out`` when kept."""
    v = rule.check(sa, result)
    if v is None:
        return
    if v.outcome == Outcome.FAIL:
        summary.failed += 1
    elif v.outcome == Outcome.PASS:
        summary.passed += 1
        if len(summary.passed_sas) < SUMMARY_SA_IDS:
            summary.passed_sas.append(sa.uid)
        if not keep_all:
            return
    else:
        summary.not_observable += 1
        if len(summary.not_observable_sas) < SUMMARY_SA_IDS:
            summary.not_observable_sas.append(sa.uid)
        if not keep_all:
            return
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


def audit(
    result: TrackerResult, rules: Sequence[Rule] = RULES, keep_all: bool | None = None
) -> TrackerResult:
    """Fill ``result.findings`` from ``rules`` (replacing any earlier audit) and return it.

    ``keep_all`` (default: the result's ``config.all_findings``): keep a finding for
    every verdict, not only for the failed ones.
    """
    if keep_all is None:
        keep_all = result.config.all_findings
    result.findings = evaluate(result, rules, keep_all)
    return result
