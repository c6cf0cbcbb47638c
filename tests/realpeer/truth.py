"""Write the ground truth of a run next to its capture.

Files (see samples/README.md): ``keys.toml`` and ``keys-ike-only.toml`` (our key format),
Wireshark UAT files ``esp_sa``, ``ikev2_decryption_table`` / ``ikev1_decryption_table``,
``list-sas.txt`` and ``truth.json``. Keys come from the *left* daemon's log; the tests check the
right daemon's log yields the same.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ipsec_inspect.crypto.strongswan_log import (
    CharonKeys,
    ChildSaDirection,
    ChildSaSecrets,
    IkeSaSecrets,
    parse_charon_log,
)

from . import (
    config,
    naming,
)
from .harness import RunResult

IKEV2_SECRETS = ("sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr", "skeyseed")
IKEV1_SECRETS = ("skeyid", "skeyid_d", "skeyid_a", "skeyid_e", "enc_key", "initial_iv")
HEADER = (
    "# Ground truth written by `python -m tests.realpeer` from the strongSwan charon log\n"
    "# (test keys of a throw-away lab run; format: samples/README.md).\n"
)


def _quote(value: str) -> str:
    return json.dumps(value)


def ike_toml(sa: IkeSaSecrets, only_derivation: bool = False) -> list[str]:
    """One ``[[ike]]`` table. ``only_derivation`` keeps what the child SA keys are derived
    from: IKEv2 ``sk_d`` and the DH secret (SK_e/SK_a follow from SKEYSEED); IKEv1
    ``skeyid_d`` and ``skeyid_e`` (with a PSK, SKEYID cannot be rebuilt without it, and the
    Quick Mode that carries the nonces and SPIs is encrypted with a key from SKEYID_e)."""
    lines = [
        "[[ike]]",
        f"version = {sa.version}",
        f"spi_i = {_quote(sa.spi_i.hex())}",
        f"spi_r = {_quote(sa.spi_r.hex())}",
    ]
    if sa.encryption:
        ciph = naming.cipher(sa.encryption)
        lines += [f"encryption = {_quote(ciph.iana)}", f"encryption_key_bits = {ciph.key_bits}"]
        lines.append(f"integrity = {_quote(naming.integrity(sa.integrity).iana)}")
    lines.append(f"prf = {_quote(sa.prf)}")
    if sa.dh_group:
        lines.append(f"dh_group = {naming.DH_GROUPS[sa.dh_group]}")
    names: tuple[str, ...] = IKEV2_SECRETS if sa.version == 2 else IKEV1_SECRETS
    if only_derivation:
        names = ("sk_d",) if sa.version == 2 else ("skeyid_d", "skeyid_e")
    for name in (*names, "dh_secret"):
        if name in sa.secrets:
            lines.append(f"{name} = {_quote(sa.secrets[name].hex())}")
    return lines


def esp_toml(child: ChildSaSecrets, direction: ChildSaDirection) -> list[str]:
    ciph = naming.cipher(direction.encryption)
    return [
        f"[[{child.protocol.lower()}]]",
        f"spi = {_quote(f'{direction.spi:08x}')}",
        f"src = {_quote(direction.src)}",
        f"dst = {_quote(direction.dst)}",
        f"encryption = {_quote(ciph.iana)}",
        f"encryption_key_bits = {ciph.key_bits}",
        f"encryption_key = {_quote(direction.encryption_key.hex())}",
        f"integrity = {_quote(naming.integrity(direction.integrity).iana)}",
        f"integrity_key = {_quote(direction.integrity_key.hex())}",
        f"esn = {'true' if child.esn else 'false'}",
    ]


def child_pfs_toml(child: ChildSaSecrets) -> list[str]:
    """A ``[[child_pfs]]`` table: the PFS secret of a rekey, which SK_d alone cannot give."""
    return [
        "[[child_pfs]]",
        f"spi_in = {_quote(f'{child.spi_in:08x}')}",
        f"spi_out = {_quote(f'{child.spi_out:08x}')}",
        f"dh_group = {naming.DH_GROUPS[child.dh_group]}",
        f"dh_secret = {_quote(child.dh_secret.hex())}",
    ]


def keys_toml(keys: CharonKeys, ike_only: bool = False) -> str:
    blocks: list[list[str]] = [ike_toml(sa, ike_only) for sa in keys.ike_sas]
    for child in keys.child_sas:
        if ike_only:
            if child.dh_secret:
                blocks.append(child_pfs_toml(child))
            continue
        blocks.append(esp_toml(child, child.outbound))
        blocks.append(esp_toml(child, child.inbound))
    return HEADER + "".join("\n" + "\n".join(block) + "\n" for block in blocks)


def esp_sa(keys: CharonKeys) -> str:
    """Wireshark ``esp_sa`` rows (8 columns, 4.0 format), one per SPI."""
    rows = ["# Wireshark ESP SAs (esp_sa UAT) written by tests.realpeer"]
    for child in keys.child_sas:
        for direction in (child.outbound, child.inbound):
            ciph = naming.cipher(direction.encryption)
            if ciph.esp_uat is None:
                rows.append(
                    f"# SPI 0x{direction.spi:08x}: {ciph.iana} is not in tshark 4.0's table"
                )
                continue
            integ = naming.integrity(direction.integrity)
            auth_key = f"0x{direction.integrity_key.hex()}" if direction.integrity_key else ""
            family = "IPv6" if ":" in direction.src else "IPv4"
            rows.append(
                ",".join(
                    _quote(v)
                    for v in (
                        family,
                        direction.src,
                        direction.dst,
                        f"0x{direction.spi:08x}",
                        ciph.esp_uat,
                        f"0x{direction.encryption_key.hex()}",
                        integ.esp_uat,
                        auth_key,
                    )
                )
            )
    return "\n".join(rows) + "\n"


def ikev2_table(keys: CharonKeys) -> str:
    """Wireshark ``ikev2_decryption_table`` rows: hex unquoted, algorithm names quoted."""
    rows = ["# Wireshark IKEv2 decryption table written by tests.realpeer"]
    for sa in keys.ike_sas:
        if sa.version != 2:
            continue
        ciph = naming.cipher(sa.encryption)
        if ciph.ikev2_uat is None:
            rows.append(
                f"# IKE SA {sa.spi_i.hex()}/{sa.spi_r.hex()}: {ciph.iana} is not in tshark 4.0's table"
            )
            continue
        integ = naming.integrity(sa.integrity)
        rows.append(
            ",".join(
                (
                    sa.spi_i.hex(),
                    sa.spi_r.hex(),
                    sa.secrets["sk_ei"].hex(),
                    sa.secrets["sk_er"].hex(),
                    _quote(ciph.ikev2_uat),
                    sa.secrets.get("sk_ai", b"").hex(),
                    sa.secrets.get("sk_ar", b"").hex(),
                    _quote(integ.ikev2_uat),
                )
            )
        )
    return "\n".join(rows) + "\n"


def ikev1_table(keys: CharonKeys) -> str:
    """Wireshark ``ikev1_decryption_table`` rows: initiator cookie, encryption key (hex)."""
    rows = ["# Wireshark IKEv1 decryption table written by tests.realpeer"]
    rows += [
        f"{sa.spi_i.hex()},{sa.secrets['enc_key'].hex()}" for sa in keys.ike_sas if sa.version == 1
    ]
    return "\n".join(rows) + "\n"


def _sa_summary(keys: CharonKeys) -> dict[str, Any]:
    ikes = [
        {
            "version": sa.version,
            "spi_i": sa.spi_i.hex(),
            "spi_r": sa.spi_r.hex(),
            "encryption": sa.encryption,
            "integrity": sa.integrity,
            "prf": sa.prf,
            "dh_group": sa.dh_group,
        }
        for sa in keys.ike_sas
    ]
    children = []
    for child in keys.child_sas:
        entry: dict[str, Any] = {
            "name": child.name,
            "protocol": child.protocol,
            "initiated_by": "left" if child.initiated else "right",
            "ike_spi_i": child.ike_spi_i.hex(),
            "ike_spi_r": child.ike_spi_r.hex(),
            "pfs_group": child.dh_group,
            "esn": child.esn,
        }
        for key, direction in (("left_to_right", child.outbound), ("right_to_left", child.inbound)):
            entry[key] = {
                "spi": f"{direction.spi:08x}",
                "src": direction.src,
                "dst": direction.dst,
                "encryption": direction.encryption,
                "integrity": direction.integrity,
            }
        children.append(entry)
    return {"ike_sas": ikes, "child_sas": children}


def _counters(sas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per CHILD_SA SPIs and the daemon's byte/packet counters from a parsed listing."""
    out = []
    for ike in sas:
        for child in (ike.get("child-sas") or {}).values():
            if not isinstance(child, dict):
                continue
            out.append(
                {
                    "ike_spi_i": ike.get("initiator-spi"),
                    "ike_spi_r": ike.get("responder-spi"),
                    "name": child.get("name"),
                    "state": child.get("state"),
                    "spi_in": child.get("spi-in"),
                    "spi_out": child.get("spi-out"),
                    "bytes_in": int(child.get("bytes-in", 0)),
                    "packets_in": int(child.get("packets-in", 0)),
                    "bytes_out": int(child.get("bytes-out", 0)),
                    "packets_out": int(child.get("packets-out", 0)),
                }
            )
    return out


