from __future__ import annotations

from collections.abc import Iterable

import pytest

from ipsec_inspect.audit.run import audit
from ipsec_inspect.core.records import Record
from ipsec_inspect.lifecycle.tracker import Tracker, TrackerConfig, TrackerResult


def track(
    records: Iterable[Record], end: float | None = None, config: TrackerConfig | None = None
) -> TrackerResult:
    """Feed records, finish at ``end`` (default: the last record's time) and return the
    audited result, as the pipeline does (tracking first, then the audit on the result)."""
    t = Tracker(config)
    for r in records:
        t.feed(r)
    t.finish(end)
    return audit(t.result())


@pytest.fixture
def run_tracker():
    return track
