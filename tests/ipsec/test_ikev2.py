"""IKEv2 dissector tests: messages built with scapy's independent ``scapy.contrib.ikev2``."""

from __future__ import annotations

import json

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from scapy.contrib import ikev2 as s

from ipsec_inspect.core.records import (
    CertBody,
    ConfigBody,
    DeleteBody,
    EapBody,
    EncryptedBody,
    Field,
    IdBody,
    IkeMessage,
    KeBody,
    NotifyBody,
    PacketMeta,
    SaBody,
    TsBody,
    VendorIdBody,
)
from ipsec_inspect.ipsec import registry
from ipsec_inspect.ipsec.ike import dissect_ike, ike_to_json, looks_like_ike, summarize_ike
from ipsec_inspect.ipsec.ikev2 import parse_payload_chain

META = PacketMeta(frame=1, time=0.0, src="192.0.2.1", dst="192.0.2.2", sport=500, dport=500)
PAD = b"\xee" * 42  # the message sits after a fake link/IP/UDP header: offsets stay absolute
SPI_I = bytes.fromhex("0102030405060708")
STRONGSWAN_VID = bytes.fromhex("882fe56d6fd20dbc2251613b2ebe5beb")


def _sa_init() -> bytes:
    transforms = (
        s.IKEv2_Transform(transform_type=1, transform_id=12, length=12, key_length=0x800E0100)
        / s.IKEv2_Transform(transform_type=2, transform_id=5)
        / s.IKEv2_Transform(transform_type=3, transform_id=12)
        / s.IKEv2_Transform(transform_type=4, transform_id=19)
    )
    msg = (
        s.IKEv2(init_SPI=SPI_I, exch_type=34, flags="Initiator", id=0)
        / s.IKEv2_SA(prop=s.IKEv2_Proposal(proposal=1, proto=1, trans_nb=4, trans=transforms))
        / s.IKEv2_KE(group=19, ke=b"\x11" * 64)
        / s.IKEv2_Nonce(nonce=b"\x22" * 32)
        / s.IKEv2_Notify(type=16388, notify=b"\x33" * 20)
        / s.IKEv2_Notify(type=16389, notify=b"\x44" * 20)
        / s.IKEv2_VendorID(vendorID=STRONGSWAN_VID)
    )
    return bytes(msg)


def _dissect(raw: bytes) -> IkeMessage:
    data = PAD + raw
    return dissect_ike(data, len(PAD), len(data), META)


def _find(fields: list[Field], key: str) -> Field:
    for f in fields:
        if f.key == key:
            return f
        try:
            return _find(f.children, key)
        except KeyError:
            pass
    raise KeyError(key)


def test_sa_init_header_payloads_and_summary() -> None:
    msg = _dissect(_sa_init())
    assert msg.errors == []
    assert msg.version == 2
    h = msg.header
    assert (h.spi_i, h.spi_r, h.exchange, h.flags, h.message_id) == (SPI_I, bytes(8), 34, 0x08, 0)
    assert h.is_initiator and not h.is_response
    assert [p.type for p in msg.payloads] == [33, 34, 40, 41, 41, 43]
    assert summarize_ike(msg) == (
        "IKE_SA_INIT request MID 0 [SA KE No N(NAT_DETECTION_SOURCE_IP) "
        "N(NAT_DETECTION_DESTINATION_IP) V]"
    )
    # header fields keep absolute offsets
    assert _find(msg.fields, "ikev2.exchange").offset == len(PAD) + 18
    assert _find(msg.fields, "ikev2.exchange").display == "IKE_SA_INIT (34)"


