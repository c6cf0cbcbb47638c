"""Write captured frames to pcapng as they arrive, to one file or a ring of files.

Why pcapng and flushing: a live session saved with ``sniff --write`` must reopen later with
``open``/``summary`` exactly like any capture, and must be readable *while* the capture
runs (another terminal may copy it). Every block is complete on disk at most
:data:`FLUSH_INTERVAL` seconds after its frame arrived (and at once on :meth:`flush`).

Ring: with ``ring_size`` the output rotates to a new file before a block would take the
current one past the limit; with ``ring_files`` only that many newest files are kept
(oldest deleted), bounding disk use on an endless capture. Ring files are named
``<stem>_00001.pcapng``, ``<stem>_00002.pcapng`` … beside the requested path; each starts
with its own section header and interface descriptions, so each opens alone.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ipsec_inspect import __version__
from ipsec_inspect.sources.capture_file import RawFrame

FLUSH_INTERVAL = 0.2  # seconds a written frame may wait in the buffer before a flush

SHB_TYPE = 0x0A0D0D0A
IDB_TYPE = 0x00000001
EPB_TYPE = 0x00000006
ISB_TYPE = 0x00000005
BYTE_ORDER_MAGIC = 0x1A2B3C4D

OPT_END = 0
SHB_USERAPPL = 4
IF_NAME = 2
ISB_IFRECV = 4
ISB_IFDROP = 5
ISB_OSDROP = 7


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * _pad4(len(value))


def _block(kind: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)


def section_header() -> bytes:
    opts = _option(SHB_USERAPPL, f"ipsec-inspect {__version__}".encode()) + _option(OPT_END, b"")
    return _block(SHB_TYPE, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + opts)


def interface_description(link_type: int, name: str) -> bytes:
    opts = (_option(IF_NAME, name.encode()) if name else b"") + _option(OPT_END, b"")
    return _block(IDB_TYPE, struct.pack("<HHI", link_type, 0, 0) + opts)


def enhanced_packet(iface: int, stamp: float, data: bytes, orig_len: int) -> bytes:
    micros = round(stamp * 1_000_000)  # default if_tsresol: microseconds
    body = (
        struct.pack(
            "<IIIII",
            iface,
            (micros >> 32) & 0xFFFFFFFF,
            micros & 0xFFFFFFFF,
            len(data),
            max(orig_len, len(data)),
        )
        + data
        + b"\0" * _pad4(len(data))
    )
    return _block(EPB_TYPE, body)


def interface_statistics(
    iface: int, stamp: float, received: int, os_drop: int, if_drop: int
) -> bytes:
    micros = round(stamp * 1_000_000)
    opts = (
        _option(ISB_IFRECV, struct.pack("<Q", received))
        + _option(ISB_IFDROP, struct.pack("<Q", if_drop))
        + _option(ISB_OSDROP, struct.pack("<Q", os_drop))
        + _option(OPT_END, b"")
    )
    return _block(
        ISB_TYPE,
        struct.pack("<III", iface, (micros >> 32) & 0xFFFFFFFF, micros & 0xFFFFFFFF) + opts,
    )


@dataclass
class PcapngWriter:
    """Append frames to ``path`` (or a ring of files beside it) as pcapng.

    ``iface_name`` is recorded in the interface description; ``ring_size`` is in bytes
    (0: one file, never rotated); ``ring_files`` is how many files to keep (0: all).
    """

    path: str | os.PathLike[str]
    iface_name: str = ""
    ring_size: int = 0
    ring_files: int = 0
    files: list[Path] = field(init=False, default_factory=list)
    frames: int = field(init=False, default=0)
    _fh: BinaryIO | None = field(init=False, default=None, repr=False)
    _size: int = field(init=False, default=0)
    _in_file: int = field(init=False, default=0)
    _links: dict[int, int] = field(init=False, default_factory=dict)  # link type -> IDB index
    _sequence: int = field(init=False, default=0)
    _last_flush: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.ring_files and not self.ring_size:
            raise ValueError("a ring of files needs a size limit per file")
        self._open_next()

    # ------------------------------------------------------------------ files

    def _name(self) -> Path:
        base = Path(self.path)
        if not self.ring_size:
            return base
        suffix = base.suffix or ".pcapng"
        return base.with_name(f"{base.stem}_{self._sequence:05d}{suffix}")

    def _open_next(self) -> None:
        if self._fh is not None:
            self._fh.close()
        self._sequence += 1
        name = self._name()
        self._fh = open(name, "wb")  # noqa: SIM115 - kept open across writes, closed in close()
        self.files.append(name)
        self._size = 0
        self._in_file = 0
        self._write(section_header())
        links = sorted(self._links.items(), key=lambda kv: kv[1])
        for link_type, _ in links:
            self._write(interface_description(link_type, self.iface_name))
        while self.ring_files and len(self.files) > self.ring_files:
            old = self.files.pop(0)
            try:
                old.unlink()
            except FileNotFoundError:
                pass
        self._fh.flush()

    def _write(self, block: bytes) -> None:
        assert self._fh is not None
        self._fh.write(block)
        self._size += len(block)

    # ------------------------------------------------------------------ frames

    def write(self, frame: RawFrame) -> None:
        """Write one frame; rotate first if it would take the file past ``ring_size``."""
        if self._fh is None:
            raise ValueError("writer is closed")
        _number, stamp, link_type, data, orig_len, _iface = frame
        block = enhanced_packet(0, stamp, data, orig_len)  # index fixed below
        new_link = link_type not in self._links
        need = len(block) + (
            len(interface_description(link_type, self.iface_name)) if new_link else 0
        )
        if self.ring_size and self._in_file and self._size + need > self.ring_size:
            self._open_next()
        if new_link:
            self._links[link_type] = len(self._links)
            self._write(interface_description(link_type, self.iface_name))
        index = self._links[link_type]
        if index:
            block = block[:8] + struct.pack("<I", index) + block[12:]
        self._write(block)
        self._in_file += 1
        self.frames += 1
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL:
            self.flush()

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            self._last_flush = time.monotonic()

    def close(self, received: int | None = None, os_drop: int = 0, if_drop: int = 0) -> None:
        """Close the current file; with ``received``, record drop counters in it first."""
        if self._fh is None:
            return
        if received is not None and self._links:
            self._write(interface_statistics(0, time.time(), received, os_drop, if_drop))
        self._fh.close()
        self._fh = None

    def __enter__(self) -> PcapngWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
