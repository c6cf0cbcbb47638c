"""AH (RFC 4302) header dissection.

AH authenticates but does not encrypt, so the protected packet that follows it is
readable; the decoder continues into it (``inner_offset``). ``ip_offset`` is kept because
ICV verification covers the enclosing IP header with its mutable fields zeroed.
"""

from __future__ import annotations

import struct

from ipsec_inspect.core.records import AhPacket, Field, PacketMeta, ParseError

_AH = struct.Struct("!BBHII")


def dissect_ah(data: bytes, offset: int, end: int, meta: PacketMeta, ip_offset: int) -> AhPacket:
    """AH header at ``data[offset:end]``. Never raises."""
    if end - offset < 12:
        pkt = AhPacket(meta, data, offset, 0, 0, 0, 0, b"", ip_offset, end)
        pkt.errors.append(
            ParseError(f"AH header truncated: {end - offset} bytes, at least 12 needed", offset)
        )
        return pkt
    next_header, plen, _reserved, spi, seq = _AH.unpack_from(data, offset)
    total = (plen + 2) * 4
    pkt = AhPacket(meta, data, offset, next_header, plen, spi, seq, b"", ip_offset, offset + total)
    if total < 12:
        pkt.errors.append(
            ParseError(
                f"AH payload length {plen} gives {total} bytes, less than the 12-byte fixed header",
                offset + 1,
            )
        )
        pkt.inner_offset = offset + 12
    elif offset + total > end:
        pkt.errors.append(
            ParseError(
                f"AH payload length {plen} ({total} bytes) runs past the packet end at offset {end}",
                offset + 1,
            )
        )
        pkt.icv = bytes(data[offset + 12 : end])
        pkt.inner_offset = end
    else:
        pkt.icv = bytes(data[offset + 12 : offset + total])
    return pkt


def ah_fields(pkt: AhPacket) -> list[Field]:
    o = pkt.offset
    fields = [
        Field("ah.next_header", "Next header", pkt.next_header, o, 1),
        Field(
            "ah.length",
            "Payload length",
            pkt.payload_len,
            o + 1,
            1,
            f"{pkt.payload_len} ({pkt.length} bytes)",
        ),
        Field("ah.reserved", "Reserved", 0, o + 2, 2),
        Field("ah.spi", "SPI", pkt.spi, o + 4, 4, f"0x{pkt.spi:08x}"),
        Field("ah.sequence", "Sequence number", pkt.seq, o + 8, 4),
        Field("ah.icv", "ICV", pkt.icv, o + 12, len(pkt.icv)),
    ]
    if pkt.icv_status is not None:
        fields.append(Field("ah.icv_status", "ICV check", pkt.icv_status, o + 12, len(pkt.icv)))
    return fields


def summarize_ah(pkt: AhPacket) -> str:
    text = f"AH SPI 0x{pkt.spi:08x} seq {pkt.seq} next header {pkt.next_header}"
    if pkt.icv_status:
        text += f" (ICV {pkt.icv_status})"
    if pkt.errors:
        text += f" [{pkt.errors[0].message}]"
    return text
