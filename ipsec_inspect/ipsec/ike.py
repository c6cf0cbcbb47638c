"""IKE message entry points: header check, dissection, one-line summary, JSON.

Why here and not in ``ikev1.py``/``ikev2.py``: IKEv1 (ISAKMP) and IKEv2 share the 28-byte
header and are told apart only by its version byte, so the pipeline calls one function and
this module dispatches the payload chain to the right version. Nothing here raises on
hostile input: every problem becomes a :class:`ParseError` on the returned message.
"""

from __future__ import annotations

import dataclasses
import struct
from enum import Enum
from functools import partial
from typing import Any

from ipsec_inspect.core.extensions import NO_DISSECTORS, DissectorTables
from ipsec_inspect.core.records import (
    ConfigBody,
    EapBody,
    EncryptedBody,
    Field,
    IkeHeader,
    IkeMessage,
    IkePayload,
    PacketMeta,
    ParseError,
)
from ipsec_inspect.ipsec import ikev1, ikev2
from ipsec_inspect.ipsec import registry as reg
from ipsec_inspect.ipsec.ike_common import SECRET_CFG_ATTRIBUTES, fld, is_secret_eap, named

HEADER_LEN = 28
_HDR = struct.Struct("!8s8sBBBBII")

# Flag bits each version defines; anything else set makes a non-standard-port guess unlikely.
_V1_FLAGS = 0x07  # E, C, A
_V2_FLAGS = 0x38  # I, V, R
_V1_FIRST_PAYLOADS = frozenset({*range(1, 23), 130, 131, 132})
_V2_FIRST_PAYLOADS = frozenset(range(33, 55))


def looks_like_ike(data: bytes, offset: int, end: int) -> bool:
    """Strict check used to find IKE on non-standard UDP ports.

    Requires: at least a full header, version 1.0 or 2.0, a known exchange type, a length
    field equal to the datagram size, only defined flag bits, and a plausible first payload.
    """
    size = min(end, len(data)) - offset
    if offset < 0 or size < HEADER_LEN:
        return False
    _ispi, _rspi, first, version, exchange, flags, _mid, length = _HDR.unpack_from(data, offset)
    if length != size:
        return False
    if version == 0x20:
        if exchange not in range(34, 45) or flags & ~_V2_FLAGS & 0xFF:
            return False
        return first in _V2_FIRST_PAYLOADS or (first == 0 and size == HEADER_LEN)
    if version == 0x10:
        if exchange not in (1, 2, 3, 4, 5, 6, 32, 33) or flags & ~_V1_FLAGS & 0xFF:
            return False
        return first in _V1_FIRST_PAYLOADS or (first == 0 and size == HEADER_LEN)
    return False


def _header_fields(h: IkeHeader, version: int, at: int, ext: DissectorTables) -> list[Field]:
    p = "ikev2" if version == 2 else "ikev1"
    spi_label = (
        ("Initiator SPI", "Responder SPI")
        if version == 2
        else ("Initiator cookie", "Responder cookie")
    )
    if version == 2:
        flag_bits = [
            fld(f"{p}.flags.initiator", "Initiator", bool(h.flags & 0x08), at + 19, 1),
            fld(f"{p}.flags.version", "Higher version", bool(h.flags & 0x10), at + 19, 1),
            fld(f"{p}.flags.response", "Response", bool(h.flags & 0x20), at + 19, 1),
        ]
    else:
        flag_bits = [
            fld(f"{p}.flags.encryption", "Encryption", bool(h.flags & 0x01), at + 19, 1),
            fld(f"{p}.flags.commit", "Commit", bool(h.flags & 0x02), at + 19, 1),
            fld(
                f"{p}.flags.authentication", "Authentication only", bool(h.flags & 0x04), at + 19, 1
            ),
        ]
    return [
        fld(f"{p}.spi_i", spi_label[0], h.spi_i, at, 8),
        fld(f"{p}.spi_r", spi_label[1], h.spi_r, at + 8, 8),
        fld(
            f"{p}.next_payload",
            "Next payload",
            h.next_payload,
            at + 16,
            1,
            named(reg.payload_name(version, h.next_payload, ext), h.next_payload),
        ),
        fld(f"{p}.version", "Version", f"{h.major}.{h.minor}", at + 17, 1),
        fld(
            f"{p}.exchange",
            "Exchange type",
            h.exchange,
            at + 18,
            1,
            named(reg.exchange_name(version, h.exchange), h.exchange),
        ),
        fld(f"{p}.flags", "Flags", h.flags, at + 19, 1, f"0x{h.flags:02x}", flag_bits),
        fld(f"{p}.message_id", "Message ID", h.message_id, at + 20, 4, f"0x{h.message_id:08x}"),
        fld(f"{p}.length", "Length", h.length, at + 24, 4),
    ]


