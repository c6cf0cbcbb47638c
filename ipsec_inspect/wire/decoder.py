"""From a captured frame to IPsec records: link layer, IP, UDP/TCP, NAT-T demultiplexing.

Why one class: the layers share state that a frame-at-a-time function cannot keep (IP
fragments waiting for their siblings, TCP streams carrying RFC 8229 framing), and the
hot path (ESP on Ethernet/IPv4, possibly in UDP 4500) must run without a call per layer.
The decoder is sans-I/O: frames in, records out; the same object serves files and live
capture.

What is decoded (issue 2 item 3): Ethernet with 802.1Q/802.1ad stacks, PPPoE session and
MPLS; Linux SLL and SLL2; raw IPv4/IPv6 link types; BSD null/loopback. IPv4 with options
and IPv6 with extension headers (hop-by-hop, routing, destination options, fragment, AH
as an extension header). IPv4/IPv6 reassembly. UDP 500 (IKE), UDP 4500 (non-ESP marker,
NAT keepalive, ESP-in-UDP), ESP (50), AH (51) and what AH protects, IP-in-IP tunnels
below AH, RFC 8229 over TCP, and IKE on other UDP ports by a strict header check or by
``--decode-as``.
"""

from __future__ import annotations

import socket
import struct
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
from ipsec_inspect.ipsec.ah import dissect_ah
from ipsec_inspect.ipsec.esp import dissect_esp
from ipsec_inspect.ipsec.ike import dissect_ike, looks_like_ike
from ipsec_inspect.wire.reassembly import FragmentReassembler
from ipsec_inspect.wire.tcp_encap import TcpEncapStreams

# Link types (https://www.tcpdump.org/linktypes.html)
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_OLD = 12
LINKTYPE_RAW_OLD2 = 14
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
ETH_PPPOE_SESSION = 0x8864
ETH_MPLS = frozenset({0x8847, 0x8848})

IKE_PORT = 500
NATT_PORT = 4500

_IPV6_EXT = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options
_MAX_NESTING = 4

_U16 = struct.Struct("!H")
_UDP = struct.Struct("!HHH")
_TCP = struct.Struct("!HHIIBB")
_IPV4_HDR = struct.Struct("!BBHHHBB")


# --------------------------------------------------------------------------- link layers
# Each returns (offset of the IP header, IP version 4/6) or (-1, 0) for "not IP".


def _link_ethernet(d: bytes) -> tuple[int, int]:
    if len(d) < 14:
        return -1, 0
    off = 12
    etype = (d[12] << 8) | d[13]
    while etype in ETH_VLAN_TAGS:
        off += 4
        if len(d) < off + 2:
            return -1, 0
        etype = (d[off] << 8) | d[off + 1]
    off += 2
    if etype == ETH_IPV4:
        return off, 4
    if etype == ETH_IPV6:
        return off, 6
    if etype == ETH_PPPOE_SESSION and len(d) >= off + 8:
        ppp = (d[off + 6] << 8) | d[off + 7]
        if ppp == 0x0021:
            return off + 8, 4
        if ppp == 0x0057:
            return off + 8, 6
        return -1, 0
    if etype in ETH_MPLS:
        while len(d) >= off + 4:
            bottom = d[off + 2] & 0x01
            off += 4
            if bottom:
                break
        return _by_version(d, off)
    return -1, 0


def _by_version(d: bytes, off: int) -> tuple[int, int]:
    if len(d) <= off:
        return -1, 0
    v = d[off] >> 4
    if v in (4, 6):
        return off, v
    return -1, 0


def _link_raw(d: bytes) -> tuple[int, int]:
    return _by_version(d, 0)


_AF_INET6 = frozenset({10, 24, 28, 30})  # Linux, BSD, FreeBSD, macOS values of AF_INET6


def _by_family(family: int) -> tuple[int, int]:
    """BSD null/loopback: a 4-byte address family before the IP header."""
    if family == 2:
        return 4, 4
    if family in _AF_INET6:
        return 4, 6
    return -1, 0


def _link_null(d: bytes) -> tuple[int, int]:
    # Address family in the host byte order of the capturing machine.
    if len(d) < 4:
        return -1, 0
    fam = struct.unpack_from("<I", d)[0]
    if fam > 0xFFFF:
        fam = struct.unpack_from(">I", d)[0]
    return _by_family(fam)


