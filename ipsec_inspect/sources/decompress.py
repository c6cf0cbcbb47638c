"""Compressed captures (gzip, xz, bzip2): decompression that is bounded and that keeps
everything before the damage.

Why not ``gzip.GzipFile``: it raises ``zlib.error`` (not an ``OSError``) on damaged data,
and it decompresses 128 KiB of input per call, so a flipped byte near the start lost every
frame before it. It also reads a gzip bomb (a valid header, then gigabytes of zeros) to
the end. Here the compressed input is fed in pieces of :data:`INPUT_PIECE` bytes with the
output of each call bounded; on damage the last piece is replayed one byte at a time from
a copy of the decompressor state taken before it, so every byte that can be decompressed
is handed on before the stream ends. Damage never raises: :attr:`Decompressed.damage` says
what went wrong and where, and the stream then ends as if the file did.

A stream whose output grows more than :data:`MAX_COMPRESSION_RATIO` times its input (once
past :data:`RATIO_GRACE_BYTES`) is stopped the same way: real captures compress about 3 to
30 times, a bomb of zeros a thousand times.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from typing import BinaryIO, Protocol

#: Compressed bytes fed to the decompressor per call.
INPUT_PIECE = 16 * 1024
#: Decompressed bytes one call may return (bounds memory whatever the input holds).
OUTPUT_PIECE = 1 << 20
#: Output bytes per input byte beyond which the stream is taken for a decompression bomb.
MAX_COMPRESSION_RATIO = 250
#: Output bytes read before the ratio is checked (small files may compress very well).
RATIO_GRACE_BYTES = 64 << 20

GZIP_MAGIC = b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"
BZIP2_MAGIC = b"BZh"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LZ4_MAGIC = b"\x04\x22\x4d\x18"


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


def compression_of(head: bytes) -> str | None:
    """``gzip``, ``xz``, ``bzip2``, ``zstd``, ``lz4`` from a file's first bytes; None if none."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(BZIP2_MAGIC) and len(head) >= 4 and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(LZ4_MAGIC):
        return "lz4"
    return None


SUPPORTED = ("gzip", "xz", "bzip2")
_ERRORS: tuple[type[Exception], ...] = (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError)


def _new(kind: str) -> _Decompressor:
    if kind == "gzip":
        return zlib.decompressobj(wbits=31)
    if kind == "xz":
        return lzma.LZMADecompressor()
    return bz2.BZ2Decompressor()


class Decompressed:
    """A read-only binary stream over a compressed file: ``read(n)`` returns at most ``n``
    bytes, ``b""`` at the end (or after damage, see :attr:`damage`)."""

    def __init__(self, raw: BinaryIO, kind: str) -> None:
        self.raw = raw
        self.kind = kind
        self._d: _Decompressor = _new(kind)
        self._tail = b""  # compressed input given but not yet consumed
        self._out = bytearray()
        self._pos = 0  # output bytes handed on so far
        self._in = 0  # compressed bytes consumed so far
        self._members = 1
        self._member_start = 0  # compressed offset where the current member starts
        self._member_out = 0  # output bytes the current member has produced so far
        self.damage: str | None = None
        self.done = False

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self.raw.close()

    def read(self, n: int) -> bytes:
        while len(self._out) < n and not self.done:
            self._fill()
        chunk = bytes(self._out[:n])
        del self._out[:n]
        self._pos += len(chunk)
        return chunk

    def _stop(self, why: str) -> None:
        self.damage = why
        self.done = True

    def _fill(self) -> None:
        d = self._d
        if d.eof:
            self._next_member(d.unused_data + self._tail)
            return
        pending = not getattr(d, "needs_input", True)  # lzma/bz2 hold input they have not used
        data = self._tail or (b"" if pending else self.raw.read(INPUT_PIECE))
        self._tail = b""
        if not data and not pending:
            self._stop(
                f"{self.kind} stream ends early (compressed file cut at byte {self._in}); "
                "the capture ends here"
            )
            return
        copy = getattr(d, "copy", None)  # zlib only: the state to replay a damaged piece from
        before = copy() if copy is not None else None
        try:
            out = d.decompress(data, OUTPUT_PIECE)
        except _ERRORS as e:
            self._salvage(before, data, e)
            return
        tail: bytes = getattr(d, "unconsumed_tail", b"")
        unused = len(d.unused_data) if d.eof else 0
        self._in += len(data) - len(tail) - unused
        self._tail = tail
        self._out += out
        self._member_out += len(out)
        produced = self._pos + len(self._out)
        if produced > RATIO_GRACE_BYTES and produced > MAX_COMPRESSION_RATIO * max(self._in, 1):
            self._stop(
                f"{self.kind} stream expands more than {MAX_COMPRESSION_RATIO} times "
                f"({produced:,} bytes from {self._in:,}): taken for a decompression bomb; "
                "the rest was not read"
            )

    def _next_member(self, rest: bytes) -> None:
        """After one compressed stream ends: another member (concatenated files form one
        stream), zero padding, or trailing garbage (reported, and the stream ends)."""
        self._tail = b""
        if not rest:
            rest = self.raw.read(INPUT_PIECE)
        if not rest:
            self.done = True
            return
        if compression_of(rest) == self.kind:
            self._members += 1
            self._member_start = self._in
            self._member_out = 0
            self._d = _new(self.kind)
            self._tail = rest
            return
        while not rest.strip(b"\x00"):  # zero padding after the stream: skip to the end
            self._in += len(rest)
            rest = self.raw.read(INPUT_PIECE)
            if not rest:
                self.done = True
                return
        self._stop(
            f"{len(rest)}+ bytes of trailing data after the {self.kind} stream at compressed "
            f"byte {self._in} were ignored"
        )

    def _salvage(self, before: _Decompressor | None, data: bytes, error: Exception) -> None:
        """Replay ``data`` byte by byte from the state before it, keeping all output up to
        the damaged byte; then stop with a message naming the compressed offset.

        zlib states can be copied, so the replay starts from the copy. xz and bzip2 states
        cannot: their member is decompressed again from its start (once, and with bounded
        output per call), discarding what was already handed on."""
        at = self._in
        if before is None:
            before = self._rewind()
        if before is not None:
            for i in range(len(data)):
                try:
                    self._out += before.decompress(data[i : i + 1])
                except _ERRORS:
                    at = self._in + i
                    break
        reason = str(error) or type(error).__name__
        self._stop(
            f"{self.kind} data corrupt at compressed byte {at} ({reason}); the capture ends here"
        )

    def _rewind(self) -> _Decompressor | None:
        """A fresh decompressor fed the current member up to the damaged piece (its output
        already handed on is dropped). None if the file cannot seek or the replay fails."""
        try:
            self.raw.seek(self._member_start)
        except (OSError, ValueError):
            return None
        d = _new(self.kind)
        left = self._in - self._member_start
        skip = self._member_out
        try:
            while left > 0:
                piece = self.raw.read(min(INPUT_PIECE, left))
                if not piece:
                    return None
                left -= len(piece)
                out = d.decompress(piece, OUTPUT_PIECE)
                while True:
                    if len(out) <= skip:
                        skip -= len(out)
                    else:
                        self._out += out[skip:]
                        skip = 0
                    if getattr(d, "needs_input", True) or d.eof:
                        break
                    out = d.decompress(b"", OUTPUT_PIECE)
        except _ERRORS:
            return None
        return d
