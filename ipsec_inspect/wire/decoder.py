"""From a captured frame to IPsec records: link layer, IP, UDP/TCP, NAT-T demultiplexing.

Why one class: the layers share state that a frame-at-a-time function cannot keep (IP
fragments waiting for their siblings, TCP streams carrying RFC 8229 framing), and the
hot path (ESP on Ethernet/IPv4, possibly in UDP 4500) must run with few calls per layer.
The decoder is sans-I/O: frames in, records out; the same object serves files and live
capture.

Dispatch is by tables, as dpkt's ``_protosw``: link type -> link parser
(``wire/link.py``), IP protocol -> transport handler, UDP port kind -> payload handler.
Each IP header becomes one ``IpContext`` handed to its payload's handler; the ESP, AH
and IKE dissectors are injected (``IpsecDissectors``) because ``ipsec/`` is above
``wire/``. To build a decoder with the project's dissectors use
``ipsec_inspect.ipsec.dissectors.ipsec_decoder``.

What is decoded (issue 2 item 3): Ethernet with 802.1Q/802.1ad stacks, PPPoE session and
MPLS; Linux SLL and SLL2; raw IPv4/IPv6 link types; BSD null/loopback. IPv4 with options
and IPv6 with extension headers (hop-by-hop, routing, destination options, fragment, AH
as an extension header). IPv4/IPv6 reassembly. UDP 500 (IKE), UDP 4500 (non-ESP marker,
NAT keepalive, ESP-in-UDP), ESP (50), AH (51) and what AH protects, IP-in-IP tunnels
below AH, RFC 8229 over TCP, and IKE on other UDP ports by a strict header check or by
``--decode-as``.
"""

from __future__ import annotations

import struct

# The C functions that the socket module re-exports: socket.py itself converts its
# constants to enums and imports selectors, a cost every short command paid (start-up).
from _socket import AF_INET, AF_INET6, inet_ntop
from collections.abc import Callable
from dataclasses import dataclass, field

from ipsec_inspect.core.extensions import NO_DISSECTORS, DissectorTables
from ipsec_inspect.core.records import (
    Malformed,
    NatKeepalive,
    PacketMeta,
    ParseError,
    Record,
    Transport,
)
from ipsec_inspect.wire.context import IpContext, IpsecDissectors
from ipsec_inspect.wire.link import (  # re-exported: callers name link types through here
    LINK_PARSERS,
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    LINKTYPE_RAW_OLD,
    LINKTYPE_RAW_OLD2,
    link_ip_offset,
)
from ipsec_inspect.wire.reassembly import FragmentReassembler, Reassembled
from ipsec_inspect.wire.tcp_encap import TcpEncapStreams

__all__ = [
    "IKE_PORT",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IPV4",
    "LINKTYPE_IPV6",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_LOOP",
    "LINKTYPE_NULL",
    "LINKTYPE_RAW",
    "LINKTYPE_RAW_OLD",
    "LINKTYPE_RAW_OLD2",
    "NATT_PORT",
    "DecodeOptions",
    "Decoder",
    "DecoderStats",
    "IpContext",
    "IpsecDissectors",
    "link_ip_offset",
]

IKE_PORT = 500
NATT_PORT = 4500

_IPV6_EXT = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options
_MAX_NESTING = 4

_UDP = struct.Struct("!HHH")
_TCP = struct.Struct("!HHIIBB")
_IPV4_HDR = struct.Struct("!BBHHHBB")
_U32 = struct.Struct("!I")

#: a transport handler: (IP context, frame bytes, payload start, payload end, records out)
Handler = Callable[[IpContext, bytes, int, int, list[Record]], None]
#: a UDP payload handler: also the ports
UdpHandler = Callable[[IpContext, bytes, int, int, int, int, list[Record]], None]


