"""Builders of hostile and damaged capture files, shared by the robustness tests.

Why a module of its own: the same crafted files (a timestamp of year 508,989, a block
length of 0xFFFFFFF0, a gzip bomb) are read by the reader tests, every command's test and
the fuzzer's regression tests, and each must be exactly reproducible.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

from ipsec_inspect.sources.capture_file import CaptureReader

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
TUNNEL = SAMPLES / "ikev2-tunnel.pcapng"  # IKEv2 + ESP, 43 frames, with keys
TUNNEL_KEYS = SAMPLES / "ikev2-tunnel.keys.toml"
YEAR_508989_US = 16_000_000_000_000_000_000  # the timestamp, in microseconds


def frames_of(path: Path) -> list[tuple[int, float, int, bytes, int, int]]:
    with CaptureReader(path) as reader:
        return list(reader)


def block(btype: int, body: bytes, e: str = "<") -> bytes:
    body += b"\x00" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def option(code: int, value: bytes, e: str = "<") -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def shb(e: str = "<") -> bytes:
    return block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)


def idb(
    link_type: int = 1,
    tsresol: int | None = None,
    tsoffset: int | None = None,
    snaplen: int = 0,
    e: str = "<",
) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += option(9, bytes([tsresol]), e)
    if tsoffset is not None:
        opts += option(14, struct.pack(e + "q", tsoffset), e)
    if opts:
        opts += option(0, b"", e)
    return block(1, struct.pack(e + "HHI", link_type, 0, snaplen) + opts, e)


def epb(ticks: int, data: bytes, iface: int = 0, e: str = "<") -> bytes:
    ticks &= 0xFFFFFFFFFFFFFFFF
    head = struct.pack(e + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data))
    return block(6, head + data, e)


def pcapng_file(
    frames: Iterable[tuple[int, bytes]],
    link_type: int = 1,
    tsresol: int | None = None,
    tsoffset: int | None = None,
) -> bytes:
    """One section, one interface; frames as (timestamp in interface units, bytes)."""
    return shb() + idb(link_type, tsresol, tsoffset) + b"".join(epb(t, d) for t, d in frames)


def pcap_file(
    records: Iterable[tuple[int, int, bytes]], link_type: int = 1, snaplen: int = 65535
) -> bytes:
    """A microsecond pcap; records as (seconds, fraction, bytes), fields written as given."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, link_type)]
    for sec, frac, data in records:
        out.append(struct.pack("<IIII", sec, frac, len(data), len(data)) + data)
    return b"".join(out)


def tunnel_with_times(
    times: Sequence[int | None],
    tsresol: int | None = None,
    tsoffset: int | None = None,
) -> bytes:
    """The IKEv2 tunnel sample rewritten as a one-interface pcapng whose frame ``i`` has
    raw timestamp ``times[i]`` (interface units) where given, its own time (in
    microseconds) elsewhere."""
    out = []
    for i, (_n, t, _lt, data, _o, _if) in enumerate(frames_of(TUNNEL)):
        raw = times[i] if i < len(times) and times[i] is not None else round(t * 1e6)
        out.append((raw, data))
    return pcapng_file(out, tsresol=tsresol, tsoffset=tsoffset)


def year_508989_at_frame_7() -> bytes:
    """The reproduction of issue 17: frame 7's 64-bit timestamp is 1.6e19 µs."""
    times: list[int | None] = [None] * 6 + [YEAR_508989_US]
    return tunnel_with_times(times)


def gzip_bomb(header: bytes, zeros: int) -> bytes:
    """``header`` (a valid capture start) then ``zeros`` zero bytes (rounded up to MiB),
    gzip-compressed: one member for the header, then the same 1 MiB-of-zeros member
    repeated (concatenated members are one gzip stream), so building it costs nothing."""
    zero_member = gzip.compress(bytes(1 << 20), compresslevel=9)
    return gzip.compress(header) + zero_member * -(-zeros // (1 << 20))
