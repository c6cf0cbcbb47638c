"""Network namespaces, veth and child processes for one run, always torn down.

Why a class with an explicit ``close``: every resource the harness creates (namespace, process)
is registered the moment it exists, and ``close`` undoes them in reverse order whatever happened
(failure, timeout, KeyboardInterrupt). Names carry the harness pid and a counter so concurrent or
crashed runs never collide, and nothing is ever looked up by a broad name: processes are killed by
their own pid only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

COMMAND_TIMEOUT = 20.0  # seconds for any one short command (ip, swanctl, ping)
STOP_TIMEOUT = 5.0  # seconds a process gets to exit after SIGTERM/SIGINT before SIGKILL

_RUN_COUNTER = count(1)


class LabError(RuntimeError):
    """A command of the harness failed; the message says which and why."""


def run(argv: Sequence[str], timeout: float = COMMAND_TIMEOUT, check: bool = True) -> str:
    """Run one short command, bounded in time; return stdout."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(argv)} did not finish within {timeout} s") from exc
    if check and done.returncode != 0:
        raise LabError(
            f"{' '.join(argv)} exited with {done.returncode}: {done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` at most ``timeout / interval`` times; True once it holds."""
    attempts = max(1, int(timeout / interval))
    for _ in range(attempts):
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@dataclass
class Lab:
    """Two namespaces joined by a veth pair, plus the processes started inside them."""

    tag: str = field(default_factory=lambda: f"iirp{os.getpid()}n{next(_RUN_COUNTER)}")
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def left(self) -> str:
        return f"{self.tag}l"

    @property
    def right(self) -> str:
        return f"{self.tag}r"

    @property
    def middle(self) -> str:
        """The NAT between the peers (``build(nat=True)`` only)."""
        return f"{self.tag}m"

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def exec_argv(self, namespace: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", namespace, *argv]

    def run_in(
        self,
        namespace: str,
        argv: Sequence[str],
        timeout: float = COMMAND_TIMEOUT,
        check: bool = True,
    ) -> str:
        return run(self.exec_argv(namespace, argv), timeout=timeout, check=check)

    def build(self, nat: bool = False) -> None:
        """Create both namespaces, the veth between them and the inner addresses on lo.

        ``nat``: a third namespace between them instead, the left on 198.51.100.1/24 facing
        the middle's 198.51.100.254, the middle's 192.0.2.254/24 facing the right's 192.0.2.2
        (``nat_relay.py`` runs in the middle)."""
        if nat:
            self._build_nat()
            return
        for name in (self.left, self.right):
            run(["ip", "netns", "add", name])
            self.namespaces.append(name)
        run(
            [
                "ip",
                "link",
                "add",
                "veth-l",
                "netns",
                self.left,
                "type",
                "veth",
                "peer",
                "name",
                "veth-r",
                "netns",
                self.right,
            ]
        )
        for name, dev, outer, inner in (
            (self.left, "veth-l", "192.0.2.1/24", "203.0.113.1/32"),
            (self.right, "veth-r", "192.0.2.2/24", "203.0.113.2/32"),
        ):
            # keep IPv6 router solicitations and MLD reports out of the capture
            self.run_in(name, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"])
            self.run_in(name, ["sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"])
            self.run_in(name, ["ip", "link", "set", "lo", "up"])
            self.run_in(name, ["ip", "addr", "add", inner, "dev", "lo"])
            self.run_in(name, ["ip", "addr", "add", outer, "dev", dev])
            self.run_in(name, ["ip", "link", "set", dev, "up"])

    def _build_nat(self) -> None:
        for name in (self.left, self.middle, self.right):
            run(["ip", "netns", "add", name])
            self.namespaces.append(name)
        for a, dev_a, b, dev_b in (
            (self.left, "veth-l", self.middle, "veth-ml"),
            (self.middle, "veth-mr", self.right, "veth-r"),
        ):
            run(["ip", "link", "add", dev_a, "netns", a, "type", "veth", "peer", "name", dev_b,
                 "netns", b])  # fmt: skip
        for name, addrs in (
            (self.left, [("veth-l", "198.51.100.1/24"), ("lo", "203.0.113.1/32")]),
            (self.middle, [("veth-ml", "198.51.100.254/24"), ("veth-mr", "192.0.2.254/24")]),
            (self.right, [("veth-r", "192.0.2.2/24"), ("lo", "203.0.113.2/32")]),
        ):
            self.run_in(name, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"])
            self.run_in(name, ["sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"])
            self.run_in(name, ["ip", "link", "set", "lo", "up"])
            for dev, addr in addrs:
                self.run_in(name, ["ip", "addr", "add", addr, "dev", dev])
                self.run_in(name, ["ip", "link", "set", dev, "up"])

    def start(self, namespace: str, argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        """Start a long-running process in ``namespace``, its own process group, output to ``log``."""
        with log.open("wb") as sink:
            process = subprocess.Popen(
                self.exec_argv(namespace, argv),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], first: int = signal.SIGTERM) -> None:
        """Signal one of our processes (by its pid), wait bounded, then kill it."""
        if process.poll() is None:
            _signal_group(process.pid, first)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    pass
        if process in self.processes:
            self.processes.remove(process)

    def close(self) -> None:
        """Kill our processes, delete our namespaces (their veth ends go with them)."""
        for process in reversed(list(self.processes)):
            self.stop(process)
        for name in reversed(list(self.namespaces)):
            run(["ip", "netns", "del", name], check=False)
            self.namespaces.remove(name)


def _signal_group(pid: int, signum: int) -> None:
    """Signal the process group we created for ``pid`` (start_new_session made pgid == pid)."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass
