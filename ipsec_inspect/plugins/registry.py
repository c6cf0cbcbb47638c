"""The plugin registry: what each plugin added, what failed, and guarded lookups.

Why guards: a plugin is someone else's code running inside our dissector, key loading,
audit and export. Every plugin callable is wrapped once here, so that an exception other
than the parse error a decoder is allowed to raise is *recorded against the plugin*, the
callable is switched off, and the run goes on. ``ipsec-inspect plugins`` and every command
report those failures; the core never sees a plugin traceback.

The registry is the loader's bookkeeping, not something the core consults: at start-up
it is composed with the core's tables into one frozen ``core.extensions.Extensions``
record (:mod:`ipsec_inspect.plugins.compose`), and that record is handed down.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ipsec_inspect.core.buffer import Reader
from ipsec_inspect.core.extensions import (
    DissectorTables,
    Exporter,
    FieldDecoder,
    KeyFormat,
    PayloadType,
)
from ipsec_inspect.core.records import Field
from ipsec_inspect.plugins.api import PluginContext

if TYPE_CHECKING:
    from ipsec_inspect.audit.findings import Verdict
    from ipsec_inspect.crypto.keys import KeyStore
    from ipsec_inspect.lifecycle.tracker import TrackerResult


@dataclass(frozen=True, slots=True)
class LoadedPlugin:
    """A plugin that loaded: where from, and what rows it adds."""

    name: str
    origin: str  # "entry point", "--plugin-dir", "checkout"
    source: str  # module path or "dist-name: module"
    version: str
    description: str
    adds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FailedPlugin:
    """A plugin that could not load, and why (reported, never fatal)."""

    name: str
    origin: str
    source: str
    error: str


@dataclass(frozen=True, slots=True)
class RuntimeFailure:
    """A plugin callable that raised during the run and was switched off."""

    plugin: str
    what: str  # "decoder for IKEv2 notify 40961", "rule CNSA-01", "exporter zeek"
    error: str


def describe_exception(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Switch:
    """One plugin callable's on/off state: off after its first unexpected exception."""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = True


