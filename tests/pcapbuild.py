"""Tiny pcap / pcapng writers for tests: exact control over headers, byte order and damage.

Why not scapy's writers: tests need files scapy will not write (big-endian pcap,
nanosecond pcap, several pcapng interfaces with their own link types and resolutions,
simple packet blocks, truncated records).
"""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path


def pcap(
    frames: Iterable[tuple[float, bytes]],
    link_type: int = 1,
    *,
    big_endian: bool = False,
    nano: bool = False,
    snaplen: int = 65535,
) -> bytes:
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, link_type)]
    scale = 1_000_000_000 if nano else 1_000_000
    for t, data in frames:
        sec = int(t)
        frac = round((t - sec) * scale)
        out.append(struct.pack(e + "IIII", sec, frac, len(data), len(data)) + data)
    return b"".join(out)


def _block(e: str, btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def _option(e: str, code: int, value: bytes) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def pcapng(
    interfaces: Sequence[tuple[int, int | None]],
    packets: Iterable[tuple[int, int, bytes]],
    *,
    big_endian: bool = False,
    extra_blocks: Sequence[tuple[int, bytes]] = (),
    simple: Sequence[bytes] = (),
) -> bytes:
    """interfaces: (link_type, tsresol byte or None); packets: (iface, timestamp units, data)."""
    e = ">" if big_endian else "<"
    out = [_block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for link_type, tsresol in interfaces:
        opts = b""
        if tsresol is not None:
            opts += _option(e, 9, bytes([tsresol]))
        opts += _option(e, 0, b"")
        out.append(_block(e, 1, struct.pack(e + "HHI", link_type, 0, 0) + opts))
    for btype, body in extra_blocks:
        out.append(_block(e, btype, body))
    for iface, ts, data in packets:
        out.append(
            _block(
                e,
                6,
                struct.pack(e + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
                + data,
            )
        )
    for data in simple:
        out.append(_block(e, 3, struct.pack(e + "I", len(data)) + data))
    return b"".join(out)


def bulk_esp_capture(out: Path, packets: int) -> Path:
    """The benchmark's ESP capture (4 SAs, AES-GCM and AES-CBC + HMAC-SHA1, with real
    crypto) with ``packets`` packets, its keys beside it (``.keys.toml``, ``.esp_sa``)."""
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            str(root / "benchmarks" / "make_esp_capture.py"),
            str(out),
            "--packets",
            str(packets),
        ],
        check=True,
        capture_output=True,
    )
    return out
