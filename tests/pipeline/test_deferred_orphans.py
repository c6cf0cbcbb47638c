"""Whole captures: registering orphans unbuilt (lifecycle/pending.py) leaves the JSON export
byte-identical, on real tunnels, on orphan floods mixed into them, uncapped and capped."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from ipsec_inspect.export.timeline import build_timeline
from ipsec_inspect.lifecycle.sequence import SEQ_MAX
from ipsec_inspect.lifecycle.tracker import TrackerConfig
from ipsec_inspect.pipeline.session import Analysis
from tests.pcapbuild import pcap

from .test_session import ROOT, T0, _captures, _esp, _eth, _ipv4

C, D, E = bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2]), bytes([10, 9, 0, 5])


def _export(paths: list[Path], defer: bool, max_sas: int | None, keys: list[str] = ()) -> str:
    config = TrackerConfig(max_sas=max_sas, defer_orphans=defer)
    a = Analysis([str(p) for p in paths], key_paths=keys, config=config, keep_index=True)
    doc = build_timeline(a.run(), {"path": "x"})
    doc["index"] = [list(a.index.frame), list(a.index.kind), list(a.index.flow)]
    doc["records"] = a.records
    return json.dumps(doc)


def _span(path: Path) -> tuple[float, float]:
    stats = Analysis(str(path)).run().stats
    assert stats.first_time is not None and stats.last_time is not None
    return stats.first_time, stats.last_time


def _flood(out: Path, t0: float, t1: float, n: int = 400) -> Path:
    """``n`` orphan SPIs spread over [t0, t1]: one packet each mostly; some with a second
    packet, some answered the other way (they pair), one over UDP 4500."""
    frames: list[tuple[float, bytes]] = []
    step = (t1 - t0 + 2.0) / (2 * n)
    for i in range(n):
        t = t0 - 1.0 + 2 * i * step
        spi = 0xF000_0000 + i
        frames.append((t, _eth(_ipv4(50, _esp(spi, 1), C, D))))
        if i % 7 == 3:
            frames.append((t + step, _eth(_ipv4(50, _esp(spi, 2), C, D))))
        if i % 11 == 5:
            frames.append((t + step, _eth(_ipv4(50, _esp(0xF100_0000 + i, 1), D, C))))
        if i % 50 == 9:
            udp = struct.pack("!HHHH", 4500, 4500, 8 + 56, 0) + _esp(0xF200_0000 + i, 1)
            frames.append((t, _eth(_ipv4(17, udp, E, C))))
    out.write_bytes(pcap(sorted(frames, key=lambda f: f[0])))
    return out


@pytest.mark.parametrize("path", _captures(), ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_capture_exports_the_same_with_a_small_cap(path: Path) -> None:
    assert _export([path], True, 3) == _export([path], False, 3)


MIXES = ["ikev2-tunnel.pcapng", "esp-algorithms.pcap", "wire-variety.pcapng", "ah.pcap"]


@pytest.mark.parametrize("max_sas", [None, 25])
@pytest.mark.parametrize("name", MIXES)
def test_a_flood_among_real_tunnels_exports_the_same(
    tmp_path: Path, name: str, max_sas: int | None
) -> None:
    sample = ROOT / "samples" / name
    flood = _flood(tmp_path / "flood.pcap", *_span(sample))
    on, off = _export([sample, flood], True, max_sas), _export([sample, flood], False, max_sas)
    assert on == off
    doc = json.loads(on)
    flood = {c["id"] for c in doc["child_sas"] for d in c["directions"] if d["spi"][:2] == "f0"}
    if max_sas is None:  # every orphan kept
        assert len(flood) == 400
    else:
        assert doc["capture"]["evicted"]["orphan_child_sas"] > 350


def test_a_flood_among_real_tunnels_with_keys_exports_the_same(tmp_path: Path) -> None:
    sample = ROOT / "samples" / "ikev2-tunnel.pcapng"
    keys = [str(ROOT / "samples" / "ikev2-tunnel.keys.toml")]
    flood = _flood(tmp_path / "flood.pcap", *_span(sample), n=120)
    for max_sas in (None, 10):
        on = _export([sample, flood], True, max_sas, keys)
        assert on == _export([sample, flood], False, max_sas, keys)


def _orphans_capture() -> bytes:
    """Orphan ESP in every framing the session's loop reads, around an IKE message: one
    packet each mostly, second packets, packets back the other way, an SPI reused towards
    another host, VLAN, IPv4 options, a fragment, UDP 4500, the wrap number 2^32-1."""
    frames: list[tuple[float, bytes]] = []
    ike = struct.pack("!8s8sBBBBII", b"\x11" * 8, bytes(8), 0, 0x20, 34, 0x08, 0, 28)
    t = T0
    for i in range(600):
        t += 0.001
        spi = 0xF000_0000 + i
        ip = _ipv4(50, _esp(spi, 1 + i % 3), C, D)
        if i % 97 == 1:
            frames.append((t, _eth(ip, vlan=7)))
        elif i % 89 == 2:
            frames.append((t, _eth(_ipv4(50, _esp(spi, 1), C, D, vihl=0x46))))
        elif i % 83 == 3:
            frames.append((t, _eth(_ipv4(50, _esp(spi, 1), C, D, frag=0x2000))))
        elif i % 79 == 4:
            udp = struct.pack("!HHHH", 4500, 4500, 8 + 56, 0) + _esp(spi, 1)
            frames.append((t, _eth(_ipv4(17, udp, C, D))))
        elif i % 73 == 5:
            frames.append((t, _eth(_ipv4(50, _esp(spi, SEQ_MAX), C, D))))
        else:
            frames.append((t, _eth(ip)))
        if i % 7 == 3:
            frames.append((t, _eth(_ipv4(50, _esp(spi, 2 + i % 3), C, D))))
        if i % 13 == 6:
            frames.append((t, _eth(_ipv4(50, _esp(0xF100_0000 + i, 1), D, C))))
        if i % 31 == 8:
            frames.append((t, _eth(_ipv4(50, _esp(spi, 1), C, E))))  # the SPI to another host
        if i == 300:
            frames.append((t, _eth(_ipv4(17, struct.pack("!HHHH", 500, 500, 36, 0) + ike, C, D))))
    return pcap(frames)


@pytest.mark.parametrize("keep_index", [True, False])
@pytest.mark.parametrize("max_sas", [None, 40])
def test_orphans_without_a_record_count_as_the_record_path(
    tmp_path: Path, keep_index: bool, max_sas: int | None
) -> None:
    path = tmp_path / "orphans.pcap"
    path.write_bytes(_orphans_capture())
    docs = []
    for fast, defer in ((True, True), (False, True), (False, False)):
        config = TrackerConfig(max_sas=max_sas, defer_orphans=defer)
        a = Analysis(str(path), keep_index=keep_index, fast_lane=fast, config=config)
        doc = build_timeline(a.run(), {"path": str(path)})
        doc["index"] = [
            list(getattr(a.index, c)) for c in ("frame", "sub", "kind", "flow", "flags")
        ]
        doc["index"].append(list(a.index.time))
        doc["flows"] = a.flow_keys
        doc["counts"] = [
            a.records,
            a.frames_fed,
            a.decoder.stats.frames,
            a.decoder.stats.ipsec_frames,
        ]
        docs.append(json.dumps(doc, default=repr))
    assert docs[0] == docs[1] == docs[2]
    doc = json.loads(docs[0])
    assert doc["counts"][0] == doc["capture"]["esp_packets"] + 1  # and the IKE message
    if keep_index:
        assert len(doc["index"][0]) == doc["counts"][0]


def test_a_listener_sees_the_events_of_orphans_without_a_record(tmp_path: Path) -> None:
    path = tmp_path / "orphans.pcap"
    path.write_bytes(_orphans_capture())
    seen: list[list[str]] = []
    docs = []
    for fast, listen in ((True, True), (False, True), (True, False)):
        events: list[object] = []
        a = Analysis(str(path), fast_lane=fast, config=TrackerConfig(max_sas=40))
        listener = events.extend if listen else None
        res = a.run(on_events=listener)
        docs.append(json.dumps(build_timeline(res, {"path": "x"})))
        seen.append([repr(e) for e in events])
    assert seen[0] == seen[1] and seen[2] == []
    assert sum("child.orphan" in e for e in seen[0]) > 550
    assert docs[0] == docs[1] == docs[2]
