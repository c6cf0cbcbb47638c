"""One scenario end to end through the real harness: two charons, namespaces, tcpdump.

Only the quick scenario runs here (about 5-10 s); full regeneration is ``python -m tests.realpeer``.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from ipsec_inspect.crypto.strongswan_log import parse_charon_log

from .harness import run_scenario, strongswan_version, tools_missing
from .scenarios import SCENARIOS
from .truth import write_truth
from .wirecount import count

QUICK = next(s for s in SCENARIOS if "quick" in s.tags)


def _skip_reason() -> str:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    missing = tools_missing()
    if missing:
        return f"strongSwan harness tools missing: {', '.join(missing)}"
    return ""


def _our_namespaces(tag_prefix: str) -> list[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    return [line.split()[0] for line in listing.stdout.splitlines() if line.startswith(tag_prefix)]


@pytest.mark.realpeer
@pytest.mark.skipif(bool(_skip_reason()), reason=_skip_reason() or "runnable")
def test_quick_scenario_end_to_end(tmp_path: Path) -> None:
    result = run_scenario(QUICK, tmp_path)
    keys = write_truth(result, tmp_path, strongswan_version(result.logs["left"]))

    # every step happened as scripted, and nothing of ours is left behind
    assert [e.action for e in result.events] == [s.action.value for s in QUICK.steps]
    assert all(e.ok for e in result.events)
    assert _our_namespaces(f"iirp{os.getpid()}n") == []

    # the listing before termination: one IKE SA (the rekeyed one) with one CHILD_SA per side
    left, right = result.list_sas["left"], result.list_sas["right"]
    assert len(left) == len(right) == 1
    ike = left[0]
    assert (ike["initiator-spi"], ike["responder-spi"]) == (
        right[0]["initiator-spi"],
        right[0]["responder-spi"],
    )
    [child] = ike["child-sas"].values()
    [peer_child] = right[0]["child-sas"].values()
    assert (child["spi-in"], child["spi-out"]) == (peer_child["spi-out"], peer_child["spi-in"])

    # SPIs and packet counts on the wire match what the daemons reported
    wire = count(result.capture)
    assert wire.ike[(ike["initiator-spi"], ike["responder-spi"])] >= 2  # rekeyed SA: its Delete
    per_spi = {spi: n for (_, _, spi), n in wire.esp.items()}
    assert per_spi[int(child["spi-out"], 16)] == int(child["packets-out"])
    assert per_spi[int(child["spi-in"], 16)] == int(child["packets-in"])
    # after the child rekey: 3 pings, (IKE rekey), 3 UDP echoes, 2 pings -> 8 packets each way
    assert int(child["packets-out"]) == int(child["packets-in"]) == 8
    # before it, 3 pings and 3 UDP echoes: 2 x (6 + 8) ESP packets in the whole capture
    assert sum(per_spi.values()) == 2 * (6 + 8)

    # keys: two IKE SAs (initial + rekey), two CHILD_SAs (initial + responder-initiated rekey)
    assert len(keys.ike_sas) == 2 and len(keys.child_sas) == 2
    assert [c.initiated for c in keys.child_sas] == [True, False]
    assert keys.ike_sas[1].spi_i.hex() == ike["initiator-spi"]
    right_keys = parse_charon_log(result.logs["right"].read_text())
    assert {(c.spi_out, c.outbound.encryption_key) for c in keys.child_sas} == {
        (c.spi_in, c.inbound.encryption_key) for c in right_keys.child_sas
    }
    toml = tomllib.loads((tmp_path / "keys.toml").read_text())
    assert {e["spi"] for e in toml["esp"]} == {f"{spi:08x}" for spi in per_spi}
    assert (tmp_path / "esp_sa").read_text().count("AES-GCM with 16 octet ICV [RFC4106]") == 4


VPN_LIFE_QUICK = next(s for s in SCENARIOS if "quick-vpnlife" in s.tags)


@pytest.mark.realpeer
@pytest.mark.skipif(bool(_skip_reason()), reason=_skip_reason() or "runnable")
def test_reauthentication_end_to_end(tmp_path: Path) -> None:
    """A fresh make-before-break reauthentication between two charons, analysed with the
    left daemon's log as keys and without keys: the old IKE SA ends reauthenticated and
    links to the new one, whose child SA re-creates the old child."""
    from ipsec_inspect.lifecycle.model import Certainty, Reason
    from ipsec_inspect.pipeline.session import Analysis

    result = run_scenario(VPN_LIFE_QUICK, tmp_path)
    keys = write_truth(result, tmp_path, strongswan_version(result.logs["left"]))
    assert all(e.ok for e in result.events)
    assert len(keys.ike_sas) == 2 and len(keys.child_sas) == 2
    old_spi, new_spi = (sa.spi_i for sa in keys.ike_sas)
    for key_paths, certainty in (
        ([str(result.logs["left"])], Certainty.OBSERVED),
        ([], Certainty.INFERRED),
    ):
        res = Analysis(str(result.capture), key_paths=key_paths, keep_index=False).run()
        by_spi = {sa.spi_i: sa for sa in res.ike_sas.values()}
        old, new = by_spi[old_spi], by_spi[new_spi]
        assert old.termination is not None and old.termination.reason == Reason.REAUTHENTICATED
        assert old.rekeyed_to == new.uid and new.rekeyed_from == old.uid
        assert old.rekey_certainty == certainty
        [old_child] = [res.child_sas[u] for u in old.child_sas]
        [new_child] = [res.child_sas[u] for u in new.child_sas]
        assert old_child.rekeyed_to == new_child.uid
        # three pings on each child SA, each way
        assert [d.packets for d in old_child.directions] == [3, 3]
        assert [d.packets for d in new_child.directions] == [3, 3]
