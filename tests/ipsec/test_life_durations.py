"""IKEv1 life durations of any byte length (issue 17): RFC 2409 encodes them as variable-
length attributes, so 9 or 200 bytes are legal encodings. A short one with leading zeros
is read exactly; a value beyond 2^64 - 1 is kept as MAX_LIFE_DURATION, and the SA's
settlement and export stay finite."""

from __future__ import annotations

import json
import struct

import pytest

from ipsec_inspect.export.timeline import build_timeline
from ipsec_inspect.lifecycle.suites import MAX_LIFE_DURATION
from ipsec_inspect.pipeline.session import Analysis

LINKTYPE_RAW = 101
T0 = 1_700_000_000.0
SPI_I, SPI_R = bytes.fromhex("a1a2a3a4a5a6a7a8"), bytes.fromhex("b1b2b3b4b5b6b7b8")


def _ip_udp(payload: bytes, forward: bool) -> bytes:
    a, b = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])
    src, dst = (a, b) if forward else (b, a)
    udp = struct.pack("!HHHH", 500, 500, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, src, dst)
    return ip + udp


def _main_mode_sa(life: bytes, responder: bool) -> bytes:
    attrs = b"".join(
        struct.pack("!HH", 0x8000 | t, v) for t, v in ((1, 7), (14, 128), (2, 2), (3, 1), (4, 14), (11, 1))
    ) + struct.pack("!HH", 12, len(life)) + life  # fmt: skip
    transform = struct.pack("!BBHBBH", 0, 0, 8 + len(attrs), 1, 1, 0) + attrs
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(transform), 1, 1, 0, 1) + transform
    sa = struct.pack("!BBHII", 0, 0, 12 + len(proposal), 1, 1) + proposal
    spi_r = SPI_R if responder else bytes(8)
    header = SPI_I + spi_r + struct.pack("!BBBBII", 1, 0x10, 2, 0, 0, 28 + len(sa))
    return header + sa


@pytest.mark.parametrize(
    ("life", "expected"),
    [
        ((3600).to_bytes(9, "big"), 3600),  # 9 bytes, leading zeros
        ((86400).to_bytes(64, "big"), 86400),
        (b"\x01" + bytes(199), MAX_LIFE_DURATION),  # 200 bytes: beyond any time
        (b"\xff" * 8, 2**64 - 1),
    ],
    ids=["9-bytes", "64-bytes", "200-bytes", "8-bytes-max"],
)
def test_life_duration_of_any_length(life: bytes, expected: int) -> None:
    analysis = Analysis(None, keep_index=False)
    analysis.feed_frame(1, T0, LINKTYPE_RAW, _ip_udp(_main_mode_sa(life, False), True))
    analysis.feed_frame(2, T0 + 0.01, LINKTYPE_RAW, _ip_udp(_main_mode_sa(life, True), False))
    analysis.finish()
    doc = build_timeline(analysis.result(), {"path": "life", "frames": 2}, keystore=None)
    json.dumps(doc)
    (sa,) = doc["ike_sas"]
    assert sa["lifetime_seconds"] == expected
