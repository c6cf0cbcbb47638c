"""``sniff`` refuses clearly (exit code 3) when it cannot capture."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.live.netns import ROOT, VethPair

TIMEOUT = 60


def _sniff(
    veth: VethPair, iface: str, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    argv = [*prefix, sys.executable, "-m", "ipsec_inspect", "sniff", "-i", iface, "--events",
            "--duration", "2"]  # fmt: skip
    return subprocess.run(
        veth.exec_argv(veth.sniff_ns, argv),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
    )


def test_unknown_interface_lists_the_existing_ones(veth: VethPair) -> None:
    done = _sniff(veth, "nosuch0")
    assert done.returncode == 3
    assert "no interface named 'nosuch0'" in done.stderr
    assert "lo" in done.stderr and veth.sniff_dev in done.stderr
    assert done.stdout == ""


def test_interface_down_is_reported(veth: VethPair) -> None:
    # a new namespace's loopback starts down
    done = _sniff(veth, "lo")
    assert done.returncode == 3
    assert "interface lo is down" in done.stderr


def test_no_permission_names_the_remedies(veth: VethPair) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop CAP_NET_RAW")
    done = _sniff(
        veth, veth.sniff_dev, ("setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw")
    )
    assert done.returncode == 3, done.stderr
    assert "no permission to capture on veth-c" in done.stderr
    assert "CAP_NET_RAW" in done.stderr and "--backend pyshark" in done.stderr


def test_ring_without_write_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ipsec_inspect", "sniff", "-i", "lo", "--ring", "3"],
        capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--ring and --ring-size need --write" in done.stderr
    assert done.stderr.startswith("usage: ipsec-inspect sniff")