def test_sa_transforms_named_with_key_length_and_offsets() -> None:
    msg = _dissect(_sa_init())
    sa = msg.payloads[0]
    assert isinstance(sa.body, SaBody)
    (proposal,) = sa.body.proposals
    assert (proposal.number, proposal.protocol, proposal.spi) == (1, 1, b"")
    got = [(t.type, t.id, t.name, t.key_length) for t in proposal.transforms]
    assert got == [
        (1, 12, "ENCR_AES_CBC", 256),
        (2, 5, "PRF_HMAC_SHA2_256", None),
        (3, 12, "AUTH_HMAC_SHA2_256_128", None),
        (4, 19, "256-bit random ECP group", None),
    ]
    # first transform header starts after: IKE header 28 + SA header 4 + proposal header 8
    tid = _find(sa.fields, "ikev2.sa.proposal.transform.id")
    assert tid.offset == len(PAD) + 28 + 4 + 8 + 6
    assert tid.value == 12 and tid.display == "ENCR_AES_CBC (12)"
    attr = _find(sa.fields, "ikev2.sa.proposal.transform.attr")
    assert attr.display == "Key Length = 256"


def test_ke_nonce_notify_vendor_bodies() -> None:
    msg = _dissect(_sa_init())
    ke, nonce, nat_src, _nat_dst, vid = msg.payloads[1:]
    assert isinstance(ke.body, KeBody) and ke.body.group == 19 and ke.body.data == b"\x11" * 64
    assert _find(ke.fields, "ikev2.ke.group").offset == ke.offset + 4
    assert nonce.body is not None and nonce.length == 36
    assert isinstance(nat_src.body, NotifyBody)
    assert nat_src.body.name == "NAT_DETECTION_SOURCE_IP"
    assert _find(nat_src.fields, "ikev2.notify.nat_detection_hash").value == b"\x33" * 20
    assert isinstance(vid.body, VendorIdBody) and vid.body.name == "strongSwan"


def test_looks_like_ike_is_strict() -> None:
    raw = _sa_init()
    data = PAD + raw
    assert looks_like_ike(data, len(PAD), len(data))
    assert not looks_like_ike(data, len(PAD), len(data) - 1)  # length field != datagram
    bad_version = bytearray(data)
    bad_version[len(PAD) + 17] = 0x30
    assert not looks_like_ike(bytes(bad_version), len(PAD), len(data))
    bad_exchange = bytearray(data)
    bad_exchange[len(PAD) + 18] = 99
    assert not looks_like_ike(bytes(bad_exchange), len(PAD), len(data))
    bad_first = bytearray(data)
    bad_first[len(PAD) + 16] = 7
    assert not looks_like_ike(bytes(bad_first), len(PAD), len(data))
    assert not looks_like_ike(data, len(PAD), len(PAD) + 20)


def _dn() -> bytes:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CH"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "strongSwan"),
            x509.NameAttribute(NameOID.COMMON_NAME, "moon.strongswan.org"),
        ]
    ).public_bytes()


@pytest.mark.parametrize(
    ("id_type", "data", "text"),
    [
        (1, bytes([192, 0, 2, 7]), "192.0.2.7"),
        (2, b"moon.strongswan.org", "moon.strongswan.org"),
        (3, b"carol@strongswan.org", "carol@strongswan.org"),
        (5, bytes.fromhex("20010db8000000000000000000000001"), "2001:db8::1"),
        (9, _dn(), "C=CH, O=strongSwan, CN=moon.strongswan.org"),
        (11, b"\xde\xad\xbe\xef", "deadbeef"),
    ],
)
def test_identity_types_decoded(id_type: int, data: bytes, text: str) -> None:
    idi = s.IKEv2_IDi(IDtype=id_type, ID=data) if id_type not in (1, 5) else None
    raw = bytes([0, 0]) + (8 + len(data)).to_bytes(2, "big") + bytes([id_type, 0, 0, 0]) + data
    if idi is not None:
        assert bytes(idi) == raw  # our hand-built payload is what scapy builds too
    payloads, errors = parse_payload_chain(raw, 0, len(raw), 35)
    assert errors == []
    body = payloads[0].body
    assert isinstance(body, IdBody)
    assert (body.id_type, body.text) == (id_type, text)
    assert payloads[0].name == "IDi"


