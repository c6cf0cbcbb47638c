"""Composing the run's extension tables: the core's rows and every loaded plugin's.

Why once, at start-up: the result is one frozen ``core.extensions.Extensions`` record
that the pipeline hands down (dissector tables to the decoders, key formats to key
loading, rules to the audit, exporters to ``export``). Nothing is looked up later, so a
test or an embedding program composes its own record and passes it in, and two runs in
one process never see each other's plugins.
"""

from __future__ import annotations

from collections.abc import Sequence

from ipsec_inspect.audit.rules import RULES
from ipsec_inspect.core.extensions import NO_DISSECTORS, Exporter, Extensions
from ipsec_inspect.plugins.registry import PluginRegistry


def compose_extensions(
    registry: PluginRegistry | None, builtin_exporters: Sequence[Exporter] = ()
) -> Extensions:
    """The core's tables, then the plugins' rows (``registry`` None: no plugin loaded).

    ``builtin_exporters`` are the core's output formats (``export.formats``; that
    layer sits above this one, so the caller hands them in). Rules: the built-in ones
    first, then every general plugin rule and those of the selected policies. A plugin
    exporter cannot take a built-in one's name.
    """
    exporters = {e.name: e for e in builtin_exporters}
    if registry is None:
        return Extensions(NO_DISSECTORS, (), RULES, exporters)
    for name, e in registry.exporters.items():
        exporters.setdefault(name, e)
    return Extensions(
        registry.dissector_tables(),
        tuple(registry.key_formats),
        RULES + registry.active_rules(),
        exporters,
    )
