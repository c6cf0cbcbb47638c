"""Fixtures for plugin tests: the shipped plugins loaded either way, shared captures."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from ipsec_inspect.core.extensions import Extensions
from ipsec_inspect.export.formats import BUILTIN_EXPORTERS
from ipsec_inspect.plugins.compose import compose_extensions
from ipsec_inspect.plugins.loader import ENTRY_POINT_GROUP, load_directory, load_entry_points
from ipsec_inspect.plugins.registry import PluginRegistry

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins"
SAMPLES = ROOT / "samples"
CAPTURES = ROOT / ".." / "shared" / "captures"
SHIPPED = ("cnsa_policy", "ncp_decoder", "suricata_eve_ike", "zeek_ipsec_log")
WAYS = ("directory", "entry point")


def shared(rel: str) -> Path:
    path = CAPTURES / rel
    if not path.exists():
        pytest.skip(f"../shared/captures/{rel} is not available beside the project")
    return path


def compose(registry: PluginRegistry | None) -> Extensions:
    """The run's tables as the CLI composes them: the core's rows, then the plugins'."""
    return compose_extensions(registry, BUILTIN_EXPORTERS)


def load_shipped(way: str, names: tuple[str, ...] = SHIPPED) -> PluginRegistry:
    """The shipped plugins through a ``--plugin-dir`` folder or through entry points."""
    registry = PluginRegistry()
    if way == "directory":
        load_directory(registry, PLUGINS)
        return registry
    eps = [metadata.EntryPoint(n, n, ENTRY_POINT_GROUP) for n in names]
    load_entry_points(registry, eps)
    return registry


@pytest.fixture
def plugin_path(monkeypatch: pytest.MonkeyPatch) -> Path:
    """``plugins/`` importable as top-level modules, as an installed distribution makes them."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    yield PLUGINS
    for name in SHIPPED:
        sys.modules.pop(name, None)


@pytest.fixture(params=WAYS)
def shipped(request: pytest.FixtureRequest, plugin_path: Path) -> Iterator[Extensions]:
    """Every shipped plugin, loaded one way per test run, composed into the run's tables."""
    registry = load_shipped(request.param)
    assert not registry.failed, registry.failed
    registry.select_policies(["cnsa"])  # the CNSA rules run only when the policy is asked for
    yield compose(registry)
