"""Run ``ipsec-inspect sniff`` in a namespace and replay captures at it (test helpers)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.live.netns import READY_TIMEOUT, ROOT, VethPair, wait_for_text

SAMPLES = ROOT / "samples"
SNIFF_TIMEOUT = 60.0  # seconds any one sniff run may take in a test, whatever happens


@dataclass
class SniffRun:
    """The outcome of one ``sniff --events`` run: event lines and the final document."""

    returncode: int
    events: list[dict[str, Any]]
    document: dict[str, Any]
    stderr: str


def start_sniff(
    veth: VethPair, tmp: Path, *extra: str
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """Start sniff on the sniffing end; return once it reports that it captures."""
    out, err = tmp / "sniff.out", tmp / "sniff.err"
    argv = [
        sys.executable,
        "-m",
        "ipsec_inspect",
        "sniff",
        "-i",
        veth.sniff_dev,
        "--events",
        *extra,
    ]
    process = veth.start(veth.sniff_ns, argv, out, err)
    if not wait_for_text(err, "capturing on", READY_TIMEOUT, process):
        veth.stop(process)
        raise AssertionError(f"sniff did not start: {err.read_text(errors='replace')}")
    return process, out, err


def finish_sniff(
    veth: VethPair, process: subprocess.Popen[bytes], out: Path, err: Path
) -> SniffRun:
    try:
        process.wait(timeout=SNIFF_TIMEOUT)
    except subprocess.TimeoutExpired:
        veth.stop(process)
        raise AssertionError("sniff did not end within its bound") from None
    lines = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert lines, f"sniff wrote nothing: {err.read_text(errors='replace')}"
    return SniffRun(process.returncode, lines[:-1], lines[-1], err.read_text(errors="replace"))


def replay(
    veth: VethPair, capture: Path, repeat: int = 1, gap: float = 0.0, esp_stream: int = 0
) -> int:
    """Send ``capture``'s frames from the sending end; return how many were sent."""
    argv = [
        sys.executable, "-m", "tests.live.replay", veth.send_dev,
        veth.mac(veth.send_ns, veth.send_dev), veth.mac(veth.sniff_ns, veth.sniff_dev),
        str(capture), "--repeat", str(repeat), "--gap", str(gap), "--esp-stream", str(esp_stream),
    ]  # fmt: skip
    out = subprocess.run(
        veth.exec_argv(veth.send_ns, argv), capture_output=True, text=True, timeout=SNIFF_TIMEOUT,
        cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


def cli_json(*argv: str) -> tuple[dict[str, Any], str]:
    """Run an ipsec-inspect command that prints one JSON document; return it and stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "ipsec_inspect", *argv],
        capture_output=True, text=True, timeout=SNIFF_TIMEOUT, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def export_events(capture: Path, tmp: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``export`` on a file: the document and its ``--events`` lines."""
    events = tmp / "export.events"
    doc, _ = cli_json("export", str(capture), "--events", str(events))
    return doc, [json.loads(line) for line in events.read_text().splitlines() if line.strip()]


def sa_view(doc: dict[str, Any]) -> dict[str, Any]:
    """What must agree between a file and its live replay: SPIs and counts, not times."""
    return {
        "ike": sorted(
            (sa["version"], sa["spi_i"], sa["spi_r"], sa["messages"]) for sa in doc["ike_sas"]
        ),
        "directions": sorted(
            (d["protocol"], d["spi"], d["src"], d["dst"], d["packets"], d["bytes"])
            for child in doc["child_sas"]
            for d in child["directions"]
        ),
        "counts": {
            k: doc["capture"][k]
            for k in ("ike_messages", "esp_packets", "ah_packets", "nat_keepalives", "malformed")
        },
    }


def event_view(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Events without their times (a replay has new ones) and without end-of-capture
    settlement (``SaClosed`` reasons depend on how long the capture ran)."""
    return [
        (e["event"], e["sa"], e.get("frame"), e.get("stage"), e.get("kind"))
        for e in events
        if e["event"] != "SaClosed"
    ]
