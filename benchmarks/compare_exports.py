"""Export JSON of every sample and shared capture from two code trees, compared byte by byte.

Not a test: a check for a change that must not alter the document (compact records, faster
attribution). Each capture is exported with its keys (when a key file sits next to it) and
without, by ``python -m ipsec_inspect export`` in a fresh process per tree.

    python benchmarks/compare_exports.py --before /path/to/old/checkout
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUFFIXES = (".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz", ".cap")


def captures(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))


def keys_for(path: Path) -> list[str]:
    own = path.with_name(path.name.split(".")[0] + ".keys.toml")
    if own.exists():
        return ["--keys", str(own)]
    if (path.parent / "keys.toml").exists():
        return ["--keys", str(path.parent / "keys.toml")]
    return []


def export(tree: Path, path: Path, keys: list[str], out: Path) -> tuple[int, bytes]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", "ipsec_inspect", "export", str(path), *keys, "-o", str(out)]
    # run in the tree: ``-m`` puts the working directory first on sys.path, before PYTHONPATH
    proc = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, timeout=600)
    return proc.returncode, out.read_bytes() if out.exists() else b""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--before", type=Path, required=True, help="the old checkout")
    ap.add_argument("--after", type=Path, default=HERE.parent, help="default: this checkout")
    ap.add_argument("roots", nargs="*", type=Path, default=[HERE.parent / "samples"])
    args = ap.parse_args()
    differ = compared = 0
    with tempfile.TemporaryDirectory() as tmp:
        for root in args.roots:
            for path in captures(root.resolve()):
                for keys in ([], keys_for(path)) if keys_for(path) else ([],):
                    a = export(args.before, path, keys, Path(tmp) / "a.json")
                    b = export(args.after, path, keys, Path(tmp) / "b.json")
                    for f in ("a.json", "b.json"):
                        (Path(tmp) / f).unlink(missing_ok=True)
                    compared += 1
                    if a != b:
                        differ += 1
                        print(f"DIFFERS {path} {'with keys' if keys else 'no keys'}")
    print(f"{compared} exports compared, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
