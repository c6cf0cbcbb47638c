"""A gateway that answers every IKE_SA_INIT with N(REDIRECT) (RFC 5685 §4.1), and nothing else.

Why our own: Debian's charon has no redirect-provider plugin, so no real daemon redirects an
IKE_SA_INIT here. The answer needs no cryptography: an IKE_SA_INIT response with the
initiator's SPI, a zero responder SPI and one Notify, REDIRECT, whose data is the new
gateway's identity (type 1, IPv4) and the initiator's Nonce data (§8). A real charon initiator
(which sends REDIRECT_SUPPORTED) then follows to the new gateway, a second real charon.

    python redirector.py ADDRESS NEW_GATEWAY SECONDS

Bounded: it exits after SECONDS; it prints one line per request it answers.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import sys
import time

IKE_SA_INIT, RESPONSE, N_REDIRECT, PT_NONCE, PT_NOTIFY = 34, 0x20, 16407, 40, 41


def nonce(message: bytes) -> bytes | None:
    """The Nonce data of an IKEv2 message (walking the payload chain), or None."""
    if len(message) < 28:
        return None
    kind, at = message[16], 28
    while kind and at + 4 <= len(message):
        length = struct.unpack_from("!H", message, at + 2)[0]
        if length < 4 or at + length > len(message):
            return None
        if kind == PT_NONCE:
            return message[at + 4 : at + length]
        kind, at = message[at], at + length
    return None


def redirect(request: bytes, gateway: str) -> bytes | None:
    if len(request) < 28 or request[18] != IKE_SA_INIT or request[19] & RESPONSE:
        return None
    ni = nonce(request)
    if ni is None:
        return None
    data = bytes([1, 4]) + ipaddress.IPv4Address(gateway).packed + ni
    notify = struct.pack("!BBHBBH", 0, 0, 8 + len(data), 0, 0, N_REDIRECT) + data
    header = request[:8] + bytes(8) + bytes([PT_NOTIFY, 0x20, IKE_SA_INIT, RESPONSE])
    header += request[20:24] + struct.pack("!I", 28 + len(notify))
    return header + notify


def main(address: str, gateway: str, seconds: float) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, 500))
    print(f"listening on {address}:500", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([s], [], [], 0.2)
        if not ready:
            continue
        request, peer = s.recvfrom(65535)
        answer = redirect(request, gateway)
        if answer is not None:
            s.sendto(answer, peer)
            print(f"redirected {peer[0]}:{peer[1]} to {gateway}", flush=True)
    return 0


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(main(a[0], a[1], float(a[2])))
