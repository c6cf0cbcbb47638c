"""Small helpers every key-file format shares: hex values, SPIs, problem messages."""

from __future__ import annotations

import re

from ipsec_inspect.crypto.keys import SPI_MASK_ALL

_HEX = re.compile(r"^[0-9a-fA-F]*$")


class KeyFileError(ValueError):
    """A key path that cannot be read at all (missing, unreadable, unknown format)."""


def parse_hex(text: str) -> bytes:
    """Hex with optional ``0x`` prefix and ``:``/space/``-`` separators; an odd digit
    count is left-padded with one zero nibble (as Wireshark does). Raises ValueError."""
    digits = text.strip()
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    digits = re.sub(r"[\s:\-]", "", digits)
    if not _HEX.match(digits):
        raise ValueError(f"not hexadecimal: {text.strip()[:20]!r}")
    if len(digits) % 2:
        digits = "0" + digits
    return bytes.fromhex(digits)


def parse_spi(text: str | int) -> tuple[int, int]:
    """(spi, mask) from an int, ``*``, decimal, ``0x`` hex, or ``0x`` hex with ``*``
    nibbles (Wireshark's per-nibble SPI wildcards). Raises ValueError."""
    if isinstance(text, int):
        if not 0 <= text <= 0xFFFFFFFF:
            raise ValueError(f"SPI {text} does not fit in 32 bits")
        return text, SPI_MASK_ALL
    s = text.strip()
    if s == "*":
        return 0, 0
    if s[:2].lower() == "0x":
        digits = s[2:]
        if not digits or len(digits) > 8 or not re.match(r"^[0-9a-fA-F*]+$", digits):
            raise ValueError(f"bad SPI {s!r}")
        digits = digits.rjust(8, "0")
        value = int(digits.replace("*", "0"), 16)
        mask = int("".join("0" if c == "*" else "f" for c in digits), 16)
        return value, mask
    if s.isdigit():
        value = int(s)
        if value > 0xFFFFFFFF:
            raise ValueError(f"SPI {s} does not fit in 32 bits")
        return value, SPI_MASK_ALL
    raise ValueError(f"bad SPI {s!r}")


def format_spi(spi: int, mask: int) -> str:
    """The Wireshark/TOML text of an SPI with wildcard nibbles (``*`` when all wild)."""
    if mask == 0:
        return "*"
    digits = f"{spi:08x}"
    if mask == SPI_MASK_ALL:
        return "0x" + digits
    nibbles = f"{mask:08x}"
    return "0x" + "".join(d if m == "f" else "*" for d, m in zip(digits, nibbles, strict=True))


def where(name: str, line: int) -> str:
    return f"{name}:{line}"
