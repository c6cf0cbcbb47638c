"""The one installed plugin registry, and the lookups the core layers make through it.

Why a slot: the dissectors, key-file detection and the audit are called from many places
(files, live capture, the TUI re-reading a frame), and threading a registry through every
call would change every signature of the pipeline. The style guide allows exactly one
exception to "no global mutable state": the explicit plugin registry. It is installed once,
explicitly, by the CLI (or a test, with :func:`installed`), never as an import side effect.

Every lookup here is reached only *after* the core's own tables missed (an unknown payload
type, an unnamed notify or Vendor ID, an unrecognised key file), so with no plugin loaded
the dissector hot path is exactly what it was: one attribute read returning ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ipsec_inspect.crypto.keys import KeyStore
    from ipsec_inspect.plugins.api import Exporter, FieldDecoder, PayloadType
    from ipsec_inspect.plugins.registry import PluginRegistry


class _Slot:
    """Holds the installed registry; a class with one slot so there is one place to look."""

    __slots__ = ("registry",)

    def __init__(self) -> None:
        self.registry: PluginRegistry | None = None


_SLOT = _Slot()


def install(registry: PluginRegistry | None) -> None:
    """Make ``registry`` the active one (None uninstalls). Called once by the CLI."""
    _SLOT.registry = registry


def active() -> PluginRegistry | None:
    return _SLOT.registry


@contextmanager
def installed(registry: PluginRegistry | None) -> Iterator[PluginRegistry | None]:
    """Install ``registry`` for the duration of a block (tests, embedding), then restore."""
    previous = _SLOT.registry
    _SLOT.registry = registry
    try:
        yield registry
    finally:
        _SLOT.registry = previous


# ---------------------------------------------------------------- dissector lookups


def vendor_name(data: bytes) -> str:
    """A plugin's name for a Vendor ID the core table does not know, or ""."""
    reg = _SLOT.registry
    return "" if reg is None else reg.vendor_name(data)


def notify_name(version: int, notify_type: int) -> str | None:
    reg = _SLOT.registry
    return None if reg is None else reg.notify_names.get((version, notify_type))


def notify_decoder(version: int, notify_type: int) -> FieldDecoder | None:
    reg = _SLOT.registry
    return None if reg is None else reg.notify_decoders.get((version, notify_type))


def payload_type(version: int, payload_type: int) -> PayloadType | None:
    reg = _SLOT.registry
    return None if reg is None else reg.payloads.get((version, payload_type))


# ---------------------------------------------------------------- keys, rules, exporters


def key_format(text: str, file_name: str) -> str | None:
    """The name of the first plugin key format that recognises ``text``, or None."""
    reg = _SLOT.registry
    return None if reg is None else reg.detect_key_format(text, file_name)


def key_loader(name: str) -> Callable[[str, str], KeyStore] | None:
    reg = _SLOT.registry
    return None if reg is None else reg.key_loader(name)


def rules() -> tuple[Any, ...]:
    """Plugin audit rules (rows shaped like :class:`ipsec_inspect.audit.rules.Rule`)."""
    reg = _SLOT.registry
    return () if reg is None else reg.active_rules()


def exporters() -> dict[str, Exporter]:
    reg = _SLOT.registry
    return {} if reg is None else dict(reg.exporters)
