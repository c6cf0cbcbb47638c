"""Keys in tcpdump's ``-E`` / ``espsecret`` format (also libreswan's IKEv2 debug lines).

ESP lines are ``SPI@ADDRESS ALGO:SECRET`` (``0x12345678@192.1.2.45 3des-cbc-hmac96:0x…``):
the address is the SA's destination, ``ALGO`` an OpenSSL cipher name with an optional
``-hmac96`` suffix (a 12-byte ICV that tcpdump skips without checking), the secret ``0x``
hex or ASCII. IKEv2 lines are ``ikev2 I|R SPI_I SPI_R INTEG:0x… ENC:0x…``; the ``I`` line
carries the initiator's keys (SK_ei, SK_ai), the ``R`` line the responder's.
"""

from __future__ import annotations

import re

from ipsec_inspect.crypto.algorithms import (
    UnknownAlgorithm,
    encryption_by_name,
    integrity_by_name,
)
from ipsec_inspect.crypto.keyfiles.common import (
    KeyFileValueError,
    KeyValueError,
    iter_lines,
    parse_hex,
    parse_spi,
    where,
)
from ipsec_inspect.crypto.keyfiles.wireshark import esp_key_bytes
from ipsec_inspect.crypto.keys import IkeKey, KeyStore, SaKey

_ESP = re.compile(
    r"^(?P<spi>0x[0-9a-fA-F]+|\d+)@(?P<addr>\S+)\s+(?P<algo>[^:\s]+):(?P<secret>\S*)$"
)
_IKE = re.compile(r"^ikev2\s+(?P<role>[IR])\s+(?P<spi_i>\S+)\s+(?P<spi_r>\S+)\s+(?P<rest>.+)$")


def looks_like_tcpdump(text: str) -> bool:
    for line in iter_lines(text):
        line = line.strip()
        if line and not line.startswith("#"):
            return bool(_ESP.match(line) or _IKE.match(line))
    return False


def load_tcpdump(text: str, name: str) -> KeyStore:
    store = KeyStore()
    ike: dict[tuple[bytes, bytes], IkeKey] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        loc = where(name, number)
        try:
            m = _ESP.match(line)
            if m:
                store.add_sa(_esp(m, loc))
                continue
            m = _IKE.match(line)
            if m:
                _ike(m, loc, ike, store)
                continue
            store.problems.append(f"{loc}: not a tcpdump ESP or IKEv2 secret line")
        except KeyValueError as exc:
            raise KeyFileValueError(name, number, exc.field, exc.reason) from None
        except (ValueError, UnknownAlgorithm) as exc:
            store.problems.append(f"{loc}: line skipped: {exc}")
    return store


def _esp(m: re.Match[str], loc: str) -> SaKey:
    spi, mask = parse_spi(m.group("spi"))
    algo = m.group("algo").lower()
    integ = None
    if algo.endswith("-hmac96"):
        algo = algo.removesuffix("-hmac96")
        integ = integrity_by_name("ANY_96_UNCHECKED")
    enc, _ = encryption_by_name(algo)
    key = esp_key_bytes(m.group("secret"), "secret")
    if enc.mode != "null" and not enc.unavailable and enc.bits_for_key(key) is None:
        wanted = " or ".join(str(enc.key_len(b)) for b in enc.key_bits)
        raise KeyValueError("secret", f"is {len(key)} bytes; {enc.name} takes {wanted}")
    return SaKey("esp", spi, None, m.group("addr"), enc, key,
                 integ, b"", origin=loc, spi_mask=mask)  # fmt: skip


def _ike(
    m: re.Match[str], loc: str, ike: dict[tuple[bytes, bytes], IkeKey], store: KeyStore
) -> None:
    spi_i, spi_r = parse_hex(m.group("spi_i"), "spi_i"), parse_hex(m.group("spi_r"), "spi_r")
    if len(spi_i) != 8 or len(spi_r) != 8:
        raise KeyValueError("spi_i" if len(spi_i) != 8 else "spi_r", "IKEv2 SPIs are 8 bytes")
    key = ike.get((spi_i, spi_r))
    if key is None:
        key = ike[(spi_i, spi_r)] = IkeKey(2, spi_i, spi_r, None, None, None, None, origin=loc)
        store.add_ike(key)
    side = "i" if m.group("role") == "I" else "r"
    for token in m.group("rest").split():
        alg_name, _, secret = token.partition(":")
        value = parse_hex(secret, alg_name or "secret")
        try:
            integ = integrity_by_name(alg_name)
        except UnknownAlgorithm:
            enc, bits = encryption_by_name(alg_name)
            key.encryption, key.encryption_key_bits = enc, bits or enc.bits_for_key(value)
            key.secrets[f"sk_e{side}"] = value
        else:
            key.integrity = integ
            key.secrets[f"sk_a{side}"] = value
