"""What a plugin sees: the :class:`PluginContext` it registers through, and the row types.

A plugin is a Python module (or package) with a ``register(ctx)`` function; optional
module constants ``NAME``, ``VERSION`` and ``DESCRIPTION`` are shown by
``ipsec-inspect plugins``. Everything a plugin adds is a row: a Vendor ID, a notify type,
a private payload type, a key-file format, an audit rule, an exporter. The context records
which plugin added which row, so the listing can say "what each adds" and a failure can
name its plugin. See ``docs/plugins.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from ipsec_inspect.core.extensions import (
    Exporter,
    FieldDecoder,
    KeyFormat,
    NotifyType,
    PayloadType,
    VendorId,
)
from ipsec_inspect.pipeline.export_input import ExportInput

if TYPE_CHECKING:
    from ipsec_inspect.audit.rules import Rule
    from ipsec_inspect.crypto.keys import KeyStore

# The row types live in the core layer (every layer that reads a table knows them); they
# are named here too because this module is what a plugin imports.
__all__ = [
    "ExportInput",
    "Exporter",
    "FieldDecoder",
    "KeyFormat",
    "NotifyType",
    "PayloadType",
    "PluginContext",
    "VendorId",
]


@dataclass(slots=True)
class PluginContext:
    """Passed to a plugin's ``register``; collects its rows under its name."""

    plugin: str
    vendor_ids: list[VendorId] = field(default_factory=list)
    notifies: list[NotifyType] = field(default_factory=list)
    payloads: list[PayloadType] = field(default_factory=list)
    key_formats: list[KeyFormat] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    # policy name -> rules that apply only when the user asks for it (--policy NAME)
    policies: dict[str, list[Rule]] = field(default_factory=dict)
    exporters: list[Exporter] = field(default_factory=list)

    def add_vendor_id(self, value: bytes | str, name: str, match: str = "exact") -> None:
        """``value`` as bytes or hex text; ``match`` is ``exact`` or ``prefix``."""
        if match not in ("exact", "prefix"):
            raise ValueError(f"vendor ID match must be 'exact' or 'prefix', not {match!r}")
        raw = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
        if not raw:
            raise ValueError("an empty vendor ID matches nothing")
        self.vendor_ids.append(VendorId(raw, name, match))

    def add_notify(
        self, version: int, notify_type: int, name: str, decode: FieldDecoder | None = None
    ) -> None:
        _check_version(version)
        if not 0 < notify_type < 65536:
            raise ValueError(f"notify type {notify_type} is outside 1-65535")
        self.notifies.append(NotifyType(version, notify_type, name, decode))

    def add_payload(
        self,
        version: int,
        payload_type: int,
        short: str,
        name: str,
        decode: FieldDecoder | None = None,
    ) -> None:
        _check_version(version)
        if not 128 <= payload_type <= 255:
            raise ValueError(f"payload type {payload_type} is not in the private-use range 128-255")
        self.payloads.append(PayloadType(version, payload_type, short, name, decode))

    def add_key_format(
        self,
        name: str,
        sniff: Callable[[str, str], bool],
        load: Callable[[str, str], KeyStore],
    ) -> None:
        self.key_formats.append(KeyFormat(name, sniff, load))

    def add_rule(self, rule: Rule, policy: str | None = None) -> None:
        """An audit rule row, same shape as the built-in ones (``audit/rules.py``).

        With ``policy``, the rule belongs to a named site policy and runs only when the user
        selects it (``ipsec-inspect --policy NAME …``): which algorithms a site accepts is
        its own choice, so such findings are never raised unasked.
        """
        if rule.scope not in ("ike", "child"):
            raise ValueError(f"rule {rule.id}: scope must be 'ike' or 'child'")
        if policy is None:
            self.rules.append(rule)
            return
        if not policy or not policy.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"policy name {policy!r} must be a word")
        self.policies.setdefault(policy, []).append(rule)

    def add_exporter(
        self, name: str, description: str, write: Callable[[ExportInput, TextIO], None]
    ) -> None:
        if not name or name == "json" or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"exporter name {name!r} must be a word and not 'json'")
        self.exporters.append(Exporter(name, description, write))

    def summary(self) -> list[str]:
        """What this plugin adds, one phrase per kind (for ``ipsec-inspect plugins``)."""
        out: list[str] = []
        if self.vendor_ids:
            out.append(f"{len(self.vendor_ids)} vendor ID(s)")
        for n in self.notifies:
            out.append(f"IKEv{n.version} notify {n.type} {n.name}")
        for p in self.payloads:
            out.append(f"IKEv{p.version} payload {p.type} {p.short}")
        out.extend(f"key format {k.name}" for k in self.key_formats)
        out.extend(f"rule {r.id}" for r in self.rules)
        for name, rules in self.policies.items():
            out.append(f"policy {name} ({', '.join(r.id for r in rules)})")
        out.extend(f"exporter {e.name}" for e in self.exporters)
        return out


def _check_version(version: int) -> None:
    if version not in (1, 2):
        raise ValueError(f"IKE version must be 1 or 2, not {version}")
