"""Issue 4 acceptance on the real strongSwan samples: every IKE and ESP packet decrypts
with the Wireshark UAT files, with the charon logs, and with only the IKE keys (our TOML:
``sk_d`` plus the DH secrets where PFS was used), the rest being derived."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipsec_inspect.core.records import EspPacket, IkeMessage
from ipsec_inspect.pipeline.session import open_records

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(
    p.parent
    for p in (ROOT / "samples" / "realpeer").glob("*/truth.json")
    if json.loads(p.read_text())["established"]
)
KEY_SETS = {
    "toml": ["keys.toml"],
    "wireshark": ["esp_sa", "ikev2_decryption_table", "ikev1_decryption_table"],
    "charon-log": ["left.log"],
    "charon-log-right": ["right.log"],
    "ike-only": ["keys-ike-only.toml"],
}


@pytest.mark.parametrize("key_set", sorted(KEY_SETS))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_every_packet_decrypts(scenario: Path, key_set: str) -> None:
    paths = [str(scenario / n) for n in KEY_SETS[key_set] if (scenario / n).exists()]
    if key_set == "wireshark" and "chacha20" in scenario.name:
        pytest.skip("Wireshark has no ChaCha20-Poly1305 names for its tables: nothing to load")
    stream = open_records(scenario / "capture.pcap", key_paths=paths)
    ike = esp = 0
    for r in stream:
        if (isinstance(r, IkeMessage) and r.encrypted_body is not None) or (
            isinstance(r, IkeMessage) and r.version == 1 and r.header.v1_encrypted
        ):
            assert r.decryption_status in ("ok", "fragment"), (r.meta.frame, r.decryption_status)
            ike += 1
        elif isinstance(r, EspPacket):
            assert r.decryption is not None and r.decryption.status == "ok", (
                r.meta.frame,
                r.decryption and r.decryption.status,
            )
            esp += 1
    truth = json.loads((scenario / "truth.json").read_text())
    assert ike >= 2
    assert esp >= 4 if truth.get("expected_children", 1) else esp == 0
    assert not [p for p in stream.problems() if "ICV" in p or "failed" in p]


def _sample(name: str) -> Path:
    directory = ROOT / "samples" / "realpeer" / name
    if not (directory / "capture.pcap").exists():
        pytest.skip(f"samples/realpeer/{name} not generated")
    return directory


def test_eap_child_keys_pair_the_first_auth_request_with_the_last_response() -> None:
    """EAP-MD5 takes four IKE_AUTH round trips: the child's SA is offered in the first request
    and answered in the last response; its keys still derive from SK_d alone."""
    d = _sample("ikev2-eap-md5-vip")
    stream = open_records(d / "capture.pcap", key_paths=[str(d / "keys-ike-only.toml")])
    auth = [
        r
        for r in stream
        if isinstance(r, IkeMessage) and r.version == 2 and r.header.exchange == 35
    ]
    esp = [r for r in open_records(d / "capture.pcap", key_paths=[str(d / "keys-ike-only.toml")])
           if isinstance(r, EspPacket)]  # fmt: skip
    assert [m.header.message_id for m in auth] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert esp and all(r.decryption is not None and r.decryption.status == "ok" for r in esp)
    origin = esp[0].decryption.key_source if esp[0].decryption else ""
    assert f"IKE_AUTH frames {auth[0].meta.frame}/{auth[-1].meta.frame}" in origin


def test_underivable_child_keys_are_explained_once_naming_the_sa(tmp_path: Path) -> None:
    """With SK_e/SK_a but no SK_d (Wireshark's IKEv2 table), the child of IKE_AUTH cannot be
    derived: one message names the IKE SA, the child SPIs and the reason."""
    d = _sample("ikev2-eap-md5-vip")
    stream = open_records(d / "capture.pcap", key_paths=[str(d / "ikev2_decryption_table")])
    records = list(stream)
    assert any(isinstance(r, IkeMessage) and r.decryption_status == "ok" for r in records)
    why = [p for p in stream.problems() if "SK_d" in p]
    truth = json.loads((d / "truth.json").read_text())
    child = truth["child_sas"][0]
    assert len(why) == 1, stream.problems()
    assert truth["ike_sas"][0]["spi_i"] in why[0] and "no SK_d known" in why[0]
    assert child["left_to_right"]["spi"] in why[0] and child["right_to_left"]["spi"] in why[0]
