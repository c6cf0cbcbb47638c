"""The numpy survey of a plain pcap equals the ordinary survey, or declines.

``pipeline.fast_survey`` must give exactly what ``pipeline.tunnels.survey`` over the
ordinary reader gives — frames and bytes per tunnel, the SPIs in clear, the times, the
record index (codes, tunnels, offsets, end) — or None, where the ordinary path then runs.
Checked on every sample and shared capture (whole and cut into byte ranges), on crafted
frames of every kind the survey tells apart (plain ESP on each fixed-offset link type,
VLAN, IPv6, IPv4 options and fragments, NAT-T, IKE on 500 and 4500, non-IP, short
frames), with windows small enough that records straddle them, and on damage.
"""

from __future__ import annotations

import struct
from array import array
from pathlib import Path

import numpy as np
import pytest

from ipsec_inspect.pipeline import fast_survey
from ipsec_inspect.pipeline.fast_survey import survey_pcap
from ipsec_inspect.pipeline.partition_index import PieceIndex, piece_index
from ipsec_inspect.pipeline.tunnels import FrameCodes, Survey, survey
from ipsec_inspect.sources.byte_ranges import ByteRange, read_range, split_capture, whole_file
from tests.pcapbuild import pcap
from tests.sample_corpus import label, sample_captures, shared_captures

A, B, C, D = (bytes([192, 0, 2, k]) for k in (1, 2, 3, 4))
V6A, V6B = (
    bytes.fromhex("20010db8" + "00" * 11 + "01"),
    bytes.fromhex("20010db8" + "00" * 11 + "02"),
)
ETH = bytes(6) + bytes([2, 0, 0, 0, 0, 1])
#: a real time: byte ranges find record boundaries by plausible times (near the first)
T0 = 1_700_000_000.0


def ipv4(
    src: bytes, dst: bytes, proto: int, body: bytes, *, frag: int = 0, opts: bytes = b""
) -> bytes:
    ihl = 5 + len(opts) // 4
    head = struct.pack("!BBHHHBBH", 0x40 | ihl, 0, 4 * ihl + len(body), 1, frag, 64, proto, 0)
    return head + src + dst + opts + body


def ipv6(src: bytes, dst: bytes, nxt: int, body: bytes) -> bytes:
    return struct.pack("!IHBB", 0x60000000, len(body), nxt, 64) + src + dst + body


