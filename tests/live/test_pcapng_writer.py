"""The live pcapng writer: files reopen with our reader and tshark, rings rotate and prune."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from ipsec_inspect.sources.capture_file import CaptureReader
from ipsec_inspect.sources.pcapng_writer import PcapngWriter
from tests.live.netns import ROOT

SAMPLE = ROOT / "samples" / "ikev2-tunnel.pcapng"


def _frames(path: Path) -> list[tuple[int, float, int, bytes, int, int]]:
    return list(CaptureReader(path))


def test_written_file_has_every_frame_byte_for_byte(tmp_path: Path) -> None:
    source = _frames(SAMPLE)
    out = tmp_path / "out.pcapng"
    with PcapngWriter(out, iface_name="veth0") as writer:
        for frame in source:
            writer.write(frame)
    back = _frames(out)
    assert len(back) == len(source) == 43
    for (n1, t1, l1, d1, o1, _), (n2, t2, l2, d2, o2, _) in zip(source, back, strict=True):
        assert (n1, l1, d1, o1) == (n2, l2, d2, o2)
        assert abs(t1 - t2) < 1e-6


def test_written_file_summarises_like_the_original(tmp_path: Path) -> None:
    out = tmp_path / "out.pcapng"
    with PcapngWriter(out) as writer:
        for frame in _frames(SAMPLE):
            writer.write(frame)
    docs = []
    for path in (SAMPLE, out):
        done = subprocess.run(
            [sys.executable, "-m", "ipsec_inspect", "summary", str(path), "--format", "json"],
            capture_output=True, text=True, timeout=60, cwd=ROOT, check=True,
        )  # fmt: skip
        doc = json.loads(done.stdout)
        del doc["capture"]["path"]
        for f in doc["capture"]["files"]:  # the inputs by name: the rest must agree
            del f["path"]
        docs.append(doc)
    assert docs[0] == docs[1]
    spis = [(d["spi"], d["packets"]) for c in docs[1]["child_sas"] for d in c["directions"]]
    assert sorted(spis) == [("5689e52a", 7), ("74c81c44", 8), ("c27e43a0", 6), ("e9511913", 9)]


def test_frames_are_readable_while_the_file_is_open(tmp_path: Path) -> None:
    out = tmp_path / "live.pcapng"
    source = _frames(SAMPLE)
    writer = PcapngWriter(out)
    try:
        for frame in source[:10]:
            writer.write(frame)
        writer.flush()
        assert [f[3] for f in _frames(out)] == [f[3] for f in source[:10]]
    finally:
        writer.close()


def test_mixed_link_types_get_one_interface_each(tmp_path: Path) -> None:
    out = tmp_path / "mixed.pcapng"
    eth = _frames(SAMPLE)[0]
    raw_ip = (2, eth[1] + 1, 101, eth[3][14:], eth[4] - 14, 0)
    with PcapngWriter(out) as writer:
        writer.write(eth)
        writer.write(raw_ip)
        writer.write(eth)
    assert [(f[2], f[3]) for f in _frames(out)] == [(1, eth[3]), (101, raw_ip[3]), (1, eth[3])]


def test_ring_rotates_at_the_size_limit_and_keeps_n_files(tmp_path: Path) -> None:
    source = _frames(SAMPLE)
    limit = 2000
    with PcapngWriter(tmp_path / "ring.pcapng", ring_size=limit, ring_files=2) as writer:
        for frame in source:
            writer.write(frame)
    kept = sorted(tmp_path.glob("ring_*.pcapng"))
    assert kept == writer.files
    assert len(kept) == 2
    # every frame is in some file, in order: the kept files hold the newest frames
    total_files = int(kept[-1].stem.rsplit("_", 1)[1])
    assert total_files > 2  # it rotated more than the ring keeps
    assert kept[0].stem == f"ring_{total_files - 1:05d}"
    newest = [f[3] for path in kept for f in _frames(path)]
    assert newest == [f[3] for f in source[-len(newest) :]]
    for path in kept:
        assert path.stat().st_size <= limit


def test_ring_of_unlimited_count_keeps_every_frame(tmp_path: Path) -> None:
    source = _frames(SAMPLE)
    with PcapngWriter(tmp_path / "all.pcapng", ring_size=1500) as writer:
        for frame in source:
            writer.write(frame)
    files = sorted(tmp_path.glob("all_*.pcapng"))
    assert len(files) > 3
    assert [f[3] for path in files for f in _frames(path)] == [f[3] for f in source]


def test_ring_needs_a_size() -> None:
    with pytest.raises(ValueError, match="size limit"):
        PcapngWriter("/nonexistent/x.pcapng", ring_files=3)


def _blocks(path: Path) -> list[tuple[int, bytes]]:
    data = path.read_bytes()
    out, pos = [], 0
    while pos + 12 <= len(data):
        kind, total = struct.unpack_from("<II", data, pos)
        out.append((kind, data[pos + 8 : pos + total - 4]))
        pos += total
    return out


def test_drop_counters_are_recorded_in_a_statistics_block(tmp_path: Path) -> None:
    out = tmp_path / "stats.pcapng"
    writer = PcapngWriter(out, iface_name="veth0")
    for frame in _frames(SAMPLE):
        writer.write(frame)
    writer.close(received=50, os_drop=7, if_drop=2)
    blocks = _blocks(out)
    assert [k for k, _ in blocks].count(6) == 43
    kind, body = blocks[-1]
    assert kind == 5  # Interface Statistics Block, last
    options, pos = {}, 12
    while pos + 4 <= len(body):
        code, length = struct.unpack_from("<HH", body, pos)
        if code == 0:
            break
        options[code] = struct.unpack_from("<Q", body, pos + 4)[0]
        pos += 4 + length + (-length % 4)
    assert options == {4: 50, 5: 2, 7: 7}  # ifrecv, ifdrop, osdrop
    assert len(_frames(out)) == 43
    if shutil.which("capinfos") is not None:
        info = subprocess.run(["capinfos", "-c", str(out)], capture_output=True, text=True,
                              timeout=30, check=True).stdout  # fmt: skip
        assert "Number of packets:   43" in info
