"""First packets of brand-new orphan ESP SAs, held as they came before the tracker
registers them (or, in a flood, evicts them without ever registering them).

Why: in a flood of one-packet ESP SAs under ``max_sas`` each SA was registered as a
pending orphan (:mod:`pending`: eight index entries) and, some 2,000 SAs later, evicted
(eight removals) — nearly all of the flood's cost, for SAs nothing ever touched again.
The nursery holds each such packet as one tuple instead. The cap is checked on its length
as though each packet were registered (:meth:`Tracker.nursery_overflow`), and eviction,
which takes the oldest orphans first, reaches the nursery after the registered ones: its
oldest packets are dropped and counted (``Evicted``) with nothing to unindex. Whatever is
left is registered — in order, under the uids and child numbers it would have had — before
anything else reaches the tracker (``Tracker._flush_nursery``, called first by ``feed``,
``esp_orphan``, ``finish``, ``result`` and the start of a run of first IKE_SA_INIT requests,
``lifecycle/first_run.py``: the two are never open together, so that each one's room for the
cap stays what it counted). So the tracker's state, and every output, is what registering
each packet as it came gives.

A packet is *nursed* only when its registration is certain and touches nothing but
itself (what ``attribution.plainly_orphan`` vouches for, checked against the tracker and
against the nursery): its SPI is known neither to the tracker (``known``) nor to the
nursery (``spis``); its pair of addresses was admitted (:meth:`admit`): no one-way child
SA, registered or nursed, runs the other way, and nothing negotiated awaits SPIs between
these peers. Nothing these checks read can change while the nursery holds packets
(everything that could flushes it first), so what was checked at a packet stays true
until the flush; after the tracker took anything else the caller's limit is stale (the
nursery is then empty: its next packet asks ``nursery_open`` again).

The caller fills it without a call per packet (the session's loop without keys does this
for ESP in plain IPv4 on Ethernet, unfragmented, no keys, no event listener; it indexes
the packet itself)::

    pair = nursery.pairs.get(addrs)          # 8 address bytes, source then destination
    if pair is None:
        pair = nursery.admit(addrs, src_name, dst_name)
    if pair is not None and spi not in nursery.spis and (spi, "esp") not in nursery.known
            and seq < SEQ_MAX:
        if not nursery.items:
            limit = tracker.nursery_open()
        nursery.spis.add(spi)
        nursery.items.append((frame, time, pair, spi, seq, ip_len))
        if len(nursery.items) > limit:
            limit = tracker.nursery_overflow()
        # the packet is counted as a record of the frame (decoder and session counts)
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ipsec_inspect.lifecycle.state import TrackerState

#: one nursed packet: (frame, time, (source, destination), SPI, sequence number, IP length)
Nursed = tuple[int, float, tuple[str, str], int, int, int]

_FRAME, _TIME, _PAIR, _SPI = itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(3)

#: admitted pairs kept before those with no packet left are forgotten (a flood from
#: spoofed sources admits a pair per packet; memory stays bounded by the SAs kept)
MAX_PAIRS = 65536


class OrphanNursery:
    """The first packets of new orphan ESP SAs not yet registered (see the module doc)."""

    __slots__ = ("_prune_at", "_st", "base", "items", "known", "open", "pairs", "spis", "taken")

    def __init__(self, st: TrackerState) -> None:
        self._st = st
        #: the nursed packets, oldest first (this list object is never replaced)
        self.items: list[Nursed] = []
        #: their SPIs (never replaced)
        self.spis: set[int] = set()
        #: the 8 address bytes of each admitted pair -> (source, destination) (never replaced)
        self.pairs: dict[bytes, tuple[str, str]] = {}
        #: the tracker's (SPI, protocol) -> destinations: an SPI in it is not a new orphan's
        self.known = st.spi_dsts
        #: True from the first packet to the flush: the nursery owns child numbers from
        #: ``base`` on (``items[0]``'s), even when every packet has been evicted
        self.open = False
        self.base = 0
        #: packets taken so far, evicted or registered (the caller counts their frames)
        self.taken = 0
        self._prune_at = MAX_PAIRS

    def admit(self, addrs: bytes, src: str, dst: str) -> tuple[str, str] | None:
        """The pair ``(src, dst)``, remembered under ``addrs``, if its packets may be nursed:
        none runs to itself, no one-way child SA (registered or nursed) runs ``dst`` ->
        ``src``, nothing negotiated waits for SPIs between them. None: not now."""
        half = len(addrs) // 2
        if addrs[:half] == addrs[half:] or addrs[half:] + addrs[:half] in self.pairs:
            return None
        st = self._st
        if st.one_way.get((dst, src)):
            return None
        if st.awaiting_by_peers and st.awaiting_by_peers.get(
            (src, dst) if src < dst else (dst, src)
        ):
            return None
        if len(self.pairs) >= self._prune_at:
            self._prune()
        pair = self.pairs[addrs] = (src, dst)
        return pair

    def _prune(self) -> None:
        """Forget the pairs no packet held is of. Why it is safe: a pair is remembered so
        that a packet the other way is not nursed beside its packets; with none left, the
        other way has nothing in the nursery to pair with (the tracker's own one-way SAs
        are checked at each admission)."""
        live = set(map(_PAIR, self.items))
        keep = {a: p for a, p in self.pairs.items() if p in live}
        self.pairs.clear()
        self.pairs.update(keep)
        self._prune_at = max(MAX_PAIRS, 2 * len(keep))

    def start(self) -> None:
        """The first packet after a flush: it takes the tracker's next child number."""
        if not self.open:
            self.open = True
            self.base = self._st.next_child

    def evict_oldest(self, n: int, one_way: dict[tuple[str, str], None]) -> None:
        """Drop the ``n`` oldest packets as eviction drops a pending orphan: counted in
        ``evicted``, their pairs noted in ``one_way`` (whose lists the eviction trims),
        seen in the capture's counts as registering them would have seen them."""
        items = self.items
        gone = items[:n]
        del items[:n]
        self.base += len(gone)
        self.taken += len(gone)
        self.spis.difference_update(map(_SPI, gone))
        one_way.update(dict.fromkeys(map(_PAIR, gone)))
        st = self._st
        st.evicted.esp_packets += len(gone)
        st.evicted.orphan_child_sas += len(gone)
        self._seen(gone)

    def drain(self) -> tuple[int, list[Nursed]]:
        """Close the nursery: the first child number and the packets left, to register;
        the tracker's next child number moves past every packet it took."""
        items = list(self.items)
        base = self.base
        self._seen(items)
        self._st.next_child = base + len(items)
        self.taken += len(items)
        self.items.clear()
        self.spis.clear()
        self.pairs.clear()
        self._prune_at = MAX_PAIRS
        self.open = False
        return base, items

    def _seen(self, packets: list[Nursed]) -> None:
        """The capture's counts, as ``CaptureStats.see_frame`` and the ESP count would
        have moved for each packet."""
        if not packets:
            return
        s = self._st.stats
        s.esp_packets += len(packets)
        last = max(map(_FRAME, packets))
        if last > s.frames:
            s.frames = last
        times = list(map(_TIME, packets))
        lo, hi = min(times), max(times)
        if s.first_time is None or lo < s.first_time:
            s.first_time = lo
        if s.last_time is None or hi > s.last_time:
            s.last_time = hi
