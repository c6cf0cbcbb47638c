"""Extension tables: the rows plugins add, and the one frozen record they are composed into.

Why a record handed down, not a registry looked up: the dissectors, key-file detection
and the audit sit low in the layer order, and a plugin registry sits high. Looking the
registry up from below tied two dozen modules into one import cycle and made every test
that loads a plugin install global state. Instead the command line composes the core's
tables and every loaded plugin's rows once, at start-up, into an :class:`Extensions`
record; the pipeline hands each layer its part — :class:`DissectorTables` to the decoder
and the decryptor (through ``DecodeOptions.dissectors``), the key formats to key loading,
the rules to the audit, the exporters to ``export``. The record is frozen: nothing
changes it during a run.

The types named in annotations here as ``Any`` belong to higher layers (a ``KeyStore``,
an audit ``Rule``, an ``ExportInput``); the core cannot import them, so each field's
docstring says what it holds.

With no plugin loaded the dissector hot path reads one empty mapping after a core table
missed: exactly the cost of the old slot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TextIO

from ipsec_inspect.core.buffer import Reader
from ipsec_inspect.core.records import Field

FieldDecoder = Callable[[Reader, list[Field]], None]
"""Reads a body with the bounds-checked reader and appends :class:`Field` rows.

A short read raises ``Truncated`` (a ValueError): the dissector turns it into a problem on
the payload, keeping every field appended before it. Any other exception is a plugin bug:
it is reported against the plugin and the decoder is switched off for the rest of the run.
"""


# ---------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class VendorId:
    """A Vendor ID value: ``exact`` bytes, or a ``prefix`` followed by anything."""

    value: bytes
    name: str
    match: str = "exact"  # "exact" | "prefix"


@dataclass(frozen=True, slots=True)
class NotifyType:
    """A notify message type (usually private-use) with an optional data decoder."""

    version: int  # 1 (ISAKMP) or 2
    type: int
    name: str
    decode: FieldDecoder | None = None


@dataclass(frozen=True, slots=True)
class PayloadType:
    """A payload type the core does not parse (private use, 128-255)."""

    version: int
    type: int
    short: str  # as in one-line summaries: "FLEX", "CKPT"
    name: str
    decode: FieldDecoder | None = None


@dataclass(frozen=True, slots=True)
class KeyFormat:
    """Another key-file format: ``sniff`` says whether a text is one, ``load`` reads it.

    ``load(text, file name)`` returns a ``crypto.keys.KeyStore``.
    """

    name: str
    sniff: Callable[[str, str], bool]  # (text, file name) -> is it this format?
    load: Callable[[str, str], Any]  # (text, file name) -> KeyStore


@dataclass(frozen=True, slots=True)
class Exporter:
    """An output format behind ``export --format NAME`` (the built-in ``json`` is one too).

    ``write(data, out)`` gets a ``pipeline.export_input.ExportInput`` and a text stream.
    """

    name: str
    description: str
    write: Callable[[Any, TextIO], None]


# ---------------------------------------------------------------- the composed record


def _frozen(mapping: Mapping[Any, Any] | None = None) -> Mapping[Any, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class DissectorTables:
    """What the IKE dissectors consult after the core's IANA tables missed.

    Read by ``ipsec.ikev1`` / ``ipsec.ikev2`` (private payloads, notify data decoders),
    ``ipsec.registry`` (payload and notify names) and ``ipsec.vendor_ids``.
    """

    vendor_exact: Mapping[bytes, str] = field(default_factory=_frozen)
    # Longest prefix first, as the core table does.
    vendor_prefixes: tuple[tuple[bytes, str], ...] = ()
    notify_names: Mapping[tuple[int, int], str] = field(default_factory=_frozen)
    notify_decoders: Mapping[tuple[int, int], FieldDecoder] = field(default_factory=_frozen)
    payloads: Mapping[tuple[int, int], PayloadType] = field(default_factory=_frozen)

    def vendor_name(self, data: bytes) -> str:
        """An extension's name for a Vendor ID value, or ""."""
        name = self.vendor_exact.get(data)
        if name is not None:
            return name
        for prefix, pname in self.vendor_prefixes:
            if data.startswith(prefix):
                return pname
        return ""


NO_DISSECTORS = DissectorTables()
"""The core's tables alone: what a decoder uses when nothing was composed."""


@dataclass(frozen=True, slots=True)
class Extensions:
    """Every extension table of one run, composed once at start-up and then read-only.

    ``rules`` and ``exporters`` hold the built-in rows as well as the plugins' (the
    built-in ``json`` exporter is a row like any other); the dissector tables and key
    formats hold only what extends the core's own IANA tables and key-file readers,
    which are consulted first.
    """

    dissectors: DissectorTables = NO_DISSECTORS
    key_formats: tuple[KeyFormat, ...] = ()
    rules: tuple[Any, ...] = ()  # audit.rules.Rule rows, built-in first
    exporters: Mapping[str, Exporter] = field(default_factory=_frozen)

    def __post_init__(self) -> None:
        if not isinstance(self.exporters, MappingProxyType):
            object.__setattr__(self, "exporters", _frozen(self.exporters))
