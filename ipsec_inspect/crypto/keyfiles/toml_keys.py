"""Our own key file: TOML with ``[[ike]]``, ``[[esp]]`` and ``[[ah]]`` tables (docs/keys.md).

Why our own format: Wireshark's tables need one row per direction, case-sensitive
algorithm strings and cannot say where a key came from. Here algorithm names are accepted
in every dialect ``algorithms`` knows, secrets use their RFC names, and the writer records
where each key came from so an exported file explains itself.
"""

from __future__ import annotations

import re
from typing import Any

from ipsec_inspect.crypto.algorithms import (
    EncryptionAlg,
    IntegrityAlg,
    UnknownAlgorithm,
    encryption_by_name,
    integrity_by_name,
    prf_by_name,
)
from ipsec_inspect.crypto.keyfiles.common import (
    KeyFileValueError,
    KeyValueError,
    format_spi,
    parse_hex,
    parse_spi,
    where,
)
from ipsec_inspect.crypto.keyfiles.validate import (
    check_field_types,
    field_line,
    parse_toml,
    top_level_line,
)
from ipsec_inspect.crypto.keys import ChildDhSecret, IkeKey, KeySource, KeyStore, SaKey

IKEV2_SECRETS = ("sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr", "skeyseed")
IKEV1_SECRETS = ("skeyid", "skeyid_d", "skeyid_a", "skeyid_e", "enc_key", "initial_iv")
COMMON_SECRETS = ("dh_secret", "nonce_i", "nonce_r")
_IKE_FIELDS = {"version", "spi_i", "spi_r", "encryption", "encryption_key_bits", "integrity",
               "prf", "dh_group", "origin", *IKEV2_SECRETS, *IKEV1_SECRETS, *COMMON_SECRETS}  # fmt: skip
_SA_FIELDS = {"spi", "src", "dst", "encryption", "encryption_key_bits", "encryption_key",
              "integrity", "integrity_key", "esn", "origin"}  # fmt: skip
_PFS_FIELDS = {"spi_in", "spi_out", "dh_group", "dh_secret", "origin"}
_TABLE_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*(ike|esp|ah|child_pfs)[ \t]*\]\]", re.MULTILINE)


def looks_like_toml(text: str) -> bool:
    """Cheap content test used by format detection."""
    return bool(_TABLE_HEADER.search(text))


def _header_lines(text: str) -> dict[str, list[int]]:
    """1-based line of each ``[[kind]]`` header, per kind, in order (tomllib has no lines)."""
    lines: dict[str, list[int]] = {"ike": [], "esp": [], "ah": [], "child_pfs": []}
    for m in _TABLE_HEADER.finditer(text):
        lines[m.group(1)].append(text.count("\n", 0, m.start()) + 1)
    return lines


def _hex_field(table: dict[str, Any], name: str) -> bytes:
    value = table.get(name, "")
    if not isinstance(value, str):
        raise KeyValueError(name, "must be a string of hex digits")
    return parse_hex(value, name) if value else b""


def load_toml(text: str, name: str) -> KeyStore:
    """Read our TOML key file. Problems name ``file:line`` of the table's header.

    A broken file — invalid TOML, a value of the wrong type, bad or odd-length hex, a key
    whose length does not fit its algorithm — raises :class:`KeyFileValueError` naming the
    file, the line and the field. An unknown algorithm or field is a problem (warning)."""
    store = KeyStore()
    doc = parse_toml(text, name)
    lines = _header_lines(text)
    for kind in ("ike", "esp", "ah", "child_pfs"):
        tables = doc.get(kind, [])
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            line = top_level_line(text, kind)
            raise KeyFileValueError(name, line, kind, f"must be an array of tables ([[{kind}]])")
        for index, table in enumerate(tables):
            line = lines[kind][index] if index < len(lines[kind]) else top_level_line(text, kind)
            loc = where(name, line)
            allowed = {"ike": _IKE_FIELDS, "child_pfs": _PFS_FIELDS}.get(kind, _SA_FIELDS)
            extra = set(table) - allowed
            if extra:
                store.problems.append(f"{loc}: ignored unknown field(s) {', '.join(sorted(extra))}")
            try:
                check_field_types(kind, table)
                if kind == "ike":
                    store.add_ike(_ike(table, loc))
                elif kind == "child_pfs":
                    store.child_dh.append(_child_pfs(table, loc))
                else:
                    store.add_sa(_sa(kind, table, loc))
            except KeyValueError as exc:
                at = field_line(text, line, exc.field)
                raise KeyFileValueError(name, at, exc.field, exc.reason) from None
            except (ValueError, UnknownAlgorithm) as exc:
                store.problems.append(f"{loc}: [[{kind}]] skipped: {exc}")
    unknown = set(doc) - {"ike", "esp", "ah", "child_pfs"}
    if unknown:
        store.problems.append(f"{name}: unknown top-level entries {', '.join(sorted(unknown))}")
    return store


