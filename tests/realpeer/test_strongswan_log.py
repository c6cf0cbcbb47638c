"""The charon-log key parser against excerpts of real strongSwan 5.9.8 logs.

The excerpts in ``data/`` are lines cut from real runs of the harness (ikev2-psk-gcm responder,
ikev1-main-psk initiator); every expected value below was read off the hex dumps by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipsec_inspect.crypto.strongswan_log import Proposal, parse_charon_log

DATA = Path(__file__).resolve().parent / "data"


def _ikev2():
    return parse_charon_log((DATA / "ikev2-gcm-responder.log").read_text())


def _ikev1():
    return parse_charon_log((DATA / "ikev1-main-initiator.log").read_text())


def test_ikev2_ike_sa_keys_tied_to_spis_and_proposal():
    keys = _ikev2()
    assert keys.warnings == []
    assert [(sa.spi_i.hex(), sa.spi_r.hex()) for sa in keys.ike_sas] == [
        ("92a0efc9c2ad01c8", "2ca6384ff40deae9"),
        ("0bff969810a92bbb", "77a35c5ebb0ec1d8"),  # the IKE_SA rekey, logged under <rp|2>
    ]
    first = keys.ike_sas[0]
    assert (first.version, first.encryption, first.integrity, first.prf, first.dh_group) == (
        2,
        "AES_GCM_16_256",
        "",
        "PRF_HMAC_SHA2_256",
        "CURVE_25519",
    )
    # AEAD: no Sk_a lines, Sk_e carries the 4-byte salt (32 + 4 bytes)
    assert sorted(first.secrets) == [
        "dh_secret",
        "sk_d",
        "sk_ei",
        "sk_er",
        "sk_pi",
        "sk_pr",
        "skeyseed",
    ]
    assert first.secrets["sk_ei"].hex() == (
        "7fd7fa6015d1a625120185a364efb9a018e665c6d76bff9ecc7d3e871b64b819e1f03cbe"
    )
    assert first.secrets["sk_er"][-4:].hex() == "de16bb4f"
    assert first.secrets["sk_d"].hex() == (
        "c92d62dffdbe25ee2b50086544a2284ec2542a8a8afbd7c41f892ec9d56ed80f"
    )
    assert first.secrets["dh_secret"][:4].hex() == "e4c0e2a6"
    rekeyed = keys.ike_sas[1]
    assert rekeyed.secrets["sk_d"].hex().startswith("d9c156a50d6d5db0")
    assert rekeyed.prf == "PRF_HMAC_SHA2_256"  # proposal selected under the old SA's prefix


def test_ikev2_child_sa_from_ike_auth_as_responder():
    child = _ikev2().child_sas[0]
    assert (child.name, child.protocol, child.initiated) == ("net{1}", "ESP", False)
    assert (child.spi_in, child.spi_out) == (0xFF563A37, 0x849CDFA6)
    # this peer answered IKE_AUTH: the initiator key protects its *inbound* SPI
    assert child.inbound.encryption_key.hex() == "6e5f5f9031c8fdd47d526e69f00014e787083d14"
    assert child.outbound.encryption_key.hex() == "7bfad236df6100f08b4a291c976aee750e9e996c"
    assert (child.inbound.src, child.inbound.dst) == ("192.0.2.1", "192.0.2.2")
    assert (child.outbound.src, child.outbound.dst) == ("192.0.2.2", "192.0.2.1")
    assert child.inbound.encryption == "AES_GCM_16_128"
    assert (child.inbound.integrity, child.inbound.integrity_key) == ("", b"")
    assert (child.ike_spi_i.hex(), child.ike_spi_r.hex()) == (
        "92a0efc9c2ad01c8",
        "2ca6384ff40deae9",
    )


def test_responder_initiated_child_rekey_swaps_roles():
    """The IKE responder initiated this CREATE_CHILD_SA: its outbound SPI gets the initiator key."""
    child = _ikev2().child_sas[1]
    assert (child.name, child.initiated) == ("net{2}", True)
    assert (child.spi_in, child.spi_out) == (0xB4AAC08B, 0xFF1255E6)
    assert child.outbound.encryption_key.hex() == "62fe342953339c8fa2f3ef5d944e0470fba0e7d7"
    assert child.inbound.encryption_key.hex() == "3340ad0185fbb62c9a7482160f39bec7a0bfdd2f"
    assert child.dh_secret == b"" and child.dh_group == ""


def test_ikev1_isakmp_sa_and_quick_mode_keys():
    keys = _ikev1()
    assert keys.warnings == []
    [sa] = keys.ike_sas
    assert (sa.version, sa.spi_i.hex(), sa.spi_r.hex()) == (
        1,
        "8a911aeba7392cfe",
        "874d073543d47643",
    )
    assert (sa.encryption, sa.integrity, sa.prf, sa.dh_group) == (
        "AES_CBC_128",
        "HMAC_SHA1_96",
        "PRF_HMAC_SHA1",
        "MODP_2048",
    )
    assert sa.secrets["enc_key"].hex() == "6259803ca0ff94c03a00720acc282bb7"
    assert sa.secrets["initial_iv"].hex() == "a096d232621ef84cebc1536235001070"
    assert sa.secrets["skeyid_d"].hex() == "559d1b70aca4f5346176598a770ed8b5bba75c20"
    assert len(sa.secrets["dh_secret"]) == 256  # MODP-2048
    first, rekey = keys.child_sas
    assert first.initiated and rekey.initiated  # parsed QUICK_MODE responses
    assert (first.spi_in, first.spi_out) == (0xD2BDB436, 0x302A5F79)
    assert first.outbound.encryption_key.hex() == "8007cc7316096eb0bf19fcde36bca764"
    assert first.inbound.integrity_key.hex() == "65a9ef3121c251c35fbbbcc2fbc659db59b50069"
    assert first.outbound.integrity == "HMAC_SHA1_96"
    assert (rekey.spi_in, rekey.spi_out) == (0xCFD68EA0, 0x60866BB6)
    assert rekey.ike_spi_i.hex() == "8a911aeba7392cfe"


def test_truncated_dump_and_noise_do_not_raise():
    text = (
        "2026-11-27 04:21:47.620 13[IKE] <rp|1> SKEYID => 20 bytes @ 0x7f37580061b0\n"
        "2026-11-27 04:21:47.620 13[IKE] <rp|1>    0: 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10  ................\n"
        "2026-11-27 04:21:47.620 13[IKE] <rp|1> something else entirely\n"
        "not a charon line at all\n"
        "2026-11-27 04:21:47.621 13[MGR] <rp|1> checkin IKEv1 SA rp[1] with SPIs 8a911aeba7392cfe_i 874d073543d47643_r\n"
    )
    keys = parse_charon_log(text)
    assert keys.ike_sas == []  # the 20-byte SKEYID lost its second line: dropped, not guessed
    assert parse_charon_log("").ike_sas == []


def test_ike_keys_without_proposal_are_reported():
    text = (
        "2026-11-27 04:21:47.620 13[IKE] <rp|1> SKEYID_d => 4 bytes @ 0x1\n"
        "2026-11-27 04:21:47.620 13[IKE] <rp|1>    0: DE AD BE EF                                      ....\n"
        "2026-11-27 04:21:47.621 13[MGR] <rp|1> checkin IKEv1 SA rp[1] with SPIs 8a911aeba7392cfe_i 874d073543d47643_r\n"
    )
    keys = parse_charon_log(text)
    assert keys.ike_sas[0].secrets == {"skeyid_d": bytes.fromhex("deadbeef")}
    assert keys.warnings == ["line 1: IKE keys without a selected proposal"]


def test_proposal_parsing():
    assert Proposal.parse(
        "ESP", "AES_CBC_256/HMAC_SHA2_512_256/CURVE_25519/NO_EXT_SEQ"
    ) == Proposal("ESP", "AES_CBC_256", "HMAC_SHA2_512_256", "", "CURVE_25519", False)
    assert Proposal.parse("IKE", "CHACHA20_POLY1305/PRF_HMAC_SHA2_256/CURVE_25519") == Proposal(
        "IKE", "CHACHA20_POLY1305", "", "PRF_HMAC_SHA2_256", "CURVE_25519", False
    )
    assert Proposal.parse("ESP", "AES_GCM_16_128/EXT_SEQ").esn is True


def test_lifecycle_hints_of_the_daemon_log() -> None:
    """Why charon rekeyed or closed SAs: rekey jobs (a soft lifetime), expired CHILD_SAs,
    and vici commands, each tied to the SPIs of the SA it concerns."""
    root = Path(__file__).resolve().parents[2] / "samples" / "realpeer"
    if not (root / "ikev2-hard-expiry" / "left.log").exists():
        pytest.skip("VPN-life samples not generated")
    expiry = json.loads((root / "ikev2-hard-expiry" / "truth.json").read_text())
    hints = parse_charon_log((root / "ikev2-hard-expiry" / "left.log").read_text()).hints
    first = expiry["child_sas"][0]
    expired = {f"{h.spi:08x}" for h in hints if h.kind == "expired" and h.spi is not None}
    assert expired == {first["left_to_right"]["spi"], first["right_to_left"]["spi"]}
    user = [h for h in hints if h.kind == "user"]  # swanctl --terminate of the IKE SA
    assert [h.ike_spis[0].hex() for h in user if h.ike_spis] == [expiry["ike_sas"][0]["spi_i"]]
    volume = json.loads((root / "ikev2-volume-rekey" / "truth.json").read_text())
    hints = parse_charon_log((root / "ikev2-volume-rekey" / "left.log").read_text()).hints
    limits = {f"{h.spi:08x}" for h in hints if h.kind == "limit" and h.spi is not None}
    rekeyed = volume["child_sas"][:3]
    assert all({c["left_to_right"]["spi"], c["right_to_left"]["spi"]} & limits for c in rekeyed)
    gcm = parse_charon_log((root / "ikev2-psk-gcm" / "right.log").read_text()).hints
    truth = json.loads((root / "ikev2-psk-gcm" / "truth.json").read_text())
    old = truth["child_sas"][0]
    assert {f"{h.spi:08x}" for h in gcm if h.kind == "user" and h.spi is not None} == {
        old["left_to_right"]["spi"],
        old["right_to_left"]["spi"],
    }  # the right's swanctl --rekey --child
