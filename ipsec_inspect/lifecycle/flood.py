"""Bounded state under attack: what was evicted, and the figures of an IKE_SA_INIT flood.

Why here: a capture taken during an attack holds hundreds of thousands of half-open IKE SAs
(a first message that is never answered) and orphan SPIs. The tracker caps how many SAs it
keeps (``TrackerConfig.max_sas``, as Suricata's memcaps and Zeek's state timeouts do) and
evicts the oldest half-open and orphan state first; :class:`Evicted` counts what went, so
nothing is dropped silently, and :class:`FloodWatch` keeps, in bounded memory, the figures
that turn a flood into one finding instead of a million rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: the ``--max-sas`` default: measured at about 3.6 KB of state per unanswered IKE_SA_INIT
#: and 3.9 KB per one-packet ESP SA (tracemalloc), 20,000 SAs keep a run at 110-120 MB peak
#: RSS on 100,000 and 1,000,000 of either (``benchmarks/scale_benchmarks.py``, docs/limits.md)
DEFAULT_MAX_SAS = 20_000
#: when over the cap, evict down to this share of it (evicting one SA per new SA would
#: close every fast lane each time)
EVICT_TO = 0.9
#: this many half-open IKE SAs in one capture is a flood (a finding)
FLOOD_MIN_HALF_OPEN = 1_000
#: sources and responders counted one by one; beyond, new ones are counted together
MAX_TRACKED_SOURCES = 100_000
MAX_TRACKED_RESPONDERS = 10_000
#: sources listed in the finding
TOP_SOURCES = 5


@dataclass(slots=True)
class Evicted:
    """State dropped to stay under ``max_sas``, by kind (``capture.evicted`` in the JSON)."""

    half_open_ike_sas: int = 0
    orphan_child_sas: int = 0
    esp_packets: int = 0  # packets the evicted orphan child SAs had counted

    @property
    def total(self) -> int:
        return self.half_open_ike_sas + self.orphan_child_sas

    def add(self, other: Evicted) -> None:
        """Count another partition's evictions too (each partition caps its own state)."""
        self.half_open_ike_sas += other.half_open_ike_sas
        self.orphan_child_sas += other.orphan_child_sas
        self.esp_packets += other.esp_packets

    def sentence(self, max_sas: int | None) -> str | None:
        """What was evicted, in one sentence for people, or None when nothing was."""
        if not self.total:
            return None
        return (
            f"evicted to stay under --max-sas {max_sas or 0:,}: "
            f"{self.half_open_ike_sas:,} half-open IKE SAs and {self.orphan_child_sas:,} "
            f"orphan child SAs ({self.esp_packets:,} ESP packets); they are counted here and "
            "not listed"
        )


@dataclass(slots=True)
class _Responder:
    """One responder's IKE_SA_INIT requests and the answers it sent."""

    requests: int = 0
    answered: int = 0


@dataclass(slots=True)
class FloodWatch:
    """First messages of IKE SAs by source and responder, and how many were answered."""

    first_time: float | None = None
    last_time: float | None = None
    half_open_started: int = 0  # IKE SAs whose first message was seen
    sources: dict[str, int] = field(default_factory=dict)
    other_sources: int = 0  # requests from sources beyond MAX_TRACKED_SOURCES
    responders: dict[str, _Responder] = field(default_factory=dict)

    def request(self, src: str, dst: str, time: float) -> None:
        self.half_open_started += 1
        if self.first_time is None:
            self.first_time = time
        self.last_time = time
        n = self.sources.get(src)
        if n is not None:
            self.sources[src] = n + 1
        elif len(self.sources) < MAX_TRACKED_SOURCES:
            self.sources[src] = 1
        else:
            self.other_sources += 1
        r = self.responders.get(dst)
        if r is None and len(self.responders) < MAX_TRACKED_RESPONDERS:
            r = self.responders[dst] = _Responder()
        if r is not None:
            r.requests += 1

    def requests(self, pairs: dict[tuple[str, str], int], first: float, last: float) -> None:
        """:meth:`request` for a run of requests at once: ``pairs`` counts them by
        (source, responder) in the order the pairs first came, ``first`` and ``last`` are
        the first and the last one's times.

        Why the same figures: a source (or responder) first comes in its first pair, so
        taking the pairs in that order adds sources and responders in the order one
        :meth:`request` per message would, and the caps (``MAX_TRACKED_SOURCES``,
        ``MAX_TRACKED_RESPONDERS``) fall on the same ones, as in :meth:`merge`.
        """
        if not pairs:
            return
        if self.first_time is None:
            self.first_time = first
        self.last_time = last
        sources, responders = self.sources, self.responders
        for (src, dst), n in pairs.items():
            self.half_open_started += n
            have = sources.get(src)
            if have is not None:
                sources[src] = have + n
            elif len(sources) < MAX_TRACKED_SOURCES:
                sources[src] = n
            else:
                self.other_sources += n
            r = responders.get(dst)
            if r is None and len(responders) < MAX_TRACKED_RESPONDERS:
                r = responders[dst] = _Responder()
            if r is not None:
                r.requests += n

    def answered(self, responder: str) -> None:
        r = self.responders.get(responder)
        if r is not None:
            r.answered += 1

    def merge(self, other: FloodWatch) -> None:
        """Take another partition's figures in, as if one watch had seen both.

        Why exact: a partition holds whole tunnels, so a source's requests to one responder
        all land in one partition, but a source talking to several responders (or a
        responder answering several sources) spans partitions; counts therefore add per
        source and per responder. The caps hold as in one process: sources beyond
        ``MAX_TRACKED_SOURCES`` are counted together.
        """
        self.half_open_started += other.half_open_started
        if other.first_time is not None and (
            self.first_time is None or other.first_time < self.first_time
        ):
            self.first_time = other.first_time
        if other.last_time is not None and (
            self.last_time is None or other.last_time > self.last_time
        ):
            self.last_time = other.last_time
        for src, n in other.sources.items():
            have = self.sources.get(src)
            if have is not None:
                self.sources[src] = have + n
            elif len(self.sources) < MAX_TRACKED_SOURCES:
                self.sources[src] = n
            else:
                self.other_sources += n
        self.other_sources += other.other_sources
        for addr, r in other.responders.items():
            mine = self.responders.get(addr)
            if mine is None and len(self.responders) < MAX_TRACKED_RESPONDERS:
                mine = self.responders[addr] = _Responder()
            if mine is not None:
                mine.requests += r.requests
                mine.answered += r.answered

    def top_sources(self, n: int = TOP_SOURCES) -> list[tuple[str, int]]:
        return sorted(self.sources.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def busiest_responder(self) -> tuple[str, int, int] | None:
        if not self.responders:
            return None
        addr, r = max(self.responders.items(), key=lambda kv: (kv[1].requests, kv[0]))
        return addr, r.requests, r.answered

    def sources_text(self) -> str:
        n = len(self.sources)
        return f"{n:,}" if not self.other_sources else f"more than {n:,}"
