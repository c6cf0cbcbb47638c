"""Streaming reader for pcap and pcapng files (optionally gzip-compressed).

Why our own reader: the hot path must not build an object per packet beyond what the
analysis needs, and must keep memory bounded on any file size. The file is read in large
chunks; records are cut out with ``struct.unpack_from`` and handed on as plain tuples
``(frame_number, time, link_type, data, original_length, interface_id)``. Nothing keeps a
list of packets.

A truncated last record or a corrupt block ends the stream with a
:class:`~ipsec_inspect.core.records.CaptureWarning` naming the frame; every frame read before
it has already been handed on.
"""

from __future__ import annotations

import gzip
import os
import struct
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ipsec_inspect.core.records import CaptureWarning

CHUNK = 1 << 20

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"

# A frame as the sources hand it on: (number, time, link type, bytes, original length, iface)
RawFrame = tuple[int, float, int, bytes, int, int]


class CaptureError(Exception):
    """The file cannot be read as a capture at all (missing, unreadable, not a capture)."""


@dataclass(slots=True)
class InterfaceInfo:
    link_type: int
    snaplen: int
    ts_resolution: float = 1e-6  # seconds per timestamp unit
    ts_offset: int = 0  # seconds added to every timestamp
    name: str = ""


@dataclass
class CaptureInfo:
    """What the file says about itself; filled in as it is read."""

    path: str
    format: str = ""  # "pcap" or "pcapng"
    compressed: bool = False
    interfaces: list[InterfaceInfo] = field(default_factory=list)
    warnings: list[CaptureWarning] = field(default_factory=list)
    frames: int = 0
    first_time: float | None = None
    last_time: float | None = None


class _ChunkStream:
    """Bytes from a file object in large chunks, with a cursor that may cross chunks."""

    __slots__ = ("base", "buf", "eof", "fh", "pos")

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.buf = b""
        self.pos = 0
        self.base = 0  # stream offset of buf[0]: frame offsets for random access later
        self.eof = False

    def ensure(self, n: int) -> bool:
        """Make at least ``n`` bytes available from ``pos``; False if the file ends first."""
        avail = len(self.buf) - self.pos
        if avail >= n:
            return True
        parts = [self.buf[self.pos :]]
        while avail < n and not self.eof:
            chunk = self.fh.read(max(CHUNK, n - avail))
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            avail += len(chunk)
        self.base += self.pos
        self.buf = b"".join(parts)
        self.pos = 0
        return avail >= n

    def available(self) -> int:
        return len(self.buf) - self.pos


def _open_stream(path: str) -> tuple[BinaryIO, BinaryIO, bool]:
    try:
        fh: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CaptureError(f"{path}: is a directory, not a capture file") from None
    except PermissionError:
        raise CaptureError(f"{path}: permission denied") from None
    except OSError as e:
        raise CaptureError(f"{path}: cannot open ({e.strerror})") from None
    head = fh.read(2)
    fh.seek(0)
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb"), fh, True  # type: ignore[return-value]
    return fh, fh, False


