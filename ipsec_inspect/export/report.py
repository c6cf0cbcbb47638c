"""What a shareable report says about one capture, read from the analysis (no packets).

Why a model of its own: the HTML report (charts) and the Markdown report (text for a
ticket) must say the same things. Both are drawn from this one object, which is built
from what every other command reads — the tracker result of :class:`pipeline.session.Analysis`,
its compact packet index (for traffic over time) and the JSON timeline document (for
public SA ids and findings) — and never from the packets themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ipsec_inspect.lifecycle.model import ChildSa, IkeSa, Stage
from ipsec_inspect.lifecycle.tracker import TrackerResult

STAGE_WORDS = {
    Stage.HOST_RECOGNITION: "host recognition",
    Stage.NEGOTIATION: "negotiation",
    Stage.CIRCUIT: "circuit",
    Stage.TRANSMISSION: "transmission",
    Stage.TERMINATION: "termination",
}
#: Buckets of the traffic-over-time chart.
TRAFFIC_BUCKETS = 120
#: Directions with a series of their own on the traffic chart (the busiest); the rest
#: are summed into one.
TRAFFIC_SERIES = 12
#: Event kinds drawn as marks on the traffic chart (replays, ICV failures, IV reuse).
MARK_KINDS = ("seq.replay", "seq.reset", "seq.wrap", "seq.window", "icv_failed", "iv_reuse")


@dataclass(frozen=True)
class StageBar:
    stage: Stage
    start: float  # seconds from the capture's first packet
    end: float
    start_frame: int | None
    end_frame: int | None


@dataclass(frozen=True)
class SaRow:
    """One SA of the report: its public id, what it is, its stages and how it ended."""

    id: str
    kind: str  # "IKEv2 SA", "ESP child SA", ...
    parent: str | None  # the IKE SA of a child SA
    spis: str
    peers: str
    algorithms: str
    packets: int
    ended: str
    bars: tuple[StageBar, ...]
    rekeyed_to: str | None


@dataclass(frozen=True)
class Traffic:
    """One direction of a child SA: its totals, loss/replay marks and, for one of the
    busiest directions, its packets per bucket (``counts``; empty for the others)."""

    label: str  # "child-1 0xe9511913 192.0.2.1 → 198.51.100.1"
    sa: str
    counts: tuple[int, ...]
    packets: int
    lost: int
    replayed: int
    icv_failures: int
    marks: tuple[tuple[float, int, str], ...]  # seconds, frame, text


@dataclass(frozen=True)
class FindingRow:
    rule: str
    title: str
    severity: str
    sa: str
    stage: str
    detail: str
    reference: str
    frames: tuple[int, ...]


@dataclass
class CaptureReport:
    """Everything the report says about one capture."""

    path: str
    frames: int
    first_time: str | None
    last_time: str | None
    duration: float
    counts: dict[str, int]
    peers: list[tuple[str, str, int]]  # initiator, responder, IKE SAs between them
    sas: list[SaRow]
    bucket_seconds: float
    traffic: list[Traffic]
    other_traffic: tuple[int, ...]  # packets per bucket of the directions without a series
    findings: list[FindingRow]
    passed: int
    errors: list[str]
    problems: list[str] = field(default_factory=list)

    @property
    def failed_by_severity(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.severity] = out.get(f.severity, 0) + 1
        return out


def build_report(
    result: TrackerResult,
    doc: dict[str, Any],
    index_time: Any,
    index_flow: Any,
    flow_keys: list[tuple[object, ...]],
    problems: list[str],
) -> CaptureReport:
    """The report of one analysed capture.

    ``doc`` is the JSON timeline document of ``result`` (``export.timeline``);
    ``index_time``/``index_flow`` are the analysis's packet index columns and
    ``flow_keys`` its flow table, from which traffic over time is counted.
    """
    cap = doc["capture"]
    t0 = result.stats.first_time or 0.0
    t1 = result.stats.last_time or t0
    duration = max(t1 - t0, 0.0)
    public = _public_child_ids(result, doc)
    sas: list[SaRow] = []
    for ike in sorted(result.ike_sas.values(), key=_first):
        sas.append(_ike_row(ike, t0, public))
        for uid in sorted(
            (c.uid for c in result.child_sas.values() if c.ike_sa == ike.uid),
            key=lambda u: _first(result.child_sas[u]),
        ):
            sas.append(_child_row(result.child_sas[uid], t0, public))
    for c in sorted(result.child_sas.values(), key=_first):
        if c.ike_sa not in result.ike_sas:
            sas.append(_child_row(c, t0, public))
    peers: dict[tuple[str, str], int] = {}
    for ike in result.ike_sas.values():
        a = f"{ike.initiator.addr}:{ike.initiator.port}" if ike.initiator else "?"
        b = f"{ike.responder.addr}:{ike.responder.port}" if ike.responder else "?"
        peers[(a, b)] = peers.get((a, b), 0) + 1
    bucket = max(duration / TRAFFIC_BUCKETS, 1e-6)
    traffic, other = _traffic(result, public, index_time, index_flow, flow_keys, t0, bucket)
    findings = [
        FindingRow(
            f["rule"],
            f["title"],
            f["severity"],
            f["sa"],
            f["stage"],
            f.get("detail") or "",
            f.get("reference") or "",
            tuple(f.get("frames") or ()),
        )
        for f in doc["findings"]
        if f["outcome"] == "fail"
    ]
    passed = sum(1 for f in doc["findings"] if f["outcome"] != "fail")
    return CaptureReport(
        path=cap["path"],
        frames=cap["frames"],
        first_time=cap["first_time"],
        last_time=cap["last_time"],
        duration=duration,
        counts={
            "IKE messages": cap["ike_messages"],
            "ESP packets": cap["esp_packets"],
            "AH packets": cap["ah_packets"],
            "NAT keepalives": cap["nat_keepalives"],
            "malformed": cap["malformed"],
        },
        peers=[(a, b, n) for (a, b), n in sorted(peers.items())],
        sas=sas,
        bucket_seconds=bucket,
        traffic=traffic,
        other_traffic=other,
        findings=findings,
        passed=passed,
        errors=[f"frame {e['frame']}: {e['message']}" for e in doc["errors"]],
        problems=list(problems),
    )


def _public_child_ids(result: TrackerResult, doc: dict[str, Any]) -> dict[str, str]:
    """Internal uid -> public id (``child-N``), as the JSON document numbers them."""
    from ipsec_inspect.export.timeline import child_id_map

    ids = child_id_map(result)
    ids.update({uid: uid for uid in result.ike_sas})
    return ids


def _first(sa: IkeSa | ChildSa) -> tuple[int, str]:
    frames = [s.start_frame for s in sa.stages.values() if s.start_frame is not None]
    return (min(frames) if frames else 1 << 62, sa.uid)


def _bars(sa: IkeSa | ChildSa, t0: float) -> tuple[StageBar, ...]:
    out = []
    for stage in Stage:
        span = sa.stages[stage]
        if span.start is None or span.end is None:
            continue
        out.append(
            StageBar(stage, span.start - t0, span.end - t0, span.start_frame, span.end_frame)
        )
    return tuple(out)


def _ended(sa: IkeSa | ChildSa) -> str:
    t = sa.termination
    if t is None:
        return "open"
    text = t.reason.value.replace("_", " ")
    if t.notify:
        text += f" ({t.notify})"
    elif t.detail:
        text += f" ({t.detail})"
    return text


def _ike_row(sa: IkeSa, t0: float, public: dict[str, str]) -> SaRow:
    chosen = ", ".join(str(v) for v in sa.chosen.values() if v)
    peers = ""
    if sa.initiator and sa.responder:
        peers = f"{sa.initiator.addr} ↔ {sa.responder.addr}"
    return SaRow(
        id=sa.uid,
        kind=f"IKEv{sa.version} SA",
        parent=None,
        spis=f"{sa.spi_i.hex()}/{sa.spi_r.hex()}",
        peers=peers,
        algorithms=chosen,
        packets=sa.messages,
        ended=_ended(sa),
        bars=_bars(sa, t0),
        rekeyed_to=public.get(sa.rekeyed_to or "", sa.rekeyed_to),
    )


def _child_row(c: ChildSa, t0: float, public: dict[str, str]) -> SaRow:
    chosen = ", ".join(str(v) for k, v in c.chosen.items() if v and k != "esn")
    peers = sorted({f"{d.src} → {d.dst}" for d in c.directions})
    return SaRow(
        id=public.get(c.uid, c.uid),
        kind=f"{c.protocol.upper()} child SA" + (f" ({c.mode})" if c.mode else ""),
        parent=c.ike_sa,
        spis=", ".join(f"0x{d.spi:08x}" for d in c.directions),
        peers="; ".join(peers),
        algorithms=chosen,
        packets=sum(d.packets for d in c.directions),
        ended=_ended(c),
        bars=_bars(c, t0),
        rekeyed_to=public.get(c.rekeyed_to or "", c.rekeyed_to),
    )


def _traffic(
    result: TrackerResult,
    public: dict[str, str],
    index_time: Any,
    index_flow: Any,
    flow_keys: list[tuple[object, ...]],
    t0: float,
    bucket: float,
) -> tuple[list[Traffic], tuple[int, ...]]:
    """Per-direction packet counts over time, counted from the packet index in one pass.

    Only the :data:`TRAFFIC_SERIES` busiest directions get a series of their own; the
    others are summed into one (returned second), so a capture of a million SAs costs
    a few series, not a million."""
    flow_of = {k: i for i, k in enumerate(flow_keys)}
    rows: list[tuple[ChildSa, Any]] = [
        (c, d) for c in sorted(result.child_sas.values(), key=_first) for d in c.directions
    ]
    busiest = sorted(range(len(rows)), key=lambda i: -rows[i][1].packets)[:TRAFFIC_SERIES]
    series_of = {i: n for n, i in enumerate(busiest)}  # row -> its series
    other_series = len(busiest)
    wanted: dict[int, int] = {}  # flow -> series (other_series: summed with the rest)
    for i, (_c, d) in enumerate(rows):
        flow = flow_of.get((d.protocol, d.dst, d.spi))
        if flow is not None:
            wanted[flow] = series_of.get(i, other_series)
    counts = [[0] * TRAFFIC_BUCKETS for _ in range(other_series + 1)]
    last = TRAFFIC_BUCKETS - 1
    for t, f in zip(index_time, index_flow, strict=False):
        n = wanted.get(f)
        if n is not None:
            b = int((t - t0) / bucket)
            counts[n][0 if b < 0 else (last if b > last else b)] += 1
    out = []
    for i, (c, d) in enumerate(rows):
        sa_id = public.get(c.uid, c.uid)
        marks = tuple(
            (e.time - t0, e.frame, e.text)
            for e in c.stages[Stage.TRANSMISSION].events
            if e.kind.split(".", 1)[-1] in MARK_KINDS and f"0x{d.spi:08x}" in e.text
        )
        n = series_of.get(i)
        out.append(
            Traffic(
                label=f"{sa_id} 0x{d.spi:08x} {d.src} → {d.dst}",
                sa=sa_id,
                counts=tuple(counts[n]) if n is not None else (),
                packets=d.packets,
                lost=d.seq.lost,
                replayed=d.seq.replayed,
                icv_failures=d.icv_failures,
                marks=marks,
            )
        )
    other = tuple(counts[other_series]) if len(rows) > len(busiest) else ()
    return out, other
