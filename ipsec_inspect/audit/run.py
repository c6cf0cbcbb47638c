"""Running the audit: every rule of the run's table over a finished tracking result.

Why after tracking, not inside it: the tracker is a state machine and knows nothing of
rules; the audit reads only the final SA model. So the pipeline (or a command, a test, a
merge of shards) tracks first and audits the result it got — with the rule table the run
was composed with (the built-in :data:`~ipsec_inspect.audit.rules.RULES` plus plugin
rules), never one looked up globally. A view that only wants an empty result (the TUI
before its first frame) runs no rule at all.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from ipsec_inspect.audit.findings import (
    SUMMARY_SA_IDS,
    Finding,
    Outcome,
    RuleSummary,
    Verdict,
    flood_finding,
)
from ipsec_inspect.audit.rules import RULES, Rule, child_facts, ike_facts

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
    scopes = (
        ("ike", result.ike_sas.values(), ike_facts),
        ("child", result.child_sas.values(), child_facts),
    )
    for scope, sas, facts_of in scopes:
        mine = [n for n, r in enumerate(rules) if (r.scope == "ike") == (scope == "ike")]
        if mine:
            judge = _Judge(rules, mine, result, summaries, per_rule, keep_all, facts_of)
            for sa in sas:
                judge.sa(sa)
            judge.count()
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


#: the facts of an SA that cannot be compared (an unhashable value): it is judged alone
_ALONE = object()

#: groups of alike SAs kept per scope. A flood makes a handful; SAs that all differ (a
#: head-end's tunnels, each with its own counts) are judged alone beyond this many, so
#: the audit's memory does not grow with them.
MAX_GROUPS = 1024


@dataclass(slots=True)
class _Ids:
    """The SAs with one outcome of one rule: how many, and the first ``SUMMARY_SA_IDS``
    of them as (position in the pass, uid)."""

    count: int = 0
    first: list[tuple[int, str]] = field(default_factory=list)

    def add(self, position: int, uid: str) -> None:
        self.count += 1
        if len(self.first) < SUMMARY_SA_IDS:
            self.first.append((position, uid))


@dataclass(slots=True)
class _Group:
    """SAs of one scope whose facts are equal: the verdict of each ``by_facts`` rule on the
    first of them (None: the rule does not apply), and the SAs themselves."""

    verdicts: list[Verdict | None]
    members: _Ids = field(default_factory=_Ids)
    #: (rule number, verdict) of the rules that failed, and of those that did not
    failed: list[tuple[int, Verdict]] = field(default_factory=list)
    others: list[tuple[int, Verdict]] = field(default_factory=list)

    @classmethod
    def of(cls, numbers: list[int], verdicts: list[Verdict | None]) -> _Group:
        group = cls(verdicts)
        for n, v in zip(numbers, verdicts, strict=True):
            if v is not None:
                (group.failed if v.outcome == Outcome.FAIL else group.others).append((n, v))
        return group


class _Judge:
    """The rules of one scope, SA by SA, with the ``by_facts`` rules judged once per group
    of SAs with equal facts.

    Why: a flood leaves ~20,000 SAs that differ only in SPIs, addresses and frames; 19
    rules on each made 380,000 verdicts that were only counted. A group's pass or unseen
    is counted once for all its SAs at the end (with their ids, in SA order); a failure is
    checked again on every SA, so its finding has that SA's frames; with ``keep_all`` each
    SA still gets its finding. The result is the same as checking every SA.
    """

    def __init__(
        self,
        rules: Sequence[Rule],
        mine: list[int],
        result: TrackerResult,
        summaries: list[RuleSummary],
        per_rule: list[list[Finding]],
        keep_all: bool,
        facts_of: Callable[[Any], Hashable],
    ) -> None:
        self.rules, self.result, self.keep_all = rules, result, keep_all
        self.summaries, self.per_rule, self.facts_of = summaries, per_rule, facts_of
        self.single = [n for n in mine if not rules[n].by_facts]
        self.grouped = [n for n in mine if rules[n].by_facts]
        self.groups: dict[Hashable, _Group] = {}
        self.position = 0
        # the passes and unseens of the SAs judged alone, per grouped rule
        self.alone = [(_Ids(), _Ids()) for _ in self.grouped]

    def sa(self, sa: Any) -> None:
        """Judge one SA: the rules without facts now, the others through its group."""
        rules, result, keep_all = self.rules, self.result, self.keep_all
        for n in self.single:
            _verdict(rules[n], sa, result, self.summaries[n], self.per_rule[n], keep_all)
        if not self.grouped:
            return
        position, self.position = self.position, self.position + 1
        try:
            facts: Hashable = self.facts_of(sa)
            group = self.groups.get(facts)
        except TypeError:  # an unhashable value in the facts
            facts, group = _ALONE, None
        if group is None and (facts is _ALONE or len(self.groups) >= MAX_GROUPS):
            self._alone(sa, position)
            return
        fresh = group is None
        if group is None:
            verdicts = [rules[n].check(sa, result) for n in self.grouped]
            group = self.groups[facts] = _Group.of(self.grouped, verdicts)
        group.members.add(position, sa.uid)
        for n, v in group.failed:  # checked again: this SA's own frames
            failed = v if fresh else rules[n].check(sa, result)
            _record(rules[n], sa, failed, self.summaries[n], self.per_rule[n], keep_all)
        if keep_all:
            for n, v in group.others:
                self.per_rule[n].append(_finding(rules[n], sa.uid, v))

    def _alone(self, sa: Any, position: int) -> None:
        """Every grouped rule on one SA of no group: its passes and unseens are counted
        with the groups' at the end (SA order), its failures now."""
        rules, result, keep_all = self.rules, self.result, self.keep_all
        for n, (passed, unseen) in zip(self.grouped, self.alone, strict=True):
            v = rules[n].check(sa, result)
            if v is None:
                continue
            if v.outcome == Outcome.FAIL:
                _record(rules[n], sa, v, self.summaries[n], self.per_rule[n], keep_all)
                continue
            (passed if v.outcome == Outcome.PASS else unseen).add(position, sa.uid)
            if keep_all:
                self.per_rule[n].append(_finding(rules[n], sa.uid, v))

    def count(self) -> None:
        """The passes and unseens of every group and lone SA, into the rules' summaries."""
        for i, n in enumerate(self.grouped):
            summary = self.summaries[n]
            passed, unseen = [self.alone[i][0]], [self.alone[i][1]]
            for group in self.groups.values():
                v = group.verdicts[i]
                if v is not None and v.outcome != Outcome.FAIL:
                    (passed if v.outcome == Outcome.PASS else unseen).append(group.members)
            summary.passed += sum(ids.count for ids in passed)
            summary.not_observable += sum(ids.count for ids in unseen)
            summary.passed_sas.extend(_first_ids(passed, len(summary.passed_sas)))
            summary.not_observable_sas.extend(_first_ids(unseen, len(summary.not_observable_sas)))


