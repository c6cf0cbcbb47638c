"""The packet index: a few bytes per record of a capture, for views and the read-ahead.

Why a module of its own: ``Analysis`` fills it, and the decryption read-ahead
(:mod:`~ipsec_inspect.pipeline.offload_feed`) appends the packets workers counted; with
the index inside ``session`` those two modules imported each other.
"""

from __future__ import annotations

from array import array


class RecordKind:
    """Codes stored per record in the packet index (one byte each)."""

    IKE = 0
    ESP = 1
    AH = 2
    KEEPALIVE = 3
    MALFORMED = 4


class PacketIndex:
    """Compact per-record columns for the packet list: a few bytes per record.

    Why columns of ``array``: a million records as objects would cost hundreds of MB;
    as arrays they cost about 20 bytes each, and a row's text is rebuilt on demand from
    the frame (see :meth:`Analysis.record`).
    """

    def __init__(self) -> None:
        self.frame = array("L")  # frame number
        self.sub = array("B")  # index of the record among its frame's records
        self.kind = array("B")  # RecordKind
        self.time = array("d")
        self.flow = array("L")  # flow id: see Analysis.flow_keys
        # bit 0: has an error; bit 1: decrypted; bit 2: decryption failed; bit 3: decrypted
        # without an integrity check (no integrity key: decrypted_unverified)
        self.flags = array("B")

    def __len__(self) -> int:
        return len(self.frame)