def as_captured(keys: CharonKeys) -> None:
    """Behind the NAT the left's log names the NAT's inside as its peer and itself by its
    private address; the capture (on the gateway's side) shows the gateway and the NAT's
    outside. Key files and truth name the addresses the capture shows."""
    wire = {config.NAT_PRIVATE: config.RIGHT.outer, config.NAT_CLIENT: config.NAT_PUBLIC}
    for child in keys.child_sas:
        for d in (child.inbound, child.outbound):
            d.src, d.dst = wire.get(d.src, d.src), wire.get(d.dst, d.dst)


def write_truth(result: RunResult, out: Path, version: str) -> CharonKeys:
    """Write every ground-truth file for ``result`` into ``out``; return the keys used."""
    keys = parse_charon_log(result.logs["left"].read_text(errors="replace"))
    scenario = result.scenario
    if scenario.nat:
        as_captured(keys)
    (out / "keys.toml").write_text(keys_toml(keys))
    (out / "keys-ike-only.toml").write_text(keys_toml(keys, ike_only=True))
    (out / "esp_sa").write_text(esp_sa(keys))
    if scenario.ike_version == 2:
        (out / "ikev2_decryption_table").write_text(ikev2_table(keys))
    else:
        (out / "ikev1_decryption_table").write_text(ikev1_table(keys))
    (out / "list-sas.txt").write_text(
        "".join(
            f"# {side}: swanctl --list-sas before termination\n{text}\n"
            for side, text in result.list_sas_text.items()
        )
    )
    truth = {
        "scenario": scenario.name,
        "description": scenario.description,
        "strongswan": version,
        "ike_version": scenario.ike_version,
        "established": scenario.expect_established,
        "expected_notify": scenario.expect_notify,
        "expected_children": scenario.expect_children,
        "auth": scenario.auth,
        "virtual_ip": "203.0.113.1" if scenario.pool else None,
        "left": {
            "outer": config.NAT_CLIENT if scenario.nat else "192.0.2.1",
            "inner": "203.0.113.1",
            "role": "IKE initiator",
        },
        "right": {"outer": "192.0.2.2", "inner": "203.0.113.2", "role": "IKE responder"},
        "nat": {"private": config.NAT_PRIVATE, "public": config.NAT_PUBLIC}
        if scenario.nat
        else None,
        "events": [asdict(event) for event in result.events],
        **_sa_summary(keys),
        "counters_before_termination": {
            side: _counters(sas) for side, sas in result.list_sas.items()
        },
        "snapshots": [
            {"time": snap["time"], "counters": {s: _counters(v) for s, v in snap["sas"].items()}}
            for snap in result.snapshots
        ],
        "certificates": sorted(result.certificates),
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return keys
