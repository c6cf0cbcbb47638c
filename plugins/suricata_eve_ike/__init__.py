"""Suricata EVE-style ``ike`` records: one JSON line per IKE message.

Why: many SOCs ingest Suricata EVE JSON; emitting the same record shape lets their
dashboards and rules use our (decrypting, NAT-T and TCP aware) IKE view. Field names follow
Suricata's ``ike`` event (``_v`` 2 layout): ``init_spi``, ``resp_spi``, ``message_id``,
``exchange_type``, ``payload``; IKEv1 ``attributes`` (the chosen transform as
key/value/raw), ``ikev1.client``/``ikev1.server`` key exchange and nonce (+ lengths),
``ikev1.client.proposals``, ``ikev1.vendor_ids``, ``ikev1.encrypted_payloads``; IKEv2
``role``, ``ikev2.errors``, ``ikev2.notify`` and the responder's ``alg_*``. IKEv1
attribute values use Suricata's names (``EncAesCbc``, ``HashSha``,
``GroupAlternate1024BitModpGroup``); IKEv2 algorithms use the IANA names.

Like Suricata, IKEv1 client/server state accumulates over the IKE SA's messages, so the
record of Main Mode message 4 carries both nonces.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from ipsec_inspect.core.records import (
    Attribute,
    IkeMessage,
    KeBody,
    NonceBody,
    NotifyBody,
    SaBody,
    Transform,
    VendorIdBody,
)
from ipsec_inspect.ipsec import registry as reg
from ipsec_inspect.plugins.api import ExportInput, PluginContext

NAME = "suricata_eve_ike"
VERSION = "1.0"
DESCRIPTION = "exporter 'suricata-eve-ike': Suricata EVE-style ike records (JSON lines)"

# IKEv1 phase-1 attribute type -> Suricata key (rust/src/ike/parser.rs AttributeType).
ATTRIBUTE_KEYS: dict[int, str] = {
    1: "alg_enc",
    2: "alg_hash",
    3: "alg_auth",
    4: "alg_dh",
    5: "sa_group_type",
    11: "sa_life_type",
    12: "sa_life_duration",
    13: "alg_prf",
    14: "sa_key_length",
    15: "sa_field_size",
    16: "sa_group_order",
}
# (attribute type, value) -> Suricata AttributeValue name; anything else is "Unknown".
ATTRIBUTE_VALUES: dict[tuple[int, int], str] = {
    (1, 1): "EncDesCbc",
    (1, 2): "EncIdeaCbc",
    (1, 3): "EncBlowfishCbc",
    (1, 4): "EncRc5R16B64Cbc",
    (1, 5): "EncTripleDesCbc",
    (1, 6): "EncCastCbc",
    (1, 7): "EncAesCbc",
    (1, 8): "EncCamelliaCbc",
    (2, 1): "HashMd5",
    (2, 2): "HashSha",
    (2, 3): "HashTiger",
    (2, 4): "HashSha2_256",
    (2, 5): "HashSha2_384",
    (2, 6): "HashSha2_512",
    (3, 1): "AuthPreSharedKey",
    (3, 2): "AuthDssSignatures",
    (3, 3): "AuthRsaSignatures",
    (3, 4): "AuthEncryptionWithRsa",
    (3, 5): "AuthRevisedEncryptionWithRsa",
    (3, 9): "AuthEcdsaSha256",
    (3, 10): "AuthEcdsaSha384",
    (3, 11): "AuthEcdsaSha512",
    (4, 1): "GroupDefault768BitModp",
    (4, 2): "GroupAlternate1024BitModpGroup",
    (4, 3): "GroupEc2nOnGp2p155",
    (4, 4): "GroupEc2nOnGp2p185",
    (4, 5): "GroupModp1536Bit",
    (4, 6): "GroupEc2nOverGf2p163",
    (4, 7): "GroupEc2nOverGf2p283",
    (4, 8): "GroupEc2nOverGf2p409",
    (4, 9): "GroupEc2nOverGf2p571",
    (4, 14): "GroupModp2048Bit",
    (4, 15): "GroupModp3072Bit",
    (4, 16): "GroupModp4096Bit",
    (4, 17): "GroupModp6144Bit",
    (4, 18): "GroupModp8192Bit",
    (4, 19): "GroupRandomEcp256",
    (4, 20): "GroupRandomEcp384",
    (4, 21): "GroupRandomEcp521",
    (4, 22): "GroupModp1024With160BitPrime",
    (4, 23): "GroupModp2048With224BitPrime",
    (4, 24): "GroupModp2048With256BitPrime",
    (4, 25): "GroupRandomEcp192",
    (4, 26): "GroupRandomEcp224",
    (4, 27): "GroupBrainpoolEcp224",
    (4, 28): "GroupBrainpoolEcp256",
    (4, 29): "GroupBrainpoolEcp384",
    (4, 30): "GroupBrainpoolEcp512",
    (11, 1): "LifeTypeSeconds",
    (11, 2): "LifeTypeKilobytes",
}
# Payload type -> name in Suricata's payload list (IKEv2 names of the ipsec-parser crate).
PAYLOAD_NAMES: dict[int, str] = {
    1: "SecurityAssociation",
    2: "Proposal",
    3: "Transform",
    4: "KeyExchange",
    5: "Identification",
    6: "Certificate",
    7: "CertificateRequest",
    8: "Hash",
    9: "Signature",
    10: "Nonce",
    11: "Notification",
    12: "Delete",
    13: "VendorID",
    33: "SecurityAssociation",
    34: "KeyExchange",
    35: "IdentInitiator",
    36: "IdentResponder",
    37: "Certificate",
    38: "CertificateRequest",
    39: "Authentication",
    40: "Nonce",
    41: "Notify",
    42: "Delete",
    43: "VendorID",
    44: "TrafficSelectorInitiator",
    45: "TrafficSelectorResponder",
    46: "EncryptedAndAuthenticated",
    47: "Configuration",
    48: "ExtensibleAuthentication",
}
V2_ALG_KEYS = {1: "alg_enc", 2: "alg_prf", 3: "alg_auth", 4: "alg_dh", 5: "alg_esn"}


def attribute_json(a: Attribute) -> dict[str, Any]:
    raw = a.value if isinstance(a.value, int) else int.from_bytes(a.value[:8], "big")
    return {
        "key": ATTRIBUTE_KEYS.get(a.type, "unknown"),
        "value": ATTRIBUTE_VALUES.get((a.type, raw), "Unknown"),
        "raw": raw,
    }


def _transform_attributes(t: Transform) -> list[dict[str, Any]]:
    return [attribute_json(a) for a in t.attributes]


@dataclass
class _Side:
    """What one side of an IKEv1 SA showed so far (Suricata keeps this per flow)."""

    ke: bytes | None = None
    nonce: bytes | None = None
    proposals: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, with_proposals: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.ke is not None:
            out["key_exchange_payload"] = self.ke.hex()
            out["key_exchange_payload_length"] = len(self.ke)
        if self.nonce is not None:
            out["nonce_payload"] = self.nonce.hex()
            out["nonce_payload_length"] = len(self.nonce)
        if with_proposals and self.proposals:
            out["proposals"] = list(self.proposals)
        return out


@dataclass
class _Sa:
    initiator: tuple[str, int]
    client: _Side = field(default_factory=_Side)
    server: _Side = field(default_factory=_Side)
    chosen: list[dict[str, Any]] = field(default_factory=list)
    server_proposals: int = 0


def timestamp(t: float) -> str:
    """Suricata's EVE timestamp: local-free UTC with microseconds and ``+0000``."""
    whole = int(t)
    micro = round((t - whole) * 1_000_000)
    if micro == 1_000_000:
        whole, micro = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micro:06d}+0000"


