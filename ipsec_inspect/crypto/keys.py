"""The key store: every key we know, where it came from, and how packets find it.

Why a model of its own: keys arrive from half a dozen file formats and from derivation,
and are consumed by ESP, AH and IKE decryption and by two writers. All of them speak
these three types. Key bytes are secrets, so no ``repr``/``str`` here ever shows them.

Matching follows Wireshark's ``esp_sa`` rules so that its files behave the same here:
addresses may be ``*``, have ``*`` octets (IPv4) or nibbles (IPv6), or a ``/prefix``;
the SPI may be ``*`` or have ``*`` nibbles (``spi_mask``). The first matching key wins,
except that a key with the exact SPI and exact addresses is preferred to any wildcard.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from ipsec_inspect.crypto.algorithms import EncryptionAlg, IntegrityAlg, PrfAlg
from ipsec_inspect.crypto.strongswan_log import DaemonHint

SPI_MASK_ALL = 0xFFFFFFFF


class KeySource(StrEnum):
    SUPPLIED = "supplied"
    DERIVED = "derived"


@dataclass(eq=False)
class SaKey:
    """Keys of one ESP or AH SA, one direction.

    ``encryption_key`` includes the salt/nonce for CTR and AEAD modes. ``src``/``dst`` of
    None or ``"*"`` match any address. ``spi_mask`` clears SPI bits that are wildcards
    (0 for an SPI of ``*``). ``icv_unknown`` marks Wireshark's deprecated ``AES-GCM
    [RFC4106]`` entry, whose ICV length the ESP decryptor finds by trying 16, 12 and 8.
    """

    protocol: str  # "esp" | "ah"
    spi: int
    src: str | None
    dst: str | None
    encryption: EncryptionAlg | None
    encryption_key: bytes = field(repr=False)
    integrity: IntegrityAlg | None
    integrity_key: bytes = field(repr=False)
    esn: bool = False
    source: KeySource = KeySource.SUPPLIED
    origin: str = ""
    spi_mask: int = SPI_MASK_ALL
    ip_version: int | None = None  # 4 / 6 restrict the address family (Wireshark column 1)
    esn_high: int = 0  # initial high 32 bits of the ESN (Wireshark "ESN High Bits")
    icv_unknown: bool = False
    # Per-SA state the ESP decryptor keeps (prepared cipher objects); never compared/shown.
    context: object | None = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        """One line for people: protocol, SPI, addresses, algorithms, origin. No key bytes."""
        spi = "*" if self.spi_mask == 0 else f"0x{self.spi:08x}"
        enc = self.encryption.display_name(self.encryption_bits) if self.encryption else "-"
        integ = self.integrity.name if self.integrity else "-"
        where = f"{self.src or '*'} -> {self.dst or '*'}"
        text = f"{self.protocol.upper()} SPI {spi} {where} {enc}/{integ}"
        if self.esn:
            text += " ESN"
        text += f" ({self.source.value}"
        return text + (f", {self.origin})" if self.origin else ")")

    @property
    def encryption_bits(self) -> int | None:
        if self.encryption is None:
            return None
        return self.encryption.bits_for_key(self.encryption_key)

    def __repr__(self) -> str:
        return f"SaKey({self.describe()})"

    __str__ = __repr__


@dataclass(eq=False)
class IkeKey:
    """Keys of one IKE SA.

    ``secrets`` uses the RFC names: IKEv2 ``sk_d sk_ai sk_ar sk_ei sk_er sk_pi sk_pr
    dh_secret skeyseed``; IKEv1 ``skeyid skeyid_d skeyid_a skeyid_e enc_key dh_secret``.
    Encryption keys include their salt (AEAD, CTR). IKEv1 rows from Wireshark's table
    give only the initiator cookie: ``spi_r`` is then empty and matching uses ``spi_i``.
    """

    version: int
    spi_i: bytes
    spi_r: bytes
    encryption: EncryptionAlg | None
    encryption_key_bits: int | None
    integrity: IntegrityAlg | None
    prf: PrfAlg | None
    secrets: dict[str, bytes] = field(default_factory=dict, repr=False)
    source: KeySource = KeySource.SUPPLIED
    origin: str = ""

    def describe(self) -> str:
        algs = "/".join(
            a
            for a in (
                self.encryption.display_name(self.encryption_key_bits) if self.encryption else "",
                self.integrity.name if self.integrity else "",
                self.prf.name if self.prf else "",
            )
            if a
        )
        names = ",".join(sorted(self.secrets))
        text = f"IKEv{self.version} SA {self.spi_i.hex()}/{self.spi_r.hex() or '*'}"
        if algs:
            text += f" {algs}"
        text += f" [{names}] ({self.source.value}"
        return text + (f", {self.origin})" if self.origin else ")")

    def __repr__(self) -> str:
        return f"IkeKey({self.describe()})"

    __str__ = __repr__


@dataclass(frozen=True, eq=False)
class KeyFileKeys:
    """The keys one key file (or folder) supplied, in the order given: what
    ``crypto.key_usage`` compares with the capture to say which file matched nothing."""

    path: str
    sa_keys: tuple[SaKey, ...]
    ike_keys: tuple[IkeKey, ...]


# --------------------------------------------------------------------------- matching

AddressMatcher = Callable[[str], bool]


@dataclass(eq=False)
class ChildDhSecret:
    """The PFS shared secret of one CREATE_CHILD_SA / Quick Mode exchange.

    Why a record of its own: SK_d alone cannot give the keys of a child SA negotiated
    with PFS; the exchange's g^ir is needed too, and key files name it by the child SA's
    SPIs (``[[child_pfs]]`` in our TOML, the CHD "DH secret" line of a charon log).
    """

    dh_secret: bytes
    spis: tuple[int, ...] = ()
    dh_group: int | None = None
    origin: str = ""

    def __repr__(self) -> str:  # never show the secret
        spis = ", ".join(f"0x{s:08x}" for s in self.spis)
        return f"ChildDhSecret(spis=[{spis}], group={self.dh_group}, origin={self.origin!r})"


def _is_wild(pattern: str | None) -> bool:
    return pattern is None or pattern in ("", "*") or "*" in pattern or "/" in pattern


def _normal_address(text: str) -> str:
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return text.strip().lower()


def _ipv6_nibbles(pattern: str) -> str | None:
    """32 nibble characters for an IPv6 pattern whose groups may contain ``*``."""
    if pattern.count("::") > 1:
        return None
    if "::" in pattern:
        left, right = pattern.split("::")
        lg = left.split(":") if left else []
        rg = right.split(":") if right else []
        groups = [*lg, *(["0"] * (8 - len(lg) - len(rg))), *rg]
    else:
        groups = pattern.split(":")
    if len(groups) != 8 or any(len(g) > 4 or not g for g in groups):
        return None
    return "".join(g.rjust(4, "0") for g in groups).lower()


def compile_address(pattern: str | None) -> AddressMatcher:
    """A predicate for Wireshark address filters: ``*``, octet/nibble ``*``, ``/prefix``."""
    if pattern is None or pattern.strip() in ("", "*"):
        return lambda _addr: True
    pattern = pattern.strip()
    if "/" in pattern:
        try:
            net = ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            return lambda _addr: False

        def in_net(addr: str) -> bool:
            try:
                return ipaddress.ip_address(addr) in net
            except ValueError:
                return False

        return in_net
    if "*" not in pattern:
        want = _normal_address(pattern)
        return lambda addr: _normal_address(addr) == want
    if ":" in pattern:
        nib = _ipv6_nibbles(pattern)
        if nib is None:
            return lambda _addr: False

        def v6(addr: str) -> bool:
            try:
                full = ipaddress.IPv6Address(addr).exploded.replace(":", "")
            except ValueError:
                return False
            return all(p in ("*", c) for p, c in zip(nib, full, strict=True))

        return v6
    octets = pattern.split(".")

    def v4(addr: str) -> bool:
        parts = addr.split(".")
        return len(parts) == len(octets) and all(
            p == "*" or (p.isdigit() and q.isdigit() and int(p) == int(q))
            for p, q in zip(octets, parts, strict=True)
        )

    return v4


def _family(addr: str) -> int:
    return 6 if ":" in addr else 4


class KeyStore:
    """All known keys, in the order they were added (which is the match order)."""

    def __init__(self) -> None:
        self._sa: list[SaKey] = []
        self._ike: list[IkeKey] = []
        self.child_dh: list[ChildDhSecret] = []
        self.problems: list[str] = []
        # what daemons' logs say about why SAs were rekeyed or closed (DaemonHint rows)
        self.daemon_hints: list[DaemonHint] = []
        self.files: list[KeyFileKeys] = []  # per key file given, see crypto.key_usage
        self._matchers: dict[str | None, AddressMatcher] = {}
        self._cache: dict[tuple[str, int, str, str], SaKey | None] = {}

    def __len__(self) -> int:
        return len(self._sa) + len(self._ike)

    def __repr__(self) -> str:
        return f"KeyStore({len(self._sa)} SA keys, {len(self._ike)} IKE keys)"

    def add_sa(self, key: SaKey) -> None:
        self._sa.append(key)
        self._cache.clear()

    def add_ike(self, key: IkeKey) -> None:
        self._ike.append(key)

    def sa_keys(self) -> list[SaKey]:
        return list(self._sa)

    def ike_keys(self) -> list[IkeKey]:
        return list(self._ike)

    def merge(self, other: KeyStore) -> None:
        for sa in other._sa:
            self.add_sa(sa)
        for ike in other._ike:
            self.add_ike(ike)
        self.child_dh.extend(other.child_dh)
        self.problems.extend(other.problems)
        self.daemon_hints.extend(other.daemon_hints)
        self.files.extend(other.files)

    def _matcher(self, pattern: str | None) -> AddressMatcher:
        m = self._matchers.get(pattern)
        if m is None:
            m = self._matchers[pattern] = compile_address(pattern)
        return m

    def find_sa(self, protocol: str, spi: int, src: str, dst: str) -> SaKey | None:
        """The key for a packet: exact SPI and addresses first, then the first wildcard."""
        cache_key = (protocol, spi, src, dst)
        if cache_key in self._cache:
            return self._cache[cache_key]
        found = self._search(protocol, spi, src, dst)
        self._cache[cache_key] = found
        return found

    def _search(self, protocol: str, spi: int, src: str, dst: str) -> SaKey | None:
        family = _family(dst or src)
        candidates = [
            k
            for k in self._sa
            if k.protocol == protocol
            and (spi & k.spi_mask) == (k.spi & k.spi_mask)
            and (k.ip_version is None or k.ip_version == family)
        ]
        nsrc, ndst = _normal_address(src), _normal_address(dst)
        for k in candidates:
            if (
                k.spi_mask == SPI_MASK_ALL
                and not _is_wild(k.src)
                and not _is_wild(k.dst)
                and _normal_address(k.src or "") == nsrc
                and _normal_address(k.dst or "") == ndst
            ):
                return k
        for k in candidates:
            if self._matcher(k.src)(src) and self._matcher(k.dst)(dst):
                return k
        return None

    def find_ike(self, spi_i: bytes, spi_r: bytes) -> IkeKey | None:
        """The key of an IKE SA by its SPIs; rows without ``spi_r`` match on ``spi_i``."""
        for k in self._ike:
            if k.spi_i == spi_i and k.spi_r == spi_r:
                return k
        for k in self._ike:
            if k.spi_i == spi_i and not k.spi_r:
                return k
        return None
