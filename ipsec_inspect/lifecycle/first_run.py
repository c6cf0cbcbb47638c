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
from collections.abc import Callable, Mapping
from typing import Any

#: a first request as its taker holds it: first a function that reads it, given the whole
#: tuple, as (the frame from the IKE message on, the message's offset in the frame, its
#: length, its ``PacketMeta``) — a ``parked.Deferred``'s arguments — then what that
#: function reads it from (for ``wire.fast_ike``: the frame, its number, time, interface).
#: Why a function in the record: the tracker reads no frame, and a request held this way
#: is a handful of objects, made and freed once each (its frame is kept anyway)
RawRequest = tuple[Any, ...]


#: (initiator's SPI, (source, destination), frame number, time, the request) -> taken?
Take = Callable[[bytes, tuple[str, str], int, float, RawRequest], bool]
#: what a run's requests add up to: (requests, the highest frame number, the earliest and
#: the latest time, the first request's time, the last one's)
Sums = tuple[int, int, float, float, float, float]


class FirstRun:
    """The requests of the current run (see the module doc) and the sums they make.

    :attr:`take` takes one request (``Tracker.defer_request``): a closure, its counters
    in its own cells, because it runs for every request of a flood and an attribute per
    counter was a fifth of its cost; :attr:`sums` reads them, :meth:`clear` starts over.
    """

    __slots__ = ("pairs", "queue", "restart", "sums", "take", "uids")

    def __init__(
        self,
        index: Mapping[tuple[int, bytes], str],
        room: Callable[[], int],
        evict: Callable[[], None],
        on_start: Callable[[], None],
    ) -> None:
        """``index``: the tracker's ``ike_index`` (a request of an SPI there is not
        taken); ``room()``: how many requests the cap leaves room for beside the tables'
        SAs; ``evict()``: evict (the tables' oldest half-open SAs, then the run's
        oldest requests, :meth:`evict_oldest`) once the run outgrows that room;
        ``on_start()``: what the first request of a run does (closes the ESP lanes)."""
        #: initiator's SPI -> the request, oldest first
        self.queue: dict[bytes, RawRequest] = {}
        #: the uid of a request, by its SPI, when an eviction during the run had to fix it
        #: (``Tracker._pin_first_uid``); the others' are made when the run ends
        self.uids: dict[bytes, str] = {}
        #: (source, destination) -> requests, in the order the pairs first came
        self.pairs: dict[tuple[str, str], int] = {}
        queue, pairs = self.queue, self.pairs
        count = frame_max = 0
        t_min = t_max = first_time = last_time = 0.0
        free = 0  # requests the run may hold before the next eviction (room())

        def take(
            spi_i: bytes, pair: tuple[str, str], frame: int, time: float, req: RawRequest
        ) -> bool:
            nonlocal count, frame_max, t_min, t_max, first_time, last_time, free
            if spi_i in queue or (2, spi_i) in index:
                return False  # a retransmission, or a message for a known SA
            queue[spi_i] = req
            if count:
                count += 1
                if frame > frame_max:
                    frame_max = frame
                if time > t_max:
                    t_max = time
                elif time < t_min:
                    t_min = time
            else:
                count, frame_max = 1, frame
                t_min = t_max = first_time = time
                free = room()  # the tables change only by eviction during a run
                on_start()
            last_time = time
            pairs[pair] = pairs.get(pair, 0) + 1
            if len(queue) > free:
                evict()
                free = room()
            return True

        def sums() -> Sums:
            return count, frame_max, t_min, t_max, first_time, last_time

        def restart() -> None:
            nonlocal count
            count = 0

        self.take: Take = take
        self.sums: Callable[[], Sums] = sums
        self.restart: Callable[[], None] = restart

    def clear(self) -> None:
        """Start a new run (what this one held is in the tables now)."""
        self.queue.clear()
        self.uids.clear()
        self.pairs.clear()
        self.restart()

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
