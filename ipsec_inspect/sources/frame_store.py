"""Random access to frames of a capture that was read once, by frame number.

Why: the TUI's packet list shows a million packets without holding a million records.
During the streaming pass the reader notes each frame's offset in the (decompressed)
stream — eight bytes a frame — and this store reads a frame back when a row scrolls into
view. A compressed capture is decompressed once into a temporary file so that seeking is
cheap (up to where the streaming pass found it damaged: the offsets end there too).

Times read back here are the file's raw fields; the views take a frame's time from the
packet index, which holds the time the streaming pass accepted (see
:mod:`~ipsec_inspect.sources.timestamps`).
"""

from __future__ import annotations

import os
import struct
import tempfile
from array import array

from ipsec_inspect.sources.capture_file import (
    CHUNK,
    MAX_BLOCK_BYTES,
    PCAP_MAGICS,
    PCAPNG_SHB,
    CaptureInfo,
    _open_stream,
)


class FrameStore:
    """Read frame ``n`` (1-based) back from the file, given the offsets the reader noted."""

    def __init__(self, path: str, info: CaptureInfo, offsets: array[int]) -> None:
        self.info = info
        self.offsets = offsets
        self._tmp: str | None = None
        if info.compressed:
            fd, self._tmp = tempfile.mkstemp(prefix="ipsec-inspect-", suffix=".cap")
            src, raw, _kind = _open_stream(path)
            # only as far as the streaming pass read frames: a bomb's tail is not copied
            left = (offsets[-1] if offsets else 0) + MAX_BLOCK_BYTES
            try:
                with os.fdopen(fd, "wb") as out:
                    while left > 0 and (chunk := src.read(min(CHUNK, left))):
                        out.write(chunk)
                        left -= len(chunk)
            finally:
                src.close()
                raw.close()
            path = self._tmp
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        head = self._fh.read(24)
        if head[:4] in PCAP_MAGICS:
            self._endian, self._res = PCAP_MAGICS[head[:4]]
            self._pcap = True
        elif head[:4] == PCAPNG_SHB:
            self._endian = "<" if head[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
            self._pcap = False
        else:
            raise ValueError(f"{path}: not a capture")

    def close(self) -> None:
        self._fh.close()
        if self._tmp is not None:
            try:
                os.unlink(self._tmp)
            except OSError:
                pass
            self._tmp = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __len__(self) -> int:
        return len(self.offsets)

    def frame(self, number: int) -> tuple[int, float, int, bytes, int, int] | None:
        """The frame as the reader yielded it, or None if it cannot be read back."""
        if not 1 <= number <= len(self.offsets):
            return None
        off = self.offsets[number - 1]
        fh = self._fh
        fh.seek(off)
        if self._pcap:
            hdr = fh.read(16)
            if len(hdr) < 16:
                return None
            sec, frac, incl, orig = struct.unpack(self._endian + "IIII", hdr)
            data = fh.read(incl)
            link_type = self.info.interfaces[0].link_type if self.info.interfaces else 1
            return number, sec + frac * self._res, link_type, data, orig, 0
        hdr = fh.read(8)
        if len(hdr) < 8:
            return None
        btype, blen = struct.unpack(self._endian + "II", hdr)
        body = fh.read(blen - 12)
        if btype == 6 and len(body) >= 20:
            iface, hi, lo, incl, orig = struct.unpack_from(self._endian + "IIIII", body)
            if iface >= len(self.info.interfaces):
                return None
            ii = self.info.interfaces[iface]
            t = ((hi << 32) | lo) * ii.ts_resolution + ii.ts_offset
            return number, t, ii.link_type, body[20 : 20 + incl], orig, iface
        if btype == 3 and len(body) >= 4 and self.info.interfaces:
            (orig,) = struct.unpack_from(self._endian + "I", body)
            ii = self.info.interfaces[0]
            return number, 0.0, ii.link_type, body[4 : 4 + min(orig, len(body) - 4)], orig, 0
        if btype == 2 and len(body) >= 20:
            iface, _d, hi, lo, incl, orig = struct.unpack_from(self._endian + "HHIIII", body)
            if iface >= len(self.info.interfaces):
                return None
            ii = self.info.interfaces[iface]
            return (
                number,
                ((hi << 32) | lo) * ii.ts_resolution + ii.ts_offset,
                ii.link_type,
                body[20 : 20 + incl],
                orig,
                iface,
            )
        return None
