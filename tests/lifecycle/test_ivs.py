"""IV histories: runs of counter IVs stand for every IV in them; reuse anywhere is found."""

from __future__ import annotations

from ipsec_inspect.lifecycle.ivs import MAX_RUNS, IvHistory


def test_counter_ivs_are_one_run_and_a_reuse_is_found_with_its_frame() -> None:
    h = IvHistory()
    for n in range(1, 100_001):
        assert h.first_use(n) is None
        h.add(n, 1000 + n)
    assert (h.count, h.run_first, h.run_last, h.run_frame) == (100_000, 1, 100_000, 1001)
    assert h.past_runs == [] and len(h.singles) == 0
    assert h.first_use(5) == 1001  # a counter that restarted would be caught at once
    assert h.first_use(100_001) is None


def test_gaps_start_new_runs_and_singles_keep_their_frames() -> None:
    h = IvHistory()
    for n, frame in [(10, 1), (11, 2), (50, 3), (7, 4), (8, 5)]:
        h.add(n, frame)
    assert h.first_use(11) == 1 and h.first_use(50) == 3 and h.first_use(7) == 4
    assert h.first_use(9) is None and h.first_use(12) is None
    assert h.intervals() == [(10, 11, 1), (50, 50, 3), (7, 8, 4)]


def test_bounded_history_forgets_the_oldest_runs() -> None:
    h = IvHistory(bounded=True)
    for k in range(MAX_RUNS + 10):
        h.add(10 * k, k)
        h.add(10 * k + 1, k)
    assert len(h.past_runs) == MAX_RUNS
    assert h.first_use(0) is None  # forgotten
    assert h.first_use(10 * (MAX_RUNS + 9)) == MAX_RUNS + 9
    unbounded = IvHistory(bounded=False)
    for k in range(MAX_RUNS + 10):
        unbounded.add(10 * k, k)
        unbounded.add(10 * k + 1, k)
    assert unbounded.first_use(0) == 0
