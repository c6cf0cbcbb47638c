"""Checks a key file passes before its values are used: size, TOML syntax and nesting,
the type of every field, and where (which line) a field is.

Why a layer of its own: the loaders turn values into keys; this module decides what is
*broken* — a wrong type, bad hex, a key length that does not fit the algorithm — and
says so naming the file, the line and the field (:class:`KeyFileValueError`, exit 3).
What is merely unusable (an unknown algorithm name, an unknown field) stays a warning in
the store's ``problems``, as before. Keeping it apart lets the algorithm rows change
without touching these rules.
"""

from __future__ import annotations

import datetime
import re
import tomllib
from collections.abc import Callable, Mapping
from typing import Any

from ipsec_inspect.crypto.keyfiles.common import KeyFileError, KeyFileValueError, KeyValueError

#: A key file larger than this is refused before it is read: key files are kilobytes, and
#: even a charon log at ``ike 4`` of a long session is a few megabytes. Reading is bounded
#: by this limit whatever the file is (a pipe, a device).
MAX_KEY_FILE_BYTES = 16 * 1024 * 1024

#: TOML nesting (arrays and inline tables) deeper than this is refused before parsing;
#: our format needs two levels, and Python's TOML parser recurses once per level.
MAX_TOML_NESTING = 32

_TOML_LINE = re.compile(r"\(at (?:line (\d+), column \d+|end of document)\)$")
_KEY_AT_LINE = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")

#: The TOML type of each field of our key format, as the user writes it.
_STRING = (str,)
_INTEGER = (int,)
_SPI = (str, int)
_FIELD_TYPES: dict[str, dict[str, tuple[type, ...]]] = {
    "ike": {
        "version": _INTEGER,
        "encryption_key_bits": _INTEGER,
        "dh_group": _INTEGER,
        **dict.fromkeys(
            [
                "spi_i",
                "spi_r",
                "encryption",
                "integrity",
                "prf",
                "origin",
                "sk_d",
                "sk_ai",
                "sk_ar",
                "sk_ei",
                "sk_er",
                "sk_pi",
                "sk_pr",
                "skeyseed",
                "skeyid",
                "skeyid_d",
                "skeyid_a",
                "skeyid_e",
                "enc_key",
                "initial_iv",
                "dh_secret",
                "nonce_i",
                "nonce_r",
            ],
            _STRING,
        ),
    },
    "esp": {
        "spi": _SPI,
        "encryption_key_bits": _INTEGER,
        "esn": (bool,),
        **dict.fromkeys(
            ["src", "dst", "encryption", "encryption_key", "integrity", "integrity_key", "origin"],
            _STRING,
        ),
    },
    "child_pfs": {
        "spi_in": _SPI,
        "spi_out": _SPI,
        "dh_group": _INTEGER,
        "dh_secret": _STRING,
        "origin": _STRING,
    },
}
_FIELD_TYPES["ah"] = _FIELD_TYPES["esp"]
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false"}


def toml_type_name(value: object) -> str:
    """What a TOML value is, in TOML's words (for "must be a string, not a float")."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.datetime):
        return "a date-time"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, datetime.time):
        return "a time"
    return type(value).__name__


def check_field_types(kind: str, table: Mapping[str, Any]) -> None:
    """Raise :class:`KeyValueError` for the first field of ``table`` whose TOML type is
    wrong for ``kind`` (``ike``, ``esp``, ``ah``, ``child_pfs``). Unknown fields are not
    checked here (they are reported as ignored)."""
    types = _FIELD_TYPES[kind]
    for name, value in table.items():
        allowed = types.get(name)
        if allowed is None:
            continue
        ok = isinstance(value, allowed) and not (
            isinstance(value, bool) and bool not in allowed
        )  # TOML true is not the integer 1
        if not ok:
            wanted = " or ".join(_TYPE_NAMES[t] for t in allowed)
            raise KeyValueError(name, f"must be {wanted}, not {toml_type_name(value)}")


def field_line(text: str, header_line: int, field: str) -> int:
    """The 1-based line where ``field = …`` is set in the table whose header is on
    ``header_line`` (tomllib gives no positions); the header's line when not found."""
    if not header_line:
        return 0
    lines = text.splitlines()
    for number in range(header_line, len(lines)):  # the lines after the header
        line = lines[number]
        if line.lstrip().startswith("["):
            break
        m = _KEY_AT_LINE.match(line)
        if m and m.group(1) == field:
            return number + 1
    return header_line


def top_level_line(text: str, key: str) -> int:
    """The first line that sets or opens ``key`` (``key = …``, ``[key]``, ``[[key]]``), or 0."""
    pattern = re.compile(rf"^\s*(\[\[?\s*{re.escape(key)}\s*\]|{re.escape(key)}\s*=)")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return 0


def _nesting_line(text: str, limit: int) -> int:
    """The line where arrays/inline tables first nest deeper than ``limit``, or 0.

    A scan that skips strings and comments; cheap (one pass) and exact enough to point
    at the place, so the parser never has to recurse that deep.
    """
    depth = 0
    line = 1
    quote = ""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            if quote in ('"', "'"):
                quote = ""  # a basic string ends at the line's end (the parser will say so)
        elif quote:
            if c == "\\" and quote in ('"', '"""'):
                i += 1
            elif text.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            i += len(quote) - 1
        elif c in "[{":
            depth += 1
            if depth > limit:
                return line
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1
    return 0


def parse_toml(text: str, name: str) -> dict[str, Any]:
    """Parse TOML text, or raise :class:`KeyFileValueError` naming the file, the line and
    (where the line sets one) the field. Nesting is bounded before parsing."""
    deep = _nesting_line(text, MAX_TOML_NESTING)
    if deep:
        raise KeyFileValueError(
            name, deep, _field_at(text, deep), f"nested more than {MAX_TOML_NESTING} levels deep"
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = _TOML_LINE.search(message)
        line = (int(m.group(1)) if m.group(1) else text.count("\n") + 1) if m else 0
        reason = _TOML_LINE.sub("", message).strip()
        field = _field_at(text, line)
        raise KeyFileValueError(name, line, field, f"not valid TOML: {reason}") from None
    except RecursionError:  # a nesting the scan above did not see
        raise KeyFileValueError(name, 0, "", "not valid TOML: nested too deeply") from None


def _field_at(text: str, line: int) -> str:
    if line <= 0:
        return ""
    lines = text.splitlines()
    if line > len(lines):
        return ""
    m = _KEY_AT_LINE.match(lines[line - 1])
    return m.group(1) if m else ""


def read_limited(open_binary: Callable[[], Any], name: str) -> str:
    """The text of a key file, reading at most :data:`MAX_KEY_FILE_BYTES` (+1 to tell)."""
    with open_binary() as fh:
        data = fh.read(MAX_KEY_FILE_BYTES + 1)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise too_large(name)
    return bytes(data).decode("utf-8", errors="replace")


def too_large(name: str) -> KeyFileError:
    return KeyFileError(
        f"{name}: larger than {MAX_KEY_FILE_BYTES // (1024 * 1024)} MiB, too large for a "
        "key file (cut a charon log down to the connections in question)"
    )
