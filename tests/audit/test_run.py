"""The audit runs after tracking, on the result; the tracker itself runs no rule."""

from __future__ import annotations

from pathlib import Path

from ipsec_inspect.audit.rules import RULES, RULES_BY_ID
from ipsec_inspect.audit.run import audit, evaluate
from ipsec_inspect.core.extensions import Extensions
from ipsec_inspect.lifecycle.tracker import Tracker
from ipsec_inspect.pipeline.records import read_records
from ipsec_inspect.pipeline.session import Analysis

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "ikev1-main-quick.pcap"


def _tracked() -> Tracker:
    tracker = Tracker()
    for record in read_records(SAMPLE):
        tracker.feed(record)
    tracker.finish()
    return tracker


def test_the_tracker_result_carries_no_findings_until_audited() -> None:
    result = _tracked().result()
    assert len(result.ike_sas) == 1 and result.findings == []
    audited = audit(result)
    assert audited is result
    assert {f.rule for f in result.findings} >= {"V01"}  # IKEv1 is deprecated
    assert len(result.findings) == len(evaluate(result, RULES))


def test_the_audit_runs_the_table_it_is_given() -> None:
    result = _tracked().result()
    only = (RULES_BY_ID["V01"],)
    assert {f.rule for f in evaluate(result, only)} == {"V01"}
    assert evaluate(result, ()) == []


def test_the_pipeline_audits_with_the_run_s_rules() -> None:
    default = Analysis(str(SAMPLE), keep_index=False).run()
    assert {f.rule for f in default.findings} >= {"V01"}
    ruleless = Analysis(str(SAMPLE), keep_index=False, extensions=Extensions()).run()
    assert len(ruleless.ike_sas) == 1 and ruleless.findings == []
