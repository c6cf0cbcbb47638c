"""Half-open IKE SAs parked out of memory, and brought back the moment they are touched.

Why: a capture taken during an IKE_SA_INIT flood holds hundreds of thousands of IKE SAs
that saw one request and nothing else. Kept as objects they are most of the memory of a
run. Such an SA can still change — a retransmission or a late answer would attach to it —
so it is not written out for good: it is *parked* (pickled into a store the caller hands
in, the tracker itself does no I/O) and revived, exactly as it was, by the next lookup of
its uid. Its key stays in place in the SA dict, so iteration order — on which child ids,
audit summaries and the export depend — is the same as when nothing is parked.

The dict is a drop-in ``dict[str, IkeSa]``: ``[]``, ``get`` and ``pop`` revive; ``values``
and ``items`` yield parked SAs as transient copies (read-only, memory stays bounded while
iterating); :meth:`peek` reads one without reviving it; :meth:`repark` writes a copy back
after the end-of-capture passes changed it. ``dict(d)`` would copy the raw handles, so a
reader that copies must first call :meth:`revive_all` (the TUI never parks).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from ipsec_inspect.lifecycle.model import IkeSa

#: a parcel: the SA and the tracker state that hangs on its uid (its pending exchanges, ...)
Parcel = tuple[IkeSa, dict[str, Any]]


#: the plain dict methods, reaching the stored values (handles) untyped
_raw: Any = dict


class BlobStore(Protocol):
    """Where parked SAs go: append bytes, get a handle; read a handle back."""

    def put(self, data: bytes) -> Any: ...

    def get(self, handle: Any) -> bytes: ...


class _Parked:
    """The value of a parked key: where its parcel is (a slot, not an IkeSa), and the SA's
    ``ike_index`` key, so that evicting it needs no read of the parcel."""

    __slots__ = ("handle", "index_key")

    def __init__(self, handle: Any, index_key: tuple[int, bytes]) -> None:
        self.handle = handle
        self.index_key = index_key


class ParkedDict(dict[str, IkeSa]):
    """IKE SAs by uid, some of them parked in ``store`` (see the module doc)."""

    def __init__(self, store: BlobStore, restore: Callable[[dict[str, Any]], None]) -> None:
        super().__init__()
        self.store = store
        self._restore = restore  # puts a revived parcel's state back into the tracker
        self.parked = 0

    # -- parking
    def park(self, uid: str, extras: dict[str, Any]) -> None:
        sa = _raw.__getitem__(self, uid)
        data = pickle.dumps((sa, extras), pickle.HIGHEST_PROTOCOL)
        _raw.__setitem__(self, uid, _Parked(self.store.put(data), (sa.version, sa.spi_i)))
        self.parked += 1

    def drop_parked(self, uid: str) -> tuple[int, bytes] | None:
        """Forget ``uid`` if it is parked, unread, and return its ``ike_index`` key; None
        (and nothing done) if it is in memory or absent. Why: a flood's oldest half-open
        SAs are both the ones parked and the ones ``max_sas`` evicts; reading each back
        only to drop it was a third of the parking cost. A parked SA is unchanged since it
        was parked (a message would have revived it), and its pending state is in its
        parcel, so dropping the handle drops all of it."""
        v = _raw.get(self, uid)
        if not isinstance(v, _Parked):
            return None
        dict.__delitem__(self, uid)
        self.parked -= 1
        return v.index_key

    def is_parked(self, uid: str) -> bool:
        return isinstance(_raw.get(self, uid), _Parked)

    def _load(self, v: _Parked) -> Parcel:
        sa, extras = pickle.loads(self.store.get(v.handle))
        return sa, extras

    def revive(self, uid: str) -> IkeSa:
        v = _raw.__getitem__(self, uid)
        if not isinstance(v, _Parked):
            return v
        sa, extras = self._load(v)
        dict.__setitem__(self, uid, sa)
        self.parked -= 1
        self._restore(extras)
        return sa

    def revive_all(self, which: Callable[[IkeSa], bool] = lambda _sa: True) -> None:
        for uid in [u for u, v in dict.items(self) if isinstance(v, _Parked)]:
            if which(self.peek(uid)):
                self.revive(uid)

    def peek(self, uid: str) -> IkeSa:
        """The SA, a transient copy if it is parked (never revived)."""
        v = _raw.__getitem__(self, uid)
        return self._load(v)[0] if isinstance(v, _Parked) else v

    def repark(self, uid: str, sa: IkeSa) -> None:
        """Write back a parked SA's copy that the end-of-capture passes changed."""
        old = _raw.__getitem__(self, uid)
        assert isinstance(old, _Parked)
        extras = self._load(old)[1]
        old.handle = self.store.put(pickle.dumps((sa, extras), pickle.HIGHEST_PROTOCOL))

    def live(self) -> dict[str, IkeSa]:
        """The SAs in memory, in order (a new plain dict)."""
        return {u: v for u, v in dict.items(self) if not isinstance(v, _Parked)}

    def parked_uids(self) -> Iterator[str]:
        return (u for u, v in dict.items(self) if isinstance(v, _Parked))

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
        if self.is_parked(uid):
            self.parked -= 1
        dict.__delitem__(self, uid)

    def values(self) -> Iterator[IkeSa]:  # type: ignore[override]
        for uid in dict.__iter__(self):
            yield self.peek(uid)

    def items(self) -> Iterator[tuple[str, IkeSa]]:  # type: ignore[override]
        for uid in dict.__iter__(self):
            yield uid, self.peek(uid)
