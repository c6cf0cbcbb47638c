"""The JSON timeline: schema, field names, times, keys; the export command."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from ipsec_inspect.cli import main
from ipsec_inspect.export.timeline import build_timeline, load_schema, rfc3339
from ipsec_inspect.lifecycle.events import event_to_json
from ipsec_inspect.lifecycle.tracker import Tracker
from tests.lifecycle.conftest import track
from tests.lifecycle.scenarios import (
    v1_aggressive_psk,
    v1_main,
    v2_auth_failed,
    v2_full,
    v2_no_proposal,
)

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def validate(doc: dict) -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())
    jsonschema.validate(doc, load_schema(), cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(
    "scenario",
    [v2_full, lambda: v2_full(False), v2_no_proposal, v2_auth_failed, v1_main, v1_aggressive_psk],
)
def test_exports_validate(scenario):
    doc = build_timeline(track(scenario()), {"path": "x.pcap"})
    validate(doc)


def test_field_names_and_values_of_issue_5():
    doc = build_timeline(track(v2_full()), {"path": "x.pcap", "frames": 17})
    assert list(doc)[:6] == [
        "schema_version",
        "capture",
        "settings",
        "ike_sas",
        "child_sas",
        "findings",
    ] or set(["schema_version", "capture", "ike_sas", "child_sas", "findings", "errors"]) <= set(
        doc
    )
    assert doc["capture"]["path"] == "x.pcap" and doc["capture"]["frames"] == 17
    assert doc["capture"]["first_time"] == "2023-11-14T22:13:21.000000Z"
    (ike,) = doc["ike_sas"]
    assert ike["spi_i"] == "1111111111111111" and ike["spi_r"] == "2222222222222222"
    assert ike["initiator"] == {"addr": "192.0.2.1", "port": 500}
    assert ike["stages"]["termination"]["start_frame"] == 16
    assert ike["termination"] == {
        "reason": "deleted",
        "time": rfc3339(1_700_000_016.0),
        "frame": 16,
        "notify": None,
        "stage": None,
        "detail": None,
        "certainty": "observed",
        "trigger": "unknown",
        "trigger_certainty": None,
        "trigger_detail": None,
    }
    assert ike["child_sas"] == ["child-1", "child-2"]
    first, second = doc["child_sas"]
    assert (
        first["id"] == "child-1"
        and first["rekeyed_to"] == "child-2"
        and second["rekeyed_from"] == "child-1"
    )
    d = first["directions"][0]
    assert (d["spi"], d["src"], d["dst"], d["packets"]) == (
        "d0000001",
        "192.0.2.1",
        "198.51.100.2",
        3,
    )
    assert d["seq"]["first"] == 1 and d["seq"]["last"] == 3 and d["seq"]["lost"] == 0
    for sa in doc["ike_sas"] + doc["child_sas"]:
        for span in sa["stages"].values():
            for key in ("start", "end"):
                assert span[key] is None or TIME.match(span[key])


def test_keys_only_with_include_keys():
    from ipsec_inspect.crypto.keys import KeyStore, SaKey

    store = KeyStore()
    store.add_sa(
        SaKey("esp", 0xD0000001, "192.0.2.1", "198.51.100.2", None, b"\x01" * 16, None, b"")
    )
    res = track(v2_full())
    plain = json.dumps(build_timeline(res, {"path": "x"}, include_keys=False, keystore=store))
    assert "01010101" not in plain
    with_keys = build_timeline(res, {"path": "x"}, include_keys=True, keystore=store)
    validate(with_keys)
    assert with_keys["child_sas"][0]["directions"][0]["keys"]["encryption_key"] == "01" * 16


def test_events_are_json_lines():
    t = Tracker()
    objs = [event_to_json(e) for r in v2_full() for e in t.feed(r)]
    assert objs[0]["event"] == "SaOpened" and objs[0]["kind"] == "ike"
    assert any(o["event"] == "Happened" and o["kind"] == "child.installed" for o in objs)
    json.dumps(objs)


def test_cli_schema(capsys):
    assert main(["export", "--schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema == load_schema()


def test_cli_needs_capture():
    with pytest.raises(SystemExit) as exited:
        main(["export"])
    assert exited.value.code == 2


def test_summary_table_shows_stages_endings_and_failed_findings():
    from rich.console import Console

    from ipsec_inspect.export.summary_text import render_summary, stage_strip

    res = track(v2_full(decrypted=False), end=1_700_000_080.0)
    console = Console(width=200, record=True, force_terminal=False)
    render_summary(res, console)
    text = console.export_text()
    assert "ike-1111111111111111" in text and "deleted @16 (inferred)" in text
    assert "d0000001->198.51.100.2 (3)" in text and "rekeyed @9 (inferred)" in text
    assert stage_strip(res.ike_sas["ike-1111111111111111"]) == "HNCT-"
    res = track(v2_no_proposal())
    console = Console(width=200, record=True, force_terminal=False)
    render_summary(res, console)
    assert "failed (NO_PROPOSAL_CHOSEN) @2" in console.export_text()


def test_summary_lists_failed_findings_once():
    from rich.console import Console

    from ipsec_inspect.export.summary_text import render_summary

    console = Console(width=220, record=True, force_terminal=False)
    render_summary(track(v1_aggressive_psk()), console)
    text = console.export_text()
    assert text.count("Findings: ") == 1
    assert (
        "V02" in text
        and "Aggressive Mode with a pre-shared key" in text
        and "RFC 2409 §5.4" in text
    )
