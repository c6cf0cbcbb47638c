"""The shipped plugins are in the wheel: built, installed into a fresh venv, listed and used.

Why a real wheel: a checkout finds the plugins in its plugins/ folder, which hides a
packaging mistake; only an installed wheel shows what ``pip install ipsec-inspect`` gives.
The venv sees the system's site-packages for the dependencies (cryptography, rich, …) so
no index is needed; PYTHONPATH is cleared and the commands run outside the checkout, so
the package and the plugins come from the wheel alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, SAMPLES, SHIPPED

BUNDLED = "ipsec_inspect_plugins"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the built wheel, the venv's bin folder) with that wheel installed."""
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling (test extra)")
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp / "dist"), str(ROOT)],
        check=True, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (tmp / "dist").glob("ipsec_inspect-*.whl")
    venv = tmp / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
        check=True, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    bin_dir = venv / "bin"
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         str(wheel)],
        check=True, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    yield wheel, bin_dir


def _run(bin_dir: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(bin_dir / "ipsec-inspect"), *argv],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
    )  # fmt: skip


def test_the_wheel_holds_the_plugins_under_their_own_package(
    installed: tuple[Path, Path],
) -> None:
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for plugin in SHIPPED:
        assert f"{BUNDLED}/{plugin}/__init__.py" in names
    assert not [n for n in names if n.startswith("plugins/")]  # no bare top-level package
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[ipsec_inspect.plugins]" in text
    assert f"zeek_ipsec_log = {BUNDLED}.zeek_ipsec_log" in text


def test_installed_plugins_are_listed_from_entry_points(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, bin_dir = installed
    done = _run(bin_dir, "plugins", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["failed"] == []
    loaded = {p["name"]: p for p in doc["loaded"]}
    assert sorted(loaded) == sorted(SHIPPED)
    for name, p in loaded.items():
        assert p["origin"] == "entry point"
        assert p["source"] == f"ipsec-inspect: {BUNDLED}.{name}"
    assert "exporter zeek-ipsec-log" in loaded["zeek_ipsec_log"]["adds"]
    text = _run(bin_dir, "plugins", cwd=tmp_path).stdout
    assert (
        "zeek_ipsec_log 1.0  [entry point] ipsec-inspect: ipsec_inspect_plugins.zeek_ipsec_log"
        in text
    )


def test_an_installed_plugin_exporter_and_policy_work(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, bin_dir = installed
    sample = str(SAMPLES / "ikev2-tunnel.pcapng")
    keys = str(SAMPLES / "ikev2-tunnel.keys.toml")
    zeek = _run(bin_dir, "export", "--format", "zeek-ipsec-log", sample, cwd=tmp_path)
    assert zeek.returncode == 0, zeek.stderr
    assert zeek.stdout.startswith("#separator \\x09\n")
    rows = [line for line in zeek.stdout.splitlines() if not line.startswith("#")]
    assert len(rows) >= 2  # one line per IKE message of the IKE_SA_INIT and IKE_AUTH
    argv = ["--policy", "cnsa", "summary", sample, "--keys", keys, "--format", "json"]
    audited = _run(bin_dir, *argv, cwd=tmp_path)
    assert audited.returncode == 0, audited.stderr
    cnsa = {
        f["rule"]: f["outcome"]
        for f in json.loads(audited.stdout)["findings"]
        if f["rule"].startswith("CNSA")
    }
    assert cnsa == {"CNSA-01": "fail", "CNSA-02": "fail", "CNSA-03": "fail", "CNSA-04": "fail"}