def _empty_message(data: bytes, offset: int, end: int, meta: PacketMeta, error: str) -> IkeMessage:
    header = IkeHeader(b"", b"", 0, 0, 0, 0, 0, 0, 0)
    return IkeMessage(
        meta=meta,
        data=data,
        offset=offset,
        length=max(0, end - offset),
        header=header,
        version=1,
        payloads=[],
        errors=[ParseError(error, offset)],
    )


def _encrypted_v1(data: bytes, h: IkeHeader, body_at: int, msg_end: int) -> IkePayload:
    """The IKEv1 E-flag case: everything after the header is ciphertext."""
    length = max(0, msg_end - body_at)
    return IkePayload(
        type=0,
        name="encrypted",
        offset=body_at,
        length=length,
        body=EncryptedBody(first_payload=h.next_payload, body_offset=body_at, body_length=length),
        field_list=[fld("ikev1.encrypted.data", "Encrypted data", length, body_at, length)],
    )


def dissect_ike(
    data: bytes, offset: int, end: int, meta: PacketMeta, ext: DissectorTables = NO_DISSECTORS
) -> IkeMessage:
    """Dissect one IKE message in ``data[offset:end]``; never raises.

    ``ext``: the extension tables (private payloads, notifies, Vendor IDs) of this run.
    """
    end = min(end, len(data))
    if end - offset < HEADER_LEN:
        return _empty_message(
            data,
            offset,
            end,
            meta,
            f"IKE header truncated: {max(0, end - offset)} bytes at offset {offset}, 28 needed",
        )
    spi_i, spi_r, first, version_byte, exchange, flags, mid, length = _HDR.unpack_from(data, offset)
    major, minor = version_byte >> 4, version_byte & 0x0F
    version = 2 if major == 2 else 1
    header = IkeHeader(spi_i, spi_r, first, major, minor, exchange, flags, mid, length)
    errors: list[ParseError] = []
    if major not in (1, 2):
        errors.append(
            ParseError(f"unknown IKE major version {major} at offset {offset + 17}", offset + 17)
        )
    msg_end = end
    if length < HEADER_LEN:
        errors.append(
            ParseError(
                f"IKE length field {length} is shorter than the 28-byte header at offset {offset + 24}",
                offset + 24,
            )
        )
    elif offset + length > end:
        errors.append(
            ParseError(
                f"IKE length field {length} runs past the {end - offset} captured bytes of the message at offset {offset}",
                offset + 24,
            )
        )
    else:
        msg_end = offset + length
    msg = IkeMessage(
        meta=meta,
        data=data,
        offset=offset,
        length=msg_end - offset,
        header=header,
        version=version,
        payloads=[],
        header_fields_from=partial(_header_fields, header, version, offset, ext),
        errors=errors,
    )
    if major not in (1, 2):
        return msg
    body_at = offset + HEADER_LEN
    try:
        if version == 2:
            payloads, perrors = ikev2.parse_payload_chain(data, body_at, msg_end, first, ext)
        elif flags & 0x01:
            payloads, perrors = [_encrypted_v1(data, header, body_at, msg_end)], []
        else:
            payloads, perrors = ikev1.parse_payload_chain(
                data, body_at, msg_end, first, exchange=exchange, ext=ext
            )
    except Exception as exc:  # the contract is "never raises": keep the run going, say why
        payloads, perrors = (
            [],
            [ParseError(f"IKE dissector failed at offset {body_at}: {exc!r}", body_at)],
        )
    msg.payloads = payloads
    msg.errors.extend(perrors)
    return msg


