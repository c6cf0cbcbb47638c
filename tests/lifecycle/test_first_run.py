"""A run of first requests held raw (``lifecycle/first_run.py``) adds up to the figures
one request at a time makes: the flood figures by (source, responder) pair, with their
caps, and the run's own eviction off its front."""

from __future__ import annotations

import random

import pytest

from ipsec_inspect.lifecycle import flood as flood_module
from ipsec_inspect.lifecycle.first_run import FirstRun
from ipsec_inspect.lifecycle.flood import FloodWatch


def _requests(seed: int, n: int, net: str, sources: int) -> list[tuple[str, str, float]]:
    rnd = random.Random(seed)
    return [
        (f"{net}.{rnd.randrange(sources)}", f"203.0.113.{rnd.randrange(6)}", 100.0 + i * 0.5)
        for i in range(n)
    ]


def _batched(requests: list[tuple[str, str, float]], watch: FloodWatch) -> None:
    pairs: dict[tuple[str, str], int] = {}
    for src, dst, _t in requests:
        pairs[(src, dst)] = pairs.get((src, dst), 0) + 1
    watch.requests(pairs, requests[0][2], requests[-1][2])


@pytest.mark.parametrize("caps", [(100_000, 10_000), (8, 3), (4, 1)], ids=str)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_run_adds_up_to_its_requests_one_by_one(
    caps: tuple[int, int], seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flood_module, "MAX_TRACKED_SOURCES", caps[0])
    monkeypatch.setattr(flood_module, "MAX_TRACKED_RESPONDERS", caps[1])
    before = _requests(seed, 30, "192.0.2", 3)  # then the run's own sources, first in it
    run, after = _requests(seed + 10, 200, "198.51.100", 20), _requests(seed, 20, "192.0.2", 30)
    one, batch = FloodWatch(), FloodWatch()
    for src, dst, t in before:  # requests met one by one before the run, on both
        one.request(src, dst, t)
        batch.request(src, dst, t)
    one.answered("203.0.113.1")
    batch.answered("203.0.113.1")
    for src, dst, t in run:
        one.request(src, dst, t)
    _batched(run, batch)
    for src, dst, t in after:
        one.request(src, dst, t)
        batch.request(src, dst, t)
    assert batch == one
    assert list(batch.sources) == list(one.sources)  # the same order: the same tracked ones
    assert list(batch.responders) == list(one.responders)
    assert batch.half_open_started == 250
    if caps[0] < 20:
        assert batch.other_sources > 0


def test_a_run_with_no_request_changes_nothing() -> None:
    watch = FloodWatch()
    watch.requests({}, 1.0, 2.0)
    assert watch == FloodWatch()


def _run() -> tuple[FirstRun, list[int]]:
    evictions: list[int] = []
    room = [3]
    holder: list[FirstRun] = []

    def evict() -> None:
        evictions.append(holder[0].evict_oldest(2))

    run = FirstRun({(2, b"known..."): "ike-x"}, lambda: room[0], evict, lambda: None)
    holder.append(run)
    return run, evictions


def test_a_run_evicts_off_its_front_and_sums_every_request() -> None:
    run, evictions = _run()
    spis = [bytes([i]) * 8 for i in range(1, 8)]
    for i, spi in enumerate(spis):
        assert run.take(spi, ("a", "b"), 10 + i, 5.0 - i, ("req", i))
    assert not run.take(spis[-1], ("a", "b"), 99, 9.0, ("again",))  # a retransmission
    assert not run.take(b"known...", ("a", "b"), 99, 9.0, ("known",))  # an SA has it
    assert evictions == [2, 2]  # at the 4th and the 6th: over the room of 3
    assert list(run.queue) == spis[4:]
    assert run.sums() == (7, 16, -1.0, 5.0, 5.0, -1.0)
    assert dict(run.pairs) == {("a", "b"): 7}
    run.clear()
    assert not run.queue and not run.pairs and run.sums()[0] == 0
    assert run.take(spis[0], ("c", "d"), 30, 7.0, ("req", 0))  # a new run starts over
    assert run.sums() == (1, 30, 7.0, 7.0, 7.0, 7.0)
