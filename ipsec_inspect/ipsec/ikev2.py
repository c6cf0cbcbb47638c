"""IKEv2 payload chain dissector (RFC 7296 and extensions).

Why its own module: the crypto layer re-enters here with the plaintext of SK payloads, so
the chain parser takes any buffer span and a first payload type, and knows nothing about
headers, keys or state. Each payload type is one small function that reads its fields with a
bounds-checked :class:`Reader` and appends :class:`Field` entries as it goes, so a truncated
payload keeps every field read before the problem and records what went wrong and where.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from ipsec_inspect.core.buffer import Reader, Truncated
from ipsec_inspect.core.extensions import NO_DISSECTORS, DissectorTables
from ipsec_inspect.core.records import (
    Attribute,
    AuthBody,
    CertBody,
    ConfigBody,
    DeleteBody,
    EapBody,
    EncryptedBody,
    Field,
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
    TrafficSelector,
    Transform,
    TsBody,
    VendorIdBody,
)
from ipsec_inspect.ipsec import registry as reg
from ipsec_inspect.ipsec.ike_common import (
    DerError,
    address_text,
    bogus_payload,
    fld,
    identity_text,
    is_secret_eap,
    named,
    parse_attributes,
    parse_proposal,
)
from ipsec_inspect.ipsec.vendor_ids import vendor_id_name

K = "ikev2"
SK = 46
SKF = 53
SA = 33
_HEADER = 4  # generic payload header
#: distinct SA payloads whose dissection is remembered (least recently used dropped first)
SA_MEMO_SIZE = 256


@dataclass(slots=True)
class _Ctx:
    """What a payload parser produces besides its body: fields, its summary name, problems."""

    fields: list[Field]
    name: str
    next_type: int
    ext: DissectorTables
    problems: list[str] = field(default_factory=list)
    # more fields, after ``fields``, built only when the payload's fields are read
    later: Callable[[], list[Field]] | None = None


# ---------------------------------------------------------------- SA


def _parse_transform(r: Reader, _protocol: int, proposal_no: int) -> tuple[Transform, Field, int]:
    start = r.pos
    last = r.u8("transform last-substructure")
    r.skip(1, "transform reserved")
    tlen = r.u16("transform length")
    if tlen < 8:
        raise ValueError(f"transform length {tlen} at offset {start} is shorter than 8 bytes")
    if tlen > r.end - start:
        raise ValueError(
            f"transform length {tlen} runs past the proposal end at offset {start} "
            f"(proposal {proposal_no})"
        )
    t = Reader(r.data, r.pos, start + tlen)
    r.pos = start + tlen
    ttype = t.u8("transform type")
    t.skip(1, "transform reserved")
    tid = t.u16("transform id")
    attrs, attr_fields = parse_attributes(
        t,
        f"{K}.sa.proposal.transform.attr",
        lambda n: reg.transform_attribute_name(2, n),
        lambda _n, _v: None,
    )
    name = reg.transform_name(ttype, tid)
    tshort = reg.transform_type_short_name(ttype)
    transform = Transform(type=ttype, id=tid, attributes=attrs, name=name)
    key_len = transform.key_length
    display = f"{tshort} {name}" + (f" {key_len}-bit" if key_len else "")
    f = fld(
        f"{K}.sa.proposal.transform",
        "Transform",
        tid,
        start,
        tlen,
        display,
        [
            fld(f"{K}.sa.proposal.transform.last", "Last substructure", last, start, 1),
            fld(f"{K}.sa.proposal.transform.length", "Transform length", tlen, start + 2, 2),
            fld(
                f"{K}.sa.proposal.transform.type",
                "Transform type",
                ttype,
                start + 4,
                1,
                named(reg.transform_type_name(ttype), ttype),
            ),
            fld(
                f"{K}.sa.proposal.transform.id", "Transform ID", tid, start + 6, 2, named(name, tid)
            ),
            *attr_fields,
        ],
    )
    return transform, f, last


def _parse_proposal(r: Reader) -> tuple[Proposal, Field, int]:
    return parse_proposal(r, 2, _parse_transform, lambda n: reg.protocol_name(2, n))


def _sa(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    body = SaBody(proposals=[])
    while r.remaining > 0:
        proposal, pf, last = _parse_proposal(r)
        body.proposals.append(proposal)
        ctx.fields.append(pf)
        if last == 0:
            break
    if r.remaining > 0:
        ctx.problems.append(f"{r.remaining} bytes after the last proposal at offset {r.pos}")
    return body


# ---------------------------------------------------------------- simple payloads


def _ke(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    group = r.u16("key exchange method")
    r.skip(2, "KE reserved")
    data = r.rest()
    ctx.later = partial(_ke_fields, start, group, data)
    return KeBody(group=group, data=data)


def _ke_fields(start: int, group: int, data: bytes) -> list[Field]:
    return [
        fld(
            f"{K}.ke.group",
            "Key exchange method",
            group,
            start,
            2,
            named(reg.ke_method_name(group), group),
        ),
        fld(f"{K}.ke.data", "Key exchange data", data, start + 4, len(data)),
    ]


def _id(r: Reader, ctx: _Ctx, ptype: int) -> PayloadBody:
    start = r.pos
    id_type = r.u8("ID type")
    r.skip(3, "ID reserved")
    data = r.rest()
    try:
        text = identity_text(2, id_type, data)
    except (ValueError, DerError) as exc:
        text = data.hex()
        ctx.problems.append(f"{reg.id_type_name(2, id_type)} identity at offset {start + 4}: {exc}")
    ctx.fields += [
        fld(
            f"{K}.id.type",
            "ID type",
            id_type,
            start,
            1,
            named(reg.id_type_name(2, id_type), id_type),
        ),
        fld(f"{K}.id.data", "Identification data", data, start + 4, len(data), text),
    ]
    return IdBody(id_type=id_type, data=data, text=text)


def _cert(r: Reader, ctx: _Ctx, ptype: int) -> PayloadBody:
    start = r.pos
    enc = r.u8("certificate encoding")
    data = r.rest()
    kind = "cert" if ptype == 37 else "certreq"
    ctx.fields.append(
        fld(
            f"{K}.{kind}.encoding",
            "Certificate encoding",
            enc,
            start,
            1,
            named(reg.cert_encoding_name(2, enc), enc),
        )
    )
    if kind == "certreq" and enc == 4 and len(data) % 20 == 0:
        for i in range(0, len(data), 20):
            ctx.fields.append(
                fld(
                    f"{K}.certreq.authority",
                    "Certification authority (SHA-1 of public key)",
                    data[i : i + 20],
                    start + 1 + i,
                    20,
                )
            )
    else:
        ctx.fields.append(fld(f"{K}.{kind}.data", "Certificate data", data, start + 1, len(data)))
    return CertBody(encoding=enc, data=data)


def _auth(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    method = r.u8("auth method")
    r.skip(3, "AUTH reserved")
    data = r.rest()
    ctx.fields += [
        fld(
            f"{K}.auth.method",
            "Authentication method",
            method,
            start,
            1,
            named(reg.auth_method_name(method), method),
        ),
        fld(f"{K}.auth.data", "Authentication data", data, start + 4, len(data)),
    ]
    return AuthBody(method=method, data=data)


def _nonce(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    data = r.rest()
    ctx.later = partial(_nonce_fields, start, data)
    if not 16 <= len(data) <= 256:
        ctx.problems.append(f"nonce of {len(data)} bytes at offset {start} is outside 16-256 bytes")
    return NonceBody(data=data)


def _nonce_fields(start: int, data: bytes) -> list[Field]:
    return [fld(f"{K}.nonce", "Nonce data", data, start, len(data))]


def _vendor(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    data = r.rest()
    name = vendor_id_name(data, ctx.ext)
    ctx.fields.append(
        fld(
            f"{K}.vid",
            "Vendor ID",
            data,
            start,
            len(data),
            f"{data.hex()} ({name})" if name else None,
        )
    )
    return VendorIdBody(data=data, name=name)


def _delete(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    protocol = r.u8("delete protocol")
    spi_size = r.u8("delete SPI size")
    count = r.u16("number of SPIs")
    ctx.fields += [
        fld(
            f"{K}.delete.protocol",
            "Protocol ID",
            protocol,
            start,
            1,
            named(reg.protocol_name(2, protocol), protocol),
        ),
        fld(f"{K}.delete.spi_size", "SPI size", spi_size, start + 1, 1),
        fld(f"{K}.delete.count", "Number of SPIs", count, start + 2, 2),
    ]
    spis: list[bytes] = []
    for _ in range(count):
        at = r.pos
        spi = r.bytes(spi_size, "deleted SPI")
        spis.append(spi)
        ctx.fields.append(fld(f"{K}.delete.spi", "SPI", spi, at, spi_size, "0x" + spi.hex()))
    if r.remaining:
        ctx.problems.append(f"{r.remaining} bytes after the last SPI at offset {r.pos}")
    return DeleteBody(protocol=protocol, spis=spis)


# ---------------------------------------------------------------- notify

NotifyDecoder = Callable[[Reader, list[Field]], None]


def _nd_hash(r: Reader, out: list[Field]) -> None:
    at = r.pos
    h = r.rest()
    out.append(fld(f"{K}.notify.nat_detection_hash", "NAT detection hash", h, at, len(h)))


def _nd_cookie(r: Reader, out: list[Field]) -> None:
    at = r.pos
    c = r.rest()
    out.append(fld(f"{K}.notify.cookie", "Cookie", c, at, len(c)))


def _nd_group(r: Reader, out: list[Field]) -> None:
    at = r.pos
    g = r.u16("accepted key exchange method")
    out.append(
        fld(
            f"{K}.notify.accepted_group",
            "Accepted key exchange method",
            g,
            at,
            2,
            named(reg.ke_method_name(g), g),
        )
    )


def _nd_u16_list(key: str, label: str, namer: Callable[[int], str]) -> NotifyDecoder:
    def decode(r: Reader, out: list[Field]) -> None:
        while r.remaining >= 2:
            at = r.pos
            v = r.u16(label)
            out.append(fld(f"{K}.notify.{key}", label, v, at, 2, named(namer(v), v)))
        if r.remaining:
            raise ValueError(f"odd byte at offset {r.pos} in a list of 16-bit values")

    return decode


def _nd_u32(key: str, label: str) -> NotifyDecoder:
    def decode(r: Reader, out: list[Field]) -> None:
        at = r.pos
        out.append(fld(f"{K}.notify.{key}", label, r.u32(label), at, 4))

    return decode


def _nd_address(r: Reader, out: list[Field]) -> None:
    at = r.pos
    a = r.rest()
    if len(a) not in (4, 16):
        raise ValueError(f"address of {len(a)} bytes at offset {at}")
    out.append(fld(f"{K}.notify.address", "Address", a, at, len(a), address_text(a)))


def _nd_redirect(r: Reader, out: list[Field]) -> None:
    at = r.pos
    gw_type = r.u8("gateway identity type")
    gw_len = r.u8("gateway identity length")
    gw = r.bytes(gw_len, "gateway identity")
    text = gw.decode("utf-8", errors="replace") if gw_type == 3 else address_text(gw)
    out += [
        fld(
            f"{K}.notify.redirect.gw_type",
            "Gateway identity type",
            gw_type,
            at,
            1,
            named(reg.gateway_id_type_name(gw_type), gw_type),
        ),
        fld(f"{K}.notify.redirect.gw_length", "Gateway identity length", gw_len, at + 1, 1),
        fld(f"{K}.notify.redirect.gw", "New gateway", gw, at + 2, gw_len, text),
    ]
    if r.remaining:
        nat = r.pos
        nonce = r.rest()
        out.append(fld(f"{K}.notify.redirect.nonce", "Nonce data", nonce, nat, len(nonce)))


def _nd_ipcomp(r: Reader, out: list[Field]) -> None:
    at = r.pos
    cpi = r.u16("IPComp CPI")
    tid = r.u8("IPComp transform")
    out += [
        fld(f"{K}.notify.ipcomp.cpi", "CPI", cpi, at, 2, f"0x{cpi:04x}"),
        fld(
            f"{K}.notify.ipcomp.transform",
            "Transform ID",
            tid,
            at + 2,
            1,
            named(reg.ipsec_transform_name(4, tid), tid),
        ),
    ]


def _nd_mid_sync(r: Reader, out: list[Field]) -> None:
    at = r.pos
    out += [
        fld(f"{K}.notify.sync.nonce", "Nonce", r.u32("sync nonce"), at, 4),
        fld(
            f"{K}.notify.sync.expected_send",
            "Expected send request message ID",
            r.u32("send MID"),
            at + 4,
            4,
        ),
        fld(
            f"{K}.notify.sync.expected_recv",
            "Expected receive request message ID",
            r.u32("recv MID"),
            at + 8,
            4,
        ),
    ]


def _nd_puzzle(r: Reader, out: list[Field]) -> None:
    at = r.pos
    prf = r.u16("puzzle PRF")
    out += [
        fld(f"{K}.notify.puzzle.prf", "PRF", prf, at, 2, named(reg.transform_name(2, prf), prf)),
        fld(f"{K}.notify.puzzle.difficulty", "Difficulty", r.u8("puzzle difficulty"), at + 2, 1),
    ]


_NOTIFY_DECODERS: dict[int, NotifyDecoder] = {
    17: _nd_group,
    16385: _nd_u32("window_size", "Window size"),
    16387: _nd_ipcomp,
    16388: _nd_hash,
    16389: _nd_hash,
    16390: _nd_cookie,
    16397: _nd_address,
    16398: _nd_address,
    16401: _nd_cookie,
    16403: _nd_u32("auth_lifetime", "Authentication lifetime (seconds)"),
    16407: _nd_redirect,
    16408: _nd_redirect,
    16422: _nd_mid_sync,
    16423: _nd_u32("replay_counter", "Incoming IPsec SA delta value"),
    16424: _nd_u16_list(
        "password_method", "Secure password method", reg.secure_password_method_name
    ),
    16431: _nd_u16_list("hash_algorithm", "Signature hash algorithm", reg.hash_algorithm_name),
    16434: _nd_puzzle,
}


def _notify(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    protocol = r.u8("notify protocol")
    spi_size = r.u8("notify SPI size")
    ntype = r.u16("notify message type")
    spi = r.bytes(spi_size, "notify SPI")
    name = reg.notify_name(2, ntype, ctx.ext)
    known = reg.notify_name_or_none(2, ntype, ctx.ext)
    ctx.name = f"N({known if known else ntype})"
    ctx.fields += [
        fld(
            f"{K}.notify.protocol",
            "Protocol ID",
            protocol,
            start,
            1,
            named(reg.protocol_name(2, protocol), protocol) if protocol else "0",
        ),
        fld(f"{K}.notify.spi_size", "SPI size", spi_size, start + 1, 1),
        fld(f"{K}.notify.type", "Notify message type", ntype, start + 2, 2, named(name, ntype)),
    ]
    if spi_size:
        ctx.fields.append(fld(f"{K}.notify.spi", "SPI", spi, start + 4, spi_size, "0x" + spi.hex()))
    data_at = r.pos
    data = bytes(r.data[r.pos : r.end])
    if data:
        ctx.fields.append(fld(f"{K}.notify.data", "Notification data", data, data_at, len(data)))
    decoder = _NOTIFY_DECODERS.get(ntype) or ctx.ext.notify_decoders.get((2, ntype))
    if decoder is not None and data:
        children: list[Field] = []
        try:
            decoder(Reader(r.data, data_at, r.end), children)
        except ValueError as exc:
            ctx.problems.append(f"{name} data at offset {data_at}: {exc}")
        ctx.fields[-1].children = children
    r.pos = r.end
    return NotifyBody(protocol=protocol, spi=spi, notify_type=ntype, data=data, name=name)


# ---------------------------------------------------------------- traffic selectors

_TS_ADDR_LEN = {7: 4, 8: 16}


def _ts(r: Reader, ctx: _Ctx, ptype: int) -> PayloadBody:
    start = r.pos
    count = r.u8("number of TSs")
    r.skip(3, "TS reserved")
    ctx.fields.append(fld(f"{K}.ts.count", "Number of TSs", count, start, 1))
    body = TsBody(selectors=[])
    for _ in range(count):
        at = r.pos
        ts_type = r.u8("TS type")
        proto = r.u8("IP protocol ID")
        length = r.u16("selector length")
        if length < 4 or length > r.end - at:
            raise ValueError(
                f"traffic selector length {length} at offset {at} does not fit the payload"
            )
        s = Reader(r.data, r.pos, at + length)
        r.pos = at + length
        alen = _TS_ADDR_LEN.get(ts_type)
        if alen is not None:
            sport = s.u16("start port")
            eport = s.u16("end port")
            a1 = address_text(s.bytes(alen, "starting address"))
            a2 = address_text(s.bytes(alen, "ending address"))
        else:
            sport = eport = 0
            rest = s.rest()
            a1 = a2 = rest.hex()
        sel = TrafficSelector(ts_type, proto, sport, eport, a1, a2)
        body.selectors.append(sel)
        ports = f"{sport}-{eport}" if (sport, eport) != (0, 65535) else "any"
        ctx.fields.append(
            fld(
                f"{K}.ts.selector",
                "Traffic selector",
                ts_type,
                at,
                length,
                f"{a1}-{a2} proto {proto} ports {ports}",
                [
                    fld(
                        f"{K}.ts.type",
                        "TS type",
                        ts_type,
                        at,
                        1,
                        named(reg.ts_type_name(ts_type), ts_type),
                    ),
                    fld(f"{K}.ts.protocol", "IP protocol ID", proto, at + 1, 1),
                    fld(f"{K}.ts.length", "Selector length", length, at + 2, 2),
                    *(
                        [
                            fld(f"{K}.ts.start_port", "Start port", sport, at + 4, 2),
                            fld(f"{K}.ts.end_port", "End port", eport, at + 6, 2),
                            fld(f"{K}.ts.start_addr", "Starting address", a1, at + 8, alen),
                            fld(f"{K}.ts.end_addr", "Ending address", a2, at + 8 + alen, alen),
                        ]
                        if alen is not None
                        else []
                    ),
                ],
            )
        )
    if r.remaining:
        ctx.problems.append(
            f"{r.remaining} bytes after the last traffic selector at offset {r.pos}"
        )
    return body


# ---------------------------------------------------------------- encrypted, CP, EAP


def _sk(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    ctx.fields.append(
        fld(
            f"{K}.sk.data",
            "Encrypted data (IV, ciphertext, ICV)",
            r.end - start,
            start,
            r.end - start,
        )
    )
    r.pos = r.end
    return EncryptedBody(first_payload=ctx.next_type, body_offset=start, body_length=r.end - start)


def _skf(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    number = r.u16("fragment number")
    total = r.u16("total fragments")
    ctx.fields += [
        fld(f"{K}.skf.number", "Fragment number", number, start, 2),
        fld(f"{K}.skf.total", "Total fragments", total, start + 2, 2),
        fld(
            f"{K}.skf.data",
            "Encrypted data (IV, ciphertext, ICV)",
            r.end - r.pos,
            r.pos,
            r.end - r.pos,
        ),
    ]
    if number == 0 or total == 0 or number > total:
        ctx.problems.append(f"invalid fragment number {number} of {total} at offset {start}")
    ctx.name = f"SKF({number}/{total})"
    body = EncryptedBody(
        first_payload=ctx.next_type,
        body_offset=r.pos,
        body_length=r.end - r.pos,
        fragment_number=number,
        total_fragments=total,
    )
    r.pos = r.end
    return body


_CP_ADDRESS_ATTRS = frozenset({1, 2, 3, 4, 6, 8, 10, 12, 13, 15, 19, 20, 21})
_CP_TEXT_ATTRS = frozenset({7, 25})


def _cp_value_text(attr_type: int, value: bytes) -> str:
    if not value:
        return ""
    if attr_type in _CP_TEXT_ATTRS:
        return value.decode("utf-8", errors="replace")
    if attr_type in _CP_ADDRESS_ATTRS:
        if attr_type in (13,) and len(value) == 8:
            return f"{address_text(value[:4])}/{address_text(value[4:])}"
        if len(value) == 17:  # IPv6 address/subnet + prefix length
            return f"{address_text(value[:16])}/{value[16]}"
        if len(value) in (4, 16):
            return address_text(value)
    if attr_type == 14:
        return " ".join(
            reg.cp_attribute_name(2, int.from_bytes(value[i : i + 2], "big"))
            for i in range(0, len(value) - 1, 2)
        )
    return value.hex()


def _cp(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    cfg_type = r.u8("CFG type")
    r.skip(3, "CP reserved")
    ctx.fields.append(
        fld(
            f"{K}.cp.type",
            "CFG type",
            cfg_type,
            start,
            1,
            named(reg.cfg_type_name(2, cfg_type), cfg_type),
        )
    )
    attrs: list[Attribute] = []
    while r.remaining > 0:
        at = r.pos
        atype = r.u16("CP attribute type") & 0x7FFF
        alen = r.u16("CP attribute length")
        value = r.bytes(alen, "CP attribute value")
        name = reg.cp_attribute_name(2, atype)
        text = _cp_value_text(atype, value)
        attrs.append(Attribute(atype, value, False, name, text))
        ctx.fields.append(
            fld(
                f"{K}.cp.attr",
                name,
                value,
                at,
                4 + alen,
                f"{name} = {text}" if text else name,
                [
                    fld(f"{K}.cp.attr.type", "Attribute type", atype, at, 2, named(name, atype)),
                    fld(f"{K}.cp.attr.length", "Length", alen, at + 2, 2),
                    fld(f"{K}.cp.attr.value", "Value", value, at + 4, alen, text or None),
                ],
            )
        )
    return ConfigBody(cfg_type=cfg_type, attributes=attrs)


def _eap(r: Reader, ctx: _Ctx, _ptype: int) -> PayloadBody:
    start = r.pos
    code = r.u8("EAP code")
    ident = r.u8("EAP identifier")
    length = r.u16("EAP length")
    ctx.fields += [
        fld(f"{K}.eap.code", "Code", code, start, 1, named(reg.eap_code_name(code), code)),
        fld(f"{K}.eap.identifier", "Identifier", ident, start + 1, 1),
        fld(f"{K}.eap.length", "Length", length, start + 2, 2),
    ]
    if length != r.end - start:
        ctx.problems.append(
            f"EAP length {length} differs from the {r.end - start} bytes of the payload at offset {start}"
        )
    eap_type: int | None = None
    if code in (1, 2) and r.remaining > 0:
        eap_type = r.u8("EAP type")
        ctx.fields.append(
            fld(
                f"{K}.eap.type",
                "Type",
                eap_type,
                start + 4,
                1,
                named(reg.eap_type_name(eap_type), eap_type),
            )
        )
    at = r.pos
    data = r.rest()
    if data and is_secret_eap(code, eap_type):  # EAP-GTC: the password itself
        ctx.fields.append(
            fld(f"{K}.eap.data", "Type data", b"", at, len(data), f"(secret, {len(data)} bytes)")
        )
    elif data:
        ctx.fields.append(fld(f"{K}.eap.data", "Type data", data, at, len(data)))
    return EapBody(code=code, identifier=ident, eap_type=eap_type, data=data)


def _raw(r: Reader, ctx: _Ctx, ptype: int) -> PayloadBody:
    start = r.pos
    data = r.rest()
    data_field = fld(f"{K}.payload.data", "Payload data", data, start, len(data))
    ctx.fields.append(data_field)
    plugin = ctx.ext.payloads.get((2, ptype))
    if plugin is not None and plugin.decode is not None and data:
        # A plugin's private payload: its fields hang under the data; a problem is the payload's.
        plugin.decode(Reader(r.data, start, r.end), data_field.children)
    return RawBody(data=data)


_PARSERS: dict[int, Callable[[Reader, _Ctx, int], PayloadBody]] = {
    33: _sa,
    34: _ke,
    35: _id,
    36: _id,
    37: _cert,
    38: _cert,
    39: _auth,
    40: _nonce,
    41: _notify,
    42: _delete,
    43: _vendor,
    44: _ts,
    45: _ts,
    46: _sk,
    47: _cp,
    48: _eap,
    53: _skf,
}


# ---------------------------------------------------------------- the chain


class _SaMemo:
    """SA payloads already dissected, by their bytes and offset: a memo, never an answer
    of its own.

    Why: an IKE_SA_INIT flood repeats one offer (the same proposals, transforms and
    attributes, at the same offset after the header) in every request, and dissecting it
    was a third of the cost of each half-open IKE SA. The dissection of a complete payload
    depends only on its bytes, its offset (the fields' offsets) and the extension tables,
    so equal keys give an equal result; the result is shared, which is safe because
    nothing changes a dissected payload after the chain parser returns it. Bounded by
    ``SA_MEMO_SIZE`` (a hostile capture of all-different offers only evicts).
    """

    __slots__ = ("_kept",)

    def __init__(self) -> None:
        self._kept: dict[tuple[bytes, int], tuple[DissectorTables, IkePayload]] = {}

    def get(self, key: tuple[bytes, int], ext: DissectorTables) -> IkePayload | None:
        hit = self._kept.pop(key, None)
        if hit is None:
            return None
        self._kept[key] = hit  # most recently used last
        return hit[1] if hit[0] is ext else None

    def put(self, key: tuple[bytes, int], ext: DissectorTables, payload: IkePayload) -> None:
        kept = self._kept
        kept.pop(key, None)
        if len(kept) >= SA_MEMO_SIZE:
            del kept[next(iter(kept))]
        kept[key] = (ext, payload)


_SA_MEMO = _SaMemo()


def _parse_payload(
    data: bytes, pos: int, avail_end: int, ptype: int, ext: DissectorTables
) -> IkePayload:
    """One payload whose generic header (4 bytes at ``pos``) is known to be readable.

    A complete SA payload comes from :class:`_SaMemo` when the same bytes were dissected
    at the same offset before."""
    if ptype == SA:
        length = (data[pos + 2] << 8) | data[pos + 3]
        if pos + length <= avail_end:
            key = (data[pos : pos + length], pos)
            payload = _SA_MEMO.get(key, ext)
            if payload is None:
                payload = _dissect_payload(data, pos, avail_end, ptype, ext)
                _SA_MEMO.put(key, ext, payload)
            return payload
    elif ptype in _PLAIN:
        plain = _plain_payload(data, pos, avail_end, ptype, ext)
        if plain is not None:
            return plain
    return _dissect_payload(data, pos, avail_end, ptype, ext)


#: the payloads :func:`_plain_payload` reads: KE, Nonce
_PLAIN = frozenset({34, 40})


def _plain_payload(
    data: bytes, pos: int, avail_end: int, ptype: int, ext: DissectorTables
) -> IkePayload | None:
    """A KE or Nonce payload that :func:`_dissect_payload` would read without a problem
    (whole, no reserved bit, a KE body of at least its 4 fixed bytes, a nonce of 16-256
    bytes), read directly into the same payload; None for any other, which takes the
    general path. Why: every IKE_SA_INIT carries both, their bytes never repeat (no memo
    helps), and the general path's reader, context and problem list were most of their
    cost: at the end of a flood 20,000 requests are dissected."""
    flags = data[pos + 1]
    length = (data[pos + 2] << 8) | data[pos + 3]
    end = pos + length
    if flags & 0x7F or end > avail_end or end > len(data):
        return None
    start = pos + _HEADER
    body: PayloadBody
    if ptype == 34:
        if length < _HEADER + 4:
            return None
        group = (data[start] << 8) | data[start + 1]
        blob = bytes(data[start + 4 : end])
        body, later = KeBody(group=group, data=blob), partial(_ke_fields, start, group, blob)
    else:
        blob = bytes(data[start:end])
        if not 16 <= len(blob) <= 256:
            return None
        body, later = NonceBody(data=blob), partial(_nonce_fields, start, blob)
    return IkePayload(
        type=ptype,
        name=reg.payload_short_name(2, ptype, ext),
        offset=pos,
        length=length,
        body=body,
        critical=bool(flags & 0x80),
        fields_from=partial(_payload_fields, pos, data[pos], flags, length, ext, [], later),
    )


def _dissect_payload(
    data: bytes, pos: int, avail_end: int, ptype: int, ext: DissectorTables
) -> IkePayload:
    """One payload, dissected (see :func:`_parse_payload`)."""
    next_type = data[pos]
    flags = data[pos + 1]
    length = (data[pos + 2] << 8) | data[pos + 3]
    short = reg.payload_short_name(2, ptype, ext)
    ctx = _Ctx(fields=[], name=short, next_type=next_type, ext=ext)
    body_end = min(pos + length, avail_end)
    error: str | None = None
    if pos + length > avail_end:
        error = f"payload length {length} runs past the message end at offset {pos}"
    if flags & 0x7F:
        ctx.problems.append(
            f"reserved bits 0x{flags & 0x7F:02x} set in the payload header at offset {pos + 1}"
        )
    parser = _PARSERS.get(ptype, _raw)
    body: PayloadBody | None = None
    try:
        body = parser(Reader(data, pos + _HEADER, body_end), ctx, ptype)
    except Truncated as exc:
        ctx.problems.append(f"{short} payload at offset {pos} is truncated: {exc}")
    except ValueError as exc:
        ctx.problems.append(f"{short} payload at offset {pos}: {exc}")
    problems = ([error] if error else []) + ctx.problems
    return IkePayload(
        type=ptype,
        name=ctx.name,
        offset=pos,
        length=length,
        body=body,
        error="; ".join(problems) if problems else None,
        critical=bool(flags & 0x80),
        fields_from=partial(
            _payload_fields, pos, next_type, flags, length, ext, ctx.fields, ctx.later
        ),
    )


def _payload_fields(
    pos: int,
    next_type: int,
    flags: int,
    length: int,
    ext: DissectorTables,
    body: list[Field],
    later: Callable[[], list[Field]] | None,
) -> list[Field]:
    """A dissected payload's fields: its generic header's, then its body's.

    Built on the first read (``IkePayload.fields``): a message that is only tracked, such
    as each of a flood's IKE_SA_INIT requests, never needs them."""
    return [
        fld(
            f"{K}.payload.next",
            "Next payload",
            next_type,
            pos,
            1,
            named(reg.payload_name(2, next_type, ext), next_type),
        ),
        fld(f"{K}.payload.critical", "Critical", bool(flags & 0x80), pos + 1, 1),
        fld(f"{K}.payload.length", "Payload length", length, pos + 2, 2),
        *body,
        *(later() if later is not None else ()),
    ]


def parse_payload_chain(
    data: bytes, offset: int, end: int, first_type: int, ext: DissectorTables = NO_DISSECTORS
) -> tuple[list[IkePayload], list[ParseError]]:
    """Dissect the IKEv2 payloads in ``data[offset:end]`` starting with type ``first_type``.

    ``ext`` holds the extension payload types, notify decoders and Vendor IDs consulted
    after the core's tables.

    Stops after an SK/SKF payload (its next-payload field names the first encrypted
    payload) or at next-payload 0. Never raises: problems become ``ParseError`` entries
    (and ``IkePayload.error`` on the payload concerned).
    """
    payloads: list[IkePayload] = []
    errors: list[ParseError] = []
    end = min(end, len(data))
    pos = offset
    ptype = first_type
    while ptype != 0:
        if end - pos < _HEADER:
            errors.append(
                ParseError(
                    f"{reg.payload_short_name(2, ptype, ext)} payload header truncated: needs 4 bytes "
                    f"at offset {pos} but only {max(0, end - pos)} remain",
                    pos,
                )
            )
            return payloads, errors
        length = (data[pos + 2] << 8) | data[pos + 3]
        if length < _HEADER:
            message = (
                f"payload length {length} at offset {pos} is shorter than the 4-byte payload header"
            )
            payloads.append(bogus_payload(2, data, pos, ptype, message, ext))
            errors.append(ParseError(message, pos))
            return payloads, errors
        payload = _parse_payload(data, pos, end, ptype, ext)
        next_type = data[pos]  # the generic header's first byte (``payload_next``)
        payloads.append(payload)
        if payload.error:
            errors.append(ParseError(payload.error, pos))
        if pos + length > end:
            return payloads, errors
        pos += length
        if ptype in (SK, SKF):
            break
        ptype = next_type
    if pos < end:
        errors.append(ParseError(f"{end - pos} bytes after the last payload at offset {pos}", pos))
    return payloads, errors


def payload_next(payload: IkePayload) -> int:
    """The next-payload field of a dissected payload (its first header field)."""
    value = payload.fields[0].value if payload.fields else 0
    return value if isinstance(value, int) else 0
