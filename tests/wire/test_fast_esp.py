"""The fast ESP locator agrees with the full decoder on every frame it claims.

``wire.fast_esp`` decides, for the fast lane and the decryption workers, which frames are
ESP and where the packet is, without decoding. A frame it claims must be exactly what the
decoder makes of it: one ESP record, at that offset, of that length, between the same
addresses. Checked on hand-made frames of every link layer it takes, and on every frame
of the samples and of ``../shared/captures`` (where present).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ipsec_inspect.core.records import EspPacket
from ipsec_inspect.ipsec.dissectors import ipsec_decoder
from ipsec_inspect.sources.capture_file import CaptureReader
from ipsec_inspect.wire.decoder import DecodeOptions
from ipsec_inspect.wire.fast_esp import esp_locator
from tests.sample_corpus import label, sample_captures, shared_captures

SRC, DST = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 2])
ESP = struct.pack("!II", 0xC0FFEE01, 7) + bytes(range(40))


def _ipv4(proto: int, payload: bytes, *, frag: int = 0, options: bytes = b"") -> bytes:
    ihl = 5 + len(options) // 4
    total = 4 * ihl + len(payload)
    head = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, frag, 64, proto, 0, SRC, DST)
    return head + options + payload


SRC6 = bytes.fromhex("20010db8000000000000000000000001")
DST6 = bytes.fromhex("20010db8000000000000000000000002")


def _ipv6(nh: int, payload: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, 64, SRC6, DST6) + payload


def _udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


ETH = bytes(12)
CASES = {
    "ethernet": (1, ETH + b"\x08\x00" + _ipv4(50, ESP), 14, 34),
    "ethernet-padded": (1, ETH + b"\x08\x00" + _ipv4(50, ESP) + bytes(6), 14, 34),
    "vlan": (1, ETH + b"\x81\x00\x00\x0a\x08\x00" + _ipv4(50, ESP), 18, 38),
    "qinq": (1, ETH + b"\x88\xa8\x00\x0a\x81\x00\x00\x0b\x08\x00" + _ipv4(50, ESP), 22, 42),
    "sll": (113, bytes(14) + b"\x08\x00" + _ipv4(50, ESP), 16, 36),
    "sll2": (276, b"\x08\x00" + bytes(18) + _ipv4(50, ESP), 20, 40),
    "raw": (101, _ipv4(50, ESP), 0, 20),
    "loopback": (0, struct.pack("<I", 2) + _ipv4(50, ESP), 4, 24),
    "nat-t": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(4500, 4500, ESP)), 14, 42),
    "nat-t-other-port": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(31337, 4500, ESP)), 14, 42),
    "ipv6": (1, ETH + b"\x86\xdd" + _ipv6(50, ESP), 14, 54),
    "ipv6-nat-t": (1, ETH + b"\x86\xdd" + _ipv6(17, _udp(4500, 4500, ESP)), 14, 62),
    "ipv6-sll": (113, bytes(14) + b"\x86\xdd" + _ipv6(50, ESP), 16, 56),
    "ipv6-raw": (101, _ipv6(50, ESP), 0, 40),
}
NOT_ESP = {
    "ipv6-extension-header": (1, ETH + b"\x86\xdd" + _ipv6(60, b"\x32\x00" + bytes(6) + ESP)),
    "ipv6-fragment": (1, ETH + b"\x86\xdd" + _ipv6(44, b"\x32\x00\x00\x01" + bytes(4) + ESP)),
    "ipv6-jumbogram-length": (
        1,
        ETH + b"\x86\xdd" + _ipv6(50, ESP)[:4] + bytes(2) + _ipv6(50, ESP)[6:],
    ),
    "fragment": (1, ETH + b"\x08\x00" + _ipv4(50, ESP, frag=0x2000)),
    "ip-options": (1, ETH + b"\x08\x00" + _ipv4(50, ESP, options=b"\x01\x01\x01\x00")),
    "ike-in-4500": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(4500, 4500, bytes(4) + ESP))),
    "keepalive": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(4500, 4500, b"\xff"))),
    "ike-500": (1, ETH + b"\x08\x00" + _ipv4(17, _udp(500, 500, ESP))),
    "arp": (1, ETH + b"\x08\x06" + bytes(28)),
    "truncated": (1, ETH + b"\x08\x00" + _ipv4(50, ESP)[:30]),
    "unknown-link": (147, _ipv4(50, ESP)),
}


def _decoded(link_type: int, data: bytes, options: DecodeOptions | None = None) -> list[object]:
    return list(
        ipsec_decoder(options or DecodeOptions()).decode(1, 0.0, link_type, data, len(data), 0)
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_esp_is_found_where_the_decoder_finds_it(name: str) -> None:
    link_type, data, ip_at, esp_at = CASES[name]
    locate = esp_locator(ipsec_decoder().udp_special)
    ip_len = len(data) - ip_at - (6 if "padded" in name else 0)
    addresses = (ip_at + 8, ip_at + 40) if name.startswith("ipv6") else (ip_at + 12, ip_at + 20)
    assert locate(link_type, data) == (*addresses, esp_at, ip_at + ip_len, ip_len)
    (record,) = _decoded(link_type, data)
    assert isinstance(record, EspPacket)
    assert (record.offset, record.spi, record.seq) == (esp_at, 0xC0FFEE01, 7)
    assert record.offset + record.length == ip_at + ip_len
    assert record.meta.wire_len == ip_len


@pytest.mark.parametrize("name", sorted(NOT_ESP))
def test_everything_else_is_left_to_the_decoder(name: str) -> None:
    link_type, data = NOT_ESP[name]
    assert esp_locator(ipsec_decoder().udp_special)(link_type, data) is None


def test_decode_as_ports_are_respected() -> None:
    data = ETH + b"\x08\x00" + _ipv4(17, _udp(4500, 4501, ESP))
    plain = ipsec_decoder()
    assert esp_locator(plain.udp_special)(1, data) == (26, 34, 42, len(data), len(data) - 14)
    claimed = ipsec_decoder(DecodeOptions(decode_as_udp={4501: "ike"}))
    assert esp_locator(claimed.udp_special)(1, data) is None  # port 4501 is IKE now


def _corpus() -> list[Path]:
    return sample_captures() + shared_captures()


@pytest.mark.parametrize("path", _corpus(), ids=label)
def test_every_claimed_frame_of_the_corpus_decodes_to_that_esp_packet(path: Path) -> None:
    decoder = ipsec_decoder()
    locate = esp_locator(decoder.udp_special)
    claimed = 0
    for number, time, link_type, data, orig_len, iface in CaptureReader(str(path)):
        found = locate(link_type, data)
        records = decoder.decode(number, time, link_type, data, orig_len, iface)
        if found is None:
            continue
        claimed += 1
        addr_at, addr_end, esp_at, ip_end, ip_len = found
        assert len(records) == 1, f"frame {number}"
        (r,) = records
        assert isinstance(r, EspPacket), f"frame {number}: {type(r).__name__}"
        assert (r.offset, r.length) == (esp_at, ip_end - esp_at), f"frame {number}"
        assert r.meta.wire_len == ip_len, f"frame {number}"
        half = (addr_end - addr_at) // 2  # 4: IPv4, 16: IPv6
        name = decoder.ipv4_name if half == 4 else decoder.ipv6_name
        assert r.meta.src == name(data[addr_at : addr_at + half]), f"frame {number}"
        assert r.meta.dst == name(data[addr_at + half : addr_end]), f"frame {number}"
        assert not r.errors


def test_the_samples_exercise_every_link_layer_the_locator_takes() -> None:
    locate = esp_locator(ipsec_decoder().udp_special)
    found = set()
    for path in sample_captures():
        for _n, _t, link_type, data, _o, _i in CaptureReader(str(path)):
            hit = locate(link_type, data)
            if hit is not None:
                found.add((link_type, hit[1] - hit[0]))  # 8 address bytes: IPv4, 32: IPv6
    # Ethernet, BSD loopback, raw IPv4 and IPv6, Linux SLL and SLL2 (wire-variety.pcapng…)
    assert {(1, 8), (0, 8), (101, 8), (101, 32), (113, 8), (276, 8)} <= found, found
