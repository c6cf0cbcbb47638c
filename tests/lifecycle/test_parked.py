"""Parking half-open IKE SAs (lifecycle/parked.py) changes memory, never the result."""

from __future__ import annotations

import json

from ipsec_inspect.audit.run import audit
from ipsec_inspect.core.records import Record
from ipsec_inspect.core.spill import SpillFile
from ipsec_inspect.export.timeline import build_timeline
from ipsec_inspect.lifecycle.parked import ParkedDict
from ipsec_inspect.lifecycle.tracker import Tracker, TrackerConfig, TrackerResult

from .scenarios import v2_full
from .test_eviction import _init, _source


def _run(records: list[Record], park: int | None) -> tuple[TrackerResult, str]:
    config = TrackerConfig(park_half_open=park)
    t = Tracker(config, spill=SpillFile() if park is not None else None)
    for r in records:
        t.feed(r)
    t.finish()
    res = audit(t.result())
    return res, json.dumps(build_timeline(res, {"path": "x"}), sort_keys=False)


def _records() -> list[Record]:
    flood = [_init(i + 1, i, _source(i)) for i in range(40)]
    full = v2_full()
    n = len(flood)
    for k, r in enumerate(full):  # the negotiated SA after the flood, in frame order
        r.meta.frame = n + k + 1
    again = _init(n + len(full) + 1, 3, _source(3))  # a retransmission of request 3
    again.meta.time = full[-1].meta.time + 1.0
    return [*flood, *full, again]


def test_parking_every_half_open_sa_gives_the_same_document() -> None:
    recs = _records()
    plain, doc = _run(recs, None)
    parked, doc_parked = _run(_records(), 0)
    assert isinstance(parked.ike_sas, ParkedDict) and not isinstance(plain.ike_sas, ParkedDict)
    # 40 flood requests parked; request 3 revived by its retransmission; the negotiated
    # SA's INIT request was parked too and revived by the answer.
    assert parked.ike_sas.parked == 39
    assert not parked.ike_sas.is_parked("ike-5a00000000000003")
    assert doc_parked == doc
    assert [f.rule for f in parked.findings] == [f.rule for f in plain.findings]
    assert json.loads(doc)["ike_sas"][3]["messages"] == 2


def test_without_a_spill_nothing_is_parked() -> None:
    res, _doc = _run(_records(), None)
    assert type(res.ike_sas) is dict and len(res.ike_sas) == 41


def test_evicting_parked_sas_drops_them_unread_and_gives_the_same_document() -> None:
    def run(park: int | None) -> tuple[TrackerResult, str, int, list[tuple[int, bytes]]]:
        spill = SpillFile() if park is not None else None
        t = Tracker(TrackerConfig(park_half_open=park, max_sas=20), spill=spill)
        reads = 0  # spill reads while evicting
        if spill is not None:
            get, evict = spill.get, t._evict
            evicting = False

            def counting(handle: tuple[int, int]) -> bytes:
                nonlocal reads
                reads += evicting
                return get(handle)

            def watched(target: int) -> None:
                nonlocal evicting
                evicting = True
                evict(target)
                evicting = False

            spill.get = counting  # type: ignore[method-assign]
            t._evict = watched  # type: ignore[method-assign]
        for r in _records():
            t.feed(r)
        t.finish()
        res = audit(t.result())
        index = list(t._st.ike_index)  # the evicted are gone from the index too
        return res, json.dumps(build_timeline(res, {"path": "x"})), reads, index

    plain, doc, _, index = run(None)
    parked, doc_parked, reads, index_parked = run(0)
    assert doc_parked == doc
    assert parked.evicted.half_open_ike_sas == plain.evicted.half_open_ike_sas == 24
    assert isinstance(parked.ike_sas, ParkedDict)
    assert index_parked == index and len(index) == 18
    assert reads == 0  # the 24 evicted were parked, and dropped unread
