"""What an exporter is given: the tracked result, the capture, and the records on demand.

Why in the pipeline layer: an exporter (the built-in ``json`` one or a plugin's) reads
the result of a whole run and re-reads the records of the capture, both of which the
pipeline makes. The JSON timeline document is built above (``export.timeline``), so the
command that runs the exporter hands its builder in; this module imports nothing above it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ipsec_inspect.core.records import Record
    from ipsec_inspect.crypto.keys import KeyStore
    from ipsec_inspect.lifecycle.tracker import TrackerResult
    from ipsec_inspect.wire.decoder import DecodeOptions

#: Builds the JSON timeline of an input (``export.timeline.timeline_of``).
TimelineBuilder = Callable[["ExportInput"], dict[str, Any]]


@dataclass(slots=True)
class ExportInput:
    """Everything an exporter may use; the records are re-read on demand (bounded memory)."""

    path: str
    options: DecodeOptions
    result: TrackerResult
    capture: dict[str, Any]  # path, frames, first_time, last_time
    build_timeline: TimelineBuilder
    include_keys: bool = False
    keystore: KeyStore | None = None
    pretty: bool = False  # indent JSON for people (export --pretty)
    #: every input when several captures were merged (``path`` then names them all)
    inputs: list[str] = field(default_factory=list)

    def records(self) -> Iterator[Record]:
        """The capture's records in frame order, decrypted where the keys allow."""
        # Imported here: the plugin API names this class, and a command that only lists
        # plugins (or loads them before its run) need not import the whole pipeline.
        from ipsec_inspect.pipeline.session import RecordStream

        yield from RecordStream(self.inputs or self.path, self.options, self.keystore)

    def timeline(self) -> dict[str, Any]:
        """The JSON timeline document of ``export --format json``."""
        return self.build_timeline(self)
