"""IKE decryption: Wireshark's own IKE test captures, the wiki and tcpdump captures, and
round trips for every IKEv2 cipher built independently of the decryptor."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipsec_inspect.core.records import (
    AuthBody,
    CertBody,
    EspPacket,
    HashBody,
    IdBody,
    IkeMessage,
    Record,
)
from ipsec_inspect.crypto import algorithms
from ipsec_inspect.crypto.decryptor import Decryptor
from ipsec_inspect.crypto.ike_decrypt import (
    FragmentAssembler,
    Ikev1Cipher,
    Ikev1IvChain,
    Reassembled,
    decrypt_sk,
    ikev1_chain_end,
)
from ipsec_inspect.crypto.keyfiles.detect import load_key_path
from ipsec_inspect.crypto.keys import IkeKey, KeyStore
from ipsec_inspect.pipeline.records import read_records

CAPTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "captures"
WIRESHARK = CAPTURES / "wireshark"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not available (../shared/captures is absent)")
    return path


def _run(
    capture: Path, *keys: Path, store: KeyStore | None = None
) -> tuple[list[Record], Decryptor]:
    if store is None:
        store = KeyStore()
        for k in keys:
            store.merge(load_key_path(_need(k)))
    dec = Decryptor(store)
    records = [dec.process(r) for r in read_records(_need(capture))]
    return records, dec


def _ike(records: list[Record]) -> Iterator[IkeMessage]:
    return (r for r in records if isinstance(r, IkeMessage))


def _frame(records: list[Record], frame: int) -> IkeMessage:
    return next(m for m in _ike(records) if m.meta.frame == frame)


# ------------------------------------------------------------------ Wireshark IKEv2 suite

# (capture, frame, isakmp.auth.data) from test/suite_decryption.py (PROVENANCE.md).
IKEV2_SUITE = [
    ("ikev2-decrypt-3des-sha1_160.pcap", 3, "02f7a0d5f1fdc8ea81039818c65bb9bd09af9b8917319b887ff9ba3046c344c7"),
    ("ikev2-decrypt-aes128ccm12.pcap", 4, "c2104394299e1ffe7908ea720ad5d13717a0d454e4fa0a2128ea689411f479c4"),
    ("ikev2-decrypt-aes128ccm12-2.pcap", 3, "aaa281c87b4a19046c57271d557488ca413b57228cb951f5fa9640992a0285b9"),
    ("ikev2-decrypt-aes192ctr.pcap", 3, "3ec23dcf9348485638407c754547aeb3085290082c49f583fdbae59263a20b4a"),
    ("ikev2-decrypt-aes256cbc.pcapng", 3, "e1a8d550064201a7ec024a85758d0673c61c5c510ac13bcd225d6327f50da3d3"),
    ("ikev2-decrypt-aes256ccm16.pcapng", 3, "fa2e74bdc01e30fb0b3ddc9723c9449095969da51f69e560209d2c2b7940210a"),
    ("ikev2-decrypt-aes256gcm16.pcap", 4, "9ab71f14ab553cad873a1aa70b99df155dee77cdcf3694b3b7527acbb9712ded"),
    ("ikev2-decrypt-aes256gcm8.pcap", 3, "4a66d822d0afbc22ad9a92a2cf4287c920ad8ac3b069a4a7e75fe0a5d499f914"),
]  # fmt: skip


@pytest.mark.parametrize(("capture", "frame", "auth"), IKEV2_SUITE)
def test_wireshark_ikev2_captures_decrypt_to_the_suite_auth_data(
    capture: str, frame: int, auth: str
) -> None:
    records, dec = _run(WIRESHARK / capture, WIRESHARK / "profile")
    encrypted = [m for m in _ike(records) if m.header.exchange != 34]
    assert len(encrypted) in (2, 4)
    assert all(m.decryption_status == "ok" for m in encrypted)
    auth_bodies = [
        p.body for p in _frame(records, frame).decrypted or [] if isinstance(p.body, AuthBody)
    ]
    assert [a.data.hex() for a in auth_bodies] == [auth]
    (counters,) = dec.counters()
    # Wireshark's own work-around for the second CCM capture is AES-CTR with "ANY 96-bits
    # of Authentication [No Checking]": it decrypts, but no ICV is checked.
    unverified = len(encrypted) if capture == "ikev2-decrypt-aes128ccm12-2.pcap" else 0
    assert (
        counters.decrypted,
        counters.decrypted_unverified,
        counters.icv_failed,
        counters.no_key,
    ) == (len(encrypted) - unverified, unverified, 0, 0)
    assert dec.problems() == [] or all("no SK_d" in p for p in dec.problems())


def test_wireshark_ikev2_ike_auth_payload_order() -> None:
    records, _ = _run(WIRESHARK / "ikev2-decrypt-3des-sha1_160.pcap", WIRESHARK / "profile")
    names = [[p.name for p in m.decrypted or []] for m in _ike(records) if m.meta.frame >= 3]
    assert names == [
        ["IDi", "N(INITIAL_CONTACT)", "IDr", "AUTH", "SA", "TSi", "TSr",
         "N(MULTIPLE_AUTH_SUPPORTED)", "N(EAP_ONLY_AUTHENTICATION)"],
        ["IDr", "AUTH", "SA", "TSi", "TSr", "N(AUTH_LIFETIME)"],
        ["D"],
        [],
    ]  # fmt: skip


def test_wrong_aead_key_is_an_icv_failure_naming_sa_and_frame() -> None:
    good = load_key_path(_need(WIRESHARK / "profile"))
    store = KeyStore()
    for k in good.ike_keys():
        secrets = dict(k.secrets)
        if "sk_ei" in secrets:
            secrets["sk_ei"] = bytes([secrets["sk_ei"][0] ^ 1]) + secrets["sk_ei"][1:]
        store.add_ike(IkeKey(k.version, k.spi_i, k.spi_r, k.encryption, k.encryption_key_bits,
                             k.integrity, k.prf, secrets))  # fmt: skip
    records, dec = _run(WIRESHARK / "ikev2-decrypt-aes256gcm16.pcap", store=store)
    statuses = {m.meta.frame: m.decryption_status for m in _ike(records)}
    # Frames 3 and 6 come from the initiator (SK_ei, now wrong); 4 and 5 from the responder.
    assert statuses == {1: None, 2: None, 3: "icv-failed", 4: "ok", 5: "ok", 6: "icv-failed"}
    assert _frame(records, 3).decrypted is None  # an AEAD failure shows nothing
    assert (
        "frame 3: IKEv2 SA 0158b8fb90b7623d/13514610cea16160: ICV check failed" in dec.problems()[0]
    )
    assert dec.counters()[0].icv_failed == 2


def test_unavailable_algorithm_is_a_clear_error_not_an_exception() -> None:
    camellia_ccm = algorithms.encryption_by_name("ENCR_CAMELLIA_CCM_16")[0]
    store = KeyStore()
    store.add_ike(IkeKey(2, bytes.fromhex("0158b8fb90b7623d"), bytes.fromhex("13514610cea16160"),
                         camellia_ccm, 256, None, None, {"sk_ei": b"k" * 35, "sk_er": b"k" * 35}))  # fmt: skip
    records, dec = _run(WIRESHARK / "ikev2-decrypt-aes256gcm16.pcap", store=store)
    status = _frame(records, 3).decryption_status
    assert status is not None and status.startswith("error: ENCR_CAMELLIA_CCM_16")
    assert "not offered by the cryptography library" in status
    assert dec.counters()[0].errors == 4


def test_no_key_is_counted_per_sa() -> None:
    records, dec = _run(WIRESHARK / "ikev2-decrypt-aes256gcm8.pcap", store=KeyStore())
    assert [m.decryption_status for m in _ike(records)] == [
        None,
        None,
        "no-key",
        "no-key",
        "no-key",
        "no-key",
    ]
    assert dec.counters()[0].no_key == 4


# ------------------------------------------------------------------ Wireshark IKEv1 suite


def test_ikev1_certs_main_mode_and_retransmitted_quick_mode() -> None:
    records, dec = _run(WIRESHARK / "ikev1-certs.pcap", WIRESHARK / "profile")
    statuses = {m.meta.frame: m.decryption_status for m in _ike(records)}
    assert statuses == {
        1: None,
        2: None,
        3: None,
        4: None,
        5: "ok",
        6: "ok",
        7: "ok",
        8: "ok",
        9: "ok",
        10: "ok",
    }
    certs = [p.body for p in _frame(records, 5).decrypted or [] if isinstance(p.body, CertBody)]
    assert len(certs) == 2 and any(b"OpenSwan" in c.data for c in certs)
    # Frame 8 is a byte-identical retransmission of frame 7 (tshark shows it malformed).
    f7, f8 = _frame(records, 7), _frame(records, 8)
    assert f7.data[f7.offset : f7.offset + f7.length] == f8.data[f8.offset : f8.offset + f8.length]
    assert f8.decrypted_data == f7.decrypted_data
    assert [p.name for p in f8.decrypted or []] == ["HASH", "SA", "No", "KE", "ID", "ID"]
    # ... and it did not advance the chain: frames 9 and 10 still decrypt.
    assert [p.name for p in _frame(records, 10).decrypted or []] == ["HASH"]
    assert dec.counters()[0].decrypted == 6


@pytest.mark.parametrize(
    ("capture", "frame", "hash_prefix", "decrypted"),
    [
        ("ikev1-bug-12610.pcapng.gz", 9, "b52521f774967402c9f6cee95fd17e5b", 12),
        ("ikev1-bug-12620.pcapng.gz", 4, "40043b640f4373250d5ac3a1fb63153c", 7),
    ],
)
def test_ikev1_suite_hashes(capture: str, frame: int, hash_prefix: str, decrypted: int) -> None:
    records, dec = _run(WIRESHARK / capture, WIRESHARK / "profile")
    hashes = [
        p.body for p in _frame(records, frame).decrypted or [] if isinstance(p.body, HashBody)
    ]
    assert hashes and hashes[0].data.hex().startswith(hash_prefix)
    assert dec.counters()[0].decrypted == decrypted
    assert all(m.decryption_status == "ok" for m in _ike(records) if m.header.v1_encrypted)


# ------------------------------------------------------------------ wiki, tcpdump


def test_wiki_ikev2_nat_t_ike_and_esp_all_decrypt() -> None:
    folder = CAPTURES / "wireshark-wiki" / "ikev2_esp_aes-gcm_aes-ctr_aes-cbc"
    records, dec = _run(folder / "capture.pcapng", folder)
    sk = [m for m in _ike(records) if m.header.exchange != 34]
    esp = [r for r in records if isinstance(r, EspPacket)]
    assert len(sk) == 24 and all(m.decryption_status == "ok" for m in sk)
    assert len(esp) == 24
    assert all(p.decryption is not None and p.decryption.status == "ok" for p in esp)
    assert {p.decryption.next_header for p in esp if p.decryption} == {4}
    ids = [p.body.text for p in _frame(records, 3).decrypted or [] if isinstance(p.body, IdBody)]
    assert ids == ["ikev2-cert"]  # tshark 4.0 shows the same identity for frame 3
    assert sum(c.icv_failed + c.no_key + c.errors for c in dec.counters()) == 0


def test_tcpdump_ikev2pi2_decrypts_but_its_icv_is_bad() -> None:
    folder = CAPTURES / "tcpdump"
    records, dec = _run(folder / "ikev2pI2.pcap", folder / "ikev2pI2-secrets.txt")
    msg = _frame(records, 2)
    # As tshark reports too: the ICV does not verify, yet SK_e decrypts a clean payload
    # chain, so the payloads are shown — with the status saying they are unverified.
    assert msg.decryption_status == "icv-failed"
    ids = [p.body for p in msg.decrypted or [] if isinstance(p.body, IdBody)]
    assert [i.text for i in ids] == ["west"]
    assert [p.name for p in msg.decrypted or []] == ["IDi", "AUTH"]
    assert dec.counters()[0].icv_failed == 1
    assert dec.problems() == [
        "frame 2: IKEv2 SA 0001020304050607/c02e7a3031a03188: ICV check failed (wrong key?)"
    ]


# ------------------------------------------------------------------ independent round trips


def _sk_message(
    encr_name: str, integ_name: str | None, plain: bytes, first: int = 41
) -> tuple[bytes, bytes, bytes]:
    """An IKEv2 message with one SK payload built with the table's encrypt functions."""
    encr, bits = algorithms.encryption_by_name(encr_name)
    ek = bytes(range(encr.key_len(bits or 128)))
    integ = algorithms.integrity_by_name(integ_name) if integ_name else None
    ak = bytes(range(100, 100 + integ.key_len)) if integ else b""
    block = max(encr.block_len, 4)
    pad = (-(len(plain) + 1)) % block
    padded = plain + bytes(pad) + bytes([pad])
    iv = bytes(range(200, 200 + encr.iv_len))
    icv_len = encr.icv_len if encr.aead else (integ.icv_len if integ else 0)
    sk_len = 4 + len(iv) + len(padded) + icv_len
    header = bytes(8) + b"\x11" * 8 + bytes([46, 0x20, 37, 0x08]) + b"\x00\x00\x00\x05"
    header += struct.pack("!I", 28 + sk_len)
    sk_head = bytes([first, 0]) + struct.pack("!H", sk_len)
    if encr.aead:
        ct, tag = algorithms.aead_encrypt(encr, ek, iv, padded, header + sk_head)
        return header + sk_head + iv + ct + tag, ek, ak
    ct = algorithms.cipher_encrypt(encr, ek, iv, padded)
    body = header + sk_head + iv + ct
    assert integ is not None
    return body + algorithms.compute_icv(integ, ak, body), ek, ak


