"""Finding and loading plugins: entry points, ``--plugin-dir`` folders, a checkout's ``plugins/``.

Why explicit: loading runs other people's code, so it happens only when the CLI (or a
caller) asks, in a fixed order — entry points, then each ``--plugin-dir`` in the order
given, then the checkout's ``plugins/`` — and every outcome is recorded in the registry:
loaded (from where, adding what), failed (with why), or skipped as a duplicate name.
A plugin that raises while importing or registering never stops the others.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ipsec_inspect.plugins.api import PluginContext
from ipsec_inspect.plugins.registry import PluginRegistry

if TYPE_CHECKING:  # importlib.metadata is imported only when some entry point may load
    from importlib import metadata

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


def _section_values(text: str, group: str) -> list[str] | None:
    """The values of ``group``'s entries in an ``entry_points.txt``, read as
    :mod:`importlib.metadata` reads it; None for a line it would not read alike."""
    values: list[str] = []
    section = None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
        elif section == group:
            _name, eq, value = line.partition("=")
            if not eq or "=" in value:
                return None
            values.append(value.strip())
    return values


def entry_points_may_load(group: str, skip_prefix: str | None) -> bool:
    """False only when no distribution on ``sys.path`` announces an entry point in
    ``group`` (other than those whose value starts with ``skip_prefix``).

    Why: importing :mod:`importlib.metadata` and letting it read every distribution costs
    a short command (``summary`` of one packet) a tenth of its start-up, and in a source
    checkout, or without third-party plugins, it finds nothing to load. This reads the
    ``entry_points.txt`` files it would read; whenever it cannot tell (a zip or egg on
    the path, another finder of distributions, an odd line) it answers True, and
    :mod:`importlib.metadata` decides as before.
    """
    from importlib.machinery import PathFinder

    if any(
        getattr(finder, "find_distributions", None) is not None and finder is not PathFinder
        for finder in sys.meta_path
    ):
        return True
    for entry in sys.path:
        folder = entry or "."
        try:
            children = os.listdir(folder)
        except NotADirectoryError:
            return True  # a zip file: importlib.metadata reads inside it
        except OSError:
            continue
        if folder.lower().endswith(".egg"):
            return True
        for child in children:
            if not child.lower().endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(folder, child, "entry_points.txt"), "rb") as f:
                    raw = f.read()
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError:
                return True
            if group.encode() not in raw:
                continue
            try:
                values = _section_values(raw.decode(), group)
            except UnicodeDecodeError:
                return True
            if values is None or any(
                skip_prefix is None or not v.startswith(skip_prefix) for v in values
            ):
                return True
    return False


def _installed_entry_points(group: str, skip_prefix: str | None) -> list[metadata.EntryPoint]:
    """The entry points of ``group``, without those whose value starts with ``skip_prefix``."""
    if not entry_points_may_load(group, skip_prefix):
        return []
    from importlib import metadata

    eps = metadata.entry_points(group=group)
    return [ep for ep in eps if skip_prefix is None or not ep.value.startswith(skip_prefix)]


def load_entry_points(
    registry: PluginRegistry, entry_points: Iterable[metadata.EntryPoint] | None = None
) -> None:
    """Plugins announced by installed distributions under ``ipsec_inspect.plugins``."""
    eps = (
        entry_points
        if entry_points is not None
        else _installed_entry_points(ENTRY_POINT_GROUP, None)
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
        # In a source checkout the shipped plugins are read from plugins/, their
        # source: an editable install's copies of them can be older.
        skip = BUNDLED_PACKAGE + "." if checkout_dir is not None else None
        load_entry_points(registry, _installed_entry_points(ENTRY_POINT_GROUP, skip))
    for d in plugin_dirs:
        folder = Path(d)
        if not folder.is_dir():
            registry.fail(folder.name or str(folder), "--plugin-dir", str(folder), "not a folder")
            continue
        load_directory(registry, folder)
    if checkout_dir is not None:
        load_directory(registry, checkout_dir, "checkout")
    return registry
