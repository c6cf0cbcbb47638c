"""Warnings about a capture, kept in bounded memory and capped per kind.

Why: one damaged capture can produce the same warning hundreds of thousands of times
(500,000 IP fragments that never complete, a timestamp field zeroed in every record).
Printing each one buries the first, which is the one that explains the damage, and keeping
each one costs memory that grows with the file. Like the decryption problems, the first
:data:`MAX_WARNINGS_PER_KIND` of each kind are kept and shown; the rest are counted and
summarised in one line, "and N more".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ipsec_inspect.core.records import CaptureWarning

#: Warnings of one kind shown in full; the rest are counted ("and N more").
MAX_WARNINGS_PER_KIND = 20


class WarningLog:
    """A list-like collector of :class:`CaptureWarning` (``append``, ``len``, iteration,
    indexing over the kept ones) with per-kind counts of those not kept."""

    __slots__ = ("_counts", "_kept", "per_kind", "suppressed")

    def __init__(self, per_kind: int = MAX_WARNINGS_PER_KIND) -> None:
        self.per_kind = per_kind
        self._kept: list[CaptureWarning] = []
        self._counts: dict[str, int] = {}
        self.suppressed: dict[str, int] = {}

    def append(self, warning: CaptureWarning) -> None:
        kind = warning.kind
        if warning.unlisted:  # a source that capped its own list says how many it left out
            self._counts[kind] = self._counts.get(kind, 0) + warning.unlisted
            self.suppressed[kind] = self.suppressed.get(kind, 0) + warning.unlisted
            return
        seen = self._counts.get(kind, 0)
        self._counts[kind] = seen + 1
        if seen < self.per_kind:
            self._kept.append(warning)
        else:
            self.suppressed[kind] = self.suppressed.get(kind, 0) + 1

    def extend(self, warnings: Iterable[CaptureWarning]) -> None:
        for w in warnings:
            self.append(w)

    def count(self, kind: str) -> int:
        """How many warnings of ``kind`` there were, kept or not."""
        return self._counts.get(kind, 0)

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def __len__(self) -> int:
        return len(self._kept)

    def __iter__(self) -> Iterator[CaptureWarning]:
        return iter(self._kept)

    def __getitem__(self, i: int) -> CaptureWarning:
        return self._kept[i]

    def __bool__(self) -> bool:
        return bool(self._kept)

    def lines(self) -> list[str]:
        """One line per kept warning, then one "and N more" line per capped kind."""
        out = [w.text() for w in self._kept]
        for kind, n in self.suppressed.items():
            out.append(f"and {n:,} more {kind} warnings like the above (not listed)")
        return out
