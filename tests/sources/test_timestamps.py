"""Every timestamp field a capture holds goes through one conversion that cannot raise:
pcap seconds and fraction, the pcapng 64-bit timestamp, ``if_tsresol`` (decimal and
power-of-two) and ``if_tsoffset``. An unusable one is a warning naming the frame, and the
frame is kept at the previous frame's time."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipsec_inspect.sources.capture_file import CaptureReader
from ipsec_inspect.sources.timestamps import (
    LATEST_TIME,
    CaptureClock,
    RawTime,
    utc_text,
    why_unusable,
    year_of,
)
from tests.hostile import pcap_file, pcapng_file

ETH = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + b"\x45" + bytes(19)
T0 = 1_700_000_000


def _read(tmp_path: Path, blob: bytes) -> tuple[list[float], list[str], CaptureReader]:
    p = tmp_path / "t.cap"
    p.write_bytes(blob)
    r = CaptureReader(p)
    times = [f[1] for f in r]
    return times, [w.text() for w in r.info.warnings], r


def test_issue_example_year_508989(tmp_path: Path) -> None:
    times, warnings, r = _read(
        tmp_path, pcapng_file([(T0 * 10**6, ETH), (16 * 10**18, ETH), ((T0 + 2) * 10**6, ETH)])
    )
    assert times == [T0, T0, T0 + 2]
    assert warnings == [
        "frame 2: timestamp out of range (year 508989); shown as the previous frame's time"
    ]
    assert r.info.raw_times[2] == RawTime("pcapng", 16 * 10**18, 0, "10^-6", 0)
    assert r.info.last_time == T0 + 2


def test_first_frame_unusable_is_shown_at_the_epoch(tmp_path: Path) -> None:
    times, warnings, _ = _read(tmp_path, pcapng_file([(2**64 - 1, ETH), (T0 * 10**6, ETH)]))
    assert times == [0.0, T0]
    assert warnings == [
        "frame 1: timestamp out of range (year 586524); shown as 1970-01-01T00:00:00Z "
        "(no earlier frame)"
    ]


@pytest.mark.parametrize(
    ("tsresol", "tsoffset", "ticks", "expected", "warning"),
    [
        # 10^-30: makes no sense (a 64-bit counter cannot even reach a second)
        (30, None, T0, None, "timestamp unusable: if_tsresol 10^-30 s is finer than 10^-18 s"),
        # 2^-127: the power-of-two form, just as senseless
        (0x80 | 127, None, T0, None, "timestamp unusable: if_tsresol 2^-127 s"),
        # 2^0 (seconds) with a value beyond 2106
        (0x80, None, 2**40, None, "timestamp out of range (year 36812)"),
        # 2^-20 s units: a good time
        (0x80 | 20, None, T0 << 20, float(T0), None),
        # 10^0: seconds
        (0, None, T0, float(T0), None),
        # a negative offset before 1970
        (None, -(2**62), T0 * 10**6, None, "before 1970"),
        # a huge offset
        (None, 2**62, 0, None, "timestamp out of range (year 146138514283)"),
        # an offset that brings a small value to a real date
        (None, T0, 5_000_000, float(T0 + 5), None),
    ],
)
def test_pcapng_resolution_and_offset(
    tmp_path: Path,
    tsresol: int | None,
    tsoffset: int | None,
    ticks: int,
    expected: float | None,
    warning: str | None,
) -> None:
    good = T0 * 10**6
    frames = [(good, ETH), (ticks, ETH)]
    if tsresol is not None or tsoffset is not None:
        # both frames on the odd interface; the first is the usable reference only when
        # the interface itself is usable
        frames = [(ticks, ETH), (ticks, ETH)]
    times, warnings, r = _read(tmp_path, pcapng_file(frames, tsresol=tsresol, tsoffset=tsoffset))
    assert len(times) == 2  # the frames are kept
    if warning is None:
        assert warnings == []
        assert times[-1] == pytest.approx(expected)
    else:
        assert len(warnings) == 2 and all(warning in w for w in warnings), warnings
        assert warnings[0].startswith("frame 1: ")
        assert warnings[1].startswith("frame 2: ")
        assert times == [0.0, 0.0]
        assert set(r.info.raw_times) == {1, 2}


def test_pcap_fraction_of_a_second_or_more_and_seconds_beyond_2106(tmp_path: Path) -> None:
    blob = pcap_file([(T0, 250_000, ETH), (T0 + 1, 1_000_000, ETH), (T0 + 2, 5, ETH)])
    times, warnings, r = _read(tmp_path, blob)
    assert times == [pytest.approx(T0 + 0.25)] * 2 + [pytest.approx(T0 + 2.000005)]
    assert warnings == [
        "frame 2: timestamp fraction 1000000 is not below one second (1000000 units); "
        "shown as the previous frame's time"
    ]
    assert r.info.raw_times[2].to_json() == {
        "format": "pcap",
        "value": T0 + 1,
        "fraction": 1_000_000,
        "resolution": "10^-6",
    }
    # the largest pcap second with a fraction beyond it is after the last accepted time
    times, warnings, _ = _read(tmp_path, pcap_file([(T0, 0, ETH), (0xFFFFFFFF, 999_999, ETH)]))
    assert times == [T0, T0]
    assert warnings == [
        "frame 2: timestamp out of range (year 2106); shown as the previous frame's time"
    ]


def test_clock_and_formatting_never_raise() -> None:
    seen: list[tuple[int, str]] = []
    clock = CaptureClock(lambda f, m: seen.append((f, m)))
    assert clock.seconds(1, float(T0)) == T0
    for i, bad in enumerate([float("nan"), float("inf"), -1e300, 1e300, -1.0], start=2):
        assert clock.seconds(i, bad) == T0
    assert [f for f, _ in seen] == [2, 3, 4, 5, 6]
    assert seen[0][1].startswith("timestamp is not a number")
    assert seen[4][1].startswith("timestamp out of range (year 1969, before 1970)")
    for bad in (float("nan"), float("inf"), -1e300, 1e300, 2e13):
        assert utc_text(bad) is not None  # clamped, never an exception
    assert utc_text(1e300) == utc_text(LATEST_TIME) == "2106-02-07T06:28:15.000000Z"
    assert utc_text(-5.0) == "1970-01-01T00:00:00.000000Z"
    assert why_unusable(LATEST_TIME) is None
    assert year_of(16e12) == 508989
