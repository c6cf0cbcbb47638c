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
    assert ike >= 2 and esp >= 4
    assert not [p for p in stream.problems() if "ICV" in p or "failed" in p]
