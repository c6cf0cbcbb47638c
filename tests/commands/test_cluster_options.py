"""The options that choose how many processes a run uses: one way each, never two."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ipsec_inspect.cli import main
from ipsec_inspect.commands._common import AUTO_PARTITION_BYTES, cluster_workers, progress_bar

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
CAPTURE = str(SAMPLES / "esp-algorithms.pcap")


def test_decrypt_workers_and_workers_are_one_choice(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["summary", CAPTURE, "--workers", "2", "--decrypt-workers", "1"])
    assert rc == 3
    assert "choose one" in capsys.readouterr().err


def test_events_need_one_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["export", CAPTURE, "--workers", "2", "--events", str(tmp_path / "e.jsonl")])
    assert rc == 3
    assert "--events needs the run in one process" in capsys.readouterr().err


def _args(**kw: object) -> argparse.Namespace:
    base = {"capture": [CAPTURE], "workers": None, "scheduler": None, "decrypt_workers": None}
    return argparse.Namespace(**{**base, **kw})


def test_default_is_one_process_for_small_inputs() -> None:
    assert Path(CAPTURE).stat().st_size < AUTO_PARTITION_BYTES
    assert cluster_workers(_args()) == 0
    assert cluster_workers(_args(workers=3)) == 3
    assert cluster_workers(_args(scheduler="tcp://127.0.0.1:1")) == -1
    assert cluster_workers(_args(capture=["-"])) == 0


def test_no_progress_bar_off_a_terminal() -> None:
    with progress_bar() as bar:
        assert bar is None  # pytest captures stderr: not a terminal


def test_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with progress_bar() as bar:
        assert bar is not None
        bar("bytes", 5_000_000, 10_000_000)
        bar("partitions", 1, 2)
        bar("partitions", 2, 2)


def test_decrypt_merges_several_inputs_into_a_pcap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.pipeline.cutting import cut, frames_of

    sample = SAMPLES / "ikev2-tunnel.pcapng"
    keys = str(SAMPLES / "ikev2-tunnel.keys.toml")
    pieces = [str(p) for p in cut(sample, [12], tmp_path)]
    whole, merged = tmp_path / "whole.pcap", tmp_path / "merged.pcap"
    base = ["decrypt", "--keys", keys, "--output-format", "pcap"]
    assert main([*base, str(sample), "-o", str(whole)]) == 0
    assert main([*base, *pieces, "-o", str(merged)]) == 0
    assert frames_of(merged) == frames_of(whole)
    assert "ESP packets replaced by their plaintext" in capsys.readouterr().err
    # pcapng too (more in tests/commands/test_decrypt_pcapng.py): equal to the whole's
    whole_ng, as_ng = tmp_path / "whole.pcapng", tmp_path / "merged.pcapng"
    assert main(["decrypt", "--keys", keys, str(sample), "-o", str(whole_ng)]) == 0
    assert main(["decrypt", "--keys", keys, *pieces, "-o", str(as_ng)]) == 0
    assert frames_of(as_ng) == frames_of(whole_ng)
