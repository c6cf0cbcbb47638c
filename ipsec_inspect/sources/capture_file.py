"""Streaming reader for pcap and pcapng files (optionally gzip, xz or bzip2 compressed).

Why our own reader: the hot path must not build an object per packet beyond what the
analysis needs, and must keep memory bounded on any file size. The file is read in large
chunks; records are cut out with ``struct.unpack_from`` and handed on as plain tuples
``(frame_number, time, link_type, data, original_length, interface_id)``. Nothing keeps a
list of packets.

Nothing in a file is trusted: every claimed length is checked against the snapshot length,
the interface's snapshot length and :data:`MAX_FRAME_BYTES` / :data:`MAX_BLOCK_BYTES`
*before* anything is read for it, so peak memory does not depend on any length field; a
timestamp goes through :class:`~ipsec_inspect.sources.timestamps.CaptureClock`; damage in
any layer (compression, pcap, pcapng) becomes a
:class:`~ipsec_inspect.core.records.CaptureWarning` naming the frame and the byte offset, and
every frame read before it has already been handed on. Limits are listed in
``docs/limits.md``.
"""

from __future__ import annotations

import io
import lzma
import os
import struct
import zlib
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ipsec_inspect.core.records import CaptureWarning
from ipsec_inspect.sources.decompress import SUPPORTED, Decompressed, compression_of
from ipsec_inspect.sources.timestamps import (
    EARLIEST_TIME,
    FINEST_RESOLUTION,
    LATEST_TIME,
    CaptureClock,
    RawTime,
    resolution_seconds,
)
from ipsec_inspect.sources.warning_log import WarningLog

CHUNK = 1 << 20  # bytes read from the file per call

#: Largest captured frame accepted (16 MiB, as Wireshark's largest block): a longer claimed
#: length is damage, refused before anything is read for it.
MAX_FRAME_BYTES = 16 << 20
#: Largest pcapng block accepted (a packet block of the largest frame, with its options).
MAX_BLOCK_BYTES = MAX_FRAME_BYTES + (64 << 10)
#: pcap records may exceed a small header snaplen (some writers set it wrongly); the
#: effective limit is the larger of the two, never above MAX_FRAME_BYTES.
DEFAULT_SNAPLEN = 262144
#: Interfaces one pcapng section may describe; frames on further interfaces are skipped.
MAX_INTERFACES = 4096
#: Consecutive records without a single captured byte after which the rest of the file is
#: taken for padding or a decompression bomb and not read.
MAX_EMPTY_RUN = 10_000

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"

# A frame as the sources hand it on: (number, time, link type, bytes, original length, iface)
RawFrame = tuple[int, float, int, bytes, int, int]

#: What reading a damaged file may raise at any layer; each becomes a CaptureWarning.
READ_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    EOFError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
    ValueError,
    MemoryError,
)


class CaptureError(Exception):
    """The file cannot be read as a capture at all (missing, unreadable, not a capture)."""


@dataclass(slots=True)
class InterfaceInfo:
    """A capture interface: link type, snap length and timestamp resolution."""

    link_type: int
    snaplen: int
    ts_resolution: float = 1e-6  # seconds per timestamp unit
    ts_offset: int = 0  # seconds added to every timestamp
    name: str = ""
    ts_code: int | None = None  # the if_tsresol byte as written (None: the default, 10^-6)


@dataclass
class CaptureInfo:
    """What the file says about itself; filled in as it is read."""

    path: str
    format: str = ""  # "pcap" or "pcapng"
    compressed: bool = False
    compression: str = ""  # "gzip", "xz", "bzip2" when compressed
    interfaces: list[InterfaceInfo] = field(default_factory=list)
    warnings: WarningLog = field(default_factory=WarningLog)
    frames: int = 0
    first_time: float | None = None
    last_time: float | None = None
    #: raw timestamp fields of recent frames whose time was unusable, by frame number
    raw_times: dict[int, RawTime] = field(default_factory=dict)