def _ike(table: dict[str, Any], loc: str) -> IkeKey:
    version = table.get("version", 2)
    if version not in (1, 2):
        raise KeyValueError("version", f"must be 1 or 2, not {version!r}")
    spi_i = _hex_field(table, "spi_i")
    spi_r = _hex_field(table, "spi_r")
    if len(spi_i) != 8:
        raise KeyValueError("spi_i", f"must be 8 bytes of hex (16 digits), not {len(spi_i)}")
    if len(spi_r) not in (0, 8):
        raise KeyValueError("spi_r", f"must be 8 bytes of hex (16 digits), not {len(spi_r)}")
    enc, bits = None, None
    if table.get("encryption"):
        enc, bits = encryption_by_name(str(table["encryption"]))
    if "encryption_key_bits" in table:
        bits = int(table["encryption_key_bits"])
        if enc is not None and bits not in enc.key_bits:
            raise KeyValueError("encryption_key_bits", f"{enc.name} has no {bits}-bit key")
    integ = integrity_by_name(str(table["integrity"])) if table.get("integrity") else None
    prf = prf_by_name(str(table["prf"])) if table.get("prf") else None
    names = IKEV2_SECRETS if version == 2 else IKEV1_SECRETS
    secrets = {n: _hex_field(table, n) for n in (*names, *COMMON_SECRETS) if table.get(n)}
    wrong = [n for n in (IKEV1_SECRETS if version == 2 else IKEV2_SECRETS) if n in table]
    if wrong:
        raise KeyValueError(wrong[0], f"a secret of IKEv{3 - version} in an IKEv{version} SA")
    if enc is not None and bits is None and version == 2 and secrets.get("sk_ei"):
        bits = enc.bits_for_key(secrets["sk_ei"])
    if version == 2:
        _check_ikev2_key_lengths(secrets, enc, bits, integ)
    return IkeKey(version, spi_i, spi_r, enc, bits, integ, prf, secrets,
                  origin=str(table.get("origin") or loc))  # fmt: skip


def _check_ikev2_key_lengths(
    secrets: dict[str, bytes],
    enc: EncryptionAlg | None,
    bits: int | None,
    integ: IntegrityAlg | None,
) -> None:
    """SK_e and SK_a must have the length their algorithms take (RFC 7296 §2.14)."""
    if enc is not None and enc.mode != "null":
        for name in ("sk_ei", "sk_er"):
            key = secrets.get(name)
            if key is None:
                continue
            if enc.bits_for_key(key) is None or (bits and len(key) != enc.key_len(bits)):
                wanted = (
                    str(enc.key_len(bits))
                    if bits
                    else " or ".join(str(enc.key_len(b)) for b in enc.key_bits)
                )
                raise KeyValueError(
                    name, f"is {len(key)} bytes; {enc.name} takes {wanted} (salt included)"
                )
    if integ is not None and integ.kind in ("hmac", "xcbc", "cmac"):
        for name in ("sk_ai", "sk_ar"):
            key = secrets.get(name)
            if key is not None and len(key) != integ.key_len:
                raise KeyValueError(
                    name, f"is {len(key)} bytes; {integ.name} takes {integ.key_len}"
                )


def _child_pfs(table: dict[str, Any], loc: str) -> ChildDhSecret:
    """``[[child_pfs]]``: the DH secret of a child SA negotiated with PFS, by its SPIs."""
    secret = _hex_field(table, "dh_secret")
    if not secret:
        raise KeyValueError("dh_secret", "is required")
    spis = tuple(
        _spi_value(n, "0x" + str(table[n]).removeprefix("0x"))[0]
        for n in ("spi_in", "spi_out")
        if table.get(n)
    )
    group = table.get("dh_group")
    return ChildDhSecret(secret, spis, int(group) if group is not None else None, origin=loc)


def _spi_value(field: str, value: str | int) -> tuple[int, int]:
    try:
        return parse_spi(value)
    except KeyValueError as exc:
        raise KeyValueError(field, exc.reason) from None


