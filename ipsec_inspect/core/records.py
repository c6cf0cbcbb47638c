"""Typed records that the pipeline hands from layer to layer.

Why a module of its own: every layer (wire decoding, dissectors, crypto, lifecycle, views)
speaks in these types, and none of them should import another layer just to name a record.
Records are plain slotted dataclasses: cheap enough for the hot path (one ESP record per
packet), and easy to build by hand in tests of the layers above.

Byte offsets: every ``offset`` is an absolute position in the record's ``data`` buffer. For
a packet that fits one frame, ``data`` is the frame itself, so the TUI can highlight a
field's bytes in the hex view directly. For a reassembled IP datagram or a TCP stream
message, ``data`` is the reassembled buffer and ``meta.frames`` lists the frames it came
from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Transport(StrEnum):
    """How an IPsec payload travelled."""

    IP = "ip"  # ESP/AH directly in IP (protocol 50/51)
    UDP = "udp"  # IKE on UDP 500 (or another port given by decode-as)
    UDP_ENCAP = "udp-encap"  # UDP 4500 (RFC 3948 / non-ESP marker)
    TCP = "tcp"  # RFC 8229 IKE/ESP over TCP


class Protocol(StrEnum):
    IKE = "ike"
    ESP = "esp"
    AH = "ah"


@dataclass(slots=True)
class PacketMeta:
    """Where and when an IPsec payload was seen."""

    frame: int  # 1-based frame number of the (last) frame that completed this record
    time: float  # seconds since the epoch
    src: str
    dst: str
    sport: int = 0  # 0 where the transport has no ports
    dport: int = 0
    transport: Transport = Transport.IP
    ip_version: int = 4
    wire_len: int = 0  # bytes of the outer IP packet (all fragments) as on the wire
    frames: tuple[int, ...] = ()  # every frame this record was built from, when more than one
    ip_fragmented: bool = False  # the outer IP datagram was fragmented on the wire
    interface: int = 0  # pcapng interface id


@dataclass(slots=True)
class Field:
    """One dissected field, with where its bytes are.

    ``key`` is a stable dotted name (``ikev2.notify.type``) that the JSON output and
    filters use; ``label`` is what a person reads; ``display`` is the value rendered for a
    person (``ENCR_AES_CBC (12)``) when it differs from ``str(value)``.
    """

    key: str
    label: str
    value: Any
    offset: int
    length: int
    display: str | None = None
    children: list[Field] = field(default_factory=list)

    def text(self) -> str:
        if self.display is not None:
            return self.display
        if isinstance(self.value, bytes | bytearray):
            return self.value.hex()
        return str(self.value)

    def to_json(self) -> dict[str, Any]:
        value = self.value
        if isinstance(value, bytes | bytearray):
            value = value.hex()
        out: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "value": value,
            "offset": self.offset,
            "length": self.length,
        }
        if self.display is not None:
            out["display"] = self.display
        if self.children:
            out["children"] = [c.to_json() for c in self.children]
        return out


# --------------------------------------------------------------------------- IKE bodies


@dataclass(slots=True)
class Attribute:
    """A transform (or CP / IKEv1 data) attribute: TV when ``is_tv``, else TLV."""

    type: int
    value: int | bytes
    is_tv: bool
    name: str = ""
    value_name: str = ""


@dataclass(slots=True)
class Transform:
    """An IKEv2 transform (``type``, ``id``) or an IKEv1 transform (``type`` = 0,
    ``id`` = transform id; the algorithms live in ``attributes``)."""

    type: int
    id: int
    attributes: list[Attribute] = field(default_factory=list)
    number: int = 0  # IKEv1 transform number
    name: str = ""
    # Which attribute carries the key length: 14 in IKEv2 and IKEv1 phase 1 (IKE DOI),
    # 6 in IKEv1 phase 2 (IPsec DOI, RFC 2407 4.5).
    key_length_attribute: int = 14

    @property
    def key_length(self) -> int | None:
        """Key length in bits from the Key Length attribute, or None when absent."""
        for a in self.attributes:
            if a.type == self.key_length_attribute and isinstance(a.value, int):
                return a.value
        return None


@dataclass(slots=True)
class Proposal:
    """One proposal of an SA payload: its number, protocol, SPI and transforms."""

    number: int
    protocol: int  # 1 IKE/ISAKMP, 2 AH, 3 ESP (IKEv1: PROTO_ISAKMP=1, PROTO_IPSEC_AH=2, ESP=3)
    spi: bytes
    transforms: list[Transform] = field(default_factory=list)


@dataclass(slots=True)
class SaBody:
    """An SA payload: the proposals offered (or the one chosen, in a response)."""

    proposals: list[Proposal]
    doi: int | None = None  # IKEv1 only
    situation: int | None = None  # IKEv1 only


@dataclass(slots=True)
class KeBody:
    """A Key Exchange payload: the Diffie-Hellman group and public value."""

    group: int | None  # IKEv2 DH group; None for IKEv1 (group is in the SA)
    data: bytes


@dataclass(slots=True)
class IdBody:
    """An identification payload (IDi/IDr, IKEv1 ID), with the identity decoded."""

    id_type: int
    data: bytes
    text: str  # decoded identity (address, FQDN, DN, ...)
    protocol: int = 0  # IKEv1 protocol id
    port: int = 0  # IKEv1 port


@dataclass(slots=True)
class CertBody:
    """A certificate (or certificate request) payload: encoding and data."""

    encoding: int
    data: bytes


@dataclass(slots=True)
class AuthBody:
    """An IKEv2 AUTH payload: the authentication method and its data."""

    method: int
    data: bytes


@dataclass(slots=True)
class NonceBody:
    """A nonce payload."""

    data: bytes


@dataclass(slots=True)
class HashBody:
    """IKEv1 HASH, SIG, NAT-D payload data (kind says which)."""

    kind: str
    data: bytes


@dataclass(slots=True)
class NotifyBody:
    """A Notify payload, with the notify type's name when known."""

    protocol: int
    spi: bytes
    notify_type: int
    data: bytes
    name: str = ""
    doi: int | None = None  # IKEv1 only


