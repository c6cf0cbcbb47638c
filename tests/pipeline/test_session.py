"""The Analysis driver: the ESP fast lane gives exactly what the record path gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipsec_inspect.core.errors import InputError
from ipsec_inspect.core.records import EspPacket
from ipsec_inspect.export.timeline import build_timeline
from ipsec_inspect.pipeline.packet_index import RecordKind
from ipsec_inspect.pipeline.session import Analysis
from tests.pcapbuild import bulk_esp_capture

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