# ---------------------------------------------------------------- summary


def _names(payloads: list[IkePayload]) -> str:
    return " ".join(p.name for p in payloads)


def _v2_summary(msg: IkeMessage) -> str:
    h = msg.header
    parts = []
    for p in msg.payloads:
        if p.type in (ikev2.SK, ikev2.SKF) and msg.decrypted is not None:
            inner = [q for q in msg.decrypted if q is not p]
            parts.append(f"{p.name} {{{_names(inner)}}}")
        else:
            parts.append(p.name)
    direction = "response" if h.is_response else "request"
    return f"{reg.exchange_short_name(2, h.exchange)} {direction} MID {h.message_id} [{' '.join(parts)}]"


def _v1_step(msg: IkeMessage) -> str:
    """``#1``/``#2`` for the first two messages of Main and Aggressive Mode (SA offer/choice).

    The later messages cannot be numbered from one message alone (MM3 and MM4 carry the
    same payloads), so they are left unnumbered rather than guessed.
    """
    h = msg.header
    if h.exchange not in (2, 4) or not msg.payloads or msg.payloads[0].type != 1:
        return ""
    return " #1" if h.spi_r == bytes(8) else " #2"


def _v1_summary(msg: IkeMessage) -> str:
    h = msg.header
    name = reg.exchange_short_name(1, h.exchange)
    if h.flags & 0x01:
        if msg.decrypted is not None:
            return f"{name} [{_names(msg.decrypted)}]"
        return f"{name} (encrypted)"
    return f"{name}{_v1_step(msg)} [{_names(msg.payloads)}]"


def summarize_ike(msg: IkeMessage) -> str:
    """The one-line info text (tshark-like, with payload names)."""
    if not msg.header.major:
        return "IKE (malformed header)"
    text = _v2_summary(msg) if msg.version == 2 else _v1_summary(msg)
    if msg.errors:
        text += " [malformed]"
    return text


# ---------------------------------------------------------------- JSON


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _body_json(body: Any) -> Any:
    """A payload body as JSON, with the XAUTH password and passcode and an EAP-GTC
    response left out: they are secrets (the lifecycle exports them only when keys are asked for)."""
    out = _jsonable(body)
    if isinstance(body, EapBody) and is_secret_eap(body.code, body.eap_type) and body.data:
        out["data"] = None
    if isinstance(body, ConfigBody):
        for attr, shown in zip(body.attributes, out["attributes"], strict=True):
            if attr.type in SECRET_CFG_ATTRIBUTES and attr.value:
                shown["value"] = None
                shown["value_name"] = "(secret)"
    return out


def _payload_json(p: IkePayload) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": p.type,
        "name": p.name,
        "offset": p.offset,
        "length": p.length,
        "critical": p.critical,
        "body_kind": type(p.body).__name__ if p.body is not None else None,
        "body": _body_json(p.body) if p.body is not None else None,
        "fields": [f.to_json() for f in p.fields],
    }
    if p.error:
        out["error"] = p.error
    return out


def ike_to_json(msg: IkeMessage) -> dict[str, Any]:
    """Every field of the message, for ``packets --format jsonl``."""
    h = msg.header
    out: dict[str, Any] = {
        "protocol": "ike",
        "meta": _jsonable(msg.meta),
        "offset": msg.offset,
        "length": msg.length,
        "version": msg.version,
        "spi_i": h.spi_i.hex(),
        "spi_r": h.spi_r.hex(),
        "next_payload": h.next_payload,
        "major": h.major,
        "minor": h.minor,
        "exchange": h.exchange,
        "exchange_name": reg.exchange_name(msg.version, h.exchange),
        "flags": h.flags,
        "message_id": h.message_id,
        "header_length": h.length,
        "summary": summarize_ike(msg),
        "header_fields": [f.to_json() for f in msg.fields],
        "payloads": [_payload_json(p) for p in msg.payloads],
        "errors": [{"message": e.message, "offset": e.offset} for e in msg.errors],
    }
    if msg.decrypted is not None:
        out["decrypted"] = [_payload_json(p) for p in msg.decrypted]
    if msg.decryption_status is not None:
        out["decryption_status"] = msg.decryption_status
    return out
