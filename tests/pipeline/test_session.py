"""The Analysis driver: the ESP fast lane gives exactly what the record path gives."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ipsec_inspect.core.errors import InputError
from ipsec_inspect.core.records import EspPacket
from ipsec_inspect.export.timeline import build_timeline
from ipsec_inspect.lifecycle.sequence import SEQ_MAX, TRACK_BITS
from ipsec_inspect.pipeline.packet_index import RecordKind
from ipsec_inspect.pipeline.session import Analysis
from tests.pcapbuild import bulk_esp_capture, pcap

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "captures"


def _captures() -> list[Path]:
    found = sorted(ROOT.glob("samples/*.pcap*")) + sorted(
        ROOT.glob("samples/realpeer/*/capture.pcap")
    )
    if SHARED.is_dir():
        found += sorted(
            p for p in SHARED.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap", ".gz")
        )
    return found


def _doc(
    path: Path,
    fast: bool,
    keys: list[str] | None = None,
    workers: int = 0,
    offload: dict[str, int] | None = None,
    expect_offload: bool = True,
) -> dict:
    a = Analysis(
        str(path),
        key_paths=keys or [],
        keep_index=True,
        fast_lane=fast,
        decrypt_workers=workers,
        offload_options=offload,
    )
    res = a.run()
    doc = build_timeline(res, {"path": str(path)})
    doc["index"] = [
        list(a.index.frame),
        list(a.index.kind),
        list(a.index.flow),
        list(a.index.flags),
    ]
    if workers and expect_offload:
        assert a.offloaded > 0, "no packet was decrypted by a worker"
    if a.decryptor is not None:
        doc["decryptor"] = [c.to_json() for c in a.decryptor.counters()]
        doc["problems"] = a.problems()
    return doc


def _keyed() -> list[tuple[Path, list[str]]]:
    out = []
    for keys in sorted(ROOT.glob("samples/*.keys.toml")):
        name = keys.name.removesuffix(".keys.toml")
        cap = next(iter(sorted(ROOT.glob(f"samples/{name}.pcap*"))), None)
        if cap is not None:
            out.append((cap, [str(keys)]))
    for d in sorted(ROOT.glob("samples/realpeer/*/")):
        if (d / "keys.toml").exists():
            out.append((d / "capture.pcap", [str(d / "keys.toml")]))
            out.append((d / "capture.pcap", [str(d / "keys-ike-only.toml")]))
    return out


@pytest.fixture(scope="module")
def bulk_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bulk_esp_capture(tmp_path_factory.mktemp("bulk") / "esp.pcap", 3000)


def test_fast_lane_equals_record_path_on_bulk_esp(bulk_capture: Path) -> None:
    fast, slow = _doc(bulk_capture, True), _doc(bulk_capture, False)
    assert fast == slow
    dirs = {d["spi"]: d["packets"] for c in fast["child_sas"] for d in c["directions"]}
    assert dirs == {"c0000001": 750, "c0000002": 750, "c0000003": 750, "c0000004": 750}
    assert len(fast["index"][0]) == 3000


@pytest.mark.parametrize(
    ("path", "keys"), _keyed(), ids=lambda v: Path(v[0] if isinstance(v, list) else v).name
)
def test_fast_lane_equals_record_path_with_keys(path: Path, keys: list[str]) -> None:
    fast, slow = _doc(path, True, keys), _doc(path, False, keys)
    assert fast == slow
    if any(c["directions"] for c in fast["child_sas"]):  # failed negotiations carry no ESP
        assert any(d["decrypted"] for c in fast["child_sas"] for d in c["directions"])


def test_fast_lane_equals_record_path_on_bulk_esp_with_keys(bulk_capture: Path) -> None:
    keys = [str(bulk_capture.with_suffix(".keys.toml"))]
    fast, slow = _doc(bulk_capture, True, keys), _doc(bulk_capture, False, keys)
    assert fast == slow
    assert {d["spi"]: d["decrypted"] for c in fast["child_sas"] for d in c["directions"]} == {
        "c0000001": 750,
        "c0000002": 750,
        "c0000003": 750,
        "c0000004": 750,
    }


@pytest.mark.parametrize(
    ("path", "keys"), _keyed(), ids=lambda v: Path(v[0] if isinstance(v, list) else v).name
)
def test_offloaded_decryption_equals_record_path(path: Path, keys: list[str]) -> None:
    # One-frame batches, so SAs start, rekey and end across batch boundaries. Some
    # samples have no SA with packets enough for a lane to form before the read-ahead
    # passes them (3 per SA in esp-algorithms; AH only); tests/crypto/test_offload.py runs
    # every algorithm through the workers directly.
    slow = _doc(path, False, keys)
    carries_esp = any(d["packets"] for c in slow["child_sas"] for d in c["directions"])
    expect = carries_esp and path.name not in (
        "ah.pcap",
        "esp-algorithms.pcap",
        "wire-variety.pcapng",
    )
    offloaded = _doc(
        path,
        True,
        keys,
        workers=1,
        offload={"batch_frames": 1, "depth": 1},
        expect_offload=expect,
    )
    assert offloaded == slow


@pytest.mark.parametrize(
    "options",
    [{"batch_frames": 64}, {"batch_frames": 64, "max_backlog": 1}],
    ids=["workers-take-all", "main-takes-batches-when-workers-lag"],
)
def test_offloaded_decryption_on_bulk_esp(bulk_capture: Path, options: dict[str, int]) -> None:
    keys = [str(bulk_capture.with_suffix(".keys.toml"))]
    offloaded = _doc(bulk_capture, True, keys, workers=2, offload=options)
    assert offloaded == _doc(bulk_capture, False, keys)
    assert offloaded["decryptor"] == [
        {
            "sa": name,
            "decrypted": 750,
            "decrypted_unverified": 0,
            "icv_failed": 0,
            "no_key": 0,
            "errors": 0,
        }
        for name in [c["sa"] for c in offloaded["decryptor"]]
    ]


def test_offloaded_decryption_survives_losing_its_workers(
    bulk_capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ipsec_inspect.crypto.offload import DecryptPool

    collect = DecryptPool.collect
    answered: list[int] = []

    def collect_then_die(self: DecryptPool, ticket: int | None) -> object:
        if len(answered) == 3:
            for worker in self._workers:
                worker.proc.kill()  # the worker dies with batches in flight
        answered.append(1)
        return collect(self, ticket)

    monkeypatch.setattr(DecryptPool, "collect", collect_then_die)
    keys = [str(bulk_capture.with_suffix(".keys.toml"))]
    offloaded = _doc(bulk_capture, True, keys, workers=1, offload={"batch_frames": 100})
    assert len(answered) > 4
    assert offloaded == _doc(bulk_capture, False, keys)


@pytest.mark.parametrize("path", _captures(), ids=lambda p: str(p.relative_to(p.parents[1])))
def test_fast_lane_equals_record_path(path: Path) -> None:
    assert _doc(path, True) == _doc(path, False)


def test_record_reread_matches_the_pass() -> None:
    path = ROOT / "samples" / "ikev2-tunnel.pcapng"
    a = Analysis(str(path), key_paths=[str(ROOT / "samples" / "ikev2-tunnel.keys.toml")])
    res = a.run()
    esp_rows = [i for i in range(len(a.index)) if a.index.kind[i] == RecordKind.ESP]
    assert len(esp_rows) == sum(d.packets for c in res.child_sas.values() for d in c.directions)
    r = a.record(esp_rows[0])
    assert isinstance(r, EspPacket)
    assert r.meta.frame == a.index.frame[esp_rows[0]]
    assert r.decryption is not None and r.decryption.status == "ok"
    # Re-reading does not count twice.
    before = [(c.name, c.decrypted) for c in a.decryptor.counters()] if a.decryptor else []
    a.record(esp_rows[1])
    after = [(c.name, c.decrypted) for c in a.decryptor.counters()] if a.decryptor else []
    assert before == after


def test_unreadable_capture_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.pcap"
    bad.write_text("not a capture")
    with pytest.raises(InputError, match="not a pcap or pcapng capture"):
        Analysis(str(bad)).run()


def _ipv4(
    proto: int, payload: bytes, src: bytes, dst: bytes, vihl: int = 0x45, frag: int = 0
) -> bytes:
    options = b"\x01" * (4 * (vihl & 0x0F) - 20)
    total = 4 * (vihl & 0x0F) + len(payload)
    head = struct.pack("!BBHHHBBH4s4s", vihl, 0, total, 1, frag, 64, proto, 0, src, dst)
    return head + options + payload


def _eth(ip: bytes, vlan: int | None = None) -> bytes:
    macs = bytes.fromhex("020000000002020000000001")
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return macs + tag + b"\x08\x00" + ip


def _esp(spi: int, seq: int) -> bytes:
    return struct.pack("!II", spi, seq) + bytes(range(48))


A, B = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 1])
T0 = 1_700_000_000.0


def _esp_runs_capture() -> bytes:
    """Runs of in-order ESP on four directions and everything that breaks a run: times that
    go back or repeat, gaps, replays and reordering, a wrap near 2^32, other framings (VLAN,
    UDP 4500, IPv4 options, a fragment, a short frame), an empty record, other traffic and
    IKE messages (which close every lane)."""
    frames: list[tuple[float, bytes]] = []
    seqs = {0xA1: 0, 0xA2: 0, 0xB1: 0, 0xC1: SEQ_MAX - 40}
    t = T0
    ike = struct.pack("!8s8sBBBBII", b"\x11" * 8, bytes(8), 0, 0x20, 34, 0x08, 0, 28)
    for n in range(4 * (TRACK_BITS + 300)):  # each direction past the tracking window
        spi = (0xA1, 0xA2, 0xB1, 0xC1)[n % 4]
        seqs[spi] += 1
        seq = seqs[spi] & SEQ_MAX
        t += 0.0001
        when = t - 0.05 if n % 97 == 3 else (frames[-1][0] if n % 89 == 5 and frames else t)
        if n == 3001:
            when = T0 - 10  # before every other frame, on a lane long open
        if n == 5002:
            when = T0 + 10  # after every other frame, on a lane long open
        src, dst = (A, B) if spi != 0xB1 else (B, A)
        if n % 501 == 9:
            continue  # a gap
        if spi == 0xC1:
            ip = _ipv4(17, struct.pack("!HHHH", 4500, 4500, 8 + 56, 0) + _esp(spi, seq), src, dst)
            frames.append((when, _eth(ip)))
            continue
        ip = _ipv4(50, _esp(spi, seq), src, dst)
        frames.append((when, _eth(ip, vlan=5) if n % 313 == 1 else _eth(ip)))
        if n % 211 == 7:
            frames.append((when, _eth(ip)))  # a replay
        if n % 1999 == 11:
            frames.append((when, _eth(_ipv4(50, _esp(spi, seq + 1), src, dst, vihl=0x46))))
            frames.append((when, _eth(_ipv4(50, _esp(spi, seq + 2), src, dst, frag=0x2000))))
            frames.append((when, _eth(ip)[:40]))
            frames.append((when, b""))
            frames.append(
                (when, _eth(_ipv4(17, struct.pack("!HHHH", 53, 53, 12, 0) + b"abcd", A, B)))
            )
        if n % 2500 == 13:
            frames.append(
                (when, _eth(_ipv4(17, struct.pack("!HHHH", 500, 500, 36, 0) + ike, A, B)))
            )
    for i in range(0, len(frames) - 30, 700):
        frames[i], frames[i + 20] = frames[i + 20], frames[i]  # reordering
    return pcap(frames)


@pytest.mark.parametrize("keep_index", [True, False])
def test_runs_without_keys_equal_record_path(tmp_path: Path, keep_index: bool) -> None:
    path = tmp_path / "runs.pcap"
    path.write_bytes(_esp_runs_capture())
    docs = []
    for fast in (True, False):
        a = Analysis(str(path), keep_index=keep_index, fast_lane=fast)
        doc = build_timeline(a.run(), {"path": str(path)})
        doc["index"] = [list(a.index.frame), list(a.index.kind), list(a.index.flow)]
        doc["records"] = a.records
        docs.append(doc)
    fast_doc, slow_doc = docs
    assert fast_doc == slow_doc
    dirs = {(d["spi"], d["dst"]): d for c in fast_doc["child_sas"] for d in c["directions"]}
    runs = {spi: d for (spi, _), d in dirs.items() if spi != "00000000"}  # truncated: SPI 0
    assert set(runs) == {"000000a1", "000000a2", "000000b1", "000000c1"}
    assert all(d["packets"] > TRACK_BITS for d in runs.values())
    seq = {spi: d["seq"] for spi, d in runs.items()}
    assert all(s["lost"] > 0 for s in seq.values())
    assert all(
        s["replayed"] > 0 and s["out_of_order"] > 0 for k, s in seq.items() if k != "000000c1"
    )
    assert seq["000000c1"]["wraps"] >= 1  # 2^32-1 came up on the way
    capture = fast_doc["capture"]
    assert capture["ike_messages"] == 8
    assert capture["first_time"] == "2023-11-14T22:13:10.000000Z"  # the late frame of A2
    assert capture["last_time"] == "2023-11-14T22:13:30.000000Z"  # the early frame of B1
    tx = {
        d["spi"]: c["stages"]["transmission"]
        for c in fast_doc["child_sas"]
        for d in c["directions"]
    }
    assert tx["000000a2"]["start"] == capture["first_time"]
    assert tx["000000b1"]["end"] == capture["last_time"]


def test_progress_and_stop_see_every_packet_counted(bulk_capture: Path) -> None:
    a = Analysis(str(bulk_capture), keep_index=False)
    seen: list[tuple[int, int]] = []

    def on_progress(p) -> None:
        if not p.done:
            res = a.snapshot()
            packets = sum(d.packets for c in res.child_sas.values() for d in c.directions)
            seen.append((p.records, packets))

    res = a.run(on_progress=on_progress, stop=lambda: len(seen) >= 3, progress_every=500)
    assert len(seen) == 3 and all(records == packets for records, packets in seen)
    assert seen[-1][0] == 1500  # it stopped at the third report
    total = sum(d.packets for c in res.child_sas.values() for d in c.directions)
    assert total == a.records == 1500