class CaptureReader:
    """Iterate the frames of a pcap/pcapng file, one tuple at a time.

    Usage::

        reader = CaptureReader(path)
        for number, time, link_type, data, orig_len, iface in reader:
            ...
        reader.info.warnings  # anything wrong with the file itself
    """

    def __init__(self, path: str | os.PathLike[str], *, offsets: array[int] | None = None) -> None:
        """``offsets``: when given, the stream offset of every frame's record is appended to
        it (for random access by :class:`~ipsec_inspect.sources.frame_store.FrameStore`)."""
        self.path = os.fspath(path)
        self.offsets = offsets
        self.info = CaptureInfo(self.path)
        self._fh, self._raw, self.info.compressed = _open_stream(self.path)
        self._stream = _ChunkStream(self._fh)
        try:
            ok = self._stream.ensure(4)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            self.close()
            raise CaptureError(f"{self.path}: cannot read ({e})") from None
        magic = self._stream.buf[:4] if ok else b""
        if magic in PCAP_MAGICS:
            self.info.format = "pcap"
        elif magic == PCAPNG_SHB:
            self.info.format = "pcapng"
        else:
            self.close()
            if not ok:
                raise CaptureError(f"{self.path}: empty file, not a pcap or pcapng capture")
            raise CaptureError(f"{self.path}: not a pcap or pcapng capture (magic {magic.hex()})")
        self.on_warning: Callable[[CaptureWarning], None] | None = None

    def close(self) -> None:
        try:
            self._fh.close()
            self._raw.close()
        except OSError:
            pass

    def bytes_read(self) -> int:
        """How far into the file (compressed bytes for gzip) reading has come: for progress."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _warn(self, frame: int, message: str) -> None:
        w = CaptureWarning(frame, message)
        self.info.warnings.append(w)
        if self.on_warning is not None:
            self.on_warning(w)

    def __iter__(self) -> Iterator[RawFrame]:
        try:
            if self.info.format == "pcap":
                yield from self._read_pcap()
            else:
                yield from self._read_pcapng()
        except (OSError, EOFError, gzip.BadGzipFile, struct.error) as e:
            self._warn(
                self.info.frames + 1, f"capture file unreadable after frame {self.info.frames}: {e}"
            )
        finally:
            self.close()

    # ------------------------------------------------------------------ pcap

    def _read_pcap(self) -> Iterator[RawFrame]:
        s = self._stream
        if not s.ensure(24):
            self._warn(1, "pcap file header truncated (fewer than 24 bytes)")
            return
        endian, resolution = PCAP_MAGICS[s.buf[s.pos : s.pos + 4]]
        _vmaj, _vmin, _zone, _sig, snaplen, network = struct.unpack_from(
            endian + "HHiIII", s.buf, s.pos + 4
        )
        # Upper 16 bits of the link-type field may hold FCS information (pcap-savefile).
        link_type = network & 0x0FFFFFFF
        self.info.interfaces.append(InterfaceInfo(link_type, snaplen, resolution))
        s.pos += 24
        rec = struct.Struct(endian + "IIII")
        unpack = rec.unpack_from
        info = self.info
        offsets = self.offsets
        number = 0
        max_len = max(snaplen, 262144) if snaplen else 262144
        while True:
            buf = s.buf
            pos = s.pos
            if len(buf) - pos < 16:
                if not s.ensure(16):
                    if s.available():
                        self._warn(
                            number + 1,
                            f"frame {number + 1}: record header truncated ({s.available()} of 16 bytes); capture ends here",
                        )
                    return
                buf = s.buf
                pos = s.pos
            sec, frac, incl, orig = unpack(buf, pos)
            if incl > max_len:
                self._warn(
                    number + 1,
                    f"frame {number + 1}: captured length {incl} is larger than the snapshot length {snaplen}; the rest of the file is corrupt and was not read",
                )
                return
            end = pos + 16 + incl
            if end > len(buf):
                if not s.ensure(16 + incl):
                    self._warn(
                        number + 1,
                        f"frame {number + 1}: record truncated ({s.available() - 16} of {incl} bytes); capture ends here",
                    )
                    return
                buf = s.buf
                pos = s.pos
                end = pos + 16 + incl
            number += 1
            info.frames = number
            if offsets is not None:
                offsets.append(s.base + pos)
            s.pos = end
            t = sec + frac * resolution
            if number == 1:
                info.first_time = t
            info.last_time = t
            yield number, t, link_type, buf[pos + 16 : end], orig, 0

    # ------------------------------------------------------------------ pcapng

    def _read_pcapng(self) -> Iterator[RawFrame]:
        s = self._stream
        endian = "<"
        interfaces: list[InterfaceInfo] = []
        number = 0
        while True:
            if not s.ensure(12):
                if s.available():
                    self._warn(
                        number + 1,
                        f"block header truncated after frame {number}; capture ends here",
                    )
                return
            buf = s.buf
            pos = s.pos
            btype = buf[pos : pos + 4]
            if btype == PCAPNG_SHB:
                bom = buf[pos + 8 : pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    self._warn(
                        number + 1,
                        f"section header with bad byte-order magic {bom.hex()} after frame {number}; the rest of the file was not read",
                    )
                    return
                interfaces = []
                self.info.interfaces = interfaces
            block_type, block_len = struct.unpack_from(endian + "II", buf, pos)
            if block_len < 12 or block_len % 4:
                self._warn(
                    number + 1,
                    f"corrupt block (type {block_type:#x}, length {block_len}) after frame {number}; the rest of the file was not read",
                )
                return
            if not s.ensure(block_len):
                self._warn(
                    number + 1,
                    f"block truncated (type {block_type:#x}, {s.available()} of {block_len} bytes) after frame {number}; capture ends here",
                )
                return
            buf = s.buf
            pos = s.pos
            s.pos = pos + block_len
            body = pos + 8
            body_end = pos + block_len - 4
            if block_type == 6:  # Enhanced Packet Block
                if body_end - body < 20:
                    self._warn(
                        number + 1, f"frame {number + 1}: enhanced packet block too short; skipped"
                    )
                    continue
                iface, ts_hi, ts_lo, incl, orig = struct.unpack_from(endian + "IIIII", buf, body)
                if iface >= len(interfaces):
                    number += 1
                    if self.offsets is not None:
                        self.offsets.append(s.base + pos)
                    self.info.frames = number
                    self._warn(
                        number,
                        f"frame {number}: refers to interface {iface}, which no interface block described; skipped",
                    )
                    continue
                if body + 20 + incl > body_end:
                    number += 1
                    if self.offsets is not None:
                        self.offsets.append(s.base + pos)
                    self.info.frames = number
                    self._warn(
                        number,
                        f"frame {number}: captured length {incl} runs past its block; skipped",
                    )
                    continue
                info = interfaces[iface]
                number += 1
                if self.offsets is not None:
                    self.offsets.append(s.base + pos)
                self.info.frames = number
                t = ((ts_hi << 32) | ts_lo) * info.ts_resolution + info.ts_offset
                self._times(number, t)
                yield number, t, info.link_type, buf[body + 20 : body + 20 + incl], orig, iface
            elif block_type == 3:  # Simple Packet Block
                if not interfaces:
                    number += 1
                    if self.offsets is not None:
                        self.offsets.append(s.base + pos)
                    self.info.frames = number
                    self._warn(
                        number,
                        f"frame {number}: simple packet block before any interface block; skipped",
                    )
                    continue
                (orig,) = struct.unpack_from(endian + "I", buf, body)
                info = interfaces[0]
                incl = min(orig, body_end - body - 4)
                if info.snaplen:
                    incl = min(incl, info.snaplen)
                number += 1
                if self.offsets is not None:
                    self.offsets.append(s.base + pos)
                self.info.frames = number
                yield number, 0.0, info.link_type, buf[body + 4 : body + 4 + incl], orig, 0
            elif block_type == 2:  # obsolete Packet Block
                if body_end - body < 20:
                    continue
                iface, _drops, ts_hi, ts_lo, incl, orig = struct.unpack_from(
                    endian + "HHIIII", buf, body
                )
                if iface >= len(interfaces) or body + 20 + incl > body_end:
                    number += 1
                    if self.offsets is not None:
                        self.offsets.append(s.base + pos)
                    self.info.frames = number
                    self._warn(number, f"frame {number}: corrupt packet block; skipped")
                    continue
                info = interfaces[iface]
                number += 1
                if self.offsets is not None:
                    self.offsets.append(s.base + pos)
                self.info.frames = number
                t = ((ts_hi << 32) | ts_lo) * info.ts_resolution + info.ts_offset
                self._times(number, t)
                yield number, t, info.link_type, buf[body + 20 : body + 20 + incl], orig, iface
            elif block_type == 1:  # Interface Description Block
                if body_end - body < 8:
                    self._warn(
                        number + 1,
                        "interface description block too short; the rest of the file was not read",
                    )
                    return
                link_type, _reserved, snaplen = struct.unpack_from(endian + "HHI", buf, body)
                info = InterfaceInfo(link_type, snaplen)
                self._read_idb_options(buf, body + 8, body_end, endian, info)
                interfaces.append(info)
            # Every other block type (name resolution, statistics, custom, DSB, ...) is skipped.

    def _times(self, number: int, t: float) -> None:
        if number == 1 or self.info.first_time is None:
            self.info.first_time = t
        self.info.last_time = t

    @staticmethod
    def _read_idb_options(buf: bytes, pos: int, end: int, endian: str, info: InterfaceInfo) -> None:
        while pos + 4 <= end:
            code, length = struct.unpack_from(endian + "HH", buf, pos)
            pos += 4
            if code == 0:
                break
            value = buf[pos : pos + length]
            pos += (length + 3) & ~3
            if code == 9 and length >= 1:  # if_tsresol
                r = value[0]
                info.ts_resolution = 2.0 ** -(r & 0x7F) if r & 0x80 else 10.0 ** -(r & 0x7F)
            elif code == 14 and length == 8:  # if_tsoffset
                info.ts_offset = struct.unpack(endian + "q", value)[0]
            elif code == 2:  # if_name
                info.name = value.decode("utf-8", "replace")
