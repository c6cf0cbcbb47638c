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


def _tmux(name: str, *args: str) -> str:
    """Run a tmux command against this test's own server.

    Each test has a private server (``-L``, its own socket) named like its session. With the
    shared default server, one test's last ``kill-session`` made the server exit just as the
    next test's ``new-session`` connected, and that one failed with "server exited
    unexpectedly".
    """
    return subprocess.run(
        ["tmux", "-L", name, *args], check=True, capture_output=True, text=True, timeout=10
    ).stdout


@pytest.fixture
def session() -> Iterator[str]:
    name = f"ipsec-inspect-test-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True, timeout=10)


def _wait_for(name: str, *needles: str, timeout: float = 20.0) -> str:
    """The screen once every needle is on it (a frame may be captured half drawn)."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux(name, "capture-pane", "-p", "-t", name)
        if all(n in screen for n in needles):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needles!r} never appeared; the screen was:\n{screen}")


def test_open_in_tmux(session: str) -> None:
    # The short sleep lets tmux settle the window size before the app reads it. PYTHONPATH:
    # the tmux server keeps the environment of whoever started it, and the app must be
    # this checkout's code, not that of an editable install elsewhere.
    cmd = (
        f"sleep 0.5; cd {ROOT} && PYTHONPATH={ROOT} {sys.executable} -m ipsec_inspect open {TUNNEL.relative_to(ROOT)} "
        f"--keys {TUNNEL_KEYS.relative_to(ROOT)}; sleep 5"
    )
    _tmux(session, "new-session", "-d", "-s", session, "-x", "160", "-y", "48", cmd)
    screen = _wait_for(session, "analysed", "IKE_SA_INIT request MID 0")
    assert "3 SAs" in screen and "43 packets" in screen
    assert "IKEv2 ef757aec" in screen  # the SA tree, first SA selected
    assert "transmission" in screen and "termination" in screen  # its timeline
    assert "IKE_SA_INIT request MID 0" in screen  # the packet list

    _tmux(session, "send-keys", "-t", session, "/")
    time.sleep(0.5)  # let the filter input take the focus before typing into it
    _tmux(session, "send-keys", "-t", session, "-l", "spi:c27e43a0")
    _tmux(session, "send-keys", "-t", session, "Enter")
    screen = _wait_for(session, "6/43 packets")
    assert "ESP SPI 0xc27e43a0 seq 1" in screen
    assert "ESP SPI 0xe9511913" not in screen

    _tmux(session, "send-keys", "-t", session, "f")
    screen = _wait_for(session, "K18")
    assert "perfect forward secrecy" in screen

    _tmux(session, "send-keys", "-t", session, "q")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "analysed" in _tmux(
        session, "capture-pane", "-p", "-t", session
    ):
        time.sleep(0.2)
    assert "analysed" not in _tmux(session, "capture-pane", "-p", "-t", session)  # the app quit


@pytest.mark.parametrize(
    ("width", "height"), [(80, 24), (120, 40), (200, 60)], ids=["80x24", "120x40", "200x60"]
)
def test_each_size_in_tmux(session: str, width: int, height: int) -> None:
    """The real terminal at each size: borders and titles drawn, labels whole, no overlap."""
    cmd = (
        f"sleep 0.5; cd {ROOT} && PYTHONPATH={ROOT} {sys.executable} -m ipsec_inspect open {TUNNEL.relative_to(ROOT)} "
        f"--keys {TUNNEL_KEYS.relative_to(ROOT)}; sleep 5"
    )
    _tmux(session, "new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), cmd)
    screen = _wait_for(session, "analysed", "▼ ● IKEv2 ef757aec (deleted)")
    lines = screen.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "╭─ SAs " in screen  # the SA pane's border and title
    assert "▼ ● IKEv2 ef757aec (deleted)" in screen
    assert "ennegotiation" not in screen and "encircuit" not in screen  # labels never run on
    if width < 100:
        assert "1 SAs  2 Timeline  3 Packets  4 Detail" in screen
        _tmux(session, "send-keys", "-t", session, "3")
        screen = _wait_for(session, "╭─ packets ", "IKE_SA_INIT request MID 0")
        assert "IKE_SA_INIT request MID 0" in screen
        rows = [line for line in screen.splitlines() if line.startswith("│") and "✓" in line]
        assert len(rows) >= 10  # the packets tab has the height of the screen
        return
    screen = _wait_for(session, "0000  02 00 5e 00")  # the first packet's hex dump
    lines = screen.splitlines()
    assert "╭─ packets " in screen and "╭─ packet: frame 1 " in screen
    assert "├ ● child-1 ESP e9511913 ⟶ chil" in screen
    packet_rows = [line for line in lines if " ESP SPI 0x" in line or "MID " in line]
    assert len(packet_rows) > 3
    hex_rows = [line for line in lines if "0000  02 00 5e 00" in line]
    assert len(hex_rows) == 1
    tree_cols = hex_rows[0].index("0000  02 00") - hex_rows[0].index("Frame 1:")
    assert tree_cols > 30  # the detail tree beside the hex dump
    if width >= 200:
        assert "├ ● child-1 ESP e9511913 ⟶ child-2" in screen
        sa_pane = next(line for line in lines if line.startswith("╭─ SAs "))
        assert sa_pane.index("╮") + 1 > 36
