"""Bounded test traffic through the tunnel: ICMP echo and a UDP echo server/client.

Why our own: it must stop by itself (a fixed number of packets and a deadline) so a lost packet
can never hang a scenario, it must bind the inner tunnel addresses explicitly, and it must not
depend on iputils being installed. The harness runs this file inside the namespaces:

    python traffic.py ping SRC DST COUNT TIMEOUT          prints the number of echo replies
    python traffic.py udp-server ADDR PORT COUNT TIMEOUT  echoes COUNT datagrams, prints them
    python traffic.py udp-client SRC DST PORT COUNT TIMEOUT  prints the number of echoes
    python traffic.py half-open SRC SPORT DST TIMEOUT      sends one IKE_SA_INIT request that is
                                                           never followed up, prints the reply size
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import time

ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0
INTERVAL = 0.2  # seconds between echo requests


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _echo_request(ident: int, sequence: int) -> bytes:
    payload = f"ipsec-inspect realpeer icmp echo {sequence:03d}".encode()
    header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, sequence)
    checksum = _checksum(header + payload)
    return struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, checksum, ident, sequence) + payload


def ping(source: str, target: str, count: int, timeout: float) -> int:
    """Send ``count`` echo requests from ``source``; count the matching replies."""
    ident = os.getpid() & 0xFFFF
    replies: set[int] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.bind((source, 0))
        for sequence in range(1, count + 1):
            sock.sendto(_echo_request(ident, sequence), (target, 0))
            deadline = time.monotonic() + (timeout if sequence == count else INTERVAL)
            while time.monotonic() < deadline and len(replies) < count:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    packet, (sender, _) = sock.recvfrom(2048)
                except TimeoutError:
                    break
                header_len = (packet[0] & 0x0F) * 4 if packet else 0
                icmp = packet[header_len : header_len + 8]
                if sender != target or len(icmp) < 8:
                    continue
                kind, _, _, reply_ident, reply_seq = struct.unpack("!BBHHH", icmp)
                if kind == ICMP_ECHO_REPLY and reply_ident == ident:
                    replies.add(reply_seq)
            if len(replies) == count:
                break
    return len(replies)


def udp_server(address: str, port: int, count: int, timeout: float) -> int:
    """Echo up to ``count`` datagrams received before the deadline."""
    deadline = time.monotonic() + timeout
    echoed = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, port))
        while echoed < count and time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data, peer = sock.recvfrom(2048)
            except TimeoutError:
                break
            sock.sendto(data, peer)
            echoed += 1
    return echoed


def udp_client(source: str, target: str, port: int, count: int, timeout: float) -> int:
    """Send ``count`` datagrams one at a time; count the identical echoes."""
    received = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout)
        for number in range(count):
            payload = f"ipsec-inspect realpeer udp echo {number:03d}".encode()
            sock.sendto(payload, (target, port))
            try:
                data, _ = sock.recvfrom(2048)
            except TimeoutError:
                continue
            received += data == payload
    return received


def _payload(next_payload: int, body: bytes) -> bytes:
    return struct.pack("!BBH", next_payload, 0, 4 + len(body)) + body


def half_open_init(source: str, sport: int, target: str, timeout: float) -> int:
    """One IKEv2 IKE_SA_INIT request (AES-CBC-128, HMAC-SHA2-256, MODP-2048, random KE and
    nonce) from ``source``:``sport`` that is never followed by IKE_AUTH: the responder keeps a
    half-open IKE SA, which is what makes a cookie threshold of 1 ask the next initiator for a
    COOKIE. Returns the size of the reply (0 when none came)."""
    transforms = [
        (1, 12, struct.pack("!HH", 0x800E, 128)),  # ENCR_AES_CBC, Key Length 128
        (2, 5, b""),  # PRF_HMAC_SHA2_256
        (3, 12, b""),  # AUTH_HMAC_SHA2_256_128
        (4, 14, b""),  # MODP-2048
    ]
    body = b""
    for n, (kind, ident, attrs) in enumerate(transforms):
        last = 0 if n == len(transforms) - 1 else 3
        body += struct.pack("!BBHBBH", last, 0, 8 + len(attrs), kind, 0, ident) + attrs
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(body), 1, 1, 0, len(transforms)) + body
    payloads = (
        _payload(34, proposal)  # SA, next KE
        + _payload(40, struct.pack("!HH", 14, 0) + os.urandom(256))  # KE, next Nonce
        + _payload(0, os.urandom(32))  # Nonce
    )
    header = struct.pack(
        "!8s8sBBBBII", os.urandom(8), bytes(8), 33, 0x20, 34, 0x08, 0, 28 + len(payloads)
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, sport))
        sock.settimeout(timeout)
        sock.sendto(header + payloads, (target, 500))
        try:
            reply, _ = sock.recvfrom(4096)
        except TimeoutError:
            return 0
    return len(reply)


def main(argv: list[str]) -> int:
    match argv:
        case ["ping", source, target, count, timeout]:
            print(ping(source, target, int(count), float(timeout)))
        case ["udp-server", address, port, count, timeout]:
            print(udp_server(address, int(port), int(count), float(timeout)))
        case ["udp-client", source, target, port, count, timeout]:
            print(udp_client(source, target, int(port), int(count), float(timeout)))
        case ["half-open", source, sport, target, timeout]:
            print(half_open_init(source, int(sport), target, float(timeout)))
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