def udp(sport: int, dport: int, body: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body


def esp(spi: int, seq: int = 1) -> bytes:
    return struct.pack("!II", spi, seq) + bytes(24)


def ike(spi_i: bytes) -> bytes:
    return spi_i + bytes(8) + bytes([33, 0x20, 34, 8]) + struct.pack("!II", 0, 28)


def eth(ip: bytes, ethertype: int = 0x0800) -> bytes:
    return ETH + struct.pack("!H", ethertype) + ip


def ordinary(r: ByteRange) -> tuple[Survey, PieceIndex | None]:
    offsets: array[int] = array("Q")
    readers: list = []
    codes = FrameCodes()
    s = survey(read_range(r, offsets, readers.append), codes)
    return s, piece_index(r, s, offsets, readers, codes)


def assert_same(r: ByteRange, *, must: bool = False) -> None:
    fast = survey_pcap(r)
    if fast is None:
        assert not must, f"{r}: the numpy survey declined"
        return
    s, idx = ordinary(r)
    fs, fi = fast
    assert (fs.frames, fs.sizes, fs.ike, fs.esp) == (s.frames, s.sizes, s.ike, s.esp)
    assert (fs.count, fs.first_time, fs.last_time, fs.in_order) == (
        s.count,
        s.first_time,
        s.last_time,
        s.in_order,
    )
    assert idx is not None, "the ordinary reader remarked on a piece the numpy survey took"
    assert fi.tunnels == idx.tunnels and fi.overflow == idx.overflow and fi.end == idx.end
    assert np.array_equal(fi.codes.values(), idx.codes.values())
    assert np.array_equal(fi.starts.values(), idx.starts.values())
    assert fi.starts.dtype == idx.starts.dtype


def _pcaps() -> list[Path]:
    with_magic = []
    for p in [*sample_captures(), *shared_captures()]:
        with p.open("rb") as fh:
            if fh.read(4) in (
                b"\xd4\xc3\xb2\xa1",
                b"\xa1\xb2\xc3\xd4",
                b"\x4d\x3c\xb2\xa1",
                b"\xa1\xb2\x3c\x4d",
            ):
                with_magic.append(p)
    return with_magic


@pytest.mark.parametrize("path", _pcaps(), ids=label)
def test_every_pcap_of_the_corpus(path: Path) -> None:
    assert_same(whole_file(str(path)))
    for r in split_capture(str(path), 3, min_size=1):
        assert_same(r)


def mixed() -> list[tuple[float, bytes]]:
    """Every kind of frame the survey tells apart, on four address pairs."""
    frames = [
        eth(ipv4(A, B, 50, esp(0x100))),
        eth(ipv4(B, A, 50, esp(0x200))),  # the other direction: the same tunnel
        eth(ipv4(C, D, 50, esp(0x300))),
        eth(ipv4(A, B, 17, udp(500, 500, ike(b"\x11" * 8)))),
        eth(ipv4(C, A, 17, udp(4500, 4500, b"\0\0\0\0" + ike(b"\x22" * 8)))),  # NAT-T IKE
        eth(ipv4(C, A, 17, udp(4500, 4500, esp(0x400)))),  # NAT-T ESP
        eth(ipv4(A, D, 50, esp(0x300))),  # an SPI on a second tunnel
        eth(ipv4(A, B, 50, esp(0x100), frag=0x2000)),  # first fragment: no SPI read
        eth(ipv4(A, B, 50, b"\x01\x02", frag=0x0005)),  # a later fragment
        eth(ipv4(B, C, 50, esp(0x500), opts=b"\x01\x01\x01\x00")),  # IPv4 options
        ETH + b"\x81\x00\x00\x05\x08\x00" + ipv4(A, C, 50, esp(0x600)),  # VLAN
        eth(ipv6(V6A, V6B, 50, esp(0x700)), 0x86DD),
        eth(b"\x00\x01\x08\x00\x06\x04\x00\x01" + bytes(20), 0x0806),  # ARP: not IP
        eth(ipv4(A, B, 50, b""))[:34],  # IPv4 header, no SPI
        eth(ipv4(A, B, 50, esp(0x100)))[:36],  # cut inside the SPI
        ETH[:10],  # shorter than an Ethernet header
        eth(ipv4(A, B, 6, b"\x00" * 20)),  # TCP
    ]
    out = []
    for k in range(60):
        out.append((T0 + k * 0.25, frames[k % len(frames)]))
    out.append((T0 + 0.5, eth(ipv4(D, C, 50, esp(0x800)))))  # out of time order
    return out


@pytest.mark.parametrize("window", [fast_survey.WINDOW, 300, 64])
@pytest.mark.parametrize("variant", ["le", "be", "nano"])
def test_crafted_ethernet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int, variant: str
) -> None:
    """Small windows put record boundaries (and the carry) everywhere."""
    monkeypatch.setattr(fast_survey, "WINDOW", window)
    path = tmp_path / "mixed.pcap"
    path.write_bytes(pcap(mixed(), big_endian=variant == "be", nano=variant == "nano"))
    assert_same(whole_file(str(path)), must=True)
    fs, fi = survey_pcap(whole_file(str(path)))  # type: ignore[misc]
    assert not fs.in_order and fs.count == 61 and len(fi.tunnels) >= 6
    assert fs.esp[0x300] == {A + D, C + D} and fs.ike[b"\x11" * 8] == {A + B}
    for r in split_capture(str(path), 4, min_size=1):
        assert_same(r, must=True)


def _sll(ip: bytes, proto: int = 0x0800) -> bytes:
    return struct.pack("!HHH", 0, 1, 6) + bytes(8) + struct.pack("!H", proto) + ip


def _sll2(ip: bytes, proto: int = 0x0800) -> bytes:
    return struct.pack("!HHI", proto, 0, 2) + struct.pack("!HBB", 1, 0, 6) + bytes(8) + ip


