"""Side-by-side benchmarks: ipsec-inspect against tshark, dpkt and scapy on the same file.

Not a test: it prints wall time, packets per second, peak resident memory and the ratio
to tshark for each tool doing the same job. Two jobs:

- ``summary``: read every ESP packet's SPI and sequence number and count per SPI
  (``ipsec-inspect summary`` versus ``tshark -T fields -e esp.spi -e esp.sequence``,
  a dpkt loop and a scapy loop — what a user would script today);
- ``decrypt``: decrypt every ESP packet (``ipsec-inspect summary --keys`` versus tshark with
  ESP decryption and ICV checking on), ours both with its decryption worker processes
  (the default on a machine with more than one core) and in one process. The CPU column is
  the sum over a tool's processes, so the cost of using a second core shows.

    python benchmarks/make_esp_capture.py /tmp/esp-1m.pcap --packets 1000000
    python benchmarks/run_benchmarks.py /tmp/esp-1m.pcap [--scapy-packets 20000] [--jobs summary,decrypt] [--repeat 3]

Before/after a change: ``--jobs versus --versus DIR`` times ``ipsec-inspect summary`` of
this checkout against the ``ipsec_inspect`` package in DIR (e.g. ``git archive main`` unpacked
there), taking turns, so both see the same machine drift; compare the CPU column on a
loaded machine.

scapy is run on the first ``--scapy-packets`` packets only (it needs minutes and gigabytes
for a million) and its time is extrapolated linearly; the output says so.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DPKT_LOOP = r"""
import sys, dpkt
counts = {}
with open(sys.argv[1], "rb") as fh:
    for ts, buf in dpkt.pcap.Reader(fh):
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        if isinstance(ip, dpkt.ip.IP) and ip.p == 50:
            esp = ip.data
            spi = esp.spi if hasattr(esp, "spi") else int.from_bytes(bytes(esp)[:4], "big")
            counts[spi] = counts.get(spi, 0) + 1
print(len(counts), sum(counts.values()))
"""

SCAPY_LOOP = r"""
import sys
from scapy.utils import PcapReader
from scapy.layers.ipsec import ESP
counts = {}
limit = int(sys.argv[2])
for n, pkt in enumerate(PcapReader(sys.argv[1])):
    if n >= limit:
        break
    if ESP in pkt:
        e = pkt[ESP]
        counts[e.spi] = counts.get(e.spi, 0) + 1
