"""Wireshark's key tables: ``esp_sa``, ``ikev2_decryption_table``, ``ikev1_decryption_table``.

Read exactly as Wireshark reads them (see ../shared/reference/wireshark.md §1.2, §3.3,
§3.4): comma-separated fields, enumerations and addresses double-quoted with ``\\xNN``
escapes, UAT hex columns unquoted; ``#`` comments and blank lines ignored; ESP keys are
hex after ``0x`` (odd digit counts left-padded) and ASCII otherwise; 8-column (4.0) and
10-column (SN / ESN high bits, newer releases) ``esp_sa`` rows. The writers produce what
Wireshark accepts: exact, case-sensitive algorithm strings, one row per direction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ipsec_inspect.crypto.algorithms import (
    ENCRYPTION_ALGORITHMS,
    INTEGRITY_ALGORITHMS,
    EncryptionAlg,
    IntegrityAlg,
    UnknownAlgorithm,
    encryption_by_name,
    integrity_by_name,
)
from ipsec_inspect.crypto.keyfiles.common import (
    KeyFileValueError,
    KeyValueError,
    format_spi,
    iter_lines,
    parse_hex,
    parse_spi,
    where,
)
from ipsec_inspect.crypto.keys import IkeKey, KeyStore, SaKey

ESP_SA = "esp_sa"
IKEV2_TABLE = "ikev2_decryption_table"
IKEV1_TABLE = "ikev1_decryption_table"
FILE_NAMES = (ESP_SA, IKEV1_TABLE, IKEV2_TABLE)

# Wireshark's exact strings are columns of the algorithm rows (``wireshark_esp``,
# ``wireshark_esp_newer``, ``wireshark_ikev2``): nothing here names an algorithm.
DEPRECATED_GCM = "AES-GCM [RFC4106]"  # no ICV length: the ICV length is found per SA
_EXACT_ESP_STRINGS = frozenset(
    {DEPRECATED_GCM}
    | {n for a in ENCRYPTION_ALGORITHMS for n in (a.wireshark_esp, a.wireshark_esp_newer) if n}
    | {a.wireshark_esp for a in INTEGRITY_ALGORITHMS if a.wireshark_esp}
)
#: Wireshark's "ANY n bit authentication [no checking]" rows, by ICV length: what is
#: written for an integrity algorithm Wireshark cannot check (AES-XCBC, CMAC)
_UNCHECKED_ESP = {
    a.icv_len: a.wireshark_esp
    for a in INTEGRITY_ALGORITHMS
    if a.kind == "unchecked" and a.wireshark_esp
}
_UNCHECKED_IKE = {
    a.icv_len: a.wireshark_ikev2
    for a in INTEGRITY_ALGORITHMS
    if a.kind == "unchecked" and a.wireshark_ikev2
}
_HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")


# --------------------------------------------------------------------------- CSV


def _unescape(text: str) -> str:
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


def split_uat_line(line: str) -> list[str] | None:
    """Fields of one UAT line; quoted fields unescaped. None when quotes do not close."""
    fields: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i < n and line[i] == '"':
            end = i + 1
            while end < n and line[end] != '"':
                end += 2 if line[end] == "\\" else 1
            if end >= n:
                return None
            fields.append(_unescape(line[i + 1 : end]))
            i = end + 1
            while i < n and line[i] in " \t":
                i += 1
        else:
            end = line.find(",", i)
            end = n if end < 0 else end
            fields.append(line[i:end].strip())
            i = end
        if i >= n:
            return fields
        if line[i] != ",":
            return None
        i += 1


def _rows(text: str) -> Iterator[tuple[int, list[str] | None]]:
    """The data rows with their line numbers, one at a time (comments and blanks skipped)."""
    for number, raw in enumerate(iter_lines(text), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        yield number, split_uat_line(line)


def esp_key_bytes(text: str, field: str = "key") -> bytes:
    """An ``esp_sa`` key: ``0x`` hex (an odd count left-padded, as Wireshark reads it),
    otherwise the ASCII text."""
    if text[:2].lower() == "0x":
        return parse_hex(text, field, pad_odd=True)
    return text.encode("latin-1")


# --------------------------------------------------------------------------- readers


def load_esp_sa(text: str, name: str) -> KeyStore:
    """Read an ``esp_sa`` file (8 or 10 columns)."""
    store = KeyStore()
    for number, fields in _rows(text):
        loc = where(name, number)
        if fields is None:
            store.problems.append(f"{loc}: unbalanced quotes")
            continue
        if len(fields) not in (8, 10):
            store.problems.append(f"{loc}: expected 8 or 10 fields, found {len(fields)}")
            continue
        try:
            store.add_sa(_esp_row(fields, loc, store.problems))
        except KeyValueError as exc:
            raise KeyFileValueError(name, number, exc.field, exc.reason) from None
        except (ValueError, UnknownAlgorithm) as exc:
            store.problems.append(f"{loc}: row skipped: {exc}")
    return store


def _esp_row(fields: list[str], loc: str, problems: list[str]) -> SaKey:
    family, src, dst, spi_text, enc_name, enc_key, auth_name, auth_key = fields[:8]
    versions = {"ipv4": 4, "ipv6": 6, "any": None}
    if family.lower() not in versions:
        raise ValueError(f"protocol must be IPv4, IPv6 or Any, not {family!r}")
    try:
        spi, mask = parse_spi(spi_text)
    except KeyValueError as exc:
        raise KeyValueError("SPI", exc.reason) from None
    deprecated = enc_name.strip() == DEPRECATED_GCM
    enc, _ = encryption_by_name(enc_name)
    integ = integrity_by_name(auth_name)
    esn, high = False, 0
    if len(fields) == 10:
        esn = fields[8].strip().lower().startswith("64")
        high_text = fields[9].strip()
        try:
            high = int(high_text, 16) if high_text else 0
        except ValueError:
            raise KeyValueError("ESN High Bits", "not hexadecimal") from None
    key = SaKey(
        "esp",
        spi,
        src or None,
        dst or None,
        enc,
        esp_key_bytes(enc_key, "Encryption Key"),
        None if integ.kind == "none" else integ,
        esp_key_bytes(auth_key, "Authentication Key"),
        esn=esn,
        origin=loc,
        spi_mask=mask,
        ip_version=versions[family.lower()],
        esn_high=high,
        icv_unknown=deprecated,
    )
    for given in (enc_name, auth_name):
        if given not in _EXACT_ESP_STRINGS:
            problems.append(
                f"{loc}: {given!r} accepted, but it is not Wireshark's exact spelling "
                "(Wireshark refuses the whole table)"
            )
    if enc.mode != "null" and not enc.unavailable and key.encryption_bits is None:
        wanted = " or ".join(str(enc.key_len(b) * 8) for b in enc.key_bits)
        raise KeyValueError(
            "Encryption Key",
            f"is {len(key.encryption_key) * 8} bits; {enc_name} takes {wanted} "
            "(keys without 0x are read as ASCII text)",
        )
    return key


_IKEV2_COLUMNS = {"sk_ei": "SK_ei", "sk_er": "SK_er", "sk_ai": "SK_ai", "sk_ar": "SK_ar"}


def load_ikev2_table(text: str, name: str) -> KeyStore:
    """Read an ``ikev2_decryption_table`` (8 columns; key lengths validated)."""
    store = KeyStore()
    for number, fields in _rows(text):
        loc = where(name, number)
        if fields is None or len(fields) != 8:
            count = "unbalanced quotes" if fields is None else f"{len(fields)} fields"
            store.problems.append(f"{loc}: expected 8 fields, found {count}")
            continue
        try:
            store.add_ike(_ikev2_row(fields, loc))
        except KeyValueError as exc:
            raise KeyFileValueError(name, number, exc.field, exc.reason) from None
        except (ValueError, UnknownAlgorithm) as exc:
            store.problems.append(f"{loc}: row skipped: {exc}")
    return store


def _ikev2_row(fields: list[str], loc: str) -> IkeKey:
    spi_i, spi_r, sk_ei, sk_er, enc_name, sk_ai, sk_ar, integ_name = fields
    ispi, rspi = parse_hex(spi_i, "Initiator's SPI"), parse_hex(spi_r, "Responder's SPI")
    for label, value in (("Initiator's SPI", ispi), ("Responder's SPI", rspi)):
        if len(value) != 8:
            raise KeyValueError(label, f"must be 8 bytes of hex (16 digits), not {len(value)}")
    enc, bits = encryption_by_name(enc_name)
    integ = integrity_by_name(integ_name)
    secrets = {"sk_ei": parse_hex(sk_ei, "SK_ei"), "sk_er": parse_hex(sk_er, "SK_er")}
    secrets.update({"sk_ai": parse_hex(sk_ai, "SK_ai"), "sk_ar": parse_hex(sk_ar, "SK_ar")})
    secrets = {k: v for k, v in secrets.items() if v}
    if enc.mode != "null":
        for label in ("sk_ei", "sk_er"):
            got = len(secrets.get(label, b""))
            if enc.bits_for_key(secrets.get(label, b"")) is None or (
                bits and got != enc.key_len(bits)
            ):
                raise KeyValueError(
                    _IKEV2_COLUMNS[label],
                    f"is {got} bytes; {enc_name} takes {enc.key_len(bits)}",
                )
    if integ.kind in ("hmac", "xcbc", "cmac"):
        for label in ("sk_ai", "sk_ar"):
            got = len(secrets.get(label, b""))
            if got != integ.key_len:
                raise KeyValueError(
                    _IKEV2_COLUMNS[label],
                    f"is {got} bytes; {integ_name} takes {integ.key_len}",
                )
    return IkeKey(2, ispi, rspi, enc, bits, integ, None, secrets, origin=loc)


def load_ikev1_table(text: str, name: str) -> KeyStore:
    """Read an ``ikev1_decryption_table`` (initiator cookie, encryption key)."""
    store = KeyStore()
    for number, fields in _rows(text):
        loc = where(name, number)
        if fields is None or len(fields) != 2:
            store.problems.append(f"{loc}: expected 2 fields (initiator cookie, key)")
            continue
        try:
            cookie = parse_hex(fields[0], "Initiator's COOKIE")
            key = parse_hex(fields[1], "Encryption Key")
        except KeyValueError as exc:
            raise KeyFileValueError(name, number, exc.field, exc.reason) from None
        if len(cookie) != 8 or not key:
            store.problems.append(f"{loc}: row skipped: cookie must be 8 bytes and key non-empty")
            continue
        store.add_ike(IkeKey(1, cookie, b"", None, None, None, None, {"enc_key": key}, origin=loc))
    return store


def classify_table(text: str) -> str | None:
    """Which Wireshark table ``text`` is (by its first data row), or None."""
    for _number, fields in _rows(text):
        if fields is None:
            return None
        if len(fields) in (8, 10) and fields[0].lower() in ("ipv4", "ipv6", "any"):
            return ESP_SA
        if len(fields) == 8 and _HEX16.match(fields[0]) and _HEX16.match(fields[1]):
            return IKEV2_TABLE
        if len(fields) == 2 and _HEX16.match(fields[0]):
            return IKEV1_TABLE
        return None
    return None


LOADERS = {ESP_SA: load_esp_sa, IKEV2_TABLE: load_ikev2_table, IKEV1_TABLE: load_ikev1_table}


# --------------------------------------------------------------------------- writers


_NULL_ENCRYPTION, _ = encryption_by_name("ENCR_NULL")
_NO_INTEGRITY = integrity_by_name("AUTH_NONE")


def _esp_encryption_name(alg: EncryptionAlg | None) -> str | None:
    return (alg or _NULL_ENCRYPTION).wireshark_esp or None


def _esp_integrity_name(alg: IntegrityAlg | None) -> str | None:
    alg = alg or _NO_INTEGRITY
    # AES-XCBC/CMAC and friends: Wireshark decrypts but cannot check them.
    return alg.wireshark_esp or _UNCHECKED_ESP.get(alg.icv_len)


def _ikev2_encryption_name(alg: EncryptionAlg | None, bits: int | None) -> str | None:
    if alg is None or not alg.wireshark_ikev2:
        return None
    if "{bits}" in alg.wireshark_ikev2 and not bits:
        return None
    return alg.wireshark_ikev2.format(bits=bits)


def _ikev2_integrity_name(alg: IntegrityAlg | None) -> str | None:
    alg = alg or _NO_INTEGRITY
    return alg.wireshark_ikev2 or _UNCHECKED_IKE.get(alg.icv_len)


def _quoted(*fields: str) -> str:
    return ",".join('"' + f.replace("\\", "\\x5c").replace('"', "\\x22") + '"' for f in fields)


def _families(sa: SaKey) -> list[str]:
    if sa.ip_version:
        return [f"IPv{sa.ip_version}"]
    for addr in (sa.src, sa.dst):
        if addr and addr != "*":
            return ["IPv6" if ":" in addr else "IPv4"]
    return ["IPv4", "IPv6"]


def write_wireshark(store: KeyStore) -> dict[str, str]:
    """``{file name: text}`` for the tables Wireshark reads, for what ``store`` holds.

    ``esp_sa`` uses the 8 columns every release reads, or the 10-column form (SN, ESN
    high bits; newer releases only) when an SA uses ESN. What Wireshark cannot express
    (AES-CCM or GMAC ESP, ChaCha20 IKEv2, AH) is listed in ``#`` comments, not dropped
    silently.
    """
    head = "# Written by ipsec-inspect. Copy into a Wireshark profile folder."
    esp, ike2, ike1 = [head], [head], [head]
    wide = any(sa.esn for sa in store.sa_keys() if sa.protocol == "esp")
    for sa in store.sa_keys():
        label = f"SPI {format_spi(sa.spi, sa.spi_mask)} ({sa.origin or sa.source.value})"
        if sa.protocol != "esp":
            esp.append(f"# {label}: Wireshark cannot check AH ICVs; not written")
            continue
        enc_name, integ_name = (
            _esp_encryption_name(sa.encryption),
            _esp_integrity_name(sa.integrity),
        )
        if enc_name is None or integ_name is None:
            alg = sa.encryption.name if enc_name is None and sa.encryption else ""
            alg = alg or (sa.integrity.name if sa.integrity else "")
            esp.append(f"# {label}: {alg} is not supported by Wireshark's ESP decryption")
            continue
        for family in _families(sa):
            row = [family, sa.src or "*", sa.dst or "*", format_spi(sa.spi, sa.spi_mask),
                   enc_name, "0x" + sa.encryption_key.hex() if sa.encryption_key else "",
                   integ_name, "0x" + sa.integrity_key.hex() if sa.integrity_key else ""]  # fmt: skip
            if wide:
                row += ["64-bit" if sa.esn else "32-bit", f"{sa.esn_high:x}"]
            esp.append(_quoted(*row))
    for ike in store.ike_keys():
        label = f"IKE SA {ike.spi_i.hex()}/{ike.spi_r.hex()} ({ike.origin or ike.source.value})"
        if ike.version == 1:
            if "enc_key" in ike.secrets:
                ike1.append(f"{ike.spi_i.hex()},{ike.secrets['enc_key'].hex()}")
            else:
                ike1.append(f"# {label}: no encryption key (enc_key) known")
            continue
        s = ike.secrets
        enc_name = _ikev2_encryption_name(ike.encryption, ike.encryption_key_bits)
        integ = ike.integrity if ike.integrity and ike.integrity.kind != "none" else None
        integ_name = _ikev2_integrity_name(integ)
        null = ike.encryption is not None and ike.encryption.mode == "null"
        if (
            enc_name is None
            or integ_name is None
            or not ike.spi_r
            or ("sk_ei" not in s and not null)
        ):
            why = "algorithm not in Wireshark" if enc_name and integ_name else "SK_e keys unknown"
            why = why if ike.spi_r else "responder SPI unknown"
            ike2.append(f"# {label}: {why}; not written")
            continue
        ike2.append(
            f"{ike.spi_i.hex()},{ike.spi_r.hex()},{s.get('sk_ei', b'').hex()},{s.get('sk_er', b'').hex()},"
            f'"{enc_name}",{s.get("sk_ai", b"").hex()},{s.get("sk_ar", b"").hex()},"{integ_name}"'
        )
    return {
        ESP_SA: "\n".join(esp) + "\n",
        IKEV2_TABLE: "\n".join(ike2) + "\n",
        IKEV1_TABLE: "\n".join(ike1) + "\n",
    }
