"""The tracker on real captures from ../shared/captures, exports validated, merge = whole."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from ipsec_inspect.audit.findings import Outcome
from ipsec_inspect.cli import main
from ipsec_inspect.export.timeline import build_timeline, load_schema
from ipsec_inspect.lifecycle.model import Certainty, Reason, Stage
from ipsec_inspect.pipeline.session import open_records

from .conftest import track

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / ".." / "shared" / "captures"
WIKI = CAPTURES / "wireshark-wiki" / "ikev2_esp_aes-gcm_aes-ctr_aes-cbc"


def records(rel: str, *keys: Path):
    path = CAPTURES / rel
    if not path.exists():
        pytest.skip(f"{rel} is not in ../shared/captures")
    return list(open_records(path, key_paths=[str(k) for k in keys]))


def doc_of(result, path="capture"):
    doc = build_timeline(result, {"path": path})
    jsonschema.validate(doc, load_schema(), cls=jsonschema.Draft202012Validator)
    return doc


def test_arkime_ikev2_without_keys():
    res = track(records("arkime/IKEv2.pcap"))
    doc = doc_of(res)
    assert [(s["spi_i"], s["spi_r"]) for s in doc["ike_sas"]] == [
        ("e5bc67550fd4d3ea", "b51cdb5af0efa3ac"),
        ("8e7779464044673e", "7b452c842bc4e891"),
    ]
    pairs = {
        frozenset(d["spi"] for d in c["directions"]) for c in doc["child_sas"] if c["directions"]
    }
    assert pairs == {
        frozenset(p)
        for p in [
            ("3d713155", "f918698d"),
            ("3d713156", "83d48d4c"),
            ("3d713158", "92c780d4"),
            ("3d713159", "cf0014be"),
        ]
    }
    assert sum(d["packets"] for c in doc["child_sas"] for d in c["directions"]) == 162
    first = res.ike_sas["ike-8e7779464044673e"]
    assert (
        first.termination.reason == Reason.DELETED
        and first.termination.certainty == Certainty.INFERRED
    )
    assert first.stages[Stage.CIRCUIT].start_frame == 4
    for c in res.child_sas.values():
        assert c.certainty["chosen"] == Certainty.ENCRYPTED
    old = next(c for c in res.child_sas.values() if any(d.spi == 0x3D713155 for d in c.directions))
    new = next(c for c in res.child_sas.values() if any(d.spi == 0x3D713156 for d in c.directions))
    assert (
        old.rekeyed_to == new.uid
        and new.rekeyed_from == old.uid
        and old.termination.reason == Reason.REKEYED
    )


def test_arkime_ikev1_two_quick_modes():
    res = track(records("arkime/IKEv1.pcap"))
    doc = doc_of(res)
    failed, isakmp = doc["ike_sas"]
    assert failed["spi_i"] == "e8836b356b7c1bae" and failed["termination"]["reason"] == "failed"
    assert failed["termination"]["stage"] == "negotiation"
    assert (isakmp["spi_i"], isakmp["spi_r"], isakmp["mode"]) == (
        "63c268011254b771",
        "850b3a1845f947cc",
        "main",
    )
    assert isakmp["chosen"]["encryption"] == "AES-CBC-256" and isakmp["lifetime_seconds"] == 28800
    assert len(isakmp["child_sas"]) == 2
    assert sum(d["packets"] for c in doc["child_sas"] for d in c["directions"]) == 296
    assert {f["rule"] for f in doc["findings"] if f["outcome"] == "fail"} >= {"V01"}


def test_tcpdump_ikev2four_cookie_and_children():
    res = track(records("tcpdump/ikev2four.pcap"))
    doc = doc_of(res)
    sa, later = doc["ike_sas"]
    assert sa["chosen"]["dh_group"] == "1024-bit MODP Group"
    assert [e["kind"] for e in sa["stages"]["negotiation"]["events"]].count(
        "ike.init_retry_requested"
    ) == 1
    assert sa["stages"]["circuit"]["start_frame"] == 5
    # frame 21 is on new SPIs (the rekeyed IKE SA): seen mid-life, marked as such
    assert (
        later["observed_from_start"] is False
        and later["stages"]["host_recognition"]["start_frame"] == 21
    )
    # ... and its message ID 0 right after the larger CREATE_CHILD_SA (frames 19-20) says
    # that exchange was the IKE SA rekey (PROVENANCE.md), not a seventh child SA: the six
    # child SAs of frames 7-18 move to the new IKE SA, the IKE_AUTH one stays
    assert sa["rekeyed_to"] == later["id"] and later["rekeyed_from"] == sa["id"]
    assert sa["rekey_certainty"] == later["rekey_certainty"] == "inferred"
    assert sa["termination"]["reason"] == "rekeyed"
    assert len(sa["child_sas"]) == 1 and len(later["child_sas"]) == 6
    created = sorted(c["stages"]["circuit"]["start_frame"] for c in doc["child_sas"])
    assert created == [5, 7, 8, 11, 12, 15, 16]
    fails = {f["rule"] for f in doc["findings"] if f["outcome"] == "fail"}
    assert {"K06", "K08", "K11"} <= fails


def test_wiki_three_ike_sas_with_keys():
    if not WIKI.exists():
        pytest.skip("wireshark-wiki capture not in ../shared/captures")
    res = track(
        records(
            "wireshark-wiki/ikev2_esp_aes-gcm_aes-ctr_aes-cbc/capture.pcapng",
            WIKI / "esp_sa",
            WIKI / "ikev2_decryption_table",
        )
    )
    doc = doc_of(res)
    assert len(doc["ike_sas"]) == 3 and len(doc["child_sas"]) == 3
    assert [c["chosen"]["encryption"] for c in doc["child_sas"]] == [
        "ENCR_AES_GCM_16_128",
        "ENCR_AES_CTR_128",
        "ENCR_AES_CBC_128",
    ]
    for sa in doc["ike_sas"]:
        assert (
            sa["termination"]["reason"] == "deleted" and sa["stages"]["termination"]["start_frame"]
        )
    for c in doc["child_sas"]:
        assert c["termination"]["reason"] == "deleted"
        assert [(d["packets"], d["decrypted"], d["icv_failures"]) for d in c["directions"]] == [
            (4, 4, 0),
            (4, 4, 0),
        ]
        (ts,) = c["traffic_selectors"]["initiator"]
        assert ts.startswith("192.168.225.") and ts.endswith("/32")
    by_rule = {(f["rule"], f["sa"]): f["outcome"] for f in doc["findings"]}
    assert by_rule[("S01", "child-1")] == "pass" and by_rule[("S09", "child-2")] == "pass"
    assert all(
        f["outcome"] != Outcome.NOT_OBSERVABLE.value
        for f in doc["findings"]
        if f["rule"] in ("A01", "M01")
    )


def test_cli_export_with_keys_and_events(tmp_path):
    if not WIKI.exists():
        pytest.skip("wireshark-wiki capture not in ../shared/captures")
    out, events = tmp_path / "t.json", tmp_path / "e.jsonl"
    rc = main(
        [
            "export",
            str(WIKI / "capture.pcapng"),
            "--keys",
            str(WIKI / "esp_sa"),
            "--keys",
            str(WIKI / "ikev2_decryption_table"),
            "-o",
            str(out),
            "--events",
            str(events),
            "--replay-window",
            "32",
        ]
    )
    assert rc == 0
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, load_schema())
    assert doc["capture"]["frames"] == 54 and doc["settings"]["replay_window"] == 32
    assert "encryption_key" not in out.read_text()
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    assert lines[0]["event"] == "SaOpened" and lines[-1]["event"] == "SaClosed"
    assert sum(1 for x in lines if x["event"] == "SaClosed") == 6
