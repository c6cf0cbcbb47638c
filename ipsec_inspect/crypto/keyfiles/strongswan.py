"""Keys from a strongSwan charon log (``ike = 4``, ``chd = 4``), via ``strongswan_log``.

The log parser ties secrets to SPIs and keeps strongSwan's algorithm names; this adapter
turns its records into key-store entries: one IkeKey per IKE SA and one SaKey per CHILD_SA
direction, each naming the log line it came from.
"""

from __future__ import annotations

import re

from ipsec_inspect.crypto.algorithms import (
    EncryptionAlg,
    IntegrityAlg,
    PrfAlg,
    UnknownAlgorithm,
    encryption_by_name,
    integrity_by_name,
    prf_by_name,
)
from ipsec_inspect.crypto.keyfiles.common import where
from ipsec_inspect.crypto.keys import ChildDhSecret, IkeKey, KeyStore, SaKey
from ipsec_inspect.crypto.strongswan_log import ChildSaDirection, parse_charon_log

_CHARON_LINE = re.compile(r"^\S+ \S+ \d+\[[A-Z]{3}\] ", re.MULTILINE)


def looks_like_charon_log(text: str) -> bool:
    return bool(_CHARON_LINE.search(text)) and (" => " in text or "selected proposal" in text)


def _enc(name: str) -> tuple[EncryptionAlg | None, int | None]:
    return encryption_by_name(name) if name else (None, None)


def _integ(name: str) -> IntegrityAlg | None:
    return integrity_by_name(name) if name else None


def _prf(name: str) -> PrfAlg | None:
    return prf_by_name(name) if name else None


def load_charon_log(text: str, name: str) -> KeyStore:
    """Read a charon log; blocks the parser could not tie to SPIs become problems."""
    store = KeyStore()
    parsed = parse_charon_log(text)
    store.problems.extend(f"{name}: {w}" for w in parsed.warnings)
    store.daemon_hints.extend(parsed.hints)
    for ike in parsed.ike_sas:
        loc = where(name, ike.log_line)
        try:
            enc, bits = _enc(ike.encryption)
            key = IkeKey(ike.version, ike.spi_i, ike.spi_r, enc, bits, _integ(ike.integrity),
                         _prf(ike.prf), dict(ike.secrets), origin=loc)  # fmt: skip
        except UnknownAlgorithm as exc:
            store.problems.append(f"{loc}: IKE SA {ike.spi_i.hex()} skipped: {exc}")
            continue
        store.add_ike(key)
    for child in parsed.child_sas:
        loc = where(name, child.log_line)
        if child.dh_secret:
            store.child_dh.append(
                ChildDhSecret(child.dh_secret, (child.spi_in, child.spi_out), None, loc)
            )
        for direction in (child.inbound, child.outbound):
            try:
                store.add_sa(_direction(child.protocol.lower(), direction, child.esn, loc))
            except UnknownAlgorithm as exc:
                store.problems.append(f"{loc}: SPI 0x{direction.spi:08x} skipped: {exc}")
    return store


def _direction(protocol: str, d: ChildSaDirection, esn: bool, loc: str) -> SaKey:
    enc, _ = _enc(d.encryption) if protocol == "esp" else (None, None)
    integ = _integ(d.integrity)
    return SaKey(protocol, d.spi, d.src or None, d.dst or None, enc, d.encryption_key,
                 integ, d.integrity_key, esn=esn, origin=loc)  # fmt: skip
