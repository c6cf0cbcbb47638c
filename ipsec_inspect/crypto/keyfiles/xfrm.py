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
    INTEGRITY_ALGORITHMS,
    EncryptionAlg,
    IntegrityAlg,
    encryption_by_name,
)
from ipsec_inspect.crypto.keyfiles.common import (
    KeyFileValueError,
    KeyValueError,
    parse_hex,
    where,
)
from ipsec_inspect.crypto.keys import KeyStore, SaKey

_STATE = re.compile(r"^src (\S+) dst (\S+)\s*$")
_PROTO = re.compile(r"^\s*proto (\S+) spi (0x[0-9a-fA-F]+|\d+)")

# Kernel crypto names of "enc" algorithms -> our row names.
ENC_NAMES = {
    "cbc(aes)": "ENCR_AES_CBC",
    "cbc(des3_ede)": "ENCR_3DES",
    "cbc(des)": "ENCR_DES",
    "cbc(cast5)": "ENCR_CAST",
    "cbc(blowfish)": "ENCR_BLOWFISH",
    "cbc(twofish)": "ENCR_TWOFISH_CBC",
    "cbc(camellia)": "ENCR_CAMELLIA_CBC",
    "rfc3686(ctr(aes))": "ENCR_AES_CTR",
    "rfc3686(ctr(camellia))": "ENCR_CAMELLIA_CTR",
    "ecb(cipher_null)": "ENCR_NULL",
    "cipher_null": "ENCR_NULL",
}
# "aead" algorithms: (kernel name, ICV bits) -> row name.
AEAD_NAMES = {
    ("rfc4106(gcm(aes))", 64): "ENCR_AES_GCM_8",
    ("rfc4106(gcm(aes))", 96): "ENCR_AES_GCM_12",
    ("rfc4106(gcm(aes))", 128): "ENCR_AES_GCM_16",
    ("rfc4309(ccm(aes))", 64): "ENCR_AES_CCM_8",
    ("rfc4309(ccm(aes))", 96): "ENCR_AES_CCM_12",
    ("rfc4309(ccm(aes))", 128): "ENCR_AES_CCM_16",
    ("rfc7539esp(chacha20,poly1305)", 128): "ENCR_CHACHA20_POLY1305",
    ("rfc4543(gcm(aes))", 128): "ENCR_NULL_AUTH_AES_GMAC",
}
# "auth" algorithms: kernel name -> (our kind, hash, default truncation in bits).
AUTH_NAMES = {
    "hmac(md5)": ("hmac", "md5", 96),
    "hmac(sha1)": ("hmac", "sha1", 96),
    "hmac(sha256)": ("hmac", "sha256", 96),
    "hmac(sha384)": ("hmac", "sha384", 192),
    "hmac(sha512)": ("hmac", "sha512", 256),
    "hmac(rmd160)": ("hmac", "ripemd160", 96),
    "xcbc(aes)": ("xcbc", "", 96),
    "cmac(aes)": ("cmac", "", 96),
    "digest_null": ("none", "", 0),
}


def looks_like_xfrm(text: str) -> bool:
    return bool(re.search(r"^src \S+ dst \S+\s*$", text, re.MULTILINE)) and bool(
        re.search(r"^\s*proto (esp|ah) spi ", text, re.MULTILINE)
    )


def _integrity(kernel: str, bits: int | None) -> IntegrityAlg | None:
    kind, digest, default = AUTH_NAMES.get(kernel, ("", "", 0))
    if not kind:
        raise ValueError(f"unknown auth algorithm {kernel!r}")
    if kind == "none":
        return None
    icv_bytes = (bits if bits is not None else default) // 8
    for alg in INTEGRITY_ALGORITHMS:
        if alg.kind == kind and alg.hash == digest and alg.icv_len == icv_bytes:
            return alg
    raise ValueError(f"{kernel} truncated to {icv_bytes * 8} bits is not a known algorithm")


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
            if words[1] not in ENC_NAMES:
                raise ValueError(f"unknown enc algorithm {words[1]!r}")
            st.encryption = encryption_by_name(ENC_NAMES[words[1]])[0]
            st.encryption_key = key
        elif head == "aead":
            row = AEAD_NAMES.get((words[1], bits or 0))
            if row is None:
                raise ValueError(f"unknown aead algorithm {words[1]} with {bits}-bit ICV")
            st.encryption = encryption_by_name(row)[0]
            st.encryption_key = key
        else:
            st.integrity = _integrity(words[1], bits if head == "auth-trunc" else None)
            st.integrity_key = key
    elif "flag" in words:
        st.esn = st.esn or "esn" in words[words.index("flag") + 1 :]
