"""Start-up cost of a short command: ``ipsec-inspect summary`` on a one-packet capture.

Issue 14 sets the goal (under 0.15 s, against about 0.21 s before): on the 300,000-packet
benchmark this start-up is a fifth of the run. The package is byte-compiled first, then
each tree is run ``--runs`` times in fresh processes, interleaved when several trees are
given (so a busy machine slows them alike), and the minimum and median wall and CPU times
are printed, with the ratio to the first tree and to a bare ``python -c pass`` ("x pass"),
and the time above that bare start-up ("- pass": the part that is this program's; the
interpreter's own, with its site-packages' ``.pth`` files, is outside our control).

    python benchmarks/startup.py                     # this checkout
    python benchmarks/startup.py . /path/to/other    # compare two source trees
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.15  # seconds, wall, best of --runs (issue 14 item 7)


def one_packet_capture(folder: Path) -> Path:
    """The first frame of samples/ah.pcap as a pcap of its own (an AH packet)."""
    data = (ROOT / "samples" / "ah.pcap").read_bytes()
    magic = data[:4]
    endian = "<" if magic == b"\xd4\xc3\xb2\xa1" else ">"
    incl = struct.unpack_from(endian + "I", data, 24 + 8)[0]
    path = folder / "one.pcap"
    path.write_bytes(data[: 24 + 16 + incl])
    return path


def run_once(argv: list[str], cwd: Path) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", default=[str(ROOT)], help="source trees to time")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    trees = [Path(t).resolve() for t in args.trees]
    for tree in trees:
        compileall.compile_dir(tree / "ipsec_inspect", quiet=1)
        if (tree / "plugins").is_dir():
            compileall.compile_dir(tree / "plugins", quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        capture = one_packet_capture(Path(tmp))
        commands = {"python -c pass": ([sys.executable, "-c", "pass"], trees[0])}
        for tree in trees:
            argv = [sys.executable, "-m", "ipsec_inspect", "summary", str(capture)]
            commands[f"summary ({tree})"] = (argv, tree)
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
        for _ in range(args.runs):
            for name, (argv, cwd) in commands.items():
                times[name].append(run_once(argv, cwd))
    first = min(w for w, _ in times[f"summary ({trees[0]})"])
    bare = min(w for w, _ in times["python -c pass"])
    print(
        f"{'':60s} {'wall min':>9} {'median':>8} {'cpu min':>8} {'ratio':>6} {'x pass':>7} "
        f"{'- pass':>7}"
    )
    for name, values in times.items():
        walls = [w for w, _ in values]
        cpus = [c for _, c in values]
        print(
            f"{name[:60]:60s} {min(walls):9.3f} {statistics.median(walls):8.3f} "
            f"{min(cpus):8.3f} {min(walls) / first:6.2f} {min(walls) / bare:7.2f} "
            f"{min(walls) - bare:7.3f}"
        )
    # The bare interpreter's own start-up (site, and whatever .pth files it runs) is the
    # floor no change of ours can lower: "- pass" is the part that is this program's.
    print(f"goal: summary under {GOAL:.2f} s wall (min): {'met' if first < GOAL else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
