"""ESP decryption in worker processes (crypto.offload): the same results as in-process.

``tests/pipeline/test_session.py`` checks whole analyses with workers against the record path;
these check the workers themselves — every algorithm of the ESP sample through a real
worker process, wrong keys, failures — and the command-line option end to end.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from array import array
from dataclasses import replace
from itertools import accumulate
from pathlib import Path

import pytest

from ipsec_inspect.crypto.esp import decrypt_esp
from ipsec_inspect.crypto.keys import SaKey
from ipsec_inspect.crypto.offload import BatchResult, DecryptPool, WorkerState, decrypt_batch
from ipsec_inspect.ipsec.dissectors import ipsec_decoder
from ipsec_inspect.pipeline.session import Analysis, load_keys
from ipsec_inspect.sources.capture_file import CaptureReader
from ipsec_inspect.wire.fast_esp import esp_locator
from tests.pcapbuild import bulk_esp_capture

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "esp-algorithms.pcap"
SAMPLE_KEYS = ROOT / "samples" / "esp-algorithms.keys.toml"

Frame = tuple[int, float, int, bytes, int, int]
Keyed = tuple[SaKey, tuple[bytes, int], bytes]  # key, lane key, ESP bytes


def _frames(path: Path) -> list[Frame]:
    return list(CaptureReader(str(path)))  # raw IP (link type 101), as the sample was written


def _keyed_packets(frames: list[Frame], keys_path: Path) -> dict[int, Keyed]:
    """Frame position -> (its SA's key, the lane key, the ESP bytes) for every ESP packet
    the locator finds that has a key: what a worker must decrypt."""
    store = load_keys([str(keys_path)])
    locate = esp_locator(ipsec_decoder().udp_special)
    out = {}
    for position, (_n, _t, link_type, data, _o, _i) in enumerate(frames):
        found = locate(link_type, data)
        if found is None:
            continue
        addr_at, addr_end, esp_at, ip_end, _ip_len = found
        spi = int.from_bytes(data[esp_at : esp_at + 4], "big")
        half = (addr_end - addr_at) // 2
        src = str(ipaddress.ip_address(data[addr_at : addr_at + half]))
        dst = str(ipaddress.ip_address(data[addr_at + half : addr_end]))
        key = store.find_sa("esp", spi, src, dst)
        if key is not None and not key.esn:  # ESN stays in the main process
            out[position] = (
                key,
                (data[addr_at:addr_end], spi),
                data[esp_at:ip_end],
            )
    return out


def _batch(frames: list[Frame]) -> tuple[bytes, array[int], array[int]]:
    return (
        b"".join(f[3] for f in frames),
        array("I", accumulate(len(f[3]) for f in frames)),
        array("H", [f[2] for f in frames]),
    )


def _check(result: BatchResult, expected: dict[int, Keyed]) -> None:
    assert list(result.positions) == sorted(expected)
    for j, position in enumerate(result.positions):
        key, _lane, esp = expected[position]
        want = decrypt_esp(replace(key, context=None), esp)
        if j in result.others:
            assert result.others[j] == want
        else:
            assert want.status == "ok"
            assert result.inner[j] == len(want.plaintext)
            assert result.next_header[j] == want.next_header
            assert result.first[j] == (want.plaintext[0] if want.plaintext else -1)
        assert result.seqs[j] == int.from_bytes(esp[4:8], "big")


def test_a_worker_process_decrypts_every_algorithm_as_this_process_does() -> None:
    frames = _frames(SAMPLE)
    expected = _keyed_packets(frames, SAMPLE_KEYS)
    algorithms = {
        (k.encryption.name if k.encryption else "", k.integrity.name if k.integrity else "")
        for k, _l, _e in expected.values()
    }
    assert len(algorithms) >= 11, algorithms  # the sample covers the algorithm table
    pool = DecryptPool(1, ipsec_decoder().udp_special)
    try:
        for key, lane_key, _esp in expected.values():
            pool.register(key, lane_key)
        esn = next(k for k in load_keys([str(SAMPLE_KEYS)]).sa_keys() if k.esn)
        assert pool.register(esn, (bytes(8), esn.spi)) is None
        ticket = pool.submit(*_batch(frames))
        result = pool.collect(ticket)
    finally:
        pool.close()
    assert result is not None and not pool.broken
    assert not result.others  # the right keys: every packet decrypts
    _check(result, expected)


def test_wrong_keys_come_back_whole_as_icv_failures() -> None:
    frames = _frames(SAMPLE)
    expected = _keyed_packets(frames, SAMPLE_KEYS)
    state = WorkerState(esp_locator(ipsec_decoder().udp_special))
    wrong = {}
    for key_id, (position, (key, lane_key, esp)) in enumerate(expected.items()):
        if key.integrity is None or not key.integrity_key:
            continue  # AEADs: the tag fails just the same, but keep the case simple
        bad = replace(key, integrity_key=bytes(b ^ 0xFF for b in key.integrity_key), context=None)
        state.add(key_id, bad, lane_key)
        wrong[position] = (bad, lane_key, esp)
    result = decrypt_batch(state, *_batch(frames))
    assert len(result.positions) == len(wrong) > 0
    assert {d.status for d in result.others.values()} == {"icv-failed"}
    assert len(result.others) == len(wrong)
    _check(result, wrong)


def test_a_pool_that_loses_its_worker_says_so_instead_of_answering() -> None:
    frames = _frames(SAMPLE)
    pool = DecryptPool(1, ipsec_decoder().udp_special)
    try:
        worker = pool._workers[0]
        worker.proc.kill()
        worker.proc.wait(10)
        ticket = pool.submit(*_batch(frames))
        assert pool.collect(ticket) is None
        assert pool.broken
        assert pool.submit(*_batch(frames)) is None  # and it stays broken
    finally:
        pool.close()
    assert worker.proc.poll() is not None


def test_closing_a_pool_ends_its_processes() -> None:
    pool = DecryptPool(2, ipsec_decoder().udp_special)
    procs = [w.proc for w in pool._workers]
    pool.close()
    assert all(p.poll() is not None for p in procs)


def test_workers_that_cannot_start_leave_the_analysis_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = [str(SAMPLE_KEYS)]
    alone = Analysis(str(SAMPLE), key_paths=keys, decrypt_workers=0)
    monkeypatch.setattr(sys, "executable", str(ROOT / "no-such-python"))
    offloaded = Analysis(
        str(SAMPLE), key_paths=keys, decrypt_workers=1, offload_options={"batch_frames": 1}
    )
    assert offloaded.run().child_sas.keys() == alone.run().child_sas.keys()
    assert offloaded.offloaded == 0
    assert [c.to_json() for c in offloaded.decryptor.counters()] == [  # type: ignore[union-attr]
        c.to_json()
        for c in alone.decryptor.counters()  # type: ignore[union-attr]
    ]


@pytest.fixture(scope="module")
def bulk_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bulk_esp_capture(tmp_path_factory.mktemp("bulk") / "esp.pcap", 12000)


def test_the_decrypt_workers_option_changes_nothing_but_speed(bulk_capture: Path) -> None:
    def summary(workers: str) -> dict:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "ipsec_inspect",
                "summary",
                str(bulk_capture),
                "--keys",
                str(bulk_capture.with_suffix(".keys.toml")),
                "--format",
                "json",
                "--decrypt-workers",
                workers,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return json.loads(out)

    alone, offloaded = summary("0"), summary("1")
    assert offloaded == alone
    directions = [d for c in alone["child_sas"] for d in c["directions"]]
    assert [d["decrypted"] for d in directions] == [3000] * 4


def test_stopping_an_offloaded_run_stops_its_workers(
    bulk_capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ipsec_inspect.crypto import offload

    started: list[subprocess.Popen[bytes]] = []
    start = offload._Worker.__init__

    def recording_start(self: offload._Worker) -> None:
        start(self)
        started.append(self.proc)

    monkeypatch.setattr(offload._Worker, "__init__", recording_start)
    a = Analysis(
        str(bulk_capture),
        key_paths=[str(bulk_capture.with_suffix(".keys.toml"))],
        decrypt_workers=1,
        offload_options={"batch_frames": 256},
        keep_index=False,
    )
    progress: list[int] = []
    a.run(
        on_progress=lambda p: progress.append(p.frames),
        stop=lambda: len(progress) >= 3,
        progress_every=1000,
    )
    assert len(started) == 1 and started[0].poll() is not None  # the worker has ended
    assert 0 < a.records < 12000  # stopped early, with what was read so far counted
    assert progress[:3] == sorted(progress[:3]) and progress[2] >= 3000
