"""Explicit IVs seen on one SA direction, to catch their reuse.

Why a structure of its own: AEAD and counter-mode nonces must never repeat under one key
(RFC 4106 §3.1, RFC 3686 §3) — a repeat leaks the XOR of two plaintexts and, with GCM,
the authentication key. Implementations almost always count their IVs up by one, so a
run ``[first, last]`` stands for every IV in it: a million packets cost three integers,
not a million dictionary entries, and a reuse anywhere in the SA's life is still found.
IVs that do not continue the current run are kept one by one; in a streaming run both
the past runs and the single IVs are bounded (the oldest are forgotten), so memory stays
bounded by the number of SAs.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

#: Past runs and single IVs remembered per direction when bounded.
MAX_RUNS = 1024
MAX_SINGLES = 4096


@dataclass(slots=True)
class IvHistory:
    """The IVs seen on one SA direction, as runs of consecutive values (IV reuse)."""

    bounded: bool = True
    count: int = 0  # IVs checked
    # the current run: IVs first..last (as integers) all seen, the first in frame run_frame
    run_first: int = -1
    run_last: int = -2
    run_frame: int = 0
    past_runs: list[tuple[int, int, int]] = field(default_factory=list)  # (first, last, frame)
    singles: OrderedDict[int, int] = field(default_factory=OrderedDict)  # iv -> frame

    def continues_run(self, iv: int) -> bool:
        """Is ``iv`` the next of the current run with nothing older remembered? Then it
        is certainly not a reuse, and :meth:`add` only extends the run: the common case,
        answered without the look-ups of :meth:`first_use`."""
        return iv == self.run_last + 1 and not self.singles and not self.past_runs

    def first_use(self, iv: int) -> int | None:
        """The frame that first used ``iv`` (for a run: the run's first frame), or None."""
        if self.run_first <= iv <= self.run_last:
            return self.run_frame
        frame = self.singles.get(iv)
        if frame is not None:
            return frame
        for first, last, run_frame in self.past_runs:
            if first <= iv <= last:
                return run_frame
        return None

    def add(self, iv: int, frame: int) -> None:
        """Record ``iv`` (known not to be a reuse) as used in ``frame``."""
        self.count += 1
        if iv == self.run_last + 1:
            self.run_last = iv
            return
        self._start_run(iv, iv, frame)

    def absorb(self, first: int, last: int, frame: int) -> None:
        """Record a whole interval of used IVs (merging another part's history)."""
        if first == self.run_last + 1:
            self.run_last = last
            return
        self._start_run(first, last, frame)

    def _start_run(self, first: int, last: int, frame: int) -> None:
        if self.run_last >= self.run_first:
            if self.run_last > self.run_first:
                self.past_runs.append((self.run_first, self.run_last, self.run_frame))
                if self.bounded and len(self.past_runs) > MAX_RUNS:
                    del self.past_runs[0]
            else:  # a run of one is a single IV
                self.singles[self.run_first] = self.run_frame
                if self.bounded and len(self.singles) > MAX_SINGLES:
                    self.singles.popitem(last=False)
        self.run_first, self.run_last = first, last
        self.run_frame = frame

    def intervals(self) -> list[tuple[int, int, int]]:
        """Every remembered IV as (first, last, frame) intervals, oldest first (for merging)."""
        out = list(self.past_runs)
        out += [(iv, iv, frame) for iv, frame in self.singles.items()]
        if self.run_last >= self.run_first:
            out.append((self.run_first, self.run_last, self.run_frame))
        return sorted(out, key=lambda t: t[2])
