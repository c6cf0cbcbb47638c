"""IKEv1/ISAKMP dissector tests: messages built with scapy's independent ``scapy.layers.isakmp``."""

from __future__ import annotations

import json

from scapy.layers import isakmp as s
from scapy.packet import Raw

from ipsec_inspect.core.records import (
    ConfigBody,
    DeleteBody,
    EncryptedBody,
    HashBody,
    IdBody,
    IkeMessage,
    NotifyBody,
    PacketMeta,
    RawBody,
    SaBody,
    VendorIdBody,
)
from ipsec_inspect.ipsec import registry
from ipsec_inspect.ipsec.ike import dissect_ike, ike_to_json, looks_like_ike, summarize_ike
from ipsec_inspect.ipsec.ikev1 import parse_payload_chain

META = PacketMeta(frame=3, time=1.5, src="198.51.100.1", dst="198.51.100.2", sport=500, dport=500)
PAD = b"\x00" * 28
ICOOKIE = bytes.fromhex("a1a2a3a4a5a6a7a8")
RCOOKIE = bytes.fromhex("b1b2b3b4b5b6b7b8")
RFC3947 = bytes.fromhex("4a131c81070358455c5728f20e95452f")
DPD = bytes.fromhex("afcad71368a1f1c96b8696fc77570100")
XAUTH = bytes.fromhex("09002689dfd6b712")
DRAFT_02N = bytes.fromhex("90cb80913ebb696e086381b5ec427b1f")


def _dissect(raw: bytes) -> IkeMessage:
    data = PAD + raw
    return dissect_ike(data, len(PAD), len(data), META)


def _payload(ptype_next: int, body: bytes) -> bytes:
    return bytes([ptype_next, 0]) + (4 + len(body)).to_bytes(2, "big") + body


def _main_mode_1() -> bytes:
    transform = s.ISAKMP_payload_Transform(
        transform_count=1,
        transform_id=1,
        transforms=[
            ("Encryption", "AES-CBC"),
            ("KeyLength", 256),
            ("Hash", "SHA"),
            ("Authentication", "PSK"),
            ("GroupDesc", "2048MODPgr"),
            ("LifeType", "Seconds"),
            ("LifeDuration", 86400),
        ],
    )
    return bytes(
        s.ISAKMP(init_cookie=ICOOKIE, exch_type=2)
        / s.ISAKMP_payload_SA(prop=s.ISAKMP_payload_Proposal(proto=1, trans_nb=1, trans=transform))
        / s.ISAKMP_payload_VendorID(VendorID=RFC3947)
        / s.ISAKMP_payload_VendorID(VendorID=DPD)
        / s.ISAKMP_payload_VendorID(VendorID=XAUTH)
    )


def test_main_mode_first_message() -> None:
    msg = _dissect(_main_mode_1())
    assert msg.errors == []
    assert msg.version == 1
    assert (msg.header.spi_i, msg.header.spi_r, msg.header.exchange) == (ICOOKIE, bytes(8), 2)
    assert summarize_ike(msg) == "Main Mode #1 [SA V V V]"
    sa = msg.payloads[0].body
    assert isinstance(sa, SaBody)
    assert (sa.doi, sa.situation) == (1, 1)
    (proposal,) = sa.proposals
    assert proposal.protocol == 1
    (t,) = proposal.transforms
    assert (t.number, t.id, t.name) == (1, 1, "KEY_IKE")
    got = [(a.name, a.value, a.value_name, a.is_tv) for a in t.attributes]
    assert got == [
        ("Encryption Algorithm", 7, "AES-CBC", True),
        ("Key Length", 256, "", True),
        ("Hash Algorithm", 2, "SHA", True),
        ("Authentication Method", 1, "Pre-shared Key", True),
        ("Group Description", 14, "2048-bit MODP group", True),
        ("Life Type", 1, "seconds", True),
        ("Life Duration", 86400, "", False),
    ]
    assert t.key_length == 256
    vids = [p.body for p in msg.payloads[1:]]
    assert all(isinstance(v, VendorIdBody) for v in vids)
    assert [v.name for v in vids if isinstance(v, VendorIdBody)] == [
        "RFC 3947 Negotiation of NAT-Traversal in the IKE",
        "RFC 3706 DPD (Dead Peer Detection) 1.0",
        "XAUTH",
    ]


