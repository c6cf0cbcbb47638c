"""Two network namespaces joined by a veth pair, for live-capture tests.

Why our own helper rather than the real-peer ``Lab``: these tests need no addresses, no
daemons — only a wire to replay frames onto — and they must clean up by pid and name even
when an assertion fails. Names carry the test process's pid and a counter, so concurrent or
crashed runs never collide. Every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 20.0  # seconds for one short command (ip, a replay)
STOP_TIMEOUT = 5.0  # seconds a process gets to exit after SIGTERM before SIGKILL
READY_TIMEOUT = 15.0  # seconds for sniff to report that it captures

_COUNTER = count(1)


def skip_unless_netns() -> None:
    """Skip the calling test when namespaces cannot be made here."""
    if not sys.platform.startswith("linux"):
        pytest.skip("network namespaces are Linux only")
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    if shutil.which("ip") is None:
        pytest.skip("`ip` (iproute2) is not installed")
    probe = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    )
    if probe.returncode != 0:
        pytest.skip(f"`ip netns` is unavailable: {probe.stderr.strip()}")


def run(argv: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class VethPair:
    """``send`` and ``sniff`` namespaces, joined by ``veth-s`` <-> ``veth-c``."""

    tag: str = field(default_factory=lambda: f"iil{os.getpid()}n{next(_COUNTER)}")
    mtu: int = 9000
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    send_dev = "veth-s"
    sniff_dev = "veth-c"

    @property
    def send_ns(self) -> str:
        return f"{self.tag}s"

    @property
    def sniff_ns(self) -> str:
        return f"{self.tag}c"

    def __enter__(self) -> VethPair:
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build(self) -> None:
        for name in (self.send_ns, self.sniff_ns):
            run(["ip", "netns", "add", name])
            self.namespaces.append(name)
        run(["ip", "link", "add", self.send_dev, "netns", self.send_ns, "type", "veth",
             "peer", "name", self.sniff_dev, "netns", self.sniff_ns])  # fmt: skip
        for ns, dev in ((self.send_ns, self.send_dev), (self.sniff_ns, self.sniff_dev)):
            # no IPv6 autoconfiguration chatter, no addresses: the wire carries only replays
            self.run_in(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"])
            self.run_in(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"])
            self.run_in(ns, ["ip", "link", "set", dev, "mtu", str(self.mtu)])
            self.run_in(ns, ["ip", "link", "set", dev, "up"])

    def mac(self, ns: str, dev: str) -> str:
        return self.run_in(ns, ["cat", f"/sys/class/net/{dev}/address"]).strip()

    def exec_argv(self, ns: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def run_in(self, ns: str, argv: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> str:
        return run(self.exec_argv(ns, argv), timeout=timeout)

    def start(
        self, ns: str, argv: Sequence[str], stdout: Path, stderr: Path
    ) -> subprocess.Popen[bytes]:
        """A long-running process in ``ns``, its own process group, output to files."""
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                self.exec_argv(ns, argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                cwd=ROOT,
            )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], first: int = signal.SIGTERM) -> None:
        if process.poll() is None:
            _signal_group(process.pid, first)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)
        if process in self.processes:
            self.processes.remove(process)

    def close(self) -> None:
        for process in reversed(list(self.processes)):
            self.stop(process)
        for name in reversed(list(self.namespaces)):
            subprocess.run(
                ["ip", "netns", "del", name], capture_output=True, timeout=COMMAND_TIMEOUT
            )
            self.namespaces.remove(name)


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


def wait_for_text(path: Path, text: str, timeout: float, process: subprocess.Popen[bytes]) -> bool:
    """Poll ``path`` until it contains ``text``; False on timeout or if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return False
