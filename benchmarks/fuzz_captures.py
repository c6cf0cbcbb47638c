"""Long fuzz run: mutate every sample and shared capture many times and run ``summary``,
``export``, ``decrypt`` and ``packets --format jsonl`` on each (issues 16, 17, 18).

Usage::

    python benchmarks/fuzz_captures.py [--captures 10000] [--time-limit 30] [--seed N]
                                       [--keep DIR] [--report FILE.json]

Mutators, in turn: ``editcap -E 0.02`` (Wireshark's own, where installed), whole-file byte
flips (headers, block lengths, options and gzip streams included) and structure-aware
mutations of timestamps, ``if_tsresol``/``if_tsoffset``, snapshot, captured and block
lengths (see ``tests/fuzzing.py``). Reports crashes (an exception escaping a command, or an
exit code other than 0 and 3), hangs (a capture over the time limit), and any output that
shows decrypted bytes of a packet whose ICV failed. A capture that fails is copied to
``--keep`` to become a regression test. Exit 1 when anything was found.

The short version of this run is ``tests/test_robustness.py::test_whole_file_fuzz``, in CI.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzzing import MUTATORS, Tally, keys_for, mutate, run_capture  # noqa: E402
from tests.sample_corpus import label, sample_captures, shared_captures  # noqa: E402


def _figures(
    tally: Tally, corpus: list[Path], by_mutator: dict[str, int], elapsed: float
) -> dict[str, object]:
    return {
        "captures": tally.captures,
        "commands": tally.commands,
        "corpus_files": len(corpus),
        "by_mutator": dict(by_mutator),
        "exit_codes": {str(k): v for k, v in sorted(tally.exit_codes.items())},
        "crashes": sum(f.kind == "crash" for f in tally.findings),
        "hangs": sum(f.kind == "hang" for f in tally.findings),
        "icv_leaks": sum(f.kind == "icv-leak" for f in tally.findings),
        "slowest_capture_s": round(tally.slowest, 2),
        "seconds": round(elapsed, 1),
    }


def _report(path: Path | None, figures: dict[str, object], tally: Tally) -> None:
    if path is not None:
        findings = [f.line() + (f" [{f.path}]" if f.path else "") for f in tally.findings]
        path.write_text(json.dumps({**figures, "findings": findings}, indent=2))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--captures", type=int, default=10_000, help="mutated captures to run")
    p.add_argument("--time-limit", type=float, default=30.0, help="CPU seconds per capture")
    p.add_argument("--seed", type=int, default=20261202)
    p.add_argument("--keep", type=Path, help="copy failing captures here")
    p.add_argument("--report", type=Path, help="write the figures and findings as JSON")
    p.add_argument(
        "--mutators", default=",".join(MUTATORS), help=f"comma-separated, of {', '.join(MUTATORS)}"
    )
    a = p.parse_args(argv)
    corpus = [c for c in sample_captures() + shared_captures() if c.stat().st_size < 4 << 20]
    if not corpus:
        print("no captures found", file=sys.stderr)
        return 2
    mutators = [m for m in a.mutators.split(",") if m in MUTATORS] or list(MUTATORS)
    tally = Tally()
    by_mutator = dict.fromkeys(mutators, 0)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ipsec-fuzz-long-") as tmp:
        for i in range(a.captures):
            src = corpus[i % len(corpus)]
            mutator = mutators[(i // len(corpus)) % len(mutators)]
            seed = a.seed * 1_000_003 + i
            rng = random.Random(seed)
            dst = Path(tmp) / f"m{i}{''.join(src.suffixes[-2:])}"
            mutate(src, dst, mutator, rng)
            by_mutator[mutator] += 1
            found = run_capture(dst, keys_for(src), tally, label(src), mutator, seed, a.time_limit)
            for f in found:
                if a.keep is not None:
                    a.keep.mkdir(parents=True, exist_ok=True)
                    kept = a.keep / f"{f.kind}-{seed}-{src.name}"
                    shutil.copy(dst, kept)
                    f.path = kept
                print(f.line(), flush=True)
            tally.findings += found
            dst.unlink(missing_ok=True)
            if (i + 1) % 100 == 0:  # progress, and figures so far (a run may be cut short)
                print(f"{i + 1} captures, {len(tally.findings)} findings, "
                      f"{time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
                _report(
                    a.report, _figures(tally, corpus, by_mutator, time.monotonic() - start), tally
                )
    figures = _figures(tally, corpus, by_mutator, time.monotonic() - start)
    print(json.dumps(figures, indent=2))
    _report(a.report, figures, tally)
    return 1 if tally.findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
