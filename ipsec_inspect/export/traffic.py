"""Per-peer, per-IKE-SA and per-SPI counters: the frame-level half of ``summary``.

Why separate from the lifecycle tracker: these counters need no protocol state, so they
stay exact even on captures the tracker cannot make sense of (a capture that starts
mid-tunnel, garbage on port 4500), and they are cheap enough for the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ipsec_inspect.ipsec.registry import exchange_name
from ipsec_inspect.records import AhPacket, EspPacket, IkeMessage, Malformed, NatKeepalive, Record


@dataclass(slots=True)
class SpiCounter:
    protocol: str
    spi: int
    src: str
    dst: str
    packets: int = 0
    bytes: int = 0
    first_frame: int = 0
    last_frame: int = 0
    first_time: float = 0.0
    last_time: float = 0.0
    first_seq: int = 0
    last_seq: int = 0
    decrypted: int = 0
    icv_failures: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "spi": f"{self.spi:08x}",
            "src": self.src,
            "dst": self.dst,
            "packets": self.packets,
            "bytes": self.bytes,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "decrypted": self.decrypted,
            "icv_failures": self.icv_failures,
        }


@dataclass(slots=True)
class IkeCounter:
    version: int
    spi_i: bytes
    spi_r: bytes
    initiator: str
    responder: str
    messages: int = 0
    first_frame: int = 0
    last_frame: int = 0
    exchanges: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "spi_i": self.spi_i.hex(),
            "spi_r": self.spi_r.hex(),
            "initiator": self.initiator,
            "responder": self.responder,
            "messages": self.messages,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "exchanges": dict(self.exchanges),
        }


@dataclass
class TrafficSummary:
    """Counters built from a stream of records (``add``) in one pass."""

    peers: dict[tuple[str, str], int] = field(default_factory=dict)
    ike: dict[tuple[int, bytes], IkeCounter] = field(default_factory=dict)
    spis: dict[tuple[str, int, str, str], SpiCounter] = field(default_factory=dict)
    keepalives: int = 0
    malformed: int = 0
    records: int = 0

    def add(self, r: Record) -> None:
        self.records += 1
        m = r.meta
        pair = (m.src, m.dst) if m.src <= m.dst else (m.dst, m.src)
        self.peers[pair] = self.peers.get(pair, 0) + 1
        if isinstance(r, EspPacket | AhPacket):
            proto = "esp" if isinstance(r, EspPacket) else "ah"
            key = (proto, r.spi, m.src, m.dst)
            c = self.spis.get(key)
            if c is None:
                c = self.spis[key] = SpiCounter(
                    proto,
                    r.spi,
                    m.src,
                    m.dst,
                    first_frame=m.frame,
                    first_time=m.time,
                    first_seq=r.seq,
                )
            c.packets += 1
            c.bytes += m.wire_len
            c.last_frame = m.frame
            c.last_time = m.time
            c.last_seq = r.seq
            if isinstance(r, EspPacket) and r.decryption is not None:
                if r.decryption.status == "ok":
                    c.decrypted += 1
                elif r.decryption.status == "icv-failed":
                    c.icv_failures += 1
            elif isinstance(r, AhPacket) and r.icv_status is not None:
                if r.icv_status == "ok":
                    c.decrypted += 1
                elif r.icv_status == "icv-failed":
                    c.icv_failures += 1
        elif isinstance(r, IkeMessage):
            h = r.header
            ikey = (r.version, h.spi_i)
            ic = self.ike.get(ikey)
            if ic is None:
                # The initiator of an IKE SA sends the first message with a zero responder SPI
                # (IKEv2 I flag says who the original initiator is when we join late).
                if r.version == 2 and not h.is_initiator:
                    initiator, responder = m.dst, m.src
                else:
                    initiator, responder = m.src, m.dst
                ic = self.ike[ikey] = IkeCounter(
                    r.version, h.spi_i, h.spi_r, initiator, responder, first_frame=m.frame
                )
            if ic.spi_r == bytes(8) and h.spi_r != bytes(8):
                ic.spi_r = h.spi_r
            ic.messages += 1
            ic.last_frame = m.frame
            name = exchange_name(r.version, h.exchange)
            ic.exchanges[name] = ic.exchanges.get(name, 0) + 1
        elif isinstance(r, NatKeepalive):
            self.keepalives += 1
        elif isinstance(r, Malformed):
            self.malformed += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "peers": [{"a": a, "b": b, "packets": n} for (a, b), n in sorted(self.peers.items())],
            "ike_sas": [c.to_json() for c in self.ike.values()],
            "spis": [c.to_json() for c in self.spis.values()],
            "nat_keepalives": self.keepalives,
            "malformed": self.malformed,
        }