def test_malformed_dn_identity_is_an_error_not_an_exception() -> None:
    data = b"\x30\x10\x31\x05"  # SEQUENCE claiming 16 bytes, holding 2
    raw = bytes([0, 0, 0, 8 + len(data), 9, 0, 0, 0]) + data
    payloads, errors = parse_payload_chain(raw, 0, len(raw), 35)
    assert isinstance(payloads[0].body, IdBody)
    assert payloads[0].body.text == data.hex()
    assert "ID_DER_ASN1_DN identity at offset 8" in errors[0].message


def test_traffic_selectors_v4_and_v6() -> None:
    tsi = s.IKEv2_TSi(
        number_of_TSs=2,
        traffic_selector=[
            s.IPv4TrafficSelector(
                IP_protocol_ID=6,
                start_port=80,
                end_port=443,
                starting_address_v4="10.1.0.0",
                ending_address_v4="10.1.255.255",
            ),
            s.IPv6TrafficSelector(
                IP_protocol_ID=0,
                length=40,
                starting_address_v6="2001:db8::",
                ending_address_v6="2001:db8::ffff",
            ),
        ],
    )
    raw = bytes(tsi)  # scapy's IPv6 selector defaults to length 20; RFC 7296 says 40
    payloads, errors = parse_payload_chain(raw, 0, len(raw), 44)
    assert errors == []
    body = payloads[0].body
    assert isinstance(body, TsBody)
    got = [
        (t.ts_type, t.ip_protocol, t.start_port, t.end_port, t.start_addr, t.end_addr)
        for t in body.selectors
    ]
    assert got == [
        (7, 6, 80, 443, "10.1.0.0", "10.1.255.255"),
        (8, 0, 0, 65535, "2001:db8::", "2001:db8::ffff"),
    ]
    # payload header 4 + TS count 4 + selector type/protocol/length 4 + ports 4
    assert _find(payloads[0].fields, "ikev2.ts.start_addr").offset == 16


def _auth_plaintext() -> bytes:
    tsi = s.IKEv2_TSi(number_of_TSs=1, traffic_selector=[s.IPv4TrafficSelector(IP_protocol_ID=0)])
    tsr = s.IKEv2_TSr(number_of_TSs=1, traffic_selector=[s.IPv4TrafficSelector(IP_protocol_ID=0)])
    sa = s.IKEv2_SA(
        prop=s.IKEv2_Proposal(
            proposal=1,
            proto=3,
            SPI=b"\xc1\xa2\xb3\xc4",
            trans_nb=1,
            trans=s.IKEv2_Transform(
                transform_type=1, transform_id=20, length=12, key_length=0x800E0080
            ),
        )
    )
    return bytes(
        s.IKEv2_IDi(IDtype=2, ID=b"carol")
        / s.IKEv2_AUTH(auth_type=2, load=b"\x55" * 32)
        / sa
        / tsi
        / tsr
    )


def test_sk_payload_kept_for_crypto_and_summary_with_decrypted() -> None:
    body = b"\x99" * 80
    raw = bytes(
        s.IKEv2(
            init_SPI=SPI_I,
            resp_SPI=b"\x0a" * 8,
            exch_type=35,
            flags="Initiator",
            id=1,
            next_payload=46,
        )
        / s.IKEv2_Encrypted(next_payload=35, load=body)
    )
    msg = _dissect(raw)
    assert msg.errors == []
    sk = msg.payloads[0]
    assert isinstance(sk.body, EncryptedBody)
    assert sk.body.first_payload == 35
    assert sk.body.body_offset == len(PAD) + 28 + 4
    assert sk.body.body_length == 80
    assert msg.encrypted_body is sk.body
    assert summarize_ike(msg) == "IKE_AUTH request MID 1 [SK]"
    # the crypto layer parses the plaintext with parse_payload_chain and attaches it
    plain = _auth_plaintext()
    inner, errors = parse_payload_chain(plain, 0, len(plain), sk.body.first_payload)
    assert errors == []
    msg.decrypted, msg.decrypted_data = inner, plain
    assert summarize_ike(msg) == "IKE_AUTH request MID 1 [SK {IDi AUTH SA TSi TSr}]"
    sa = inner[2].body
    assert isinstance(sa, SaBody)
    assert sa.proposals[0].spi == b"\xc1\xa2\xb3\xc4"
    assert [(t.name, t.key_length) for t in sa.proposals[0].transforms] == [
        ("ENCR_AES_GCM_16", 128)
    ]