@dataclass(slots=True)
class DeleteBody:
    """A Delete payload: the protocol and the SPIs it closes."""

    protocol: int
    spis: list[bytes]
    doi: int | None = None  # IKEv1 only


@dataclass(slots=True)
class VendorIdBody:
    """A Vendor ID payload, with the vendor's name when known."""

    data: bytes
    name: str  # "" when unknown


@dataclass(slots=True)
class TrafficSelector:
    """One traffic selector: protocol, port range and address range."""

    ts_type: int
    ip_protocol: int
    start_port: int
    end_port: int
    start_addr: str
    end_addr: str


@dataclass(slots=True)
class TsBody:
    """A traffic selector payload (TSi/TSr)."""

    selectors: list[TrafficSelector]


@dataclass(slots=True)
class ConfigBody:
    """A configuration payload (IKEv2 CP, IKEv1 attribute payload)."""

    cfg_type: int
    attributes: list[Attribute]
    identifier: int = 0  # IKEv1 attribute payload identifier


@dataclass(slots=True)
class EapBody:
    """An EAP payload: the EAP header and its data."""

    code: int
    identifier: int
    eap_type: int | None
    data: bytes


@dataclass(slots=True)
class EncryptedBody:
    """IKEv2 SK (46) or SKF (53) payload, kept for the crypto layer.

    ``first_payload`` is the generic header's next-payload field: the type of the first
    payload inside the ciphertext. Offsets are absolute in the message's ``data``.
    The split between IV, ciphertext and ICV depends on the negotiated algorithm, which
    the dissector does not know, so only the whole body span is given; the crypto layer
    splits it.
    """

    first_payload: int
    body_offset: int  # first byte after the 4-byte generic header (after SKF's 8-byte header)
    body_length: int
    fragment_number: int = 0  # SKF only
    total_fragments: int = 0  # SKF only


