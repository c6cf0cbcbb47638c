"""``decrypt`` writes pcapng keeping every frame, interface, timestamp unit, comment and block."""

from __future__ import annotations

import struct
from pathlib import Path

from ipsec_inspect.sources.capture_file import CaptureReader
from ipsec_inspect.sources.capture_units import EPB, RawBlock, RawPacket, iter_units

from .cli_run import SAMPLES, cli

NRB = 4  # a name resolution block: not a packet, must be copied as it is


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(kind: int, body: bytes) -> bytes:
    return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def _epb(iface: int, ts: int, data: bytes, comment: str) -> bytes:
    head = struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
    opts = _option(1, comment.encode()) + b"\0" * 4
    return _block(EPB, head + data + b"\0" * (-len(data) % 4) + opts)


def _mixed_capture(path: Path) -> None:
    """The IKEv2 sample re-cut: odd frames on a second, nanosecond interface, a comment on
    every frame, and a name resolution block in the middle."""
    units = list(iter_units(str(SAMPLES / "ikev2-tunnel.pcapng"), lambda w: None))
    out = bytearray()
    for unit in units:
        if isinstance(unit, RawBlock):
            out += unit.raw
            if unit.block_type == 1:  # after the first interface, a nanosecond Ethernet one
                out += _block(1, struct.pack("<HHI", 1, 0, 0) + _option(9, b"\x09") + b"\0" * 4)
        elif isinstance(unit, RawPacket):
            if unit.number == 20:
                out += _block(NRB, _option(1, b"\xc0\x00\x02\x01gw.example\0") + b"\0" * 4)
            if unit.number % 2:
                ns = round(unit.time * 1e6) * 1000 + 123  # nanoseconds, not a multiple of 1000
                out += _epb(1, ns, unit.data, f"frame {unit.number} as captured")
            else:
                out += _epb(0, unit.ts_units, unit.data, f"frame {unit.number} as captured")
    path.write_bytes(bytes(out))


def _comments(p: RawPacket) -> list[str]:
    found, pos = [], 0
    while pos + 4 <= len(p.options):
        code, size = struct.unpack_from("<HH", p.options, pos)
        if code == 1:
            found.append(p.options[pos + 4 : pos + 4 + size].decode())
        pos += 4 + ((size + 3) & ~3)
    return found


