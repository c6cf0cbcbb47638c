"""Generate the scale-out benchmark's capture: many tunnels, many SAs, cut into files.

``--tunnels`` gateway pairs (10 by default, 192.0.2.x <-> 198.51.100.x), each with two child
SAs in both directions (40 ESP SAs by default), AES-GCM-16 and AES-CBC + HMAC-SHA1-96 in
turn, real encryption from ``cryptography``; packets interleave across tunnels in time
order, as a busy gateway's capture does. Written as one large pcap and, cut by time into
``--files`` files, as a ring would leave them (``ring-00.pcap`` …). Keys in the project's
TOML and as a Wireshark ``esp_sa`` file, so tshark decrypts the same traffic. Never
committed.

    python benchmarks/make_scaleout_capture.py /tmp/scale --packets 2000000 --files 16
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_esp_capture import CbcSa, GcmSa, inner_udp, ipv4

T0 = 1_768_471_200  # 2026-01-15T10:00:00Z


def _sas(tunnels: int) -> list[tuple[GcmSa | CbcSa, bytes, bytes]]:
    out: list[tuple[GcmSa | CbcSa, bytes, bytes]] = []
    for t in range(tunnels):
        a, b = bytes([192, 0, 2, 10 + t]), bytes([198, 51, 100, 10 + t])
        for k in range(4):  # two child SAs, both directions
            spi = 0xA0000000 | (t << 8) | k
            key = bytes((t * 16 + k * 4 + i) % 256 for i in range(16))
            src, dst = (a, b) if k % 2 == 0 else (b, a)
            if k < 2:
                out.append((GcmSa(spi, key, bytes([t, k, 1, 2])), src, dst))
            else:
                out.append((CbcSa(spi, key, bytes((i + t + k) % 256 for i in range(20))), src, dst))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("out", type=Path, help="folder to write into")
    ap.add_argument("--packets", type=int, default=2_000_000)
    ap.add_argument("--tunnels", type=int, default=10)
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--size", type=int, default=64, help="inner UDP payload bytes (default 64)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ring = args.out / "ring"
    ring.mkdir(exist_ok=True)
    sas = _sas(args.tunnels)
    seqs = [0] * len(sas)
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    rec = struct.Struct("<IIII")
    eth = bytes.fromhex("0200000000020200000000010800")
    per_file = -(-args.packets // args.files)
    whole = open(args.out / "one.pcap", "wb")  # noqa: SIM115 - closed below
    whole.write(header)
    part = None
    chunk: list[bytes] = []
    for n in range(args.packets):
        if n % per_file == 0:
            if part is not None:
                part.write(b"".join(chunk))
                whole.write(b"".join(chunk))
                chunk.clear()
                part.close()
            part = open(ring / f"ring-{n // per_file:02d}.pcap", "wb")  # noqa: SIM115
            part.write(header)
        i = (n * 7) % len(sas)  # a fixed interleaving that visits every SA
        sa, src, dst = sas[i]
        seqs[i] += 1
        esp = sa.encrypt(
            seqs[i], inner_udp(bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), n, args.size)
        )
        frame = eth + ipv4(src, dst, 50, esp, n)
        usec = n * 50
        chunk.append(
            rec.pack(T0 + usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame
        )
        if len(chunk) >= 20000:
            assert part is not None
            blob = b"".join(chunk)
            part.write(blob)
            whole.write(blob)
            chunk.clear()
    assert part is not None
    blob = b"".join(chunk)
    part.write(blob)
    whole.write(blob)
    part.close()
    whole.close()

    toml_rows, ws_rows = [], []
    for sa, src, dst in sas:
        s, d = ".".join(map(str, src)), ".".join(map(str, dst))
        if isinstance(sa, GcmSa):
            toml_rows.append(
                f'[[esp]]\nspi = "{sa.spi:08x}"\nsrc = "{s}"\ndst = "{d}"\nencryption = "ENCR_AES_GCM_16"\nencryption_key = "{(sa.key + sa.salt).hex()}"\nintegrity = "AUTH_NONE"\nintegrity_key = ""\n'
            )
            ws_rows.append(
                f'"IPv4","{s}","{d}","0x{sa.spi:08x}","AES-GCM with 16 octet ICV [RFC4106]","0x{(sa.key + sa.salt).hex()}","NULL",""'
            )
        else:
            toml_rows.append(
                f'[[esp]]\nspi = "{sa.spi:08x}"\nsrc = "{s}"\ndst = "{d}"\nencryption = "ENCR_AES_CBC"\nencryption_key = "{sa.key.hex()}"\nintegrity = "AUTH_HMAC_SHA1_96"\nintegrity_key = "{sa.auth_key.hex()}"\n'
            )
            ws_rows.append(
                f'"IPv4","{s}","{d}","0x{sa.spi:08x}","AES-CBC [RFC3602]","0x{sa.key.hex()}","HMAC-SHA-1-96 [RFC2404]","0x{sa.auth_key.hex()}"'
            )
    (args.out / "keys.toml").write_text("\n".join(toml_rows))
    (args.out / "esp_sa").write_text("\n".join(ws_rows) + "\n")
    print(
        f"wrote {args.packets} packets ({len(sas)} SAs, {args.tunnels} tunnels) to "
        f"{args.out / 'one.pcap'} and {args.files} files in {ring}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