def _link_loop(d: bytes) -> tuple[int, int]:
    return _by_family(struct.unpack_from(">I", d)[0]) if len(d) >= 4 else (-1, 0)


def _by_ethertype(d: bytes, type_at: int, ip_at: int) -> tuple[int, int]:
    """Link headers that name the payload by an EtherType at ``type_at`` (SLL, SLL2)."""
    if len(d) < ip_at:
        return -1, 0
    proto = (d[type_at] << 8) | d[type_at + 1]
    if proto == ETH_IPV4:
        return ip_at, 4
    if proto == ETH_IPV6:
        return ip_at, 6
    return -1, 0


def _link_sll(d: bytes) -> tuple[int, int]:
    return _by_ethertype(d, 14, 16)


def _link_sll2(d: bytes) -> tuple[int, int]:
    return _by_ethertype(d, 0, 20)


_LINK_PARSERS: dict[int, Callable[[bytes], tuple[int, int]]] = {
    LINKTYPE_ETHERNET: _link_ethernet,
    LINKTYPE_NULL: _link_null,
    LINKTYPE_LOOP: _link_loop,
    LINKTYPE_RAW: _link_raw,
    LINKTYPE_RAW_OLD: _link_raw,
    LINKTYPE_RAW_OLD2: _link_raw,
    LINKTYPE_IPV4: _link_raw,
    LINKTYPE_IPV6: _link_raw,
    LINKTYPE_LINUX_SLL: _link_sll,
    LINKTYPE_LINUX_SLL2: _link_sll2,
}


def link_ip_offset(link_type: int, data: bytes) -> tuple[int, int]:
    """(offset of the IP header, IP version) in a frame of ``link_type``; (-1, 0) if not IP."""
    parser = _LINK_PARSERS.get(link_type)
    return parser(data) if parser is not None else (-1, 0)


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
    frames: int = 0
    ipsec_frames: int = 0
    non_ip: int = 0
    not_ipsec: int = 0
    fragments: int = 0
    malformed: int = 0


