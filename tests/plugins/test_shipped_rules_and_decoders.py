"""The CNSA policy rules and the NCP vendor decoder on captures, loaded both ways."""

from __future__ import annotations

from ipsec_inspect.core.extensions import Extensions
from ipsec_inspect.core.records import IkeMessage, VendorIdBody
from ipsec_inspect.pipeline.session import Analysis, open_records

from .conftest import SAMPLES, compose, load_shipped, shared


def _cnsa(result: object) -> dict[tuple[str, str], tuple[str, str]]:
    return {
        (f.rule, f.sa): (str(f.outcome), f.detail)
        for f in result.findings  # type: ignore[attr-defined]
        if f.rule.startswith("CNSA")
    }


def test_cnsa_on_cisco_flexvpn(shipped: Extensions) -> None:
    # AES-CBC-256 + HMAC-SHA2-384 + PRF-SHA2-384 + ECP-384: only the cipher is off-profile.
    result = Analysis(str(shared("ndpi/ah.pcapng")), extensions=shipped).run()
    got = _cnsa(result)
    sa = "ike-1c1869f6d29ba0cc"
    assert got[("CNSA-01", sa)] == (
        "fail",
        "encryption ENCR_AES_CBC_256 is outside the CNSA (RFC 9206) profile",
    )
    assert got[("CNSA-02", sa)] == ("pass", "PRF: PRF_HMAC_SHA2_384")
    assert got[("CNSA-03", sa)] == ("pass", "key exchange: 384-bit random ECP group")
    failing = next(f for f in result.findings if f.rule == "CNSA-01")
    assert failing.frames == [2] and str(failing.severity) == "high"


def test_cnsa_on_real_strongswan_peers_with_keys(shipped: Extensions) -> None:
    peer = SAMPLES / "realpeer" / "ikev2-psk-gcm"
    result = Analysis(
        str(peer / "capture.pcap"), key_paths=[str(peer / "keys.toml")], extensions=shipped
    ).run()
    got = _cnsa(result)
    assert got[("CNSA-01", "ike-e7a326936ffd81df")][0] == "pass"
    assert got[("CNSA-02", "ike-e7a326936ffd81df")] == (
        "fail",
        "PRF PRF_HMAC_SHA2_256 is outside the CNSA (RFC 9206) profile",
    )
    assert got[("CNSA-03", "ike-e7a326936ffd81df")][1] == (
        "key exchange Curve25519 is outside the CNSA (RFC 9206) profile"
    )
    assert got[("CNSA-04", "child-1")] == (
        "fail",
        "encryption ENCR_AES_GCM_16_128 with a 128-bit key; CNSA (RFC 9206) needs 256",
    )


def test_cnsa_without_keys_is_not_observable_for_children(shipped: Extensions) -> None:
    peer = SAMPLES / "realpeer" / "ikev2-psk-gcm"
    got = _cnsa(Analysis(str(peer / "capture.pcap"), extensions=shipped).run())
    children = {k: v for k, v in got.items() if k[0] == "CNSA-04"}
    assert children and {v[0] for v in children.values()} == {"not_observable"}


def _vendor_names(path: str, ext: Extensions | None = None) -> list[str]:
    with open_records(path, extensions=ext) as stream:
        return [
            p.body.name
            for r in stream
            if isinstance(r, IkeMessage)
            for p in r.payloads
            if isinstance(p.body, VendorIdBody)
        ]


def test_ncp_vendor_ids_in_the_ncp_client_capture(plugin_path: object) -> None:
    path = str(shared("wireshark-wiki/ikev2_esp_aes-gcm_aes-ctr_aes-cbc/capture.pcapng"))
    before = _vendor_names(path)
    assert before.count("") == 12  # four unknown VIDs in each of three IKE_SA_INITs
    for way in ("directory", "entry point"):
        after = _vendor_names(path, compose(load_shipped(way)))
        assert after.count("NCP client (capabilities)") == 3
        assert after.count("NCP client (release)") == 3
        assert after.count("") == 6  # two VIDs stay unknown: no public source names them
        assert [n for n in after if n and n in before] == [n for n in before if n]
