"""Orphan child SAs registered at their first packet and built only when touched again.

Why: an ESP flood (or a capture started mid-tunnel with many SPIs) gives each new
(destination, SPI) nothing claims an *orphan* child SA. Built at once, each costs a
:class:`~model.ChildSa`, a :class:`~model.Direction` with its sequence analyser and IV
history, stage spans and events: about 4 KB, and most of a flood's time. Under
``max_sas`` nearly all of them are evicted soon after, still with their one packet. So the
first packet only *registers* the orphan: its uid and child number are taken (ids stay the
same), it goes into the indexes the other lookups use (``dir_index``, ``spi_first``,
``spi_dsts``, ``one_way``, ``orphans``) and the child SA dict holds a
:class:`PendingOrphan` — what that packet said — in its place. The next lookup of the uid
builds the child SA the full path would have built for that packet, field for field
(``traffic.materialise_orphan``); eviction drops a pending one unbuilt.

:class:`PendingChildren` is a drop-in ``dict[str, ChildSa]``: ``[]``, ``get``, ``pop``,
``values`` and ``items`` build; ``len``, ``in`` and key order are a plain dict's, so the
cap check and the child-number order of the dict are unchanged. Copies (``dict(d)``,
pickling) must come after :meth:`PendingChildren.materialise_all`, which the tracker's
``finish`` and ``result`` call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ipsec_inspect.core.records import PacketMeta, Transport
from ipsec_inspect.lifecycle.model import ChildSa

#: the plain dict methods, reaching the stored values (ChildSa or PendingOrphan) untyped
_raw: Any = dict


@dataclass(slots=True)
class PendingOrphan:
    """The first (and so far only) ESP packet of an orphan child SA: all its replay needs.

    Only a packet whose replay depends on nothing but itself is kept this way: ESP, not
    decrypted, whose sequence number cannot be flagged (see ``traffic._deferrable``); a new
    orphan has no negotiated cipher, so its packet's bytes (the IV) are never read. Of its
    :class:`PacketMeta` only the fields the replay reads are kept (the rest — ports, IP
    version, interface, frames — were counted when it was registered): 128 bytes less.
    """

    frame: int
    time: float
    src: str
    dst: str
    transport: Transport
    wire_len: int
    fragmented: bool
    spi: int
    seq: int

    @staticmethod
    def of(m: PacketMeta, spi: int, seq: int) -> PendingOrphan:
        return PendingOrphan(
            m.frame, m.time, m.src, m.dst, m.transport, m.wire_len, m.ip_fragmented, spi, seq
        )

    def meta(self) -> PacketMeta:
        """The packet's meta as far as the replay reads it."""
        return PacketMeta(
            self.frame,
            self.time,
            self.src,
            self.dst,
            transport=self.transport,
            wire_len=self.wire_len,
            ip_fragmented=self.fragmented,
        )


def is_pending(child: dict[str, ChildSa], uid: str) -> bool:
    """``uid`` is registered but not built (works on a plain dict too: always False)."""
    return type(_raw.get(child, uid)) is PendingOrphan


def peek_pending(child: dict[str, ChildSa], uid: str) -> PendingOrphan | None:
    v = _raw.get(child, uid)
    return v if type(v) is PendingOrphan else None


class PendingChildren(dict[str, ChildSa]):
    """Child SAs by uid, some of them pending orphans (see the module doc)."""

    def __init__(self) -> None:
        super().__init__()
        #: builds a pending orphan (set by the tracker: it needs the tracker's state)
        self.build: Callable[[str, PendingOrphan], ChildSa] | None = None
        self.pending = 0

    def register(self, uid: str, p: PendingOrphan) -> None:
        _raw.__setitem__(self, uid, p)
        self.pending += 1

    def drop_pending(self, uid: str) -> PendingOrphan | None:
        """Forget ``uid`` unbuilt if it is pending and return what it held; None (and
        nothing done) otherwise. Why: eviction must not build what it drops."""
        v = _raw.get(self, uid)
        if type(v) is not PendingOrphan:
            return None
        dict.__delitem__(self, uid)
        self.pending -= 1
        return v

    def _materialise(self, uid: str, p: PendingOrphan) -> ChildSa:
        assert self.build is not None
        self.pending -= 1
        c = self.build(uid, p)
        dict.__setitem__(self, uid, c)  # same key: the order is unchanged
        return c

    def materialise_all(self) -> None:
        """Build every pending orphan, in place (the order is unchanged). One loop without
        a call per SA beyond the build: at the end of a flood it builds 20,000."""
        if not self.pending:
            return
        build = self.build
        assert build is not None
        put = dict.__setitem__
        for uid, v in list(dict.items(self)):
            if type(v) is PendingOrphan:
                put(self, uid, build(uid, v))
                self.pending -= 1

    # -- the dict interface, building on lookup
    def __getitem__(self, uid: str) -> ChildSa:
        v = _raw.__getitem__(self, uid)
        return self._materialise(uid, v) if type(v) is PendingOrphan else v

    def get(self, uid: str, default: Any = None) -> Any:
        v = _raw.get(self, uid, default)
        return self._materialise(uid, v) if type(v) is PendingOrphan else v

    def pop(self, uid: str, *default: Any) -> Any:
        if type(_raw.get(self, uid)) is PendingOrphan:
            self[uid]
        return dict.pop(self, uid, *default)

    def __delitem__(self, uid: str) -> None:
        if type(_raw.get(self, uid)) is PendingOrphan:
            self.pending -= 1
        dict.__delitem__(self, uid)

    def values(self) -> Any:
        self.materialise_all()
        return dict.values(self)

    def items(self) -> Any:
        self.materialise_all()
        return dict.items(self)

    def copy(self) -> dict[str, ChildSa]:
        self.materialise_all()
        return dict.copy(self)

    def __iter__(self) -> Iterator[str]:
        """Keys need no building; overridden so that ``dict(d)`` copies through ``[]``
        (CPython copies a dict subclass's raw values unless its iteration is its own)."""
        return dict.__iter__(self)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (a partitioned run's result) as the plain dict it stands for."""
        return (dict, (self.copy(),))