@dataclass
class DecodeOptions:
    """What the user told us about ports and heuristics."""

    # UDP port -> "ike" | "udpencap" | "esp"; TCP port -> "ike-tcp" (RFC 8229)
    decode_as_udp: dict[int, str] = field(default_factory=dict)
    tcp_ports: frozenset[int] = frozenset({NATT_PORT})
    ike_heuristic: bool = True  # strict IKE header check on other UDP ports
    fragment_timeout: float = 60.0
    # What plugins add to the IKE dissectors (payloads, notifies, Vendor IDs), composed at
    # start-up (core.extensions); travels with the options to every decoder of the run.
    extension_tables: DissectorTables = NO_DISSECTORS

    @staticmethod
    def parse_decode_as(spec: str) -> tuple[str, int, str]:
        """``udp.port=1500:ike`` -> ("udp", 1500, "ike"). Raises ValueError with a sentence."""
        try:
            left, proto = spec.split(":", 1)
            layer, port = left.split("=", 1)
        except ValueError:
            raise ValueError(
                f"--decode-as {spec!r}: expected udp.port=N:ike|udpencap|esp or tcp.port=N:ike-tcp"
            ) from None
        layer = layer.strip().lower()
        proto = proto.strip().lower()
        if layer not in ("udp.port", "tcp.port") or not port.strip().isdigit():
            raise ValueError(f"--decode-as {spec!r}: expected udp.port=N:… or tcp.port=N:…")
        n = int(port)
        if not 0 < n < 65536:
            raise ValueError(f"--decode-as {spec!r}: port {n} out of range")
        if layer == "udp.port" and proto not in ("ike", "udpencap", "esp"):
            raise ValueError(f"--decode-as {spec!r}: UDP ports decode as ike, udpencap or esp")
        if layer == "tcp.port" and proto not in ("ike-tcp", "ike"):
            raise ValueError(f"--decode-as {spec!r}: TCP ports decode as ike-tcp (RFC 8229)")
        return layer.split(".")[0], n, proto

    def add_decode_as(self, spec: str) -> None:
        layer, port, proto = self.parse_decode_as(spec)
        if layer == "udp":
            self.decode_as_udp[port] = proto
        else:
            self.tcp_ports = self.tcp_ports | {port}


@dataclass
class DecoderStats:
    """What the decoder counted: frames, IPsec frames, fragments, malformed."""

    frames: int = 0
    ipsec_frames: int = 0
    non_ip: int = 0
    not_ipsec: int = 0
    fragments: int = 0
    malformed: int = 0


