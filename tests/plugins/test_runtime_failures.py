"""Plugin code that raises at run time is reported and skipped; the run completes.

Also shows the dissector tables a vendor plugin adds to (a private notify with a data decoder,
a private payload) and a plugin key-file format, on hand-built and sample data.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from ipsec_inspect.audit.findings import Severity, fail
from ipsec_inspect.audit.rules import Rule
from ipsec_inspect.cli import main
from ipsec_inspect.core.buffer import Reader
from ipsec_inspect.core.extensions import Extensions
from ipsec_inspect.core.records import Field, IkeMessage
from ipsec_inspect.crypto.keyfiles.detect import load_key_path
from ipsec_inspect.crypto.keyfiles.toml_keys import load_toml
from ipsec_inspect.ipsec.ikev2 import parse_payload_chain
from ipsec_inspect.lifecycle.model import Stage
from ipsec_inspect.pipeline.session import open_records
from ipsec_inspect.plugins.api import PluginContext
from ipsec_inspect.plugins.registry import PluginRegistry

from .conftest import SAMPLES, compose


def _decode_counter(r: Reader, out: list[Field]) -> None:
    at = r.pos
    out.append(Field("acme.counter", "Counter", r.u32("counter"), at, 4))


def _explode(r: Reader, out: list[Field]) -> None:
    raise KeyError("bug in the plugin")


def _registry(notify_decoder: object, payload_decoder: object) -> PluginRegistry:
    ctx = PluginContext("acme")
    ctx.add_notify(2, 40961, "ACME_COUNTER", notify_decoder)  # type: ignore[arg-type]
    ctx.add_payload(2, 200, "ACME", "ACME private payload", payload_decoder)  # type: ignore[arg-type]
    registry = PluginRegistry()
    registry.add(ctx, "test", "test", object())
    return registry


def _chain() -> bytes:
    notify = struct.pack("!BBHBBH", 200, 0, 12, 0, 0, 40961) + struct.pack("!I", 7)
    private = struct.pack("!BBH", 0, 0, 8) + b"\xde\xad\xbe\xef"
    return notify + private


def test_private_notify_and_payload_decoders() -> None:
    data = _chain()
    plain, _ = parse_payload_chain(data, 0, len(data), 41)
    assert plain[0].name == "N(40961)" and plain[1].name == "200"
    tables = _registry(_decode_counter, _decode_counter).dissector_tables()
    payloads, errors = parse_payload_chain(data, 0, len(data), 41, tables)
    assert errors == []
    assert payloads[0].name == "N(ACME_COUNTER)"
    assert payloads[0].body.name == "ACME_COUNTER"  # type: ignore[union-attr]
    counter = payloads[0].fields[-1].children[0]
    assert (counter.key, counter.value, counter.offset) == ("acme.counter", 7, 8)
    assert payloads[1].name == "ACME"
    assert payloads[1].fields[-1].children[0].value == 0xDEADBEEF


def test_a_raising_decoder_is_reported_switched_off_and_parsing_goes_on() -> None:
    data = _chain()
    registry = _registry(_explode, _decode_counter)
    tables = registry.dissector_tables()
    payloads, errors = parse_payload_chain(data, 0, len(data), 41, tables)
    again, _ = parse_payload_chain(data, 0, len(data), 41, tables)
    assert len(payloads) == 2 and payloads[1].fields[-1].children[0].value == 0xDEADBEEF
    assert "plugin acme decoder for IKEv2 notify 40961 failed" in (payloads[0].error or "")
    assert [e.offset for e in errors] == [0]
    assert again[0].error is None  # switched off: the second message is just not decoded
    (failure,) = registry.runtime_failures
    assert (failure.plugin, failure.error) == ("acme", "KeyError: 'bug in the plugin'")


def test_truncated_private_body_is_a_parse_problem_not_a_plugin_failure() -> None:
    data = struct.pack("!BBHBBH", 0, 0, 10, 0, 0, 40961) + b"\x00\x01"  # 2 of 4 bytes
    registry = _registry(_decode_counter, _decode_counter)
    payloads, _ = parse_payload_chain(data, 0, len(data), 41, registry.dissector_tables())
    assert "ACME_COUNTER data at offset 8" in (payloads[0].error or "")
    assert registry.runtime_failures == []


RAISING_RULE = """
from ipsec_inspect.audit.findings import Severity
from ipsec_inspect.lifecycle.model import Stage
from ipsec_inspect.audit.rules import Rule