def test_skf_fragment_numbers_and_invalid_fragment() -> None:
    raw = bytes(
        s.IKEv2_Encrypted_Fragment(next_payload=35, frag_number=2, frag_total=3, load=b"\x01" * 40)
    )
    payloads, errors = parse_payload_chain(raw, 0, len(raw), 53)
    assert errors == []
    body = payloads[0].body
    assert isinstance(body, EncryptedBody)
    assert (body.fragment_number, body.total_fragments, body.body_offset, body.body_length) == (
        2,
        3,
        8,
        40,
    )
    assert body.first_payload == 35
    assert payloads[0].name == "SKF(2/3)"
    bad = bytes(
        s.IKEv2_Encrypted_Fragment(next_payload=0, frag_number=0, frag_total=3, load=b"\x01" * 8)
    )
    _payloads, errors = parse_payload_chain(bad, 0, len(bad), 53)
    assert errors and "invalid fragment number 0 of 3" in errors[0].message


def test_notify_data_decoding() -> None:
    raw = bytes(
        s.IKEv2_Notify(type=16431, notify=bytes.fromhex("0001000200030004"))
        / s.IKEv2_Notify(type=17, notify=b"\x00\x13")
        / s.IKEv2_Notify(proto=3, type=16393, SPI=b"\xca\xfe\xba\xbe")
        / s.IKEv2_Notify(type=16390, notify=b"\x77" * 16)
        / s.IKEv2_Notify(type=16407, gw_id_type=1, gw_id="198.51.100.9", nonce=b"\x88" * 16)
    )
    payloads, errors = parse_payload_chain(raw, 0, len(raw), 41)
    assert errors == []
    assert [p.name for p in payloads] == [
        "N(SIGNATURE_HASH_ALGORITHMS)",
        "N(INVALID_KE_PAYLOAD)",
        "N(REKEY_SA)",
        "N(COOKIE)",
        "N(REDIRECT)",
    ]
    sig, ke, rekey, cookie, redirect = payloads
    algs = [c.display for c in _find(sig.fields, "ikev2.notify.data").children]
    assert algs == ["SHA1 (1)", "SHA2-256 (2)", "SHA2-384 (3)", "SHA2-512 (4)"]
    assert (
        _find(ke.fields, "ikev2.notify.accepted_group").display == "256-bit random ECP group (19)"
    )
    assert isinstance(rekey.body, NotifyBody)
    assert (rekey.body.protocol, rekey.body.spi) == (3, b"\xca\xfe\xba\xbe")
    assert _find(cookie.fields, "ikev2.notify.cookie").value == b"\x77" * 16
    assert _find(redirect.fields, "ikev2.notify.redirect.gw").display == "198.51.100.9"
    assert _find(redirect.fields, "ikev2.notify.redirect.nonce").length == 16


def test_delete_cp_eap_cert_payloads() -> None:
    raw = bytes(
        s.IKEv2_Delete(proto=3, SPIsize=4, SPInum=2, SPI=[b"\x00\x00\x10\x01", b"\x00\x00\x10\x02"])
        / s.IKEv2_CP(
            CFGType=2,
            attributes=[
                s.ConfigurationAttribute(type=1, value=bytes([10, 3, 0, 1])),
                s.ConfigurationAttribute(type=3, value=bytes([10, 3, 0, 53])),
            ],
        )
        / s.IKEv2_EAP(load=bytes([1, 7, 0, 10, 1]) + b"carol")
        / s.IKEv2_CERT(cert_encoding=4, cert_data=b"\x30\x03\x02\x01\x01")
    )
    payloads, errors = parse_payload_chain(raw, 0, len(raw), 42)
    assert errors == []
    d, cp, eap, cert = (p.body for p in payloads)
    assert isinstance(d, DeleteBody) and d.protocol == 3
    assert d.spis == [b"\x00\x00\x10\x01", b"\x00\x00\x10\x02"]
    assert isinstance(cp, ConfigBody) and cp.cfg_type == 2
    assert [(a.name, a.value_name) for a in cp.attributes] == [
        ("INTERNAL_IP4_ADDRESS", "10.3.0.1"),
        ("INTERNAL_IP4_DNS", "10.3.0.53"),
    ]
    assert isinstance(eap, EapBody)
    assert (eap.code, eap.identifier, eap.eap_type, eap.data) == (1, 7, 1, b"carol")
    assert isinstance(cert, CertBody) and cert.encoding == 4
    assert [p.name for p in payloads] == ["D", "CP", "EAP", "CERT"]


