"""Write every sample into a directory (``samples/`` by default).

Why one entry point: the test suite regenerates into a temporary directory and compares
bytes with the committed files, which proves the generator is the samples' only source.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python samples/generator/generate.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "samples.generator"

from samples.generator import (
    ah,
    esp_algorithms,
    ikev1_main_quick,
    ikev2_tunnel,
    malformed,
    wire_variety,
)

SCENARIOS: list[Callable[[], dict[str, bytes]]] = [
    ikev2_tunnel.build,
    ikev1_main_quick.build,
    esp_algorithms.build,
    ah.build,
    wire_variety.build,
    malformed.build,
]

DEFAULT_OUT = Path(__file__).resolve().parents[1]


def generate(out: Path) -> list[Path]:
    """Build every scenario and write its files under ``out``; returns the paths written."""
    written = []
    for build in SCENARIOS:
        for name, data in build().items():
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else DEFAULT_OUT
    for path in generate(out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
