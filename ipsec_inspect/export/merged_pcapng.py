"""Several captures merged by timestamp into one decrypted pcapng, every interface kept.

Why: a ring or one file per gateway decrypted to a classic pcap loses every interface but
the first link type's, and each input's interface names and timestamp units. Here the
output is one pcapng section; each input's interfaces (its Interface Description Blocks,
or one interface for a pcap input) are written as they come and numbered on from the
interfaces before them, and every packet names its input's interface by its new number
— as ``mergecap`` does.

- Little-endian blocks (what every common writer produces) are copied byte for byte, only
  the interface number of packet and statistics blocks changed.
- A big-endian section's interfaces are written again in little-endian (link type,
  snapshot length, and the options whose layout is known: names, descriptions, comments,
  timestamp resolution and offset, speed, FCS length); its packets lose their options
  other than the comment ipsec-inspect adds, and its other blocks cannot be carried over
  (the caller is told how many).
- A section header inside an input starts its interfaces again, as in the input.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import BinaryIO

from ipsec_inspect import __version__
from ipsec_inspect.export.plaintext_pcapng import _block, _option, _pad
from ipsec_inspect.sources.capture_units import (
    EPB,
    IDB,
    PB,
    SHB,
    SPB,
    PcapHeader,
    RawBlock,
    RawPacket,
    Unit,
)

_ISB = 5
_IF_TSRESOL = 9
_OPT_COMMENT = 1
#: IDB options by layout: strings (copied), 8-byte integers (swapped), single bytes
_STRING_OPTIONS = frozenset({1, 2, 3, 4, 5, 6, 7, 11, 12, 15})
_INT64_OPTIONS = frozenset({8, 14})
_BYTE_OPTIONS = frozenset({9, 10, 13})


def _le_idb(raw: bytes) -> bytes:
    """A big-endian Interface Description Block written again in little-endian."""
    link_type, _reserved, snaplen = struct.unpack_from(">HHI", raw, 8)
    opts = b""
    pos, end = 16, len(raw) - 4
    while pos + 4 <= end:
        code, size = struct.unpack_from(">HH", raw, pos)
        value = raw[pos + 4 : pos + 4 + size]
        pos += 4 + size + (-size % 4)
        if code == 0:
            break
        if code in _STRING_OPTIONS or code in _BYTE_OPTIONS:
            opts += _option("<", code, value)
        elif code in _INT64_OPTIONS and size == 8:
            opts += _option("<", code, value[::-1])
    if opts:
        opts += b"\0" * 4
    return _block("<", IDB, struct.pack("<HHI", link_type, 0, snaplen) + opts)


class MergedPcapngWriter:
    """Writes the units of several inputs (each tagged with its input's index)."""

    def __init__(self, fh: BinaryIO, on_dropped: Callable[[str], None] | None = None) -> None:
        self._fh = fh
        self.frames = 0
        self.dropped = 0  # big-endian blocks that could not be carried over
        self._on_dropped = on_dropped
        self._ids: dict[int, list[int]] = {}  # input -> its interfaces' new numbers
        self._next = 0
        shb_opts = _option("<", 4, f"ipsec-inspect {__version__}".encode()) + b"\0" * 4
        fh.write(_block("<", SHB, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts))

    @property
    def interfaces(self) -> int:
        return self._next

    def _new_interface(self, source: int) -> None:
        self._ids.setdefault(source, []).append(self._next)
        self._next += 1

    def _iface(self, source: int, local: int) -> int | None:
        ids = self._ids.get(source, [])
        return ids[local] if 0 <= local < len(ids) else None

    def unit(
        self, source: int, unit: Unit, new_data: bytes | None = None, comment: str = ""
    ) -> None:
        if isinstance(unit, PcapHeader):
            self._ids[source] = []
            self._new_interface(source)
            opts = _option("<", _IF_TSRESOL, bytes([9 if unit.nanoseconds else 6])) + b"\0" * 4
            body = struct.pack("<HHI", unit.link_type, 0, unit.snaplen) + opts
            self._fh.write(_block("<", IDB, body))
        elif isinstance(unit, RawBlock):
            self._block(source, unit)
        else:
            self._packet(source, unit, new_data, comment)

    def _block(self, source: int, b: RawBlock) -> None:
        if b.block_type == SHB:
            self._ids[source] = []  # a new section: its interfaces start again
            return
        if b.block_type == IDB:
            if len(b.raw) < 20:
                return  # the reader does not count it as an interface either
            self._new_interface(source)
            self._fh.write(b.raw if b.endian == "<" else _le_idb(b.raw))
            return
        if b.endian != "<":
            self.dropped += 1
            if self._on_dropped is not None:
                self._on_dropped(f"a big-endian block of type {b.block_type:#x}")
            return
        if b.block_type == _ISB and len(b.raw) >= 16:
            new = self._iface(source, struct.unpack_from("<I", b.raw, 8)[0])
            if new is not None:
                self._fh.write(b.raw[:8] + struct.pack("<I", new) + b.raw[12:])
                return
        self._fh.write(b.raw)

    def _packet(self, source: int, p: RawPacket, new_data: bytes | None, comment: str) -> None:
        self.frames += 1
        if not p.usable:
            self._fh.write(p.raw)  # a broken block: copied as it is, never dropped
            return
        iface = self._iface(source, p.iface if p.kind != SPB else 0)
        iface = 0 if iface is None else iface
        if new_data is None and p.endian == "<" and p.kind == EPB:
            self._fh.write(p.raw[:8] + struct.pack("<I", iface) + p.raw[12:])
            return
        data = p.data if new_data is None else new_data
        orig = p.orig_len if new_data is None else len(new_data)
        options = p.options if p.kind in (EPB, PB) and p.endian == "<" else b""
        if comment:
            options += _option("<", _OPT_COMMENT, comment.encode())
        if options:
            options += b"\0" * 4
        ts = p.ts_units
        body = struct.pack("<IIIII", iface, ts >> 32 & 0xFFFFFFFF, ts & 0xFFFFFFFF, len(data), orig)
        self._fh.write(_block("<", EPB, body + _pad(data) + options))