# ---------------------------------------------------------------- malformed input


def test_payload_length_past_message_end() -> None:
    raw = bytearray(_sa_init())
    nonce_at = 28 + 48 + 72  # header + SA + KE
    raw[nonce_at + 2 : nonce_at + 4] = (4660).to_bytes(2, "big")
    msg = _dissect(bytes(raw))
    where = len(PAD) + nonce_at
    assert [e.message for e in msg.errors] == [
        f"payload length 4660 runs past the message end at offset {where}"
    ]
    assert msg.errors[0].offset == where
    nonce = msg.payloads[-1]
    assert nonce.type == 40 and nonce.error == msg.errors[0].message
    assert summarize_ike(msg).endswith("[SA KE No] [malformed]")


def test_truncated_and_bad_headers() -> None:
    raw = _sa_init()
    short = _dissect(raw[:20])
    assert short.payloads == []
    assert (
        short.errors[0].message == f"IKE header truncated: 20 bytes at offset {len(PAD)}, 28 needed"
    )
    cut = _dissect(raw[:100])
    assert f"IKE length field {len(raw)} runs past the 100 captured bytes" in cut.errors[0].message
    assert [p.type for p in cut.payloads][:2] == [33, 34]
    zero = bytearray(raw)
    zero[24:28] = b"\x00\x00\x00\x00"
    msg = _dissect(bytes(zero))
    assert "IKE length field 0 is shorter than the 28-byte header" in msg.errors[0].message
    assert len(msg.payloads) == 6  # still dissected from the datagram size


def test_every_truncation_and_byte_flip_is_contained() -> None:
    """No prefix and no single-byte corruption of a message makes the dissector raise."""
    raw = _sa_init() + bytes(
        s.IKEv2_TSi(number_of_TSs=1, traffic_selector=[s.IPv4TrafficSelector(IP_protocol_ID=0)])
    )
    raw = raw[:24] + len(raw).to_bytes(4, "big") + raw[28:]
    for n in range(len(raw)):
        msg = dissect_ike(raw[:n], 0, n, META)
        if n < len(raw):
            assert msg.errors, n
    for i in range(len(raw)):
        for value in (0x00, 0xFF, raw[i] ^ 0x5A):
            mutated = raw[:i] + bytes([value]) + raw[i + 1 :]
            msg = dissect_ike(mutated, 0, len(mutated), META)
            json.dumps(ike_to_json(msg))
            summarize_ike(msg)


def test_ike_to_json_has_every_payload_and_field() -> None:
    doc = ike_to_json(_dissect(_sa_init()))
    json.dumps(doc)
    assert doc["version"] == 2 and doc["exchange_name"] == "IKE_SA_INIT"
    assert doc["spi_i"] == SPI_I.hex()
    assert [p["name"] for p in doc["payloads"]][:3] == ["SA", "KE", "No"]
    sa = doc["payloads"][0]
    assert sa["body"]["proposals"][0]["transforms"][0]["name"] == "ENCR_AES_CBC"
    assert doc["payloads"][-1]["body"] == {"data": STRONGSWAN_VID.hex(), "name": "strongSwan"}
    assert doc["meta"]["transport"] == "ip" and doc["meta"]["sport"] == 500


