"""The results of the tunnel partitions as the one result a single pass would give.

Why exact by construction, not approximate like a merge of two halves: each partition
holds *whole* tunnels, in time order, so every SA is tracked from beginning to end by one
tracker; nothing has to be continued or guessed at a cut. What remains is bookkeeping:

- child SA ids: the tracker numbers child SAs as it creates them, so each partition
  counts from 1. The union renumbers them in global creation order (the frame of each
  ``SaOpened`` event; one frame belongs to one partition, so the order within a frame is
  that partition's) — exactly the ids a single pass would have given. IKE SA ids derive
  from the SPIs and need nothing.
- errors: each partition's are in frame order; a merge by frame interleaves them as the
  single pass did.
- counters add up (the flood watch's and the evictions' too); first/last times are the extremes; findings are evaluated again on the
  union (some rules compare several SAs).

:func:`conflicts` finds partitions that turned out to be related after all (an IKE SA or
an ESP/AH SPI in two of them: an SA that moved to another address pair without an IKE
message in clear on the new pair, or keys derived in one partition for traffic in another),
so the engine can run them again as one.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ipsec_inspect.audit.rules import RULES
from ipsec_inspect.audit.run import audit
from ipsec_inspect.core.records import CaptureWarning
from ipsec_inspect.lifecycle.model import ChildSa, IkeSa
from ipsec_inspect.lifecycle.tracker import CaptureStats, TrackerError, TrackerResult
from ipsec_inspect.sources.multi import MergedInfo

if TYPE_CHECKING:
    from ipsec_inspect.crypto.keys import KeyStore


@dataclass
class PartResult:
    """What one partition's run sends back (no packets, no keys unless asked for)."""

    partition: int
    result: TrackerResult
    #: ("ike" | "child", uid, frame) of every SaOpened event, in the order they came
    opened: list[tuple[str, str, int]]
    info: MergedInfo
    #: problems the reader found in the inputs (every partition reads every input)
    capture_warnings: list[CaptureWarning]
    #: problems only this partition's frames showed (IP fragments, TCP streams)
    decoder_warnings: list[CaptureWarning]
    #: key-file rows and per-SA decryption problems
    problems: list[str]
    records: int
    seconds: float = 0.0  # CPU seconds the partition's task took
    keys: KeyStore | None = None  # only when the export includes keys
    tunnels: int = 0


@dataclass
class Union:
    result: TrackerResult
    info: MergedInfo
    warnings: list[CaptureWarning] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    records: int = 0
    keys: KeyStore | None = None


def _global_ids(parts: Sequence[PartResult]) -> dict[int, dict[str, str]]:
    """Per partition, old child uid -> the uid a single pass would have given."""
    created: list[tuple[int, int, int, str]] = []  # (frame, partition order, position, uid)
    for order, p in enumerate(parts):
        seen = set()
        for pos, (kind, uid, frame) in enumerate(p.opened):
            if kind == "child" and uid in p.result.child_sas:
                created.append((frame, order, pos, uid))
                seen.add(uid)
        # defensive: a child SA without its event keeps its partition's order, at the end
        for uid in p.result.child_sas:
            if uid not in seen:
                created.append((1 << 62, order, len(created), uid))
    created.sort()
    ids: dict[int, dict[str, str]] = {order: {} for order in range(len(parts))}
    for n, (_f, order, _pos, uid) in enumerate(created, 1):
        ids[order][uid] = f"child-{n}"
    return ids


def _ike_order(parts: Sequence[PartResult]) -> list[tuple[int, IkeSa]]:
    keyed: list[tuple[int, int, int, str, int]] = []
    for order, p in enumerate(parts):
        pos_of = {uid: (frame, pos) for pos, (k, uid, frame) in enumerate(p.opened) if k == "ike"}
        for i, uid in enumerate(p.result.ike_sas):
            frame, pos = pos_of.get(uid, (1 << 62, i))
            keyed.append((frame, order, pos, uid, order))
    keyed.sort()
    return [(order, parts[order].result.ike_sas[uid]) for _f, _o, _p, uid, order in keyed]