class _ChunkStream:
    """Bytes from a file object in large chunks, with a cursor that may cross chunks.

    Callers check a claimed length against the limits *before* asking for it; ``ensure``
    then reads in pieces of :data:`CHUNK`, so one call never asks the file (or the
    decompressor) for more than a chunk at a time.
    """

    __slots__ = ("base", "buf", "eof", "fh", "pos")

    def __init__(self, fh: BinaryIO | Decompressed) -> None:
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
            chunk = self.fh.read(CHUNK)
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

    def offset(self) -> int:
        """Stream offset of the cursor (of the decompressed stream, for compressed files)."""
        return self.base + self.pos


def _open_fileobj(raw: BinaryIO) -> tuple[BinaryIO | Decompressed, BinaryIO, str]:
    """An already open stream (standard input, an fsspec file): compression is recognised
    by peeking, never by seeking back, so a pipe can be read."""
    fh: BinaryIO = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[type-var]
    head = bytes(fh.peek(6)[:6])  # type: ignore[attr-defined]
    kind = compression_of(head)
    if kind is None:
        return fh, raw, ""
    if kind not in SUPPORTED:
        raise CaptureError(f"{kind}-compressed input; decompress it first ({kind} -d)")
    return Decompressed(fh, kind), raw, kind


def _open_stream(path: str) -> tuple[BinaryIO | Decompressed, BinaryIO, str]:
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
    try:
        head = fh.read(6)
        fh.seek(0)
    except OSError as e:
        fh.close()
        raise CaptureError(f"{path}: cannot read ({e.strerror or e})") from None
    kind = compression_of(head)
    if kind is None:
        return fh, fh, ""
    if kind not in SUPPORTED:
        fh.close()
        raise CaptureError(
            f"{path}: {kind}-compressed; decompress it first ({kind} -d), or recompress "
            f"with {', '.join(SUPPORTED)}"
        )
    return Decompressed(fh, kind), fh, kind


