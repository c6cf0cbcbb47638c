"""Keys from the text ``ip xfrm state`` prints (Linux kernel SAs).

Why: on a Linux gateway this is where the keys are, and users otherwise convert it to
Wireshark's table by hand. A state is a block that starts with ``src A dst B`` and has
indented lines: ``proto esp spi 0x… reqid … mode tunnel``, ``replay-window … flag esn``,
``auth-trunc hmac(sha256) 0x… 128``, ``auth hmac(sha1) 0x…`` (the kernel's default
truncation), ``enc cbc(aes) 0x…``, ``aead rfc4106(gcm(aes)) 0x… 128``,
``encap type espinudp sport 4500 dport 4500 addr 0.0.0.0``. Other lines are ignored.
"""

from __future__ import annotations

import re

from ipsec_inspect.crypto.algorithms import (
    EncryptionAlg,
    IntegrityAlg,
)
from ipsec_inspect.crypto.keyfiles.common import (
    KeyFileValueError,
    KeyValueError,
    parse_hex,
    where,
)
from ipsec_inspect.crypto.keys import KeyStore, SaKey
from ipsec_inspect.ipsec.registry.algorithms import encryption_by_xfrm, integrity_by_xfrm

_STATE = re.compile(r"^src (\S+) dst (\S+)\s*$")
_PROTO = re.compile(r"^\s*proto (\S+) spi (0x[0-9a-fA-F]+|\d+)")

# The kernel's crypto names are the ``xfrm`` column of the algorithm rows
# (``ipsec/registry/algorithms.py``); the truncation an ``auth`` line implies is the row
# marked ``xfrm_default``.


def looks_like_xfrm(text: str) -> bool:
    return bool(re.search(r"^src \S+ dst \S+\s*$", text, re.MULTILINE)) and bool(
        re.search(r"^\s*proto (esp|ah) spi ", text, re.MULTILINE)
    )


def _integrity(kernel: str, bits: int | None) -> IntegrityAlg | None:
    alg = integrity_by_xfrm(kernel, bits)
    if alg is None:
        if integrity_by_xfrm(kernel, None) is None:
            raise ValueError(f"unknown auth algorithm {kernel!r}")
        raise ValueError(f"{kernel} truncated to {bits} bits is not a known algorithm")
    return None if alg.kind == "none" else alg


class _State:
    def __init__(self, src: str, dst: str, line: int) -> None:
        self.src, self.dst, self.line = src, dst, line
        self.protocol = ""
        self.spi = 0
        self.encryption: EncryptionAlg | None = None
        self.encryption_key = b""
        self.integrity: IntegrityAlg | None = None
        self.integrity_key = b""
        self.esn = False
        self.problem = ""


def load_xfrm(text: str, name: str) -> KeyStore:
    """Read ``ip xfrm state`` output; one SaKey per ESP/AH state."""
    store = KeyStore()
    states: list[_State] = []
    current: _State | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        m = _STATE.match(raw)
        if m:
            current = _State(m.group(1), m.group(2), number)
            states.append(current)
            continue
        if current is None or current.problem:
            continue
        try:
            _line(current, raw.split())
        except KeyValueError as exc:
            raise KeyFileValueError(name, number, exc.field, exc.reason) from None
        except ValueError as exc:
            current.problem = f"{where(name, number)}: {exc}"
    for st in states:
        loc = where(name, st.line)
        if st.problem:
            store.problems.append(f"{st.problem}; state at {loc} skipped")
            continue
        if st.protocol not in ("esp", "ah"):
            continue  # IPcomp and others carry no keys we use
        store.add_sa(
            SaKey(
                st.protocol,
                st.spi,
                st.src,
                st.dst,
                st.encryption,
                st.encryption_key,
                st.integrity,
                st.integrity_key,
                esn=st.esn,
                origin=loc,
            )
        )
    return store


def _line(st: _State, words: list[str]) -> None:
    if not words:
        return
    head = words[0]
    if head == "proto" and len(words) >= 4 and words[2] == "spi":
        st.protocol = words[1]
        st.spi = int(words[3], 0)
    elif head in ("enc", "auth", "auth-trunc", "aead") and len(words) >= 2:
        key = parse_hex(words[2], f"{head} key") if len(words) >= 3 and words[2] != '""' else b""
        bits = int(words[3]) if len(words) >= 4 and words[3].isdigit() else None
        if head == "enc":
            enc = encryption_by_xfrm(words[1])
            if enc is None or enc.aead:
                raise ValueError(f"unknown enc algorithm {words[1]!r}")
            st.encryption = enc
            st.encryption_key = key
        elif head == "aead":
            enc = encryption_by_xfrm(words[1], bits or 0)
            if enc is None or not enc.aead:
                raise ValueError(f"unknown aead algorithm {words[1]} with {bits}-bit ICV")
            st.encryption = enc
            st.encryption_key = key
        else:
            st.integrity = _integrity(words[1], bits if head == "auth-trunc" else None)
            st.integrity_key = key
    elif "flag" in words:
        st.esn = st.esn or "esn" in words[words.index("flag") + 1 :]