@pytest.mark.parametrize(
    ("encr", "integ"),
    [
        ("ENCR_AES_CBC_128", "AUTH_HMAC_SHA2_256_128"),
        ("ENCR_AES_CBC_256", "AUTH_HMAC_SHA2_512_256"),
        ("ENCR_3DES", "AUTH_HMAC_SHA1_96"),
        ("ENCR_AES_CTR_192", "AUTH_AES_XCBC_96"),
        ("ENCR_AES_CTR_128", "AUTH_AES_CMAC_96"),
        ("ENCR_AES_CBC_192", "AUTH_HMAC_SHA2_384_192"),
        ("ENCR_AES_GCM_8_128", None),
        ("ENCR_AES_GCM_12_256", None),
        ("ENCR_AES_GCM_16_192", None),
        ("ENCR_AES_CCM_8_128", None),
        ("ENCR_AES_CCM_12_192", None),
        ("ENCR_AES_CCM_16_256", None),
        ("ENCR_CHACHA20_POLY1305", None),
    ],
)
def test_sk_round_trip_for_every_ikev2_cipher(encr: str, integ: str | None) -> None:
    inner = bytes.fromhex("0000000c0100400400000000") * 3  # N payloads, unmistakable bytes
    message, ek, ak = _sk_message(encr, integ, inner)
    alg = algorithms.encryption_by_name(encr)[0]
    integ_alg = algorithms.integrity_by_name(integ) if integ else None
    res = decrypt_sk(message, 28, 4, len(message), alg, ek, integ_alg, ak)
    assert res.status == "ok" and res.icv_checked
    assert res.plaintext == inner
    # One flipped ciphertext bit must be caught by the ICV / tag.
    bad = bytearray(message)
    bad[-(alg.icv_len if alg.aead else integ_alg.icv_len if integ_alg else 0) - 1] ^= 0x01
    assert decrypt_sk(bytes(bad), 28, 4, len(bad), alg, ek, integ_alg, ak).status == "icv-failed"