class CaptureReader:
    """Iterate the frames of a pcap/pcapng file, one tuple at a time.

    Usage::

        reader = CaptureReader(path)
        for number, time, link_type, data, orig_len, iface in reader:
            ...
        reader.info.warnings  # anything wrong with the file itself
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        offsets: array[int] | None = None,
        fileobj: BinaryIO | None = None,
    ) -> None:
        """``offsets``: when given, the stream offset of every frame's record is appended to
        it (for random access by :class:`~ipsec_inspect.sources.frame_store.FrameStore`).
        ``fileobj``: read this open stream (standard input, an fsspec file) instead of
        opening ``path``, which then only names it; it is read forward only, never seeked."""
        self.path = os.fspath(path)
        self.offsets = offsets
        self.info = CaptureInfo(self.path)
        if fileobj is not None:
            self._fh, self._raw, kind = _open_fileobj(fileobj)
        else:
            self._fh, self._raw, kind = _open_stream(self.path)
        self.info.compressed = bool(kind)
        self.info.compression = kind
        self._stream = _ChunkStream(self._fh)
        self._clock = CaptureClock(self._time_warning)
        self.info.raw_times = self._clock.raw_times
        self._damage_reported = False
        self._useless = 0  # records in a row that gave no captured byte
        self.on_warning: Callable[[CaptureWarning], None] | None = None
        #: ``skip(link_type, buffer, start, length)`` -> True: the frame is numbered and
        #: counted but not handed on, and its bytes are never copied — how a partition
        #: of a tunnel-partitioned run passes over the other tunnels' frames cheaply
        self.skip: Callable[[int, bytes, int, int], bool] | None = None
        try:
            ok = self._stream.ensure(4)
        except READ_ERRORS as e:
            self.close()
            raise CaptureError(f"{self.path}: cannot read ({e})") from None
        magic = self._stream.buf[:4] if ok else b""
        if magic in PCAP_MAGICS:
            self.info.format = "pcap"
        elif magic == PCAPNG_SHB:
            self.info.format = "pcapng"
        else:
            self.close()
            damage = self._damage()
            if damage is not None:
                raise CaptureError(f"{self.path}: {damage}; no frame could be read")
            if not ok:
                raise CaptureError(f"{self.path}: empty file, not a pcap or pcapng capture")
            raise CaptureError(f"{self.path}: not a pcap or pcapng capture (magic {magic.hex()})")

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

    def _warn(
        self, frame: int, message: str, kind: str = "capture", offset: int | None = None
    ) -> None:
        w = CaptureWarning(frame, message, kind, offset)
        self.info.warnings.append(w)
        if self.on_warning is not None:
            self.on_warning(w)

    def _time_warning(self, frame: int, message: str) -> None:
        self._warn(frame, message, "timestamp")

    def _damage(self) -> str | None:
        fh = self._fh
        return fh.damage if isinstance(fh, Decompressed) else None

    def _end(self, frame: int, message: str, kind: str = "record") -> None:
        """The stream ends at ``frame``: report why, once. Damage in the compression layer
        explains a truncated record better than the truncation does, so it wins."""
        at = self._stream.offset()
        damage = self._damage()
        if damage is not None:
            self._damage_reported = True
            kept = frame - 1
            self._warn(frame, f"{damage} ({kept} frames before it were kept)", "compression", at)
            return
        self._warn(frame, message, kind, at)

    def __iter__(self) -> Iterator[RawFrame]:
        try:
            if self.info.format == "pcap":
                yield from self._read_pcap()
            else:
                yield from self._read_pcapng()
            if self._damage() is not None and not self._damage_reported:
                self._end(self.info.frames + 1, "")
        except READ_ERRORS as e:
            reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            self._end(
                self.info.frames + 1,
                f"capture file unreadable ({reason}); {self.info.frames} frames before it were kept",
                "read",
            )
        finally:
            self.close()

    # ------------------------------------------------------------------ pcap

    def _read_pcap(self) -> Iterator[RawFrame]:
        s = self._stream
        if not s.ensure(24):
            self._end(1, "pcap file header truncated (fewer than 24 bytes)")
            return
        endian, resolution = PCAP_MAGICS[s.buf[s.pos : s.pos + 4]]
        units = 1_000_000 if resolution == 1e-6 else 1_000_000_000
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
        clock = self._clock
        skip = self.skip
        number = 0
        max_len = min(max(snaplen, DEFAULT_SNAPLEN), MAX_FRAME_BYTES)
        # The seconds field at which a time may pass LATEST_TIME (a fraction below one
        # second cannot carry a smaller one past it): such records take the slow path.
        latest_sec = int(LATEST_TIME)
        t = 0.0
        while True:
            buf = s.buf
            pos = s.pos
            if number:
                # The fast path: records wholly in the buffer with nothing to report (not
                # empty, within the limits, a usable time). Per record only the frame
                # count and the last time are stored; the cursor, the clock and the run
                # of empty records are brought up to date when the run of such records
                # ends — at the first record that needs more, which the slow path below
                # then reads exactly as before, or when the generator is closed.
                size = len(buf)
                run_from = number
                try:
                    while pos + 16 <= size:
                        sec, frac, incl, orig = unpack(buf, pos)
                        start = pos + 16
                        end = start + incl
                        if end > size or not incl or incl > max_len:
                            break
                        if frac >= units or sec >= latest_sec:
                            break
                        t = sec + frac * resolution
                        number += 1
                        info.frames = number
                        info.last_time = t
                        if offsets is not None:
                            offsets.append(s.base + pos)
                        pos = end
                        if skip is not None and skip(link_type, buf, start, incl):
                            continue
                        yield number, t, link_type, buf[start:end], orig, 0
                finally:
                    s.pos = pos
                    if number > run_from:
                        clock.last = t
                        self._useless = 0
            # The slow path: one record, whatever it holds.
            if len(buf) - pos < 16:
                if not s.ensure(16):
                    if s.available() or self._damage() is not None:
                        self._end(
                            number + 1,
                            f"record header truncated ({s.available()} of 16 bytes); "
                            "capture ends here",
                        )
                    return
                buf = s.buf
                pos = s.pos
            sec, frac, incl, orig = unpack(buf, pos)
            if incl > max_len:
                limit = (
                    f"the snapshot length {snaplen}"
                    if incl > snaplen and snaplen >= DEFAULT_SNAPLEN
                    else f"the limit of {max_len} bytes (snapshot length {snaplen})"
                )
                self._end(
                    number + 1,
                    f"captured length {incl} is larger than {limit}; the rest of the file "
                    "is corrupt and was not read",
                )
                return
            end = pos + 16 + incl
            if end > len(buf):
                if not s.ensure(16 + incl):
                    self._end(
                        number + 1,
                        f"record truncated ({max(s.available() - 16, 0)} of {incl} bytes); "
                        "capture ends here",
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
            if frac >= units or t > LATEST_TIME:
                t = clock.pcap(number, sec, frac, units, resolution)
            else:
                clock.last = t
            if number == 1:
                info.first_time = t
            info.last_time = t
            if skip is not None and skip(link_type, buf, pos + 16, incl):
                if incl:
                    self._useless = 0
                elif self._no_data(number):
                    return
                continue
            yield number, t, link_type, buf[pos + 16 : end], orig, 0
            if incl:
                self._useless = 0
            elif self._no_data(number):
                return

    def _no_data(self, number: int) -> bool:
        """Count a record that gave no captured byte (empty, or skipped as invalid); after
        :data:`MAX_EMPTY_RUN` in a row the stream stops here, with a message (True)."""
        self._useless += 1
        if self._useless < MAX_EMPTY_RUN:
            return False
        self._end(
            number + 1,
            f"the {self._useless:,} records up to here hold no captured byte (empty or "
            "invalid); the rest of the file is taken for padding or a decompression bomb and "
            "was not read",
        )
        return True

    # ------------------------------------------------------------------ pcapng

    def _frame_number(self, pos: int) -> int:
        """Count a new frame whose block starts at ``pos`` (in the buffer)."""
        self.info.frames += 1
        if self.offsets is not None:
            self.offsets.append(self._stream.base + pos)
        return self.info.frames

    def _read_pcapng(self) -> Iterator[RawFrame]:
        s = self._stream
        endian = "<"
        interfaces: list[InterfaceInfo] = []
        clock = self._clock
        skipped_interfaces = 0
        while True:
            number = self.info.frames
            if not s.ensure(12):
                if s.available() or self._damage() is not None:
                    self._end(
                        number + 1,
                        f"block header truncated ({s.available()} of 12 bytes); capture ends here",
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
                    self._end(
                        number + 1,
                        f"section header with bad byte-order magic {bom.hex()}; the rest of "
                        "the file was not read",
                    )
                    return
                interfaces = []
                skipped_interfaces = 0
                self.info.interfaces = interfaces
            block_type, block_len = struct.unpack_from(endian + "II", buf, pos)
            if block_len < 12 or block_len % 4 or block_len > MAX_BLOCK_BYTES:
                why = (
                    f"over the limit of {MAX_BLOCK_BYTES} bytes"
                    if block_len > MAX_BLOCK_BYTES
                    else "not a multiple of 4 of at least 12"
                )
                self._end(
                    number + 1,
                    f"corrupt block (type {block_type:#x}, length {block_len}: {why}); the "
                    "rest of the file was not read",
                )
                return
            if not s.ensure(block_len):
                self._end(
                    number + 1,
                    f"block truncated (type {block_type:#x}, {s.available()} of {block_len} "
                    "bytes); capture ends here",
                )
                return
            buf = s.buf
            pos = s.pos
            s.pos = pos + block_len
            body = pos + 8
            body_end = pos + block_len - 4
            if block_type == 6 or block_type == 2:  # Enhanced / obsolete Packet Block
                if body_end - body < 20:
                    number = self._frame_number(pos)
                    self._warn(number, "packet block too short for its header; skipped", "block")
                    if self._no_data(number):
                        return
                    continue
                if block_type == 6:
                    iface, ts_hi, ts_lo, incl, orig = struct.unpack_from(
                        endian + "IIIII", buf, body
                    )
                else:
                    iface, _drops, ts_hi, ts_lo, incl, orig = struct.unpack_from(
                        endian + "HHIIII", buf, body
                    )
                number = self._frame_number(pos)
                if iface >= len(interfaces):
                    why = (
                        f"beyond the limit of {MAX_INTERFACES} interfaces"
                        if iface < len(interfaces) + skipped_interfaces
                        else "which no interface block described"
                    )
                    self._warn(number, f"refers to interface {iface}, {why}; skipped", "block")
                    if self._no_data(number):
                        return
                    continue
                if body + 20 + incl > body_end:
                    self._warn(
                        number,
                        f"captured length {incl} runs past its block of {block_len} bytes; skipped",
                        "block",
                    )
                    if self._no_data(number):
                        return
                    continue
                info = interfaces[iface]
                if info.snaplen and incl > info.snaplen:
                    self._warn(
                        number,
                        f"captured length {incl} is larger than interface {iface}'s snapshot "
                        f"length {info.snaplen}; kept",
                        "length",
                    )
                ticks = (ts_hi << 32) | ts_lo
                t = ticks * info.ts_resolution + info.ts_offset
                if (
                    not (EARLIEST_TIME <= t <= LATEST_TIME)
                    or info.ts_resolution < FINEST_RESOLUTION
                ):
                    t = clock.pcapng(number, ticks, info.ts_code, info.ts_offset)
                else:
                    clock.last = t
                self._times(number, t)
                if self.skip is not None and self.skip(info.link_type, buf, body + 20, incl):
                    if incl:
                        self._useless = 0
                    elif self._no_data(number):
                        return
                    continue
                yield number, t, info.link_type, buf[body + 20 : body + 20 + incl], orig, iface
                if incl:
                    self._useless = 0
                elif self._no_data(number):
                    return
            elif block_type == 3:  # Simple Packet Block
                number = self._frame_number(pos)
                if not interfaces:
                    self._warn(
                        number, "simple packet block before any interface block; skipped", "block"
                    )
                    continue
                if body_end - body < 4:
                    self._warn(number, "simple packet block too short; skipped", "block")
                    continue
                (orig,) = struct.unpack_from(endian + "I", buf, body)
                info = interfaces[0]
                incl = min(orig, body_end - body - 4)
                if info.snaplen:
                    incl = min(incl, info.snaplen)
                yield number, 0.0, info.link_type, buf[body + 4 : body + 4 + incl], orig, 0
            elif block_type == 1:  # Interface Description Block
                if body_end - body < 8:
                    self._end(
                        number + 1,
                        "interface description block too short; the rest of the file was not read",
                        "block",
                    )
                    return
                if len(interfaces) >= MAX_INTERFACES:
                    if not skipped_interfaces:
                        self._warn(
                            number + 1,
                            f"more than {MAX_INTERFACES} interfaces in one section; frames on "
                            "the others are skipped",
                            "block",
                            pos + s.base,
                        )
                    skipped_interfaces += 1
                    continue
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
            value = buf[pos : min(pos + length, end)]
            pos += (length + 3) & ~3
            if code == 9 and len(value) >= 1:  # if_tsresol
                info.ts_code = value[0]
                info.ts_resolution = resolution_seconds(value[0])
            elif code == 14 and len(value) == 8:  # if_tsoffset
                info.ts_offset = struct.unpack(endian + "q", value)[0]
            elif code == 2:  # if_name
                info.name = value.decode("utf-8", "replace")
