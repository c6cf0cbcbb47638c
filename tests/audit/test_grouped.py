"""The audit judges SAs with equal facts once: the same findings and counts as SA by SA.

``Rule.by_facts`` lets ``audit.run.evaluate`` check a built-in rule once per group of SAs
whose ``ike_facts`` / ``child_facts`` are equal (a flood's thousands of identical SAs).
Two things keep that honest: every built-in check reads nothing outside its SA's facts
(watched attribute by attribute on real captures), and the grouped audit gives exactly
the findings and per-rule summaries of the audit that checks every SA (the same rules
with ``by_facts`` off), on captures that mix floods with real tunnels, with and without
``--max-sas`` evicting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.make_sa_captures import write
from ipsec_inspect.audit.findings import Outcome, Verdict, passed
from ipsec_inspect.audit.rules import RULES, Rule, child_facts, ike_facts
from ipsec_inspect.audit.run import evaluate
from ipsec_inspect.core.extensions import Extensions
from ipsec_inspect.lifecycle.model import Direction, Stage
from ipsec_inspect.lifecycle.tracker import TrackerConfig, TrackerResult
from ipsec_inspect.pipeline.session import Analysis
from tests.sample_corpus import SAMPLES, sample_captures, shared_captures

PER_SA = tuple(dataclasses.replace(r, by_facts=False) for r in RULES)


def _keys(path: Path) -> list[str]:
    own = path.with_name(path.name.split(".")[0] + ".keys.toml")
    return [str(own)] if own.exists() else []


def _analysed(
    paths: list[Path], max_sas: int | None = 20_000, keys: list[str] | None = None
) -> TrackerResult:
    config = TrackerConfig(max_sas=max_sas, all_findings=False)
    return Analysis([str(p) for p in paths], None, keys or [], config, keep_index=False).run()


@pytest.fixture(scope="module")
def floods(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("floods")
    esp, init = folder / "esp-300.pcap", folder / "init-300.pcap"
    write(esp, "esp", 300, 1, 20)
    write(init, "ike-init", 300, 7, 20)
    return esp, init


def _same(result: TrackerResult, keep_all: bool) -> None:
    grouped = evaluate(result, RULES, keep_all)
    grouped_summaries = result.rule_summaries
    alone = evaluate(result, PER_SA, keep_all)
    assert grouped == alone
    assert grouped_summaries == result.rule_summaries


def _mixes(floods: tuple[Path, Path]) -> Iterator[tuple[str, list[Path], int | None, list[str]]]:
    esp, init = floods
    tunnel = SAMPLES / "ikev2-tunnel.pcapng"
    v1 = SAMPLES / "ikev1-main-quick.pcap"
    yield "esp flood", [esp], 20_000, []
    yield "init flood", [init], 20_000, []
    yield "floods and a tunnel, no cap", [esp, tunnel, init], None, _keys(tunnel)
    yield "floods and a tunnel, cap 50", [esp, tunnel, init], 50, _keys(tunnel)
    yield "floods and IKEv1, cap 7", [init, v1, esp], 7, []


@pytest.mark.parametrize("max_groups", [1024, 2])
@pytest.mark.parametrize("keep_all", [False, True])
def test_grouped_audit_is_the_per_sa_audit_on_floods_mixed_with_tunnels(
    floods: tuple[Path, Path], keep_all: bool, max_groups: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also with few groups allowed: the SAs beyond them are judged alone, and their ids
    are merged with the groups' in SA order."""
    from ipsec_inspect.audit import run

    monkeypatch.setattr(run, "MAX_GROUPS", max_groups)
    for name, paths, cap, keys in _mixes(floods):
        result = _analysed(paths, cap, keys)
        assert result.ike_sas or result.child_sas, name
        _same(result, keep_all)
    # the flood's SAs are counted, not lost: 300 orphan child SAs not observed for A01
    result = _analysed([floods[0]])
    evaluate(result, RULES, keep_all)
    a01 = next(s for s in result.rule_summaries if s.rule == "A01")
    assert (a01.failed, a01.passed, a01.not_observable) == (0, 0, 300)
    assert a01.not_observable_sas == list(result.child_sas)


def _corpus() -> list[Path]:
    return [*sample_captures(), *shared_captures()]


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_grouped_audit_is_the_per_sa_audit_on_the_corpus(path: Path) -> None:
    result = _analysed([path], keys=_keys(path))
    _same(result, keep_all=True)
    _same(result, keep_all=False)


def test_sa_ids_of_two_groups_are_listed_in_sa_order_up_to_the_thousand(tmp_path: Path) -> None:
    """Orphans and a tunnel's child SAs both pass A10 (ESP, not AH) in groups of their
    own: the rule's first 1000 SA ids are still those of the first 1000 SAs."""
    esp = tmp_path / "esp-1500.pcap"
    write(esp, "esp", 1500, 1, 20)
    tunnel = SAMPLES / "ikev2-tunnel.pcapng"
    result = _analysed([esp, tunnel], None, _keys(tunnel))
    _same(result, keep_all=False)
    a10 = next(s for s in result.rule_summaries if s.rule == "A10")
    order = list(result.child_sas)
    assert a10.passed == len(order) > 1500 and a10.passed_sas == order[:1000]
    negotiated = [n for n, u in enumerate(order) if result.child_sas[u].ike_sa is not None]
    assert negotiated and 0 < negotiated[0] < 1000  # the tunnel's among the orphans


