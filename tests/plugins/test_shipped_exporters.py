"""The Zeek and Suricata exporters on shared captures and samples, loaded both ways."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from ipsec_inspect.cli import build_parser
from ipsec_inspect.commands import export
from ipsec_inspect.core.extensions import Extensions

from .conftest import SAMPLES, shared

# Columns compared with Zeek's own baseline: all but ts, uid, vendor_ids (names differ by
# table) and hash (Zeek's serialisation of the vectors is its own).
SKIP = {"ts", "uid", "vendor_ids", "hash"}


def _export(ext: Extensions, fmt: str, capture: Path, tmp_path: Path, *keys: Path) -> str:
    out = tmp_path / "out.txt"
    argv = ["export", "--format", fmt, str(capture), "-o", str(out)]
    for k in keys:
        argv += ["--keys", str(k)]
    args = build_parser().parse_args(argv)
    args.extensions = ext  # as the CLI composes them at start-up
    assert export.run(args) == 0
    return out.read_text()


def _zeek_rows(text: str) -> tuple[list[str], list[list[str]]]:
    fields = next(line for line in text.splitlines() if line.startswith("#fields")).split("\t")[1:]
    rows = [line.split("\t") for line in text.splitlines() if not line.startswith("#")]
    return fields, rows


def _comparable(fields: list[str], rows: list[list[str]]) -> Counter[tuple[str, ...]]:
    keep = [i for i, f in enumerate(fields) if f not in SKIP]
    return Counter(tuple(r[i] for i in keep) for r in rows)


@pytest.mark.parametrize(
    ("capture", "baseline"),
    [
        ("suricata-verify/ikev1-rules/ikev1-isakmp-main-mode.pcap", "analyzer.ikev1-c"),
        ("zeek-spicy-ipsec/traces/ipsec_client.pcap", "analyzer.basic"),
        ("zeek-spicy-ipsec/traces/ipsec-ikev1-isakmp-aggressive-mode.pcap", "analyzer.ikev1-b"),
    ],
)
def test_zeek_log_matches_zeek_baseline(
    shipped: Extensions, capture: str, baseline: str, tmp_path: Path
) -> None:
    ours = _export(shipped, "zeek-ipsec-log", shared(capture), tmp_path)
    theirs = shared(f"zeek-spicy-ipsec/baseline/{baseline}/ipsec.log").read_text()
    our_fields, our_rows = _zeek_rows(ours)
    their_fields, their_rows = _zeek_rows(theirs)
    assert our_fields == their_fields
    assert ours.startswith("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n")
    assert _comparable(our_fields, our_rows) == _comparable(their_fields, their_rows)


def test_zeek_log_of_a_decrypted_sample(shipped: Extensions, tmp_path: Path) -> None:
    text = _export(
        shipped,
        "zeek-ipsec-log",
        SAMPLES / "ikev2-tunnel.pcapng",
        tmp_path,
        SAMPLES / "ikev2-tunnel.keys.toml",
    )
    fields, rows = _zeek_rows(text)
    col = {f: i for i, f in enumerate(fields)}
    first = rows[0]
    assert first[col["exchange_type"]] == "34" and first[col["is_orig"]] == "T"
    assert first[col["flag_i"]] == "T" and first[col["message_id"]] == "0"
    auth = [r for r in rows if r[col["exchange_type"]] == "35"]
    assert auth, "IKE_AUTH lines"
    # With keys, the decrypted IKE_AUTH payloads are logged (Zeek would show (empty)).
    assert any(r[col["proposals"]] != "(empty)" for r in auth)
    assert text.rstrip().splitlines()[-1].startswith("#close\t")


def test_suricata_eve_ikev1_matches_suricata_verify(shipped: Extensions, tmp_path: Path) -> None:
    capture = shared("suricata-verify/ikev1-rules/ikev1-isakmp-main-mode.pcap")
    records = [
        json.loads(line)
        for line in _export(shipped, "suricata-eve-ike", capture, tmp_path).splitlines()
    ]
    assert all(r["event_type"] == "ike" for r in records)
    ev = next(r for r in records if r["pcap_cnt"] == 4)
    ike = ev["ike"]
    # The expectations of suricata-verify tests/ikev1/test.yaml (Suricata >= 9).
    assert ike["_v"] == 2
    assert ike["init_spi"] == "e47a591fd057587f"
    assert ike["resp_spi"] == "a00b8ef0902bb8ec"
    assert ike["exchange_type"] == 2
    assert ike["ikev1"]["client"]["nonce_payload"] == "89d7c8fbf94b515b521d5d9589c2602021e1a709"
    assert ike["ikev1"]["server"]["nonce_payload"] == "15b688421ed5c3dd92d3b86e47a76f0d39cc09e0"
    attrs = ike["attributes"]
    assert attrs[0]["value"] == "EncAesCbc"
    assert attrs[2]["value"] == "HashSha"
    assert attrs[3]["value"] == "GroupAlternate1024BitModpGroup"
    assert attrs[4]["value"] == "AuthPreSharedKey"
    assert attrs[5] == {"key": "sa_life_type", "value": "LifeTypeSeconds", "raw": 1}
    assert attrs[6] == {"key": "sa_life_duration", "value": "Unknown", "raw": 86400}
    assert ev["src_ip"] == "192.168.12.2" and ev["dest_port"] == 500 and ev["proto"] == "UDP"


def test_suricata_eve_ikev2_matches_suricata_verify(shipped: Extensions, tmp_path: Path) -> None:
    capture = shared("suricata-verify/ikev2-weak-dh/IKEv2_SA_INIT_2-8-weak.pcap")
    (ev,) = [
        json.loads(line)
        for line in _export(shipped, "suricata-eve-ike", capture, tmp_path).splitlines()
    ]
    ike = ev["ike"]
    assert ike["version_major"] == 2 and ike["exchange_type"] == 34 and ike["message_id"] == 0
    assert ike["init_spi"] == "61d3693ce12af528" and ike["resp_spi"] == "0000000000000000"
    assert ike["role"] == "initiator" and ike["ikev2"]["errors"] == 0
    assert ike["payload"] == ["Nonce", "KeyExchange", "SecurityAssociation", "NoNextPayload"]


def test_suricata_eve_responder_algorithms(shipped: Extensions, tmp_path: Path) -> None:
    capture = shared("ndpi/ah.pcapng")
    records = [
        json.loads(line)
        for line in _export(shipped, "suricata-eve-ike", capture, tmp_path).splitlines()
    ]
    resp = next(r["ike"] for r in records if r["ike"].get("role") == "responder")
    assert resp["alg_prf"] == "PRF_HMAC_SHA2_384"
    assert resp["alg_auth"] == "AUTH_HMAC_SHA2_384_192"
    assert resp["alg_dh"] == "384-bit random ECP group"
    assert resp["alg_enc"] == "ENCR_AES_CBC"
