"""Per-SPI sequence analysis (RFC 4303 §3.3.3, §3.4.3)."""

from __future__ import annotations

import pytest

from ipsec_inspect.lifecycle.sequence import SEQ_MAX, TRACK_BITS, SequenceAnalyzer


def feed(seqs, window=64, esn=False):
    a = SequenceAnalyzer(window=window, esn=esn)
    kinds = []
    for n, s in enumerate(seqs, 1):
        kinds += [x.kind for x in a.feed(s, n, float(n))]
    return a, kinds


def test_in_order_is_clean():
    a, kinds = feed(range(1, 101))
    assert (a.count, a.first, a.last, a.lost, a.replayed, a.out_of_order) == (
        100,
        1,
        100,
        0,
        0,
        0,
    ) and kinds == []


def test_gap_counts_lost_and_late_fill_reduces_it():
    a, _ = feed([1, 2, 5, 6])
    assert a.lost == 2
    a, _ = feed([1, 2, 5, 3, 6])
    assert (a.lost, a.out_of_order) == (1, 1)


def test_duplicate_is_a_replay_with_its_frame():
    a, kinds = feed([1, 2, 3, 2])
    assert (a.replayed, a.replay_frames, kinds) == (1, [4], ["replay"])


def test_out_of_order_beyond_window_is_a_violation():
    late = [s for s in range(1, 101) if s != 20] + [20]
    a, kinds = feed(late, window=64)
    assert (a.out_of_order, a.window_violations, a.lost, a.window_frames, kinds) == (
        1,
        1,
        0,
        [100],
        ["window"],
    )
    a, kinds = feed(late, window=128)
    assert (a.window_violations, kinds) == (0, [])


def test_counter_reset_on_the_same_spi():
    a, kinds = feed([*range(1, 201), 1, 2])
    assert (a.resets, a.reset_frames, kinds) == (1, [201], ["reset"])


def test_wrap_without_esn_and_with():
    a, kinds = feed([SEQ_MAX - 1, SEQ_MAX, 0, 1])
    assert a.wraps == 2 and kinds == ["wrap", "wrap"]
    a, kinds = feed([SEQ_MAX - 1, SEQ_MAX], esn=True)
    assert a.wraps == 0 and kinds == []


def test_extend_continues_the_receiver_state():
    whole, _ = feed([1, 2, 3, 2, 7, 5])
    first, _ = feed([1, 2, 3])
    later = SequenceAnalyzer()
    for n, s in enumerate([2, 7, 5], 4):
        later.feed(s, n, float(n))
    merged, anomalies = first.extend(later)
    assert [x.kind for x in anomalies] == ["replay"]
    assert (merged.replayed, merged.lost, merged.out_of_order, merged.count) == (
        whole.replayed,
        whole.lost,
        whole.out_of_order,
        whole.count,
    )


def _analyser_after_first(pending: int) -> SequenceAnalyzer:
    """An analyser that keeps no log, has seen packet 1 and then ``pending`` in order."""
    a = SequenceAnalyzer(keep_log=False)
    a.feed(1, 1, 1.0)
    for s in range(2, pending + 2):
        assert a.in_order(s)
    return a


@pytest.mark.parametrize(
    ("before", "run"),
    [
        (0, 1),
        (0, 7),
        (5, TRACK_BITS - 6),
        (5, TRACK_BITS - 5),
        (100, TRACK_BITS),
        (7, 3 * TRACK_BITS + 11),
    ],
)
def test_a_run_added_at_once_leaves_what_packet_by_packet_leaves(before: int, run: int) -> None:
    one_by_one = _analyser_after_first(before)
    at_once = _analyser_after_first(before)
    first = one_by_one.highest + 1
    for s in range(first, first + run):
        assert one_by_one.in_order(s)
    at_once.add_in_order(run, first + run - 1)
    assert at_once == one_by_one  # every field, the bitmap and what is pending included
    assert at_once.count == 1 + before + run and at_once.highest == first + run - 1
    # and what follows is classified alike: a replay of a number the run covered
    late = first + run - 2 if run > 1 else first - 1
    assert [x.kind for x in at_once.feed(late, 99, 9.0)] == ["replay"]
    assert [x.kind for x in one_by_one.feed(late, 99, 9.0)] == ["replay"]
    assert at_once == one_by_one