def test_offsets_are_absolute() -> None:
    msg = _dissect(_main_mode_1())
    sa = msg.payloads[0]
    assert sa.offset == len(PAD) + 28
    doi = next(f for f in sa.fields if f.key == "ikev1.sa.doi")
    assert (doi.offset, doi.length, doi.display) == (len(PAD) + 32, 4, "IPSEC (1)")
    second = msg.payloads[1]
    assert second.offset == sa.offset + sa.length


def test_second_message_numbered_and_responder_cookie() -> None:
    raw = bytearray(_main_mode_1())
    raw[8:16] = RCOOKIE
    msg = _dissect(bytes(raw))
    assert summarize_ike(msg) == "Main Mode #2 [SA V V V]"


def _quick_mode_plain() -> bytes:
    transform = s.ISAKMP_payload_Transform(
        transform_count=1,
        transform_id=12,
        transforms=[
            ("LifeType", "seconds"),
            ("LifeDuration", 3600),
            ("EncapsulationMode", "UDP-Encapsulated-Tunnel"),
            ("AuthenticationAlgorithm", "HMAC-SHA"),
            ("KeyLength", 128),
        ],
    )
    sa = s.ISAKMP_payload_SA(
        prop=s.ISAKMP_payload_Proposal(
            proto=3, SPI=b"\x07\x08\x83\xc2", trans_nb=1, trans=transform
        )
    )
    chain = (
        s.ISAKMP_payload_Hash(hash=b"\x5a" * 20) / sa / s.ISAKMP_payload_Nonce(nonce=b"\x6b" * 16)
    )
    ids = _payload(
        5, bytes([4, 17, 0x11, 0x94]) + bytes([10, 1, 0, 0, 255, 255, 255, 0])
    ) + _payload(0, bytes([1, 0, 0, 0]) + bytes([10, 2, 0, 9]))
    raw = bytearray(bytes(chain))
    # chain ends with the nonce: point its next payload at the first ID
    nonce_at = len(raw) - (4 + 16)
    raw[nonce_at] = 5
    return bytes(raw) + ids


def test_quick_mode_plaintext_as_the_crypto_layer_parses_it() -> None:
    plain = _quick_mode_plain()
    payloads, errors = parse_payload_chain(plain, 0, len(plain), 8)
    assert errors == []
    assert [p.name for p in payloads] == ["HASH", "SA", "No", "ID", "ID"]
    assert isinstance(payloads[0].body, HashBody) and payloads[0].body.kind == "HASH"
    sa = payloads[1].body
    assert isinstance(sa, SaBody)
    (proposal,) = sa.proposals
    assert (proposal.protocol, proposal.spi) == (3, b"\x07\x08\x83\xc2")
    (t,) = proposal.transforms
    assert t.name == "ESP_AES-CBC"
    got = [(a.name, a.value, a.value_name) for a in t.attributes]
    assert got == [
        ("SA Life Type", 1, "seconds"),
        ("SA Life Duration", 3600, ""),
        ("Encapsulation Mode", 3, "UDP-Encapsulated-Tunnel"),
        ("Authentication Algorithm", 2, "HMAC-SHA"),
        ("Key Length", 128, ""),
    ]
    idc, ids = payloads[3].body, payloads[4].body
    assert isinstance(idc, IdBody) and isinstance(ids, IdBody)
    assert (idc.id_type, idc.protocol, idc.port, idc.text) == (4, 17, 4500, "10.1.0.0/24")
    assert (ids.id_type, ids.text) == (1, "10.2.0.9")


def test_encrypted_flag_keeps_ciphertext_for_the_crypto_layer() -> None:
    ciphertext = b"\xc3" * 48
    raw = bytes(
        s.ISAKMP(
            init_cookie=ICOOKIE,
            resp_cookie=RCOOKIE,
            exch_type=32,
            flags="encryption",
            id=0x1234,
            next_payload=8,
        )
        / Raw(ciphertext)
    )
    msg = _dissect(raw)
    assert msg.errors == []
    assert summarize_ike(msg) == "Quick Mode (encrypted)"
    (p,) = msg.payloads
    assert isinstance(p.body, EncryptedBody)
    assert (p.body.first_payload, p.body.body_offset, p.body.body_length) == (8, len(PAD) + 28, 48)
    assert msg.encrypted_body is p.body
    plain = _quick_mode_plain()
    msg.decrypted, _ = parse_payload_chain(plain, 0, len(plain), 8)
    assert summarize_ike(msg) == "Quick Mode [HASH SA No ID ID]"


