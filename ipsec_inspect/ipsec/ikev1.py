"""IKEv1 / ISAKMP payload chain dissector (RFC 2407, 2408, 2409, 3947, Mode Config, XAUTH).

Why its own module: the crypto layer re-enters here with the plaintext of E-flag messages,
so the chain parser takes any buffer span and a first payload type. IKEv1 quirks handled
here: SA payloads nest Proposal and Transform payloads whose attribute meaning depends on
the proposal's protocol (IKE DOI for PROTO_ISAKMP, IPsec DOI otherwise); NAT-D/NAT-OA exist
as RFC 3947 types 20/21, as draft types 130/131 and, in NAT-T drafts before -03, as 15/16
(later taken by GDOI); decrypted bodies end in padding, which is not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ipsec_inspect.core.buffer import Reader, Truncated
from ipsec_inspect.core.extensions import NO_DISSECTORS, DissectorTables
from ipsec_inspect.core.records import (
    CertBody,
    ConfigBody,
    DeleteBody,
    Field,
    HashBody,
    IdBody,
    IkePayload,
    KeBody,
    NonceBody,
    NotifyBody,
    ParseError,
    PayloadBody,
    Proposal,
    RawBody,
    SaBody,
    Transform,
    VendorIdBody,
)
from ipsec_inspect.ipsec import registry as reg
from ipsec_inspect.ipsec.ike_common import (
    SECRET_CFG_ATTRIBUTES,
    DerError,
    address_text,
    bogus_payload,
    fld,
    identity_text,
    named,
    parse_attributes,
    parse_proposal,
)
from ipsec_inspect.ipsec.registry.ikev1 import SITUATION_BITS
from ipsec_inspect.ipsec.vendor_ids import is_nat_t_draft, vendor_id_name

K = "ikev1"
_HEADER = 4
PHASE1_EXCHANGES = frozenset({2, 4})  # Main Mode, Aggressive Mode
_PROPOSAL = 2


@dataclass(slots=True)
class _Ctx:
    """What the IKEv1 payload parsers share: the fields made and the tables."""

    fields: list[Field]
    name: str
    ext: DissectorTables
    problems: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- SA / proposal / transform


def _attr_namers(protocol: int) -> tuple[Callable[[int], str], Callable[[int, int], str | None]]:
    """Phase-1 (PROTO_ISAKMP) proposals use IKE DOI attributes, others the IPsec DOI ones."""
    if protocol == 1:
        return reg.ike_attribute_name, reg.ike_attribute_value_name
    return reg.ipsec_attribute_name, reg.ipsec_attribute_value_name


def _parse_transform(r: Reader, protocol: int, _proposal: int) -> tuple[Transform, Field, int]:
    start = r.pos
    nxt = r.u8("transform next payload")
    r.skip(1, "transform reserved")
    tlen = r.u16("transform length")
    if tlen < 8:
        raise ValueError(f"transform length {tlen} at offset {start} is shorter than 8 bytes")
    if tlen > r.end - start:
        raise ValueError(f"transform length {tlen} runs past the proposal end at offset {start}")
    t = Reader(r.data, r.pos, start + tlen)
    r.pos = start + tlen
    number = t.u8("transform number")
    tid = t.u8("transform id")
    t.skip(2, "transform reserved")
    type_name, value_name = _attr_namers(protocol)
    attrs, attr_fields = parse_attributes(
        t, f"{K}.sa.proposal.transform.attr", type_name, value_name
    )
    name = reg.ipsec_transform_name(protocol, tid)
    transform = Transform(
        type=0,
        id=tid,
        attributes=attrs,
        number=number,
        name=name,
        key_length_attribute=14 if protocol == 1 else 6,
    )
    f = fld(
        f"{K}.sa.proposal.transform",
        "Transform",
        tid,
        start,
        tlen,
        f"Transform {number} {name}",
        [
            fld(f"{K}.sa.proposal.transform.next", "Next payload", nxt, start, 1),
            fld(f"{K}.sa.proposal.transform.length", "Transform length", tlen, start + 2, 2),
            fld(f"{K}.sa.proposal.transform.number", "Transform number", number, start + 4, 1),
            fld(
                f"{K}.sa.proposal.transform.id", "Transform ID", tid, start + 5, 1, named(name, tid)
            ),
            *attr_fields,
        ],
    )
    return transform, f, nxt


def _parse_proposal(r: Reader) -> tuple[Proposal, Field, int]:
    return parse_proposal(r, 1, _parse_transform, lambda n: reg.protocol_name(1, n))


def _situation_text(situation: int) -> str:
    names = [name for bit, name in SITUATION_BITS if situation & bit]
    return " | ".join(names) if names else f"0x{situation:08x}"


def _sa(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    doi = r.u32("DOI")
    ctx.fields.append(
        fld(f"{K}.sa.doi", "Domain of interpretation", doi, start, 4, named(reg.doi_name(doi), doi))
    )
    body = SaBody(proposals=[], doi=doi)
    if doi != 1:
        # ISAKMP DOI 0 has no situation; GDOI (2) SA payloads carry KEK/TEK payloads instead
        # of proposals. Keep the bytes.
        at = r.pos
        rest = r.rest()
        ctx.fields.append(fld(f"{K}.sa.data", "SA data", rest, at, len(rest)))
        return body
    situation = r.u32("situation")
    body.situation = situation
    ctx.fields.append(
        fld(f"{K}.sa.situation", "Situation", situation, start + 4, 4, _situation_text(situation))
    )
    if situation & 0x06:
        at = r.pos
        rest = r.rest()
        ctx.fields.append(
            fld(f"{K}.sa.labeled_domain", "Labeled domain data and proposals", rest, at, len(rest))
        )
        ctx.problems.append(
            f"SIT_SECRECY/SIT_INTEGRITY situation at offset {start + 4}: labeled-domain proposals not decoded"
        )
        return body
    while r.remaining > 0:
        proposal, pf, nxt = _parse_proposal(r)
        body.proposals.append(proposal)
        ctx.fields.append(pf)
        if nxt != _PROPOSAL:
            break
    if r.remaining > 0:
        ctx.problems.append(f"{r.remaining} bytes after the last proposal at offset {r.pos}")
    return body


# ---------------------------------------------------------------- simple payloads


def _ke(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    at = r.pos
    data = r.rest()
    ctx.fields.append(fld(f"{K}.ke.data", "Key exchange data", data, at, len(data)))
    return KeBody(group=None, data=data)


def _id(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    id_type = r.u8("ID type")
    protocol = r.u8("ID protocol")
    port = r.u16("ID port")
    data = r.rest()
    try:
        text = identity_text(1, id_type, data)
    except (ValueError, DerError) as exc:
        text = data.hex()
        ctx.problems.append(f"{reg.id_type_name(1, id_type)} identity at offset {start + 4}: {exc}")
    ctx.fields += [
        fld(
            f"{K}.id.type",
            "ID type",
            id_type,
            start,
            1,
            named(reg.id_type_name(1, id_type), id_type),
        ),
        fld(f"{K}.id.protocol", "Protocol ID", protocol, start + 1, 1),
        fld(f"{K}.id.port", "Port", port, start + 2, 2),
        fld(f"{K}.id.data", "Identification data", data, start + 4, len(data), text),
    ]
    return IdBody(id_type=id_type, data=data, text=text, protocol=protocol, port=port)


def _cert(r: Reader, ctx: _Ctx, ptype: int) -> PayloadBody:
    start = r.pos
    enc = r.u8("certificate encoding")
    data = r.rest()
    kind = "cert" if ptype == 6 else "cr"
    label = "Certificate data" if ptype == 6 else "Certificate authority"
    ctx.fields += [
        fld(
            f"{K}.{kind}.encoding",
            "Certificate encoding",
            enc,
            start,
            1,
            named(reg.cert_encoding_name(1, enc), enc),
        ),
        fld(f"{K}.{kind}.data", label, data, start + 1, len(data)),
    ]
    return CertBody(encoding=enc, data=data)


def _hash_like(kind: str, key: str, label: str) -> Callable[[Reader, _Ctx, int], PayloadBody]:
    def parse(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
        at = r.pos
        data = r.rest()
        ctx.fields.append(fld(f"{K}.{key}", label, data, at, len(data)))
        return HashBody(kind=kind, data=data)

    return parse


def _nonce(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    at = r.pos
    data = r.rest()
    ctx.fields.append(fld(f"{K}.nonce", "Nonce data", data, at, len(data)))
    return NonceBody(data=data)


def _vendor(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    at = r.pos
    data = r.rest()
    name = vendor_id_name(data, ctx.ext)
    ctx.fields.append(
        fld(
            f"{K}.vid", "Vendor ID", data, at, len(data), f"{data.hex()} ({name})" if name else None
        )
    )
    return VendorIdBody(data=data, name=name)


def _notify(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    doi = r.u32("notify DOI")
    protocol = r.u8("notify protocol")
    spi_size = r.u8("notify SPI size")
    ntype = r.u16("notify message type")
    spi = r.bytes(spi_size, "notify SPI")
    name = reg.notify_name(1, ntype, ctx.ext)
    known = reg.notify_name_or_none(1, ntype, ctx.ext)
    ctx.name = f"N({known if known else ntype})"
    ctx.fields += [
        fld(
            f"{K}.notify.doi",
            "Domain of interpretation",
            doi,
            start,
            4,
            named(reg.doi_name(doi), doi),
        ),
        fld(
            f"{K}.notify.protocol",
            "Protocol ID",
            protocol,
            start + 4,
            1,
            named(reg.protocol_name(1, protocol), protocol),
        ),
        fld(f"{K}.notify.spi_size", "SPI size", spi_size, start + 5, 1),
        fld(f"{K}.notify.type", "Notify message type", ntype, start + 6, 2, named(name, ntype)),
    ]
    if spi_size:
        ctx.fields.append(fld(f"{K}.notify.spi", "SPI", spi, start + 8, spi_size, "0x" + spi.hex()))
    at = r.pos
    data = bytes(r.data[r.pos : r.end])
    if data:
        data_field = fld(f"{K}.notify.data", "Notification data", data, at, len(data))
        ctx.fields.append(data_field)
        sub = Reader(r.data, at, r.end)
        try:
            if ntype in (36136, 36137, 24577) and len(data) == 4:  # DPD sequence, replay status
                data_field.children.append(
                    fld(f"{K}.notify.sequence", "Sequence number", sub.u32("sequence"), at, 4)
                )
            elif ntype == 24576:  # RESPONDER-LIFETIME carries SA attributes
                type_name, value_name = _attr_namers(protocol)
                _attrs, afields = parse_attributes(
                    sub, f"{K}.notify.lifetime.attr", type_name, value_name
                )
                data_field.children.extend(afields)
            else:
                decoder = ctx.ext.notify_decoders.get((1, ntype))
                if decoder is not None:
                    decoder(sub, data_field.children)
        except ValueError as exc:
            ctx.problems.append(f"{name} data at offset {at}: {exc}")
    r.pos = r.end
    return NotifyBody(protocol=protocol, spi=spi, notify_type=ntype, data=data, name=name, doi=doi)


def _delete(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    doi = r.u32("delete DOI")
    protocol = r.u8("delete protocol")
    spi_size = r.u8("delete SPI size")
    count = r.u16("number of SPIs")
    ctx.fields += [
        fld(
            f"{K}.delete.doi",
            "Domain of interpretation",
            doi,
            start,
            4,
            named(reg.doi_name(doi), doi),
        ),
        fld(
            f"{K}.delete.protocol",
            "Protocol ID",
            protocol,
            start + 4,
            1,
            named(reg.protocol_name(1, protocol), protocol),
        ),
        fld(f"{K}.delete.spi_size", "SPI size", spi_size, start + 5, 1),
        fld(f"{K}.delete.count", "Number of SPIs", count, start + 6, 2),
    ]
    spis: list[bytes] = []
    for _ in range(count):
        at = r.pos
        spi = r.bytes(spi_size, "deleted SPI")
        spis.append(spi)
        ctx.fields.append(fld(f"{K}.delete.spi", "SPI", spi, at, spi_size, "0x" + spi.hex()))
    if r.remaining:
        ctx.problems.append(f"{r.remaining} bytes after the last SPI at offset {r.pos}")
    return DeleteBody(protocol=protocol, spis=spis, doi=doi)


def _cfg_value_name(attr_type: int, value: int) -> str | None:
    if attr_type == 16520:
        return reg.xauth_type_name(value)
    if attr_type == 16527:
        return {0: "Fail", 1: "OK"}.get(value)
    return None


def _attribute(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    cfg_type = r.u8("attribute payload type")
    r.skip(1, "attribute payload reserved")
    identifier = r.u16("attribute payload identifier")
    ctx.fields += [
        fld(
            f"{K}.cfg.type",
            "Type",
            cfg_type,
            start,
            1,
            named(reg.cfg_type_name(1, cfg_type), cfg_type),
        ),
        fld(f"{K}.cfg.identifier", "Identifier", identifier, start + 2, 2),
    ]
    attrs, afields = parse_attributes(
        r, f"{K}.cfg.attr", lambda n: reg.cp_attribute_name(1, n), _cfg_value_name, tlv_as_int=False
    )
    for a, f in zip(attrs, afields, strict=True):
        if a.type in _CFG_SECRETS and isinstance(a.value, bytes) and a.value:
            _redact(f, f"{a.name} = (secret, {len(a.value)} bytes)")
        elif isinstance(a.value, bytes) and a.value:
            a.value_name = _cfg_bytes_text(a.type, a.value)
            f.display = f"{a.name} = {a.value_name}"
    ctx.fields += afields
    return ConfigBody(cfg_type=cfg_type, attributes=attrs, identifier=identifier)


_CFG_ADDRESSES = frozenset({1, 2, 3, 4, 6, 8, 9, 10, 11, 12})
#: XAUTH-USER-PASSWORD and XAUTH-PASSCODE (draft-beaulieu-ike-xauth §6): secrets, never shown
#: in fields (the attribute keeps the value for the lifecycle, exported only with keys)
_CFG_SECRETS = SECRET_CFG_ATTRIBUTES  # ike_common


def _redact(f: Field, display: str) -> None:
    """Hide a secret value in a field and its sub-fields (their offsets stay)."""
    f.value = b""
    f.display = display
    for child in f.children:
        if isinstance(child.value, bytes):
            child.value = b""
            child.display = "(secret)"


_CFG_TEXT = frozenset({7, 16521, 16524, 16525, 16526, 28672, 28674, 28675, 28682})


def _cfg_bytes_text(attr_type: int, value: bytes) -> str:
    if attr_type in _CFG_ADDRESSES and len(value) in (4, 16):
        return address_text(value)
    if attr_type in _CFG_TEXT:
        return value.decode("utf-8", errors="replace")
    return value.hex()


def _nat_oa(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    id_type = r.u8("NAT-OA ID type")
    r.skip(3, "NAT-OA reserved")
    data = r.rest()
    text = address_text(data)
    ctx.fields += [
        fld(
            f"{K}.nat_oa.type",
            "ID type",
            id_type,
            start,
            1,
            named(reg.id_type_name(1, id_type), id_type),
        ),
        fld(f"{K}.nat_oa.address", "Original address", data, start + 4, len(data), text),
    ]
    return IdBody(id_type=id_type, data=data, text=text)


def _cisco_fragment(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    ctx.fields += [
        fld(f"{K}.frag.id", "Fragment ID", r.u16("fragment id"), start, 2),
        fld(f"{K}.frag.number", "Fragment number", r.u8("fragment number"), start + 2, 1),
        fld(f"{K}.frag.flags", "Flags (1 = last)", r.u8("fragment flags"), start + 3, 1),
    ]
    at = r.pos
    data = r.rest()
    ctx.fields.append(fld(f"{K}.frag.data", "Fragment data", data, at, len(data)))
    return RawBody(data=data)


def _raw(r: Reader, ctx: _Ctx, ptype: int) -> PayloadBody:
    at = r.pos
    data = r.rest()
    data_field = fld(f"{K}.payload.data", "Payload data", data, at, len(data))
    ctx.fields.append(data_field)
    plugin = ctx.ext.payloads.get((1, ptype))
    if plugin is not None and plugin.decode is not None and data:
        # A plugin's private payload: its fields hang under the data; a problem is the payload's.
        plugin.decode(Reader(r.data, at, r.end), data_field.children)
    return RawBody(data=data)


_NAT_D = _hash_like("NAT-D", "nat_d", "NAT discovery hash")

_PARSERS: dict[int, Callable[[Reader, _Ctx, int], PayloadBody]] = {
    1: _sa,
    4: _ke,
    5: _id,
    6: _cert,
    7: _cert,
    8: _hash_like("HASH", "hash", "Hash data"),
    9: _hash_like("SIG", "sig", "Signature data"),
    10: _nonce,
    11: _notify,
    12: _delete,
    13: _vendor,
    14: _attribute,
    20: _NAT_D,
    21: _nat_oa,
    130: _NAT_D,
    131: _nat_oa,
    132: _cisco_fragment,
}

_DRAFT_NAT_PARSERS: dict[int, Callable[[Reader, _Ctx, int], PayloadBody]] = {
    15: _NAT_D,
    16: _nat_oa,
}


# ---------------------------------------------------------------- the chain


def _parse_payload(
    data: bytes, pos: int, avail_end: int, ptype: int, draft_nat: bool, ext: DissectorTables
) -> IkePayload:
    next_type = data[pos]
    reserved = data[pos + 1]
    length = (data[pos + 2] << 8) | data[pos + 3]
    draft = reg.draft_nat_payload(ptype) if draft_nat else None
    short = draft[0] if draft else reg.payload_short_name(1, ptype, ext)
    fields = [
        fld(
            f"{K}.payload.next",
            "Next payload",
            next_type,
            pos,
            1,
            named(reg.payload_name(1, next_type, ext), next_type),
        ),
        fld(f"{K}.payload.reserved", "Reserved", reserved, pos + 1, 1),
        fld(f"{K}.payload.length", "Payload length", length, pos + 2, 2),
    ]
    ctx = _Ctx(fields=fields, name=short, ext=ext)
    body_end = min(pos + length, avail_end)
    problems: list[str] = []
    if pos + length > avail_end:
        problems.append(f"payload length {length} runs past the message end at offset {pos}")
    parser = (_DRAFT_NAT_PARSERS.get(ptype) if draft else None) or _PARSERS.get(ptype, _raw)
    body: PayloadBody | None = None
    try:
        body = parser(Reader(data, pos + _HEADER, body_end), ctx, ptype)
    except Truncated as exc:
        ctx.problems.append(f"{short} payload at offset {pos} is truncated: {exc}")
    except ValueError as exc:
        ctx.problems.append(f"{short} payload at offset {pos}: {exc}")
    problems += ctx.problems
    return IkePayload(
        type=ptype,
        name=ctx.name,
        offset=pos,
        length=length,
        body=body,
        field_list=ctx.fields,
        error="; ".join(problems) if problems else None,
    )


def _announces_nat_t_draft(data: bytes, offset: int, end: int, first_type: int) -> bool:
    """Pre-scan the chain for a NAT-T draft Vendor ID (cheap: headers and VIDs only)."""
    pos, ptype = offset, first_type
    while ptype != 0 and end - pos >= _HEADER:
        length = (data[pos + 2] << 8) | data[pos + 3]
        if length < _HEADER or pos + length > end:
            return False
        if ptype == 13 and is_nat_t_draft(bytes(data[pos + _HEADER : pos + length])):
            return True
        ptype = data[pos]
        pos += length
    return False


def parse_payload_chain(
    data: bytes,
    offset: int,
    end: int,
    first_type: int,
    *,
    exchange: int | None = None,
    ext: DissectorTables = NO_DISSECTORS,
) -> tuple[list[IkePayload], list[ParseError]]:
    """Dissect the IKEv1 payloads in ``data[offset:end]`` starting with type ``first_type``.

    ``exchange`` (the header's exchange type) lets payloads 15/16 be read as the NAT-T draft
    NAT-D/NAT-OA in Main and Aggressive Mode, where GDOI's SA KEK/TEK cannot occur; they
    are read that way as well when the same message announces a NAT-T draft Vendor ID.
    Bytes after the last payload are not an error: decrypted bodies end in cipher padding.
    ``ext``: extension payload types, notify decoders and Vendor IDs. Never raises.
    """
    payloads: list[IkePayload] = []
    errors: list[ParseError] = []
    end = min(end, len(data))
    draft_nat = exchange in PHASE1_EXCHANGES or _announces_nat_t_draft(
        data, offset, end, first_type
    )
    pos = offset
    ptype = first_type
    while ptype != 0:
        if end - pos < _HEADER:
            errors.append(
                ParseError(
                    f"{reg.payload_short_name(1, ptype, ext)} payload header truncated: needs 4 bytes "
                    f"at offset {pos} but only {max(0, end - pos)} remain",
                    pos,
                )
            )
            break
        length = (data[pos + 2] << 8) | data[pos + 3]
        if length < _HEADER:
            message = (
                f"payload length {length} at offset {pos} is shorter than the 4-byte payload header"
            )
            payloads.append(bogus_payload(1, data, pos, ptype, message, ext))
            errors.append(ParseError(message, pos))
            break
        payload = _parse_payload(data, pos, end, ptype, draft_nat, ext)
        payloads.append(payload)
        if payload.error:
            errors.append(ParseError(payload.error, pos))
        if pos + length > end:
            break
        pos += length
        ptype = data[payload.offset]
    return payloads, errors