def test_sk_errors_are_statuses() -> None:
    message, ek, ak = _sk_message("ENCR_AES_GCM_16_128", None, b"x" * 8)
    alg = algorithms.encryption_by_name("ENCR_AES_GCM_16_128")[0]
    short = decrypt_sk(message[:40], 28, 4, 40, alg, ek, None, ak)
    assert short.status.startswith(
        "error: encrypted payload of 8 bytes is shorter than IV (8) + ICV (16)"
    )
    past = decrypt_sk(message, 28, 4, len(message) + 10, alg, ek, None, ak)
    assert past.status == "error: encrypted payload extends past the message"
    gmac = algorithms.encryption_by_name("ENCR_NULL_AUTH_AES_GMAC_128")[0]
    assert decrypt_sk(message, 28, 4, len(message), gmac, ek, None, b"").status == (
        "error: ENCR_NULL_AUTH_AES_GMAC is not an IKEv2 encryption algorithm"
    )


def test_fragment_assembler_orders_ignores_duplicates_and_is_bounded() -> None:
    fa = FragmentAssembler(max_pending=2)
    key = (b"i" * 8, b"r" * 8, 1, False)
    assert fa.add(key, 2, 3, 0, b"BB", 11) is None
    assert fa.add(key, 2, 3, 0, b"XX", 12) is None  # retransmitted fragment: first copy kept
    assert fa.add(key, 1, 3, 35, b"AA", 10) is None
    done = fa.add(key, 3, 3, 0, b"CC", 13)
    assert isinstance(done, Reassembled)
    assert (done.first_payload, done.plaintext, done.frames) == (35, b"AABBCC", (11, 12, 10, 13))
    assert (
        fa.add(key, 1, 3, 35, b"AA", 14)
        == "fragment of a message already reassembled (retransmission)"
    )
    assert fa.add(key, 4, 3, 0, b"", 15) == "invalid fragment number 4 of 3"
    for mid in range(5):  # only two incomplete messages are kept
        fa.add((b"i" * 8, b"r" * 8, 100 + mid, False), 1, 2, 35, b"A", 20 + mid)
    assert fa.add((b"i" * 8, b"r" * 8, 100, False), 2, 2, 0, b"B", 30) is None


