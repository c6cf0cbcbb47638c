"""Which tunnel a frame belongs to, and how tunnels are packed into partitions.

Why by tunnel (flow affinity, as Zeek clusters balance): everything the tracker relates —
an IKE SA and its messages, a child SA and its SPIs, fragments and TCP streams — lies
between the same two outer peers, so the frames of one unordered outer address pair,
fed in time order to their own tracker, give exactly the part of the result that a single
pass gives for those SAs. The exceptions are explicit:

- an IKE SA whose messages show up on another address pair (NAT rebinding, MOBIKE
  ``UPDATE_SA_ADDRESSES``) links both pairs, through its SPIs, which IKE carries in clear;
- an ESP/AH SPI seen on two pairs (an SA that moved) links them too;
- what only decryption reveals (SPIs negotiated in encrypted exchanges, keys derived in
  one partition for traffic in another) is checked after the run, and partitions that
  turn out related are merged and run again (``pipeline.union.conflicts``).

A frame with no IP header (or one the link parsers do not know) belongs to the empty
tunnel ``b""``; such frames can only give malformed records, which concern no SA.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ipsec_inspect.sources.capture_file import RawFrame
from ipsec_inspect.wire.decoder import IKE_PORT, LINKTYPE_ETHERNET, NATT_PORT, link_ip_offset

Tunnel = bytes  # the two outer addresses, lower first (8 or 32 bytes); b"" if not IP

_ETH_V4 = struct.Struct("!12xH")
_UDP_PORTS = struct.Struct("!HH")


def tunnel_of(link_type: int, data: bytes) -> Tunnel:
    """The unordered outer address pair of a frame."""
    if link_type == LINKTYPE_ETHERNET and len(data) >= 34 and data[12:14] == b"\x08\x00":
        a, b = data[26:30], data[30:34]
        return a + b if a <= b else b + a
    at, version = link_ip_offset(link_type, data)
    if version == 4 and at >= 0 and len(data) >= at + 20:
        a, b = data[at + 12 : at + 16], data[at + 16 : at + 20]
    elif version == 6 and at >= 0 and len(data) >= at + 40:
        a, b = data[at + 8 : at + 24], data[at + 24 : at + 40]
    else:
        return b""
    return a + b if a <= b else b + a


def clear_spis(link_type: int, data: bytes) -> tuple[bytes | None, int | None]:
    """(IKE initiator SPI, ESP SPI) readable in clear in this frame, either may be None.

    IKE on UDP 500 or 4500 (after the four-byte non-ESP marker), ESP as IP protocol 50 or
    in UDP 4500. Only IPv4 without fragments and IPv6 without extension headers are read:
    this is a hint that links tunnels, never the decoding itself.
    """
    at, version = link_ip_offset(link_type, data)
    if at < 0:
        return None, None
    if version == 4 and len(data) >= at + 20:
        ihl = (data[at] & 0x0F) * 4
        if struct.unpack_from("!H", data, at + 6)[0] & 0x3FFF:
            return None, None  # a fragment: its transport header may be elsewhere
        proto, l4 = data[at + 9], at + ihl
    elif version == 6 and len(data) >= at + 40:
        proto, l4 = data[at + 6], at + 40
    else:
        return None, None
    if proto == 50 and len(data) >= l4 + 4:
        return None, int.from_bytes(data[l4 : l4 + 4], "big")
    if proto != 17 or len(data) < l4 + 8:
        return None, None
    sport, dport = _UDP_PORTS.unpack_from(data, l4)
    body = l4 + 8
    if NATT_PORT in (sport, dport):
        if len(data) >= body + 4 and data[body : body + 4] != b"\x00\x00\x00\x00":
            return None, int.from_bytes(data[body : body + 4], "big")
        body += 4
    elif IKE_PORT not in (sport, dport):
        return None, None
    if len(data) >= body + 28:
        return bytes(data[body : body + 8]), None
    return None, None


@dataclass
class Survey:
    """What one piece of the input says about its tunnels (small: per tunnel, not per frame)."""

    frames: dict[Tunnel, int] = field(default_factory=dict)  # frames per tunnel
    sizes: dict[Tunnel, int] = field(default_factory=dict)  # captured bytes per tunnel
    ike: dict[bytes, set[Tunnel]] = field(default_factory=dict)  # IKE SPI_i -> tunnels
    esp: dict[int, set[Tunnel]] = field(default_factory=dict)  # ESP SPI -> tunnels
    # the piece's place in time: whether merging can be reading inputs one after another
    count: int = 0
    first_time: float | None = None
    last_time: float | None = None
    in_order: bool = True  # every frame's time at or after the one before

    def add(self, other: Survey) -> None:
        for t, n in other.frames.items():
            self.frames[t] = self.frames.get(t, 0) + n
        for t, n in other.sizes.items():
            self.sizes[t] = self.sizes.get(t, 0) + n
        for spi, ts in other.ike.items():
            self.ike.setdefault(spi, set()).update(ts)
        for espi, ts in other.esp.items():
            self.esp.setdefault(espi, set()).update(ts)


def _normal(raw: bytes) -> Tunnel:
    a, b = raw[:4], raw[4:]
    return a + b if a <= b else b + a


#: the code of a frame whose tunnel did not fit the piece's table (see :class:`FrameCodes`)
OVERFLOW = 255


@dataclass
class FrameCodes:
    """One byte per frame of a piece: its tunnel, as an index into ``tunnels``.

    Why: the survey already looks at every frame's outer addresses; writing down the
    answer (one byte a frame) lets each partition read only its own records later,
    instead of reading every input and skipping the others' frames. A piece with more
    than 255 tunnels gives the rest :data:`OVERFLOW`, which every partition reads and
    decides for itself (exact, only slower)."""

    codes: bytearray = field(default_factory=bytearray)
    tunnels: list[Tunnel] = field(default_factory=list)  # code -> tunnel
    overflow: bool = False

    def table(self, wanted: Callable[[Tunnel], bool]) -> bytes:
        """A ``bytes.translate`` table: code -> 1 if ``wanted(tunnel)`` (overflow: 1)."""
        out = bytearray(256)
        for code, t in enumerate(self.tunnels):
            out[code] = 1 if wanted(t) else 0
        out[OVERFLOW] = 1
        return bytes(out)


def survey(frames: Iterable[RawFrame], codes: FrameCodes | None = None) -> Survey:
    """Count frames per tunnel and note which SPIs in clear tie tunnels together.

    An ESP SPI is noted once per tunnel (the first frame), so this stays cheap; a new
    tunnel for a known SPI is what matters. Plain Ethernet/IPv4 ESP — most of any
    capture — is handled inline, counted by its raw address bytes. ``codes``: also
    write down every frame's tunnel (:class:`FrameCodes`)."""
    if codes is not None:
        return _survey_coded(frames, codes)
    s = Survey()
    counts, sizes, ike, esp = s.frames, s.sizes, s.ike, s.esp
    raw_counts: dict[bytes, int] = {}
    raw_sizes: dict[bytes, int] = {}
    seen_esp: set[bytes] = set()
    n = 0
    first = last = None
    in_order = True
    for _n, t, link_type, data, _orig, _iface in frames:
        n += 1
        if last is None:
            first = t
        elif t < last:
            in_order = False
        last = t
        if (
            link_type == LINKTYPE_ETHERNET
            and data[23:24] == b"\x32"
            and data[12:15] == b"\x08\x00\x45"
            and not data[20] & 0x3F
            and not data[21]
            and len(data) >= 38
        ):
            raw = data[26:34]
            raw_counts[raw] = raw_counts.get(raw, 0) + 1
            raw_sizes[raw] = raw_sizes.get(raw, 0) + len(data)
            k = data[26:38]
            if k not in seen_esp:
                seen_esp.add(k)
                esp.setdefault(int.from_bytes(data[34:38], "big"), set()).add(_normal(raw))
            continue
        tun = tunnel_of(link_type, data)
        counts[tun] = counts.get(tun, 0) + 1
        sizes[tun] = sizes.get(tun, 0) + len(data)
        spi_i, spi = clear_spis(link_type, data)
        if spi_i is not None:
            ike.setdefault(spi_i, set()).add(tun)
        elif spi is not None:
            esp.setdefault(spi, set()).add(tun)
    for raw, c in raw_counts.items():
        tun = _normal(raw)
        counts[tun] = counts.get(tun, 0) + c
        sizes[tun] = sizes.get(tun, 0) + raw_sizes[raw]
    s.count, s.first_time, s.last_time, s.in_order = n, first, last, in_order
    return s


