"""Sniffing real strongSwan peers live: what ``sniff`` reports is what the daemons report.

The real-peer harness runs its quick scenario (IKEv2 PSK, AES-GCM, a responder-initiated
CHILD_SA rekey, an IKE_SA rekey, traffic, Delete) with ``ipsec-inspect sniff --events``
listening on the left veth beside tcpdump.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.realpeer.harness import run_scenario, tools_missing
from tests.realpeer.scenarios import SCENARIOS
from tests.realpeer.wirecount import count

QUICK = next(s for s in SCENARIOS if "quick" in s.tags)


def _skip_reason() -> str:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    missing = tools_missing()
    return f"strongSwan harness tools missing: {', '.join(missing)}" if missing else ""


@pytest.mark.realpeer
@pytest.mark.skipif(bool(_skip_reason()), reason=_skip_reason() or "runnable")
def test_sniff_reports_what_strongswan_reports(tmp_path: Path) -> None:
    sniffer = [
        sys.executable,
        "-m",
        "ipsec_inspect",
        "sniff",
        "-i",
        "veth-l",
        "--events",
        "--duration",
        "60",
    ]
    result = run_scenario(QUICK, tmp_path, sniffer=sniffer)
    lines = [
        json.loads(line)
        for line in (tmp_path / "sniff.log").read_text().splitlines()
        if line.startswith("{")
    ]
    assert len(lines) > 5, "events and the final document"
    doc, events = lines[-1], lines[:-1]
    assert doc["capture"]["live"]["stopped_by"] == "SIGTERM"
    assert any(e["event"] == "SaOpened" for e in events)

    ike_spis = {(sa["spi_i"], sa["spi_r"]) for sa in doc["ike_sas"]}
    [ike] = result.list_sas["left"]
    assert (ike["initiator-spi"], ike["responder-spi"]) in ike_spis
    assert len(doc["ike_sas"]) == 2  # the first IKE SA and its rekeyed successor
    packets = {d["spi"]: d["packets"] for c in doc["child_sas"] for d in c["directions"]}
    [child] = ike["child-sas"].values()
    assert packets[child["spi-out"]] == int(child["packets-out"]) == 8
    assert packets[child["spi-in"]] == int(child["packets-in"]) == 8
    # Every ESP packet tcpdump saw on the same veth, sniff saw too.
    wire = count(result.capture)
    assert sum(packets.values()) == sum(wire.esp.values())
