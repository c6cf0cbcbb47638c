"""Finding and loading plugins: entry points, ``--plugin-dir`` folders, a checkout's ``plugins/``.

Why explicit: loading runs other people's code, so it happens only when the CLI (or a
caller) asks, in a fixed order — entry points, then each ``--plugin-dir`` in the order
given, then the checkout's ``plugins/`` — and every outcome is recorded in the registry:
loaded (from where, adding what), failed (with why), or skipped as a duplicate name.
A plugin that raises while importing or registering never stops the others.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from ipsec_inspect.plugins.api import PluginContext
from ipsec_inspect.plugins.registry import PluginRegistry

ENTRY_POINT_GROUP = "ipsec_inspect.plugins"
# The plugins shipped with ipsec-inspect: top-level plugins/ in the source, installed by
# the wheel as this package and announced in ENTRY_POINT_GROUP like any other plugin.
BUNDLED_PACKAGE = "ipsec_inspect_plugins"
_MODULE_PREFIX = "ipsec_inspect_plugin_"


def checkout_plugins_dir() -> Path | None:
    """``plugins/`` beside the package when running from a source checkout, else None.

    A checkout is recognised by ``pyproject.toml`` beside the ``ipsec_inspect`` folder.
    """
    root = Path(__file__).resolve().parents[2]
    folder = root / "plugins"
    if (root / "pyproject.toml").is_file() and folder.is_dir():
        return folder
    return None


def plugin_sources(folder: Path) -> list[tuple[str, Path]]:
    """``(name, path)`` of each plugin in a folder: a package (``name/__init__.py``) or
    a module (``name.py``); names starting with ``_`` or ``.`` are ignored."""
    out: list[tuple[str, Path]] = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith(("_", ".")):
            continue
        if child.is_dir() and (child / "__init__.py").is_file():
            out.append((child.name, child / "__init__.py"))
        elif child.is_file() and child.suffix == ".py":
            out.append((child.stem, child))
    return out


def _import_file(name: str, path: Path) -> ModuleType:
    """Import a plugin file under a private module name, so a package's relative imports work."""
    mod_name = _MODULE_PREFIX + name
    is_package = path.name == "__init__.py"
    spec = importlib.util.spec_from_file_location(
        mod_name, path, submodule_search_locations=[str(path.parent)] if is_package else None
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(mod_name, None)
        raise
    return module


def _register(registry: PluginRegistry, name: str, origin: str, source: str, target: Any) -> None:
    """Run one plugin's ``register`` (a module's, or the entry point's callable itself)."""
    register = target if callable(target) and not isinstance(target, ModuleType) else None
    module = target
    if register is None:
        register = getattr(target, "register", None)
        if not callable(register):
            registry.fail(name, origin, source, "it has no register(ctx) function")
            return
    else:
        module = sys.modules.get(getattr(target, "__module__", ""), target)
    name = str(getattr(module, "NAME", name))
    if name in registry.names():
        registry.skipped.append(
            f"plugin {name} from {source} ({origin}): a plugin of that name is already loaded"
        )
        return
    ctx = PluginContext(name)
    try:
        register(ctx)
        registry.add(ctx, origin, source, module)
    except Exception as exc:
        registry.fail(name, origin, source, exc)


def load_entry_points(
    registry: PluginRegistry, entry_points: Iterable[metadata.EntryPoint] | None = None
) -> None:
    """Plugins announced by installed distributions under ``ipsec_inspect.plugins``."""
    eps = (
        entry_points if entry_points is not None else metadata.entry_points(group=ENTRY_POINT_GROUP)
    )
    for ep in sorted(eps, key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        source = f"{dist.name}: {ep.value}" if dist is not None else ep.value
        try:
            target = ep.load()
        except Exception as exc:
            registry.fail(ep.name, "entry point", source, exc)
            continue
        _register(registry, ep.name, "entry point", source, target)


def load_directory(registry: PluginRegistry, folder: Path, origin: str = "--plugin-dir") -> None:
    """Every plugin in ``folder``; an unreadable folder is reported as a failure."""
    try:
        sources = plugin_sources(folder)
    except OSError as exc:
        registry.fail(folder.name, origin, str(folder), f"cannot list the folder ({exc.strerror})")
        return
    for name, path in sources:
        try:
            module = _import_file(name, path)
        except Exception as exc:
            registry.fail(name, origin, str(path), exc)
            continue
        _register(registry, name, origin, str(path), module)


def load_plugins(
    plugin_dirs: Sequence[str | Path] = (),
    *,
    entry_points: bool = True,
    checkout: bool = True,
) -> PluginRegistry:
    """A registry of every plugin found; nothing is installed (``compose`` makes the tables)."""
    registry = PluginRegistry()
    checkout_dir = checkout_plugins_dir() if checkout else None
    if entry_points:
        eps: Iterable[metadata.EntryPoint] = metadata.entry_points(group=ENTRY_POINT_GROUP)
        if checkout_dir is not None:
            # In a source checkout the shipped plugins are read from plugins/, their
            # source: an editable install's copies of them can be older.
            eps = [ep for ep in eps if not ep.value.startswith(BUNDLED_PACKAGE + ".")]
        load_entry_points(registry, eps)
    for d in plugin_dirs:
        folder = Path(d)
        if not folder.is_dir():
            registry.fail(folder.name or str(folder), "--plugin-dir", str(folder), "not a folder")
            continue
        load_directory(registry, folder)
    if checkout_dir is not None:
        load_directory(registry, checkout_dir, "checkout")
    return registry
