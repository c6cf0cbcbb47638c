"""The packet-detail tree as plain data: labelled nodes that point at bytes.

Why plain data: the tree widget and the hex view must agree on which bytes a node
covers, and that agreement is what tests check. Each node names the buffer its offsets
refer to — the frame data, an IKE message's decrypted payloads, or an ESP packet's
decrypted inner packet — because decrypted offsets do not refer to the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ipsec_inspect.core.records import (
    AhPacket,
    EspPacket,
    Field,
    IkeMessage,
    IkePayload,
    Malformed,
    NatKeepalive,
    Record,
)
from ipsec_inspect.ipsec.ah import ah_fields
from ipsec_inspect.ipsec.esp import esp_fields
from ipsec_inspect.ipsec.ike_common import mask_spans, secret_spans
from ipsec_inspect.pipeline.describe import endpoint, protocol_label

FRAME = "frame"
DECRYPTED = "decrypted"  # IkeMessage.decrypted_data
PLAINTEXT = "plaintext"  # EspDecryption.plaintext


@dataclass
class Node:
    """One line of the detail tree; ``offset`` -1 means "no bytes of its own"."""

    label: str
    buffer: str = FRAME
    offset: int = -1
    length: int = 0
    children: list[Node] = field(default_factory=list)
    #: set on the inner-packet node: its children are dissected with scapy on expand
    inner: bool = False
    error: bool = False


def buffers(r: Record, include_keys: bool = False) -> dict[str, bytes]:
    """The byte buffers the nodes of ``r`` may point into.

    A decrypted IKE message may carry a password (XAUTH, EAP-GTC): the fields already hide
    it, and its bytes in the hex dump are masked too unless keys were asked for
    (``--include-keys``) — a screenshot of the dump must not leak what the tree hides."""
    out: dict[str, bytes] = {FRAME: getattr(r, "data", b"") or b""}
    if isinstance(r, IkeMessage) and r.decrypted_data:
        data = r.decrypted_data
        if not include_keys and r.decrypted:
            data = mask_spans(data, secret_spans(r.decrypted))
        out[DECRYPTED] = data
    if isinstance(r, EspPacket) and r.decryption is not None and r.decryption.plaintext:
        out[PLAINTEXT] = r.decryption.plaintext
    return out


def _field(f: Field, buffer: str) -> Node:
    return Node(
        f"{f.label}: {f.text()}",
        buffer,
        f.offset,
        f.length,
        [_field(c, buffer) for c in f.children],
    )


def _payload(p: IkePayload, buffer: str) -> Node:
    label = f"{p.name} payload ({p.length} bytes)" + (" [critical]" if p.critical else "")
    node = Node(label, buffer, p.offset, p.length, [_field(f, buffer) for f in p.fields])
    if p.error:
        node.children.append(Node(f"error: {p.error}", buffer, p.offset, p.length, error=True))
        node.error = True
    return node


def detail_nodes(r: Record, origin: tuple[str, int] | None = None) -> list[Node]:
    """Every dissected field of ``r``, decrypted parts included, as top-level nodes.

    ``origin``: (input file, frame number in it) when several captures were merged —
    the frame number alone is global and does not say where to look in the files."""
    m = r.meta
    where = f"{endpoint(m, True)} → {endpoint(m, False)}"
    frames = f" (frames {', '.join(map(str, m.frames))})" if m.frames else ""
    top = [
        Node(
            f"Frame {m.frame}{frames}: {protocol_label(r)} {where}, {m.wire_len} bytes on the wire"
        )
    ]
    if origin is not None:
        top.append(Node(f"File: {origin[0]}, frame {origin[1]} of that file"))
    if isinstance(r, IkeMessage):
        top.append(
            Node(
                f"{protocol_label(r)} header",
                FRAME,
                r.offset,
                28,
                [_field(f, FRAME) for f in r.fields],
            )
        )
        top.extend(_payload(p, FRAME) for p in r.payloads)
        if r.decryption_status is not None:
            dec = Node(
                f"Decryption: {r.decryption_status}",
                error=r.decryption_status not in ("ok", "no-key", "fragment"),
            )
            if r.decrypted:
                dec.children = [_payload(p, DECRYPTED) for p in r.decrypted]
            top.append(dec)
    elif isinstance(r, EspPacket):
        top.append(
            Node("ESP", FRAME, r.offset, r.length, [_field(f, FRAME) for f in esp_fields(r)])
        )
        d = r.decryption
        if d is not None:
            if d.status == "ok" and not d.verified:
                # The keys have no integrity key: the payload decrypted, but a tampered
                # packet would look the same (RFC 4303 §3.4.4).
                dec = Node("Decryption: decrypted_unverified (ICV not checked: no integrity key)")
            else:
                dec = Node(f"Decryption: {d.status}", error=d.status != "ok")
            dec.children.append(Node(f"Key: {d.key_source or 'unknown'}"))
            if d.status == "ok":
                dec.children.append(Node(f"Next header: {d.next_header}"))
                dec.children.append(Node(f"Pad length: {d.pad_length}"))
                dec.children.append(
                    Node(
                        f"Inner packet ({len(d.plaintext)} bytes)",
                        PLAINTEXT,
                        0,
                        len(d.plaintext),
                        inner=True,
                    )
                )
            top.append(dec)
    elif isinstance(r, AhPacket):
        top.append(Node("AH", FRAME, r.offset, r.length, [_field(f, FRAME) for f in ah_fields(r)]))
        if r.icv_status is not None:
            top.append(Node(f"ICV check: {r.icv_status}", error=r.icv_status != "ok"))
    elif isinstance(r, NatKeepalive):
        top.append(Node("NAT-keepalive: one byte 0xFF (RFC 3948 §2.3)"))
    elif isinstance(r, Malformed):
        at = r.error.offset
        top.append(
            Node(
                f"Malformed {r.layer.upper()}: {r.error.message}",
                FRAME,
                at,
                1 if at >= 0 else 0,
                error=True,
            )
        )
    for e in getattr(r, "errors", None) or []:
        top.append(
            Node(f"error: {e.message}", FRAME, e.offset, 1 if e.offset >= 0 else 0, error=True)
        )
    return top


def inner_nodes(plaintext: bytes, next_header: int) -> list[Node]:
    """The decrypted inner packet dissected with scapy (called when the node is opened).

    Why scapy here: inner packets can be any protocol, and only the one a person opens
    needs dissecting; scapy knows them all. It gives no per-field offsets, so each layer
    node covers its own header bytes.
    """
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.packet import NoPayload, Packet, Raw

    try:
        if next_header == 41 or (plaintext and plaintext[0] >> 4 == 6):
            pkt: Packet = IPv6(plaintext)
        elif next_header == 4 or (plaintext and plaintext[0] >> 4 == 4):
            pkt = IP(plaintext)
        else:
            pkt = Raw(plaintext)
    except Exception as e:  # scapy on hostile bytes: report, never raise
        return [Node(f"scapy could not dissect the inner packet: {e}", error=True)]
    out: list[Node] = []
    layer: Packet | None = pkt
    start = 0
    while layer is not None and not isinstance(layer, NoPayload):
        try:
            whole = len(bytes(layer))
            rest = len(bytes(layer.payload)) if layer.payload else 0
        except Exception:
            whole, rest = len(plaintext) - start, 0
        node = Node(str(layer.name), PLAINTEXT, start, max(0, whole - rest))
        for fd in layer.fields_desc:
            try:
                value = fd.i2repr(layer, layer.getfieldval(fd.name))
            except Exception:
                value = "?"
            node.children.append(
                Node(f"{fd.name}: {value}", PLAINTEXT, start, max(0, whole - rest))
            )
        out.append(node)
        start += max(0, whole - rest)
        layer = layer.payload
    return out
