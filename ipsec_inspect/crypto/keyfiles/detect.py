"""``load_key_path``: one entry point for every key format, detected from content.

Why content and not file names: users pass whatever they have (a saved ``ip xfrm state``,
a charon log, a Wireshark profile folder, our TOML); only Wireshark's table names are
fixed, so those are used as a hint and everything else is sniffed.

Formats added by plugins (``formats``, the key-format rows of the run's
``core.extensions.Extensions``) are tried only after every built-in format missed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ipsec_inspect.core.extensions import KeyFormat
from ipsec_inspect.crypto.keyfiles import strongswan, tcpdump, toml_keys, wireshark, xfrm
from ipsec_inspect.crypto.keyfiles.common import KeyFileError
from ipsec_inspect.crypto.keyfiles.validate import MAX_KEY_FILE_BYTES, read_limited, too_large
from ipsec_inspect.crypto.keys import KeyStore

Loader = Callable[[str, str], KeyStore]


def detect_format(text: str, file_name: str = "", formats: Sequence[KeyFormat] = ()) -> str | None:
    """The format of ``text``: ``toml``, ``esp_sa``, ``ikev1_decryption_table``,
    ``ikev2_decryption_table``, ``xfrm``, ``charon``, ``tcpdump``, a plugin's format name
    (only when no built-in format matches) — or None."""
    base = Path(file_name).name
    if base in wireshark.FILE_NAMES:
        return base
    if toml_keys.looks_like_toml(text) or base.endswith(".toml"):
        return "toml"
    if xfrm.looks_like_xfrm(text):
        return "xfrm"
    if strongswan.looks_like_charon_log(text):
        return "charon"
    if tcpdump.looks_like_tcpdump(text):
        return "tcpdump"
    found = wireshark.classify_table(text)
    if found:
        return found
    for k in formats:
        if k.sniff(text, file_name):
            return k.name
    return None


def _loader(fmt: str, formats: Sequence[KeyFormat] = ()) -> Loader:
    """A built-in loader, else the loader of the extension format of that name."""
    loader = LOADERS.get(fmt) or next((k.load for k in formats if k.name == fmt), None)
    if loader is None:
        raise KeyFileError(f"no loader for the key format {fmt!r}")
    return loader


LOADERS: dict[str, Loader] = {
    "toml": toml_keys.load_toml,
    "xfrm": xfrm.load_xfrm,
    "charon": strongswan.load_charon_log,
    "tcpdump": tcpdump.load_tcpdump,
    **wireshark.LOADERS,
}


def load_key_text(text: str, name: str, formats: Sequence[KeyFormat] = ()) -> KeyStore:
    """Load key text of any format; raises KeyFileError when no format matches."""
    fmt = detect_format(text, name, formats)
    if fmt is None:
        raise KeyFileError(f"{name}: not a key file in any format ipsec-inspect reads")
    store: KeyStore = _loader(fmt, formats)(text, name)
    return store


def _read(path: Path) -> str:
    """The file's text, in bounded memory: over ``MAX_KEY_FILE_BYTES`` it is refused."""
    try:
        if path.is_file() and path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise too_large(str(path))  # refused before reading a byte
        return read_limited(lambda: path.open("rb"), str(path))
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def load_key_path(path: str | Path, formats: Sequence[KeyFormat] = ()) -> KeyStore:
    """Keys from a file, or from a folder: a Wireshark profile folder (only its
    ``esp_sa`` / ``ikev1_decryption_table`` / ``ikev2_decryption_table`` are read, as
    Wireshark would) or any folder of key files (files of no known format are skipped).

    Raises KeyFileError when the path is missing or unreadable, when a file holds no
    recognised format, or when a folder holds no key file at all. Row-level problems are
    in the returned store's ``problems``. ``formats``: key formats added by extensions.
    """
    p = Path(path)
    if not p.exists():
        raise KeyFileError(f"{p}: no such file or folder")
    if p.is_file():
        return load_key_text(_read(p), str(p), formats)
    store = KeyStore()
    found = 0
    children = sorted(c for c in p.iterdir() if c.is_file())
    if any(c.name in wireshark.FILE_NAMES for c in children):
        # A Wireshark profile: read only the tables Wireshark itself would read.
        children = [c for c in children if c.name in wireshark.FILE_NAMES]
    for child in children:
        try:
            text = _read(child)
        except KeyFileError as exc:
            store.problems.append(str(exc))
            continue
        fmt = detect_format(text, child.name, formats)
        if fmt is None:
            continue  # Wireshark profiles hold preferences, colour rules, … — not keys
        store.merge(_loader(fmt, formats)(text, str(child)))
        found += 1
    if not found:
        raise KeyFileError(f"{p}: the folder holds no key file")
    return store
