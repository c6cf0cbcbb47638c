"""What the views ask about SAs and packets, computed from the engine's state.

Why a Textual-free module: the SA tree, timeline, keys panel, sparkline and filter all
need the same mappings (which flows belong to which SA, which stage a frame fell in,
which SAs have findings), and they must be testable — and fast on a million packets —
without a terminal. Everything here is rebuilt from a :class:`TrackerResult` snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from ipsec_inspect.audit.findings import Finding, Outcome, Severity
from ipsec_inspect.lifecycle.model import ChildSa, IkeSa, Reason, Stage
from ipsec_inspect.lifecycle.tracker import TrackerResult
from ipsec_inspect.pipeline.packet_index import PacketIndex, RecordKind

KIND_NAMES = {
    RecordKind.IKE: "ike",
    RecordKind.ESP: "esp",
    RecordKind.AH: "ah",
    RecordKind.KEEPALIVE: "keepalive",
    RecordKind.MALFORMED: "malformed",
}

SA = IkeSa | ChildSa


class Health(StrEnum):
    """How an SA looks at a glance (the tree colours it)."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass
class FlowStats:
    """Per-flow counters accumulated from the packet index as it grows."""

    packets: list[int] = field(default_factory=list)
    decrypted: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    first_row: list[int] = field(default_factory=list)  # a row of each flow, for filters
    scanned: int = 0

    def update(self, index: PacketIndex) -> None:
        """Count the rows added since the last call (cheap enough to run on every refresh)."""
        end = len(index)
        flows, flags = index.flow, index.flags
        packets, decrypted, failed = self.packets, self.decrypted, self.failed
        for i in range(self.scanned, end):
            f = flows[i]
            while f >= len(packets):
                packets.append(0)
                decrypted.append(0)
                failed.append(0)
                self.first_row.append(i)
            packets[f] += 1
            fl = flags[i]
            if fl & 2:
                decrypted[f] += 1
            elif fl & 4:
                failed[f] += 1
        self.scanned = end

    def get(self, flow: int) -> tuple[int, int, int]:
        if flow >= len(self.packets):
            return (0, 0, 0)
        return (self.packets[flow], self.decrypted[flow], self.failed[flow])


@dataclass(frozen=True)
class KeyRow:
    """One line of the keys panel."""

    sa: str
    what: str  # "IKE SA" or "ESP 0x… → dst"
    status: str  # "supplied", "derived", "missing", "decrypted", "decrypted_unverified", "failed"
    origin: str
    decrypted: int
    packets: int