def _sa(kind: str, table: dict[str, Any], loc: str) -> SaKey:
    if "spi" not in table:
        raise KeyValueError("spi", "is required")
    raw_spi = table["spi"]
    if (
        isinstance(raw_spi, str)
        and raw_spi.strip() not in ("*", "")
        and raw_spi[:2].lower() != "0x"
    ):
        raw_spi = "0x" + raw_spi.strip()  # TOML strings are hex, like every other value
    spi, mask = _spi_value("spi", raw_spi)
    enc = encryption_by_name(str(table["encryption"]))[0] if table.get("encryption") else None
    integ = integrity_by_name(str(table["integrity"])) if table.get("integrity") else None
    if kind == "ah" and enc is not None:
        raise KeyValueError("encryption", "AH has no encryption")
    esn = table.get("esn", False)
    key = SaKey(
        protocol=kind,
        spi=spi,
        src=str(table["src"]) if table.get("src") else None,
        dst=str(table["dst"]) if table.get("dst") else None,
        encryption=enc,
        encryption_key=_hex_field(table, "encryption_key"),
        integrity=integ,
        integrity_key=_hex_field(table, "integrity_key"),
        esn=esn,
        origin=str(table.get("origin") or loc),
        spi_mask=mask,
    )
    bits = key.encryption_bits
    declared = table.get("encryption_key_bits", bits)
    if enc is not None and enc.mode != "null" and bits is None:
        wanted = " or ".join(str(enc.key_len(b)) for b in enc.key_bits)
        raise KeyValueError(
            "encryption_key",
            f"is {len(key.encryption_key)} bytes; {enc.name} takes {wanted} (salt included)",
        )
    if enc is not None and enc.mode != "null" and declared != bits:
        raise KeyValueError(
            "encryption_key_bits",
            f"{declared} does not match the {len(key.encryption_key)}-byte {enc.name} "
            "encryption_key",
        )
    if (
        integ is not None
        and integ.kind in ("hmac", "xcbc", "cmac")
        and key.integrity_key
        and len(key.integrity_key) != integ.key_len
    ):
        raise KeyValueError(
            "integrity_key",
            f"is {len(key.integrity_key)} bytes; {integ.name} takes {integ.key_len}",
        )
    return key


# --------------------------------------------------------------------------- writer


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _comment(key: SaKey | IkeKey) -> str:
    what = "derived" if key.source is KeySource.DERIVED else "supplied"
    return f"# {what}" + (f": {key.origin}" if key.origin else "")


def write_toml(store: KeyStore, include_keys: bool) -> str:
    """Our TOML for everything in ``store``; key bytes only when ``include_keys``."""
    out = ["# ipsec-inspect key file (format: docs/keys.md)"]
    if not include_keys:
        out.append("# key material omitted (export with --include-keys to write it)")
    for ike in store.ike_keys():
        out += ["", _comment(ike), "[[ike]]", f"version = {ike.version}",
                f"spi_i = {_q(ike.spi_i.hex())}"]  # fmt: skip
        if ike.spi_r:
            out.append(f"spi_r = {_q(ike.spi_r.hex())}")
        if ike.encryption is not None:
            out.append(f"encryption = {_q(ike.encryption.name)}")
            if ike.encryption_key_bits:
                out.append(f"encryption_key_bits = {ike.encryption_key_bits}")
        if ike.integrity is not None:
            out.append(f"integrity = {_q(ike.integrity.name)}")
        if ike.prf is not None:
            out.append(f"prf = {_q(ike.prf.name)}")
        if include_keys:
            out += [f"{n} = {_q(v.hex())}" for n, v in ike.secrets.items() if n in _IKE_FIELDS]
    for c in store.child_dh:
        out += ["", f"# {c.origin}" if c.origin else "# PFS secret of a child SA", "[[child_pfs]]"]
        for n, spi in zip(("spi_in", "spi_out"), c.spis, strict=False):
            out.append(f"{n} = {_q(f'{spi:08x}')}")
        if c.dh_group is not None:
            out.append(f"dh_group = {c.dh_group}")
        if include_keys:
            out.append(f"dh_secret = {_q(c.dh_secret.hex())}")
    for sa in store.sa_keys():
        out += [
            "",
            _comment(sa),
            f"[[{sa.protocol}]]",
            f"spi = {_q(format_spi(sa.spi, sa.spi_mask))}",
        ]
        if sa.src and sa.src != "*":
            out.append(f"src = {_q(sa.src)}")
        if sa.dst and sa.dst != "*":
            out.append(f"dst = {_q(sa.dst)}")
        if sa.encryption is not None:
            out.append(f"encryption = {_q(sa.encryption.name)}")
            if include_keys:
                out.append(f"encryption_key = {_q(sa.encryption_key.hex())}")
        if sa.integrity is not None:
            out.append(f"integrity = {_q(sa.integrity.name)}")
            if include_keys:
                out.append(f"integrity_key = {_q(sa.integrity_key.hex())}")
        if sa.esn:
            out.append("esn = true")
    return "\n".join(out) + "\n"