def _payloads(msg: IkeMessage) -> list[Any]:
    return list(msg.payloads) + list(msg.decrypted or [])


def _v1(msg: IkeMessage, sa: _Sa, from_initiator: bool) -> dict[str, Any]:
    side = sa.client if from_initiator else sa.server
    vendor_ids: list[str] = []
    for p in _payloads(msg):
        b = p.body
        if isinstance(b, KeBody):
            side.ke = b.data
        elif isinstance(b, NonceBody):
            side.nonce = b.data
        elif isinstance(b, VendorIdBody):
            vendor_ids.append(b.data.hex())
        elif isinstance(b, SaBody):
            transforms = [t for prop in b.proposals for t in prop.transforms]
            if from_initiator:
                side.proposals = [a for t in transforms for a in _transform_attributes(t)]
            elif transforms:
                sa.chosen = _transform_attributes(transforms[0])
                sa.server_proposals = len(transforms)
    out: dict[str, Any] = {}
    if sa.chosen:
        out["attributes"] = list(sa.chosen)
    v1: dict[str, Any] = {
        "doi": next((p.body.doi for p in msg.payloads if isinstance(p.body, SaBody)), None),
        "encrypted_payloads": bool(msg.header.flags & 0x01),
        "client": sa.client.to_json(True),
        "server": sa.server.to_json(False),
        "vendor_ids": vendor_ids,
    }
    if v1["doi"] is None:
        del v1["doi"]
    out["ikev1"] = v1
    return out


