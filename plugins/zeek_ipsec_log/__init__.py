"""Zeek-style ``ipsec.log``: one TSV line per IKE message, as corelight/zeek-spicy-ipsec writes.

Why: sites that already feed Zeek logs to their SIEM can take our output unchanged. Field
names, order, types and the log conventions (``#separator``, ``#fields``, ``#types``,
``-`` for unset, ``(empty)`` for an empty container, ``,`` between set elements) follow
the Zeek package's ``ipsec.log`` (see ``../shared/captures/zeek-spicy-ipsec/baseline/``).

Differences, on purpose: ``uid`` is derived from the flow (stable across runs, not random);
``#open``/``#close`` carry the capture's first/last packet time (not the wall clock);
Vendor IDs use ipsec-inspect's names (``UNKNOWN:<hex>`` when none); payloads decrypted
with the user's keys are logged too (Zeek only sees clear payloads); ``hash`` is the MD5 of
the same vectors in the same order, serialised as documented in ``docs/plugins.md``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, TextIO

from ipsec_inspect.core.records import (
    CertBody,
    IkeMessage,
    KeBody,
    NotifyBody,
    SaBody,
    VendorIdBody,
)
from ipsec_inspect.plugins.api import ExportInput, PluginContext

NAME = "zeek_ipsec_log"
VERSION = "1.0"
DESCRIPTION = "exporter 'zeek-ipsec-log': a Zeek-style ipsec.log, one line per IKE message"

FIELDS: tuple[tuple[str, str], ...] = (
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("is_orig", "bool"),
    ("initiator_spi", "string"),
    ("responder_spi", "string"),
    ("maj_ver", "count"),
    ("min_ver", "count"),
    ("exchange_type", "count"),
    ("flag_e", "bool"),
    ("flag_c", "bool"),
    ("flag_a", "bool"),
    ("flag_i", "bool"),
    ("flag_v", "bool"),
    ("flag_r", "bool"),
    ("message_id", "count"),
    ("vendor_ids", "vector[string]"),
    ("notify_messages", "vector[string]"),
    ("transforms", "vector[string]"),
    ("ke_dh_groups", "vector[count]"),
    ("proposals", "vector[count]"),
    ("protocol_id", "count"),
    ("certificates", "vector[string]"),
    ("transform_attributes", "vector[string]"),
    ("length", "count"),
    ("hash", "string"),
    ("doi", "count"),
    ("situation", "string"),
)
UNSET = "-"
EMPTY = "(empty)"
CERT_TYPES = {1: 6, 2: 37}  # CERT payload type per IKE version (not CERTREQ)


def escape(text: str, in_set: bool = False) -> str:
    """Zeek's ASCII writer escaping: non-printables and separators as ``\\xNN``."""
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or code >= 0x7F or (in_set and ch == ","):
            out.append(f"\\x{code:02x}" if code < 256 else ch)
        else:
            out.append(ch)
    return "".join(out)


def bytes_text(data: bytes) -> str:
    return escape(data.decode("latin-1"))


