"""Hand-made records for the tracker tests: no capture files, no I/O.

Each builder returns a record as the dissector and the crypto layer would hand it to the
tracker: IKE messages with typed payload bodies (``decrypted`` filled in when the test
plays "keys known"), ESP packets with a sequence number and, optionally, a decryption.
"""

from __future__ import annotations

from ipsec_inspect.core.records import (
    Attribute,
    AuthBody,
    DeleteBody,
    EncryptedBody,
    EspDecryption,
    EspPacket,
    HashBody,
    IdBody,
    IkeHeader,
    IkeMessage,
    IkePayload,
    KeBody,
    NonceBody,
    NotifyBody,
    PacketMeta,
    Proposal,
    SaBody,
    TrafficSelector,
    Transform,
    Transport,
    TsBody,
)

A, B = "192.0.2.1", "198.51.100.2"  # initiator, responder
SPI_I = bytes.fromhex("1111111111111111")
SPI_R = bytes.fromhex("2222222222222222")
ZERO = b"\x00" * 8
T0 = 1_700_000_000.0


def meta(
    frame: int,
    src: str = A,
    dst: str = B,
    *,
    t: float | None = None,
    port: int = 500,
    wire_len: int = 200,
    fragmented: bool = False,
) -> PacketMeta:
    transport = Transport.UDP_ENCAP if port == 4500 else Transport.UDP
    return PacketMeta(
        frame=frame,
        time=T0 + frame if t is None else t,
        src=src,
        dst=dst,
        sport=port,
        dport=port,
        transport=transport,
        wire_len=wire_len,
        ip_fragmented=fragmented,
    )


def pl(ptype: int, body: object, name: str = "") -> IkePayload:
    return IkePayload(type=ptype, name=name or str(ptype), offset=0, length=4, body=body)  # type: ignore[arg-type]


def v2_ike_proposal(
    encr: int = 12,
    bits: int | None = 256,
    prf: int = 5,
    integ: int | None = 12,
    dh: int = 19,
    spi: bytes = b"",
) -> Proposal:
    ts = [Transform(1, encr, [Attribute(14, bits, True)] if bits else [])]
    ts.append(Transform(2, prf))
    if integ is not None:
        ts.append(Transform(3, integ))
    ts.append(Transform(4, dh))
    return Proposal(1, 1, spi, ts)


def v2_child_proposal(
    spi: int,
    encr: int = 20,
    bits: int | None = 256,
    integ: int | None = None,
    dh: int | None = None,
    esn: int = 0,
    protocol: int = 3,
) -> Proposal:
    ts = [Transform(1, encr, [Attribute(14, bits, True)] if bits else [])] if protocol == 3 else []
    if integ is not None:
        ts.append(Transform(3, integ))
    if dh is not None:
        ts.append(Transform(4, dh))
    ts.append(Transform(5, esn))
    return Proposal(1, protocol, spi.to_bytes(4, "big"), ts)


def notify(ntype: int, data: bytes = b"", spi: bytes = b"", protocol: int = 0) -> IkePayload:
    return pl(41, NotifyBody(protocol, spi, ntype, data), f"N({ntype})")


def ts_pair(i: str = "10.1.0.0", r: str = "10.2.0.0") -> list[IkePayload]:
    def one(addr: str) -> TsBody:
        end = addr.rsplit(".", 1)[0] + ".255"
        return TsBody([TrafficSelector(7, 0, 0, 65535, addr, end)])

    return [pl(44, one(i), "TSi"), pl(45, one(r), "TSr")]


def ike2(
    frame: int,
    exchange: int,
    *,
    response: bool,
    from_initiator: bool,
    mid: int,
    payloads: list[IkePayload] | None = None,
    decrypted: list[IkePayload] | None = None,
    spi_r: bytes = SPI_R,
    spi_i: bytes = SPI_I,
    src: str | None = None,
    dst: str | None = None,
    port: int = 500,
    t: float | None = None,
    length: int = 256,
) -> IkeMessage:
    """An IKEv2 message; ``decrypted`` None means "encrypted, no key".

    ``length`` is the header's message length: the tracker infers a failed IKE_AUTH from
    an encrypted response too short to hold IDr and AUTH."""
    flags = (0x20 if response else 0) | (0x08 if from_initiator else 0)
    s = src or (A if from_initiator else B)
    d = dst or (B if from_initiator else A)
    clear = list(payloads or [])
    if exchange != 34:
        clear.append(pl(46, EncryptedBody(35, 0, 64), "SK"))
    header = IkeHeader(
        spi_i,
        ZERO if exchange == 34 and not response else spi_r,
        0,
        2,
        0,
        exchange,
        flags,
        mid,
        length,
    )
    msg = IkeMessage(meta(frame, s, d, port=port, t=t), b"", 0, 0, header, 2, clear)
    if decrypted is not None:
        msg.decrypted = decrypted
        msg.decryption_status = "ok"
    return msg