def _first_ids(sets: list[_Ids], have: int) -> list[str]:
    """The uids of the first SAs of ``sets`` (each in SA order), up to the summary's
    ``SUMMARY_SA_IDS`` with ``have`` already listed."""
    room = SUMMARY_SA_IDS - have
    lists = [ids.first for ids in sets if ids.first]
    if room <= 0 or not lists:
        return []
    merged = lists[0] if len(lists) == 1 else heapq.merge(*lists)
    return [uid for _position, uid in islice(merged, room)]


def _verdict(
    rule: Rule,
    sa: Any,
    result: TrackerResult,
    summary: RuleSummary,
    out: list[Finding],
    keep_all: bool,
) -> None:
    """One rule on one SA: counted in ``summary``, a finding in ``out`` when kept."""
    _record(rule, sa, rule.check(sa, result), summary, out, keep_all)


def _record(
    rule: Rule,
    sa: Any,
    v: Verdict | None,
    summary: RuleSummary,
    out: list[Finding],
    keep_all: bool,
) -> None:
    """``rule``'s verdict ``v`` on ``sa``: counted in ``summary``, a finding when kept."""
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
    out.append(_finding(rule, sa.uid, v))


def _finding(rule: Rule, uid: str, v: Verdict) -> Finding:
    """The finding of ``rule``'s verdict ``v`` on the SA ``uid`` (its own lists: a group's
    verdict is the finding of each of its SAs)."""
    return Finding(
        rule.id,
        rule.title,
        v.outcome,
        rule.severity,
        rule.reference,
        uid,
        rule.stage,
        v.detail,
        list(v.frames),
        v.certainty,
        dict(v.values),
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