def _survey_coded(frames: Iterable[RawFrame], fc: FrameCodes) -> Survey:
    """:func:`survey` that also notes each frame's tunnel code (a separate loop, so the
    plain survey keeps its speed)."""
    s = Survey()
    counts, sizes, ike, esp = s.frames, s.sizes, s.ike, s.esp
    raw_counts: dict[bytes, int] = {}
    raw_sizes: dict[bytes, int] = {}
    seen_esp: set[bytes] = set()
    raw_code: dict[bytes, int] = {}  # raw (unordered) Ethernet/IPv4 address bytes -> code
    tun_code: dict[Tunnel, int] = {}
    tunnels = fc.tunnels
    out = fc.codes
    append = out.append

    def code_of(t: Tunnel) -> int:
        c = tun_code.get(t)
        if c is None:
            if len(tunnels) >= OVERFLOW:
                fc.overflow = True
                return OVERFLOW
            c = tun_code[t] = len(tunnels)
            tunnels.append(t)
        return c

    n = 0
    first = last = None
    in_order = True
    for _n, t, link_type, data, _orig, _iface in frames:
        n += 1
        if last is None:
            first = t
        elif t < last:
            in_order = False
        last = t
        if (
            link_type == LINKTYPE_ETHERNET
            and data[23:24] == b"\x32"
            and data[12:15] == b"\x08\x00\x45"
            and not data[20] & 0x3F
            and not data[21]
            and len(data) >= 38
        ):
            raw = data[26:34]
            c = raw_code.get(raw)
            if c is None:
                c = raw_code[raw] = code_of(_normal(raw))
            append(c)
            raw_counts[raw] = raw_counts.get(raw, 0) + 1
            raw_sizes[raw] = raw_sizes.get(raw, 0) + len(data)
            k = data[26:38]
            if k not in seen_esp:
                seen_esp.add(k)
                esp.setdefault(int.from_bytes(data[34:38], "big"), set()).add(_normal(raw))
            continue
        tun = tunnel_of(link_type, data)
        append(code_of(tun))
        counts[tun] = counts.get(tun, 0) + 1
        sizes[tun] = sizes.get(tun, 0) + len(data)
        spi_i, spi = clear_spis(link_type, data)
        if spi_i is not None:
            ike.setdefault(spi_i, set()).add(tun)
        elif spi is not None:
            esp.setdefault(spi, set()).add(tun)
    for raw, c in raw_counts.items():
        tun = _normal(raw)
        counts[tun] = counts.get(tun, 0) + c
        sizes[tun] = sizes.get(tun, 0) + raw_sizes[raw]
    s.count, s.first_time, s.last_time, s.in_order = n, first, last, in_order
    return s


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Tunnel, Tunnel] = {}

    def find(self, x: Tunnel) -> Tunnel:
        p = self.parent.setdefault(x, x)
        while p != self.parent[p]:
            self.parent[p] = self.parent[self.parent[p]]
            p = self.parent[p]
        self.parent[x] = p
        return p

    def union(self, a: Tunnel, b: Tunnel) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass(frozen=True)
