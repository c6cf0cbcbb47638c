"""Generate captures with many SAs for the scale benchmarks (never committed).

Each capture is legal and what a busy or attacked headend shows:

- ``esp``: N one-packet ESP SAs (distinct SPIs) between 192.0.2.1 and 198.51.100.1, all in
  one direction — SPI attribution and settlement must cost the same per SA at any N;
- ``ike-init``: N IKE_SA_INIT requests with distinct SPIs (AES-GCM-16-256, PRF-SHA2-256,
  ECP-256, a real-sized KE and nonce) from ``--sources`` addresses of 192.0.2.0/24 and
  198.51.100.0/24 (IPv6 2001:db8::/32 above 508 sources) to a responder that never answers
  (203.0.113.2, or 2001:db8:ffff::2) — half-open IKE SAs, an IKE_SA_INIT flood.

    python benchmarks/make_sa_captures.py esp /tmp/esp-100k.pcap --sas 100000
    python benchmarks/make_sa_captures.py ike-init /tmp/init-100k.pcap --sas 100000
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

ETH4 = bytes.fromhex("0200000000020200000000010800")
ETH6 = bytes.fromhex("02000000000202000000000186dd")
ESP_A = bytes([192, 0, 2, 1])
ESP_B = bytes([198, 51, 100, 1])
RESPONDER4 = bytes([203, 0, 113, 2])
RESPONDER6 = bytes.fromhex("20010db8ffff00000000000000000002")
T0 = 1_768_471_200  # 2026-01-15T10:00:00Z
_REC = struct.Struct("<IIII")


def _checksum(hdr: bytes) -> int:
    s = sum(struct.unpack(f"!{len(hdr) // 2}H", hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src: bytes, dst: bytes, proto: int, payload: bytes, ident: int) -> bytes:
    hdr = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000, 64, proto, 0, src, dst
    )
    return hdr[:10] + struct.pack("!H", _checksum(hdr)) + hdr[12:] + payload


def ipv6(src: bytes, dst: bytes, proto: int, payload: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, 64, src, dst) + payload


def _transform(last: bool, ttype: int, tid: int, attrs: bytes = b"") -> bytes:
    return struct.pack("!BBHBBH", 0 if last else 3, 0, 8 + len(attrs), ttype, 0, tid) + attrs


def ike_sa_init_request(spi_i: bytes, n: int) -> bytes:
    """An IKEv2 IKE_SA_INIT request (RFC 7296 §1.2): SA, KE (group 19), Ni."""
    transforms = (
        _transform(False, 1, 20, struct.pack("!HH", 0x800E, 256))  # ENCR_AES_GCM_16, 256 bits
        + _transform(False, 2, 5)  # PRF_HMAC_SHA2_256
        + _transform(True, 4, 19)  # ECP-256
    )
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(transforms), 1, 1, 0, 3) + transforms
    sa = struct.pack("!BBH", 34, 0, 4 + len(proposal)) + proposal
    ke_data = (n.to_bytes(8, "big") * 8)[:64]
    ke = struct.pack("!BBHHH", 40, 0, 8 + len(ke_data), 19, 0) + ke_data
    nonce_data = (n.to_bytes(8, "big") * 4)[:32]
    nonce = struct.pack("!BBH", 0, 0, 4 + len(nonce_data)) + nonce_data
    body = sa + ke + nonce
    header = spi_i + bytes(8) + struct.pack("!BBBBII", 33, 0x20, 34, 0x08, 0, 28 + len(body))
    return header + body


def _source(i: int, sources: int) -> tuple[bytes, bool]:
    k = i % sources
    if sources <= 508:
        net = (192, 0, 2) if k < 254 else (198, 51, 100)
        return bytes([*net, k % 254 + 1]), False
    return bytes.fromhex("20010db8") + (k + 1).to_bytes(12, "big"), True


def write(out: Path, kind: str, sas: int, sources: int, interval_us: int) -> int:
    with open(out, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        chunk: list[bytes] = []
        for i in range(sas):
            if kind == "esp":
                esp = struct.pack("!II", 0x10000000 + i, 1) + (i.to_bytes(4, "big") * 8)
                frame = ETH4 + ipv4(ESP_A, ESP_B, 50, esp, i)
            else:
                spi_i = (0x5A00000000000000 + i).to_bytes(8, "big")
                ike = ike_sa_init_request(spi_i, i)
                src, v6 = _source(i, sources)
                udp = struct.pack("!HHHH", 500, 500, 8 + len(ike), 0) + ike
                frame = (
                    ETH6 + ipv6(src, RESPONDER6, 17, udp)
                    if v6
                    else ETH4 + ipv4(src, RESPONDER4, 17, udp, i)
                )
            usec = i * interval_us
            chunk.append(
                _REC.pack(T0 + usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame
            )
            if len(chunk) >= 10000:
                fh.write(b"".join(chunk))
                chunk.clear()
        fh.write(b"".join(chunk))
    return sas


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("kind", choices=["esp", "ike-init"])
    ap.add_argument("out", type=Path)
    ap.add_argument("--sas", type=int, default=100_000)
    ap.add_argument("--sources", type=int, default=500, help="ike-init: distinct sources")
    ap.add_argument("--interval-us", type=int, default=20, help="time between frames (µs)")
    args = ap.parse_args()
    n = write(args.out, args.kind, args.sas, args.sources, args.interval_us)
    print(f"wrote {n} {args.kind} frames to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