@dataclass
class PluginRegistry:
    """Everything loaded plugins contributed, as lookup tables the core reads."""

    loaded: list[LoadedPlugin] = field(default_factory=list)
    failed: list[FailedPlugin] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    runtime_failures: list[RuntimeFailure] = field(default_factory=list)
    vendor_exact: dict[bytes, str] = field(default_factory=dict)
    vendor_prefixes: list[tuple[bytes, str]] = field(default_factory=list)
    notify_names: dict[tuple[int, int], str] = field(default_factory=dict)
    notify_decoders: dict[tuple[int, int], FieldDecoder] = field(default_factory=dict)
    payloads: dict[tuple[int, int], PayloadType] = field(default_factory=dict)
    key_formats: list[KeyFormat] = field(default_factory=list)
    rules: tuple[Any, ...] = ()
    policies: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # name -> its rules
    selected_policies: tuple[str, ...] = ()
    exporters: dict[str, Exporter] = field(default_factory=dict)
    _owner: dict[str, str] = field(default_factory=dict)  # contribution key -> plugin

    # ------------------------------------------------------------ building

    def add(self, ctx: PluginContext, origin: str, source: str, module: Any) -> None:
        """Take every row a plugin registered; a clash with an earlier plugin is an error."""
        clashes = [k for k in self._keys(ctx) if k in self._owner]
        if clashes:
            first = clashes[0]
            raise ValueError(f"{first} is already added by plugin {self._owner[first]}")
        for key in self._keys(ctx):
            self._owner[key] = ctx.plugin
        for vid in ctx.vendor_ids:
            if vid.match == "exact":
                self.vendor_exact[vid.value] = vid.name
            else:
                self.vendor_prefixes.append((vid.value, vid.name))
        # Longest prefix first, as the core table does.
        self.vendor_prefixes.sort(key=lambda row: -len(row[0]))
        for n in ctx.notifies:
            self.notify_names[(n.version, n.type)] = n.name
            if n.decode is not None:
                what = f"decoder for IKEv{n.version} notify {n.type}"
                self.notify_decoders[(n.version, n.type)] = self._guard_decoder(
                    ctx.plugin, what, n.decode
                )
        for p in ctx.payloads:
            decode = p.decode
            if decode is not None:
                what = f"decoder for IKEv{p.version} payload {p.type}"
                decode = self._guard_decoder(ctx.plugin, what, decode)
            self.payloads[(p.version, p.type)] = dataclasses.replace(p, decode=decode)
        for k in ctx.key_formats:
            self.key_formats.append(self._guard_key_format(ctx.plugin, k))
        self.rules = self.rules + tuple(self._guard_rule(ctx.plugin, r) for r in ctx.rules)
        for name, rules in ctx.policies.items():
            guarded = tuple(self._guard_rule(ctx.plugin, r) for r in rules)
            self.policies[name] = self.policies.get(name, ()) + guarded
        for e in ctx.exporters:
            self.exporters[e.name] = e
        self.loaded.append(
            LoadedPlugin(
                ctx.plugin,
                origin,
                source,
                str(getattr(module, "VERSION", "")),
                _first_line(getattr(module, "DESCRIPTION", None) or module.__doc__ or ""),
                tuple(ctx.summary()),
            )
        )

    @staticmethod
    def _keys(ctx: PluginContext) -> list[str]:
        keys = [f"vendor ID {v.value.hex()}" for v in ctx.vendor_ids]
        keys += [f"IKEv{n.version} notify {n.type}" for n in ctx.notifies]
        keys += [f"IKEv{p.version} payload {p.type}" for p in ctx.payloads]
        keys += [f"key format {k.name}" for k in ctx.key_formats]
        keys += [f"rule {r.id}" for r in ctx.rules]
        keys += [f"rule {r.id}" for rules in ctx.policies.values() for r in rules]
        keys += [f"exporter {e.name}" for e in ctx.exporters]
        return keys

    def select_policies(self, names: list[str]) -> None:
        """Turn on the named policies' rules; an unknown name is a ValueError naming the known."""
        unknown = [n for n in names if n not in self.policies]
        if unknown:
            known = ", ".join(sorted(self.policies)) or "none"
            raise ValueError(f"no policy named {unknown[0]!r} (policies loaded: {known})")
        self.selected_policies = tuple(dict.fromkeys(names))

    def active_rules(self) -> tuple[Any, ...]:
        """The plugin rules that run: every general rule, and those of selected policies."""
        out = self.rules
        for name in self.selected_policies:
            out = out + self.policies[name]
        return out

    def fail(self, name: str, origin: str, source: str, exc: BaseException | str) -> None:
        error = exc if isinstance(exc, str) else describe_exception(exc)
        self.failed.append(FailedPlugin(name, origin, source, error))

    def runtime_failure(self, plugin: str, what: str, exc: BaseException) -> None:
        self.runtime_failures.append(RuntimeFailure(plugin, what, describe_exception(exc)))

    def names(self) -> set[str]:
        return {p.name for p in self.loaded}

    # ------------------------------------------------------------ guards

    def _guard_decoder(self, plugin: str, what: str, fn: FieldDecoder) -> FieldDecoder:
        switch = _Switch()

        def guarded(r: Reader, out: list[Field]) -> None:
            if not switch.on:
                return
            try:
                fn(r, out)
            except ValueError:
                raise  # a malformed body: the dissector records it on the payload
            except Exception as exc:
                switch.on = False
                self.runtime_failure(plugin, what, exc)
                raise ValueError(f"plugin {plugin} {what} failed and was switched off") from None

        return guarded

    def _guard_key_format(self, plugin: str, k: KeyFormat) -> KeyFormat:
        from ipsec_inspect.crypto.keyfiles.common import KeyFileError

        switch = _Switch()

        def sniff(text: str, name: str) -> bool:
            if not switch.on:
                return False
            try:
                return bool(k.sniff(text, name))
            except Exception as exc:
                switch.on = False
                self.runtime_failure(plugin, f"key format {k.name} (detection)", exc)
                return False

        def load(text: str, name: str) -> KeyStore:
            try:
                return k.load(text, name)
            except (KeyFileError, ValueError):
                raise
            except Exception as exc:
                self.runtime_failure(plugin, f"key format {k.name} (loading)", exc)
                raise KeyFileError(
                    f"{name}: plugin {plugin} failed to read it ({describe_exception(exc)})"
                ) from None

        return KeyFormat(k.name, sniff, load)

    def _guard_rule(self, plugin: str, rule: Any) -> Any:
        switch = _Switch()
        check: Callable[[Any, TrackerResult], Verdict | None] = rule.check

        def guarded(sa: Any, result: TrackerResult) -> Verdict | None:
            if not switch.on:
                return None
            try:
                return check(sa, result)
            except Exception as exc:
                switch.on = False
                self.runtime_failure(plugin, f"rule {rule.id}", exc)
                return None

        return dataclasses.replace(rule, check=guarded)

    # ------------------------------------------------------------ tables for composition

    def dissector_tables(self) -> DissectorTables:
        """A frozen copy of what the plugins add to the IKE dissectors (guarded decoders)."""
        return DissectorTables(
            MappingProxyType(dict(self.vendor_exact)),
            tuple(self.vendor_prefixes),
            MappingProxyType(dict(self.notify_names)),
            MappingProxyType(dict(self.notify_decoders)),
            MappingProxyType(dict(self.payloads)),
        )

    def vendor_name(self, data: bytes) -> str:
        """A plugin's name for a Vendor ID value, or "" (as the dissectors will see it)."""
        return self.dissector_tables().vendor_name(data)

    # ------------------------------------------------------------ reporting

    def load_report_lines(self) -> list[str]:
        """One warning line per plugin that failed to load (printed before the run)."""
        return [f"plugin {f.name} ({f.origin}) was not loaded: {f.error}" for f in self.failed]

    def runtime_report_lines(self) -> list[str]:
        """One warning line per plugin callable that raised during the run (printed after)."""
        return [
            f"plugin {r.plugin}: {r.what} raised {r.error}; it was skipped"
            for r in self.runtime_failures
        ]


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""
