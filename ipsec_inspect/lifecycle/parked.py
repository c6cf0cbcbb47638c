"""Half-open IKE SAs kept small — compact in memory or parked out of it — and brought
back the moment they are touched.

Why: a capture taken during an IKE_SA_INIT flood holds hundreds of thousands of IKE SAs
that saw one request and nothing else. Kept as objects (five stage spans, their events,
a score of containers: about 3.6 KB each) they are most of the memory of a run. Such an
SA is fully determined by its one message, so it is kept as a :class:`Compact`: that
message's bytes and :class:`PacketMeta` (a few hundred bytes), and rebuilt, exactly, by
replaying the message into a scratch tracker (``Tracker._replay``, which the tracker
hands in). It can still change — a retransmission or a late answer would attach to it —
and the next lookup of its uid revives it for good. Beyond that, SAs may be *parked*
(written into a store the caller hands in, the tracker itself does no I/O): a compact SA
as its compact bytes, any other as a pickle. Every key stays in place in the SA dict, so
iteration order — on which child ids, audit summaries and the export depend — is the same
as when nothing is compact or parked.

The dict is a drop-in ``dict[str, IkeSa]``: ``[]``, ``get`` and ``pop`` revive; ``values``
and ``items`` yield compact and parked SAs as transient copies (read-only, memory stays
bounded while iterating); :meth:`peek` reads one without reviving it; :meth:`repark`
writes a copy back after the end-of-capture passes changed it (a compact SA needs none:
its replay settles it, see ``Tracker._replay``). ``dict(d)`` would copy the raw values,
so a reader that copies must first call :meth:`revive_all` (the TUI keeps every SA whole).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from ipsec_inspect.core.records import PacketMeta
from ipsec_inspect.lifecycle.model import IkeSa

#: a parcel: the SA and the tracker state that hangs on its uid (its pending exchanges, ...)
Parcel = tuple[IkeSa, dict[str, Any]]


#: the plain dict methods, reaching the stored values (handles) untyped
_raw: Any = dict


class BlobStore(Protocol):
    """Where parked SAs go: append bytes, get a handle; read a handle back."""

    def put(self, data: bytes) -> Any: ...

    def get(self, handle: Any) -> bytes: ...


class Compact:
    """A half-open IKE SA as the one message it saw: ``message`` is the buffer it was
    dissected from, from ``offset`` (where the IKE message starts) to its end, the message
    being its first ``length`` bytes; the replay puts it at ``offset`` again, so that every
    offset it reads and reports, and every byte, is the first one. ``meta`` is its packet. Also its peers' addresses (initiator, responder) when they are not the
    packet's (source, destination), so that the end of the capture can tell without a
    replay whether another SA relates to it (``endings.entangled_peers``). Its
    ``ike_index`` key is read from the message's header: evicting it needs no replay."""

    __slots__ = ("_length", "_peers", "message", "meta", "offset")

    def __init__(
        self,
        message: bytes,
        offset: int,
        length: int,
        meta: PacketMeta,
        peers: tuple[str | None, str | None],
    ) -> None:
        self.message = message
        self.offset = offset
        self.meta = meta
        # None for the common cases, which then cost no slot's object: the whole rest of
        # the buffer is the message, the peers are the packet's source and destination
        self._length = None if length == len(message) else length
        self._peers = None if peers == (meta.src, meta.dst) else peers

    @property
    def length(self) -> int:
        return self._length if self._length is not None else len(self.message)

    @property
    def peers(self) -> tuple[str | None, str | None]:
        return self._peers if self._peers is not None else (self.meta.src, self.meta.dst)

    @property
    def index_key(self) -> tuple[int, bytes]:
        """(IKE version, initiator's SPI), as the dissector and ``Tracker._ike_for`` read
        them (a compact SA's message has a whole header: it moved the SA to INIT_SENT)."""
        m = self.message
        return (2 if m[17] >> 4 == 2 else 1, m[:8])

    def buffer(self) -> tuple[bytes, int, int]:
        """(data, offset, end) to dissect the message again, where it first was."""
        return bytes(self.offset) + self.message, self.offset, self.offset + self.length

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.message, self.offset, self.meta, self._length, self._peers)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.message, self.offset, self.meta, self._length, self._peers = state


