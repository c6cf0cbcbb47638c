"""One-line summaries and JSON forms of records, shared by the CLI and the TUI.

Why one module: the ``packets`` command, the TUI's packet list and the JSON lines output
must name a record the same way; the per-protocol wording lives beside each dissector and
this module only dispatches on the record type.
"""

from __future__ import annotations

from typing import Any

from ipsec_inspect.core.records import (
    AhPacket,
    EspPacket,
    IkeMessage,
    Malformed,
    NatKeepalive,
    PacketMeta,
    Record,
)
from ipsec_inspect.ipsec.ah import ah_fields, summarize_ah
from ipsec_inspect.ipsec.esp import esp_fields, summarize_esp
from ipsec_inspect.ipsec.ike import ike_to_json, summarize_ike


def protocol_label(r: Record) -> str:
    if isinstance(r, IkeMessage):
        return "IKEv2" if r.version == 2 else "ISAKMP"
    if isinstance(r, EspPacket):
        return "ESP"
    if isinstance(r, AhPacket):
        return "AH"
    if isinstance(r, NatKeepalive):
        return "NAT-keepalive"
    return r.layer.upper()


def info_text(r: Record) -> str:
    if isinstance(r, IkeMessage):
        return summarize_ike(r)
    if isinstance(r, EspPacket):
        return summarize_esp(r)
    if isinstance(r, AhPacket):
        return summarize_ah(r)
    if isinstance(r, NatKeepalive):
        return "NAT-keepalive (0xFF)"
    return f"Malformed {r.layer.upper()}: {r.error.message}"


def endpoint(meta: PacketMeta, src: bool) -> str:
    addr = meta.src if src else meta.dst
    port = meta.sport if src else meta.dport
    if not port:
        return addr
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def meta_json(meta: PacketMeta) -> dict[str, Any]:
    out: dict[str, Any] = {
        "frame": meta.frame,
        "time": meta.time,
        "src": meta.src,
        "dst": meta.dst,
        "transport": meta.transport.value,
        "ip_version": meta.ip_version,
        "wire_len": meta.wire_len,
    }
    if meta.sport or meta.dport:
        out["sport"] = meta.sport
        out["dport"] = meta.dport
    if meta.frames:
        out["frames"] = list(meta.frames)
    if meta.ip_fragmented:
        out["ip_fragmented"] = True
    return out


def record_json(r: Record) -> dict[str, Any]:
    """Every field of a record, for ``packets --format jsonl``."""
    out = meta_json(r.meta)
    out["protocol"] = protocol_label(r)
    out["info"] = info_text(r)
    if isinstance(r, IkeMessage):
        out["ike"] = ike_to_json(r)
    elif isinstance(r, EspPacket):
        out["esp"] = {
            "spi": f"{r.spi:08x}",
            "sequence": r.seq,
            "length": r.length,
            "fields": [f.to_json() for f in esp_fields(r)],
        }
        if r.decryption is not None:
            d = r.decryption
            out["esp"]["decryption"] = {
                "status": d.status,
                "next_header": d.next_header,
                "pad_length": d.pad_length,
                "plaintext_length": len(d.plaintext),
                "key_source": d.key_source,
            }
    elif isinstance(r, AhPacket):
        out["ah"] = {
            "spi": f"{r.spi:08x}",
            "sequence": r.seq,
            "next_header": r.next_header,
            "length": r.length,
            "icv": r.icv.hex(),
            "icv_status": r.icv_status,
            "fields": [f.to_json() for f in ah_fields(r)],
        }
    elif isinstance(r, Malformed):
        out["error"] = {"layer": r.layer, "message": r.error.message, "offset": r.error.offset}
    errors = getattr(r, "errors", None)
    if errors:
        out["errors"] = [{"message": e.message, "offset": e.offset} for e in errors]
    return out
