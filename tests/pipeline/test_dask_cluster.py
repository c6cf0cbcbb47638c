"""The partitioned run on a real ``distributed.LocalCluster`` (worker processes).

One cluster for the module: starting worker processes is the expensive part.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ipsec_inspect.export.timeline import build_timeline, capture_json
from ipsec_inspect.lifecycle.tracker import TrackerConfig
from ipsec_inspect.pipeline.dask_engine import (
    DaskExecutor,
    RunReport,
    executor_for,
    run_partitioned,
)
from ipsec_inspect.wire.decoder import DecodeOptions
from tests.pipeline.cutting import cut, frames_of
from tests.pipeline.test_partitioned import SAMPLES, keys_for, single

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskExecutor]:
    ex = executor_for(None, 2)
    assert isinstance(ex, DaskExecutor) and ex.workers == 2
    yield ex
    ex.close()


def _doc(ex: DaskExecutor, names: list[str], keys: list[str], report: RunReport) -> dict:
    u = run_partitioned(names, DecodeOptions(), keys, TrackerConfig(), executor=ex, report=report)
    return build_timeline(u.result, capture_json(u.info, ", ".join(names))), u


def test_local_cluster_equals_one_pass(cluster: DaskExecutor, tmp_path: Path) -> None:
    path = SAMPLES / "esp-algorithms.pcap"
    keys = keys_for(path)
    names = [str(p) for p in cut(path, [13, 30], tmp_path)]
    report = RunReport()
    doc, _u = _doc(cluster, names, keys, report)
    assert report.partitions == 2 and all(n > 0 for n in report.part_records)
    assert report.indexed  # each partition got its own records' cuts from the workers
    assert sum(report.part_records) == len(frames_of(path))
    assert doc == single(names, keys)
    assert sum(d["decrypted"] for c in doc["child_sas"] for d in c["directions"]) > 0


def test_input_the_workers_cannot_read_is_reported_and_the_rest_returned(
    cluster: DaskExecutor,
) -> None:
    """A memory:// file exists in this process only: every try on a worker fails, the
    input is named, and the result of the others still comes back."""
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/only-here.pcap", (SAMPLES / "ah.pcap").read_bytes())
    good = str(SAMPLES / "esp-algorithms.pcap")
    report = RunReport()
    doc, u = _doc(cluster, ["memory://only-here.pcap", good], [], report)
    assert report.failed_inputs == ["memory://only-here.pcap"]
    assert any(
        "memory://only-here.pcap: left out, it failed on every try" in w.message for w in u.warnings
    )
    expected = single([good], [])
    for d in (doc, expected):
        d["capture"].pop("path")
    assert doc == expected


def test_summary_scheduler_equals_one_process(
    cluster: DaskExecutor, capsys: pytest.CaptureFixture[str]
) -> None:
    from ipsec_inspect.cli import main

    path = SAMPLES / "esp-algorithms.pcap"
    base = ["summary", str(path), str(SAMPLES / "ah.pcap"), "--format", "json"]
    assert main([*base, "--workers", "0"]) == 0
    one = capsys.readouterr().out
    address = cluster.client.scheduler.address
    assert main([*base, "--scheduler", address]) == 0
    assert capsys.readouterr().out == one


def test_spilled_cuts_fetched_one_at_a_time_across_workers(
    cluster: DaskExecutor, tmp_path: Path
) -> None:
    """Small limits: every index and cut is in a worker-local file, a piece is many
    spans, and each partition fetches its cuts (half of them from the other worker) as
    it reads them; the result still equals one pass."""
    from ipsec_inspect.pipeline.partition_index import Limits
    from ipsec_inspect.pipeline.session import Analysis
    from tests.pipeline.test_bounded_memory import capture

    path = capture(tmp_path / "c.pcap", 30_000)
    names = [str(p) for p in cut(path, [10_000, 20_000], tmp_path)]
    report = RunReport()
    u = run_partitioned(
        names,
        DecodeOptions(),
        [],
        TrackerConfig(),
        executor=cluster,
        report=report,
        limits=Limits(spill_bytes=4096, cut_records=3000),
    )
    doc = build_timeline(u.result, capture_json(u.info, ", ".join(names)))
    assert report.indexed and sum(report.part_records) == 30_000
    analysis = Analysis(names, DecodeOptions(), [], TrackerConfig(), keep_index=False)
    assert doc == build_timeline(analysis.run(), capture_json(analysis.info, ", ".join(names)))