def _renamed_child(c: ChildSa, ids: dict[str, str]) -> ChildSa:
    c.uid = ids[c.uid]
    c.rekeyed_from = ids.get(c.rekeyed_from, c.rekeyed_from) if c.rekeyed_from else None
    c.rekeyed_to = ids.get(c.rekeyed_to, c.rekeyed_to) if c.rekeyed_to else None
    return c


def union(parts: Sequence[PartResult], rules: Sequence[Any] = RULES) -> Union:
    """One result from the partitions' results (which it takes over and changes);
    ``rules``: the run's audit rules (built-in and plugins'), evaluated on the whole."""
    parts = sorted(parts, key=lambda p: p.partition)
    ids = _global_ids(parts)
    children: list[tuple[str, ChildSa]] = []
    for order, p in enumerate(parts):
        for c in p.result.child_sas.values():
            children.append((ids[order][c.uid], _renamed_child(c, ids[order])))
    children.sort(key=lambda kv: int(kv[0].rsplit("-", 1)[1]))
    ike_sas: dict[str, IkeSa] = {}
    for order, sa in _ike_order(parts):
        sa.child_sas = [ids[order].get(u, u) for u in sa.child_sas]
        ike_sas[sa.uid] = sa
    errors: list[TrackerError] = []
    for e in heapq.merge(
        *[
            [
                TrackerError(e.frame, e.time, e.kind, e.message, ids[order].get(e.sa or "", e.sa))
                for e in p.result.errors
            ]
            for order, p in enumerate(parts)
        ],
        key=lambda e: e.frame,
    ):
        errors.append(e)
    stats = CaptureStats()
    for p in parts:
        s = p.result.stats
        stats.frames = max(stats.frames, s.frames)
        if s.first_time is not None and (
            stats.first_time is None or s.first_time < stats.first_time
        ):
            stats.first_time = s.first_time
        if s.last_time is not None and (stats.last_time is None or s.last_time > stats.last_time):
            stats.last_time = s.last_time
        stats.ike_messages += s.ike_messages
        stats.esp_packets += s.esp_packets
        stats.ah_packets += s.ah_packets
        stats.keepalives += s.keepalives
        stats.malformed += s.malformed
    first = parts[0]
    result = TrackerResult(
        ike_sas,
        dict(children),
        errors,
        stats,
        first.result.config,
        first.result.end_time,
    )
    for p in parts:  # the flood finding's figures and the evictions, as one pass counts them
        result.flood.merge(p.result.flood)
        result.evicted.add(p.result.evicted)
    audit(result, rules)
    warnings = list(first.capture_warnings)
    warnings += sorted((w for p in parts for w in p.decoder_warnings), key=lambda w: w.frame)
    problems: list[str] = []
    for p in parts:
        problems.extend(x for x in p.problems if x not in problems)
    keys = None
    for p in parts:
        if p.keys is not None:
            if keys is None:
                keys = p.keys
            else:
                keys.merge(p.keys)
    return Union(result, first.info, warnings, problems, sum(p.records for p in parts), keys)


def conflicts(parts: Sequence[PartResult]) -> list[set[int]]:
    """Sets of partitions (two or more) that share an IKE SA or an ESP/AH SPI."""
    owner: dict[tuple[str, object], set[int]] = {}
    for p in parts:
        for sa in p.result.ike_sas.values():
            owner.setdefault(("ike", sa.spi_i), set()).add(p.partition)
        for c in p.result.child_sas.values():
            for d in c.directions:
                owner.setdefault((d.protocol, d.spi), set()).add(p.partition)
    # join overlapping sets
    groups: list[set[int]] = []
    for s in owner.values():
        if len(s) < 2:
            continue
        s = set(s)
        for g in [g for g in groups if g & s]:
            s |= g
            groups.remove(g)
        groups.append(s)
    return groups
