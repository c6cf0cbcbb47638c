"""Hostile and damaged capture files (issues 16 and 18): each ends in bounded time and
memory, with one clear warning naming the frame and the byte offset, and every frame
before the damage is kept. The limits are the named constants of docs/limits.md."""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
import struct
import time
import tracemalloc
from pathlib import Path

import pytest

from ipsec_inspect.sources import capture_file, decompress
from ipsec_inspect.sources.capture_file import (
    MAX_BLOCK_BYTES,
    MAX_EMPTY_RUN,
    MAX_FRAME_BYTES,
    MAX_INTERFACES,
    CaptureError,
    CaptureReader,
)
from tests.hostile import (
    TUNNEL,
    block,
    epb,
    frames_of,
    gzip_bomb,
    idb,
    pcap_file,
    pcapng_file,
    shb,
)

SHARED_GZ = (
    Path(__file__).resolve().parents[2] / "../shared/captures/wireshark/ikev1-bug-12610.pcapng.gz"
)
ETH = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + b"\x45" + bytes(59)
T0 = 1_700_000_000


def _read(path: Path) -> tuple[list[tuple[int, float, int, bytes, int, int]], list[str], int]:
    """Frames, warning texts and the peak of traced memory while reading ``path``."""
    tracemalloc.start()
    try:
        r = CaptureReader(path)
        frames = list(r)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return frames, [w.text() for w in r.info.warnings], peak


def _good(n: int) -> list[tuple[int, bytes]]:
    return [((T0 + i) * 10**6, ETH) for i in range(n)]


# --------------------------------------------------------------------------- lying lengths


@pytest.mark.parametrize("compressed", [False, True])
def test_pcapng_block_length_0xfffffff0(tmp_path: Path, compressed: bool) -> None:
    good = pcapng_file(_good(3))
    hostile = struct.pack("<II", 6, 0xFFFFFFF0)
    p = tmp_path / ("b.pcapng.gz" if compressed else "b.pcapng")
    if compressed:  # the issue's 5 MB .gz: the length, then zeros
        p.write_bytes(gzip_bomb(good + hostile, 64 << 20))
    else:
        p.write_bytes(good + hostile + bytes(1 << 20))
    start = time.monotonic()
    frames, warnings, peak = _read(p)
    assert len(frames) == 3
    assert warnings == [
        f"frame 4 (byte {len(good)}): corrupt block (type 0x6, length 4294967280: over the "
        f"limit of {MAX_BLOCK_BYTES} bytes); the rest of the file was not read"
    ]
    assert peak < 8 << 20  # nothing was allocated for the claimed length
    assert time.monotonic() - start < 30


def test_pcap_record_caplen_over_256_mib(tmp_path: Path) -> None:
    """snaplen 0xFFFFFFFF lets nothing through: the named maximum still holds."""
    good = pcap_file([(T0, 0, ETH), (T0 + 1, 0, ETH)], snaplen=0xFFFFFFFF)
    hostile = struct.pack("<IIII", T0 + 2, 0, 0x10000001, 0x10000001)
    p = tmp_path / "big.pcap"
    p.write_bytes(good + hostile + bytes(1 << 20))
    frames, warnings, peak = _read(p)
    assert len(frames) == 2
    assert warnings == [
        f"frame 3 (byte {len(good)}): captured length 268435457 is larger than the limit of "
        f"{MAX_FRAME_BYTES} bytes (snapshot length 4294967295); the rest of the file is "
        "corrupt and was not read"
    ]
    assert peak < 8 << 20


def test_pcap_record_over_its_snaplen(tmp_path: Path) -> None:
    good = pcap_file([(T0, 0, ETH)], snaplen=262144)
    hostile = struct.pack("<IIII", T0, 0, 300_000, 300_000)
    p = tmp_path / "s.pcap"
    p.write_bytes(good + hostile + bytes(300_000))
    frames, warnings, _ = _read(p)
    assert len(frames) == 1
    assert "captured length 300000 is larger than the snapshot length 262144" in warnings[0]