def _v2(msg: IkeMessage) -> dict[str, Any]:
    initiator = bool(msg.header.flags & 0x08)
    notifies = [p.body for p in _payloads(msg) if isinstance(p.body, NotifyBody)]
    out: dict[str, Any] = {"role": "initiator" if initiator else "responder"}
    if not initiator:
        for p in _payloads(msg):
            if isinstance(p.body, SaBody) and p.body.proposals:
                for t in p.body.proposals[0].transforms:
                    key = V2_ALG_KEYS.get(t.type)
                    if key is not None:
                        out[key] = t.name or reg.transform_name(t.type, t.id)
                break
    out["ikev2"] = {
        "errors": sum(1 for n in notifies if n.notify_type < 16384),
        "notify": [n.name for n in notifies],
    }
    return out


def ike_record(msg: IkeMessage, flow_id: int, sa: _Sa | None) -> dict[str, Any]:
    h, m = msg.header, msg.meta
    ike: dict[str, Any] = {
        "_v": 2,
        "version_major": h.major,
        "version_minor": h.minor,
        "init_spi": h.spi_i.hex(),
        "resp_spi": h.spi_r.hex(),
        "message_id": h.message_id,
        "exchange_type": h.exchange,
        "exchange_type_verbose": reg.exchange_name(msg.version, h.exchange),
        "payload": [
            PAYLOAD_NAMES.get(p.type, reg.payload_name(msg.version, p.type)) for p in _payloads(msg)
        ],
    }
    if msg.version == 2:
        ike["payload"].append("NoNextPayload")  # Suricata lists the chain's terminator too
    if msg.version == 1 and sa is not None:
        ike.update(_v1(msg, sa, (m.src, m.sport) == sa.initiator))
    elif msg.version == 2:
        ike.update(_v2(msg))
    return {
        "timestamp": timestamp(m.time),
        "flow_id": flow_id,
        "pcap_cnt": m.frame,
        "event_type": "ike",
        "src_ip": m.src,
        "src_port": m.sport,
        "dest_ip": m.dst,
        "dest_port": m.dport,
        "proto": "TCP" if str(m.transport).lower().startswith("tcp") else "UDP",
        "ike": ike,
    }


def write_eve(data: ExportInput, out: TextIO) -> None:
    flows: dict[tuple[Any, ...], int] = {}
    sas: dict[bytes, _Sa] = {}
    for rec in data.records():
        if not isinstance(rec, IkeMessage):
            continue
        m = rec.meta
        ends = sorted([(m.src, m.sport), (m.dst, m.dport)])
        key = (str(m.transport), *ends[0], *ends[1])
        flow_id = flows.setdefault(key, len(flows) + 1)
        sa = None
        if rec.version == 1:
            sa = sas.setdefault(rec.header.spi_i, _Sa((m.src, m.sport)))
        out.write(json.dumps(ike_record(rec, flow_id, sa), separators=(",", ":")) + "\n")


def register(ctx: PluginContext) -> None:
    ctx.add_exporter("suricata-eve-ike", "Suricata EVE-style ike records (JSON lines)", write_eve)