class Plan:
    """Tunnels -> partition. Tunnels not in ``assign`` (none were surveyed there) go to
    partition ``crc32(tunnel) % partitions`` — any fixed rule works, as long as every
    task uses the same one."""

    partitions: int
    assign: dict[Tunnel, int]
    rename: dict[int, int] = field(default_factory=dict)  # merged partitions -> survivor

    def partition_of(self, t: Tunnel) -> int:
        p = self.assign.get(t)
        if p is None:
            p = zlib.crc32(t) % self.partitions if t else 0
            p = self.rename.get(p, p)
        return p

    @property
    def ids(self) -> list[int]:
        """The partitions that exist (merged ones gone)."""
        return sorted({self.rename.get(p, p) for p in range(self.partitions)})

    def keep(self, partition: int) -> Keep:
        return Keep(self, partition)

    def merged(self, groups: list[set[int]]) -> Plan:
        """The plan with each set of partitions in ``groups`` made one (the lowest id)."""
        rename = {p: min(g) for g in groups for p in g}
        old = {p: rename.get(q, q) for p, q in self.rename.items()}
        assign = {t: rename.get(p, p) for t, p in self.assign.items()}
        return Plan(self.partitions, assign, {**old, **{p: q for p, q in rename.items() if p != q}})


class Skip:
    """The inverse of :class:`Keep` on the reader's buffer (``CaptureReader.skip``):
    True for a frame of another partition. Plain Ethernet/IPv4 is decided by its raw
    address bytes, without copying the frame."""

    def __init__(self, plan: Plan, partition: int) -> None:
        self.plan = plan
        self.partition = partition
        self._raw: dict[bytes, bool] = {}
        self._keep = Keep(plan, partition)

    def __call__(self, link_type: int, buf: bytes, at: int, length: int) -> bool:
        if (
            link_type == LINKTYPE_ETHERNET
            and length >= 34
            and buf[at + 12 : at + 14] == b"\x08\x00"
        ):
            raw = buf[at + 26 : at + 34]
            hit = self._raw.get(raw)
            if hit is None:
                hit = self._raw[raw] = self.plan.partition_of(_normal(raw)) != self.partition
            return hit
        return not self._keep(link_type, buf[at : at + length])

    def __reduce__(self) -> tuple[type[Skip], tuple[Plan, int]]:
        return (Skip, (self.plan, self.partition))


