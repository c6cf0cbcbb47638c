"""The SA-scale table of issue 16: time and peak RSS per capture size, for one code tree.

Not a test. Generates (once, into ``--dir``) the captures of ``make_sa_captures.py`` (and,
for ``headend`` rows, of ``make_headend_capture.py``: N negotiated child SAs) and runs
``ipsec-inspect summary`` / ``export`` on each in a fresh process, printing wall time and the
peak resident memory of that process (``wait4``), and — when the rows include
``four-sas`` with the same command — the time per SA over the time per packet on 4 SAs
(issue 16's goal: at most 3x). ``four-sas`` rows run first so the ratio can be printed with
each row. ``--tree`` runs another checkout; ``--before`` adds a second one, run
interleaved with it (before, after, before, after, ...: both see the same machine load),
and ``--repeat N`` keeps the best of N runs of each; ``--timeout`` stops a row that takes
too long and says so.

    python benchmarks/scale_benchmarks.py --rows esp:20000:summary,ike-init:500000:export
    python benchmarks/scale_benchmarks.py --before /path/to/old/checkout --repeat 3
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_ROWS = (
    "esp:20000:summary,esp:50000:summary,esp:100000:summary,esp:500000:summary,"
    "esp:500000:export,ike-init:500000:export,ike-init:1000000:export,"
    "esp:1000000:summary,ike-init:1000000:summary,four-sas:1000000:summary"
)


def capture(kind: str, n: int, folder: Path) -> Path:
    path = folder / f"{kind}-{n}.pcap"
    if not path.exists():
        if kind == "four-sas":
            cmd = [
                sys.executable,
                str(HERE / "make_esp_capture.py"),
                str(path),
                "--packets",
                str(n),
            ]
        elif kind == "headend":
            cmd = [sys.executable, str(HERE / "make_headend_capture.py"), str(path)]
            cmd += ["--child-sas", str(n)]
        else:
            cmd = [
                sys.executable,
                str(HERE / "make_sa_captures.py"),
                kind,
                str(path),
                "--sas",
                str(n),
            ]
        subprocess.run(cmd, check=True)
    return path


def run_one(
    tree: Path, command: str, path: Path, extra: list[str], timeout: float
) -> tuple[float, float, str]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    args = [sys.executable, "-m", "ipsec_inspect", command, str(path), *extra]
    if command == "export":
        args += ["-o", os.devnull]
    start = time.perf_counter()
    # run in the tree: ``-m`` puts the working directory first on sys.path, before PYTHONPATH
    proc = subprocess.Popen(
        args, env=env, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    note = ""
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.send_signal(signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            note = f"stopped after {timeout:.0f} s"
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if not note and status != 0:
        note = (
            f"exit {os.waitstatus_to_exitcode(status)}: "
            + (proc.stderr.read() or b"").decode()[-200:]
        )
    return seconds, usage.ru_maxrss / 1024, note


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--tree", type=Path, default=HERE.parent, help="checkout to run (default: this one)"
    )
    ap.add_argument("--before", type=Path, help="another checkout, run interleaved with --tree")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per row and tree")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/ipsec-inspect-bench"))
    ap.add_argument("--rows", default=DEFAULT_ROWS, help="kind:SAs:command, comma-separated")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--extra", default="", help="more options for every command")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    trees = [("before", args.before)] if args.before else []
    trees.append(("after" if args.before else "", args.tree))
    print("trees " + ", ".join(f"{name or 'tree'} {tree}" for name, tree in trees))
    print(
        "| capture | size | command | tree | time | peak RSS | per SA vs per packet on 4 SAs "
        "| note |\n|---|---|---|---|---|---|---|---|"
    )
    rows = [r.split(":") for r in args.rows.split(",")]
    rows.sort(key=lambda r: r[0] != "four-sas")  # baselines first; stable otherwise
    per_packet: dict[tuple[str, str], float] = {}  # (tree, command) -> s per packet on 4 SAs
    label = {
        "esp": "one-packet ESP SAs",
        "ike-init": "IKE_SA_INIT, distinct SPIs",
        "four-sas": "packets on 4 SAs",
        "headend": "child SAs of a headend (48 per tunnel)",
    }
    for kind, n, command in rows:
        path = capture(kind, int(n), args.dir.resolve())
        size = path.stat().st_size / 1e6
        results: dict[str, list[tuple[float, float, str]]] = {name: [] for name, _ in trees}
        for _ in range(args.repeat):  # interleaved: one run of each tree per round
            for name, tree in trees:
                results[name].append(run_one(tree, command, path, args.extra.split(), args.timeout))
        for name, _tree in trees:
            failed = [r for r in results[name] if r[2]]
            seconds, rss, note = failed[0] if failed else min(results[name])
            ratio = ""
            if kind == "four-sas" and not note:
                per_packet[(name, command)] = seconds / int(n)
            elif (name, command) in per_packet and not note:
                ratio = f"{seconds / int(n) / per_packet[(name, command)]:.1f}x"
            print(
                f"| {int(n):,} {label[kind]} | {size:.1f} MB | `{command}` | {name} "
                f"| {seconds:.1f} s | {rss:.0f} MB | {ratio} | {note} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
