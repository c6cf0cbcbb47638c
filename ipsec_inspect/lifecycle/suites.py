"""Turn SA payload proposals into the suite names and numbers the model keeps.

Why a module: the tracker, the audit rules and the JSON all need the same reading of a
proposal — IKEv2 transforms, IKEv1 phase-1 attributes and IKEv1 phase-2 attributes each
name algorithms differently. Here each is mapped once to IKEv2 transform numbers (the
numbers the rules are written in) and to names from the IANA registry
(:mod:`ipsec_inspect.ipsec.registry`); algorithm properties come from the single
algorithm table (:mod:`ipsec_inspect.ipsec.registry.algorithms`, the rows that
:mod:`ipsec_inspect.crypto.algorithms` binds to ``cryptography``), read directly so that
naming a suite imports no cryptography (start-up of a short command).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ipsec_inspect.core.records import Attribute, Proposal, Transform
from ipsec_inspect.ipsec import registry

# The rows, not crypto.algorithms: naming a suite needs no cryptography (start-up).
from ipsec_inspect.ipsec.registry import algorithms as alg

# IKEv2 transform types
ENCR, PRF, INTEG, KE, ESN = 1, 2, 3, 4, 5
# IKEv1 phase-1 attribute classes (RFC 2409 appendix A)
P1_ENCR, P1_HASH, P1_AUTH, P1_GROUP, P1_LIFE_TYPE, P1_LIFE_DURATION, P1_KEY_LENGTH = (
    1,
    2,
    3,
    4,
    11,
    12,
    14,
)
# IKEv1 phase-2 attribute classes (RFC 2407 §4.5)
P2_LIFE_TYPE, P2_LIFE_DURATION, P2_GROUP, P2_ENCAP, P2_AUTH, P2_KEY_LENGTH, P2_ESN = (
    1,
    2,
    3,
    4,
    5,
    6,
    11,
)
#: IKEv1 Hash Algorithm -> the IKEv2 integrity transform with the same hash (for the rules).
V1_HASH_TO_INTEG = {1: 1, 2: 2, 4: 12, 5: 13, 6: 14}
#: IKEv1 encapsulation mode values -> (mode, UDP-encapsulated)
V1_ENCAP = {
    1: ("tunnel", False),
    2: ("transport", False),
    3: ("tunnel", True),
    4: ("transport", True),
    61443: ("tunnel", True),
    61444: ("transport", True),
}
#: IKEv1 auth methods that use a pre-shared key (RFC 2409; XAUTH draft 65001/65002)
V1_PSK_METHODS = frozenset({1, 65001, 65002})


@dataclass(slots=True)
class Suite:
    """One proposal read as names (for people) and IKEv2 numbers (for rules)."""

    names: dict[str, Any] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    mode: str | None = None
    udp_encap: bool = False
    auth_method: int | None = None
    lifetime_seconds: int | None = None
    lifetime_kilobytes: int | None = None


#: Largest life duration kept (seconds or kilobytes). IKEv1 encodes it as a variable-length
#: attribute of any byte length; a longer one means "practically forever", and clamping
#: keeps every later sum with a capture time a finite float.
MAX_LIFE_DURATION = 2**64 - 1


def _int(a: Attribute, any_length: bool = False) -> int | None:
    """The attribute as a number: TV values, TLV values of up to 8 bytes, and with
    ``any_length`` (life durations) TLV values of any length, clamped."""
    if isinstance(a.value, int):
        return min(a.value, MAX_LIFE_DURATION) if any_length else a.value
    if isinstance(a.value, bytes | bytearray) and 0 < len(a.value) <= 8:
        return int.from_bytes(a.value, "big")
    if any_length and isinstance(a.value, bytes | bytearray) and a.value:
        significant = a.value.lstrip(b"\x00")
        if len(significant) > 8:
            return MAX_LIFE_DURATION
        return int.from_bytes(significant, "big")
    return None


def _encr_name(encr_id: int, bits: int | None, name: str) -> str:
    return f"{name}_{bits}" if bits else name


def v2_suite(proposal: Proposal) -> Suite:
    """The first transform of each type (a response carries exactly one of each)."""
    s = Suite()
    for t in proposal.transforms:
        key = {ENCR: "encryption", PRF: "prf", INTEG: "integrity", KE: "dh_group", ESN: "esn"}.get(
            t.type
        )
        if key is None or key in s.ids:
            continue
        s.ids[key] = t.id
        if t.type == ENCR:
            bits = t.key_length
            if bits:
                s.ids["key_bits"] = bits
            s.names[key] = _encr_name(t.id, bits, registry.transform_name(ENCR, t.id))
        elif t.type == KE:
            s.names[key] = registry.ke_method_name(t.id)
        elif t.type == ESN:
            s.names[key] = t.id == 1
        else:
            s.names[key] = registry.transform_name(t.type, t.id)
    return s


def v2_offered(proposal: Proposal) -> dict[str, Any]:
    """Every transform of one offered proposal, grouped by type."""
    out: dict[str, Any] = {
        "number": proposal.number,
        "protocol": _protocol_name(2, proposal.protocol),
    }
    for t in proposal.transforms:
        key = {ENCR: "encryption", PRF: "prf", INTEG: "integrity", KE: "dh_group", ESN: "esn"}.get(
            t.type, f"type_{t.type}"
        )
        if t.type == ENCR:
            name = _encr_name(t.id, t.key_length, registry.transform_name(ENCR, t.id))
        elif t.type == KE:
            name = registry.ke_method_name(t.id)
        else:
            name = registry.transform_name(t.type, t.id)
        out.setdefault(key, []).append(name)
    return out


def v2_offered_ids(proposal: Proposal) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for t in proposal.transforms:
        key = {ENCR: "encryption", PRF: "prf", INTEG: "integrity", KE: "dh_group", ESN: "esn"}.get(
            t.type, f"type_{t.type}"
        )
        out.setdefault(key, []).append(t.id)
    return out


def _protocol_name(version: int, n: int) -> str:
    return registry.protocol_name(version, n)


def v1_phase1_suite(transform: Transform) -> Suite:
    """An IKEv1 phase-1 transform: algorithms are attributes (RFC 2409 appendix A)."""
    s = Suite()
    bits: int | None = None
    for a in transform.attributes:
        v = _int(a)
        if v is None:
            continue
        if a.type == P1_KEY_LENGTH:
            bits = v
    life_type = 1
    for a in transform.attributes:
        v = _int(a, any_length=a.type == P1_LIFE_DURATION)
        if v is None:
            continue
        named = registry.ike_attribute_value_name(a.type, v) or str(v)
        if a.type == P1_ENCR:
            e = alg.encryption_by_ikev1_attribute(v)
            if e is not None:
                s.ids["encryption"] = e.iana_id
            s.names["encryption"] = f"{named}-{bits}" if bits else named
            if bits:
                s.ids["key_bits"] = bits
        elif a.type == P1_HASH:
            p = alg.prf_by_ikev1_hash(v)
            if p is not None:
                s.ids["prf"] = p.iana_id
            if v in V1_HASH_TO_INTEG:
                s.ids["integrity"] = V1_HASH_TO_INTEG[v]
            s.names["prf"] = named
            s.names["integrity"] = named
        elif a.type == P1_GROUP:
            s.ids["dh_group"] = v
            s.names["dh_group"] = named
        elif a.type == P1_AUTH:
            s.auth_method = v
            s.names["auth_method"] = named
        elif a.type == P1_LIFE_TYPE:
            life_type = v
        elif a.type == P1_LIFE_DURATION:
            if life_type == 1:
                s.lifetime_seconds = v
            else:
                s.lifetime_kilobytes = v
    return s


def v1_phase1_offered(proposal: Proposal) -> list[dict[str, Any]]:
    out = []
    for t in proposal.transforms:
        s = v1_phase1_suite(t)
        out.append({"number": t.number, "protocol": "ISAKMP", **s.names})
    return out


def v1_phase2_suite(proposal: Proposal, transform: Transform) -> Suite:
    """An IKEv1 phase-2 transform: the ESP/AH transform id plus IPsec DOI attributes."""
    s = Suite()
    bits: int | None = None
    for a in transform.attributes:
        v = _int(a)
        if v is not None and a.type == P2_KEY_LENGTH:
            bits = v
    if proposal.protocol == 3:  # ESP: the transform id is the cipher
        e = alg.encryption_by_ikev1_esp_id(transform.id)
        s.ids["encryption"] = e.iana_id if e is not None else transform.id
        name = registry.ipsec_transform_name(proposal.protocol, transform.id)
        s.names["encryption"] = f"{name}-{bits}" if bits else name
        if bits:
            s.ids["key_bits"] = bits
    life_type = 1
    for a in transform.attributes:
        v = _int(a, any_length=a.type == P2_LIFE_DURATION)
        if v is None:
            continue
        named = registry.ipsec_attribute_value_name(a.type, v) or str(v)
        if a.type == P2_AUTH:
            i = alg.integrity_by_ikev1_attribute(v)
            if i is not None:
                s.ids["integrity"] = i.iana_id
            s.names["integrity"] = named
        elif a.type == P2_ENCAP and v in V1_ENCAP:
            s.mode, s.udp_encap = V1_ENCAP[v]
        elif a.type == P2_GROUP:
            s.ids["dh_group"] = v
            s.names["dh_group"] = named
        elif a.type == P2_ESN:
            s.ids["esn"] = 1 if v == 1 else 0
            s.names["esn"] = v == 1
        elif a.type == P2_LIFE_TYPE:
            life_type = v
        elif a.type == P2_LIFE_DURATION:
            if life_type == 1:
                s.lifetime_seconds = v
            else:
                s.lifetime_kilobytes = v
    if proposal.protocol == 2:  # AH: integrity only
        s.names.setdefault("encryption", None)
    return s


def v1_phase2_offered(proposal: Proposal) -> list[dict[str, Any]]:
    return [
        {
            "number": t.number,
            "protocol": _protocol_name(1, proposal.protocol),
            **v1_phase2_suite(proposal, t).names,
        }
        for t in proposal.transforms
    ]


def encryption_alg(encr_id: int | None) -> alg.EncryptionAlg | None:
    """Properties (AEAD, IV length, ICV length, block) of an ENCR transform number."""
    return alg.encryption_by_id(encr_id) if encr_id is not None else None


def integrity_alg(integ_id: int | None) -> alg.IntegrityAlg | None:
    return alg.integrity_by_id(integ_id) if integ_id is not None else None
