"""--max-sas: the oldest half-open and orphan state is evicted, counted, and a flood is a finding."""

from __future__ import annotations

from ipsec_inspect.audit.run import evaluate
from ipsec_inspect.core.records import IkeMessage, SaBody
from ipsec_inspect.lifecycle.flood import FLOOD_MIN_HALF_OPEN
from ipsec_inspect.lifecycle.tracker import TrackerConfig

from .builders import ZERO, esp, ike2, pl, v2_ike_proposal
from .conftest import track
from .scenarios import v2_full


def _init(frame: int, n: int, src: str) -> IkeMessage:
    return ike2(
        frame,
        34,
        response=False,
        from_initiator=True,
        mid=0,
        spi_i=(0x5A00_0000_0000_0000 + n).to_bytes(8, "big"),
        spi_r=ZERO,
        src=src,
        dst="203.0.113.2",
        payloads=[pl(33, SaBody([v2_ike_proposal()]))],
    )


def _source(n: int) -> str:
    return f"192.0.2.{n % 7 + 1}"


def test_half_open_ike_sas_are_evicted_oldest_first_and_counted() -> None:
    # 1,500 unanswered IKE_SA_INIT; over 100 SAs the oldest are dropped down to 90.
    recs = [_init(i + 1, i, _source(i)) for i in range(1500)]
    res = track(recs, config=TrackerConfig(max_sas=100))
    assert (res.evicted.half_open_ike_sas, res.evicted.orphan_child_sas) == (1408, 0)
    assert len(res.ike_sas) == 92
    kept = sorted(int(sa.spi_i.hex(), 16) - 0x5A00_0000_0000_0000 for sa in res.ike_sas.values())
    assert kept == list(range(1408, 1500))  # the newest survive


def test_flood_finding_has_its_figures() -> None:
    recs = [_init(i + 1, i, _source(i)) for i in range(FLOOD_MIN_HALF_OPEN)]
    res = track(recs, config=TrackerConfig(max_sas=500))
    (flood,) = [f for f in res.findings if f.rule == "DOS-01"]
    assert flood.sa == "capture" and flood.severity.value == "high"
    # 999 s between the first and the last request: whole seconds from 10 s on
    assert flood.detail.startswith(
        "IKE_SA_INIT flood: 1,000 half-open IKE SAs from 7 sources in 999 s"
    )
    assert "responder 203.0.113.2 answered 0 of 1,000" in flood.detail
    assert flood.values["top_sources"][0] == {"addr": "192.0.2.1", "requests": 143}
    assert flood.values["half_open_ike_sas"] == 1000
    summary = {s.rule: s for s in res.rule_summaries}["DOS-01"]
    assert (summary.failed, summary.passed) == (1, 0)


def test_no_flood_below_the_threshold_and_answers_are_counted() -> None:
    recs = [_init(i + 1, i, _source(i)) for i in range(FLOOD_MIN_HALF_OPEN - 1)]
    res = track(recs)
    assert not [f for f in res.findings if f.rule == "DOS-01"]
    assert res.flood.half_open_started == FLOOD_MIN_HALF_OPEN - 1
    full = track(v2_full())
    assert full.flood.responders["198.51.100.2"].answered == 1
    assert (full.evicted.half_open_ike_sas, full.evicted.orphan_child_sas) == (0, 0)


def test_orphan_spis_are_evicted_after_half_open_ones_and_an_sa_with_ike_never() -> None:
    negotiated = v2_full()
    orphans = [
        esp(100 + i, 0x7000_0000 + i, 1, dst="198.51.100.9", t=1_700_000_100.0 + i)
        for i in range(40)
    ]
    res = track([*negotiated, *orphans], config=TrackerConfig(max_sas=20))
    # v2_full has 2 IKE-negotiated child SAs and 1 IKE SA: never evicted.
    assert {c.ike_sa for c in res.child_sas.values()} >= {"ike-1111111111111111"}
    assert sum(1 for c in res.child_sas.values() if c.ike_sa is not None) == 2
    assert res.evicted.orphan_child_sas == 40 - (len(res.child_sas) - 2)
    assert res.evicted.esp_packets == res.evicted.orphan_child_sas
    assert len(res.ike_sas) + len(res.child_sas) <= 20
    # an evicted SPI seen again starts a new orphan child SA
    again = track(
        [*negotiated, *orphans, esp(200, 0x7000_0000, 2, dst="198.51.100.9", t=1_700_000_200.0)],
        config=TrackerConfig(max_sas=20),
    )
    assert any(
        d.spi == 0x7000_0000 and d.first_frame == 200
        for c in again.child_sas.values()
        for d in c.directions
    )
    assert evaluate(again, keep_all=False) == [f for f in again.findings if f.outcome == "fail"]


def test_a_one_way_flood_of_orphan_spis_keeps_pairing_state_as_small_as_the_sas_kept() -> None:
    from ipsec_inspect.lifecycle.tracker import Tracker

    t = Tracker(TrackerConfig(max_sas=20))
    for i in range(500):
        t.feed(esp(i + 1, 0x7000_0000 + i, 1, dst="198.51.100.9", t=1_700_000_000.0 + i))
    lists = t._st.one_way
    assert len(t._st.child) <= 20 and t._st.evicted.orphan_child_sas >= 480
    # one list (one pair of addresses), holding the SAs kept, not one entry per SA seen
    assert list(lists) == [("192.0.2.1", "198.51.100.9")]
    assert len(lists[("192.0.2.1", "198.51.100.9")]) <= 20
    # the reverse direction still pairs with the newest orphan kept
    t.feed(esp(501, 0x0BAD_0000, 1, src="198.51.100.9", dst="192.0.2.1", t=1_700_000_600.0))
    t.finish()
    res = t.result()
    paired = [c for c in res.child_sas.values() if len(c.directions) == 2]
    assert [c.directions[0].spi for c in paired] == [0x7000_0000 + 499]


def test_a_cap_exceeded_by_negotiated_sas_keeps_the_fast_lanes_open() -> None:
    """A headend with more negotiated SAs than ``max_sas`` has nothing to evict: each record
    must then leave the ESP fast lanes open (closing them sent every later packet down the
    full path, an order of magnitude slower, once the cap was passed)."""
    from ipsec_inspect.core.records import NatKeepalive
    from ipsec_inspect.lifecycle.tracker import Tracker

    from .builders import B, meta
    from .scenarios import C1_R

    tracker = Tracker(TrackerConfig(max_sas=1))  # one IKE SA and one child SA: over the cap
    for r in v2_full(decrypted=False)[:7]:  # INIT, AUTH (no keys), three ESP packets one way
        tracker.feed(r)
    assert tracker.lane(B, C1_R) is not None
    assert tracker.esp_fast(8, 1.0e9 + 8, B, C1_R, 4, 200)
    tracker.feed(NatKeepalive(meta(9)))  # any record: the cap is looked at again
    assert tracker.esp_fast(10, 1.0e9 + 10, B, C1_R, 5, 200)  # still counted by the lane
    res = tracker.result()
    assert res.evicted.total == 0
    [child] = res.child_sas.values()
    assert [d.packets for d in child.directions if d.spi == C1_R] == [5]
