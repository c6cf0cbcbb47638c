"""Which key files matched the capture: one sentence for a file that matches nothing, or
adds nothing the files before it (and the keys derived from them) did not already give.

Why: keys for another capture, or for the other peer's SPIs, used to pass in silence —
``decrypted 0`` and exit 0 — and the user was left to compare SPIs by hand. The sentence
names the file and puts the SPIs it holds beside those the capture has; SPIs and IKE SPIs
are public (they are in every packet), key bytes are never shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ipsec_inspect.crypto.keys import SPI_MASK_ALL, KeyFileKeys, KeySource, KeyStore, SaKey

#: SPIs listed per kind in one sentence before "and N more".
LISTED = 6


@dataclass(frozen=True)
class SeenSpis:
    """The SAs a capture showed: ESP/AH SPIs with their protocol, and IKE SPI pairs."""

    sa: frozenset[tuple[str, int]]  # ("esp" | "ah", SPI)
    ike: frozenset[tuple[bytes, bytes]]  # (initiator SPI, responder SPI)

    @classmethod
    def of(cls, sa: Iterable[tuple[str, int]], ike: Iterable[tuple[bytes, bytes]]) -> SeenSpis:
        return cls(frozenset(sa), frozenset(ike))


def _covered(keys: KeyFileKeys, seen: SeenSpis) -> set[object]:
    """The capture's SAs this file has a key for: ("sa", proto, spi) and ("ike", spi_i).

    Exact SPIs are looked up in a set, so tens of thousands of SAs and keys stay cheap;
    only wildcard rows (``*`` or ``*`` nibbles, few in practice) are tried one by one."""
    exact = {(k.protocol, k.spi) for k in keys.sa_keys if k.spi_mask == SPI_MASK_ALL}
    wild = [k for k in keys.sa_keys if k.spi_mask != SPI_MASK_ALL]
    out: set[object] = set()
    for protocol, spi in seen.sa:
        if (protocol, spi) in exact or any(
            k.protocol == protocol and (spi & k.spi_mask) == (k.spi & k.spi_mask) for k in wild
        ):
            out.add(("sa", protocol, spi))
    initiators: dict[bytes, set[bytes]] = {}
    for k in keys.ike_keys:
        initiators.setdefault(k.spi_i, set()).add(k.spi_r)
    for spi_i, spi_r in seen.ike:
        responders = initiators.get(spi_i)
        if responders is not None and (b"" in responders or spi_r in responders):
            out.add(("ike", spi_i))
    return out


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:LISTED])
    return shown + (f" and {len(items) - LISTED} more" if len(items) > LISTED else "")


def _spi_text(key: SaKey) -> str:
    if key.spi_mask == 0:
        return "*"
    if key.spi_mask != SPI_MASK_ALL:
        digits, nibbles = f"{key.spi:08x}", f"{key.spi_mask:08x}"
        return "0x" + "".join(d if m == "f" else "*" for d, m in zip(digits, nibbles, strict=True))
    return f"0x{key.spi:08x}"


def _holds(keys: KeyFileKeys) -> str:
    parts = []
    for protocol in ("esp", "ah"):
        spis = sorted({_spi_text(k) for k in keys.sa_keys if k.protocol == protocol})
        if spis:
            parts.append(f"{protocol.upper()} SPIs {_listed(spis)}")
    ike = sorted({k.spi_i.hex() for k in keys.ike_keys})
    if ike:
        parts.append(f"IKE SPIs {_listed(ike)}")
    return " and ".join(parts) or "no SA keys"


def _has(seen: SeenSpis) -> str:
    parts = []
    for protocol in ("esp", "ah"):
        spis = sorted(f"0x{spi:08x}" for p, spi in seen.sa if p == protocol)
        if spis:
            parts.append(f"{protocol.upper()} SPIs {_listed(spis)}")
    ike = sorted({spi_i.hex() for spi_i, _ in seen.ike})
    if ike:
        parts.append(f"IKE SPIs {_listed(ike)}")
    return ", ".join(parts) or "no IPsec SA"


def key_match_lines(store: KeyStore, seen: SeenSpis) -> list[str]:
    """One line per key file that matched no SA of the capture, or added nothing."""
    lines = []
    earlier: set[object] = set()
    derived = KeyFileKeys(
        "derived",
        tuple(k for k in store.sa_keys() if k.source is KeySource.DERIVED),
        tuple(k for k in store.ike_keys() if k.source is KeySource.DERIVED),
    )
    by_derivation = _covered(derived, seen)
    for keys in store.files:
        if not keys.sa_keys and not keys.ike_keys:
            continue  # a file of PFS secrets only: it is named by its SPIs elsewhere
        covered = _covered(keys, seen)
        if not covered:
            lines.append(
                f"{keys.path}: no key matches this capture: it holds {_holds(keys)}; "
                f"the capture has {_has(seen)}"
            )
        elif covered <= earlier | by_derivation:
            lines.append(
                f"{keys.path}: adds no key: every SA of this capture it holds a key for "
                "already has one from the files before it or from derivation"
            )
        earlier |= covered
    return lines
