"""Output at scale: the streamed document, per-rule summaries, severity counts, row limits."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ipsec_inspect.audit.findings import outcome_line
from ipsec_inspect.audit.run import audit
from ipsec_inspect.cli import main
from ipsec_inspect.export.timeline import build_timeline, load_schema, write_timeline
from ipsec_inspect.lifecycle.tracker import Tracker, TrackerConfig
from tests.lifecycle.builders import esp
from tests.lifecycle.scenarios import v1_aggressive_psk, v2_full

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _track(records: list, all_findings: bool = True):  # type: ignore[no-untyped-def]
    t = Tracker(TrackerConfig(all_findings=all_findings))
    for r in records:
        t.feed(r)
    t.finish()
    return audit(t.result())


@pytest.mark.parametrize("pretty", [False, True])
def test_streamed_document_is_the_built_one(pretty: bool) -> None:
    res = _track(v2_full())
    out = io.StringIO()
    write_timeline(out, res, {"path": "x.pcap"}, pretty=pretty)
    text = out.getvalue()
    assert json.loads(text) == build_timeline(res, {"path": "x.pcap"})
    assert ("\n" in text) is pretty
    if not pretty:  # the C encoder's default form, so the same bytes as json.dumps
        assert text == json.dumps(build_timeline(res, {"path": "x.pcap"}))


def test_passed_rules_are_counted_per_rule_not_listed_per_sa() -> None:
    every = _track(v2_full(), all_findings=True)
    failed_only = _track(v2_full(), all_findings=False)
    assert {f.outcome.value for f in failed_only.findings} <= {"fail"}
    assert len(failed_only.findings) == sum(1 for f in every.findings if f.outcome == "fail")
    doc = build_timeline(failed_only, {"path": "x"})
    by_rule = {s["rule"]: s for s in doc["findings_summary"]}
    for s in every.rule_summaries:
        listed = [f for f in every.findings if f.rule == s.rule]
        assert by_rule[s.rule]["passed"] == sum(1 for f in listed if f.outcome == "pass")
        assert by_rule[s.rule]["failed"] == sum(1 for f in listed if f.outcome == "fail")
        assert by_rule[s.rule]["not_observable"] == sum(
            1 for f in listed if f.outcome == "not_observable"
        )
    # a passed verdict, when listed, carries the rule's grade under another name
    full = build_timeline(every, {"path": "x"})
    passed = [f for f in full["findings"] if f["outcome"] == "pass"]
    assert passed and all("severity" not in f and "severity_if_failed" in f for f in passed)
    assert all("severity" in f for f in full["findings"] if f["outcome"] == "fail")


def test_outcome_line_counts_failures_by_severity() -> None:
    """Most severe first, only the severities that occur (issue 15)."""
    res = _track(v1_aggressive_psk())
    assert outcome_line(res) == "2 high, 2 medium, 3 low failed; 8 passed; 1 not observable"
    failed = [f.severity.value for f in res.findings if f.outcome == "fail"]
    assert sorted(failed) == sorted(["high"] * 2 + ["medium"] * 2 + ["low"] * 3)


def test_export_document_validates_and_lists_every_verdict_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    sample = str(SAMPLES / "ikev2-tunnel.pcapng")
    keys = str(SAMPLES / "ikev2-tunnel.keys.toml")
    assert main(["export", sample, "--keys", keys, "-o", str(tmp_path / "a.json")]) == 0
    doc = json.loads((tmp_path / "a.json").read_text())
    jsonschema.validate(doc, load_schema())
    assert {f["outcome"] for f in doc["findings"]} == {"fail"}
    total_passed = sum(s["passed"] for s in doc["findings_summary"])
    assert total_passed == 51
    argv = ["export", sample, "--keys", keys, "--findings", "all", "--pretty"]
    assert main([*argv, "-o", str(tmp_path / "b.json")]) == 0
    text = (tmp_path / "b.json").read_text()
    full = json.loads(text)
    jsonschema.validate(full, load_schema())
    assert sum(1 for f in full["findings"] if f["outcome"] == "pass") == total_passed
    assert text.startswith('{\n  "schema_version": ')


def test_summary_text_of_many_sas_shows_the_busiest_and_counts_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    capture = tmp_path / "many.pcap"
    _write_one_packet_sas(capture, 120)
    assert main(["summary", str(capture), "--limit", "10"]) == 0
    out = capsys.readouterr().out
    assert "Child SAs (120)" in out
    assert (
        f"… and 110 more child SAs of 120 (all of them: ipsec-inspect summary {capture} --all"
        in out
    )
    assert "… and 110 more SPIs of 120" in out
    assert out.count("0x100000") == 10  # SPI table rows
    assert main(["summary", str(capture), "--all"]) == 0
    assert "more child SAs" not in capsys.readouterr().out


def _write_one_packet_sas(path: Path, n: int) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_sa_captures", Path(__file__).resolve().parents[2] / "benchmarks/make_sa_captures.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.write(path, "esp", n, 1, 20)


def test_one_packet_orphans_get_one_child_sa_each() -> None:
    res = _track([esp(i + 1, 0x1000 + i, 1) for i in range(50)])
    assert len(res.child_sas) == 50
    assert sorted(d.spi for c in res.child_sas.values() for d in c.directions) == [
        0x1000 + i for i in range(50)
    ]
