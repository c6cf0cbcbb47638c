"""Start-up cost: a command that does not open the TUI imports no Textual (issue 14).

Each command runs in a fresh interpreter, so ``sys.modules`` shows exactly what it
imported. The timing goal itself (summary of a one-packet capture) is measured in
benchmarks/, never here; this checks the imports that make it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
HEAVY = ("textual", "scapy", "jsonschema", "pyshark", "rich")

PROBE = """
import contextlib, io, json, sys
from ipsec_inspect.cli import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
print(json.dumps({"code": code, "heavy": heavy, "out": out.getvalue()}))
""".replace("HEAVY", repr(HEAVY))


def _probe(*argv: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("argv", "allowed"),
    [
        (("summary", str(SAMPLES / "ah.pcap")), {"rich"}),  # its text tables are rich's
        (("summary", str(SAMPLES / "ah.pcap"), "--format", "json"), set()),
        (("export", str(SAMPLES / "ah.pcap")), set()),
        (("packets", str(SAMPLES / "ah.pcap")), set()),
        (("plugins",), set()),
    ],
)
def test_a_command_without_the_tui_imports_no_textual(
    argv: tuple[str, ...], allowed: set[str]
) -> None:
    got = _probe(*argv)
    assert got["code"] == 0
    assert set(got["heavy"]) == allowed  # type: ignore[arg-type]


def test_the_probe_sees_what_a_command_printed() -> None:
    got = _probe("summary", str(SAMPLES / "ah.pcap"), "--format", "json")
    doc = json.loads(str(got["out"]))
    assert doc["capture"]["frames"] == 15
    assert doc["capture"]["path"].endswith("ah.pcap")
