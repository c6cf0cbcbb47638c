"""A user-space UDP NAT between a real client and a real gateway, whose mapping can change.

Why our own: the kernel here has netfilter NAT, but a conntrack entry keeps its mapping while
packets flow, and no tool to flush it is installed; a NAT rebinding (RFC 3948 §4; a home
router restarting, a carrier-grade NAT timing a mapping out) needs the public port to change
mid-tunnel. This relay is a port-forwarding NAT: the client talks to ``PRIVATE:500`` and
``PRIVATE:4500``; each client flow goes to the gateway from its own public port on ``PUBLIC``.
When the file ``REBIND`` appears, the 4500 flow's public socket is closed (that mapping is
gone: the gateway's packets to it are refused, as by a real NAT) and the next client packet
opens a new one on the next port. Every packet is relayed byte for byte.

    python nat_relay.py PRIVATE PUBLIC GATEWAY REBIND SECONDS

Bounded: it exits after SECONDS; it prints one line per mapping it opens.
"""

from __future__ import annotations

import os
import select
import socket
import sys
import time

FIRST_PORT = {500: 40500, 4500: 44500}  # the public port of each flow's first mapping


def main(private: str, public: str, gateway: str, rebind: str, seconds: float) -> int:
    inside = {}
    for port in (500, 4500):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((private, port))
        inside[port] = s
    outside: dict[int, socket.socket] = {}  # gateway port -> public socket
    client: dict[int, tuple[str, int]] = {}  # gateway port -> the client's address
    next_port = dict(FIRST_PORT)
    rebound = False
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not rebound and os.path.exists(rebind):
            rebound = True
            old = outside.pop(4500, None)
            if old is not None:
                print(f"rebind: closed {public}:{old.getsockname()[1]}", flush=True)
                old.close()
        ready, _, _ = select.select([*inside.values(), *outside.values()], [], [], 0.1)
        for s in ready:
            try:
                data, source = s.recvfrom(65535)
            except OSError:  # ICMP port unreachable from an earlier send
                continue
            for port, sock in inside.items():
                if s is sock:
                    client[port] = source
                    out = outside.get(port)
                    if out is None:
                        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        out.bind((public, next_port[port]))
                        print(
                            f"mapping {source[0]}:{source[1]} -> {public}:{next_port[port]} "
                            f"for {gateway}:{port}",
                            flush=True,
                        )
                        next_port[port] += 1
                        outside[port] = out
                    out.sendto(data, (gateway, port))
                    break
            else:
                for port, sock in outside.items():
                    if s is sock and source == (gateway, port) and port in client:
                        inside[port].sendto(data, client[port])
                        break
    return 0


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(main(a[0], a[1], a[2], a[3], float(a[4])))
