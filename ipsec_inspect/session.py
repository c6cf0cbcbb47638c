"""Wires a capture through the pipeline: the one object commands and the TUI use.

Why: every consumer needs the same sequence — open the capture (turning "missing file"
or "not a capture" into one clear sentence), load the keys (reporting bad rows per file
and line), decode, decrypt — and the same bookkeeping of what went wrong along the way.
Layers below know nothing of each other; this module is where they meet.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from ipsec_inspect.cli import InputError
from ipsec_inspect.pipeline import read_records
from ipsec_inspect.records import CaptureWarning, Record
from ipsec_inspect.sources.capture_file import CaptureError, CaptureInfo
from ipsec_inspect.wire.decoder import DecodeOptions, Decoder

if TYPE_CHECKING:  # decryption is loaded only when keys are given: faster start-up
    from ipsec_inspect.crypto.decryptor import Decryptor
    from ipsec_inspect.crypto.keys import KeyStore


def load_keys(paths: Sequence[str | os.PathLike[str]]) -> KeyStore:
    """All key files into one store; an unreadable path is an input error."""
    from ipsec_inspect.crypto.keyfiles.detect import load_key_path
    from ipsec_inspect.crypto.keys import KeyStore

    store = KeyStore()
    for p in paths:
        if not os.path.exists(p):
            raise InputError(f"{os.fspath(p)}: no such key file or folder")
        try:
            store.merge(load_key_path(os.fspath(p)))
        except (OSError, ValueError) as e:
            raise InputError(f"{os.fspath(p)}: cannot read keys ({e})") from None
    return store


@dataclass
class RecordStream:
    """Iterate the (decrypted, where keys allow) records of one capture."""

    path: str
    options: DecodeOptions
    keys: KeyStore | None = None
    warnings: list[CaptureWarning] = field(default_factory=list)
    decoder: Decoder = field(init=False)
    decryptor: Decryptor | None = field(init=False, default=None)
    _info: list[CaptureInfo] = field(init=False, default_factory=list)
    _iter: Iterator[Record] | None = field(init=False, default=None)
    _first: Record | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.decoder = Decoder(self.options)
        if self.keys is not None:
            from ipsec_inspect.crypto.decryptor import Decryptor

            self.decryptor = Decryptor(self.keys)
        try:
            self._iter = read_records(
                self.path,
                self.options,
                on_warning=self.warnings.append,
                info=self._info,
                decoder=self.decoder,
            )
            # Open the file now, so "not a capture" is reported before any output.
            self._first = next(self._iter, None)
        except CaptureError as e:
            raise InputError(str(e)) from None

    @property
    def info(self) -> CaptureInfo:
        return self._info[0]

    def __iter__(self) -> Iterator[Record]:
        first = self._first
        if first is None or self._iter is None:
            return
        self._first = None
        process = self.decryptor.process if self.decryptor is not None else None
        if process is None:
            yield first
            yield from self._iter
            return
        yield process(first)
        for r in self._iter:
            yield process(r)

    def __enter__(self) -> RecordStream:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def problems(self) -> list[str]:
        """Everything the user should know that is not a record: file damage, key rows."""
        out = [f"frame {w.frame}: {w.message}" if w.frame else w.message for w in self.warnings]
        if self.keys is not None:
            out.extend(self.keys.problems)
        if self.decryptor is not None:
            out.extend(self.decryptor.problems())
        return out

    def report_problems(self, fh: TextIO) -> None:
        for line in self.problems():
            fh.write(f"ipsec-inspect: warning: {line}\n")


def open_records(
    path: str | os.PathLike[str],
    options: DecodeOptions | None = None,
    key_paths: Sequence[str] = (),
) -> RecordStream:
    keys = load_keys(key_paths) if key_paths else None
    return RecordStream(os.fspath(path), options or DecodeOptions(), keys)
