"""Name lookups over the IANA IKE registries in ``ikev1.py`` and ``ikev2.py``.

Why lookups instead of bare dicts: every layer (dissectors, crypto, lifecycle, TUI, exports)
names the same values, and an unknown value should read the same everywhere: the IANA name
when assigned, ``"Private Use (n)"`` in a private range, ``"Unassigned (n)"`` otherwise.
Functions whose name ends in ``_or_none`` return ``None`` for unknown values so callers can
fall back to numbers in compact text (summaries).

The dicts below are built once at import from the constant row tables and never mutated.
A value none of them knows is looked up in the installed plugin registry (if any) before
falling back to ``Private Use (n)``, so plugin names read the same everywhere too.
"""

from __future__ import annotations

from collections.abc import Iterable

from ipsec_inspect.core.extensions import NO_DISSECTORS, DissectorTables

from . import ikev1 as v1
from . import ikev2 as v2


def _table(rows: Iterable[tuple[int, str]]) -> dict[int, str]:
    return {value: name for value, name in rows}


def _fallback(n: int, private: tuple[tuple[int, int, str], ...] = ()) -> str:
    for lo, hi, label in private:
        if lo <= n <= hi:
            return f"{label} ({n})"
    return f"Unassigned ({n})"


# ---------------------------------------------------------------- tables (built once)

_V2_EXCHANGES = _table(v2.EXCHANGE_TYPES)
_V1_EXCHANGES = {value: name for value, _short, name in v1.EXCHANGE_TYPES}
_V1_EXCHANGES_SHORT = {value: short for value, short, _name in v1.EXCHANGE_TYPES}

_V2_PAYLOADS = {value: name for value, _short, name in v2.PAYLOAD_TYPES}
_V2_PAYLOADS_SHORT = {value: short for value, short, _name in v2.PAYLOAD_TYPES}
_V1_PAYLOADS = {value: name for value, _short, name in v1.PAYLOAD_TYPES}
_V1_PAYLOADS_SHORT = {value: short for value, short, _name in v1.PAYLOAD_TYPES}
_V1_DRAFT_NAT = {value: (short, name) for value, short, name in v1.DRAFT_NAT_PAYLOADS}

_TRANSFORM_TYPES = {value: name for value, _short, name in v2.TRANSFORM_TYPES}
_TRANSFORM_TYPES_SHORT = {value: short for value, short, _name in v2.TRANSFORM_TYPES}
_KE_METHODS = _table(v2.KEY_EXCHANGE_METHODS)
# ADDKE1..ADDKE7 (types 6-12) take key exchange method IDs (RFC 9370 2.2.1).
_TRANSFORM_IDS: dict[int, dict[int, str]] = {
    **{addke: _KE_METHODS for addke in range(6, 13)},
    1: _table(v2.ENCRYPTION_ALGORITHMS),
    2: _table(v2.PRF_ALGORITHMS),
    3: _table(v2.INTEGRITY_ALGORITHMS),
    4: _KE_METHODS,
    5: _table(v2.SEQUENCE_NUMBERS),
    13: _table(v2.KEY_WRAP_ALGORITHMS),
    14: _table(v2.GROUP_CONTROLLER_AUTH_METHODS),
}
_V2_TRANSFORM_ATTRS = _table(v2.TRANSFORM_ATTRIBUTE_TYPES)

