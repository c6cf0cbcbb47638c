"""Hostile IKE messages (issue 16 item 4): 10,000 payloads, Delete payloads claiming more
SPIs than they hold, 255 proposals each claiming 255 transforms. Each is dissected,
tracked and exported in bounded time, the damage named on the record, and the frames
around it analysed as usual."""

from __future__ import annotations

import json
import struct
import time

import pytest

from ipsec_inspect.core.records import IkeMessage
from ipsec_inspect.export.timeline import build_timeline
from ipsec_inspect.pipeline.session import Analysis

LINKTYPE_RAW = 101
T0 = 1_700_000_000.0
SPI_I = bytes.fromhex("0102030405060708")
SPI_R = bytes.fromhex("1112131415161718")
BOUND = 20.0  # seconds for any one hostile message, on a loaded two-core machine


def _ip_udp(payload: bytes, sport: int = 500, dport: int = 500) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    total = 20 + len(udp)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, total & 0xFFFF, 1, 0, 64, 17, 0,
        bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]),
    )  # fmt: skip
    return ip + udp


def _ikev2(first: int, exchange: int, body: bytes, msg_id: int = 0, flags: int = 0x08) -> bytes:
    header = (
        SPI_I + SPI_R + struct.pack("!BBBBII", first, 0x20, exchange, flags, msg_id, 28 + len(body))
    )
    return header + body


def _payload(next_payload: int, body: bytes) -> bytes:
    return struct.pack("!BBH", next_payload, 0, 4 + len(body)) + body


def _run(messages: list[bytes]) -> tuple[Analysis, dict[str, object], float]:
    start = time.monotonic()
    analysis = Analysis(None)
    for i, m in enumerate(messages, 1):
        analysis.feed_frame(i, T0 + i, LINKTYPE_RAW, _ip_udp(m))
    analysis.finish()
    doc = build_timeline(analysis.result(), {"path": "hostile", "frames": len(messages)})
    json.dumps(doc)
    return analysis, doc, time.monotonic() - start


def _records(messages: list[bytes]) -> list[IkeMessage]:
    from ipsec_inspect.ipsec.dissectors import ipsec_decoder

    dec = ipsec_decoder()
    out = []
    for i, m in enumerate(messages, 1):
        out += [
            r for r in dec.decode(i, T0 + i, LINKTYPE_RAW, _ip_udp(m)) if isinstance(r, IkeMessage)
        ]
    return out


def test_ten_thousand_payloads() -> None:
    # 10,000 empty Vendor ID payloads (43) in one INFORMATIONAL request: 40 kB
    body = b"".join(_payload(43 if i < 9_999 else 0, b"") for i in range(10_000))
    msg = _ikev2(43, 37, body, msg_id=1)
    (rec,) = _records([msg])
    assert len(rec.payloads) == 10_000
    analysis, _doc, elapsed = _run([msg])
    assert elapsed < BOUND
    assert analysis.records == 1


def test_delete_claiming_more_spis_than_it_holds() -> None:
    # protocol ESP, SPI size 4, 65,535 SPIs claimed, 3 present
    claimed = _payload(0, struct.pack("!BBH", 3, 4, 0xFFFF) + b"\x00\x00\x00\x01" * 3)
    # SPI size 255 x 65,535 SPIs: 16.7 MB claimed in a 12-byte payload
    huge = _payload(0, struct.pack("!BBH", 3, 255, 0xFFFF) + bytes(8))
    msgs = [_ikev2(42, 37, claimed, msg_id=1), _ikev2(42, 37, huge, msg_id=2)]
    recs = _records(msgs)
    for r in recs:
        assert r.errors or any(p.error for p in r.payloads), r
    analysis, _doc, elapsed = _run(msgs)
    assert elapsed < BOUND
    assert analysis.records == 2


def test_delete_with_sixteen_thousand_spis() -> None:
    """As many SPIs as one message holds (16,360 x 4 bytes): all read, and tracking them
    costs time linear in their number."""
    n = 16_360
    spis = b"".join(struct.pack("!I", 0x1000 + i) for i in range(n))
    msg = _ikev2(42, 37, _payload(0, struct.pack("!BBH", 3, 4, n) + spis), msg_id=1)
    (rec,) = _records([msg])
    assert not rec.errors
    _analysis, _doc, elapsed = _run([msg])
    assert elapsed < BOUND


def _transform(last: bool, ttype: int, tid: int) -> bytes:
    return struct.pack("!BBHBBH", 0 if last else 3, 0, 8, ttype, 0, tid)


@pytest.mark.parametrize("claimed", [255, 30])
def test_255_proposals_claiming_255_transforms(claimed: int) -> None:
    """Each proposal holds 30 transforms (all that fit in 64 kB) and claims 255 — or,
    honestly, 30: then all 7,650 transforms are read and offered in the export."""
    props = []
    for p in range(1, 256):
        transforms = b"".join(
            _transform(t == 29, 1 + t % 4, 12 if t % 4 == 0 else 2) for t in range(30)
        )
        body = struct.pack("!BBBB", p, 1, 0, claimed) + transforms
        props.append(struct.pack("!BBH", 0 if p == 255 else 2, 0, 4 + len(body)) + body)
    sa = _payload(0, b"".join(props))
    msg = _ikev2(33, 34, sa, msg_id=0)
    assert len(msg) < 65_000
    (rec,) = _records([msg])
    if claimed == 255:
        assert [e.message for e in rec.errors] == [
            "SA payload at offset 56: proposal 1 at offset 60 announces 255 transforms but holds 30"
        ]
    else:
        assert not rec.errors
        body = rec.payloads[0].body
        assert body is not None
        assert [len(p.transforms) for p in body.proposals] == [30] * 255
    analysis, doc, elapsed = _run([msg])
    assert elapsed < BOUND
    assert analysis.records == 1
    assert len(doc["ike_sas"]) == 1  # type: ignore[arg-type]
