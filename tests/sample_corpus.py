"""Where the captures for corpus-wide tests live: ``samples/`` and ``../shared/captures``.

Why a module: the ESP/AH conformance test and the robustness test walk the same corpus, and
capture files are recognised by their magic bytes (the shared folders also hold readmes,
key tables and expected-output files).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SHARED_CAPTURES = ROOT / ".." / "shared" / "captures"

_MAGICS = (
    b"\xd4\xc3\xb2\xa1",  # pcap, little-endian, microseconds
    b"\xa1\xb2\xc3\xd4",  # pcap, big-endian, microseconds
    b"\x4d\x3c\xb2\xa1",  # pcap, little-endian, nanoseconds
    b"\xa1\xb2\x3c\x4d",  # pcap, big-endian, nanoseconds
    b"\x0a\x0d\x0d\x0a",  # pcapng section header
)


def is_capture(path: Path) -> bool:
    """A pcap, pcapng or gzip file (Wireshark's test captures are .pcapng.gz)."""
    with path.open("rb") as fh:
        head = fh.read(4)
    return head in _MAGICS or head[:2] == b"\x1f\x8b"


def _captures_under(root: Path, skip: tuple[str, ...] = ()) -> list[Path]:
    if not root.is_dir():
        return []
    return [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not set(p.relative_to(root).parts) & set(skip) and is_capture(p)
    ]


def sample_captures() -> list[Path]:
    """The generated samples (the real-peer engineer's ``samples/realpeer`` included)."""
    return _captures_under(SAMPLES, skip=("generator", "__pycache__"))


def shared_captures() -> list[Path]:
    return _captures_under(SHARED_CAPTURES)


def label(path: Path) -> str:
    """A stable short name: ``samples/x.pcap`` or ``shared/folder/x.pcap``."""
    resolved = path.resolve()
    for base, name in ((SAMPLES.resolve(), "samples"), (SHARED_CAPTURES.resolve(), "shared")):
        if resolved.is_relative_to(base):
            return f"{name}/{resolved.relative_to(base).as_posix()}"
    return path.name
