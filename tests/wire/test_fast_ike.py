"""The IKE_SA_INIT locator agrees with the full decoder on every frame it claims.

``wire.fast_ike`` decides which frames the pipeline may hand the tracker undissected as
the first message of an IKE SA (``Tracker.defer_first``). A frame it claims must be
exactly what the decoder makes of it: one IKEv2 IKE_SA_INIT request with message ID 0 and
no responder SPI, from that offset to that end, with the same ``PacketMeta``. Checked on
hand-made frames of every link layer and on every frame of the samples and of
``../shared/captures`` (where present).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ipsec_inspect.core.records import IkeMessage
from ipsec_inspect.ipsec.dissectors import ipsec_decoder
from ipsec_inspect.sources.capture_file import CaptureReader
from ipsec_inspect.wire.decoder import DecodeOptions
from ipsec_inspect.wire.fast_ike import eth_ipv4_taker, init_locator, init_meta
from ipsec_inspect.wire.link import link_ip_offset
from tests.sample_corpus import label, sample_captures, shared_captures

from .test_fast_esp import ETH, _ipv4, _ipv6, _udp


def _ike(
    exchange: int = 34, flags: int = 0x08, mid: int = 0, spi_r: bytes = bytes(8), version=0x20
) -> bytes:
    nonce = struct.pack("!BBH", 0, 0, 36) + bytes(range(32))
    head = (
        bytes(range(1, 9)) + spi_r + struct.pack("!BBBBII", 40, version, exchange, flags, mid, 64)
    )
    return head + nonce


INIT = _ike()
CASES = {
    "ethernet": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, INIT))),
    "ethernet-padded": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, INIT)) + bytes(6)),
    "other-source-port": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(31337, 500, INIT))),
    "vlan": (1, ETH + b"\x81\x00\x00\x0a\x08\x00" + _ipv4(17, _udp(500, 500, INIT))),
    "sll": (113, bytes(14) + b"\x08\x00" + _ipv4(17, _udp(500, 500, INIT))),
    "raw": (101, _ipv4(17, _udp(500, 500, INIT))),
    "ipv6": (1, ETH + b"\x86\xdd" + _ipv6(17, _udp(500, 500, INIT))),
    "udp-length-too-long": (
        1,
        ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, INIT)[:4] + b"\x01\x00" + bytes(2) + INIT),
    ),
    "ike-length-wrong": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, INIT[:24] + b"\x00\x00\x01\x00" + INIT[28:]))),
    "minor-version": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, _ike(version=0x21)))),
}  # fmt: skip
NOT_FIRST = {
    "response": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, _ike(flags=0x20)))),
    "from-responder": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, _ike(flags=0x00)))),
    "message-1": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, _ike(mid=1)))),
    "responder-spi": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, _ike(spi_r=b"\x01" * 8)))),
    "ike-auth": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, _ike(exchange=35)))),
    "ikev1": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, _ike(exchange=2, version=0x10)))),
    "fragment": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, INIT), frag=0x2000)),
    "truncated-header": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, INIT[:27]))),
    "keepalive": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, b"\xff"))),
    "esp": (1, ETH + b"\x08\x00" + _ipv4(50, INIT)),
}  # fmt: skip
#: first messages in less common framing: the locator leaves them to the full decoder
FULL_PATH = {
    "other-port": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(53, 53, INIT))),  # heuristic
    "nat-t-4500": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(4500, 4500, bytes(4) + INIT))),
    "500-to-4500": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 4500, bytes(4) + INIT))),
    "ip-options": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, INIT), options=b"\x01" * 4)),
    "ipv6-extension-header": (
        1,
        ETH + b"\x86\xdd" + _ipv6(60, b"\x11\x00" + bytes(6) + _udp(500, 500, INIT)),
    ),
}  # fmt: skip


def _first_message(record: object) -> bool:
    """What the tracker takes for the first message of an IKEv2 SA (``Tracker._ike_for``)."""
    if not isinstance(record, IkeMessage) or record.version != 2:
        return False
    h = record.header
    return (
        h.exchange == 34 and h.is_initiator and not h.is_response
        and h.message_id == 0 and not any(h.spi_r)
    )  # fmt: skip


def _taker_agrees(decoder, number, time, link_type, data, iface=0) -> bool:  # type: ignore[no-untyped-def]
    """The one-call taker (``eth_ipv4_taker``) takes exactly the frames of IPv4 directly
    on Ethernet that the locator finds, handing on what ``init_meta`` and the locator say:
    the SPI, the names, the frame, and a request that reads back the message and its
    ``PacketMeta``. Returns whether it took the frame."""
    taken: list[tuple] = []  # type: ignore[type-arg]

    def take(spi_i, pair, frame, t, req) -> bool:  # type: ignore[no-untyped-def]
        taken.append((spi_i, pair, frame, t, req))
        return True

    taker = eth_ipv4_taker(decoder.udp_special, decoder.ipv4_name, take)
    took = link_type == 1 and taker(number, time, iface, data)
    found = init_locator(decoder.udp_special)(link_type, data)
    plain = link_type == 1 and link_ip_offset(link_type, data) == (14, 4)
    assert took == (found is not None and plain), f"frame {number}"
    if not took:
        return False
    assert found is not None
    (spi_i, pair, frame, t, req), _v, _a, _sp, _dp, ike_at, ike_end, _w = taken[0], *found
    meta = init_meta(found, data, number, time, iface, decoder.ipv4_name, decoder.ipv6_name)
    assert (spi_i, pair, frame, t) == (
        data[ike_at : ike_at + 8],
        (meta.src, meta.dst),
        number,
        time,
    )
    assert req[0](req) == (bytes(data[ike_at:]), ike_at, ike_end - ike_at, meta)
    return True


def _check(decoder, locate, number, time, link_type, data, iface=0) -> bool:  # type: ignore[no-untyped-def]
    """Whether the locator claims the frame; when it does, that it is what the decoder makes."""
    _taker_agrees(decoder, number, time, link_type, data, iface)
    found = locate(link_type, data)
    records = decoder.decode(number, time, link_type, data, len(data), iface)
    if found is None:
        return False
    assert len(records) == 1, f"frame {number}"
    (r,) = records
    assert _first_message(r), f"frame {number}: {r!r}"
    _v, _a, _sp, _dp, ike_at, ike_end, _w = found
    assert r.offset == ike_at and r.data is data, f"frame {number}"
    again = decoder.dissectors.ike(data, ike_at, ike_end, r.meta, decoder._ike_tables)
    assert (again.length, again.header, again.errors) == (r.length, r.header, r.errors)
    meta = init_meta(found, data, number, time, iface, decoder.ipv4_name, decoder.ipv6_name)
    assert meta == r.meta, f"frame {number}"
    return True


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_first_request_is_found_as_the_decoder_reads_it(name: str) -> None:
    link_type, data = CASES[name]
    decoder = ipsec_decoder()
    assert _check(decoder, init_locator(decoder.udp_special), 7, 1.5, link_type, data, 2)


@pytest.mark.parametrize("name", sorted(NOT_FIRST))
def test_everything_else_is_left_to_the_decoder(name: str) -> None:
    link_type, data = NOT_FIRST[name]
    decoder = ipsec_decoder()
    assert init_locator(decoder.udp_special)(link_type, data) is None
    assert not _taker_agrees(decoder, 1, 0.0, link_type, data)
    assert not any(_first_message(r) for r in decoder.decode(1, 0.0, link_type, data))


@pytest.mark.parametrize("name", sorted(FULL_PATH))
def test_less_common_framing_is_left_to_the_decoder(name: str) -> None:
    link_type, data = FULL_PATH[name]
    decoder = ipsec_decoder()
    assert init_locator(decoder.udp_special)(link_type, data) is None
    assert not _taker_agrees(decoder, 1, 0.0, link_type, data)
    assert [_first_message(r) for r in decoder.decode(1, 0.0, link_type, data)] == [True]


def test_decode_as_ports_are_respected() -> None:
    data = ETH + b"\x08\x00" + _ipv4(17, _udp(5000, 5000, INIT))
    assert init_locator(ipsec_decoder().udp_special)(1, data) is None
    claimed = ipsec_decoder(DecodeOptions(decode_as_udp={5000: "ike"}))
    assert _check(claimed, init_locator(claimed.udp_special), 1, 0.0, 1, data)


@pytest.mark.parametrize("path", sample_captures() + shared_captures(), ids=label)
def test_every_claimed_frame_of_the_corpus_is_that_first_request(path: Path) -> None:
    decoder = ipsec_decoder()
    locate = init_locator(decoder.udp_special)
    for number, time, link_type, data, _orig_len, iface in CaptureReader(str(path)):
        before = decoder.stats.ipsec_frames
        if _check(decoder, locate, number, time, link_type, data, iface):
            assert decoder.stats.ipsec_frames == before + 1  # what the fast path counts


def test_the_samples_hold_first_requests_the_locator_claims() -> None:
    decoder = ipsec_decoder()
    locate = init_locator(decoder.udp_special)
    claimed = [
        (path.name, number)
        for path in sample_captures()
        for number, _t, link_type, data, _o, _i in CaptureReader(str(path))
        if locate(link_type, data) is not None
    ]
    names = {name for name, _n in claimed}
    assert "ikev2-tunnel.pcapng" in names and len(claimed) >= 10, claimed


def test_the_taker_takes_what_the_locator_finds_whatever_a_header_byte_holds() -> None:
    """Every byte of the headers the taker reads in one call (Ethernet, IPv4, UDP, IKE),
    set to values that matter to one check or another: taker and locator still agree."""
    base = ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, INIT))
    decoder = ipsec_decoder()
    took = 0
    for at in range(70):
        for value in (0x00, 0x01, 0x08, 0x11, 0x14, 0x20, 0x22, 0x28, 0x45, 0x86, 0xF4, 0xFF):
            data = base[:at] + bytes([value]) + base[at + 1 :]
            took += _taker_agrees(decoder, at, 0.5, 1, data)
    for cut in range(60, len(base) + 1):  # snapped frames
        took += _taker_agrees(decoder, cut, 0.5, 1, base[:cut])
    assert 400 < took < 70 * 12  # most bytes take some values and not others


def test_the_taker_respects_decode_as_and_nat_t_ports() -> None:
    init_5000 = ETH + b"\x08\x00" + _ipv4(17, _udp(5000, 5000, INIT))
    assert not _taker_agrees(ipsec_decoder(), 1, 0.0, 1, init_5000)
    assert _taker_agrees(
        ipsec_decoder(DecodeOptions(decode_as_udp={5000: "ike"})), 1, 0.0, 1, init_5000
    )
    from_4500 = ETH + b"\x08\x00" + _ipv4(17, _udp(4500, 500, INIT))
    assert not _taker_agrees(ipsec_decoder(), 1, 0.0, 1, from_4500)
    as_ike = ipsec_decoder(DecodeOptions(decode_as_udp={4500: "ike"}))
    assert _taker_agrees(as_ike, 1, 0.0, 1, from_4500)