@pytest.mark.parametrize(
    ("link_type", "wrap"),
    [
        (113, _sll),
        (276, _sll2),
        (101, lambda ip: ip),
        (228, lambda ip: ip),
        (0, lambda ip: struct.pack("<I", 2) + ip),  # BSD null: the Python path only
        (108, lambda ip: struct.pack(">I", 2) + ip),
        (147, lambda ip: ip),  # a link type no parser knows: every frame is "not IP"
    ],
)
def test_other_link_types(tmp_path: Path, link_type: int, wrap: object) -> None:
    frames = [
        ipv4(A, B, 50, esp(0x10)),
        ipv4(B, A, 50, esp(0x11)),
        ipv4(C, D, 17, udp(500, 500, ike(b"\x33" * 8))),
        ipv4(C, D, 50, esp(0x12), frag=0x2000),
        ipv6(V6A, V6B, 50, esp(0x13)),
    ]
    made = [(T0 + k, wrap(frames[k % len(frames)])) for k in range(23)]  # type: ignore[operator]
    if link_type in (113, 276):
        made.append((T0 + 100, wrap(ipv4(A, B, 50, esp(0x10)), 0x86DD)))  # type: ignore[operator]
    path = tmp_path / "link.pcap"
    path.write_bytes(pcap(made, link_type=link_type))
    assert_same(whole_file(str(path)), must=True)


def test_more_tunnels_than_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_survey, "WINDOW", 4096)
    frames = []
    for k in range(600):
        a, b = bytes([10, 0, k % 250, 1]), bytes([10, 1, (k // 2) % 150, 2])
        frames.append((1.0 + k, eth(ipv4(a, b, 50, esp(0x1000 + k % 300)))))
    path = tmp_path / "many.pcap"
    path.write_bytes(pcap(frames))
    assert_same(whole_file(str(path)), must=True)
    _s, idx = survey_pcap(whole_file(str(path)))  # type: ignore[misc]
    assert idx.overflow and len(idx.tunnels) == 255


def test_a_record_larger_than_the_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_survey, "WINDOW", 1000)
    big = eth(ipv4(A, B, 50, esp(0x99) + bytes(5000)))
    frames = [
        (1.0, eth(ipv4(A, B, 50, esp(0x99)))),
        (2.0, big),
        (3.0, big),
        (4.0, eth(ipv4(C, D, 50, esp(1)))),
    ]
    path = tmp_path / "big.pcap"
    path.write_bytes(pcap(frames, snaplen=1 << 20))
    assert_same(whole_file(str(path)), must=True)


def _record(sec: int, frac: int, data: bytes, incl: int | None = None) -> bytes:
    n = len(data) if incl is None else incl
    return struct.pack("<IIII", sec, frac, n, len(data)) + data


@pytest.mark.parametrize(
    "tail",
    [
        _record(5, 0, b""),  # an empty record
        _record(5, 0, b"x" * 10, incl=300_000),  # longer than the limit
        _record(5, 0, b"x" * 40)[:-3],  # truncated
        _record(5, 0, b"x" * 40)[:9],  # a truncated header
        _record(5, 1_000_000, eth(ipv4(A, B, 50, esp(7)))),  # sub-seconds of a whole second
        _record(0xFFFFFFFF, 1, eth(ipv4(A, B, 50, esp(7)))),  # past the latest time
    ],
)
def test_declines_what_the_reader_remarks_on(tmp_path: Path, tail: bytes) -> None:
    good = pcap([(1.0 + k, eth(ipv4(A, B, 50, esp(7, k)))) for k in range(5)], snaplen=65535)
    path = tmp_path / "damaged.pcap"
    path.write_bytes(good + tail + _record(9, 0, eth(ipv4(A, B, 50, esp(7)))))
    assert survey_pcap(whole_file(str(path))) is None
    path.write_bytes(good)
    assert survey_pcap(whole_file(str(path))) is not None


def test_not_a_local_pcap(tmp_path: Path) -> None:
    assert survey_pcap(whole_file("memory://x.pcap")) is None
    assert survey_pcap(whole_file(str(tmp_path / "absent.pcap"))) is None
    (tmp_path / "ng.pcapng").write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))
    assert survey_pcap(whole_file(str(tmp_path / "ng.pcapng"))) is None
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(pcap([]))
    s, idx = survey_pcap(whole_file(str(empty)))  # type: ignore[misc]
    assert s.count == 0 and s.first_time is None and s.last_time is None and len(idx.starts) == 0
    assert_same(whole_file(str(empty)), must=True)
