"""Run the command line as a user does: a subprocess of this checkout's code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
TIMEOUT = 120


def env() -> dict[str, str]:
    """This checkout first on the path (an editable install may point elsewhere)."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": os.environ.get("COLUMNS", "200")}


def cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "ipsec_inspect", *args],
        stderr=subprocess.PIPE,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        env=env(),
        **kwargs,  # type: ignore[arg-type]
    )


def shell(command: str) -> subprocess.CompletedProcess[str]:
    """A pipeline through bash, so ``| head -1`` closes our standard output early.
    ``PIPESTATUS`` gives our exit code, printed last on stderr as ``rc=N``."""
    return subprocess.run(
        ["bash", "-c", f"{command}; echo rc=${{PIPESTATUS[0]}} >&2"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        env=env(),
    )


def exit_code(done: subprocess.CompletedProcess[str]) -> int:
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("rc="), done.stderr
    return int(last[3:])


def python() -> str:
    return sys.executable
