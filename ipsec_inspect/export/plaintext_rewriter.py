"""Decrypting and rewriting a capture frame by frame: the work of ``ipsec-inspect decrypt``.

Why apart from the command: the command only parses options and reports; this is the
stage that decodes each frame, decrypts what the keys allow and hands the packet to
:mod:`~ipsec_inspect.export.plaintext_pcap` to be rewritten, and it is imported only when
that command runs (start-up of the others).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipsec_inspect.core.records import AhPacket, EspPacket, IkeMessage, Record
from ipsec_inspect.export.plaintext_pcap import (
    LINKTYPE_RAW,
    MAX_NESTING,
    ip_offset,
    plaintext_ip_packet,
    rebuild_frame,
)

if TYPE_CHECKING:
    from ipsec_inspect.crypto.decryptor import Decryptor
    from ipsec_inspect.wire.decoder import Decoder


class PlaintextRewriter:
    """Decodes, decrypts and rewrites frames one at a time (streaming: memory does not
    grow with the capture)."""

    def __init__(self, decryptor: Decryptor, outer: Decoder, inner: Decoder) -> None:
        self.decryptor = decryptor
        self.outer = outer
        self.inner = inner
        self.replaced = 0
        self.kept_encrypted = 0
        self.esp_packets = 0
        self.seen_sa: set[tuple[str, int]] = set()  # for telling which key file matched nothing
        self.seen_ike: set[tuple[bytes, bytes]] = set()
        self.last_spi = 0  # SPI of the ESP packet the last replaced frame carried

    def _note(self, records: list[Record]) -> None:
        for r in records:
            if isinstance(r, EspPacket):
                self.esp_packets += 1
                self.seen_sa.add(("esp", r.spi))
            elif isinstance(r, AhPacket):
                self.seen_sa.add(("ah", r.spi))
            elif isinstance(r, IkeMessage):
                self.seen_ike.add((r.header.spi_i, r.header.spi_r))

    def _peel(self, number: int, time: float, ip_packet: bytes, depth: int) -> bytes:
        """Decrypt ESP found inside an already decrypted packet (ESP in ESP)."""
        if depth >= MAX_NESTING:
            return ip_packet
        records = self.inner.decode(number, time, LINKTYPE_RAW, ip_packet, len(ip_packet))
        for r in records:
            self.decryptor.process(r)
        esp = _single_esp(records)
        if esp is None:
            return ip_packet
        new_ip = plaintext_ip_packet(ip_packet, esp.offset, esp)
        if new_ip is None:
            return ip_packet
        return self._peel(number, time, new_ip, depth + 1)

    def frame(
        self, number: int, time: float, link_type: int, data: bytes, orig_len: int, iface: int
    ) -> bytes:
        records = self.outer.decode(number, time, link_type, data, orig_len, iface)
        for r in records:
            self.decryptor.process(r)
        self._note(records)
        esp = _single_esp(records)
        if esp is None:
            if any(isinstance(r, EspPacket) for r in records):
                self.kept_encrypted += 1
            return data
        ip_at = ip_offset(link_type, data)
        new_ip = plaintext_ip_packet(data[ip_at:], esp.offset - ip_at, esp) if ip_at >= 0 else None
        if new_ip is None:
            self.kept_encrypted += 1
            return data
        new_frame = rebuild_frame(link_type, data, ip_at, self._peel(number, time, new_ip, 1))
        if new_frame is None:
            self.kept_encrypted += 1
            return data
        self.replaced += 1
        self.last_spi = esp.spi
        return new_frame


def _single_esp(records: list[Record]) -> EspPacket | None:
    """The frame's ESP packet when it is the only record and it decrypted."""
    if len(records) != 1 or not isinstance(records[0], EspPacket):
        return None
    d = records[0].decryption
    return records[0] if d is not None and d.status == "ok" else None