def ike1(
    frame: int,
    exchange: int,
    *,
    from_initiator: bool,
    payloads: list[IkePayload] | None = None,
    decrypted: list[IkePayload] | None = None,
    encrypted: bool = False,
    mid: int = 0,
    spi_r: bytes = SPI_R,
    spi_i: bytes = SPI_I,
    data: bytes = b"",
) -> IkeMessage:
    header = IkeHeader(spi_i, spi_r, 0, 1, 0, exchange, 0x01 if encrypted else 0, mid, 0)
    s, d = (A, B) if from_initiator else (B, A)
    msg = IkeMessage(meta(frame, s, d), data, 0, len(data), header, 1, list(payloads or []))
    if decrypted is not None:
        msg.decrypted = decrypted
        msg.decryption_status = "ok"
    return msg


def v1_p1_transform(
    encr: int = 7,
    bits: int | None = 256,
    hash_: int = 4,
    auth: int = 1,
    group: int = 14,
    life: int = 28800,
) -> Transform:
    attrs = [
        Attribute(1, encr, True),
        Attribute(2, hash_, True),
        Attribute(3, auth, True),
        Attribute(4, group, True),
        Attribute(11, 1, True),
        Attribute(12, life, False),
    ]
    if bits:
        attrs.append(Attribute(14, bits, True))
    return Transform(0, 1, attrs, number=1)


def v1_p2_proposal(
    spi: int,
    encr: int = 12,
    bits: int | None = 256,
    auth: int = 5,
    encap: int = 1,
    group: int | None = None,
    life: int = 3600,
) -> Proposal:
    attrs = [
        Attribute(1, 1, True),
        Attribute(2, life, False),
        Attribute(4, encap, True),
        Attribute(5, auth, True),
    ]
    if bits:
        attrs.append(Attribute(6, bits, True))
    if group:
        attrs.append(Attribute(3, group, True))
    return Proposal(1, 3, spi.to_bytes(4, "big"), [Transform(0, encr, attrs, number=1)])


def esp(
    frame: int,
    spi: int,
    seq: int,
    *,
    src: str = A,
    dst: str = B,
    t: float | None = None,
    decryption: EspDecryption | None = None,
    data: bytes = b"",
    wire_len: int = 200,
    fragmented: bool = False,
    port: int = 0,
) -> EspPacket:
    m = meta(frame, src, dst, t=t, wire_len=wire_len, fragmented=fragmented, port=port)
    if port == 0:
        m.transport, m.sport, m.dport = Transport.IP, 0, 0
    return EspPacket(m, data, 0, len(data) or 100, spi, seq, decryption)


def ok(
    plaintext: bytes, iv: bytes = b"", status: str = "ok", counter_iv: bool | None = None
) -> EspDecryption:
    """A decryption result; an IV given is a counter-mode/AEAD IV unless said otherwise."""
    return EspDecryption(
        status=status,
        next_header=4,
        plaintext=plaintext,
        iv=iv,
        key_source="supplied",
        counter_iv=bool(iv) if counter_iv is None else counter_iv,
    )


__all__ = [
    "SPI_I",
    "SPI_R",
    "T0",
    "ZERO",
    "A",
    "AuthBody",
    "B",
    "DeleteBody",
    "HashBody",
    "IdBody",
    "KeBody",
    "NonceBody",
    "NotifyBody",
    "SaBody",
    "esp",
    "ike1",
    "ike2",
    "meta",
    "notify",
    "ok",
    "pl",
    "ts_pair",
    "v1_p1_transform",
    "v1_p2_proposal",
    "v2_child_proposal",
    "v2_ike_proposal",
]