def test_large_frame_is_read_in_bounded_pieces(tmp_path: Path) -> None:
    """A legal 8 MiB frame: the file is asked for one chunk at a time."""
    big = bytes(8 << 20)
    p = tmp_path / "jumbo.pcap"
    p.write_bytes(pcap_file([(T0, 0, ETH), (T0, 1, big), (T0, 2, ETH)], snaplen=16 << 20))
    asked: list[int] = []
    r = CaptureReader(p)
    read = r._stream.fh.read
    r._stream.fh.read = lambda n: (asked.append(n), read(n))[1]  # type: ignore[method-assign]
    frames = list(r)
    assert [len(f[3]) for f in frames] == [len(ETH), len(big), len(ETH)]
    assert max(asked) == capture_file.CHUNK


def test_pcapng_frame_over_its_interface_snaplen_is_kept_with_a_warning(tmp_path: Path) -> None:
    p = tmp_path / "snap.pcapng"
    p.write_bytes(shb() + idb(snaplen=32) + epb(T0 * 10**6, ETH))
    frames, warnings, _ = _read(p)
    assert len(frames) == 1 and frames[0][3] == ETH
    assert warnings == [
        "frame 1: captured length 74 is larger than interface 0's snapshot length 32; kept"
    ]


def test_ten_thousand_pcapng_interfaces(tmp_path: Path) -> None:
    body = [shb()] + [idb() for _ in range(10_000)]
    body += [epb(T0 * 10**6, ETH, iface=i) for i in (0, MAX_INTERFACES - 1, MAX_INTERFACES, 9_999)]
    p = tmp_path / "ifaces.pcapng"
    p.write_bytes(b"".join(body))
    start = time.monotonic()
    frames, warnings, peak = _read(p)
    assert [f[5] for f in frames] == [0, MAX_INTERFACES - 1]
    assert warnings[0].startswith(
        f"frame 1 (byte {28 + 20 * MAX_INTERFACES}): more than {MAX_INTERFACES} interfaces"
    )
    assert warnings[1:] == [
        f"frame 3: refers to interface {MAX_INTERFACES}, beyond the limit of {MAX_INTERFACES} "
        "interfaces; skipped",
        f"frame 4: refers to interface 9999, beyond the limit of {MAX_INTERFACES} interfaces; "
        "skipped",
    ]
    assert peak < 8 << 20
    assert time.monotonic() - start < 30


# --------------------------------------------------------------------------- compression


def test_gzip_bomb_stops_at_the_ratio_limit(tmp_path: Path) -> None:
    """A valid pcap header and two frames, then (the equivalent of) gigabytes of zeros."""
    head = pcap_file([(T0, 0, ETH), (T0 + 1, 0, ETH)])
    p = tmp_path / "bomb.pcap.gz"
    p.write_bytes(gzip_bomb(head, 2 << 30))  # 2 GiB of zeros in about 2 MB
    start = time.monotonic()
    frames, warnings, peak = _read(p)
    elapsed = time.monotonic() - start
    assert [len(f[3]) for f in frames[:2]] == [len(ETH)] * 2
    assert len(warnings) == 1
    # zeros are empty records: the empty-record count or the ratio stops it, whichever first
    assert (
        f"the {MAX_EMPTY_RUN:,} records up to here hold no captured byte (empty" in warnings[0]
        or "taken for a decompression bomb" in warnings[0]
    )
    assert len(frames) <= 2 + MAX_EMPTY_RUN
    assert peak < 16 << 20
    assert elapsed < 30


