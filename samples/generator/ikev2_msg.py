"""IKEv2 messages built with scapy's contrib layers, with the SK payload done by hand.

Why by hand for SK: scapy builds the clear payloads and the header, but the ICV must cover
the final header (with the total length filled in), so the SK body is computed last and
spliced in.
"""

from __future__ import annotations

from dataclasses import dataclass

from scapy.contrib.ikev2 import (
    IKEv2,
    IKEv2_AUTH,
    IKEv2_CERT,
    IKEv2_Delete,
    IKEv2_Encrypted,
    IKEv2_IDi,
    IKEv2_IDr,
    IKEv2_KE,
    IKEv2_Nonce,
    IKEv2_Notify,
    IKEv2_Proposal,
    IKEv2_SA,
    IKEv2_Transform,
    IKEv2_TSi,
    IKEv2_TSr,
    IKEv2_VendorID,
    IPv4TrafficSelector,
)
from scapy.packet import Packet

from .ikev2_crypto import encrypt_sk, sk_body_length

IKE_SA_INIT = 34
IKE_AUTH = 35
CREATE_CHILD_SA = 36
INFORMATIONAL = 37

FLAG_INITIATOR = 0x08
FLAG_RESPONSE = 0x20

PAYLOAD_TYPES: dict[type[Packet], int] = {
    IKEv2_SA: 33,
    IKEv2_KE: 34,
    IKEv2_IDi: 35,
    IKEv2_IDr: 36,
    IKEv2_CERT: 37,
    IKEv2_AUTH: 39,
    IKEv2_Nonce: 40,
    IKEv2_Notify: 41,
    IKEv2_Delete: 42,
    IKEv2_VendorID: 43,
    IKEv2_TSi: 44,
    IKEv2_TSr: 45,
    IKEv2_Encrypted: 46,
}


def chain(payloads: list[Packet]) -> tuple[int, bytes]:
    """Serialise payloads with explicit next-payload values; returns (first type, bytes)."""
    out = b""
    for i, p in enumerate(payloads):
        nxt = PAYLOAD_TYPES[type(payloads[i + 1])] if i + 1 < len(payloads) else 0
        p = p.copy()
        p.next_payload = nxt
        out += bytes(p)
    first = PAYLOAD_TYPES[type(payloads[0])] if payloads else 0
    return first, out


def encr_transform(transform_id: int, key_bits: int) -> IKEv2_Transform:
    """An ENCR transform with its Key Length attribute (RFC 7296 §3.3.5: MUST for variable-
    length ciphers). scapy 2.8 writes the attribute only when the length is given."""
    return IKEv2_Transform(
        transform_type=1, transform_id=transform_id, length=12, key_length=key_bits
    )


def ike_sa_proposal(spi: bytes = b"") -> IKEv2_SA:
    """ENCR_AES_CBC-256 / PRF_HMAC_SHA2_256 / AUTH_HMAC_SHA2_256_128 / Curve25519."""
    trans = (
        encr_transform(12, 256)
        / IKEv2_Transform(transform_type=2, transform_id=5)
        / IKEv2_Transform(transform_type=3, transform_id=12)
        / IKEv2_Transform(transform_type=4, transform_id=31)
    )
    return IKEv2_SA(prop=IKEv2_Proposal(proposal=1, proto=1, SPI=spi, trans_nb=4, trans=trans))


def esp_gcm_proposal(spi: bytes) -> IKEv2_SA:
    """ESP ENCR_AES_GCM_16-128, no ESN."""
    trans = encr_transform(20, 128) / IKEv2_Transform(transform_type=5, transform_id=0)
    return IKEv2_SA(prop=IKEv2_Proposal(proposal=1, proto=3, SPI=spi, trans_nb=2, trans=trans))


def host_ts(cls: type[Packet], addr: str) -> Packet:
    sel = IPv4TrafficSelector(
        IP_protocol_ID=0,
        start_port=0,
        end_port=65535,
        starting_address_v4=addr,
        ending_address_v4=addr,
    )
    return cls(number_of_TSs=1, traffic_selector=[sel])


def delete(protocol: int, spis: list[bytes]) -> IKEv2_Delete:
    spi_size = len(spis[0]) if spis else 0
    return IKEv2_Delete(proto=protocol, SPIsize=spi_size, SPInum=len(spis), SPI=spis)


@dataclass
class SkKeys:
    """The keys protecting one direction of an IKE SA."""

    sk_e: bytes
    sk_a: bytes


def message(
    spi_i: bytes,
    spi_r: bytes,
    exchange: int,
    flags: int,
    mid: int,
    clear: list[Packet],
) -> bytes:
    """An unencrypted IKEv2 message."""
    first, body = chain(clear)
    hdr = IKEv2(
        init_SPI=spi_i,
        resp_SPI=spi_r,
        next_payload=first,
        exch_type=exchange,
        flags=flags,
        id=mid,
        length=28 + len(body),
    )
    return bytes(hdr) + body


def encrypted_message(
    spi_i: bytes,
    spi_r: bytes,
    exchange: int,
    flags: int,
    mid: int,
    inner: list[Packet],
    keys: SkKeys,
    iv: bytes,
) -> bytes:
    """An IKEv2 message whose only payload is SK{inner}."""
    first, plaintext = chain(inner)
    body_len = sk_body_length(len(plaintext))
    hdr = IKEv2(
        init_SPI=spi_i,
        resp_SPI=spi_r,
        next_payload=46,
        exch_type=exchange,
        flags=flags,
        id=mid,
        length=28 + 4 + body_len,
    )
    sk_header = IKEv2_Encrypted(next_payload=first, length=4 + body_len)
    prefix = bytes(hdr) + bytes(sk_header)[:4]
    return prefix + encrypt_sk(prefix, keys.sk_e, keys.sk_a, iv, plaintext)


def id_body(id_payload: Packet) -> bytes:
    """RestOfIDPayload: the ID payload after its 4-byte generic header (for AUTH)."""
    return bytes(id_payload)[4:]