def test_every_frame_interface_timestamp_comment_and_block_is_kept(tmp_path: Path) -> None:
    source, out = tmp_path / "mixed.pcapng", tmp_path / "plain.pcapng"
    _mixed_capture(source)
    done = cli(
        "decrypt", str(source), "--keys", str(SAMPLES / "ikev2-tunnel.keys.toml"), "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert f"{out}: 30 ESP packets replaced by their plaintext, 0 kept as captured" in done.stderr
    before = list(iter_units(str(source), lambda w: None))
    after = list(iter_units(str(out), lambda w: None))
    assert [type(u) for u in after] == [type(u) for u in before]
    blocks = [(b.block_type, b.raw) for b in after if isinstance(b, RawBlock)]
    assert blocks == [(b.block_type, b.raw) for b in before if isinstance(b, RawBlock)]
    assert NRB in {kind for kind, _raw in blocks}
    replaced = 0
    for old, new in zip(before, after, strict=True):
        if not isinstance(old, RawPacket):
            continue
        assert isinstance(new, RawPacket)
        assert (new.number, new.iface, new.ts_units) == (old.number, old.iface, old.ts_units)
        assert _comments(new)[0] == f"frame {old.number} as captured"
        if new.raw == old.raw:
            assert len(_comments(new)) == 1
            continue
        replaced += 1
        assert new.data != old.data and len(new.data) < len(old.data)
        spi = struct.unpack_from("!I", old.data, 14 + 20 + 8)[0]  # Ethernet, IPv4, UDP 4500
        assert _comments(new)[1] == (
            f"ipsec-inspect: ESP SPI 0x{spi:08x} decrypted; "
            f"the captured frame was {len(old.data)} bytes"
        )
        assert new.data[14] >> 4 == 4  # the inner IPv4 packet behind the Ethernet header
    assert replaced == 30
    odd = [p for p in after if isinstance(p, RawPacket) and p.number % 2]
    assert {p.ts_units % 1000 for p in odd} == {123}  # nanoseconds kept exactly


def test_wire_variety_keeps_all_38_frames_in_pcapng_and_names_them_in_pcap(
    tmp_path: Path,
) -> None:
    keys = str(SAMPLES / "wire-variety.keys.toml")
    source = SAMPLES / "wire-variety.pcapng"
    out = tmp_path / "plain.pcapng"
    done = cli("decrypt", str(source), "--keys", keys, "-o", str(out))
    assert done.returncode == 0, done.stderr
    with CaptureReader(source) as a, CaptureReader(out) as b:
        old, new = list(a), list(b)
    assert len(old) == len(new) == 38
    assert [(f[0], f[2], f[5]) for f in new] == [(f[0], f[2], f[5]) for f in old]
    assert sum(f[3] != g[3] for f, g in zip(old, new, strict=True)) == 7
    as_pcap = tmp_path / "plain.pcap"
    done = cli("decrypt", str(source), "--keys", keys, "-o", str(as_pcap), "-F", "pcap")
    assert done.returncode == 1
    assert "21 frames have another link type than the first and are not in" in done.stderr
    assert "frames 3, 4, 5, 6, 7" in done.stderr and "and 1 more" in done.stderr
    with CaptureReader(as_pcap) as c:
        assert len(list(c)) == 38 - 21


def test_no_keys_and_no_matching_keys_exit_1_with_one_sentence(tmp_path: Path) -> None:
    capture = str(SAMPLES / "ikev2-tunnel.pcapng")
    out = tmp_path / "plain.pcapng"
    done = cli("decrypt", capture, "-o", str(out))
    assert done.returncode == 1
    assert done.stderr == (
        "ipsec-inspect: decrypt needs keys (--keys FILE or folder): without them no ESP "
        "packet can be decrypted, and nothing was written\n"
    )
    assert not out.exists()
    other = str(SAMPLES / "ah.keys.toml")
    done = cli("decrypt", capture, "--keys", other, "-o", str(out))
    assert done.returncode == 1
    assert f"ipsec-inspect: warning: {other}: no key matches this capture: it holds " in done.stderr
    assert done.stderr.endswith(
        "ipsec-inspect: nothing was decrypted: no given or derived key decrypted any of its "
        "30 ESP packets\n"
    )


def test_several_inputs_merge_into_one_pcapng_with_every_interface(tmp_path: Path) -> None:
    """Odd frames in a pcapng on its second, nanosecond interface (behind a first one and a
    name block), even frames in a microsecond pcap: the merged pcapng has three
    interfaces — the pcapng's two, then the pcap's — every packet on its input's
    interface renumbered, raw timestamps kept, in the order and with the plaintext of
    decrypting the original capture."""
    from tests.pcapbuild import pcap

    sample = SAMPLES / "ikev2-tunnel.pcapng"
    keys = str(SAMPLES / "ikev2-tunnel.keys.toml")
    units = list(iter_units(str(sample), lambda w: None))
    packets = [u for u in units if isinstance(u, RawPacket)]
    ng = bytearray()
    for unit in units:
        if isinstance(unit, RawBlock):
            ng += unit.raw
            if unit.block_type == 1:
                ng += _block(1, struct.pack("<HHI", 1, 0, 0) + _option(9, b"\x09") + b"\0" * 4)
                ng += _block(NRB, _option(1, b"\xc0\x00\x02\x01gw.example\0") + b"\0" * 4)
    odd = {p.number: round(p.time * 1e6) * 1000 + 123 for p in packets if p.number % 2}
    for p in packets:
        if p.number % 2:
            ng += _epb(1, odd[p.number], p.data, f"frame {p.number}")
    a, b = tmp_path / "a.pcapng", tmp_path / "b.pcap"
    a.write_bytes(bytes(ng))
    b.write_bytes(pcap([(round(p.time * 1e6) / 1e6, p.data) for p in packets if not p.number % 2]))
    whole, merged = tmp_path / "whole.pcapng", tmp_path / "merged.pcapng"
    done = cli("decrypt", str(sample), "--keys", keys, "-o", str(whole))
    assert done.returncode == 0, done.stderr
    done = cli("decrypt", str(a), str(b), "--keys", keys, "-o", str(merged))
    assert done.returncode == 0, done.stderr
    assert f"{merged}: 30 ESP packets replaced by their plaintext, 0 kept as captured" in (
        done.stderr
    )
    out = list(iter_units(str(merged), lambda w: None))
    idbs = [u for u in out if isinstance(u, RawBlock) and u.block_type == 1]
    assert len(idbs) == 3
    assert idbs[1].raw.endswith(
        _option(9, b"\x09") + b"\0" * 4 + struct.pack("<I", len(idbs[1].raw))
    )
    assert NRB in {u.block_type for u in out if isinstance(u, RawBlock)}
    got = [u for u in out if isinstance(u, RawPacket)]
    want = [u for u in iter_units(str(whole), lambda w: None) if isinstance(u, RawPacket)]
    assert [p.data for p in got] == [p.data for p in want]
    for p, w in zip(got, want, strict=True):
        if w.number % 2:
            assert (p.iface, p.ts_units) == (1, odd[w.number])
        else:
            assert (p.iface, p.ts_units) == (2, round(w.time * 1e6))
    assert [p.number for p in got] == list(range(1, len(packets) + 1))