def attribute_text(value: int | bytes, is_tv: bool) -> str:
    """A TV attribute is a number; a TLV one is its bytes (Zeek logs them raw, escaped).

    The dissector keeps short TLV values as numbers; they are written back as the usual
    4-byte big-endian value (``Life Duration=\\x00\\x01Q\\x80`` for 86400 s).
    """
    if is_tv and isinstance(value, int):
        return str(value)
    if isinstance(value, int):
        size = max(4, (value.bit_length() + 7) // 8)
        return bytes_text(value.to_bytes(size, "big"))
    return bytes_text(value)


def _vector(items: list[Any]) -> str:
    if not items:
        return EMPTY
    return ",".join(escape(str(i), in_set=True) for i in items)


def flow_uid(key: tuple[Any, ...]) -> str:
    """A Zeek-like connection uid ("C" + 17 base64 characters), stable for a flow."""
    import base64  # the hashes are imported when the log is written: loading is start-up
    import hashlib

    digest = hashlib.sha1(repr(key).encode()).digest()
    return "C" + base64.b64encode(digest).decode()[:17].replace("+", "x").replace("/", "y")


def _payloads(msg: IkeMessage) -> Iterable[Any]:
    yield from msg.payloads
    if msg.decrypted:
        yield from msg.decrypted


def message_row(msg: IkeMessage, uid: str, orig: tuple[str, int], is_orig: bool) -> list[str]:
    """The columns of one IKE message, in :data:`FIELDS` order, already escaped."""
    import hashlib  # here, not at loading: every command loads the plugin (start-up)

    meta, h = msg.meta, msg.header
    vendor_ids: list[str] = []
    notifies: list[str] = []
    transforms: list[str] = []
    groups: list[int] = []
    proposals: list[int] = []
    certs: list[str] = []
    attrs: list[str] = []
    protocol_id: int | None = None
    doi: int | None = None
    situation: int | None = None
    for p in _payloads(msg):
        body = p.body
        if isinstance(body, VendorIdBody):
            vendor_ids.append(body.name or f"UNKNOWN:{body.data.hex()}")
        elif isinstance(body, NotifyBody):
            notifies.append(body.name)
        elif isinstance(body, KeBody) and body.group is not None:
            groups.append(body.group)
        elif isinstance(body, CertBody) and p.type == CERT_TYPES[msg.version]:
            certs.append(hashlib.md5(body.data).hexdigest())
        elif isinstance(body, SaBody):
            if body.doi is not None:
                doi, situation = body.doi, body.situation
            for prop in body.proposals:
                proposals.append(prop.number)
                if msg.version == 1:
                    protocol_id = prop.protocol
                for t in prop.transforms:
                    if msg.version == 1:
                        transforms.append(str(t.id))
                    for a in t.attributes:
                        value = attribute_text(a.value, a.is_tv)
                        attrs.append(f"{prop.number}:{t.id}:{a.name}={value}")
    hashed: list[list[Any]] = [vendor_ids, notifies, transforms, groups, proposals, certs, attrs]
    digest = UNSET
    if any(hashed):
        text = "\t".join(",".join(str(i) for i in v) for v in hashed)
        digest = hashlib.md5(text.encode()).hexdigest()
    resp = (meta.dst, meta.dport) if is_orig else (meta.src, meta.sport)
    flags = h.flags

    def flag(bit: int) -> str:
        return "T" if flags & bit else "F"

    situation_text = bytes_text(situation.to_bytes(4, "big")) if situation is not None else UNSET
    return [
        f"{meta.time:.6f}",
        uid,
        orig[0],
        str(orig[1]),
        resp[0],
        str(resp[1]),
        "T" if is_orig else "F",
        h.spi_i.hex(),
        h.spi_r.hex(),
        str(h.major),
        str(h.minor),
        str(h.exchange),
        flag(0x01),
        flag(0x02),
        flag(0x04),
        flag(0x08),
        flag(0x10),
        flag(0x20),
        str(h.message_id),
        _vector(vendor_ids),
        _vector(notifies),
        _vector(transforms),
        _vector(groups),
        _vector(proposals),
        str(protocol_id) if protocol_id is not None else UNSET,
        _vector(certs),
        _vector(attrs),
        str(h.length),
        digest,
        str(doi) if doi is not None else UNSET,
        situation_text,
    ]


def _stamp(t: float | None) -> str:
    return time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(t or 0))


def write_log(data: ExportInput, out: TextIO) -> None:
    out.write("#separator \\x09\n#set_separator\t,\n")
    out.write(f"#empty_field\t{EMPTY}\n#unset_field\t{UNSET}\n#path\tipsec\n")
    out.write(f"#open\t{_stamp(data.capture.get('first_time'))}\n")
    out.write("#fields\t" + "\t".join(name for name, _ in FIELDS) + "\n")
    out.write("#types\t" + "\t".join(kind for _, kind in FIELDS) + "\n")
    originators: dict[tuple[Any, ...], tuple[str, int]] = {}
    for rec in data.records():
        if not isinstance(rec, IkeMessage):
            continue
        m = rec.meta
        ends = sorted([(m.src, m.sport), (m.dst, m.dport)])
        key = (str(m.transport), *ends[0], *ends[1])
        orig = originators.setdefault(key, (m.src, m.sport))
        is_orig = (m.src, m.sport) == orig
        out.write("\t".join(message_row(rec, flow_uid(key), orig, is_orig)) + "\n")
    out.write(f"#close\t{_stamp(data.capture.get('last_time'))}\n")


def register(ctx: PluginContext) -> None:
    ctx.add_exporter("zeek-ipsec-log", "Zeek-style ipsec.log (TSV)", write_log)