# ------------------------------------------------------------ the facts cover every read


class _Spy:
    """An SA (or a part of one) that writes down the path of every attribute read."""

    _MODEL = ("Direction", "SequenceAnalyzer", "IvHistory", "StageSpan", "Endpoint", "Termination")

    def __init__(self, obj: Any, path: str, reads: set[str]) -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_reads", reads)

    def __getattr__(self, name: str) -> Any:
        path = f"{self._path}.{name}" if self._path else name
        self._reads.add(path)
        return _spied(getattr(self._obj, name), path, self._reads)


def _spied(value: Any, path: str, reads: set[str]) -> Any:
    if type(value).__name__ in _Spy._MODEL:
        return _Spy(value, path, reads)
    if isinstance(value, list) and value and type(value[0]).__name__ in _Spy._MODEL:
        return [_Spy(v, f"{path}[]", reads) for v in value]
    if isinstance(value, dict) and value and isinstance(next(iter(value)), Stage):
        return {k: _spied(v, f"{path}[]", reads) for k, v in value.items()}
    return value


def _reads(fn: Any, sa: Any, result: TrackerResult) -> tuple[set[str], Any]:
    reads: set[str] = set()
    out = fn(_Spy(sa, "", reads), result) if result is not None else fn(_Spy(sa, "", reads))
    return reads, out


def _rich_results() -> list[TrackerResult]:
    return [_analysed([p], keys=_keys(p)) for p in _corpus()]


def test_every_built_in_check_reads_only_its_facts() -> None:
    """For a pass, an unseen or a rule that does not apply, the check reads nothing the
    facts leave out — so SAs with equal facts get that verdict alike. (A failure is
    checked again on every SA.)"""
    judged: dict[str, set[str]] = {}
    for result in _rich_results():
        for scope, sas, facts in (
            ("ike", list(result.ike_sas.values()), ike_facts),
            ("child", list(result.child_sas.values()), child_facts),
        ):
            for sa in sas:
                covered, _ = _reads(facts, sa, None)  # type: ignore[arg-type]
                for rule in RULES:
                    if rule.scope != scope:
                        continue
                    assert rule.by_facts
                    read, v = _reads(rule.check, sa, result)
                    if v is not None and v.outcome == Outcome.FAIL:
                        continue
                    assert read <= covered, (rule.id, sa.uid, read - covered)
                    judged.setdefault(rule.id, set()).add("none" if v is None else v.outcome)
    # the corpus reaches every rule, and most of them both ways
    assert set(judged) == {r.id for r in RULES}
    assert sum(1 for outcomes in judged.values() if len(outcomes) > 1) >= 10


def test_the_spy_sees_a_read_the_facts_leave_out() -> None:
    """The watch above can fail: a check reading a direction's key source is caught."""
    result = _analysed([SAMPLES / "ah.pcap"], keys=_keys(SAMPLES / "ah.pcap"))
    c = next(iter(result.child_sas.values()))
    covered, _ = _reads(child_facts, c, None)  # type: ignore[arg-type]

    def sneaky(sa: Any, _r: TrackerResult) -> Verdict:
        return passed(", ".join(d.key_source for d in sa.directions))

    read, _v = _reads(sneaky, c, result)
    assert read - covered == {"directions[].key_source"}
    assert isinstance(c.directions[0], Direction)


# ------------------------------------------------------------ plugin rules: SA by SA


def test_a_plugin_rule_is_checked_on_every_sa(floods: tuple[Path, Path]) -> None:
    """A rule from a plugin (no ``by_facts``) sees each SA itself: its verdicts may
    depend on anything, and they are counted and listed as before."""
    seen: list[str] = []

    def by_spi(c: Any, _r: TrackerResult) -> Verdict:
        seen.append(c.uid)
        return passed("even") if c.directions[0].spi % 2 == 0 else passed("odd")

    plugin = Rule("P01", "SPI parity", RULES[0].severity, "-", "child", Stage.CIRCUIT, by_spi)
    result = Analysis(
        str(floods[0]), keep_index=False, extensions=Extensions(rules=(plugin,))
    ).run()
    assert sorted(seen) == sorted(result.child_sas)
    findings = evaluate(result, (*RULES, plugin), keep_all=True)
    mine = [f.detail for f in findings if f.rule == "P01"]
    assert sorted(set(mine)) == ["even", "odd"] and len(mine) == 300
    p01 = next(s for s in result.rule_summaries if s.rule == "P01")
    assert p01.passed == 300
