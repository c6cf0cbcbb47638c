"""The streaming capture reader: formats, byte orders, resolutions, damage."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from ipsec_inspect.sources.capture_file import CaptureError, CaptureReader
from tests.pcapbuild import pcap, pcapng

ETH = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"


def frames_of(path: Path) -> tuple[list[tuple[int, float, int, bytes, int, int]], CaptureReader]:
    r = CaptureReader(path)
    return list(r), r


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, big_endian: bool, nano: bool) -> None:
    p = tmp_path / "a.pcap"
    p.write_bytes(
        pcap(
            [(1700000000.25, ETH + b"x" * 10), (1700000001.5, ETH + b"y")],
            big_endian=big_endian,
            nano=nano,
        )
    )
    frames, r = frames_of(p)
    assert [f[0] for f in frames] == [1, 2]
    assert frames[0][1] == pytest.approx(1700000000.25, abs=1e-9)
    assert frames[1][1] == pytest.approx(1700000001.5, abs=1e-9)
    assert frames[0][2] == 1
    assert frames[0][3] == ETH + b"x" * 10
    assert r.info.format == "pcap"
    assert r.info.frames == 2
    assert r.info.first_time == pytest.approx(1700000000.25)
    assert r.info.last_time == pytest.approx(1700000001.5)
    assert not r.info.warnings


def test_pcap_gzip_transparent(tmp_path: Path) -> None:
    p = tmp_path / "a.pcap.gz"
    p.write_bytes(gzip.compress(pcap([(1.0, ETH + b"z" * 3000)] * 500)))
    frames, r = frames_of(p)
    assert len(frames) == 500
    assert r.info.compressed
    assert frames[-1][3] == ETH + b"z" * 3000


def test_pcap_truncated_last_record_keeps_the_rest(tmp_path: Path) -> None:
    data = pcap([(1.0, ETH + b"a" * 100), (2.0, ETH + b"b" * 100), (3.0, ETH + b"c" * 100)])
    p = tmp_path / "t.pcap"
    p.write_bytes(data[:-30])
    frames, r = frames_of(p)
    assert [f[0] for f in frames] == [1, 2]
    assert len(r.info.warnings) == 1
    w = r.info.warnings[0]
    assert w.frame == 3
    assert "frame 3" in w.message and "truncated" in w.message


def test_pcap_corrupt_length_stops_with_warning(tmp_path: Path) -> None:
    data = bytearray(pcap([(1.0, ETH + b"a" * 10), (2.0, ETH + b"b" * 10)]))
    # Second record's captured length becomes absurd.
    second = 24 + 16 + 24
    data[second + 8 : second + 12] = (10_000_000).to_bytes(4, "little")
    p = tmp_path / "c.pcap"
    p.write_bytes(bytes(data))
    frames, r = frames_of(p)
    assert len(frames) == 1
    assert "frame 2" in r.info.warnings[0].message


def test_pcapng_interfaces_resolutions_and_blocks(tmp_path: Path) -> None:
    # iface 0: Ethernet, microseconds (default); iface 1: raw IP, nanoseconds; iface 2: SLL, 2^-10 s
    data = pcapng(
        [(1, None), (101, 9), (113, 0x80 | 10)],
        [
            (0, 1_700_000_000_000_000, b"eth"),
            (1, 1_700_000_000_500_000_000, b"\x45raw"),
            (2, 1024 * 5, b"sll"),
        ],
        extra_blocks=[(0x0BAD, b"unknown block body")],
        simple=[b"simple-packet"],
    )
    p = tmp_path / "a.pcapng"
    p.write_bytes(data)
    frames, r = frames_of(p)
    assert [(f[0], f[2], f[3], f[5]) for f in frames] == [
        (1, 1, b"eth", 0),
        (2, 101, b"\x45raw", 1),
        (3, 113, b"sll", 2),
        (4, 1, b"simple-packet", 0),
    ]
    assert frames[0][1] == pytest.approx(1_700_000_000.0)
    assert frames[1][1] == pytest.approx(1_700_000_000.5)
    assert frames[2][1] == pytest.approx(5.0)
    assert r.info.format == "pcapng"
    assert not r.info.warnings


def test_pcapng_big_endian_section(tmp_path: Path) -> None:
    p = tmp_path / "be.pcapng"
    p.write_bytes(pcapng([(1, None)], [(0, 2_000_000, b"frame")], big_endian=True))
    frames, _ = frames_of(p)
    assert frames[0][1] == pytest.approx(2.0)
    assert frames[0][3] == b"frame"


def test_pcapng_truncated_block(tmp_path: Path) -> None:
    data = pcapng([(1, None)], [(0, 1, b"a" * 40), (0, 2, b"b" * 40)])
    p = tmp_path / "t.pcapng"
    p.write_bytes(data[:-10])
    frames, r = frames_of(p)
    assert len(frames) == 1
    assert "truncated" in r.info.warnings[0].message
    assert r.info.warnings[0].frame == 2


def test_not_a_capture(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello, this is not a capture")
    with pytest.raises(CaptureError, match="not a pcap or pcapng capture"):
        CaptureReader(p)
    with pytest.raises(CaptureError, match="no such file"):
        CaptureReader(tmp_path / "missing.pcap")
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(CaptureError, match="empty"):
        CaptureReader(empty)


def test_memory_is_not_proportional_to_file(tmp_path: Path) -> None:
    # The reader hands frames on as it goes: after reading, it holds at most one chunk.
    p = tmp_path / "big.pcap"
    p.write_bytes(pcap([(float(i), ETH + bytes(1400)) for i in range(3000)]))
    r = CaptureReader(p)
    count = 0
    for _ in r:
        count += 1
        assert len(r._stream.buf) <= 2 * (1 << 20) + 2000
    assert count == 3000