class Decoder:
    """Turns frames into records. Keep one per capture (it holds reassembly state)."""

    def __init__(self, options: DecodeOptions | None = None) -> None:
        self.options = options or DecodeOptions()
        self.stats = DecoderStats()
        self.reassembler = FragmentReassembler(timeout=self.options.fragment_timeout)
        self.tcp = TcpEncapStreams()
        self._v4_cache: dict[bytes, str] = {}
        self._v6_cache: dict[bytes, str] = {}
        self.udp_special = {IKE_PORT: "ike", NATT_PORT: "udpencap", **self.options.decode_as_udp}
        self._link = _LINK_PARSERS
        self._ike_tables = self.options.extension_tables

    # ----------------------------------------------------------------- names

    def ipv4_name(self, b: bytes) -> str:
        """Text form of a packed IPv4 address (cached: a capture has few addresses)."""
        s = self._v4_cache.get(b)
        if s is None:
            s = socket.inet_ntop(socket.AF_INET, b)
            if len(self._v4_cache) < 65536:
                self._v4_cache[b] = s
        return s

    def ipv6_name(self, b: bytes) -> str:
        """Text form of a packed IPv6 address (cached)."""
        s = self._v6_cache.get(b)
        if s is None:
            s = socket.inet_ntop(socket.AF_INET6, b)
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
            self._ipv4(data, off, len(data), number, time, iface, out, 0)
        else:
            self._ipv6(data, off, len(data), number, time, iface, out, 0)
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
        out: list[Record],
        depth: int,
    ) -> None:
        if end - off < 20:
            return
        vihl, _tos, total, ident, frag, _ttl, proto = _IPV4_HDR.unpack_from(d, off)
        ihl = (vihl & 0x0F) * 4
        if proto not in (17, 50, 51, 6, 4, 41):
            return
        src = self.ipv4_name(d[off + 12 : off + 16])
        dst = self.ipv4_name(d[off + 16 : off + 20])
        if ihl < 20 or off + ihl > end:
            self._malformed(
                out,
                PacketMeta(
                    number, time, src, dst, 0, 0, Transport.IP, 4, end - off, (), False, iface
                ),
                "ip",
                f"IPv4 header length {ihl} is invalid (frame has {end - off} bytes from the IP header)",
                off,
            )
            return
        if total == 0:  # TSO/LRO captures: length unknown, trust the capture
            ip_end = end
        else:
            ip_end = off + total
            if ip_end > end:
                ip_end = end  # snapped or truncated: decode what we have
            elif total < ihl:
                self._malformed(
                    out,
                    PacketMeta(
                        number, time, src, dst, 0, 0, Transport.IP, 4, end - off, (), False, iface
                    ),
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
            if whole is None:
                return
            self._l4(
                whole.payload,
                0,
                len(whole.payload),
                proto,
                src,
                dst,
                4,
                number,
                time,
                iface,
                out,
                depth,
                whole.wire_len,
                whole.frames,
                True,
                -1,
            )
            return
        self._l4(
            d,
            l4,
            ip_end,
            proto,
            src,
            dst,
            4,
            number,
            time,
            iface,
            out,
            depth,
            ip_end - off,
            (),
            False,
            off,
        )

    def _ipv6(
        self,
        d: bytes,
        off: int,
        end: int,
        number: int,
        time: float,
        iface: int,
        out: list[Record],
        depth: int,
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
                    self._malformed(
                        out,
                        PacketMeta(
                            number,
                            time,
                            src,
                            dst,
                            0,
                            0,
                            Transport.IP,
                            6,
                            ip_end - off,
                            (),
                            False,
                            iface,
                        ),
                        "ip",
                        f"IPv6 extension header length runs past the packet end at offset {ip_end}",
                        pos - hlen,
                    )
                    return
            elif nh == 44:  # fragment
                if pos + 8 > ip_end:
                    return
                fo = (d[pos + 2] << 8) | d[pos + 3]
                ident = struct.unpack_from("!I", d, pos + 4)[0]
                frag_info = ((fo >> 3) * 8, bool(fo & 1), ident)
                nh = d[pos]
                pos += 8
                break
            else:
                break
        if nh not in (17, 50, 51, 6, 4, 41):
            return
        if frag_info is not None:
            foff, more, ident = frag_info
            if foff == 0 and not more:
                frag_info = None  # atomic fragment (RFC 6946)
            else:
                self.stats.fragments += 1
                whole = self.reassembler.add(
                    (6, src, dst, ident), time, number, foff, more, d[pos:ip_end], ip_end - off
                )
                if whole is None:
                    return
                self._l4(
                    whole.payload,
                    0,
                    len(whole.payload),
                    nh,
                    src,
                    dst,
                    6,
                    number,
                    time,
                    iface,
                    out,
                    depth,
                    whole.wire_len,
                    whole.frames,
                    True,
                    -1,
                )
                return
        self._l4(
            d,
            pos,
            ip_end,
            nh,
            src,
            dst,
            6,
            number,
            time,
            iface,
            out,
            depth,
            ip_end - off,
            (),
            False,
            off,
        )

    # ----------------------------------------------------------------- transport

    def _l4(
        self,
        d: bytes,
        pos: int,
        end: int,
        proto: int,
        src: str,
        dst: str,
        version: int,
        number: int,
        time: float,
        iface: int,
        out: list[Record],
        depth: int,
        wire_len: int,
        frames: tuple[int, ...],
        fragmented: bool,
        ip_offset: int,
    ) -> None:
        def meta_for(transport: Transport, sport: int = 0, dport: int = 0) -> PacketMeta:
            """Where this transport payload was seen (everything but ports and transport
            is the IP packet's)."""
            return PacketMeta(
                number,
                time,
                src,
                dst,
                sport,
                dport,
                transport,
                version,
                wire_len,
                frames,
                fragmented,
                iface,
            )

        if proto == 50:
            meta = meta_for(Transport.IP)
            pkt = dissect_esp(d, pos, end, meta)
            if pkt.errors:
                self.stats.malformed += 1
            out.append(pkt)
        elif proto == 17:
            if end - pos < 8:
                self._malformed(
                    out,
                    meta_for(Transport.UDP),
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
                if self.options.ike_heuristic and looks_like_ike(d, pos + 8, uend):
                    meta = meta_for(Transport.UDP, sport, dport)
                    out.append(dissect_ike(d, pos + 8, uend, meta, self._ike_tables))
                return
            if (
                NATT_PORT in (sport, dport)
                and kind == "ike"
                and special.get(NATT_PORT) == "udpencap"
            ):
                kind = "udpencap"
            body = pos + 8
            n = uend - body
            if kind == "udpencap":
                meta = meta_for(Transport.UDP_ENCAP, sport, dport)
                if n == 1 and d[body] == 0xFF:
                    out.append(NatKeepalive(meta))
                elif n >= 4 and d[body : body + 4] == b"\x00\x00\x00\x00":
                    out.append(dissect_ike(d, body + 4, uend, meta, self._ike_tables))
                elif n >= 8:
                    pkt = dissect_esp(d, body, uend, meta)
                    out.append(pkt)
                elif n > 0:
                    self._malformed(
                        out,
                        meta,
                        "udp",
                        f"UDP-encapsulated payload of {n} bytes is neither a keepalive, a non-ESP marker nor an ESP header",
                        body,
                    )
            elif kind == "ike":
                meta = meta_for(Transport.UDP, sport, dport)
                if n == 1 and d[body] == 0xFF:
                    out.append(NatKeepalive(meta))
                elif n > 0:
                    out.append(dissect_ike(d, body, uend, meta, self._ike_tables))
            elif kind == "esp":
                meta = meta_for(Transport.UDP_ENCAP, sport, dport)
                out.append(dissect_esp(d, body, uend, meta))
        elif proto == 51:
            meta = meta_for(Transport.IP)
            ah = dissect_ah(d, pos, end, meta, ip_offset)
            out.append(ah)
            if ah.errors:
                self.stats.malformed += 1
            if depth < _MAX_NESTING and ah.inner_offset < end:
                # Continue into what AH protects (transport payload or a tunnelled packet).
                self._after_ah(
                    d,
                    ah.inner_offset,
                    end,
                    ah.next_header,
                    src,
                    dst,
                    version,
                    number,
                    time,
                    iface,
                    out,
                    depth + 1,
                    wire_len,
                    frames,
                    fragmented,
                    ip_offset,
                )
        elif proto == 6:
            self._tcp(d, pos, end, src, dst, version, number, time, iface, out, wire_len)
        elif proto in (4, 41) and depth < _MAX_NESTING:
            # IP-in-IP (e.g. below AH in tunnel mode): decode the inner packet.
            if proto == 4:
                self._ipv4(d, pos, end, number, time, iface, out, depth + 1)
            else:
                self._ipv6(d, pos, end, number, time, iface, out, depth + 1)

    def _after_ah(
        self,
        d: bytes,
        pos: int,
        end: int,
        nh: int,
        src: str,
        dst: str,
        version: int,
        number: int,
        time: float,
        iface: int,
        out: list[Record],
        depth: int,
        wire_len: int,
        frames: tuple[int, ...],
        fragmented: bool,
        ip_offset: int,
    ) -> None:
        # In IPv6, extension headers may follow AH (destination options).
        while version == 6 and nh in _IPV6_EXT and pos + 2 <= end:
            nh, pos = d[pos], pos + (d[pos + 1] + 1) * 8
        if pos < end:
            self._l4(
                d,
                pos,
                end,
                nh,
                src,
                dst,
                version,
                number,
                time,
                iface,
                out,
                depth,
                wire_len,
                frames,
                fragmented,
                ip_offset,
            )

    def _tcp(
        self,
        d: bytes,
        pos: int,
        end: int,
        src: str,
        dst: str,
        version: int,
        number: int,
        time: float,
        iface: int,
        out: list[Record],
        wire_len: int,
    ) -> None:
        if end - pos < 20:
            return
        sport, dport, seq, _ack, doff, flags = _TCP.unpack_from(d, pos)
        tcp_ports = self.options.tcp_ports
        if sport not in tcp_ports and dport not in tcp_ports:
            return
        hlen = (doff >> 4) * 4
        if hlen < 20 or pos + hlen > end:
            self._malformed(
                out,
                PacketMeta(
                    number,
                    time,
                    src,
                    dst,
                    sport,
                    dport,
                    Transport.TCP,
                    version,
                    wire_len,
                    (),
                    False,
                    iface,
                ),
                "tcp",
                f"TCP header length {hlen} is invalid",
                pos + 12,
            )
            return
        messages = self.tcp.segment(
            (src, dst, sport, dport), number, seq, flags, d[pos + hlen : end]
        )
        for m in messages:
            frames = m.frames if len(m.frames) > 1 else ()
            meta = PacketMeta(
                number,
                time,
                src,
                dst,
                sport,
                dport,
                Transport.TCP,
                version,
                wire_len,
                frames,
                False,
                iface,
            )
            if m.kind == "ike":
                out.append(dissect_ike(m.data, 0, len(m.data), meta, self._ike_tables))
            else:
                out.append(dissect_esp(m.data, 0, len(m.data), meta))
