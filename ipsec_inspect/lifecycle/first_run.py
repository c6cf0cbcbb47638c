"""A run of first IKE_SA_INIT requests, held as raw fields until anything else happens.

Why: in an IKE_SA_INIT flood under ``max_sas`` nearly every request opens an SA that is
evicted untouched a few thousand requests later. Registering each one in the tracker's
own tables (the SA dict, the index by SPI, the half-open set, the flood figures, the
capture counts) and taking it out again when it is evicted was most of the cost of such
a flood even with the message left undissected (``Tracker.defer_first``). While nothing
but such requests comes, they are therefore held here, newest last: a request is one
dict entry by its initiator's SPI, and eviction takes the oldest entries off the front
(they are younger than every SA of the tables, so they come after all of them in
eviction order, exactly where the tables would have them). The figures the run touches
are kept as sums — requests per (source, responder) pair in the order the pairs first
came, the frame and time extremes — and applied in one go. The moment any other record
reaches the tracker (or its result is read), :meth:`Tracker._end_first_run` moves what is
left into the tables as if each request had been registered there when it came.
"""

from __future__ import annotations

import itertools
from typing import Any

#: a first request as its taker holds it: first a function that reads it, given the whole
#: tuple, as (the frame from the IKE message on, the message's offset in the frame, its
#: length, its ``PacketMeta``) — a ``parked.Deferred``'s arguments — then what that
#: function reads it from (for ``wire.fast_ike``: the frame, its number, time, interface).
#: Why a function in the record: the tracker reads no frame, and a request held this way
#: is a handful of objects, made and freed once each (its frame is kept anyway)
RawRequest = tuple[Any, ...]


class FirstRun:
    """The requests of the current run (see the module doc) and the sums they make."""

    __slots__ = (
        "count",
        "first_time",
        "frame",
        "last_time",
        "pairs",
        "queue",
        "t_max",
        "t_min",
        "uids",
    )

    def __init__(self) -> None:
        #: initiator's SPI -> the request, oldest first
        self.queue: dict[bytes, RawRequest] = {}
        #: the uid of a request, by its SPI, when an eviction during the run had to fix it
        #: (``Tracker._pin_first_uid``); the others' are made when the run ends
        self.uids: dict[bytes, str] = {}
        #: (source, destination) -> requests, in the order the pairs first came
        self.pairs: dict[tuple[str, str], int] = {}
        self.count = 0  # requests taken in this run (evicted ones included)
        self.frame = 0  # the highest frame number among them
        self.t_min = self.t_max = 0.0  # their earliest and latest times
        self.first_time = self.last_time = 0.0  # the first one's time and the last one's

    def start(self, frame: int, time: float) -> None:
        """The first request of a run, at ``frame`` and ``time``."""
        self.count = 1
        self.frame = frame
        self.t_min = self.t_max = self.first_time = time

    def clear(self) -> None:
        """Start a new run (what this one held is in the tables now)."""
        self.queue.clear()
        self.uids.clear()
        self.pairs = {}
        self.count = 0

    def evict_oldest(self, n: int) -> int:
        """Drop the ``n`` oldest requests (all of them if fewer); how many went. Why in one
        go: see ``tracker._take_oldest``."""
        queue, uids = self.queue, self.uids
        taken = list(itertools.islice(queue, n))
        for spi in taken:
            del queue[spi]
        if uids:
            for spi in taken:
                uids.pop(spi, None)
        return len(taken)