class Keep:
    """The frame predicate of one partition (picklable, cached per tunnel)."""

    def __init__(self, plan: Plan, partition: int) -> None:
        self.plan = plan
        self.partition = partition
        self._cache: dict[Tunnel, bool] = {}

    def __call__(self, link_type: int, data: bytes) -> bool:
        t = tunnel_of(link_type, data)
        hit = self._cache.get(t)
        if hit is None:
            hit = self._cache[t] = self.plan.partition_of(t) == self.partition
        return hit

    def __reduce__(self) -> tuple[type[Keep], tuple[Plan, int]]:
        return (Keep, (self.plan, self.partition))


def plan(s: Survey, partitions: int) -> Plan:
    """Link tunnels that share a clear SPI, then pack the linked components into
    ``partitions`` bins, largest first onto the lightest bin (by captured bytes, which is
    what reading and decrypting cost)."""
    uf = _UnionFind()
    for t in s.frames:
        uf.find(t)
    for tunnels in (*s.ike.values(), *s.esp.values()):
        first, *rest = sorted(tunnels)
        for t in rest:
            uf.union(first, t)
    weight: dict[Tunnel, int] = {}
    members: dict[Tunnel, list[Tunnel]] = {}
    for t in s.frames:
        root = uf.find(t)
        weight[root] = weight.get(root, 0) + s.sizes.get(t, 0) + 64 * s.frames[t]
        members.setdefault(root, []).append(t)
    loads = [0] * max(1, partitions)
    assign: dict[Tunnel, int] = {}
    for root in sorted(weight, key=lambda r: (-weight[r], r)):
        p = min(range(len(loads)), key=lambda i: (loads[i], i))
        loads[p] += weight[root]
        for t in members[root]:
            assign[t] = p
    return Plan(max(1, partitions), assign)
