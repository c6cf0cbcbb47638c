"""The built-in ``json`` exporter: the SA timeline document, as one exporter row.

Why a row: ``export --format NAME`` picks its writer from the run's exporter table, and
the timeline is just the first row of it; a new output format (built in or from a plugin)
is one more row, and the command has no case of its own for any of them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

from ipsec_inspect.core.extensions import Exporter
from ipsec_inspect.export.timeline import build_timeline

if TYPE_CHECKING:
    from ipsec_inspect.pipeline.export_input import ExportInput


def timeline_of(data: ExportInput) -> dict[str, Any]:
    """The timeline document of an export input (keys only with ``include_keys``)."""
    return build_timeline(
        data.result, data.capture, include_keys=data.include_keys, keystore=data.keystore
    )


def write_json(data: ExportInput, out: TextIO) -> None:
    json.dump(data.timeline(), out, indent=2)
    out.write("\n")


JSON_EXPORTER = Exporter(
    "json",
    "the SA lifecycle timeline (stages, findings) as JSON; its schema: export --schema",
    write_json,
)
