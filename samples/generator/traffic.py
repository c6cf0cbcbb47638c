"""Inner traffic (ICMP, UDP, TCP) and the link-layer framing of outer packets.

Why a module: every scenario sends the same kinds of inner flows; keeping their shape here
means each capture's README description stays true for all of them.
"""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

MAC_A = "02:00:5e:00:00:01"
MAC_B = "02:00:5e:00:00:02"


def ping_pair(a: str, b: str, ident: int, seq: int) -> list[tuple[bool, Packet]]:
    """(forward?, packet) for one echo request from ``a`` and its reply."""
    data = bytes(range(32))
    return [
        (True, IP(src=a, dst=b, id=seq) / ICMP(type=8, id=ident, seq=seq) / Raw(data)),
        (False, IP(src=b, dst=a, id=seq) / ICMP(type=0, id=ident, seq=seq) / Raw(data)),
    ]


def udp_exchange(a: str, b: str) -> list[tuple[bool, Packet]]:
    """A request/response pair on UDP port 7 (echo)."""
    return [
        (True, IP(src=a, dst=b, id=100) / UDP(sport=40000, dport=7) / Raw(b"ipsec-inspect udp")),
        (False, IP(src=b, dst=a, id=100) / UDP(sport=7, dport=40000) / Raw(b"ipsec-inspect udp")),
    ]


def tcp_flow(a: str, b: str, base: int = 0) -> list[tuple[bool, Packet]]:
    """A short TCP connection to port 80: handshake, one request, one reply, FINs."""
    sport, dport = 41000 + base, 80
    isn_a, isn_b = 1000 + base, 5000 + base
    req = b"GET / HTTP/1.0\r\nHost: 203.0.113.2\r\n\r\n"
    resp = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"

    def fw(flags: str, seq: int, ack: int, data: bytes = b"") -> Packet:
        return (
            IP(src=a, dst=b, id=200 + base)
            / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=64240)
            / Raw(data)
        )

    def bw(flags: str, seq: int, ack: int, data: bytes = b"") -> Packet:
        return (
            IP(src=b, dst=a, id=300 + base)
            / TCP(sport=dport, dport=sport, flags=flags, seq=seq, ack=ack, window=65160)
            / Raw(data)
        )

    a1, b1 = isn_a + 1, isn_b + 1
    return [
        (True, fw("S", isn_a, 0)),
        (False, bw("SA", isn_b, a1)),
        (True, fw("A", a1, b1)),
        (True, fw("PA", a1, b1, req)),
        (False, bw("PA", b1, a1 + len(req), resp)),
        (True, fw("FA", a1 + len(req), b1 + len(resp))),
        (False, bw("FA", b1 + len(resp), a1 + len(req) + 1)),
        (True, fw("A", a1 + len(req) + 1, b1 + len(resp) + 1)),
    ]


def ether(pkt: Packet, forward: bool) -> bytes:
    """Wrap an IP packet in Ethernet between the two sample MAC addresses."""
    src, dst = (MAC_A, MAC_B) if forward else (MAC_B, MAC_A)
    return bytes(Ether(src=src, dst=dst) / pkt)


def udp_ip(src: str, dst: str, sport: int, dport: int, payload: bytes, ident: int = 0) -> Packet:
    """An IPv4 or IPv6 UDP datagram carrying ``payload``."""
    if ":" in src:
        return IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(payload)
    return IP(src=src, dst=dst, id=ident) / UDP(sport=sport, dport=dport) / Raw(payload)