def test_registry_names() -> None:
    assert registry.exchange_name(2, 43) == "IKE_INTERMEDIATE"
    assert registry.exchange_name(2, 44) == "IKE_FOLLOWUP_KE"
    assert registry.transform_type_short_name(6) == "ADDKE1"
    assert registry.transform_name(7, 36) == "ML-KEM-768"
    assert registry.transform_name(1, 28) == "ENCR_CHACHA20_POLY1305"
    assert registry.transform_name(1, 17) == "Unassigned (17)"
    assert registry.transform_name(1, 1030) == "Private Use (1030)"
    assert registry.notify_name(2, 16430) == "IKEV2_FRAGMENTATION_SUPPORTED"
    assert registry.notify_name(2, 16441) == "ADDITIONAL_KEY_EXCHANGE"
    assert registry.notify_name(2, 47) == "STATE_NOT_FOUND"
    assert registry.notify_name(2, 45000) == "Private Use - Status (45000)"
    assert registry.payload_short_name(2, 53) == "SKF"
    assert registry.auth_method_name(14) == "Digital Signature"
    assert registry.ts_type_name(8) == "TS_IPV6_ADDR_RANGE"
    assert registry.cp_attribute_name(2, 25) == "INTERNAL_DNS_DOMAIN"


def test_vendor_id_table_exact_prefix_and_versions() -> None:
    from ipsec_inspect.ipsec.vendor_ids import is_nat_t_draft, vendor_id_name

    ms = bytes.fromhex("1e2b516905991c7d7c96fcbfb587e461") + (9).to_bytes(4, "big")
    assert vendor_id_name(ms) == (
        "Microsoft Windows (MS NT5 ISAKMPOAKLEY) Windows 8.1 / Windows Server 2012 R2 / Windows 10"
    )
    assert vendor_id_name(bytes.fromhex("12f5f28c457168a9702d9fe274cc0100")) == "Cisco Unity 1.0"
    assert vendor_id_name(bytes.fromhex("90cb80913ebb696e086381b5ec427b1f")) == (
        "draft-ietf-ipsec-nat-t-ike-02\\n"
    )
    frag = bytes.fromhex("4048b7d56ebce88525e7de7f00d6c2d3c0000000")
    assert vendor_id_name(frag) == "IKE Fragmentation"
    assert vendor_id_name(b"FLEXVPN-SUPPORTED") == "Cisco FlexVPN Supported"
    assert vendor_id_name(b"OErlA\\nQukSR") == "Libreswan/Openswan"
    assert vendor_id_name(b"\x00" * 16) == ""
    assert is_nat_t_draft(bytes.fromhex("439b59f8ba676c4c7737ae22eab8f582"))
    assert not is_nat_t_draft(bytes.fromhex("4a131c81070358455c5728f20e95452f"))  # RFC 3947


def test_a_repeated_sa_payload_is_dissected_once_and_equal_everywhere() -> None:
    from ipsec_inspect.core.extensions import DissectorTables
    from ipsec_inspect.ipsec import ikev2

    raw = _sa_init()
    first, again = _dissect(raw), _dissect(raw)
    sa = first.payloads[0]
    assert again.payloads[0] is sa  # the SA payload, from the memo
    assert again.payloads[1] is not first.payloads[1]  # KE: dissected each time
    # one byte later in the buffer: the fields' offsets differ, so it is dissected anew
    shifted = dissect_ike(PAD + b"\x00" + raw, len(PAD) + 1, len(PAD) + 1 + len(raw), META)
    sa_shifted = shifted.payloads[0]
    assert sa_shifted is not sa and sa_shifted.offset == sa.offset + 1
    assert _find(sa_shifted.fields, "ikev2.sa.proposal").offset == (
        _find(sa.fields, "ikev2.sa.proposal").offset + 1
    )
    assert sa_shifted.body == sa.body
    # a truncated SA payload (its length runs past the message) is never remembered
    cut = raw[: 28 + 10]
    a, b = _dissect(cut), _dissect(cut)
    assert a.payloads[0].error and a.payloads[0] is not b.payloads[0]
    # other extension tables: not shared (and the entry is theirs from now on)
    data = PAD + raw
    other = dissect_ike(data, len(PAD), len(data), META, DissectorTables()).payloads[0]
    assert other is not sa and other.body == sa.body
    assert dissect_ike(data, len(PAD), len(data), META, DissectorTables()).payloads[0] is not other
    # bounded: as many distinct offers as the memo holds push the oldest out
    mine = _dissect(raw).payloads[0]
    assert _dissect(raw).payloads[0] is mine
    for i in range(1000, 1000 + ikev2.SA_MEMO_SIZE):  # the same offer at other offsets
        dissect_ike(bytes(i) + raw, i, i + len(raw), META)
    assert _dissect(raw).payloads[0] is not mine