print(len(counts), sum(counts.values()))
"""


@dataclass
class Run:
    name: str
    seconds: float
    max_rss_mb: float
    packets: int
    note: str = ""
    cpu_seconds: float = 0.0  # user + system, the tool's child processes included


@dataclass
class Tool:
    """One command to time."""

    name: str
    cmd: list[str]
    packets: int
    env: dict[str, str] | None = None
    note: str = ""


def timed(tools: list[Tool], repeat: int = 1) -> list[Run]:
    """Run every tool ``repeat`` times, taking turns (tool A, B, C, then A, B, C…), and keep
    each one's fastest run. Why turns: this kind of machine's speed drifts by tens of
    percent over minutes; interleaving exposes every tool to the same drift, and the
    fastest run is the least disturbed one."""
    runs: dict[str, list[Run]] = {t.name: [] for t in tools}
    for _ in range(max(1, repeat)):
        for t in tools:
            r = _timed_once(t.name, t.cmd, t.packets, t.env, t.note)
            if r is not None:
                runs[t.name].append(r)
    out = []
    for t in tools:
        done = runs[t.name]
        if not done:
            continue
        best = min(done, key=lambda r: r.seconds)
        if len(done) > 1:
            times = ", ".join(f"{r.seconds:.2f}" for r in done)
            best.note = f"{best.note}; fastest of {times} s".lstrip("; ")
        out.append(best)
    return out


def _timed_once(
    name: str, cmd: list[str], packets: int, env: dict[str, str] | None, note: str
) -> Run | None:
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    except FileNotFoundError:
        print(f"  {name}: not installed, skipped", file=sys.stderr)
        return None
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        print(f"  {name}: failed ({err.strip()[:300]})", file=sys.stderr)
        return None
    # wait4 reports the process and the children it waited for: CPU time is their sum,
    # ru_maxrss the largest single process (not the sum).
    cpu = usage.ru_utime + usage.ru_stime
    return Run(name, elapsed, usage.ru_maxrss / 1024, packets, note, cpu)


def _tshark_fields(tshark: str, capture: Path, options: list[str], fields: list[str]) -> list[str]:
    """tshark reading ``capture`` and printing ``fields`` per packet, no name resolution."""
    command = [tshark, "-r", str(capture), "-n", *options, "-T", "fields"]
    for name in fields:
        command += ["-e", name]
    return command


def count_packets(path: Path) -> int:
    import struct

    with open(path, "rb") as fh:
        fh.read(24)
        n = 0
        while True:
            hdr = fh.read(16)
            if len(hdr) < 16:
                return n
            incl = struct.unpack("<IIII", hdr)[2]
            fh.seek(incl, 1)
            n += 1


def report(title: str, runs: list[Run], baseline: str = "tshark") -> None:
    print(f"\n== {title}")
    base = next((r for r in runs if r.name.startswith(baseline)), None)
    print(
        f"{'tool':<38} {'seconds':>9} {'CPU s':>7} {'pkts/s':>10} {'peak RSS MB':>12} {'vs tshark':>10}"
    )
    for r in runs:
        ratio = f"{base.seconds / r.seconds:.2f}x" if base else "-"
        print(
            f"{r.name:<38} {r.seconds:>9.2f} {r.cpu_seconds:>7.2f} {r.packets / r.seconds:>10.0f} "
            f"{r.max_rss_mb:>12.0f} {ratio:>10}  {r.note}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("capture", type=Path)
    ap.add_argument("--scapy-packets", type=int, default=20000)
    ap.add_argument("--jobs", default="summary,decrypt")
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; the fastest counts")
    ap.add_argument(
        "--versus",
        type=Path,
        help="job 'versus': a directory holding another ipsec_inspect package (the baseline)",
    )
    args = ap.parse_args()
    repeat = max(1, args.repeat)
    # Byte-compile the package first, as installing a wheel does: where
    # PYTHONDONTWRITEBYTECODE is set, every start would otherwise compile it again.
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "ipsec_inspect"), quiet=1)
    jobs = set(args.jobs.split(","))
    packets = count_packets(args.capture)
    ours = [sys.executable, "-m", "ipsec_inspect"]
    tshark = shutil.which("tshark")
    print(
        f"capture: {args.capture} ({packets} packets, {args.capture.stat().st_size / 1e6:.0f} MB)"
    )

    if "summary" in jobs:
        runs = timed(
            [
                Tool(
                    "tshark -T fields esp.spi/sequence",
                    _tshark_fields(
                        tshark or "tshark", args.capture, [], ["esp.spi", "esp.sequence"]
                    ),
                    packets,
                ),
                Tool(
                    "ipsec-inspect summary",
                    [*ours, "summary", str(args.capture), "--format", "json"],
                    packets,
                ),
                Tool("dpkt loop", [sys.executable, "-c", DPKT_LOOP, str(args.capture)], packets),
            ],
            repeat,
        )
        n = min(args.scapy_packets, packets)
        for s in timed(
            [Tool("scapy loop", [sys.executable, "-c", SCAPY_LOOP, str(args.capture), str(n)], n)]
        ):
            factor = packets / n
            runs.append(
                Run(
                    "scapy loop (extrapolated)",
                    s.seconds * factor,
                    s.max_rss_mb,
                    packets,
                    f"measured {s.seconds:.1f} s, {s.max_rss_mb:.0f} MB on {n} packets",
                    s.cpu_seconds * factor,
                )
            )
        report("summary: SPI and sequence number of every ESP packet", runs)

    if "versus" in jobs:
        if args.versus is None:
            ap.error("--jobs versus needs --versus DIR")
        here = Path(__file__).resolve().parents[1]
        compileall.compile_dir(str(args.versus / "ipsec_inspect"), quiet=1)
        command = [*ours, "summary", str(args.capture), "--format", "json"]
        runs = timed(
            [
                Tool(
                    f"summary, baseline {args.versus.name}",
                    command,
                    packets,
                    {**os.environ, "PYTHONPATH": str(args.versus)},
                ),
                Tool(
                    "summary, this checkout",
                    command,
                    packets,
                    {**os.environ, "PYTHONPATH": str(here)},
                ),
            ],
            repeat,
        )
        report(
            "versus: ipsec-inspect summary, baseline and this checkout", runs, "summary, baseline"
        )

    if "decrypt" in jobs:
        esp_sa = args.capture.with_suffix(".esp_sa")
        keys = args.capture.with_suffix(".keys.toml")
        with tempfile.TemporaryDirectory() as cfg:
            tools = []
            if esp_sa.exists() and tshark:
                shutil.copy(esp_sa, Path(cfg) / "esp_sa")
                tools.append(
                    Tool(
                        "tshark ESP decryption",
                        _tshark_fields(
                            tshark,
                            args.capture,
                            [
                                "-o",
                                "esp.enable_encryption_decode:TRUE",
                                "-o",
                                "esp.enable_authentication_check:TRUE",
                            ],
                            ["esp.spi", "esp.sequence", "ip.proto"],
                        ),
                        packets,
                        {**os.environ, "WIRESHARK_CONFIG_DIR": cfg},
                    )
                )
            if keys.exists():
                command = [
                    *ours,
                    "summary",
                    str(args.capture),
                    "--keys",
                    str(keys),
                    "--format",
                    "json",
                ]
                tools.append(
                    Tool(
                        "ipsec-inspect summary --keys",
                        command,
                        packets,
                        note="defaults: worker processes above 16 MB",
                    )
                )
                tools.append(
                    Tool(
                        "ipsec-inspect ... --decrypt-workers 0",
                        [*command, "--decrypt-workers", "0"],
                        packets,
                        note="one process",
                    )
                )
            runs = timed(tools, repeat)
        report("decrypt: every ESP packet decrypted and its ICV checked", runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
