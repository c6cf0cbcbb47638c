"""Small helpers every key-file format shares: hex values, SPIs, problem messages."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ipsec_inspect.crypto.keys import SPI_MASK_ALL

_HEX = re.compile(r"^[0-9a-fA-F]*$")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class KeyFileError(ValueError):
    """A key path that cannot be used (missing, unreadable, unknown format, or broken:
    see :class:`KeyFileValueError`). The message is one sentence naming the path."""


class KeyValueError(ValueError):
    """A value in a key file that is wrong — its type, its hex, its length for the
    algorithm. It names the field; the loader adds the file and line
    (:class:`KeyFileValueError`). The message never contains the value: it may be a key.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class KeyFileValueError(KeyFileError):
    """A broken key file: ``FILE:LINE: FIELD: reason``. Such a file is refused as a whole
    (exit 3), since keys read around a typo would decrypt some SAs and silently not others."""

    def __init__(self, name: str, line: int, field: str, reason: str) -> None:
        where_ = f"{name}:{line}" if line else name
        super().__init__(f"{where_}: {field}: {reason}" if field else f"{where_}: {reason}")
        self.name = name
        self.line = line
        self.field = field
        self.reason = reason


def parse_hex(text: str, field: str = "value", *, pad_odd: bool = False) -> bytes:
    """Hex with optional ``0x`` prefix and ``:``/space/``-`` separators. A character that is
    not a hex digit or an odd digit count (half a byte: a typo or a cut key) raises
    :class:`KeyValueError` naming ``field``, never the value. ``pad_odd``: left-pad an odd
    count with one zero nibble instead, as Wireshark does for ``esp_sa`` keys (its wiki's
    sample files rely on it)."""
    digits = text.strip()
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    digits = re.sub(r"[\s:\-]", "", digits)
    if not _HEX.match(digits):
        bad = next(i for i, c in enumerate(digits, 1) if c not in _HEX_DIGITS)
        raise KeyValueError(field, f"not hexadecimal (hex digit {bad} is not 0-9 or a-f)")
    if len(digits) % 2 and pad_odd:
        digits = "0" + digits
    elif len(digits) % 2:
        raise KeyValueError(
            field, f"{len(digits)} hex digits, an odd count: keys are whole bytes (2 digits each)"
        )
    return bytes.fromhex(digits)


def parse_spi(text: str | int) -> tuple[int, int]:
    """(spi, mask) from an int, ``*``, decimal, ``0x`` hex, or ``0x`` hex with ``*``
    nibbles (Wireshark's per-nibble SPI wildcards). Raises KeyValueError."""
    if isinstance(text, int):
        if not 0 <= text <= 0xFFFFFFFF:
            raise KeyValueError("spi", f"{text} does not fit in 32 bits")
        return text, SPI_MASK_ALL
    s = text.strip()
    if s == "*":
        return 0, 0
    if s[:2].lower() == "0x":
        digits = s[2:]
        if not digits or len(digits) > 8 or not re.match(r"^[0-9a-fA-F*]+$", digits):
            raise KeyValueError("spi", f"{s!r} is not an SPI (0x hex, decimal or *)")
        digits = digits.rjust(8, "0")
        value = int(digits.replace("*", "0"), 16)
        mask = int("".join("0" if c == "*" else "f" for c in digits), 16)
        return value, mask
    if s.isdigit():
        value = int(s)
        if value > 0xFFFFFFFF:
            raise KeyValueError("spi", f"{s} does not fit in 32 bits")
        return value, SPI_MASK_ALL
    raise KeyValueError("spi", f"{s!r} is not an SPI (0x hex, decimal or *)")


def format_spi(spi: int, mask: int) -> str:
    """The Wireshark/TOML text of an SPI with wildcard nibbles (``*`` when all wild)."""
    if mask == 0:
        return "*"
    digits = f"{spi:08x}"
    if mask == SPI_MASK_ALL:
        return "0x" + digits
    nibbles = f"{mask:08x}"
    return "0x" + "".join(d if m == "f" else "*" for d, m in zip(digits, nibbles, strict=True))


def iter_lines(text: str) -> Iterator[str]:
    """The lines of ``text`` one at a time, so a content test that needs the first
    meaningful line does not split (and hold) a 16 MiB file into a list first."""
    start, n = 0, len(text)
    while start < n:
        end = text.find("\n", start)
        if end < 0:
            end = n
        yield text[start:end].rstrip("\r")
        start = end + 1


def where(name: str, line: int) -> str:
    return f"{name}:{line}"