def _message(exchange: int, first: int, chain: bytes) -> bytes:
    header = ICOOKIE + RCOOKIE + bytes([first, 0x10, exchange, 0]) + (0).to_bytes(4, "big")
    return header + (28 + len(chain)).to_bytes(4, "big") + chain


def test_nat_discovery_rfc_draft_and_type_15() -> None:
    h1, h2 = b"\x01" * 20, b"\x02" * 20
    rfc = _message(
        2,
        4,
        _payload(10, b"\x33" * 64)
        + _payload(20, b"\x44" * 16)
        + _payload(20, h1)
        + _payload(0, h2),
    )
    msg = _dissect(rfc)
    assert summarize_ike(msg) == "Main Mode [KE No NAT-D NAT-D]"
    assert [p.body.data for p in msg.payloads[2:] if isinstance(p.body, HashBody)] == [h1, h2]
    draft = _message(2, 130, _payload(0, h1))
    assert _dissect(draft).payloads[0].name == "NAT-D"
    # NAT-T drafts before -03 used 15 (now GDOI SA KEK): read as NAT-D in Main Mode
    old = _message(2, 15, _payload(15, h1) + _payload(0, h2))
    msg = _dissect(old)
    assert msg.errors == []
    assert [p.name for p in msg.payloads] == ["NAT-D", "NAT-D"]
    assert [p.body.kind for p in msg.payloads if isinstance(p.body, HashBody)] == ["NAT-D", "NAT-D"]
    # elsewhere 15 stays GDOI's SA KEK unless the message announces a NAT-T draft
    gdoi = _message(32, 15, _payload(0, h1))
    assert _dissect(gdoi).payloads[0].name == "SAK"
    assert isinstance(_dissect(gdoi).payloads[0].body, RawBody)
    announced = _message(5, 13, _payload(15, DRAFT_02N) + _payload(0, h1))
    assert [p.name for p in _dissect(announced).payloads] == ["V", "NAT-D"]


def test_nat_oa_notify_delete_and_attribute_payloads() -> None:
    nat_oa = _payload(11, bytes([1, 0, 0, 0, 192, 168, 1, 10]))
    notify = _payload(
        12,
        (1).to_bytes(4, "big")
        + bytes([1, 16])
        + (36136).to_bytes(2, "big")
        + ICOOKIE
        + RCOOKIE
        + (7).to_bytes(4, "big"),
    )
    delete = _payload(
        14,
        (1).to_bytes(4, "big")
        + bytes([3, 4])
        + (2).to_bytes(2, "big")
        + b"\x00\x00\x00\x01\x00\x00\x00\x02",
    )
    user = b"carol"
    attribute = _payload(
        0,
        bytes([1, 0])
        + (0x4242).to_bytes(2, "big")
        + (0x8000 | 16520).to_bytes(2, "big")
        + (0).to_bytes(2, "big")
        + (16521).to_bytes(2, "big")
        + len(user).to_bytes(2, "big")
        + user,
    )
    raw = nat_oa + notify + delete + attribute
    payloads, errors = parse_payload_chain(raw, 0, len(raw), 21)
    assert errors == []
    assert [p.name for p in payloads] == ["NAT-OA", "N(R-U-THERE)", "D", "ATTR"]
    oa = payloads[0].body
    assert isinstance(oa, IdBody) and oa.text == "192.168.1.10"
    n = payloads[1].body
    assert isinstance(n, NotifyBody)
    assert (n.doi, n.protocol, n.spi, n.notify_type, n.name) == (
        1,
        1,
        ICOOKIE + RCOOKIE,
        36136,
        "R-U-THERE",
    )
    seq = [c for f in payloads[1].fields for c in f.children if c.key == "ikev1.notify.sequence"]
    assert seq[0].value == 7
    d = payloads[2].body
    assert isinstance(d, DeleteBody) and d.spis == [b"\x00\x00\x00\x01", b"\x00\x00\x00\x02"]
    cfg = payloads[3].body
    assert isinstance(cfg, ConfigBody)
    assert (cfg.cfg_type, cfg.identifier) == (1, 0x4242)
    assert [(a.name, a.value, a.value_name) for a in cfg.attributes] == [
        ("XAUTH-TYPE", 0, "Generic"),
        ("XAUTH-USER-NAME", b"carol", "carol"),
    ]


