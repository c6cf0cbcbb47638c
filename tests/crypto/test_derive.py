"""Key derivation against ground truth: real strongSwan peers logged every key.

Each ``samples/realpeer/<scenario>/keys.toml`` holds what charon logged (IKE SA secrets
and every ESP key); ``keys-ike-only.toml`` keeps only ``sk_d`` / ``skeyid_d`` and the DH
secret. From the latter plus the capture, the derivation must reproduce the former.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from ipsec_inspect.core.records import EspPacket, IkeMessage, Record
from ipsec_inspect.crypto.decryptor import Decryptor
from ipsec_inspect.crypto.keyfiles.detect import load_key_path
from ipsec_inspect.crypto.keys import IkeKey, KeySource, KeyStore
from ipsec_inspect.pipeline.records import read_records

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "realpeer"


def _scenario(name: str) -> Path:
    folder = SAMPLES / name
    if not (folder / "capture.pcap").exists():
        pytest.skip(f"real-peer sample {name} is not committed")
    return folder


def _truth(folder: Path) -> dict[str, Any]:
    with open(folder / "keys.toml", "rb") as fh:
        return tomllib.load(fh)


def _run(folder: Path, store: KeyStore) -> tuple[list[Record], Decryptor]:
    dec = Decryptor(store)
    return [dec.process(r) for r in read_records(folder / "capture.pcap")], dec


def _derived_esp(store: KeyStore) -> dict[int, tuple[bytes, bytes]]:
    return {
        k.spi: (k.encryption_key, k.integrity_key)
        for k in store.sa_keys()
        if k.source is KeySource.DERIVED
    }


IKEV2_SCENARIOS = [
    "ikev2-cbc-sha256-modp2048",
    "ikev2-chacha20",
    "ikev2-psk-gcm",
    "ikev2-cert-fragmentation",
]


@pytest.mark.parametrize("name", IKEV2_SCENARIOS)
def test_ikev2_everything_decrypts_from_sk_d_and_dh_secret(name: str) -> None:
    folder = _scenario(name)
    store = load_key_path(folder / "keys-ike-only.toml")
    assert not store.problems
    records, dec = _run(folder, store)
    ike = [r for r in records if isinstance(r, IkeMessage) and r.encrypted_body is not None]
    esp = [r for r in records if isinstance(r, EspPacket)]
    assert ike and esp
    assert {m.decryption_status for m in ike} <= {"ok", "fragment"}
    assert all(p.decryption is not None and p.decryption.status == "ok" for p in esp)
    assert sum(c.icv_failed + c.no_key + c.errors for c in dec.counters()) == 0

    truth = _truth(folder)
    # IKE SA keys: SKEYSEED from dh_secret + nonces + SPIs, or §2.18 for a rekeyed SA.
    derived_ike = {
        (k.spi_i.hex(), k.spi_r.hex()): k for k in store.ike_keys() if k.source is KeySource.DERIVED
    }
    for t in truth["ike"]:
        k = derived_ike[(t["spi_i"], t["spi_r"])]
        for name_ in ("sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr"):
            if name_ in t:
                assert k.secrets[name_].hex() == t[name_], name_
    # Child SA keys from SK_d (RFC 7296 §2.17) equal what charon installed.
    got = _derived_esp(store)
    want = {
        int(t["spi"], 16): (
            bytes.fromhex(t["encryption_key"]),
            bytes.fromhex(t.get("integrity_key", "")),
        )
        for t in truth["esp"]
    }
    assert got == want


def test_rekeyed_ike_sa_origin_says_what_it_came_from() -> None:
    folder = _scenario("ikev2-psk-gcm")
    first = _truth(folder)["ike"][0]
    old_sa = f"{first['spi_i']}/{first['spi_r']}"
    store = load_key_path(folder / "keys-ike-only.toml")
    _run(folder, store)
    derived = [k for k in store.ike_keys() if k.source is KeySource.DERIVED]
    assert len(derived) == 2
    assert derived[0].origin.startswith(
        "SKEYSEED from dh_secret and the nonces of IKE_SA_INIT frames"
    )
    assert derived[1].origin.startswith(f"rekey of IKE SA {old_sa} (SK_d + dh_secret)")
    esp_origins = {k.origin.split(";")[0] for k in store.sa_keys()}
    assert any(o.startswith(f"SK_d of IKE SA {old_sa}, IKE_AUTH frames") for o in esp_origins)


def test_pfs_child_without_its_dh_secret_is_reported_not_guessed() -> None:
    folder = _scenario("ikev2-x25519-pfs")
    store = load_key_path(folder / "keys-ike-only.toml")
    assert len(store.child_dh) == 1  # the [[child_pfs]] table of the rekey
    store.child_dh.clear()  # as if the user had only the IKE SA's keys
    records, dec = _run(folder, store)
    # keys.toml lists the IKE_AUTH child first (both directions), then the PFS rekey.
    esp_truth = _truth(folder)["esp"]
    assert len(esp_truth) == 4
    first, rekeyed = esp_truth[:2], esp_truth[2:]
    # The IKE_AUTH child (no PFS) is derived exactly; the rekeyed child used PFS and
    # without that exchange's DH secret it cannot be derived: said, not guessed.
    assert _derived_esp(store) == {
        int(t["spi"], 16): (bytes.fromhex(t["encryption_key"]), bytes.fromhex(t["integrity_key"]))
        for t in first
    }
    assert any(
        "uses PFS and the exchange's DH shared secret is not known" in p for p in dec.problems()
    )
    undecrypted = {r.spi for r in records if isinstance(r, EspPacket) and r.decryption is None}
    assert undecrypted == {int(t["spi"], 16) for t in rekeyed}


def test_pfs_child_keys_come_from_its_dh_secret() -> None:
    folder = _scenario("ikev2-x25519-pfs")
    store = load_key_path(folder / "keys-ike-only.toml")
    records, _dec = _run(folder, store)
    assert _derived_esp(store) == {
        int(t["spi"], 16): (bytes.fromhex(t["encryption_key"]), bytes.fromhex(t["integrity_key"]))
        for t in _truth(folder)["esp"]
    }
    assert all(
        r.decryption and r.decryption.status == "ok" for r in records if isinstance(r, EspPacket)
    )


@pytest.mark.parametrize("name", ["ikev1-main-psk", "ikev1-aggressive-psk"])
def test_ikev1_quick_mode_keymat_from_skeyid_d(name: str) -> None:
    folder = _scenario(name)
    full = load_key_path(folder / "keys.toml")
    store = KeyStore()
    for k in full.ike_keys():
        # Only what the quick-mode derivation and the phase-1 cipher need.
        secrets = {n: v for n, v in k.secrets.items() if n in ("skeyid_d", "skeyid_e")}
        store.add_ike(IkeKey(1, k.spi_i, k.spi_r, k.encryption, k.encryption_key_bits,
                             k.integrity, k.prf, secrets))  # fmt: skip
    records, dec = _run(folder, store)
    ike = [r for r in records if isinstance(r, IkeMessage) and r.header.v1_encrypted]
    esp = [r for r in records if isinstance(r, EspPacket)]
    assert ike and all(m.decryption_status == "ok" for m in ike)
    assert esp and all(p.decryption is not None and p.decryption.status == "ok" for p in esp)
    want = {
        int(t["spi"], 16): (bytes.fromhex(t["encryption_key"]), bytes.fromhex(t["integrity_key"]))
        for t in _truth(folder)["esp"]
    }
    assert _derived_esp(store) == want
    assert dec.problems() == []


def test_ikev1_skeyid_d_alone_cannot_decrypt_phase_one_and_says_so() -> None:
    folder = _scenario("ikev1-main-psk")
    full = load_key_path(folder / "keys-ike-only.toml")
    store = KeyStore()
    for k in full.ike_keys():
        secrets = {n: v for n, v in k.secrets.items() if n in ("skeyid_d", "dh_secret")}
        store.add_ike(IkeKey(1, k.spi_i, k.spi_r, k.encryption, k.encryption_key_bits,
                             k.integrity, k.prf, secrets))  # fmt: skip
    records, dec = _run(folder, store)
    statuses = {
        r.decryption_status for r in records if isinstance(r, IkeMessage) and r.header.v1_encrypted
    }
    # PSK authentication: SKEYID needs the PSK, so SKEYID_e (the phase-1 key) cannot
    # come from SKEYID_d and the DH secret.
    assert statuses == {"error: no encryption key (enc_key, skeyid_e or skeyid) for this ISAKMP SA"}
    assert dec.counters()[0].errors == len(
        [r for r in records if isinstance(r, IkeMessage) and r.header.v1_encrypted]
    )