def test_ikev1_iv_chain_and_retransmission() -> None:
    aes = algorithms.encryption_by_name("ENCR_AES_CBC_128")[0]
    key, ke_i, ke_r = b"K" * 16, b"\x01" * 128, b"\x02" * 128
    iv1 = hashlib.sha1(ke_i + ke_r).digest()[:16]
    plain5 = bytes([0, 0, 0, 12]) + b"\x01" * 8 + bytes(4)  # one ID payload + padding
    m5 = algorithms.cipher_encrypt(aes, key, iv1, plain5)
    plain6 = bytes([0, 0, 0, 16]) + b"\x02" * 12
    m6 = algorithms.cipher_encrypt(aes, key, m5[-16:], plain6)
    mid = 0x1234
    iv_qm = hashlib.sha1(m6[-16:] + mid.to_bytes(4, "big")).digest()[:16]
    qm1 = algorithms.cipher_encrypt(aes, key, iv_qm, bytes([0, 0, 0, 32]) + b"\x03" * 28)
    qm2 = algorithms.cipher_encrypt(aes, key, qm1[-16:], bytes([0, 0, 0, 16]) + b"\x04" * 12)

    chain = Ikev1IvChain()
    cipher = Ikev1Cipher(aes, key, 2)
    assert chain.decrypt(cipher, 0, m5).status.startswith("error: the phase-1 KE payloads")
    chain = Ikev1IvChain()
    chain.ke_i, chain.ke_r = ke_i, ke_r
    assert chain.decrypt(cipher, 0, m5).plaintext == plain5
    assert chain.decrypt(cipher, 0, m6).plaintext == plain6
    first = chain.decrypt(cipher, mid, qm1)
    again = chain.decrypt(cipher, mid, qm1)  # byte-identical retransmission
    assert (first.retransmission, again.retransmission) == (False, True)
    assert again.plaintext == first.plaintext
    assert chain.decrypt(cipher, mid, qm2).plaintext[4:] == b"\x04" * 12
    assert ikev1_chain_end(plain5, 5) == 12
    assert ikev1_chain_end(b"\x00\x00\x00\x40" + bytes(12), 8) is None
    assert chain.decrypt(cipher, mid, qm2[:-3]).status.startswith(
        "error: encrypted body of 13 bytes"
    )