_NOTIFY = {1: _table(v1.NOTIFY_TYPES), 2: _table(v2.NOTIFY_TYPES)}
_NOTIFY_PRIVATE = {1: v1.NOTIFY_PRIVATE_RANGES, 2: v2.NOTIFY_PRIVATE_RANGES}
_ID_TYPES = {1: _table(v1.ID_TYPES), 2: _table(v2.ID_TYPES)}
_CERT_ENCODINGS = {1: _table(v1.CERT_ENCODINGS), 2: _table(v2.CERT_ENCODINGS)}
_CFG_TYPES = {1: _table(v1.CFG_TYPES), 2: _table(v2.CFG_TYPES)}
_CFG_ATTRIBUTES = {1: _table(v1.CFG_ATTRIBUTES), 2: _table(v2.CP_ATTRIBUTES)}
_PROTOCOLS = {1: _table(v1.PROTOCOL_IDS), 2: _table(v2.PROTOCOL_IDS)}
_AUTH_METHODS = _table(v2.AUTH_METHODS)
_TS_TYPES = _table(v2.TS_TYPES)
_HASH_ALGORITHMS = _table(v2.HASH_ALGORITHMS)
_GATEWAY_ID_TYPES = _table(v2.GATEWAY_ID_TYPES)
_SECURE_PASSWORD_METHODS = _table(v2.SECURE_PASSWORD_METHODS)
_EAP_CODES = _table(v2.EAP_CODES)
_EAP_TYPES = _table(v2.EAP_TYPES)
_DOI = _table(v1.DOI)
_XAUTH_TYPES = _table(v1.XAUTH_TYPES)

_IKE_ATTRS = {value: name for value, name, _fmt in v1.IKE_ATTRIBUTE_TYPES}
_IKE_ATTR_VALUES = {cls: _table(rows) for cls, rows in v1.IKE_ATTRIBUTE_VALUES}
_IPSEC_ATTRS = {value: name for value, name, _fmt in v1.IPSEC_ATTRIBUTE_TYPES}
_IPSEC_ATTR_VALUES = {cls: _table(rows) for cls, rows in v1.IPSEC_ATTRIBUTE_VALUES}
_V1_TRANSFORM_IDS: dict[int, dict[int, str]] = {
    1: _table(v1.ISAKMP_TRANSFORM_IDS),
    2: _table(v1.AH_TRANSFORM_IDS),
    3: _table(v1.ESP_TRANSFORM_IDS),
    4: _table(v1.IPCOMP_TRANSFORM_IDS),
}


# ---------------------------------------------------------------- exchanges and payloads


def exchange_name(version: int, n: int) -> str:
    """IANA exchange type name (IKEv1: ``Identity Protection (Main Mode)``)."""
    table = _V2_EXCHANGES if version == 2 else _V1_EXCHANGES
    return table.get(n) or _fallback(n, ((240, 255, "Private Use"),))


def exchange_short_name(version: int, n: int) -> str:
    """Name for one-line summaries (IKEv1: ``Main Mode``, ``Quick Mode``)."""
    if version == 2:
        return _V2_EXCHANGES.get(n) or f"exchange {n}"
    return _V1_EXCHANGES_SHORT.get(n) or f"exchange {n}"


def is_known_exchange(version: int, n: int) -> bool:
    return n in (_V2_EXCHANGES if version == 2 else _V1_EXCHANGES)


def payload_name(version: int, n: int, ext: DissectorTables = NO_DISSECTORS) -> str:
    """Long payload type name (``Security Association``); ``ext``: extension payload types."""
    table = _V2_PAYLOADS if version == 2 else _V1_PAYLOADS
    name = table.get(n)
    if name is not None:
        return name
    plugin = ext.payloads.get((2 if version == 2 else 1, n))
    return plugin.name if plugin is not None else _fallback(n, ((128, 255, "Private Use"),))


def payload_short_name(version: int, n: int, ext: DissectorTables = NO_DISSECTORS) -> str:
    """Short payload name as in summaries (``SA KE IDi ... SK``); the number when unknown."""
    table = _V2_PAYLOADS_SHORT if version == 2 else _V1_PAYLOADS_SHORT
    name = table.get(n)
    if name is not None:
        return name
    plugin = ext.payloads.get((2 if version == 2 else 1, n))
    return plugin.short if plugin is not None else str(n)


def is_known_payload(version: int, n: int) -> bool:
    return n in (_V2_PAYLOADS if version == 2 else _V1_PAYLOADS)


def draft_nat_payload(n: int) -> tuple[str, str] | None:
    """``(short, long)`` name of IKEv1 payload 15/16 when read as the NAT-T draft NAT-D/NAT-OA."""
    return _V1_DRAFT_NAT.get(n)


