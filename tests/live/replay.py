"""Replay a capture's frames onto an interface with scapy (run inside the sender namespace).

Usage: ``python -m tests.live.replay IFACE SRC_MAC DST_MAC CAPTURE [--repeat N] [--gap S]
[--esp-stream N]``. Ethernet frames get the veth's MAC addresses; raw-IP frames get an Ethernet
header. ``--esp-stream N`` then sends N more packets of the file's first ESP-in-UDP SA with
sequence numbers counting on from the file's — a long, well-formed stream. Prints the number of
frames sent. Bounded: ``--repeat`` times the file plus N, nothing more.
"""

from __future__ import annotations

import argparse
import struct
import sys
import time

from scapy.all import Raw, conf, sendp

from ipsec_inspect.sources.capture_file import CaptureReader

LINKTYPE_ETHERNET = 1
RAW_IP = {101, 12, 14, 228, 229}


def ethernet_frames(path: str, src: bytes, dst: bytes) -> list[bytes]:
    """The capture's frames as Ethernet frames between ``src`` and ``dst``."""
    out = []
    for _n, _t, link, data, _orig, _iface in CaptureReader(path):
        if link == LINKTYPE_ETHERNET and len(data) >= 14:
            out.append(dst + src + data[12:])
        elif link in RAW_IP and data:
            ethertype = b"\x86\xdd" if data[0] >> 4 == 6 else b"\x08\x00"
            out.append(dst + src + ethertype + data)
        else:
            raise SystemExit(f"{path}: link type {link} cannot be replayed on Ethernet")
    return out


def esp_stream(frames: list[bytes], count: int) -> list[bytes]:
    """``count`` copies of the first ESP-in-UDP/4500 IPv4 frame, sequence numbers 1000 on."""
    for f in frames:
        if f[12:14] != b"\x08\x00" or f[23] != 17:
            continue
        udp = 14 + (f[14] & 15) * 4
        if struct.unpack_from("!H", f, udp + 2)[0] != 4500 or f[udp + 8 : udp + 12] == b"\0" * 4:
            continue
        base = bytearray(f)
        base[udp + 6 : udp + 8] = b"\0\0"  # UDP checksum: none (allowed over IPv4)
        out = []
        for seq in range(1000, 1000 + count):
            struct.pack_into("!I", base, udp + 12, seq)
            out.append(bytes(base))
        return out
    raise SystemExit("no ESP-in-UDP frame to stream")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("iface")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("capture")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--esp-stream", type=int, default=0, metavar="N")
    p.add_argument("--gap", type=float, default=0.0, help="seconds between frames")
    a = p.parse_args(argv)
    frames = ethernet_frames(a.capture, bytes.fromhex(a.src.replace(":", "")),
                             bytes.fromhex(a.dst.replace(":", "")))  # fmt: skip
    sent = 0
    if a.gap:
        for _ in range(a.repeat):
            for f in frames:
                sendp(Raw(f), iface=a.iface, verbose=False)
                sent += 1
                time.sleep(a.gap)
    else:
        sock = conf.L2socket(iface=a.iface)
        try:
            for _ in range(a.repeat):
                sendp([Raw(f) for f in frames], iface=a.iface, verbose=False, socket=sock)
                sent += len(frames)
            stream = esp_stream(frames, a.esp_stream) if a.esp_stream else []
            for start in range(0, len(stream), 1000):
                chunk = stream[start : start + 1000]
                sendp([Raw(f) for f in chunk], iface=a.iface, verbose=False, socket=sock)
                sent += len(chunk)
        finally:
            sock.close()
    print(sent)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