class Deferred(Compact):
    """A compact SA whose message was never dissected nor fed (``Tracker.defer_first``):
    its replay is its first feeding, so its errors are reported then. Its sender is the
    initiator (the request had the initiator flag), so its peers are the packet's."""

    __slots__ = ()

    def __init__(self, message: bytes, offset: int, length: int, meta: PacketMeta) -> None:
        super().__init__(message, offset, length, meta, (meta.src, meta.dst))


#: rebuilds a compact SA (uid, value) as a parcel; the tracker's replay
Replay = Callable[[str, Compact], Parcel]


class _Parked:
    """The value of a parked key: where its parcel is (a slot, not an IkeSa), the SA's
    ``ike_index`` key, so that evicting it needs no read of the parcel, and whether the
    stored bytes are a pickled :class:`Compact` (replayed when read) or a pickled parcel."""

    __slots__ = ("compact", "handle", "index_key")

    def __init__(self, handle: Any, index_key: tuple[int, bytes], compact: bool = False) -> None:
        self.handle = handle
        self.index_key = index_key
        self.compact = compact


def _no_replay(uid: str, c: Compact) -> Parcel:
    raise AssertionError(f"{uid} is compact but the dict was given no replay")


class ParkedDict(dict[str, IkeSa]):
    """IKE SAs by uid, some of them compact or parked in ``store`` (see the module doc)."""

    def __init__(
        self,
        store: BlobStore | None,
        restore: Callable[[dict[str, Any]], None],
        replay: Replay = _no_replay,
    ) -> None:
        super().__init__()
        self.store = store
        self._restore = restore  # puts a revived parcel's state back into the tracker
        self._replay = replay
        self.parked = 0
        self.compacted = 0  # values that are a Compact, in memory

    # -- compact and parked values
    def compact(self, uid: str, value: Compact) -> None:
        """Keep ``uid`` (an SA in memory) as ``value`` from now on."""
        assert isinstance(_raw.__getitem__(self, uid), IkeSa)
        _raw.__setitem__(self, uid, value)
        self.compacted += 1

    def add_compact(self, uid: str, value: Compact) -> None:
        """Open ``uid`` (new, last in order) as ``value``."""
        assert not dict.__contains__(self, uid)
        _raw.__setitem__(self, uid, value)
        self.compacted += 1

    def park(self, uid: str, extras: dict[str, Any]) -> None:
        """Write ``uid`` to the store: a compact SA as its compact bytes (it has no extras:
        its replay makes them again), any other with ``extras`` as a pickled parcel."""
        assert self.store is not None
        v = _raw.__getitem__(self, uid)
        if isinstance(v, Compact):
            data = pickle.dumps(v, pickle.HIGHEST_PROTOCOL)
            _raw.__setitem__(self, uid, _Parked(self.store.put(data), v.index_key, True))
            self.compacted -= 1
        else:
            data = pickle.dumps((v, extras), pickle.HIGHEST_PROTOCOL)
            _raw.__setitem__(self, uid, _Parked(self.store.put(data), (v.version, v.spi_i)))
        self.parked += 1

    def drop_parked(self, uid: str) -> tuple[int, bytes] | None:
        """Forget ``uid`` if it is compact or parked, unread, and return its ``ike_index``
        key; None (and nothing done) if it is in memory or absent. Why: a flood's oldest
        half-open SAs are both the ones kept small and the ones ``max_sas`` evicts; reading
        each back only to drop it was a third of the parking cost. Such an SA is unchanged
        since (a message would have revived it), and its pending state is in its parcel or
        made again by its replay, so dropping the value drops all of it."""
        v = _raw.get(self, uid)
        if isinstance(v, Compact):
            self.compacted -= 1
        elif isinstance(v, _Parked):
            self.parked -= 1
        else:
            return None
        dict.__delitem__(self, uid)
        return v.index_key

    def is_parked(self, uid: str) -> bool:
        return isinstance(_raw.get(self, uid), _Parked)

    def is_compact(self, uid: str) -> bool:
        """``uid`` is kept as its message (in memory or parked as one)."""
        v = _raw.get(self, uid)
        return isinstance(v, Compact) or (isinstance(v, _Parked) and v.compact)

    def cold(self, uid: str) -> bool:
        """``uid`` is not an SA object in memory (compact or parked)."""
        return not isinstance(_raw.get(self, uid), IkeSa)

    def _compact_of(self, v: Any) -> Compact | None:
        if isinstance(v, Compact):
            return v
        if isinstance(v, _Parked) and v.compact:
            assert self.store is not None
            c: Compact = pickle.loads(self.store.get(v.handle))
            return c
        return None

    def _load(self, uid: str, v: Any) -> Parcel:
        c = self._compact_of(v)
        if c is not None:
            return self._replay(uid, c)
        assert self.store is not None
        sa, extras = pickle.loads(self.store.get(v.handle))
        return sa, extras

    def revive(self, uid: str) -> IkeSa:
        v = _raw.__getitem__(self, uid)
        if isinstance(v, IkeSa):
            return v
        sa, extras = self._load(uid, v)
        dict.__setitem__(self, uid, sa)
        if isinstance(v, Compact):
            self.compacted -= 1
        else:
            self.parked -= 1
        self._restore(extras)
        return sa

    def revive_all(
        self,
        which: Callable[[IkeSa], bool] = lambda _sa: True,
        which_peers: Callable[[str | None, str | None], bool] | None = None,
    ) -> None:
        """Revive the compact and parked SAs ``which`` accepts. A compact one is judged by
        ``which_peers`` on its peers' addresses (no replay), or never revived without it:
        the callers ask about what a compact SA cannot be (``redirected_from`` is None,
        ``Tracker._compact``)."""
        for uid in [u for u, v in dict.items(self) if not isinstance(v, IkeSa)]:
            c = self._compact_of(_raw.__getitem__(self, uid))
            if c is not None:
                if which_peers is not None and which_peers(*c.peers):
                    self.revive(uid)
            elif which(self.peek(uid)):
                self.revive(uid)

    def peek(self, uid: str) -> IkeSa:
        """The SA, a transient copy if it is compact or parked (never revived)."""
        v = _raw.__getitem__(self, uid)
        return v if isinstance(v, IkeSa) else self._load(uid, v)[0]

    def repark(self, uid: str, sa: IkeSa) -> None:
        """Write back a parked SA's copy that the end-of-capture passes changed."""
        assert self.store is not None
        old = _raw.__getitem__(self, uid)
        assert isinstance(old, _Parked) and not old.compact
        extras = self._load(uid, old)[1]
        old.handle = self.store.put(pickle.dumps((sa, extras), pickle.HIGHEST_PROTOCOL))

    def live(self) -> dict[str, IkeSa]:
        """The SAs in memory as objects, in order (a new plain dict)."""
        return {u: v for u, v in dict.items(self) if isinstance(v, IkeSa)}

    def parked_uids(self) -> Iterator[str]:
        """The SAs parked as pickles (not those parked as compact messages)."""
        return (u for u, v in dict.items(self) if isinstance(v, _Parked) and not v.compact)

    # -- the dict interface, reviving on lookup
    def __getitem__(self, uid: str) -> IkeSa:
        return self.revive(uid)

    def get(self, uid: str, default: Any = None) -> Any:
        return self.revive(uid) if dict.__contains__(self, uid) else default

    def pop(self, uid: str, *default: Any) -> Any:
        if dict.__contains__(self, uid):
            self.revive(uid)
        return dict.pop(self, uid, *default)

    def __delitem__(self, uid: str) -> None:
        v = _raw.get(self, uid)
        if isinstance(v, _Parked):
            self.parked -= 1
        elif isinstance(v, Compact):
            self.compacted -= 1
        dict.__delitem__(self, uid)

    def values(self) -> Iterator[IkeSa]:  # type: ignore[override]
        for uid in dict.__iter__(self):
            yield self.peek(uid)

    def items(self) -> Iterator[tuple[str, IkeSa]]:  # type: ignore[override]
        for uid in dict.__iter__(self):
            yield uid, self.peek(uid)
