"""Issue 5 acceptance on the real strongSwan samples: what the daemons reported, we find.

For every scenario under ``samples/realpeer``: every IKE SA and child SA the daemons
reported appears with the same SPIs and the same packet counts per direction (with keys
and without any), rekeys link old to new, deleted SAs end ``deleted`` at the frame of the
Delete, and the failure scenarios end ``failed`` in the right stage with the notify named.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ipsec_inspect.core.records import DeleteBody, EspPacket, IkeMessage
from ipsec_inspect.lifecycle.model import Certainty, Reason, Stage
from ipsec_inspect.lifecycle.tracker import TrackerResult
from ipsec_inspect.pipeline.session import Analysis, open_records

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent for p in (ROOT / "samples" / "realpeer").glob("*/truth.json"))


def _truth(d: Path) -> dict[str, Any]:
    return json.loads((d / "truth.json").read_text())


def _analyse(d: Path, keys: bool) -> TrackerResult:
    key_paths = [str(d / "keys.toml")] if keys else []
    return Analysis(str(d / "capture.pcap"), key_paths=key_paths, keep_index=False).run()


def _reported_packets(truth: dict[str, Any]) -> dict[int, int]:
    """SPI -> packets, from the last ``swanctl --list-sas`` in which the SPI appears."""
    counts: dict[int, int] = {}
    views = [s["counters"] for s in truth.get("snapshots", [])]
    views.append(truth.get("counters_before_termination", {}))
    for view in views:
        for sa in view.get("left", []):
            counts[int(sa["spi_out"], 16)] = sa["packets_out"]
            counts[int(sa["spi_in"], 16)] = sa["packets_in"]
    return counts


def _reported_bytes(truth: dict[str, Any]) -> dict[int, int]:
    """SPI -> bytes of inner packets, from the last ``swanctl --list-sas`` naming the SPI."""
    counts: dict[int, int] = {}
    views = [s["counters"] for s in truth.get("snapshots", [])]
    views.append(truth.get("counters_before_termination", {}))
    for view in views:
        for sa in view.get("left", []):
            counts[int(sa["spi_out"], 16)] = sa["bytes_out"]
            counts[int(sa["spi_in"], 16)] = sa["bytes_in"]
    return counts


def _esp_spis(d: Path) -> set[int]:
    return {r.spi for r in open_records(d / "capture.pcap") if isinstance(r, EspPacket)}


def _directions(res: TrackerResult) -> dict[int, Any]:
    return {d.spi: (c, d) for c in res.child_sas.values() for d in c.directions}


@pytest.mark.parametrize("keys", [True, False], ids=["keys", "no-keys"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_every_reported_sa_is_found_with_its_counts(scenario: Path, keys: bool) -> None:
    truth = _truth(scenario)
    res = _analyse(scenario, keys)
    ikes = {(sa.spi_i.hex(), sa.spi_r.hex()): sa for sa in res.ike_sas.values()}
    for t in truth["ike_sas"]:
        assert (t["spi_i"], t["spi_r"]) in ikes, (scenario.name, t)
    dirs = _directions(res)
    on_wire = _esp_spis(scenario)
    for t in truth["child_sas"]:
        a, b = int(t["left_to_right"]["spi"], 16), int(t["right_to_left"]["spi"], 16)
        if not keys and not {a, b} <= on_wire:
            continue  # without keys an SA that carried no ESP (a rekey collision's loser) is unseen
        assert a in dirs and b in dirs, (scenario.name, t)
        assert dirs[a][0] is dirs[b][0], "both directions belong to one child SA"
        assert dirs[a][1].dst == t["left_to_right"]["dst"]
        assert dirs[b][1].dst == t["right_to_left"]["dst"]
    reported = _reported_packets(truth)
    assert reported or not truth["established"] or not truth.get("expected_children", 1)
    for spi, packets in reported.items():
        assert dirs[spi][1].packets == packets, (scenario.name, f"{spi:08x}")
    if keys:
        # inner_bytes is what swanctl --list-sas counts as bytes
        for spi, count in _reported_bytes(truth).items():
            assert dirs[spi][1].inner_bytes == count, (scenario.name, f"{spi:08x}")
        for _c, d in dirs.values():
            assert d.decrypted == d.packets and d.icv_failures == 0
    else:
        # Without keys the pairing of child SPIs comes from timing and addresses.
        for t in truth["child_sas"]:
            if int(t["left_to_right"]["spi"], 16) not in on_wire:
                continue
            c = dirs[int(t["left_to_right"]["spi"], 16)][0]
            assert c.certainty.get("pairing") in (Certainty.INFERRED, Certainty.OBSERVED)
            assert (
                c.certainty.get("chosen", Certainty.ENCRYPTED) != Certainty.OBSERVED or c.created_by
            )


@pytest.mark.parametrize(
    "scenario",
    [s for s in SCENARIOS if _truth(s)["established"] and _truth(s).get("expected_children", 1)],
    ids=lambda p: p.name,
)
def test_rekeys_link_and_deletes_end_at_the_delete(scenario: Path) -> None:
    truth = _truth(scenario)
    res = _analyse(scenario, True)
    dirs = _directions(res)
    children = [dirs[int(t["left_to_right"]["spi"], 16)][0] for t in truth["child_sas"]]
    actions = [e["action"] for e in truth["events"]]
    if "rekey-child" in actions:
        old, new = children[0], children[1]
        assert old.rekeyed_to == new.uid and new.rekeyed_from == old.uid
        assert old.termination is not None and old.termination.reason == Reason.REKEYED
    ikes = {(sa.spi_i.hex(), sa.spi_r.hex()): sa for sa in res.ike_sas.values()}
    ike_list = [ikes[(t["spi_i"], t["spi_r"])] for t in truth["ike_sas"]]
    if "rekey-ike" in actions:
        assert (
            ike_list[0].rekeyed_to == ike_list[1].uid
            and ike_list[1].rekeyed_from == ike_list[0].uid
        )
    # The last IKE SA and its last child SA end "deleted" at the frame of the Delete that names them.
    named: dict[tuple[int, bytes], int] = {}
    for r in open_records(scenario / "capture.pcap", key_paths=[str(scenario / "keys.toml")]):
        if isinstance(r, IkeMessage):
            for p in r.all_payloads:
                if isinstance(p.body, DeleteBody):
                    if p.body.protocol == 1:  # the IKE SA: IKEv2 names no SPI, IKEv1 the cookies
                        named.setdefault((1, r.header.spi_i), r.meta.frame)
                    for spi in p.body.spis:
                        named.setdefault((p.body.protocol, bytes(spi)), r.meta.frame)
    last_ike, last_child = ike_list[-1], children[-1]
    ike_delete = named[(1, last_ike.spi_i)]
    child_frames = [named.get((3, d.spi.to_bytes(4, "big"))) for d in last_child.directions]
    child_delete = min((f for f in child_frames if f is not None), default=ike_delete)
    assert last_ike.termination is not None and last_ike.termination.reason == Reason.DELETED
    assert last_ike.termination.frame == ike_delete
    assert last_child.termination is not None and last_child.termination.reason == Reason.DELETED
    assert last_child.termination.frame == child_delete


FAILURES = {
    "ikev2-proposal-mismatch": (Stage.NEGOTIATION, "NO_PROPOSAL_CHOSEN"),
    "ikev2-wrong-psk": (Stage.CIRCUIT, "AUTHENTICATION_FAILED"),
}


@pytest.mark.parametrize("keys", [True, False], ids=["keys", "no-keys"])
@pytest.mark.parametrize("name", sorted(FAILURES))
def test_failures_end_failed_in_the_right_stage(name: str, keys: bool) -> None:
    scenario = ROOT / "samples" / "realpeer" / name
    if not scenario.is_dir():
        pytest.skip(f"samples/realpeer/{name} not generated")
    stage, notify = FAILURES[name]
    res = _analyse(scenario, keys)
    assert res.ike_sas
    first = min(
        res.ike_sas.values(), key=lambda sa: sa.stages[Stage.HOST_RECOGNITION].start_frame or 0
    )
    t = first.termination
    assert t is not None and t.reason == Reason.FAILED
    assert t.stage == stage
    if keys or stage == Stage.NEGOTIATION:
        assert t.notify == notify
        assert t.certainty == Certainty.OBSERVED
    else:
        # The notify of a failed IKE_AUTH is inside the encrypted response: inferred from its size.
        assert t.certainty == Certainty.INFERRED
        assert t.detail is not None and "too short" in t.detail
