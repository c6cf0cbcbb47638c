"""Issue 18 "Live": at 20,000 SPIs every frame received is analysed or counted as dropped,
at each stage (kernel, our queue), and the totals add up. The analysis of 20,000 new SPIs
is slower than the sender, so a backlog is queued when the capture stops: those frames
were once neither delivered nor dropped; now they are ``queue_dropped``.

Bounded: 40,000 frames sent once, ``--duration`` on sniff, SIGTERM right after the send.
"""

from __future__ import annotations

import signal
import struct
from pathlib import Path

import pytest

from tests.live.netns import VethPair
from tests.live.sniffing import finish_sniff, replay, start_sniff

SPIS = 20_000
ROUNDS = 2


def _esp_capture(path: Path) -> int:
    """An Ethernet pcap: one ESP packet per SPI, ``ROUNDS`` rounds (sequence 1, 2, ...)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    n = 0
    for seq in range(1, ROUNDS + 1):
        for spi in range(0x10000, 0x10000 + SPIS):
            esp = struct.pack("!II", spi, seq) + bytes(48)
            ip = struct.pack(
                "!BBHHHBBH4s4s", 0x45, 0, 20 + len(esp), n & 0xFFFF, 0, 64, 50, 0,
                bytes([192, 0, 2, 1]), bytes([198, 51, 100, 2]),
            )  # fmt: skip
            frame = eth + ip + esp
            out.append(
                struct.pack("<IIII", 1_700_000_000 + n // 1000, n % 1000, len(frame), len(frame))
            )
            out.append(frame)
            n += 1
    path.write_bytes(b"".join(out))
    return n


def _backlog_drops() -> int:
    """Frames the kernel dropped from its per-CPU input backlog (before any socket), all
    namespaces together: /proc/net/softnet_stat, second column."""
    with open("/proc/net/softnet_stat") as fh:
        return sum(int(line.split()[1], 16) for line in fh if line.strip())


def test_twenty_thousand_spis_every_frame_accounted(
    veth: VethPair, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    capture = tmp_path / "spis.pcap"
    total = _esp_capture(capture)
    process, out, err = start_sniff(veth, tmp_path, "--duration", "55")
    backlog = _backlog_drops()
    sent = replay(veth, capture)
    process.send_signal(signal.SIGTERM)  # at once: whatever is still queued is a backlog
    live = finish_sniff(veth, process, out, err)
    c = live.document["capture"]["live"]
    record_property("counters", c)
    print(f"{sent} frames over {SPIS} SPIs: {c}")
    assert sent == total
    assert live.returncode == 0, live.stderr
    # every frame the kernel accepted was analysed or counted at our queue ...
    assert c["received"] == c["delivered"] + c["queue_dropped"]
    # ... and every frame sent was accepted or counted as a kernel drop (frames the kernel
    # dropped before any socket, from its input backlog, are counted there, system-wide)
    missing = sent - (c["received"] + c["kernel_dropped"] + c["interface_dropped"])
    assert 0 <= missing <= _backlog_drops() - backlog
    # delivered means analysed: one ESP record per frame
    assert live.document["capture"]["esp_packets"] == c["delivered"]
    assert (
        f"dropped: kernel {c['kernel_dropped']}, backend 0, interface 0, "
        f"queue {c['queue_dropped']} (received at the stop, not analysed)"
    ) in live.stderr
