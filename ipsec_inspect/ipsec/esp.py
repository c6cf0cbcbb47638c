"""ESP (RFC 4303) header dissection.

Without keys only the SPI and sequence number are readable; everything after them (IV,
ciphertext, padding, trailer, ICV) is kept in place for the crypto layer, which knows the
algorithm and therefore where the IV ends and the ICV begins.
"""

from __future__ import annotations

import struct

from ipsec_inspect.core.records import EspPacket, Field, PacketMeta, ParseError

_SPI_SEQ = struct.Struct("!II")


def dissect_esp(data: bytes, offset: int, end: int, meta: PacketMeta) -> EspPacket:
    """ESP header at ``data[offset:end]``. Never raises."""
    length = end - offset
    if length < 8:
        pkt = EspPacket(meta, data, offset, max(0, length), 0, 0)
        pkt.errors.append(
            ParseError(
                f"ESP header truncated: {length} bytes, at least 8 needed (SPI and sequence)",
                offset,
            )
        )
        return pkt
    spi, seq = _SPI_SEQ.unpack_from(data, offset)
    return EspPacket(meta, data, offset, length, spi, seq)


def esp_fields(pkt: EspPacket) -> list[Field]:
    """The detail-view fields of an ESP packet (built only when someone looks)."""
    o = pkt.offset
    fields = [
        Field("esp.spi", "SPI", pkt.spi, o, 4, f"0x{pkt.spi:08x}"),
        Field("esp.sequence", "Sequence number", pkt.seq, o + 4, 4),
    ]
    if pkt.length > 8:
        fields.append(
            Field(
                "esp.payload",
                "Encrypted payload, padding, trailer and ICV",
                pkt.length - 8,
                o + 8,
                pkt.length - 8,
                f"{pkt.length - 8} bytes",
            )
        )
    d = pkt.decryption
    if d is not None:
        dec = Field(
            "esp.decryption", "Decryption", d.status, o + 8, max(0, pkt.length - 8), d.status
        )
        if d.iv:
            dec.children.append(Field("esp.iv", "IV", d.iv, o + 8, len(d.iv)))
        if d.status == "ok":
            dec.children.append(Field("esp.next_header", "Next header", d.next_header, -1, 0))
            dec.children.append(Field("esp.pad_length", "Pad length", d.pad_length, -1, 0))
            dec.children.append(
                Field(
                    "esp.plaintext",
                    "Payload data",
                    len(d.plaintext),
                    -1,
                    0,
                    f"{len(d.plaintext)} bytes",
                )
            )
        if d.icv:
            dec.children.append(
                Field("esp.icv", "ICV", d.icv, o + pkt.length - len(d.icv), len(d.icv))
            )
        if d.key_source:
            dec.children.append(Field("esp.key_source", "Key", d.key_source, -1, 0))
        fields.append(dec)
    return fields


def summarize_esp(pkt: EspPacket) -> str:
    text = f"ESP SPI 0x{pkt.spi:08x} seq {pkt.seq}"
    d = pkt.decryption
    if d is not None:
        if d.status == "ok":
            text += f" (decrypted, next header {d.next_header})"
        else:
            text += f" ({d.status})"
    if pkt.errors:
        text += f" [{pkt.errors[0].message}]"
    return text
