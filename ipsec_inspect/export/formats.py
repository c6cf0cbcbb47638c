"""The core's output formats: the table ``export --format NAME`` starts from.

Why a table: the command looks its writer up by name in the run's exporter table, which
begins with these rows and continues with the plugins' (``plugins.compose``). Adding a
built-in format is one module in this package with its ``write(data, out)`` and one row
here; ``commands/export.py`` does not change.
"""

from __future__ import annotations

from ipsec_inspect.core.extensions import Exporter
from ipsec_inspect.export.json_exporter import JSON_EXPORTER

BUILTIN_EXPORTERS: tuple[Exporter, ...] = (JSON_EXPORTER,)