@dataclass(slots=True)
class RawBody:
    """A payload kept as bytes: unknown, private, or not dissected further."""

    data: bytes


PayloadBody = (
    SaBody
    | KeBody
    | IdBody
    | CertBody
    | AuthBody
    | NonceBody
    | HashBody
    | NotifyBody
    | DeleteBody
    | VendorIdBody
    | TsBody
    | ConfigBody
    | EapBody
    | EncryptedBody
    | RawBody
)


@dataclass(slots=True)
class IkePayload:
    """One IKE payload: its generic header, body and dissected fields."""

    type: int
    name: str  # short name as in summaries: "SA", "KE", "N(COOKIE)", "V", ...
    offset: int
    length: int  # including the generic payload header
    body: PayloadBody | None
    # The dissected fields (``fields``), or None until first read, when ``fields_from``
    # builds them; lazy for the reason given at ``IkeMessage.header_fields``.
    field_list: list[Field] | None = None
    error: str | None = None
    critical: bool = False
    fields_from: Callable[[], list[Field]] | None = None

    @property
    def fields(self) -> list[Field]:
        """The payload's dissected fields, generic header first, built on the first read."""
        if self.field_list is None:
            build = self.fields_from
            self.field_list = build() if build is not None else []
            self.fields_from = None
        return self.field_list


@dataclass(slots=True)
class IkeHeader:
    """The ISAKMP / IKE header of a message."""

    spi_i: bytes
    spi_r: bytes
    next_payload: int
    major: int
    minor: int
    exchange: int
    flags: int
    message_id: int
    length: int

    @property
    def is_response(self) -> bool:
        """IKEv2 R flag. Meaningless for IKEv1."""
        return bool(self.flags & 0x20)

    @property
    def is_initiator(self) -> bool:
        """IKEv2 I flag: sent by the original initiator of the IKE SA."""
        return bool(self.flags & 0x08)

    @property
    def v1_encrypted(self) -> bool:
        """IKEv1 E flag."""
        return bool(self.flags & 0x01)


@dataclass(slots=True)
class ParseError:
    """What is wrong and where, in the words a person reads."""

    message: str
    offset: int = -1


@dataclass(slots=True)
class IkeMessage:
    """One IKE message (IKEv1 or IKEv2), dissected, decrypted where keys allow."""

    meta: PacketMeta
    data: bytes  # buffer the offsets refer to
    offset: int  # where the ISAKMP header starts in data
    length: int  # bytes of the message available in data
    header: IkeHeader
    version: int  # 1 or 2
    payloads: list[IkePayload]
    # The header fields (``fields``), or None until first read, when ``header_fields_from``
    # builds them. Why lazy: only a view that shows one message reads them (the TUI,
    # ``packets --format jsonl``), and building them was a fifth of the dissection of a
    # flood's IKE_SA_INIT request, of which nothing is ever shown.
    header_fields: list[Field] | None = None
    errors: list[ParseError] = field(default_factory=list)
    # Filled by the crypto layer when a key is known:
    decrypted: list[IkePayload] | None = None
    decrypted_data: bytes | None = None  # plaintext the decrypted payloads' offsets refer to
    decryption_status: str | None = None  # "ok", "icv-failed", "no-key", "error: ...", "fragment"
    header_fields_from: Callable[[], list[Field]] | None = None

    @property
    def fields(self) -> list[Field]:
        """The header's dissected fields, built on the first read."""
        if self.header_fields is None:
            build = self.header_fields_from
            self.header_fields = build() if build is not None else []
            self.header_fields_from = None
        return self.header_fields

    @property
    def protocol(self) -> Protocol:
        return Protocol.IKE

    @property
    def all_payloads(self) -> list[IkePayload]:
        """Clear payloads followed by decrypted ones (the SK payload itself included)."""
        return self.payloads + (self.decrypted or [])

    @property
    def encrypted_body(self) -> EncryptedBody | None:
        for p in self.payloads:
            if isinstance(p.body, EncryptedBody):
                return p.body
        return None


