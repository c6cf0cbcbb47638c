"""What the decoder hands from one layer to the next: the IP context, and the dissectors.

Why a record: every transport payload is described by the IP header it came in (frame,
time, addresses, version, fragments, nesting depth). Passing those as a dozen positional
arguments through every layer made each new fact a change to every signature; one object
per IP header carries them, and ``IpContext.meta`` turns them into the ``PacketMeta`` of a
record.

Why injected dissectors: ``wire`` sits below ``ipsec`` in the layer order, so the decoder
must not import the ESP, AH and IKE dissectors. The pipeline hands them in as one
``IpsecDissectors`` record (``ipsec.dissectors.IPSEC_DISSECTORS``), as dpkt's ``_protosw``
maps protocol numbers to classes it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ipsec_inspect.core.extensions import DissectorTables
from ipsec_inspect.core.records import AhPacket, EspPacket, IkeMessage, PacketMeta, Transport


@dataclass(frozen=True, slots=True)
class IpsecDissectors:
    """The dissectors the decoder calls for what it finds; each reads
    ``data[offset:end]`` and never raises."""

    #: ESP header at ``data[offset:end]`` (RFC 4303)
    esp: Callable[[bytes, int, int, PacketMeta], EspPacket]
    #: AH header; the last argument is where the IP header starts (-1 when reassembled)
    ah: Callable[[bytes, int, int, PacketMeta, int], AhPacket]
    #: one IKE message (RFC 7296, RFC 2408); the last argument is the run's extension
    #: tables (``DecodeOptions.extension_tables``)
    ike: Callable[[bytes, int, int, PacketMeta, DissectorTables], IkeMessage]
    #: strict IKE header check for UDP ports that are not 500/4500
    looks_like_ike: Callable[[bytes, int, int], bool]


@dataclass(slots=True)
class IpContext:
    """One IP header as its payload's dissectors need it.

    ``ip_offset`` is where the IP header starts in the frame (AH's ICV covers it), -1 for
    a reassembled datagram; ``wire_len`` the bytes of the IP packet on the wire (all
    fragments); ``frames`` every frame of a reassembled datagram; ``depth`` how many
    headers (AH, IP-in-IP) enclose this one, bounded so a crafted frame cannot recurse
    without end.
    """

    frame: int
    time: float
    interface: int
    src: str
    dst: str
    version: int
    wire_len: int
    ip_offset: int
    depth: int = 0
    frames: tuple[int, ...] = ()
    fragmented: bool = False

    def meta(
        self, transport: Transport = Transport.IP, sport: int = 0, dport: int = 0
    ) -> PacketMeta:
        """Where a payload of this IP packet was seen (ports and transport are the payload's)."""
        return PacketMeta(
            self.frame,
            self.time,
            self.src,
            self.dst,
            sport,
            dport,
            transport,
            self.version,
            self.wire_len,
            self.frames,
            self.fragmented,
            self.interface,
        )

    def inside(self) -> IpContext:
        """The same IP packet one header deeper (what AH protects)."""
        return IpContext(
            self.frame,
            self.time,
            self.interface,
            self.src,
            self.dst,
            self.version,
            self.wire_len,
            self.ip_offset,
            self.depth + 1,
            self.frames,
            self.fragmented,
        )