def _payload_view(p: object) -> tuple[object, ...]:
    """Everything a dissected payload says, its fields built."""
    from ipsec_inspect.core.records import IkePayload

    assert isinstance(p, IkePayload)
    return (p.type, p.name, p.offset, p.length, p.body, p.error, p.critical, p.fields)


def _ke_nonce(ptype: int, body: bytes, flags: int = 0, length: int | None = None) -> bytes:
    n = 4 + len(body) if length is None else length
    return PAD + bytes([0, flags]) + n.to_bytes(2, "big") + body


@pytest.mark.parametrize(
    ("ptype", "data"),
    [
        (34, _ke_nonce(34, b"\x00\x13\x00\x00" + bytes(range(64)))),  # a whole KE
        (34, _ke_nonce(34, b"\x00\x13\x00\x00")),  # no key data at all
        (34, _ke_nonce(34, b"\x00\x13\x00")),  # short of its reserved bytes
        (34, _ke_nonce(34, b"\x00\x13")),  # the group only
        (34, _ke_nonce(34, b"\x00\x13\x00\x00" + bytes(8), flags=0x80)),  # critical
        (34, _ke_nonce(34, b"\x00\x13\x00\x00" + bytes(8), flags=0x01)),  # a reserved bit
        (34, _ke_nonce(34, b"\x00\x13\x00\x00" + bytes(8), length=40)),  # runs past the end
        (40, _ke_nonce(40, bytes(range(32)))),  # a whole nonce
        (40, _ke_nonce(40, bytes(16))),  # the shortest allowed
        (40, _ke_nonce(40, bytes(256))),  # the longest allowed
        (40, _ke_nonce(40, bytes(15))),  # too short: a problem
        (40, _ke_nonce(40, bytes(257))),  # too long: a problem
        (40, _ke_nonce(40, bytes(20), flags=0x40)),  # a reserved bit
        (40, _ke_nonce(40, bytes(20), length=30)),  # runs past the end
    ],
    ids=lambda v: str(v) if isinstance(v, int) else f"{len(v) - len(PAD)}B",
)
def test_a_ke_or_nonce_read_directly_is_the_general_paths(ptype: int, data: bytes) -> None:
    """``_plain_payload`` reads a plain KE or Nonce payload without the parser's machinery:
    what it reads must be what ``_dissect_payload`` reads, and anything it declines (a
    problem to report) goes the general way."""
    from ipsec_inspect.ipsec import ikev2
    from ipsec_inspect.ipsec.ike import NO_DISSECTORS

    pos = len(PAD)
    for end in (len(data), len(data) + 8):  # the payload's end, or the message's beyond it
        general = ikev2._dissect_payload(data, pos, end, ptype, NO_DISSECTORS)
        got = ikev2._parse_payload(data, pos, end, ptype, NO_DISSECTORS)
        assert _payload_view(got) == _payload_view(general)
    general = ikev2._dissect_payload(data, pos, len(data), ptype, NO_DISSECTORS)
    plain = ikev2._plain_payload(data, pos, len(data), ptype, NO_DISSECTORS)
    assert (plain is None) == (general.error is not None)