@dataclass(slots=True)
class EspDecryption:
    """What the crypto layer found in one ESP packet."""

    status: str  # "ok", "icv-failed", "bad-padding", "error: ..."
    next_header: int = 0
    pad_length: int = 0
    plaintext: bytes = b""  # the payload data (inner packet or transport payload)
    iv: bytes = b""
    icv: bytes = b""
    key_source: str = ""
    # The IV must never repeat under one key: AEAD and counter modes (RFC 4106 §3.1,
    # RFC 3686 §3), where the lifecycle checks it for reuse.
    counter_iv: bool = False
    # Whether an ICV or AEAD tag was checked. False for a good result of keys with no
    # integrity key (tcpdump ``-E`` secrets, integrity NONE or "ANY n bit" with a non-AEAD
    # cipher): the payload decrypted, but nothing shows it was not altered, so it is
    # reported as ``decrypted_unverified`` (RFC 4303 §3.4.4).
    verified: bool = True

    @property
    def outcome(self) -> str:
        """What a person reads: ``decrypted``, ``decrypted_unverified`` or the failure."""
        if self.status != "ok":
            return self.status
        return "decrypted" if self.verified else "decrypted_unverified"


@dataclass(slots=True)
class EspPacket:
    """One ESP packet: SPI and sequence number, and its decryption when tried."""

    meta: PacketMeta
    data: bytes
    offset: int  # where the ESP header starts in data
    length: int  # bytes from the ESP header to the end of the ESP payload
    spi: int
    seq: int
    decryption: EspDecryption | None = None
    errors: list[ParseError] = field(default_factory=list)

    @property
    def protocol(self) -> Protocol:
        return Protocol.ESP


@dataclass(slots=True)
class AhPacket:
    """One AH packet: its header fields and where the data it protects lies."""

    meta: PacketMeta
    data: bytes
    offset: int  # where the AH header starts in data
    next_header: int
    payload_len: int  # the raw field (32-bit words minus 2)
    spi: int
    seq: int
    icv: bytes
    ip_offset: int  # where the IP header that carries AH starts in data (for ICV checks)
    inner_offset: int  # first byte after AH: what AH protects
    icv_status: str | None = None  # "ok", "icv-failed", None (not checked)
    errors: list[ParseError] = field(default_factory=list)

    @property
    def protocol(self) -> Protocol:
        return Protocol.AH

    @property
    def length(self) -> int:
        return (self.payload_len + 2) * 4


@dataclass(slots=True)
class NatKeepalive:
    """A one-byte 0xFF NAT-keepalive on UDP 4500 (RFC 3948 §2.3)."""

    meta: PacketMeta


@dataclass(slots=True)
class Malformed:
    """A frame that looked IPsec-related but could not be dissected at all."""

    meta: PacketMeta
    layer: str  # "ip", "udp", "ike", "esp", "ah", "tcp"
    error: ParseError
    data: bytes = b""


@dataclass(slots=True)
class CaptureWarning:
    """A problem with the capture file itself (truncated record, corrupt block).

    ``message`` never names the frame or the file: whoever shows it prefixes them once.
    ``kind`` groups repeated warnings so that they can be capped ("and 499,980 more");
    ``offset`` is the byte offset in the (decompressed) stream where the damage is.
    """

    frame: int
    message: str
    kind: str = "capture"
    offset: int | None = None
    unlisted: int = 0  # > 0: stands for this many more warnings of its kind, not listed

    def text(self) -> str:
        """``frame 7 (byte 4096): message`` — the one way a warning is shown."""
        where = f"frame {self.frame}" if self.frame else ""
        if self.offset is not None:
            where = f"{where} (byte {self.offset})" if where else f"byte {self.offset}"
        return f"{where}: {self.message}" if where else self.message


Record = IkeMessage | EspPacket | AhPacket | NatKeepalive | Malformed
