"""Per-SPI sequence analysis (RFC 4303 §3.3.3, §3.4.3)."""

from __future__ import annotations

from ipsec_inspect.lifecycle.sequence import SEQ_MAX, SequenceAnalyzer


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