class SaCatalog:
    """SAs in display order, their flows, health, stages and findings."""

    def __init__(self, result: TrackerResult, flow_keys: list[tuple[object, ...]]) -> None:
        self.result = result
        self.flow_keys = list(flow_keys)
        # items(), not the dict itself: a compact or parked SA (lifecycle.parked) is read
        # back whole; the TUI keeps every SA it shows as an object
        self.ike: dict[str, IkeSa] = dict(result.ike_sas.items())
        self.child: dict[str, ChildSa] = dict(result.child_sas)
        self.failing: dict[str, list[Finding]] = {}
        for f in result.findings:
            if f.outcome is Outcome.FAIL:
                self.failing.setdefault(f.sa, []).append(f)
        flow_id = {k: i for i, k in enumerate(self.flow_keys)}
        # Only SAs that have packets get an entry: a million one-packet SAs must not cost
        # a million empty sets.
        self.flows_of: dict[str, tuple[int, ...]] = {}
        self.sa_of_flow: dict[int, str] = {}
        for sa in self.child.values():
            keys: list[tuple[object, ...]] = [(d.protocol, d.dst, d.spi) for d in sa.directions]
            fl = tuple({flow_id[k] for k in keys if k in flow_id})
            if fl:
                self.flows_of[sa.uid] = fl
            for f in fl:
                self.sa_of_flow[f] = sa.uid
        for ike in self.ike.values():
            ike_key: tuple[object, ...] = ("ike", ike.version, ike.spi_i)
            if ike_key in flow_id:
                self.flows_of[ike.uid] = (flow_id[ike_key],)
                self.sa_of_flow[flow_id[ike_key]] = ike.uid
        self._kids: dict[str, list[str]] = {}
        self.order: list[str] = []  # every SA in tree order, parents before their children
        self._roots: list[str] = []
        self._order()

    def _order(self) -> None:
        """Sort once: roots by first frame, each IKE SA's children in rekey-chain order.

        Why once, here: the catalog is built in the analysis worker, so the tree (on the
        UI thread) gets its million rows already in order and never rescans the SAs."""
        kids: dict[str, list[ChildSa]] = {}
        for c in self.child.values():
            if c.ike_sa in self.ike:
                kids.setdefault(c.ike_sa, []).append(c)
        for uid, group in kids.items():
            self._kids[uid] = [c.uid for c in sorted(group, key=_first)]
        ikes = sorted(self.ike.values(), key=_first)
        orphans = sorted((c for c in self.child.values() if c.ike_sa not in self.ike), key=_first)
        self._roots = [s.uid for s in ikes] + [c.uid for c in orphans]
        order = self.order
        for root in self._roots:
            order.append(root)
            order.extend(self._kids.get(root, ()))

    # ------------------------------------------------------------------ order

    def roots(self) -> list[str]:
        """IKE SAs, then child SAs that have no IKE SA, each in order of first frame."""
        return list(self._roots)

    def children(self, uid: str) -> list[str]:
        """Child SAs of an IKE SA in rekey-chain order (a rekey follows what it replaced)."""
        return list(self._kids.get(uid, ()))

    def has_children(self, uid: str) -> bool:
        return uid in self._kids

    def depth(self, uid: str) -> int:
        """1 for a child SA shown under its IKE SA, else 0."""
        sa = self.child.get(uid)
        return 1 if sa is not None and sa.ike_sa in self.ike else 0

    def walk(self) -> Iterator[tuple[str, int]]:
        """Every SA with its depth, as the tree shows them."""
        for uid in self.order:
            yield uid, self.depth(uid)

    def sa(self, uid: str) -> SA | None:
        return self.ike.get(uid) or self.child.get(uid)

    # ------------------------------------------------------------------ looks

    def health(self, uid: str) -> Health:
        sa = self.sa(uid)
        term = sa.termination if sa is not None else None
        if term is not None and term.reason is Reason.FAILED:
            return Health.ERROR
        worst = Health.OK
        for f in self.failing.get(uid, []):
            if f.severity in (Severity.CRITICAL, Severity.HIGH):
                return Health.ERROR
            if f.severity in (Severity.MEDIUM, Severity.LOW):
                worst = Health.WARNING
        return worst

    def current_stage(self, uid: str) -> Stage | None:
        sa = self.sa(uid)
        if sa is None:
            return None
        seen = [s for s in Stage if sa.stages[s].seen]
        return seen[-1] if seen else None

    def label(self, uid: str) -> str:
        """A short name a person recognises: SPIs and peers, not the uid alone."""
        sa = self.sa(uid)
        if isinstance(sa, IkeSa):
            return f"IKEv{sa.version} {sa.spi_i.hex()[:8]}"
        if isinstance(sa, ChildSa):
            spi = f"{sa.directions[0].spi:08x}" if sa.directions else "?"
            return f"{uid} {sa.protocol.upper()} {spi}"
        return uid

    def title(self, uid: str) -> str:
        """The long name: every SPI, both peers and how it ended (the timeline's title)."""
        sa = self.sa(uid)
        end = f" — {sa.termination.reason.value}" if sa is not None and sa.termination else ""
        if isinstance(sa, IkeSa):
            peers = ""
            if sa.initiator and sa.responder:
                peers = f" {sa.initiator.addr}:{sa.initiator.port} ↔ {sa.responder.addr}:{sa.responder.port}"
            return f"IKEv{sa.version} SA {sa.spi_i.hex()}/{sa.spi_r.hex()}{peers}{end}"
        if isinstance(sa, ChildSa):
            dirs = ", ".join(f"0x{d.spi:08x} {d.src}→{d.dst}" for d in sa.directions)
            rekey = f" (rekey of {sa.rekeyed_from})" if sa.rekeyed_from else ""
            return f"{uid} {sa.protocol.upper()} {sa.mode or ''} {dirs}{rekey}{end}"
        return uid

    def stage_of_frame(self, uid: str, frame: int) -> Stage | None:
        sa = self.sa(uid)
        if sa is None:
            return None
        hit = None
        for s in Stage:
            span = sa.stages[s]
            start, end = span.start_frame, span.end_frame
            if start is not None and end is not None and start <= frame <= end:
                hit = s
        return hit

    def first_frame(self, uid: str) -> int | None:
        sa = self.sa(uid)
        if sa is None:
            return None
        frames = [sp.start_frame for sp in sa.stages.values() if sp.start_frame is not None]
        return min(frames) if frames else None

    def packet_flows(self, uid: str) -> set[int]:
        """Flows whose packets the list shows for this SA (an IKE SA includes its children)."""
        out = set(self.flows_of.get(uid, ()))
        for c in self._kids.get(uid, ()):
            out.update(self.flows_of.get(c, ()))
        return out

    # ------------------------------------------------------------------ keys

    def key_rows(self, stats: FlowStats) -> list[KeyRow]:
        rows: list[KeyRow] = []
        for uid, _depth in self.walk():
            sa = self.sa(uid)
            if isinstance(sa, IkeSa):
                packets = decrypted = failed = 0
                for f in self.flows_of.get(uid, ()):
                    p, d, x = stats.get(f)
                    packets, decrypted, failed = packets + p, decrypted + d, failed + x
                status = "decrypted" if decrypted else ("failed" if failed else "missing")
                rows.append(KeyRow(uid, "IKE SA", status, "", decrypted, packets))
            elif isinstance(sa, ChildSa):
                for way in sa.directions:
                    source, _, origin = (way.key_source or "").partition(":")
                    status = source.strip() or "missing"
                    if way.decrypted_unverified:
                        status = "decrypted_unverified"  # keys with no integrity key
                    what = f"{way.protocol.upper()} 0x{way.spi:08x} → {way.dst}"
                    rows.append(
                        KeyRow(uid, what, status, origin.strip(), way.decrypted, way.packets)
                    )
        return rows


def _first(sa: SA) -> tuple[int, str]:
    frames = [sp.start_frame for sp in sa.stages.values() if sp.start_frame is not None]
    return (min(frames) if frames else 1 << 62, sa.uid)


def rows_of_flows(index: PacketIndex, flows: set[int], start: int = 0) -> list[int]:
    """Index rows (from ``start``) whose flow is one of ``flows``."""
    flow = index.flow
    end = len(index)
    tail = flow[start:end] if start else flow
    if len(flows) == 1:
        (only,) = flows
        return [i for i, f in enumerate(tail, start) if f == only]
    return [i for i, f in enumerate(tail, start) if f in flows]


def throughput(
    index: PacketIndex, flows: set[int], t0: float, t1: float, buckets: int
) -> list[float]:
    """Packets per bucket of the capture's time axis for these flows (the sparkline)."""
    out = [0.0] * max(1, buckets)
    if not flows or len(index) == 0:
        return out
    span = max(t1 - t0, 1e-9)
    scale = (len(out) - 1) / span
    last = len(out) - 1
    for t, f in zip(index.time, index.flow, strict=False):
        if f in flows:
            b = int((t - t0) * scale)
            out[0 if b < 0 else (last if b > last else b)] += 1
    return out