# ---------------------------------------------------------------- IKEv2 transforms


def transform_type_name(transform_type: int) -> str:
    """IANA transform type name (``Encryption Algorithm``, ``Additional Key Exchange 1``)."""
    return _TRANSFORM_TYPES.get(transform_type) or _fallback(
        transform_type, ((241, 255, "Private Use"),)
    )


def transform_type_short_name(transform_type: int) -> str:
    """Abbreviation (``ENCR``, ``PRF``, ``INTEG``, ``KE``, ``SN``, ``ADDKE1``)."""
    return _TRANSFORM_TYPES_SHORT.get(transform_type) or str(transform_type)


def transform_name_or_none(transform_type: int, transform_id: int) -> str | None:
    table = _TRANSFORM_IDS.get(transform_type)
    return table.get(transform_id) if table is not None else None


def transform_name(transform_type: int, transform_id: int) -> str:
    """IKEv2 transform ID name for its type (``ENCR_AES_CBC``, ``PRF_HMAC_SHA2_256``...)."""
    name = transform_name_or_none(transform_type, transform_id)
    if name is not None:
        return name
    return _fallback(transform_id, ((1024, 65535, "Private Use"),))


def ke_method_name(n: int) -> str:
    """Key exchange method / Diffie-Hellman group name (``256-bit random ECP group``)."""
    return _KE_METHODS.get(n) or _fallback(n, ((1024, 65535, "Private Use"),))


dh_group_name = ke_method_name


def transform_attribute_name(version: int, attr_type: int) -> str:
    """Transform attribute type; IKEv2 only defines Key Length (14)."""
    if version == 2:
        return _V2_TRANSFORM_ATTRS.get(attr_type) or _fallback(attr_type)
    return ike_attribute_name(attr_type)


# ---------------------------------------------------------------- IKEv1 attributes and transforms


def ike_attribute_name(attr_type: int) -> str:
    """IKE DOI (phase 1) attribute class name (``Encryption Algorithm``, ``Life Duration``)."""
    return _IKE_ATTRS.get(attr_type) or _fallback(attr_type, ((16384, 32767, "Private Use"),))


def ike_attribute_value_name(attr_type: int, value: int) -> str | None:
    """Name of a phase-1 attribute value (``AES-CBC``, ``seconds``) or None if not enumerated."""
    table = _IKE_ATTR_VALUES.get(attr_type)
    return table.get(value) if table is not None else None


def ipsec_attribute_name(attr_type: int) -> str:
    """IPsec DOI (phase 2) SA attribute name (``Encapsulation Mode``, ``SA Life Type``)."""
    return _IPSEC_ATTRS.get(attr_type) or _fallback(attr_type, ((32001, 32767, "Private Use"),))


def ipsec_attribute_value_name(attr_type: int, value: int) -> str | None:
    """Name of a phase-2 attribute value (``UDP-Encapsulated-Tunnel``, ``HMAC-SHA``) or None."""
    table = _IPSEC_ATTR_VALUES.get(attr_type)
    return table.get(value) if table is not None else None


def ipsec_transform_name_or_none(protocol: int, transform_id: int) -> str | None:
    table = _V1_TRANSFORM_IDS.get(protocol)
    return table.get(transform_id) if table is not None else None


def ipsec_transform_name(protocol: int, transform_id: int) -> str:
    """IKEv1 transform ID for its proposal protocol (``KEY_IKE``, ``ESP_AES-CBC``, ``AH_SHA``)."""
    name = ipsec_transform_name_or_none(protocol, transform_id)
    return name if name is not None else _fallback(transform_id, ((249, 255, "Private Use"),))


def doi_name(n: int) -> str:
    return _DOI.get(n) or _fallback(n)


def xauth_type_name(n: int) -> str:
    return _XAUTH_TYPES.get(n) or _fallback(n, ((32768, 65535, "Private Use"),))


# ---------------------------------------------------------------- payload contents


