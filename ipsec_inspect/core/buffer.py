"""A bounds-checked reader that every parser uses.

Why: capture data is hostile input. Parsers are written as straight-line reads against
this reader, so a length field that lies cannot make them index past the end of the
data; the reader raises one specific error (:class:`Truncated`) that names the offset,
which the dissector turns into a record-level error instead of an exception that ends
the run.
"""

from __future__ import annotations

import builtins
import struct

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")


class Truncated(ValueError):
    """A read ran past the end of the available bytes."""

    def __init__(self, what: str, offset: int, wanted: int, available: int) -> None:
        self.what = what
        self.offset = offset
        self.wanted = wanted
        self.available = available
        super().__init__(
            f"{what}: needs {wanted} bytes at offset {offset} but only {available} remain"
        )


class Reader:
    """Sequential reader over ``data[start:end]`` with absolute offsets.

    Offsets are absolute positions in ``data`` (usually the whole frame), so every field a
    parser records can be highlighted in the frame's hex view without translation.
    """

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else min(end, len(data))

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def _need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.end:
            raise Truncated(what, self.pos, n, max(0, self.end - self.pos))

    def u8(self, what: str = "uint8") -> int:
        self._need(1, what)
        v = self.data[self.pos]
        self.pos += 1
        return v

    def u16(self, what: str = "uint16") -> int:
        self._need(2, what)
        v: int = _U16.unpack_from(self.data, self.pos)[0]
        self.pos += 2
        return v

    def u24(self, what: str = "uint24") -> int:
        self._need(3, what)
        d = self.data
        p = self.pos
        self.pos += 3
        return (d[p] << 16) | (d[p + 1] << 8) | d[p + 2]

    def u32(self, what: str = "uint32") -> int:
        self._need(4, what)
        v: int = _U32.unpack_from(self.data, self.pos)[0]
        self.pos += 4
        return v

    def u64(self, what: str = "uint64") -> int:
        self._need(8, what)
        v: int = _U64.unpack_from(self.data, self.pos)[0]
        self.pos += 8
        return v

    def bytes(self, n: int, what: str = "bytes") -> builtins.bytes:
        self._need(n, what)
        v = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return v

    def rest(self) -> builtins.bytes:
        v = bytes(self.data[self.pos : self.end])
        self.pos = self.end
        return v

    def skip(self, n: int, what: str = "bytes") -> None:
        self._need(n, what)
        self.pos += n

    def sub(self, n: int, what: str = "sub-block") -> Reader:
        """A reader over the next ``n`` bytes; this reader moves past them."""
        self._need(n, what)
        r = Reader(self.data, self.pos, self.pos + n)
        self.pos += n
        return r
