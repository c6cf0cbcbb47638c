"""``ipsec-inspect plugins``: what plugins are loaded, from where, adding what — and what failed.

Why a command: loading runs third-party code, so it must be visible. This lists the
registry the CLI loaded (entry points, ``--plugin-dir`` folders, a checkout's
``plugins/``), including each plugin that failed to load with the reason, and exits 1 when
any failed so scripts can tell.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from ipsec_inspect.plugins.registry import PluginRegistry

NAME = "plugins"
HELP = "list the loaded plugins, where they come from, what they add, and failures"
DESCRIPTION = (
    "List the plugins found through the entry point group 'ipsec_inspect.plugins', "
    "--plugin-dir folders and, when run from a source checkout, its plugins/ folder: "
    "what each adds (vendor IDs, notify and payload decoders, key formats, rules, "
    "exporters), and every plugin that failed to load, with why."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")


def _text(registry: PluginRegistry | None) -> str:
    if registry is None:
        return "plugins: none (loading was switched off with --no-plugins)\n"
    lines: list[str] = []
    if not registry.loaded and not registry.failed:
        lines.append("plugins: none found")
    for p in registry.loaded:
        version = f" {p.version}" if p.version else ""
        lines.append(f"{p.name}{version}  [{p.origin}] {p.source}")
        if p.description:
            lines.append(f"    {p.description}")
        lines.append(f"    adds: {', '.join(p.adds) if p.adds else 'nothing'}")
    for s in registry.skipped:
        lines.append(f"skipped: {s}")
    for f in registry.failed:
        lines.append(f"FAILED {f.name}  [{f.origin}] {f.source}")
        lines.append(f"    {f.error}")
    return "\n".join(lines) + "\n"


def _json(registry: PluginRegistry | None) -> str:
    doc = {
        "enabled": registry is not None,
        "loaded": [asdict(p) for p in registry.loaded] if registry else [],
        "skipped": list(registry.skipped) if registry else [],
        "failed": [asdict(f) for f in registry.failed] if registry else [],
    }
    return json.dumps(doc, indent=2) + "\n"


def run(args: argparse.Namespace) -> int:
    registry: PluginRegistry | None = getattr(args, "plugin_registry", None)
    sys.stdout.write(_json(registry) if args.format == "json" else _text(registry))
    return 1 if registry is not None and registry.failed else 0
