"""Pieces shared by the IKEv1 and IKEv2 dissectors: field building, identities, attributes.

Why one module: both versions carry the same kinds of things (identities, certificates,
TV/TLV attributes, addresses) and decode them the same way, so the two payload parsers stay
straight-line code that reads fields and calls these helpers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from ipsec_inspect.core.buffer import Reader
from ipsec_inspect.core.extensions import NO_DISSECTORS, DissectorTables
from ipsec_inspect.core.records import Attribute, Field, IkePayload, Proposal, Transform
from ipsec_inspect.ipsec import registry as reg

#: "more transforms follow" in a transform's first byte (IKEv1 next payload, IKEv2 last)
MORE_TRANSFORMS = 3

TransformParser = Callable[[Reader, int, int], tuple[Transform, Field, int]]

#: configuration attributes whose value is a secret: XAUTH-USER-PASSWORD and XAUTH-PASSCODE
#: (draft-beaulieu-ike-xauth §6). Fields and JSON never show them; the lifecycle keeps them
#: for ``--include-keys``.
SECRET_CFG_ATTRIBUTES = frozenset({16522, 16523})
#: EAP methods whose Response carries the password itself: EAP-GTC (RFC 3748 §5.6), which
#: IKEv2 gateways use for one-time passwords. Its type data is a secret like XAUTH's.
SECRET_EAP_RESPONSE_TYPES = frozenset({6})
EAP_RESPONSE = 2
#: the byte shown in place of a secret one (ASCII ``*``: a hex dump's text column reads ``***``)
MASK_BYTE = 0x2A


def is_secret_eap(code: int, eap_type: int | None) -> bool:
    """An EAP Response whose type data is the password in clear (EAP-GTC)."""
    return code == EAP_RESPONSE and eap_type in SECRET_EAP_RESPONSE_TYPES


def secret_spans(payloads: list[IkePayload]) -> list[tuple[int, int]]:
    """(offset, length) of every secret value inside ``payloads`` (decrypted ones: the
    offsets refer to the message's ``decrypted_data``).

    Why from the fields: the dissector already knows where each attribute value lies and
    which attributes are secret (:data:`SECRET_CFG_ATTRIBUTES`, an EAP-GTC response); a view
    that shows raw bytes (the TUI's hex dump) must blank exactly those bytes, and only them.
    """
    spans: list[tuple[int, int]] = []
    for p in payloads:
        for f in p.fields:
            spans.extend(_secret_field_spans(f))
        body = p.body
        if getattr(body, "eap_type", None) is not None and is_secret_eap(
            getattr(body, "code", 0), getattr(body, "eap_type", None)
        ):
            spans.extend(
                (f.offset, f.length) for f in p.fields if f.key.endswith(".eap.data") and f.length
            )
    return spans


def _secret_field_spans(f: Field) -> list[tuple[int, int]]:
    """A configuration attribute field (its children: format, type, value) whose type is a
    secret one: the value's bytes."""
    if ".cfg.attr" not in f.key or len(f.children) < 3:
        return []
    kind, value = f.children[1], f.children[2]
    if kind.value in SECRET_CFG_ATTRIBUTES and value.length > 0:
        return [(value.offset, value.length)]
    return []


def mask_spans(data: bytes, spans: list[tuple[int, int]]) -> bytes:
    """``data`` with every byte inside ``spans`` replaced by :data:`MASK_BYTE`."""
    if not spans:
        return data
    out = bytearray(data)
    for offset, length in spans:
        lo, hi = max(0, offset), min(len(out), offset + length)
        if lo < hi:
            out[lo:hi] = bytes([MASK_BYTE]) * (hi - lo)
    return bytes(out)


def fld(
    key: str,
    label: str,
    value: object,
    offset: int,
    length: int,
    display: str | None = None,
    children: list[Field] | None = None,
) -> Field:
    """A Field; a tiny wrapper so parsers read as one line per wire field."""
    return Field(key, label, value, offset, length, display, children if children else [])


def named(name: str, n: int) -> str:
    """``NAME (n)``, the display form used for every enumerated field."""
    return f"{name} ({n})"


def hex_bytes(data: bytes) -> str:
    return data.hex()


# ---------------------------------------------------------------- addresses


def ipv4(data: bytes) -> str:
    return str(ipaddress.IPv4Address(data))


def ipv6(data: bytes) -> str:
    return str(ipaddress.IPv6Address(data))


def address_text(data: bytes) -> str:
    """An IPv4 or IPv6 address by its length; hex for anything else."""
    if len(data) == 4:
        return ipv4(data)
    if len(data) == 16:
        return ipv6(data)
    return data.hex()


# ---------------------------------------------------------------- DER (distinguished names)

# Attribute types as strongSwan and OpenSSL print them.
_DN_OIDS: dict[str, str] = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "2.5.4.13": "description",
    "2.5.4.17": "postalCode",
    "2.5.4.41": "N",
    "2.5.4.42": "G",
    "2.5.4.43": "I",
    "2.5.4.46": "dnQualifier",
    "2.5.4.65": "pseudonym",
    "1.2.840.113549.1.9.1": "E",
    "1.2.840.113549.1.9.2": "unstructuredName",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
}


class DerError(ValueError):
    """Malformed DER inside an identity."""


def _der_tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read one DER header at ``pos``: returns (tag, value start, value end)."""
    if pos + 2 > end:
        raise DerError(f"DER header truncated at offset {pos}")
    tag = data[pos]
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > end:
            raise DerError(f"bad DER length at offset {pos - 1}")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > end:
        raise DerError(f"DER value of {length} bytes runs past its container at offset {pos}")
    return tag, pos, pos + length


def _oid_text(raw: bytes) -> str:
    if not raw:
        raise DerError("empty OID")
    parts: list[int] = []
    value = 0
    for b in raw:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(value)
            value = 0
    first = parts[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(p) for p in head + parts[1:])


def _der_string(tag: int, raw: bytes) -> str:
    if tag == 0x1E:  # BMPString
        return raw.decode("utf-16-be", errors="replace")
    if tag == 0x1C:  # UniversalString
        return raw.decode("utf-32-be", errors="replace")
    return raw.decode("utf-8", errors="replace")


def dn_text(data: bytes, start: int = 0, end: int | None = None) -> str:
    """Render a DER RDNSequence (``Name``) as ``C=CH, O=strongSwan, CN=moon``.

    A small walker instead of a certificate library: identities are bare Names, which
    ``cryptography`` cannot load on their own. Raises :class:`DerError` on malformed input.
    """
    stop = len(data) if end is None else end
    tag, pos, seq_end = _der_tlv(data, start, stop)
    if tag != 0x30:
        raise DerError(f"DN does not start with a SEQUENCE (tag 0x{tag:02x})")
    rdns: list[str] = []
    while pos < seq_end:
        tag, set_pos, set_end = _der_tlv(data, pos, seq_end)
        if tag != 0x31:
            raise DerError(f"expected a SET in the DN at offset {pos}, found tag 0x{tag:02x}")
        pos = set_end
        while set_pos < set_end:
            tag, atv_pos, atv_end = _der_tlv(data, set_pos, set_end)
            set_pos = atv_end
            if tag != 0x30:
                raise DerError("expected an AttributeTypeAndValue SEQUENCE in the DN")
            tag, oid_pos, oid_end = _der_tlv(data, atv_pos, atv_end)
            if tag != 0x06:
                raise DerError("expected an OID in the DN")
            oid = _oid_text(data[oid_pos:oid_end])
            vtag, val_pos, val_end = _der_tlv(data, oid_end, atv_end)
            value = _der_string(vtag, data[val_pos:val_end])
            rdns.append(f"{_DN_OIDS.get(oid, oid)}={value}")
    return ", ".join(rdns)


def general_name_text(data: bytes) -> str:
    """Render a DER GeneralName (ID_DER_ASN1_GN) by its choice tag."""
    tag, pos, end = _der_tlv(data, 0, len(data))
    raw = data[pos:end]
    choice = tag & 0x1F
    if choice == 1:
        return "email:" + raw.decode("utf-8", errors="replace")
    if choice == 2:
        return "DNS:" + raw.decode("utf-8", errors="replace")
    if choice == 4:
        return "DirName:" + dn_text(data, pos, end)
    if choice == 6:
        return "URI:" + raw.decode("utf-8", errors="replace")
    if choice == 7:
        return "IP:" + address_text(raw)
    return f"GeneralName[{choice}]:{raw.hex()}"


# ---------------------------------------------------------------- identities


def _prefix_len(mask: bytes) -> str:
    bits = int.from_bytes(mask, "big")
    width = len(mask) * 8
    ones = bin(bits).count("1")
    if bits == ((1 << width) - 1) ^ ((1 << (width - ones)) - 1):
        return str(ones)
    return address_text(mask)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _id_subnet(data: bytes, size: int) -> str:
    if len(data) != 2 * size:
        raise ValueError(f"subnet identity needs {2 * size} bytes, has {len(data)}")
    return f"{address_text(data[:size])}/{_prefix_len(data[size:])}"


def _id_range(data: bytes, size: int) -> str:
    if len(data) != 2 * size:
        raise ValueError(f"range identity needs {2 * size} bytes, has {len(data)}")
    return f"{address_text(data[:size])}-{address_text(data[size:])}"


def _id_address(data: bytes, size: int) -> str:
    if len(data) != size:
        raise ValueError(f"address identity needs {size} bytes, has {len(data)}")
    return address_text(data)


# ID type -> decoder; the numbering is shared by IKEv1 (IPsec DOI) and IKEv2 for 1-11.
_ID_DECODERS: dict[int, Callable[[bytes], str]] = {
    1: lambda d: _id_address(d, 4),
    2: _text,
    3: _text,
    4: lambda d: _id_subnet(d, 4),
    5: lambda d: _id_address(d, 16),
    6: lambda d: _id_subnet(d, 16),
    7: lambda d: _id_range(d, 4),
    8: lambda d: _id_range(d, 16),
    9: dn_text,
    10: general_name_text,
    11: hex_bytes,
}


def identity_text(version: int, id_type: int, data: bytes) -> str:
    """Decode an identity to text; raises ValueError (incl. DerError) when malformed.

    IKEv2 has no subnet/range types (4, 6-8 are unassigned there), FC_NAME (12) and
    ID_NULL (13); IKEv1's 12 is ID_LIST (a list of identities, shown as hex).
    """
    if version == 2:
        if id_type in (4, 6, 7, 8):
            return data.hex()
        if id_type == 13:
            return ""
    decoder = _ID_DECODERS.get(id_type)
    if decoder is None:
        return data.hex()
    return decoder(data)


# ---------------------------------------------------------------- TV / TLV attributes

ValueNamer = Callable[[int, int], "str | None"]


def parse_attributes(
    r: Reader,
    key: str,
    type_name: Callable[[int], str],
    value_name: ValueNamer,
    tlv_as_int: bool = True,
) -> tuple[list[Attribute], list[Field]]:
    """Read ISAKMP-style data attributes (AF bit: TV with a 16-bit value, else TLV) to the end.

    Used for IKEv1 SA attributes, IKEv2 transform attributes and IKEv1 Mode Config
    attributes, which share the encoding. ``tlv_as_int`` turns short TLV values (life
    durations) into numbers; Mode Config keeps them as bytes (addresses, strings).
    Raises ``Truncated`` on a short attribute.
    """
    attrs: list[Attribute] = []
    fields: list[Field] = []
    while r.remaining > 0:
        start = r.pos
        raw_type = r.u16("attribute type")
        is_tv = bool(raw_type & 0x8000)
        attr_type = raw_type & 0x7FFF
        if is_tv:
            value: int | bytes = r.u16("attribute value")
            vlen = 2
        else:
            vlen = r.u16("attribute length")
            raw = r.bytes(vlen, f"attribute {attr_type} value")
            value = int.from_bytes(raw, "big") if tlv_as_int and 0 < vlen <= 8 else raw
        tname = type_name(attr_type)
        vname = value_name(attr_type, value) if isinstance(value, int) else None
        attrs.append(Attribute(attr_type, value, is_tv, tname, vname or ""))
        shown = vname if vname is not None else (value if isinstance(value, int) else value.hex())
        fields.append(
            fld(
                key,
                tname,
                value,
                start,
                r.pos - start,
                f"{tname} = {shown}",
                [
                    fld(key + ".format", "Format", "TV" if is_tv else "TLV", start, 1),
                    fld(key + ".type", "Type", attr_type, start, 2, named(tname, attr_type)),
                    fld(key + ".value", "Value", value, r.pos - vlen, vlen, str(shown)),
                ],
            )
        )
    return attrs, fields


def parse_proposal(
    r: Reader, version: int, parse_transform: TransformParser, protocol_name: Callable[[int], str]
) -> tuple[Proposal, Field, int]:
    """A Proposal substructure, the same in IKEv1 (RFC 2408 §3.5) and IKEv2 (RFC 7296 §3.3.1).

    ``parse_transform(reader, protocol, proposal_number)`` reads one transform of the
    version's own layout. Returns the proposal, its field and its first byte (IKEv1 "next
    payload", IKEv2 "last substructure": 2 means another proposal follows).
    """
    key = f"ikev{version}.sa.proposal"
    start = r.pos
    first = r.u8("proposal last-substructure" if version == 2 else "proposal next payload")
    r.skip(1, "proposal reserved")
    plen = r.u16("proposal length")
    if plen < 8:
        raise ValueError(f"proposal length {plen} at offset {start} is shorter than 8 bytes")
    if plen > r.end - start:
        raise ValueError(f"proposal length {plen} runs past the SA payload end at offset {start}")
    p = Reader(r.data, r.pos, start + plen)
    r.pos = start + plen
    number = p.u8("proposal number")
    protocol = p.u8("protocol id")
    spi_size = p.u8("SPI size")
    count = p.u8("number of transforms")
    spi = p.bytes(spi_size, "proposal SPI")
    first_field = (
        fld(f"{key}.last", "Last substructure", first, start, 1)
        if version == 2
        else fld(f"{key}.next", "Next payload", first, start, 1)
    )
    children = [
        first_field,
        fld(f"{key}.length", "Proposal length", plen, start + 2, 2),
        fld(f"{key}.number", "Proposal number", number, start + 4, 1),
        fld(
            f"{key}.protocol",
            "Protocol ID",
            protocol,
            start + 5,
            1,
            named(protocol_name(protocol), protocol),
        ),
        fld(f"{key}.spi_size", "SPI size", spi_size, start + 6, 1),
        fld(f"{key}.transforms", "Number of transforms", count, start + 7, 1),
    ]
    if spi_size:
        children.append(fld(f"{key}.spi", "SPI", spi, start + 8, spi_size, "0x" + spi.hex()))
    proposal = Proposal(number=number, protocol=protocol, spi=spi)
    while p.remaining > 0:
        transform, tf, more = parse_transform(p, protocol, number)
        proposal.transforms.append(transform)
        children.append(tf)
        if more != MORE_TRANSFORMS:
            break
    if len(proposal.transforms) != count:
        raise ValueError(
            f"proposal {number} at offset {start} announces {count} transforms but holds "
            f"{len(proposal.transforms)}"
        )
    f = fld(
        key,
        "Proposal",
        number,
        start,
        plen,
        f"Proposal {number} {protocol_name(protocol)}",
        children,
    )
    return proposal, f, first


def bogus_payload(
    version: int,
    data: bytes,
    pos: int,
    ptype: int,
    message: str,
    ext: DissectorTables = NO_DISSECTORS,
) -> IkePayload:
    """A payload whose length field is below the generic header size: header only, no body."""
    key = f"ikev{version}"
    length = (data[pos + 2] << 8) | data[pos + 3]
    return IkePayload(
        type=ptype,
        name=reg.payload_short_name(version, ptype, ext),
        offset=pos,
        length=length,
        body=None,
        field_list=[
            fld(f"{key}.payload.next", "Next payload", data[pos], pos, 1),
            fld(f"{key}.payload.length", "Payload length", length, pos + 2, 2),
        ],
        error=message,
    )
