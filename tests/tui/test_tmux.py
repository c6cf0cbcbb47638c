"""Drive the real ``ipsec-inspect open`` in tmux and read what the screen says."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from .conftest import ROOT, TUNNEL, TUNNEL_KEYS

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], check=True, capture_output=True, text=True, timeout=10
    ).stdout


@pytest.fixture
def session() -> Iterator[str]:
    name = f"ipsec-inspect-test-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True, timeout=10)


def _wait_for(name: str, needle: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-p", "-t", name)
        if needle in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared; the screen was:\n{screen}")


def test_open_in_tmux(session: str) -> None:
    cmd = (  # the short sleep lets tmux settle the window size before the app reads it
        f"sleep 0.5; cd {ROOT} && {sys.executable} -m ipsec_inspect open {TUNNEL.relative_to(ROOT)} "
        f"--keys {TUNNEL_KEYS.relative_to(ROOT)}; sleep 5"
    )
    _tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "48", cmd)
    screen = _wait_for(session, "analysed")
    assert "3 SAs" in screen and "43 packets" in screen
    assert "IKEv2 ef757aec" in screen  # the SA tree, first SA selected
    assert "transmission" in screen and "termination" in screen  # its timeline
    assert "IKE_SA_INIT request MID 0" in screen  # the packet list

    _tmux("send-keys", "-t", session, "/")
    time.sleep(0.5)  # let the filter input take the focus before typing into it
    _tmux("send-keys", "-t", session, "-l", "spi:c27e43a0")
    _tmux("send-keys", "-t", session, "Enter")
    screen = _wait_for(session, "6/43 packets")
    assert "ESP SPI 0xc27e43a0 seq 1" in screen
    assert "ESP SPI 0xe9511913" not in screen

    _tmux("send-keys", "-t", session, "f")
    screen = _wait_for(session, "K18")
    assert "perfect forward secrecy" in screen

    _tmux("send-keys", "-t", session, "q")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "analysed" in _tmux("capture-pane", "-p", "-t", session):
        time.sleep(0.2)
    assert "analysed" not in _tmux("capture-pane", "-p", "-t", session)  # the app quit
