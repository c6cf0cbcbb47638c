"""Check that parking half-open IKE SAs (``export --park-half-open``) never changes a byte.

Exports every capture under the given directories three ways — nothing parked (``-1``,
the tracker as before parking existed), every half-open SA parked at once (``0``: each
retransmission or answer must revive its SA exactly) and the default — with no keys and
with each ``<stem>*.toml`` key file beside the capture, also ``--include-keys`` and
``--pretty``, and compares the documents byte for byte. Exit 1 on any difference.

    PYTHONPATH=$PWD python benchmarks/compare_parked.py samples ../shared/captures
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

SUFFIXES = (".pcap", ".pcapng", ".cap", ".gz")


def _captures(roots: list[Path]) -> list[Path]:
    return sorted(p for r in roots for p in r.rglob("*") if p.is_file() and p.suffix in SUFFIXES)


def _export(capture: Path, extra: list[str], park: str, out: Path) -> tuple[int, bytes]:
    cmd = [sys.executable, "-m", "ipsec_inspect", "export", str(capture), *extra]
    cmd += ["--park-half-open", park, "-o", str(out)]
    rc = subprocess.run(cmd, capture_output=True, timeout=600).returncode
    return rc, out.read_bytes() if out.exists() else b""


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path("samples")]
    runs = differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        for cap in _captures(roots):
            stem = cap.name.split(".")[0]
            variants: list[list[str]] = [[], ["--pretty"]]
            for k in sorted(cap.parent.glob(stem + "*.toml")):
                variants += [["--keys", str(k)], ["--keys", str(k), "--include-keys"]]
            for extra in variants:
                docs = [
                    _export(cap, extra, park, Path(tmp) / f"{n}.json")
                    for n, park in enumerate(("-1", "0", "1000"))
                ]
                runs += 1
                if len(set(docs)) != 1:
                    differ += 1
                    print(f"DIFFER {cap} {' '.join(extra)}: rc {[d[0] for d in docs]}")
    print(f"{runs} exports x 3 parking settings compared, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