class Decoder:
    """Turns frames into records. Keep one per capture (it holds reassembly state).

    ``dissectors`` are the ESP, AH and IKE dissectors (``ipsec.dissectors``); the
    protocol and port tables below route every payload to one handler.
    """

    def __init__(self, dissectors: IpsecDissectors, options: DecodeOptions | None = None) -> None:
        self.dissectors = dissectors
        self.options = options or DecodeOptions()
        self.stats = DecoderStats()
        self.reassembler = FragmentReassembler(timeout=self.options.fragment_timeout)
        self.tcp = TcpEncapStreams()
        self._v4_cache: dict[bytes, str] = {}
        self._v6_cache: dict[bytes, str] = {}
        self.udp_special = {IKE_PORT: "ike", NATT_PORT: "udpencap", **self.options.decode_as_udp}
        self._link = LINK_PARSERS
        self._ike_tables = self.options.extension_tables
        #: IP protocol / next header -> handler (others are not IPsec and are skipped)
        self.protocols: dict[int, Handler] = {
            50: self._esp,
            17: self._udp,
            51: self._ah,
            6: self._tcp,
            4: self._ipv4_in_ip,
            41: self._ipv6_in_ip,
        }
        #: what a UDP port carries (``udp_special`` values) -> handler
        self.udp_kinds: dict[str, UdpHandler] = {
            "udpencap": self._udp_encap,
            "ike": self._udp_ike,
            "esp": self._udp_esp,
        }

    # ----------------------------------------------------------------- names

    def ipv4_name(self, b: bytes) -> str:
        """Text form of a packed IPv4 address (cached: a capture has few addresses)."""
        s = self._v4_cache.get(b)
        if s is None:
            s = inet_ntop(AF_INET, b)
            if len(self._v4_cache) < 65536:
                self._v4_cache[b] = s
        return s

    def ipv6_name(self, b: bytes) -> str:
        """Text form of a packed IPv6 address (cached)."""
        s = self._v6_cache.get(b)
        if s is None:
            s = inet_ntop(AF_INET6, b)
            if len(self._v6_cache) < 65536:
                self._v6_cache[b] = s
        return s

    # ----------------------------------------------------------------- entry point

    def decode(
        self,
        number: int,
        time: float,
        link_type: int,
        data: bytes,
        orig_len: int = 0,
        iface: int = 0,
    ) -> list[Record]:
        """All records found in one frame (usually one, sometimes none or several)."""
        self.stats.frames += 1
        link = self._link.get(link_type)
        if link is None:
            self.stats.non_ip += 1
            return []
        off, version = link(data)
        if off < 0:
            self.stats.non_ip += 1
            return []
        out: list[Record] = []
        if version == 4:
            self._ipv4(data, off, len(data), number, time, iface, 0, out)
        else:
            self._ipv6(data, off, len(data), number, time, iface, 0, out)
        if out:
            self.stats.ipsec_frames += 1
        else:
            self.stats.not_ipsec += 1
        return out

    def finish(self) -> list[tuple[tuple[int, ...], str]]:
        """At the end of the input: what could not be completed (fragments, streams)."""
        return self.reassembler.flush()

    # ----------------------------------------------------------------- IP

    def _malformed(
        self, out: list[Record], meta: PacketMeta, layer: str, msg: str, offset: int
    ) -> None:
        self.stats.malformed += 1
        out.append(Malformed(meta, layer, ParseError(msg, offset)))

    def _ipv4(
        self,
        d: bytes,
        off: int,
        end: int,
        number: int,
        time: float,
        iface: int,
        depth: int,
        out: list[Record],
    ) -> None:
        if end - off < 20:
            return
        vihl, _tos, total, ident, frag, _ttl, proto = _IPV4_HDR.unpack_from(d, off)
        handler = self.protocols.get(proto)
        if handler is None:
            return
        ihl = (vihl & 0x0F) * 4
        src = self.ipv4_name(d[off + 12 : off + 16])
        dst = self.ipv4_name(d[off + 16 : off + 20])
        ip_end = off + total if total else end  # total 0: TSO/LRO captures, trust the capture
        if ip_end > end:
            ip_end = end  # snapped or truncated: decode what we have
        ctx = IpContext(number, time, iface, src, dst, 4, ip_end - off, off, depth)
        if ihl < 20 or off + ihl > end:
            ctx.wire_len = end - off
            self._malformed(
                out,
                ctx.meta(),
                "ip",
                f"IPv4 header length {ihl} is invalid (frame has {end - off} bytes from the IP header)",
                off,
            )
            return
        if total and total < ihl and off + total <= end:
            ctx.wire_len = end - off
            self._malformed(
                out,
                ctx.meta(),
                "ip",
                f"IPv4 total length {total} is shorter than its header ({ihl})",
                off + 2,
            )
            return
        l4 = off + ihl
        if frag & 0x3FFF:  # more-fragments flag or non-zero offset
            self.stats.fragments += 1
            whole = self.reassembler.add(
                (4, src, dst, ident, proto),
                time,
                number,
                (frag & 0x1FFF) * 8,
                bool(frag & 0x2000),
                d[l4:ip_end],
                ip_end - off,
            )
            if whole is not None:
                _on_reassembled(ctx, whole, handler, out)
            return
        handler(ctx, d, l4, ip_end, out)

    def _ipv6(
        self,
        d: bytes,
        off: int,
        end: int,
        number: int,
        time: float,
        iface: int,
        depth: int,
        out: list[Record],
    ) -> None:
        if end - off < 40:
            return
        plen = (d[off + 4] << 8) | d[off + 5]
        nh = d[off + 6]
        src = self.ipv6_name(d[off + 8 : off + 24])
        dst = self.ipv6_name(d[off + 24 : off + 40])
        ip_end = off + 40 + plen if plen else end  # jumbogram / TSO: trust the capture
        if ip_end > end:
            ip_end = end
        pos = off + 40
        frag_info: tuple[int, bool, int] | None = None
        while True:
            if nh in _IPV6_EXT:
                if pos + 2 > ip_end:
                    return
                nh, hlen = d[pos], (d[pos + 1] + 1) * 8
                pos += hlen
                if pos > ip_end:
                    ctx = IpContext(number, time, iface, src, dst, 6, ip_end - off, off, depth)
                    self._malformed(
                        out,
                        ctx.meta(),
                        "ip",
                        f"IPv6 extension header length runs past the packet end at offset {ip_end}",
                        pos - hlen,
                    )
                    return
            elif nh == 44:  # fragment
                if pos + 8 > ip_end:
                    return
                fo = (d[pos + 2] << 8) | d[pos + 3]
                frag_info = ((fo >> 3) * 8, bool(fo & 1), _U32.unpack_from(d, pos + 4)[0])
                nh = d[pos]
                pos += 8
                break
            else:
                break
        handler = self.protocols.get(nh)
        if handler is None:
            return
        ctx = IpContext(number, time, iface, src, dst, 6, ip_end - off, off, depth)
        if frag_info is not None and frag_info[:2] != (0, False):  # else atomic (RFC 6946)
            foff, more, ident = frag_info
            self.stats.fragments += 1
            whole = self.reassembler.add(
                (6, src, dst, ident), time, number, foff, more, d[pos:ip_end], ip_end - off
            )
            if whole is not None:
                _on_reassembled(ctx, whole, handler, out)
            return
        handler(ctx, d, pos, ip_end, out)

    def _ipv4_in_ip(self, ctx: IpContext, d: bytes, pos: int, end: int, out: list[Record]) -> None:
        """IP-in-IP (e.g. below AH in tunnel mode): decode the inner packet."""
        if ctx.depth < _MAX_NESTING:
            self._ipv4(d, pos, end, ctx.frame, ctx.time, ctx.interface, ctx.depth + 1, out)

    def _ipv6_in_ip(self, ctx: IpContext, d: bytes, pos: int, end: int, out: list[Record]) -> None:
        if ctx.depth < _MAX_NESTING:
            self._ipv6(d, pos, end, ctx.frame, ctx.time, ctx.interface, ctx.depth + 1, out)

    # ----------------------------------------------------------------- IPsec over IP

    def _esp(self, ctx: IpContext, d: bytes, pos: int, end: int, out: list[Record]) -> None:
        pkt = self.dissectors.esp(d, pos, end, ctx.meta())
        if pkt.errors:
            self.stats.malformed += 1
        out.append(pkt)

    def _ah(self, ctx: IpContext, d: bytes, pos: int, end: int, out: list[Record]) -> None:
        ah = self.dissectors.ah(d, pos, end, ctx.meta(), ctx.ip_offset)
        out.append(ah)
        if ah.errors:
            self.stats.malformed += 1
        if ctx.depth >= _MAX_NESTING or ah.inner_offset >= end:
            return
        # Continue into what AH protects (transport payload or a tunnelled packet); in
        # IPv6, extension headers may follow AH (destination options).
        nh, pos = ah.next_header, ah.inner_offset
        while ctx.version == 6 and nh in _IPV6_EXT and pos + 2 <= end:
            nh, pos = d[pos], pos + (d[pos + 1] + 1) * 8
        handler = self.protocols.get(nh)
        if handler is not None and pos < end:
            handler(ctx.inside(), d, pos, end, out)

    # ----------------------------------------------------------------- UDP

    def _udp(self, ctx: IpContext, d: bytes, pos: int, end: int, out: list[Record]) -> None:
        if end - pos < 8:
            self._malformed(
                out,
                ctx.meta(Transport.UDP),
                "udp",
                f"UDP header truncated ({end - pos} of 8 bytes)",
                pos,
            )
            return
        sport, dport, ulen = _UDP.unpack_from(d, pos)
        uend = pos + ulen
        if ulen < 8 or uend > end:
            uend = end  # bad or snapped length: decode what is there
        special = self.udp_special
        kind = special.get(dport) or special.get(sport)
        if kind is None:
            if self.options.ike_heuristic and self.dissectors.looks_like_ike(d, pos + 8, uend):
                out.append(
                    self.dissectors.ike(
                        d, pos + 8, uend, ctx.meta(Transport.UDP, sport, dport), self._ike_tables
                    )
                )
            return
        if kind == "ike" and NATT_PORT in (sport, dport) and special.get(NATT_PORT) == "udpencap":
            kind = "udpencap"
        self.udp_kinds[kind](ctx, d, pos + 8, uend, sport, dport, out)

    def _udp_encap(
        self,
        ctx: IpContext,
        d: bytes,
        body: int,
        uend: int,
        sport: int,
        dport: int,
        out: list[Record],
    ) -> None:
        """RFC 3948 UDP 4500: keepalive, non-ESP marker + IKE, or ESP."""
        meta = ctx.meta(Transport.UDP_ENCAP, sport, dport)
        n = uend - body
        if n == 1 and d[body] == 0xFF:
            out.append(NatKeepalive(meta))
        elif n >= 4 and d[body : body + 4] == b"\x00\x00\x00\x00":
            out.append(self.dissectors.ike(d, body + 4, uend, meta, self._ike_tables))
        elif n >= 8:
            out.append(self.dissectors.esp(d, body, uend, meta))
        elif n > 0:
            self._malformed(
                out,
                meta,
                "udp",
                f"UDP-encapsulated payload of {n} bytes is neither a keepalive, a non-ESP marker nor an ESP header",
                body,
            )

    def _udp_ike(
        self,
        ctx: IpContext,
        d: bytes,
        body: int,
        uend: int,
        sport: int,
        dport: int,
        out: list[Record],
    ) -> None:
        """UDP 500 (or ``--decode-as ...:ike``): IKE, or a keepalive sent there."""
        meta = ctx.meta(Transport.UDP, sport, dport)
        n = uend - body
        if n == 1 and d[body] == 0xFF:
            out.append(NatKeepalive(meta))
        elif n > 0:
            out.append(self.dissectors.ike(d, body, uend, meta, self._ike_tables))

    def _udp_esp(
        self,
        ctx: IpContext,
        d: bytes,
        body: int,
        uend: int,
        sport: int,
        dport: int,
        out: list[Record],
    ) -> None:
        """``--decode-as udp.port=N:esp``: ESP in UDP without a non-ESP marker."""
        out.append(self.dissectors.esp(d, body, uend, ctx.meta(Transport.UDP_ENCAP, sport, dport)))

    # ----------------------------------------------------------------- TCP (RFC 8229)

    def _tcp(self, ctx: IpContext, d: bytes, pos: int, end: int, out: list[Record]) -> None:
        if end - pos < 20:
            return
        sport, dport, seq, _ack, doff, flags = _TCP.unpack_from(d, pos)
        tcp_ports = self.options.tcp_ports
        if sport not in tcp_ports and dport not in tcp_ports:
            return
        # A TCP record names the frames of its stream, not of IP fragments.
        ctx.frames, ctx.fragmented = (), False
        hlen = (doff >> 4) * 4
        if hlen < 20 or pos + hlen > end:
            self._malformed(
                out,
                ctx.meta(Transport.TCP, sport, dport),
                "tcp",
                f"TCP header length {hlen} is invalid",
                pos + 12,
            )
            return
        messages = self.tcp.segment(
            (ctx.src, ctx.dst, sport, dport), ctx.frame, seq, flags, d[pos + hlen : end]
        )
        for m in messages:
            ctx.frames = m.frames if len(m.frames) > 1 else ()
            meta = ctx.meta(Transport.TCP, sport, dport)
            if m.kind == "ike":
                out.append(self.dissectors.ike(m.data, 0, len(m.data), meta, self._ike_tables))
            else:
                out.append(self.dissectors.esp(m.data, 0, len(m.data), meta))


def _on_reassembled(
    ctx: IpContext, whole: Reassembled, handler: Handler, out: list[Record]
) -> None:
    """Hand a datagram rebuilt from fragments (IPv4 or IPv6) to its transport handler: its
    context now spans several frames and has no single IP header offset to re-read."""
    ctx.wire_len, ctx.frames, ctx.fragmented, ctx.ip_offset = whole.wire_len, whole.frames, True, -1
    handler(ctx, whole.payload, 0, len(whole.payload), out)
