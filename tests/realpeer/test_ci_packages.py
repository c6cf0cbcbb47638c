"""``.ci/run`` installs the package of every charon plugin the harness loads.

The table in ``.ci/debian_packages.py`` is checked against ``dpkg -S`` where the plugins
are installed, so a Debian that moves a plugin to another package fails here, not in a
real-peer test far away ("AES_GCM_16 not supported").
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from tests.realpeer.config import PLUGINS

ROOT = Path(__file__).resolve().parents[2]


def _ci_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "debian_packages", ROOT / ".ci" / "debian_packages.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_harness_plugin_has_a_package_and_it_is_installed_by_ci() -> None:
    ci = _ci_module()
    assert ci.harness_plugins() == PLUGINS.split()
    packages = ci.packages()
    for plugin in PLUGINS.split():
        assert ci.PLUGIN_PACKAGE[plugin] in packages, plugin
    assert "libstrongswan-standard-plugins" in packages  # gcm, openssl: the fresh-machine bug
    assert {"tshark", "tcpdump", "tmux", "openssl", "iproute2", "iputils-ping"} <= set(packages)


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="not a Debian system (no dpkg)")
def test_the_plugin_table_agrees_with_dpkg() -> None:
    ci = _ci_module()
    checked = 0
    for plugin in PLUGINS.split():
        path = ci.PLUGIN_DIR / f"libstrongswan-{plugin}.so"
        if not path.exists():
            continue
        done = subprocess.run(["dpkg", "-S", str(path)], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            continue  # installed by other means than a package
        package = done.stdout.split(":", 1)[0].strip()
        assert ci.PLUGIN_PACKAGE[plugin] == package, f"{plugin}: dpkg says {package}"
        checked += 1
    if not checked:
        pytest.skip("no charon plugin installed from a package here")