def _check(sa, result):
    raise ZeroDivisionError("division by zero in a site rule")

def register(ctx):
    ctx.add_rule(Rule("SITE-1", "site rule", Severity.LOW, "site policy", "ike",
                      Stage.NEGOTIATION, _check))
"""


def test_a_raising_rule_is_reported_and_the_export_completes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "site_rule.py").write_text(RAISING_RULE)
    code = main(["--plugin-dir", str(tmp_path), "export", str(SAMPLES / "ikev1-main-quick.pcap")])
    out = capsys.readouterr()
    assert code == 0
    doc = json.loads(out.out)
    rules = {f["rule"] for f in doc["findings"]}
    assert "V01" in rules and "SITE-1" not in rules
    assert (
        "plugin site_rule: rule SITE-1 raised ZeroDivisionError: division by zero in a site rule;"
        " it was skipped" in out.err
    )


RAISING_EXPORTER = """
def _write(data, out):
    raise OSError("disk on fire")

def register(ctx):
    ctx.add_exporter("broken", "always fails", _write)
"""


def test_a_raising_exporter_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "broken_exporter.py").write_text(RAISING_EXPORTER)
    argv = ["--plugin-dir", str(tmp_path), "export", "--format", "broken", str(SAMPLES / "ah.pcap")]
    assert main(argv) == 1
    assert "exporter broken failed (OSError: disk on fire)" in capsys.readouterr().err


def test_a_rule_row_from_a_plugin_fails_like_a_builtin() -> None:
    def check(sa: object, _r: object) -> object:
        return fail("site forbids IKEv1", [1])

    ctx = PluginContext("site")
    ctx.add_rule(
        Rule("SITE-2", "no IKEv1", Severity.MEDIUM, "site", "ike", Stage.NEGOTIATION, check)
    )  # type: ignore[arg-type]
    registry = PluginRegistry()
    registry.add(ctx, "test", "test", object())
    from ipsec_inspect.pipeline.session import Analysis

    result = Analysis(str(SAMPLES / "ikev1-main-quick.pcap"), extensions=compose(registry)).run()
    site = [f for f in result.findings if f.rule == "SITE-2"]
    assert site and all(str(f.outcome) == "fail" and f.frames == [1] for f in site)


HEADER = "SITE-KEYS v1\n"  # then the TOML key file, hex-encoded (a made-up site format)


def _site_registry() -> PluginRegistry:
    ctx = PluginContext("site_keys")
    ctx.add_key_format(
        "site-keys",
        lambda text, _name: text.startswith(HEADER),
        lambda text, name: load_toml(bytes.fromhex(text[len(HEADER) :].strip()).decode(), name),
    )
    registry = PluginRegistry()
    registry.add(ctx, "test", "test", object())
    return registry


def _decrypted(keys: Path, ext: Extensions | None = None) -> int:
    capture = str(SAMPLES / "ikev2-tunnel.pcapng")
    with open_records(capture, key_paths=[str(keys)], extensions=ext) as stream:
        return sum(1 for r in stream if isinstance(r, IkeMessage) and r.decryption_status == "ok")


def test_a_plugin_key_format(tmp_path: Path) -> None:
    site = tmp_path / "tunnel.site"
    site.write_text(HEADER + (SAMPLES / "ikev2-tunnel.keys.toml").read_bytes().hex() + "\n")
    baseline = _decrypted(SAMPLES / "ikev2-tunnel.keys.toml")
    assert baseline > 0
    ext = compose(_site_registry())
    toml_keys = load_key_path(SAMPLES / "ikev2-tunnel.keys.toml")
    assert len(load_key_path(site, ext.key_formats)) == len(toml_keys)
    assert _decrypted(site, ext) == baseline
    with pytest.raises(ValueError, match="not a key file"):
        load_key_path(site)
