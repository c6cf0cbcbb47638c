"""``ipsec-inspect open`` reports unreadable input on the terminal before starting the UI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import ROOT, TUNNEL


def _open(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ipsec_inspect", "open", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_capture_exits_3(tmp_path: Path) -> None:
    done = _open(str(tmp_path / "nothing.pcap"))
    assert done.returncode == 3
    assert "nothing.pcap" in done.stderr


def test_not_a_capture_exits_3(tmp_path: Path) -> None:
    bad = tmp_path / "text.pcap"
    bad.write_text("hello, not a capture\n")
    done = _open(str(bad))
    assert done.returncode == 3
    assert "text.pcap" in done.stderr


def test_missing_key_file_exits_3(tmp_path: Path) -> None:
    done = _open(str(TUNNEL), "--keys", str(tmp_path / "absent.toml"))
    assert done.returncode == 3
    assert "absent.toml: no such key file" in done.stderr


def test_refuses_without_a_terminal() -> None:
    done = _open(str(TUNNEL))  # stdout and stderr are pipes here
    assert done.returncode == 2
    assert done.stdout == ""  # not one escape code
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "open needs a terminal" in lines[0] and "standard input and output are not" in lines[0]


def test_refuses_when_only_stdout_is_piped() -> None:
    import os
    import pty

    primary, secondary = pty.openpty()  # a terminal for standard input only
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ipsec_inspect", "open", str(TUNNEL)],
            cwd=ROOT,
            stdin=secondary,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(primary)
        os.close(secondary)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "standard output is not one" in done.stderr