def notify_name_or_none(version: int, n: int, ext: DissectorTables = NO_DISSECTORS) -> str | None:
    v = 2 if version == 2 else 1
    name = _NOTIFY[v].get(n)
    return name if name is not None else ext.notify_names.get((v, n))


def notify_name(version: int, n: int, ext: DissectorTables = NO_DISSECTORS) -> str:
    """Notify message type name; every IANA-assigned value is named (``ext``: the others)."""
    v = 2 if version == 2 else 1
    return _NOTIFY[v].get(n) or ext.notify_names.get((v, n)) or _fallback(n, _NOTIFY_PRIVATE[v])


def id_type_name(version: int, n: int) -> str:
    return _ID_TYPES[2 if version == 2 else 1].get(n) or _fallback(
        n, ((201, 255, "Private Use"),) if version == 2 else ((249, 255, "Private Use"),)
    )


def cert_encoding_name(version: int, n: int) -> str:
    return _CERT_ENCODINGS[2 if version == 2 else 1].get(n) or _fallback(
        n, ((201, 255, "Private Use"),)
    )


def auth_method_name(n: int) -> str:
    """IKEv2 AUTH payload method."""
    return _AUTH_METHODS.get(n) or _fallback(n, ((201, 255, "Private Use"),))


def ts_type_name(n: int) -> str:
    return _TS_TYPES.get(n) or _fallback(n, ((241, 255, "Private Use"),))


def cfg_type_name(version: int, n: int) -> str:
    return _CFG_TYPES[2 if version == 2 else 1].get(n) or _fallback(n, ((128, 255, "Private Use"),))


def cp_attribute_name(version: int, n: int) -> str:
    """CP (IKEv2) / Mode Config attribute (IKEv1) name."""
    return _CFG_ATTRIBUTES[2 if version == 2 else 1].get(n) or _fallback(
        n, ((16384, 32767, "Private Use"),)
    )


def protocol_name(version: int, n: int) -> str:
    """Security protocol ID (IKEv2 ``IKE``/``AH``/``ESP``; IKEv1 ``PROTO_IPSEC_ESP``...)."""
    return _PROTOCOLS[2 if version == 2 else 1].get(n) or _fallback(n)


def hash_algorithm_name(n: int) -> str:
    """RFC 7427 hash algorithm (SIGNATURE_HASH_ALGORITHMS notify)."""
    return _HASH_ALGORITHMS.get(n) or _fallback(n, ((1024, 65535, "Private Use"),))


def gateway_id_type_name(n: int) -> str:
    return _GATEWAY_ID_TYPES.get(n) or _fallback(n)


def secure_password_method_name(n: int) -> str:
    return _SECURE_PASSWORD_METHODS.get(n) or _fallback(n)


def eap_code_name(n: int) -> str:
    return _EAP_CODES.get(n) or _fallback(n)


def eap_type_name(n: int) -> str:
    return _EAP_TYPES.get(n) or _fallback(n)


__all__ = [
    "auth_method_name",
    "cert_encoding_name",
    "cfg_type_name",
    "cp_attribute_name",
    "dh_group_name",
    "doi_name",
    "draft_nat_payload",
    "eap_code_name",
    "eap_type_name",
    "exchange_name",
    "exchange_short_name",
    "gateway_id_type_name",
    "hash_algorithm_name",
    "id_type_name",
    "ike_attribute_name",
    "ike_attribute_value_name",
    "ipsec_attribute_name",
    "ipsec_attribute_value_name",
    "ipsec_transform_name",
    "ipsec_transform_name_or_none",
    "is_known_exchange",
    "is_known_payload",
    "ke_method_name",
    "notify_name",
    "notify_name_or_none",
    "payload_name",
    "payload_short_name",
    "protocol_name",
    "secure_password_method_name",
    "transform_attribute_name",
    "transform_name",
    "transform_name_or_none",
    "transform_type_name",
    "transform_type_short_name",
    "ts_type_name",
    "xauth_type_name",
]
