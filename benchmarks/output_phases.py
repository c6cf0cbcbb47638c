"""Time the audit and the output of one capture apart from reading and tracking it.

Not a test. A whole ``summary`` of a 20,000-SA flood is mostly reading, tracking and
building the survivors; this analyses the capture once, in this process, and then times
only what comes after: the audit (``audit.run.audit`` on the finished result), the
``summary`` text and the ``export`` JSON (the commands run with the analysis handed in, so
their own rendering is all that is timed). Best of ``--repeat`` runs of each.

    python benchmarks/output_phases.py /path/to/esp-20000.pcap --repeat 3
    python benchmarks/output_phases.py CAPTURE --phases audit,export --findings all
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from typing import Any


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _command(argv: list[str], outcome: Any, sink: Any) -> Callable[[], object]:
    """``ipsec-inspect ARGV`` with ``outcome`` as its analysis, stdout to ``sink``."""
    from ipsec_inspect import cli
    from ipsec_inspect.commands import export, summary

    def run() -> object:
        saved = sys.stdout, summary.analyse, export.analyse
        summary.analyse = export.analyse = lambda *_a, **_k: outcome  # type: ignore[assignment]
        sys.stdout = sink
        try:
            return cli.main(argv)
        finally:
            sys.stdout, summary.analyse, export.analyse = saved

    return run


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("capture")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--phases", default="audit,summary,export")
    p.add_argument("--findings", default=None, help="passed to every command (e.g. all)")
    args = p.parse_args()
    from ipsec_inspect import cli
    from ipsec_inspect.audit.run import audit
    from ipsec_inspect.commands import _common

    extra = ["--findings", args.findings] if args.findings else []
    parser = cli.build_parser(["summary"])
    ns = parser.parse_args(["summary", args.capture, *extra])
    cli._compose(ns, cli._load_plugins(ns))
    t = time.perf_counter()
    outcome = _common.analyse(ns)
    print(f"analysis      {time.perf_counter() - t:7.3f} s (once)")
    gc.freeze()
    gc.set_threshold(*cli.GC_THRESHOLDS)
    rules = _common.extensions_of(ns).rules
    sink = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    phases: dict[str, Callable[[], object]] = {
        "audit": lambda: audit(outcome.result, rules),
        "summary": _command(["summary", args.capture, *extra], outcome, sink),
        "export": _command(["export", args.capture, "-o", os.devnull, *extra], outcome, sink),
    }
    for name in args.phases.split(","):
        print(f"{name:<13} {_best(phases[name], args.repeat):7.3f} s (best of {args.repeat})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
