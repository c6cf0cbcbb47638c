"""Check that keeping half-open IKE SAs compact (``--compact-half-open``) never changes a byte.

Runs ``export`` and ``summary`` on every capture under the given directories with
compaction on and off, under the default cap, with no cap (``--max-sas 0``: everything
parked beyond ``--park-half-open``, and ``--park-half-open 0``: everything parked at
once) and with a small cap (``--max-sas 5``: compact SAs evicted), with no keys and with
each ``<stem>*.toml`` key file beside the capture, and compares the outputs byte for byte.
Exit 1 on any difference. In one process (``cli.main``), so it runs in minutes.

    PYTHONPATH=$PWD python benchmarks/compare_compact.py samples ../shared/captures /tmp/floods
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

from ipsec_inspect.cli import main as cli

SUFFIXES = (".pcap", ".pcapng", ".cap", ".gz")
CAPS = (["--max-sas", "5"], [], ["--max-sas", "0"], ["--max-sas", "0", "--park-half-open", "0"])


def _captures(roots: list[Path]) -> list[Path]:
    return sorted(p for r in roots for p in r.rglob("*") if p.is_file() and p.suffix in SUFFIXES)


def _run(argv: list[str], out: Path | None) -> tuple[int, bytes]:
    text, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(err):
        try:
            rc = cli(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
    body = out.read_bytes() if out is not None and out.exists() else text.getvalue().encode()
    return rc, body + b"\0" + err.getvalue().encode()


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path("samples")]
    runs = differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        for cap in _captures(roots):
            stem = cap.name.split(".")[0]
            keys: list[list[str]] = [[]]
            keys += [["--keys", str(k)] for k in sorted(cap.parent.glob(stem + "*.toml"))]
            for extra in keys:
                for caps in CAPS:
                    for command in ("export", "summary"):
                        docs = []
                        for compact in ("on", "off"):
                            out = Path(tmp) / f"{compact}.json"
                            out.unlink(missing_ok=True)
                            args = [command, str(cap), *extra, *caps, "--compact-half-open"]
                            args.append(compact)
                            if command == "export":
                                args += ["-o", str(out)]
                            elif "--park-half-open" in caps:
                                continue  # an export option
                            docs.append(_run(args, out if command == "export" else None))
                        if not docs:
                            continue
                        runs += 1
                        if docs[0] != docs[1]:
                            differ += 1
                            print(f"DIFFER {command} {cap} {' '.join(extra + caps)}", flush=True)
    print(f"{runs} runs x compaction on/off compared, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
