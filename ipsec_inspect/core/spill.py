"""An anonymous temporary file of blobs: append bytes, read them back by handle.

Why in core: the tracker is sans-I/O and parks state it cannot yet settle
(``lifecycle.parked``) into whatever store it is handed; the pipeline hands it this one.
The file has no name (``tempfile.TemporaryFile``), is never read by anyone else and goes
away with the process.
"""

from __future__ import annotations

import tempfile


class SpillFile:
    """Blobs appended to one temporary file; a handle is ``(offset, length)``."""

    def __init__(self) -> None:
        self._fh = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the store
        self._end = 0
        self.bytes_written = 0

    def put(self, data: bytes) -> tuple[int, int]:
        self._fh.seek(self._end)
        self._fh.write(data)
        handle = (self._end, len(data))
        self._end += len(data)
        self.bytes_written += len(data)
        return handle

    def get(self, handle: tuple[int, int]) -> bytes:
        offset, length = handle
        self._fh.seek(offset)
        return self._fh.read(length)

    def close(self) -> None:
        self._fh.close()
