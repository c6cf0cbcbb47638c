"""Peak RSS and time of ``export`` on SA-heavy captures, with and without parking.

Captures come from ``make_sa_captures.py`` (generate them under /tmp, never commit them).
``--max-sas`` is set high so nothing is evicted: what is measured is what the run keeps.

    python benchmarks/make_sa_captures.py ike-init /tmp/init-50k.pcap --sas 50000
    PYTHONPATH=$PWD python benchmarks/settle_memory.py /tmp/init-50k.pcap ...
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def measure(capture: str, park: str) -> tuple[float, float]:
    """(seconds, peak RSS MB) of one export run in its own process."""
    cmd = [sys.executable, "-m", "ipsec_inspect", "export", capture, "--max-sas", "100000000"]
    cmd += ["--park-half-open", park, "-o", os.devnull]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{capture}: export failed")
    return time.perf_counter() - t0, usage.ru_maxrss / 1024


def main(argv: list[str]) -> int:
    print(f"{'capture':40} {'park':>6} {'time s':>8} {'peak RSS MB':>12}")
    for capture in argv:
        for park in ("-1", "1000"):
            secs, mb = measure(capture, park)
            print(f"{os.path.basename(capture):40} {park:>6} {secs:8.1f} {mb:12.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