def test_ratio_limit_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Zeros that are not empty records (one huge block being skipped would be): the ratio
    check is what stops a stream expanding a thousand times."""
    monkeypatch.setattr(decompress, "RATIO_GRACE_BYTES", 1 << 20)
    big = bytes(4 << 20)
    p = tmp_path / "ratio.pcap.gz"
    p.write_bytes(gzip.compress(pcap_file([(T0, 0, ETH)] + [(T0, 0, big)] * 8, snaplen=8 << 20)))
    frames, warnings, _ = _read(p)
    assert 1 <= len(frames) < 9
    assert "gzip stream expands more than 250 times" in warnings[0]
    assert "taken for a decompression bomb; the rest was not read" in warnings[0]


def test_empty_records_in_an_uncompressed_file_stop_too(tmp_path: Path) -> None:
    p = tmp_path / "zeros.pcap"
    p.write_bytes(pcap_file([(T0, 0, ETH)]) + bytes(16 * (MAX_EMPTY_RUN + 500)))
    frames, warnings, _ = _read(p)
    assert len(frames) == 1 + MAX_EMPTY_RUN
    assert len(warnings) == 1 and "hold no captured byte" in warnings[0]


@pytest.mark.skipif(not SHARED_GZ.exists(), reason="../shared/captures not present")
def test_issue_18_reproduction_flip_byte_20_of_a_shared_gz(tmp_path: Path) -> None:
    data = bytearray(SHARED_GZ.read_bytes())
    data[20] ^= 0xFF
    p = tmp_path / "flip20.pcapng.gz"
    p.write_bytes(bytes(data))
    # Byte 20 is in the deflate block's code tables: nothing after it decompresses, so the
    # file cannot be read at all — a one-sentence error (exit 3), not a traceback.
    with pytest.raises(CaptureError, match=r"gzip data corrupt at compressed byte \d+"):
        CaptureReader(p)


@pytest.mark.parametrize("kind", ["gzip", "xz", "bzip2"])
def test_damage_in_the_middle_keeps_the_frames_before(tmp_path: Path, kind: str) -> None:
    rng = random.Random(5)
    raw = pcapng_file([((T0 + i) * 10**6, ETH + rng.randbytes(200)) for i in range(3000)])
    plain = tmp_path / "plain.pcapng"
    plain.write_bytes(raw)
    compress = {
        "gzip": gzip.compress,
        "xz": lzma.compress,
        "bzip2": lambda b: bz2.compress(b, 1),  # 100 kB blocks: damage loses one block
    }[kind]
    blob = bytearray(compress(raw))
    at = len(blob) * 2 // 3
    for i in range(at, at + 8):
        blob[i] ^= 0x5A
    p = tmp_path / f"damaged.{kind}"
    p.write_bytes(bytes(blob))
    frames, warnings, _ = _read(p)
    all_frames = frames_of(plain)
    assert 0 < len(frames) <= len(all_frames)  # gzip of random data: stored blocks, CRC last
    # What came before is kept, unchanged. Deflate and LZMA hand on some damaged bytes
    # before they can tell (the checksum comes later): the frames they form are kept too,
    # with their own warnings.
    same = _common_prefix(frames, all_frames)
    assert same >= len(all_frames) // 2
    w = warnings[-1]
    assert w.startswith(f"frame {len(frames) + 1} (byte ")
    assert f"{kind} data corrupt at compressed byte" in w or "stream ends early" in w
    assert w.endswith(f"({len(frames)} frames before it were kept)")


def test_gzip_damage_salvages_up_to_the_damaged_byte(tmp_path: Path) -> None:
    """Stored (uncompressed) deflate blocks: every byte before the damage is recoverable,
    and the reader gets all the frames those bytes hold."""
    frames = [((T0 + i) * 10**6, ETH + bytes([i]) * 400) for i in range(200)]
    raw = pcapng_file(frames)
    blob = bytearray(gzip.compress(raw, compresslevel=0))
    cut = len(blob) // 2
    blob[cut : cut + 4] = b"\xff\xff\xff\xff"
    p = tmp_path / "stored.pcapng.gz"
    p.write_bytes(bytes(blob))
    got, warnings, _ = _read(p)
    expected = frames_of_bytes(tmp_path, raw)
    # the damaged bytes themselves are copied out before the block's end shows them
    # wrong; every frame before them is kept
    assert _common_prefix(got, expected) >= 90
    assert "gzip" in warnings[0]


def _common_prefix(a: list[object], b: list[object]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def frames_of_bytes(tmp_path: Path, raw: bytes) -> list[tuple[int, float, int, bytes, int, int]]:
    p = tmp_path / "plain.pcapng"
    p.write_bytes(raw)
    return frames_of(p)


def test_concatenated_gzip_members_and_trailing_zeros(tmp_path: Path) -> None:
    raw = TUNNEL.read_bytes()
    p = tmp_path / "two.pcapng.gz"
    p.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]) + bytes(4096))
    frames, warnings, _ = _read(p)
    assert frames == frames_of(TUNNEL)
    assert warnings == []


def test_unsupported_compression_is_named(tmp_path: Path) -> None:
    p = tmp_path / "a.pcapng.zst"
    p.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(40))
    with pytest.raises(CaptureError, match=r"zstd-compressed; decompress it first \(zstd -d\)"):
        CaptureReader(p)


def test_truncated_gzip_keeps_the_frames(tmp_path: Path) -> None:
    blob = gzip.compress(TUNNEL.read_bytes())
    p = tmp_path / "cut.pcapng.gz"
    p.write_bytes(blob[: len(blob) - 200])
    frames, warnings, _ = _read(p)
    assert 0 < len(frames) < 43
    assert frames == frames_of(TUNNEL)[: len(frames)]
    assert len(warnings) == 1 and "gzip stream ends early" in warnings[0]


def test_block_padding_to_next_block(tmp_path: Path) -> None:
    """A 20 KB unknown block between packets is skipped, the packets after it kept."""
    p = tmp_path / "custom.pcapng"
    p.write_bytes(
        shb() + idb() + epb(T0 * 10**6, ETH) + block(0x0BAD, bytes(20_000)) + epb(T0 * 10**6, ETH)
    )
    frames, warnings, _ = _read(p)
    assert len(frames) == 2 and warnings == []


def test_invalid_records_in_a_row_stop_too(tmp_path: Path) -> None:
    """Packet blocks that each refer to an interface nobody described: skipped one by one,
    and after MAX_EMPTY_RUN of them in a row the rest is not read."""
    bad = epb(T0 * 10**6, ETH, iface=7)
    p = tmp_path / "invalid.pcapng"
    p.write_bytes(shb() + idb() + epb(T0 * 10**6, ETH) + bad * (MAX_EMPTY_RUN + 50))
    r = CaptureReader(p)
    frames = list(r)
    assert len(frames) == 1
    assert r.info.frames == 1 + MAX_EMPTY_RUN
    assert r.info.warnings.count("block") == MAX_EMPTY_RUN
    last = r.info.warnings.lines()[-2]
    assert last.startswith(f"frame {MAX_EMPTY_RUN + 2} (byte ")
    assert "hold no captured byte (empty or invalid)" in last


def test_damaged_gzip_in_the_tui_path(tmp_path: Path) -> None:
    """The TUI re-reads frames from a decompressed copy: it holds every frame the streaming
    pass kept, and re-reading one gives the same record."""
    from ipsec_inspect.pipeline.session import Analysis

    blob = gzip.compress(TUNNEL.read_bytes())
    p = tmp_path / "cut.pcapng.gz"
    p.write_bytes(blob[: len(blob) - 300])
    analysis = Analysis(str(p))
    analysis.run()
    n = len(analysis.index)
    assert 0 < n < 43
    assert any("gzip stream ends early" in line for line in analysis.problems())
    last = analysis.record(n - 1)
    assert last is not None and last.meta.frame == analysis.index.frame[n - 1]
    analysis.close()
