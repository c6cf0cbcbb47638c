"""Generate a busy headend's day for the scale benchmarks (never committed).

Issue 16: "1,000 tunnels rekeyed hourly is 48,000 child SAs". Unlike the floods of
``make_sa_captures.py`` every SA here is negotiated in the capture, so none may be evicted:
what must stay constant per SA is the cost of attributing SPIs to child SAs negotiated
without keys (by timing and addresses), of rekeys, and of settlement.

Each tunnel, from its own initiator (192.0.2.0/24, 198.51.100.0/24, then 2001:db8::/32) to
the responder 203.0.113.1 (or 2001:db8:ffff::1): IKE_SA_INIT in clear, IKE_AUTH
(encrypted), then per round three ESP packets each way on the current SPIs, a
CREATE_CHILD_SA (encrypted: a child SA rekey) and the INFORMATIONAL deleting the old child
SA; after the last round an INFORMATIONAL deleting the IKE SA. Rounds interleave the tunnels,
as a headend sees them. Frames are 1 ms apart.

    python benchmarks/make_headend_capture.py /tmp/headend-48k.pcap --child-sas 48000
"""

from __future__ import annotations

import argparse
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

from make_sa_captures import ETH4, ETH6, ike_sa_init_request, ipv4, ipv6

RESPONDER4 = bytes([203, 0, 113, 1])
RESPONDER6 = bytes.fromhex("20010db8ffff00000000000000000001")
T0 = 1_768_471_200  # 2026-01-15T10:00:00Z
_REC = struct.Struct("<IIII")
IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL = 34, 35, 36, 37


def _initiator(k: int) -> tuple[bytes, bool]:
    if k < 508:
        net = (192, 0, 2) if k < 254 else (198, 51, 100)
        return bytes([*net, k % 254 + 1]), False
    return bytes.fromhex("20010db8") + (k + 1).to_bytes(12, "big"), True


def _ike(spi_i: bytes, spi_r: bytes, exchange: int, flags: int, mid: int, size: int) -> bytes:
    """An IKEv2 message whose only payload is SK (encrypted): ``size`` bytes of it."""
    body = struct.pack("!BBH", 0, 0, 4 + size) + bytes((mid + i) & 0xFF for i in range(size))
    header = spi_i + spi_r + struct.pack("!BBBBII", 46, 0x20, exchange, flags, mid, 28 + len(body))
    return header + body


def _init_response(spi_i: bytes, spi_r: bytes, k: int) -> bytes:
    req = ike_sa_init_request(spi_i, k)
    return spi_i + spi_r + req[16:19] + bytes([0x20]) + req[20:]  # flags: response


#: one frame of a tunnel: (sent by the initiator, IP protocol, the IKE message or ESP packet)
Frame = tuple[bool, int, bytes]
UDP, ESP = 17, 50


def _tunnel_frames(k: int, rounds: int) -> Iterator[list[Frame]]:
    """Tunnel ``k``'s frames, one list per step: the set-up, each round, the end."""
    spi_i = (0x1E00000000000000 + k).to_bytes(8, "big")
    spi_r = (0x2E00000000000000 + k).to_bytes(8, "big")
    init_req = ike_sa_init_request(spi_i, k)
    yield [
        (True, UDP, init_req),
        (False, UDP, _init_response(spi_i, spi_r, k)),
        (True, UDP, _ike(spi_i, spi_r, IKE_AUTH, 0x08, 1, 380)),
        (False, UDP, _ike(spi_i, spi_r, IKE_AUTH, 0x20, 1, 300)),
    ]
    mid = 2
    for r in range(rounds):
        base = 0xC0000000 + (k * rounds + r) * 2
        step: list[Frame] = []
        for seq in (1, 2, 3):
            step.append((True, ESP, struct.pack("!II", base + 1, seq) + bytes(48)))
            step.append((False, ESP, struct.pack("!II", base, seq) + bytes(48)))
        if r < rounds - 1:
            step.append((True, UDP, _ike(spi_i, spi_r, CREATE_CHILD_SA, 0x08, mid, 220)))
            step.append((False, UDP, _ike(spi_i, spi_r, CREATE_CHILD_SA, 0x20, mid, 200)))
            step.append((True, UDP, _ike(spi_i, spi_r, INFORMATIONAL, 0x08, mid + 1, 60)))
            step.append((False, UDP, _ike(spi_i, spi_r, INFORMATIONAL, 0x20, mid + 1, 60)))
            mid += 2
        yield step
    yield [
        (True, UDP, _ike(spi_i, spi_r, INFORMATIONAL, 0x08, mid, 60)),
        (False, UDP, _ike(spi_i, spi_r, INFORMATIONAL, 0x20, mid, 60)),
    ]


def _frame(k: int, from_initiator: bool, proto: int, payload: bytes, ident: int) -> bytes:
    ini, v6 = _initiator(k)
    res = RESPONDER6 if v6 else RESPONDER4
    src, dst = (ini, res) if from_initiator else (res, ini)
    data = payload
    if proto == UDP:
        data = struct.pack("!HHHH", 500, 500, 8 + len(payload), 0) + payload
    return ETH6 + ipv6(src, dst, proto, data) if v6 else ETH4 + ipv4(src, dst, proto, data, ident)


def write(out: Path, child_sas: int, per_tunnel: int) -> tuple[int, int]:
    tunnels = max(1, -(-child_sas // per_tunnel))
    rounds = max(1, child_sas // tunnels)
    frames = 0
    with open(out, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        steps = [_tunnel_frames(k, rounds) for k in range(tunnels)]
        chunk: list[bytes] = []
        for _ in range(rounds + 2):
            for k, tunnel in enumerate(steps):
                for from_initiator, proto, payload in next(tunnel):
                    frame = _frame(k, from_initiator, proto, payload, frames)
                    usec = frames * 1000
                    chunk.append(
                        _REC.pack(T0 + usec // 1_000_000, usec % 1_000_000, len(frame), len(frame))
                        + frame
                    )
                    frames += 1
                if len(chunk) >= 10000:
                    fh.write(b"".join(chunk))
                    chunk.clear()
        fh.write(b"".join(chunk))
    return tunnels, frames


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("out", type=Path)
    ap.add_argument("--child-sas", type=int, default=48_000)
    ap.add_argument("--per-tunnel", type=int, default=48, help="child SAs per tunnel (rounds)")
    args = ap.parse_args()
    tunnels, frames = write(args.out, args.child_sas, args.per_tunnel)
    print(f"wrote {tunnels} tunnels, {frames} frames to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