def test_scapy_notify_and_delete_agree() -> None:
    raw = bytes(
        s.ISAKMP_payload_Notify(doi=1, proto=3, SPI=b"\xaa\xbb\xcc\xdd", notify_msg_type=24578)
        / s.ISAKMP_payload_Delete(doi=1, proto=3, SPIs=[b"\x01\x02\x03\x04"])
    )
    payloads, errors = parse_payload_chain(raw, 0, len(raw), 11)
    assert errors == []
    assert [p.name for p in payloads] == ["N(INITIAL-CONTACT)", "D"]
    d = payloads[1].body
    assert isinstance(d, DeleteBody) and (d.protocol, d.spis, d.doi) == (
        3,
        [b"\x01\x02\x03\x04"],
        1,
    )


def test_malformed_lengths_are_located() -> None:
    raw = bytearray(_main_mode_1())
    msg = _dissect(bytes(raw))
    vid_at = msg.payloads[1].offset - len(PAD)
    raw[vid_at + 2 : vid_at + 4] = (4660).to_bytes(2, "big")
    bad = _dissect(bytes(raw))
    where = len(PAD) + vid_at
    assert (
        bad.errors[0].message == f"payload length 4660 runs past the message end at offset {where}"
    )
    assert [p.name for p in bad.payloads] == ["SA", "V"]
    # a proposal that announces two transforms but holds one
    raw2 = bytearray(_main_mode_1())
    raw2[28 + 12 + 7] = 2
    sa = _dissect(bytes(raw2)).payloads[0]
    assert sa.error is not None and "announces 2 transforms but holds 1" in sa.error
    # every prefix: contained, and an error whenever the message is cut
    full = _main_mode_1()
    for n in range(len(full)):
        m = dissect_ike(full[:n], 0, n, META)
        assert m.errors
        json.dumps(ike_to_json(m))


def test_looks_like_ike_v1() -> None:
    raw = _main_mode_1()
    assert looks_like_ike(raw, 0, len(raw))
    flags = bytearray(raw)
    flags[19] = 0x80
    assert not looks_like_ike(bytes(flags), 0, len(raw))
    exchange = bytearray(raw)
    exchange[18] = 7
    assert not looks_like_ike(bytes(exchange), 0, len(raw))


def test_registry_v1_names() -> None:
    assert registry.exchange_name(1, 2) == "Identity Protection (Main Mode)"
    assert registry.exchange_short_name(1, 32) == "Quick Mode"
    assert registry.exchange_name(1, 6) == "Transaction (Config Mode)"
    assert registry.ipsec_transform_name(3, 20) == "ESP_AES-GCM_16"
    assert registry.ipsec_transform_name(2, 3) == "AH_SHA"
    assert registry.ipsec_attribute_value_name(4, 4) == "UDP-Encapsulated-Transport"
    assert registry.ipsec_attribute_value_name(4, 61443) == "UDP-Encapsulated-Tunnel (draft)"
    assert registry.ipsec_attribute_value_name(4, 61444) == "UDP-Encapsulated-Transport (draft)"
    assert registry.ipsec_attribute_name(11) == "Extended (64-bit) Sequence Number"
    assert registry.ike_attribute_value_name(3, 65001) == "XAUTHInitPreShared"
    assert registry.notify_name(1, 24576) == "RESPONDER-LIFETIME"
    assert registry.notify_name(1, 14) == "NO-PROPOSAL-CHOSEN"
    assert registry.id_type_name(1, 4) == "ID_IPV4_ADDR_SUBNET"
    assert registry.cert_encoding_name(1, 5) == "X.509 Certificate - Key Exchange"
