"""Reassembly under attack (issue 16 item 4): an RFC 8229 stream that announces 65,535-byte
messages and never completes them, and 200,000 IP fragments that never complete. Memory
stays under the named limits, time is linear, and the warnings are capped per kind."""

from __future__ import annotations

import struct
import time

from ipsec_inspect.pipeline.session import Analysis
from ipsec_inspect.sources.warning_log import MAX_WARNINGS_PER_KIND
from ipsec_inspect.wire.reassembly import (
    MAX_FRAGMENTS_PER_DATAGRAM,
    MAX_PENDING_DATAGRAMS,
    MAX_REPORTED_DROPS,
    FragmentReassembler,
)
from ipsec_inspect.wire.tcp_encap import (
    MAX_FRAMES_PER_MESSAGE,
    MAX_REPORTED_PROBLEMS,
    MAX_STREAM_BYTES,
    MAX_STREAMS,
    TcpEncapStreams,
)

LINKTYPE_RAW = 101
T0 = 1_700_000_000.0


def _ipv4_fragment(ident: int, offset8: int, more: bool, payload: bytes) -> bytes:
    flags = (0x2000 if more else 0) | offset8
    total = 20 + len(payload)
    return (
        struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, total, ident & 0xFFFF, flags, 64, 17, 0,
            bytes([192, 0, 2, 1 + (ident >> 16)]), bytes([198, 51, 100, 2]),
        )
        + payload
    )  # fmt: skip


def test_200000_fragments_that_never_complete() -> None:
    analysis = Analysis(None, keep_index=False)
    start = time.monotonic()
    n = 200_000
    udp = struct.pack("!HHHH", 500, 500, 1008, 0) + bytes(1000)  # first fragment of IKE
    for i in range(n):
        analysis.feed_frame(i + 1, T0 + i * 1e-4, LINKTYPE_RAW, _ipv4_fragment(i, 0, True, udp))
        if i % 20_000 == 0:
            reassembler = analysis.decoder.reassembler
            assert len(reassembler) <= MAX_PENDING_DATAGRAMS
            assert len(reassembler.expired) <= MAX_REPORTED_DROPS
    analysis.finish()
    elapsed = time.monotonic() - start
    lines = [p for p in analysis.problems() if "IP datagram" in p or "fragments" in p]
    assert len(lines) == MAX_WARNINGS_PER_KIND + 1
    assert lines[0] == "frame 1: IP datagram dropped, too many incomplete datagrams"
    assert (
        lines[-1]
        == f"and {n - MAX_WARNINGS_PER_KIND:,} more fragments warnings like the above (not listed)"
    )
    assert analysis.warnings.count("fragments") == n
    assert elapsed < 120  # linear: about 20 µs a fragment when the machine is idle


def test_one_datagram_with_endless_fragments() -> None:
    r = FragmentReassembler()
    key = ("192.0.2.1", "198.51.100.2", 7, 17)
    for i in range(100_000):
        assert r.add(key, T0, i + 1, (i % 8000) * 8, True, bytes(8), 28) is None
    assert len(r) <= 1
    dropped = r.flush()
    assert dropped[0][1] == f"more than {MAX_FRAGMENTS_PER_DATAGRAM} fragments"
    assert len(dropped[0][0]) == MAX_FRAGMENTS_PER_DATAGRAM + 1


def _announce(length: int, body: int) -> bytes:
    return b"IKETCP" + struct.pack("!H", length) + bytes(body)


def test_rfc8229_streams_announcing_65535_bytes_never_completed() -> None:
    """2,000 connections each announce a 65,535-byte message and send 60,000 bytes of it in
    1,000-byte segments: at most MAX_STREAM_BYTES are held at any time."""
    streams = TcpEncapStreams()
    frame = 0
    peak = 0
    for conn in range(2_000):
        key = ("192.0.2.1", 40_000 + conn, "198.51.100.2", 4500)
        data = _announce(65_535, 60_000)
        for off in range(0, len(data), 1000):
            frame += 1
            assert streams.segment(key, frame, 1 + off, 0x18, data[off : off + 1000]) == []
            peak = max(peak, streams._held)
        assert len(streams._dirs) <= MAX_STREAMS
    assert peak <= MAX_STREAM_BYTES
    problems = streams.flush()
    assert len(problems) <= MAX_REPORTED_PROBLEMS
    assert streams.unlisted_problems + len(problems) >= 2_000
    dropped = f"; dropped: streams held more than {MAX_STREAM_BYTES} bytes"
    assert problems[0] == (
        1,
        f"RFC 8229 message of 65535 bytes never completed (60002 bytes seen){dropped}",
    )
    assert streams._held == 0


def test_one_byte_segments_keep_a_bounded_frame_list() -> None:
    streams = TcpEncapStreams()
    key = ("192.0.2.1", 40_000, "198.51.100.2", 4500)
    data = _announce(65_535, 20_000)
    for i in range(len(data)):
        streams.segment(key, i + 1, 1 + i, 0x18, data[i : i + 1])
    d = streams._dirs[key]
    assert len(d.frames) <= MAX_FRAMES_PER_MESSAGE
    assert d.frames[0] == 1 and d.frames[-1] == len(data)
    ((frame, text),) = streams.flush()
    assert frame == 1
    assert text == (
        "RFC 8229 message of 65535 bytes never completed (20002 bytes seen); dropped at "
        "the end of the capture"
    )


def _tcp(seq: int, payload: bytes, flags: int = 0x18) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", 40_000, 4500, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0,
        bytes([192, 0, 2, 1]), bytes([198, 51, 100, 2]),
    )  # fmt: skip
    return ip + tcp


def test_unfinished_rfc8229_message_is_reported_at_the_end() -> None:
    """Through the whole pipeline: TCP 4500, the IKETCP prefix, a 65,535-byte message
    announced, 30,000 bytes sent in 1,000-byte segments, then nothing."""
    analysis = Analysis(None, keep_index=False)
    data = _announce(65_535, 30_000)
    analysis.feed_frame(1, T0, LINKTYPE_RAW, _tcp(999, b"", 0x02))  # SYN
    for i, off in enumerate(range(0, len(data), 1000), start=2):
        analysis.feed_frame(
            i, T0 + i * 1e-3, LINKTYPE_RAW, _tcp(1000 + off, data[off : off + 1000])
        )
    analysis.finish()
    assert analysis.records == 0  # nothing complete to dissect
    assert (
        "frame 2: RFC 8229 message of 65535 bytes never completed (30002 bytes seen); "
        "dropped at the end of the capture"
    ) in analysis.problems()
