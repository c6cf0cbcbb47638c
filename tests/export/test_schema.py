"""The export schema: closed, described, and every export of every sample validates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ipsec_inspect.export.timeline import build_timeline, load_schema
from ipsec_inspect.pipeline.session import Analysis

from ..sample_corpus import SAMPLES, label, sample_captures

SCHEMA = load_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _keys_for(capture: Path) -> list[str]:
    """The keys shipped beside a sample (``X.keys.toml`` or a real-peer folder's)."""
    beside = capture.with_name(capture.name.split(".")[0] + ".keys.toml")
    if beside.exists():
        return [str(beside)]
    folder_keys = capture.parent / "keys.toml"
    return [str(folder_keys)] if folder_keys.exists() else []


def _document(capture: Path, keys: list[str], include_keys: bool) -> dict[str, Any]:
    analysis = Analysis(str(capture), key_paths=keys, keep_index=False, decrypt_workers=0)
    result = analysis.run()
    info = analysis.info
    assert info is not None
    return build_timeline(
        result,
        {"path": str(capture), "frames": info.frames, "first_time": info.first_time,
         "last_time": info.last_time},
        include_keys=include_keys,
        keystore=analysis.keys,
    )  # fmt: skip


CAPTURES = sample_captures()


@pytest.mark.parametrize("capture", CAPTURES, ids=[label(c) for c in CAPTURES])
def test_every_export_of_every_sample_validates(capture: Path) -> None:
    keys = _keys_for(capture)
    variants = [([], False)] + ([(keys, False), (keys, True)] if keys else [])
    for key_paths, include in variants:
        doc = _document(capture, key_paths, include)
        errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, (
            f"{label(capture)} keys={key_paths} include_keys={include}: "
            + "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])
        )
        assert doc["settings"]["keys_included"] is include


def test_samples_are_found() -> None:
    assert len(CAPTURES) >= 10 and (SAMPLES / "ikev2-tunnel.pcapng") in CAPTURES


def _objects(node: Any, where: str = "#") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        if "properties" in node:
            found.append((where, node))
        for key, value in node.items():
            found.extend(_objects(value, f"{where}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_objects(value, f"{where}/{i}"))
    return found


def test_every_field_has_a_description_and_objects_are_closed() -> None:
    assert SCHEMA["$id"] == "urn:ipsec-inspect:schema:timeline:1.0"
    objects = _objects(SCHEMA)
    assert len(objects) > 15
    for where, obj in objects:
        assert obj.get("additionalProperties") is not True, where
        assert "additionalProperties" in obj, f"{where} is not closed"
        for name, prop in obj["properties"].items():
            assert prop.get("description"), f"{where}/properties/{name} has no description"
    bytes_text = SCHEMA["$defs"]["direction"]["properties"]["bytes"]["description"]
    assert "outer IP packet" in bytes_text
    assert (
        "seconds" in SCHEMA["properties"]["settings"]["properties"]["idle_timeout"]["description"]
    )
    assert "ESTABLISHED" in SCHEMA["$defs"]["ike_sa"]["properties"]["state"]["enum"]


def test_an_unknown_field_is_refused() -> None:
    doc = _document(SAMPLES / "ikev2-tunnel.pcapng", [], False)
    doc["ike_sas"][0]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError, match="surprise"):
        jsonschema.validate(doc, SCHEMA)


def test_the_live_document_of_sniff_validates() -> None:
    import argparse

    from ipsec_inspect.commands.sniff import _final_document
    from ipsec_inspect.sources.live import CaptureCounters

    analysis = Analysis(str(SAMPLES / "ikev2-tunnel.pcapng"), keep_index=False)
    analysis.run()
    args = argparse.Namespace(write=None, interface="veth0", backend="scapy", bpf="udp")
    counters = CaptureCounters(received=45, delivered=43, kernel_dropped=2)
    doc = _final_document(analysis, args, counters, None, "count")
    VALIDATOR.validate(doc)
    assert doc["capture"]["live"]["kernel_dropped"] == 2
