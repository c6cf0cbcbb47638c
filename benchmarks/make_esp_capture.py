"""Generate a large ESP capture for the benchmarks (never committed).

Two tunnel-mode SAs in each direction between 192.0.2.1 and 198.51.100.1: one AES-GCM-16
(128-bit) and one AES-CBC-128 + HMAC-SHA1-96, with real encryption from ``cryptography``,
so that the same file serves the dissection benchmark (``summary``) and the decryption
benchmark. The keys are written next to the capture in the project's TOML format and as
a Wireshark ``esp_sa`` file, so tshark can decrypt the same file.

    python benchmarks/make_esp_capture.py /tmp/esp-1m.pcap --packets 1000000
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ETH = bytes.fromhex("0200000000020200000000010800")
ETH_BACK = bytes.fromhex("0200000000010200000000020800")
A = bytes([192, 0, 2, 1])
B = bytes([198, 51, 100, 1])
INNER_A = bytes([203, 0, 113, 1])
INNER_B = bytes([203, 0, 113, 2])


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


def inner_udp(src: bytes, dst: bytes, n: int, size: int) -> bytes:
    body = (n.to_bytes(8, "big") * (size // 8 + 1))[:size]
    udp = struct.pack("!HHHH", 5000, 5001, 8 + len(body), 0) + body
    return ipv4(src, dst, 17, udp, n)


def pad(payload: bytes, block: int) -> bytes:
    padlen = (-(len(payload) + 2)) % block
    return payload + bytes(range(1, padlen + 1)) + bytes([padlen, 4])


class GcmSa:
    def __init__(self, spi: int, key: bytes, salt: bytes) -> None:
        self.spi, self.key, self.salt = spi, key, salt
        self.aead = AESGCM(key)

    def encrypt(self, seq: int, inner: bytes) -> bytes:
        hdr = struct.pack("!II", self.spi, seq)
        iv = seq.to_bytes(8, "big")
        ct = self.aead.encrypt(self.salt + iv, pad(inner, 4), hdr)
        return hdr + iv + ct


class CbcSa:
    def __init__(self, spi: int, key: bytes, auth_key: bytes) -> None:
        self.spi, self.key, self.auth_key = spi, key, auth_key
        self.cipher = Cipher(algorithms.AES(key), modes.ECB())

    def encrypt(self, seq: int, inner: bytes) -> bytes:
        hdr = struct.pack("!II", self.spi, seq)
        iv = os.urandom(16)
        enc = Cipher(algorithms.AES(self.key), modes.CBC(iv)).encryptor()
        ct = enc.update(pad(inner, 16)) + enc.finalize()
        h = hmac.HMAC(self.auth_key, hashes.SHA1())
        h.update(hdr + iv + ct)
        return hdr + iv + ct + h.finalize()[:12]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("out", type=Path)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=100, help="inner UDP payload bytes (default 100)")
    args = ap.parse_args()

    sas = [
        (GcmSa(0xC0000001, bytes(range(16)), b"\x01\x02\x03\x04"), A, B, ETH),
        (GcmSa(0xC0000002, bytes(range(16, 32)), b"\x05\x06\x07\x08"), B, A, ETH_BACK),
        (CbcSa(0xC0000003, bytes(range(32, 48)), bytes(range(48, 68))), A, B, ETH),
        (CbcSa(0xC0000004, bytes(range(68, 84)), bytes(range(84, 104))), B, A, ETH_BACK),
    ]
    seqs = [0, 0, 0, 0]
    t0 = 1_768_471_200  # 2026-01-15T10:00:00Z
    with open(args.out, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        rec = struct.Struct("<IIII")
        chunk: list[bytes] = []
        for n in range(args.packets):
            i = n % 4
            sa, src, dst, eth = sas[i]
            seqs[i] += 1
            isrc, idst = (INNER_A, INNER_B) if src == A else (INNER_B, INNER_A)
            esp = sa.encrypt(seqs[i], inner_udp(isrc, idst, n, args.size))
            frame = eth + ipv4(src, dst, 50, esp, n)
            usec = n * 100
            chunk.append(
                rec.pack(t0 + usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame
            )
            if len(chunk) >= 10000:
                fh.write(b"".join(chunk))
                chunk.clear()
        fh.write(b"".join(chunk))

    keys = args.out.with_suffix(".keys.toml")
    esp_sa = args.out.with_suffix(".esp_sa")
    toml_rows, ws_rows = [], []
    for sa, src, dst, _eth in sas:
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
    keys.write_text("\n".join(toml_rows))
    esp_sa.write_text("\n".join(ws_rows) + "\n")
    print(
        f"wrote {args.packets} packets to {args.out}, keys to {keys} and {esp_sa}", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
