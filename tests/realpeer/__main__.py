"""Regenerate the real-peer samples: ``python -m tests.realpeer [--scenario NAME] [--out DIR]``.

Needs root (network namespaces) and strongSwan's charon/swanctl, tcpdump, iproute2 and openssl.
Each scenario's directory is replaced only after its run succeeded.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .harness import LabError, run_scenario, strongswan_version, tools_missing
from .scenarios import BY_NAME, SCENARIOS
from .truth import write_truth

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "samples" / "realpeer"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.realpeer", description=__doc__)
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(BY_NAME),
        help="run only this scenario (repeatable); default: all",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="directory that receives one sub-directory per scenario",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    if args.list:
        for scenario in SCENARIOS:
            print(f"{scenario.name}: {scenario.description}")
        return 0
    missing = tools_missing()
    if missing:
        print(f"cannot run: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    chosen = [BY_NAME[name] for name in args.scenario] if args.scenario else list(SCENARIOS)
    failures = 0
    for scenario in chosen:
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix=f"realpeer-out-{scenario.name}-"))
        try:
            result = run_scenario(scenario, staging)
            write_truth(result, staging, strongswan_version(result.logs["left"]))
            target = args.out / scenario.name
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(staging, target)
            print(f"{scenario.name}: ok in {time.monotonic() - started:.1f} s -> {target}")
        except (LabError, ValueError) as exc:
            failures += 1
            print(f"{scenario.name}: FAILED: {exc} (logs kept in {staging})", file=sys.stderr)
            continue
        shutil.rmtree(staging, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
