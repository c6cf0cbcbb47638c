"""Merging two partial results into what one pass over both would have given.

Why: a long capture can be split and tracked in parallel, and two sensors can each see
part of a conversation. ``merge(a, b)`` takes the result of the earlier part ``a`` and the
later part ``b``:

- IKE SAs are the same SA when their version and initiator SPI match; the later part's
  mid-life view (first seen without its negotiation) gives way to the earlier part's.
- Child SAs are the same SA when they share a direction (destination, SPI, protocol) or
  the same creating exchange. SPIs the later part could not attribute (no IKE in it) are
  attributed as a single pass would: to the missing direction of a one-way child SA, or
  to a child SA negotiated (encrypted) in the earlier part and still waiting for SPIs.
- Sequence analysis continues from the earlier part's receiver state by replaying the
  later part's packet log (:meth:`SequenceAnalyzer.extend`), so replays across the cut
  are found.
- Endings that depend on where the capture stops (still active, idle, inferred deletes
  and rekeys) are settled again for the combined end. The merged result carries no
  findings: audit it (``audit.run.audit``) as any other result.
"""

from __future__ import annotations

import copy

from ipsec_inspect.lifecycle.endings import explain_endings
from ipsec_inspect.lifecycle.model import Certainty, ChildSa, Direction, Event, IkeSa, Reason, Stage
from ipsec_inspect.lifecycle.settle import infer_rekeys, settle
from ipsec_inspect.lifecycle.tracker import (
    CaptureStats,
    TrackerResult,
    apply_delete,
    end_with_parent,
)

#: Events a partial result writes only because it started mid-life.
_MIDLIFE_KINDS = frozenset({"ike.midlife", "child.orphan"})


def _better(a: Certainty | None, b: Certainty | None) -> Certainty | None:
    order = {Certainty.OBSERVED: 0, Certainty.INFERRED: 1, Certainty.ENCRYPTED: 2, None: 3}
    return a if order[a] <= order[b] else b


def _merge_certainty(into: dict[str, Certainty], other: dict[str, Certainty]) -> None:
    for k, v in other.items():
        best = _better(into.get(k), v)
        if best is not None:
            into[k] = best


def _absorb_stages(into: IkeSa | ChildSa, other: IkeSa | ChildSa, skip_recognition: bool) -> None:
    for stage in Stage:
        if skip_recognition and stage == Stage.HOST_RECOGNITION:
            continue
        span = copy.deepcopy(other.stages[stage])
        span.events = [e for e in span.events if e.kind not in _MIDLIFE_KINDS]
        into.stages[stage].absorb(span)


def _merge_ike(m: IkeSa, b: IkeSa) -> None:
    _absorb_stages(m, b, skip_recognition=True)
    if b.state != "START":
        m.state = b.state
    if any(b.spi_r) and not any(m.spi_r):
        m.spi_r = b.spi_r
    m.hard_end = m.hard_end or b.hard_end
    if not m.chosen and b.chosen:
        m.chosen, m.chosen_ids = b.chosen, b.chosen_ids
    m.proposals_offered = m.proposals_offered or b.proposals_offered
    m.offered_ids = m.offered_ids or b.offered_ids
    m.auth_method = m.auth_method if m.auth_method is not None else b.auth_method
    m.mode = m.mode or b.mode
    m.rekeyed_from = m.rekeyed_from or b.rekeyed_from
    m.rekeyed_to = m.rekeyed_to or b.rekeyed_to
    m.reauthenticated = m.reauthenticated or b.reauthenticated
    m.nat_detected = m.nat_detected if m.nat_detected is not None else b.nat_detected
    m.nat_frames = sorted({*m.nat_frames, *b.nat_frames})
    if m.transport == "udp" and b.transport != "udp":
        m.transport = b.transport
    m.vendor_ids += [v for v in b.vendor_ids if v not in m.vendor_ids]
    m.identities = {**b.identities, **m.identities}
    m.lifetime_seconds = m.lifetime_seconds or b.lifetime_seconds
    m.lifetime_kilobytes = m.lifetime_kilobytes or b.lifetime_kilobytes
    m.messages += b.messages
    if b.last_time is not None:
        m.last_time, m.last_frame, m.last_exchange = b.last_time, b.last_frame, b.last_exchange
    if b.last_info_time is not None:
        m.last_info_time, m.last_info_frame = b.last_info_time, b.last_info_frame
    roles = m.certainty.get("roles")
    _merge_certainty(m.certainty, b.certainty)
    if roles is not None:
        m.certainty["roles"] = roles
    if "deletes" in b.certainty or "deletes" in m.certainty:
        m.certainty["deletes"] = Certainty.ENCRYPTED
    m.unresolved_deletes = m.unresolved_deletes + b.unresolved_deletes
    m.psk_crack = m.psk_crack or b.psk_crack
    m.aggressive_psk_frames = m.aggressive_psk_frames or b.aggressive_psk_frames
    _merge_vpn_life(m, b)


def _merge_vpn_life(m: IkeSa, b: IkeSa) -> None:
    """Endpoints, configuration and authentication facts learnt in the later half."""
    m.auth_name = m.auth_name or b.auth_name
    m.auth_rounds = m.auth_rounds or b.auth_rounds
    m.eap_types += [t for t in b.eap_types if t not in m.eap_types]
    if m.established_frame is None:
        m.established_time, m.established_frame = b.established_time, b.established_frame
    m.rekey_certainty = m.rekey_certainty or b.rekey_certainty
    seen = {u.frame for u in m.address_updates}
    m.address_updates += [u for u in b.address_updates if u.frame not in seen]
    if b.address_updates and b.initiator is not None and b.responder is not None:
        m.initiator, m.responder = b.initiator, b.responder  # the later half's are current
    m.virtual_ips += [v for v in b.virtual_ips if v not in m.virtual_ips]
    for name, values in b.configuration.items():
        have = m.configuration.setdefault(name, [])
        have += [v for v in values if v not in have]
    m.secrets = {**b.secrets, **m.secrets}


def _merge_direction(m: Direction, b: Direction) -> list[Event]:
    """Continue ``m`` with ``b``'s packets; return the sequence/IV events of the cut."""
    events: list[Event] = []
    m.seq, anomalies = m.seq.extend(b.seq)
    for a in anomalies:
        events.append(
            Event(a.time, a.frame, f"{m.protocol}.seq.{a.kind}", f"SPI 0x{m.spi:08x}: {a.text}")
        )
    m.packets += b.packets
    m.byte_count += b.byte_count
    m.inner_bytes += b.inner_bytes
    m.decrypted += b.decrypted
    m.icv_failures += b.icv_failures
    if b.integrity_checked is False or m.integrity_checked is None:
        m.integrity_checked = b.integrity_checked
    if m.first_time is None:
        m.first_time, m.first_frame = b.first_time, b.first_frame
    if b.last_time is not None:
        m.last_time, m.last_frame = b.last_time, b.last_frame
    count = m.ivs.count + b.ivs.count
    earlier = m.ivs.intervals()
    for first, last, frame in b.ivs.intervals():
        # IVs of the later part that the earlier part had already used (an interval of
        # consecutive IVs is judged as a whole: its first frame is the evidence).
        reused = [(f, lo, hi) for lo, hi, f in earlier if lo <= last and first <= hi]
        if reused:
            used_frame, lo, hi = reused[0]
            m.iv_reuse_frames.append(frame)
            events.append(
                Event(
                    0.0,
                    frame,
                    "esp.iv_reuse",
                    f"SPI 0x{m.spi:08x}: explicit IVs {max(first, lo):x}..{min(last, hi):x} "
                    f"already used (frame {used_frame})",
                )
            )
        m.ivs.absorb(first, last, frame)
    m.ivs.count = count
    m.iv_reuse_frames = sorted(m.iv_reuse_frames + b.iv_reuse_frames)
    for attr in ("max_overhead", "max_inner"):
        x, y = getattr(m, attr), getattr(b, attr)
        setattr(m, attr, y if x is None else x if y is None else max(x, y))
    m.inner_ip_version = m.inner_ip_version or b.inner_ip_version
    m.fragmented += b.fragmented
    m.fragmented_frames += b.fragmented_frames
    m.key_source = m.key_source or b.key_source
    return events


def _merge_child(m: ChildSa, b: ChildSa, ike_map: dict[str, str], skip_recognition: bool) -> None:
    b_dirs = {d.key: d for d in b.directions}
    cut_events: list[Event] = []
    seq_frames: set[int] = set()
    for d in m.directions:
        other = b_dirs.pop(d.key, None)
        if other is not None:
            seq_frames.update(other.seq.logged_frames())
            cut_events += _merge_direction(d, other)
    _absorb_stages(m, b, skip_recognition)
    if seq_frames:
        # the later part judged these packets without the earlier state: judge them again
        tx = m.stages[Stage.TRANSMISSION]
        tx.events = [
            e
            for e in tx.events
            if not (e.frame in seq_frames and (".seq." in e.kind or e.kind == "esp.iv_reuse"))
        ]
    for e in cut_events:
        if e.time == 0.0:
            e.time = next(
                (x.time for x in m.stages[Stage.TRANSMISSION].events if x.frame == e.frame),
                _frame_time(m, e.frame),
            )
        m.stages[Stage.TRANSMISSION].events.append(e)
    m.stages[Stage.TRANSMISSION].events.sort(key=lambda e: (e.time, e.frame))
    for d in b.directions:
        if d.key in b_dirs:
            m.directions.append(copy.deepcopy(d))
    if m.ike_sa is None and b.ike_sa is not None:
        m.ike_sa = ike_map.get(b.ike_sa, b.ike_sa)
    if not m.chosen and b.chosen:
        m.chosen, m.chosen_ids = b.chosen, b.chosen_ids
    m.mode = m.mode or b.mode
    m.traffic_selectors = m.traffic_selectors or b.traffic_selectors
    m.proposals_offered = m.proposals_offered or b.proposals_offered
    m.hard_end = m.hard_end or b.hard_end
    m.keys_source = m.keys_source or b.keys_source
    m.pfs = m.pfs if m.pfs is not None else b.pfs
    m.lifetime_seconds = m.lifetime_seconds or b.lifetime_seconds
    m.lifetime_kilobytes = m.lifetime_kilobytes or b.lifetime_kilobytes
    m.answered = m.answered or b.answered
    if b.rekeyed_to and b.certainty.get("rekey") != Certainty.INFERRED:
        m.rekeyed_to = m.rekeyed_to or b.rekeyed_to
    pairing = m.certainty.get("pairing")
    _merge_certainty(m.certainty, b.certainty)
    if pairing == Certainty.INFERRED or (
        len(m.directions) == 2 and pairing is None and len(b.directions) < 2
    ):
        m.certainty["pairing"] = pairing or Certainty.INFERRED


def _frame_time(c: ChildSa, frame: int) -> float:
    for d in c.directions:
        t = d.seq.time_of(frame)
        if t is not None:
            return t
    return 0.0


def _find_child(merged: dict[str, ChildSa], b: ChildSa, ike_map: dict[str, str]) -> ChildSa | None:
    keys = {d.key for d in b.directions}
    for c in merged.values():
        if keys & {d.key for d in c.directions}:
            return c
    if b.creating_exchange is not None and b.ike_sa is not None:
        parent = ike_map.get(b.ike_sa)
        for c in merged.values():
            if c.ike_sa == parent and c.creating_exchange == b.creating_exchange:
                return c
    return None


def _adopt(merged: dict[str, ChildSa], ikes: dict[str, IkeSa], b: ChildSa) -> ChildSa | None:
    """Where one pass would have put the SPIs of an orphan of the later part."""
    if not b.directions:
        return None
    first = min(b.directions, key=lambda d: d.first_frame or 0)
    if len(b.directions) == 1:
        for c in reversed(list(merged.values())):
            if (
                len(c.directions) == 1
                and c.protocol == b.protocol
                and c.hard_end is None
                and c.certainty.get("pairing") != Certainty.OBSERVED
                and c.directions[0].src == first.dst
                and c.directions[0].dst == first.src
            ):
                c.certainty["pairing"] = Certainty.INFERRED
                return c
    for c in merged.values():
        sa = ikes.get(c.ike_sa or "")
        if (
            c.directions
            or c.hard_end is not None
            or sa is None
            or sa.initiator is None
            or sa.responder is None
        ):
            continue
        if c.certainty.get("spis") == Certainty.OBSERVED:
            continue
        if {sa.initiator.addr, sa.responder.addr} == {first.src, first.dst}:
            c.protocol = b.protocol
            c.certainty["spis"] = Certainty.INFERRED
            return c
    return None


class _ChildMerge:
    """Places the later part's child SAs (whole, or SPI by SPI for orphans) into the merge."""

    def __init__(
        self,
        children: dict[str, ChildSa],
        ikes: dict[str, IkeSa],
        ike_map: dict[str, str],
        next_id: int,
    ) -> None:
        self.children, self.ikes, self.ike_map, self.next_id = children, ikes, ike_map, next_id
        self._ended: set[str] = set()  # orphans whose ending was already handed on

    def _index(self) -> dict[tuple[str, int, str], ChildSa]:
        return {d.key: c for c in self.children.values() for d in c.directions}

    def _touch_parent(self, c: ChildSa, d: Direction) -> None:
        parent = self.ikes.get(c.ike_sa or "")
        if parent is None:
            return
        tx = parent.stages[Stage.TRANSMISSION]
        for t, f in ((d.first_time, d.first_frame), (d.last_time, d.last_frame)):
            if t is not None and f is not None:
                tx.touch(t, f)

    def unit(self, c: ChildSa) -> str:
        target = _find_child(self.children, c, self.ike_map)
        if target is not None:
            _merge_child(target, c, self.ike_map, skip_recognition=True)
            return target.uid
        new = copy.deepcopy(c)
        new.uid = f"child-{self.next_id}"
        self.next_id += 1
        new.ike_sa = self.ike_map.get(c.ike_sa or "", c.ike_sa) if c.ike_sa else None
        self.children[new.uid] = new
        if (
            new.ike_sa
            and new.ike_sa in self.ikes
            and new.uid not in self.ikes[new.ike_sa].child_sas
        ):
            self.ikes[new.ike_sa].child_sas.append(new.uid)
        return new.uid

    def loose(self, c: ChildSa, d: Direction) -> str:
        frames = set(d.seq.logged_frames())
        own = [
            e
            for e in c.stages[Stage.TRANSMISSION].events
            if e.frame in frames and e.kind != "child.spi"
        ]
        piece = ChildSa(
            uid=c.uid,
            protocol=c.protocol,
            encapsulation=c.encapsulation,
            observed_from_start=False,
            keys_source=c.keys_source,
            chosen=c.chosen,
            chosen_ids=c.chosen_ids,
        )
        piece.directions = [copy.deepcopy(d)]
        tx = piece.stages[Stage.TRANSMISSION]
        for t, f in ((d.first_time, d.first_frame), (d.last_time, d.last_frame)):
            if t is not None and f is not None:
                tx.touch(t, f)
        tx.events = copy.deepcopy(own)
        if c.hard_end is not None and c.uid not in self._ended:
            self._ended.add(c.uid)
            piece.hard_end = c.hard_end
            piece.stages[Stage.TERMINATION] = copy.deepcopy(c.stages[Stage.TERMINATION])
        existing = self._index().get(d.key)
        if existing is not None:
            _merge_child(existing, piece, self.ike_map, skip_recognition=True)
            self._touch_parent(existing, d)
            return existing.uid
        first_meta = (d.first_time or 0.0, d.first_frame or 0)
        target = _adopt(self.children, self.ikes, piece)
        if target is not None:
            how = (
                "paired by timing and addresses"
                if target.directions
                else "attributed to this child SA by timing and addresses"
            )
            tx.events.append(
                Event(
                    first_meta[0],
                    first_meta[1],
                    "child.spi",
                    f"SPI 0x{d.spi:08x} ({d.src} -> {d.dst}) {how}",
                    Certainty.INFERRED,
                )
            )
            _merge_child(target, piece, self.ike_map, skip_recognition=True)
            self._touch_parent(target, d)
            return target.uid
        piece.uid = f"child-{self.next_id}"
        self.next_id += 1
        piece.stages[Stage.HOST_RECOGNITION].touch(*first_meta)
        piece.stages[Stage.HOST_RECOGNITION].events.append(
            Event(
                first_meta[0],
                first_meta[1],
                "child.orphan",
                f"{d.protocol.upper()} SPI 0x{d.spi:08x} ({d.src} -> {d.dst}) first seen with no IKE exchange for it",
                Certainty.INFERRED,
            )
        )
        self.children[piece.uid] = piece
        return piece.uid


def merge(a: TrackerResult, b: TrackerResult) -> TrackerResult:
    """``a`` (earlier part) followed by ``b`` (later part)."""
    ikes = copy.deepcopy(a.ike_sas)
    children = copy.deepcopy(a.child_sas)
    index = {(sa.version, sa.spi_i): uid for uid, sa in ikes.items()}
    ike_map: dict[str, str] = {}
    for uid, sa in b.ike_sas.items():
        key = (sa.version, sa.spi_i)
        if key in index:
            _merge_ike(ikes[index[key]], sa)
            ike_map[uid] = index[key]
        else:
            new_uid = uid
            n = 2
            while new_uid in ikes:
                new_uid, n = f"{uid}-{n}", n + 1
            copy_sa = copy.deepcopy(sa)
            copy_sa.uid = new_uid
            copy_sa.child_sas = []  # refilled from the merged child SAs below
            ikes[new_uid] = copy_sa
            index[key] = new_uid
            ike_map[uid] = new_uid
    state = _ChildMerge(
        children, ikes, ike_map, 1 + max((int(u.rsplit("-", 1)[1]) for u in children), default=0)
    )
    child_map: dict[str, str] = {}
    work: list[tuple[int, int, ChildSa, Direction | None]] = []
    for c in b.child_sas.values():
        if c.ike_sa is None:  # attributed SPI by SPI, as one pass would
            work += [(d.first_frame or 0, 1, c, d) for d in c.directions]
        else:
            work.append((_first_frame(c), 0, c, None))
    for _frame, _kind, c, d in sorted(work, key=lambda w: (w[0], w[1], w[2].uid)):
        if d is None:
            child_map[c.uid] = state.unit(c)
        else:
            child_map[c.uid] = state.loose(c, d)
    for uid, c in b.child_sas.items():
        if uid not in child_map:
            continue
        m = children[child_map[uid]]
        if c.rekeyed_from and c.certainty.get("rekey") != Certainty.INFERRED:
            m.rekeyed_from = child_map.get(c.rekeyed_from, c.rekeyed_from)
        if c.rekeyed_to and c.certainty.get("rekey") != Certainty.INFERRED:
            m.rekeyed_to = child_map.get(c.rekeyed_to, c.rekeyed_to)
    for sa in ikes.values():
        sa.rekeyed_from = ike_map.get(sa.rekeyed_from or "", sa.rekeyed_from)
        sa.rekeyed_to = ike_map.get(sa.rekeyed_to or "", sa.rekeyed_to)
        for c in children.values():
            if c.ike_sa == sa.uid and c.uid not in sa.child_sas:
                sa.child_sas.append(c.uid)
    _apply_later_deletes(b, ikes, children, ike_map)
    stats = _merge_stats(a.stats, b.stats)
    end = max((t for t in (a.end_time, b.end_time) if t is not None), default=None)
    result = TrackerResult(ikes, children, [*a.errors, *b.errors], stats, a.config, end)
    infer_rekeys(result.ike_sas, result.child_sas)
    settle(result.ike_sas, result.child_sas, end, a.config.settle_config)
    explain_endings(result.ike_sas, result.child_sas)
    return result


def _apply_later_deletes(
    b: TrackerResult, ikes: dict[str, IkeSa], children: dict[str, ChildSa], ike_map: dict[str, str]
) -> None:
    """Deletes in the later part that name SAs only the earlier part knew."""
    index = {d.key: c for c in children.values() for d in c.directions}
    for msa in ikes.values():
        still: list[tuple[str, int, str, float, int]] = []
        for proto, spi, sender, time, frame in msa.unresolved_deletes:
            c = index.get((sender, spi, proto)) or next(
                (c for (_dst, s, p), c in index.items() if s == spi and p == proto), None
            )
            if c is None:
                still.append((proto, spi, sender, time, frame))
            else:
                apply_delete(c, proto, spi, time, frame)
        msa.unresolved_deletes = still
    for uid, bsa in b.ike_sas.items():
        msa = ikes[ike_map[uid]]
        end = bsa.hard_end
        if (
            end is not None
            and end.reason == Reason.DELETED
            and end.frame is not None
            and end.time is not None
        ):
            for cu in msa.child_sas:
                c = children.get(cu)
                if c is not None:
                    end_with_parent(c, msa, end.time, end.frame)


def _first_frame(c: ChildSa) -> int:
    frames = [s.start_frame for s in c.stages.values() if s.start_frame is not None]
    return min(frames) if frames else 0


def _merge_stats(a: CaptureStats, b: CaptureStats) -> CaptureStats:
    firsts = [t for t in (a.first_time, b.first_time) if t is not None]
    lasts = [t for t in (a.last_time, b.last_time) if t is not None]
    return CaptureStats(
        frames=max(a.frames, b.frames),
        first_time=min(firsts) if firsts else None,
        last_time=max(lasts) if lasts else None,
        ike_messages=a.ike_messages + b.ike_messages,
        esp_packets=a.esp_packets + b.esp_packets,
        ah_packets=a.ah_packets + b.ah_packets,
        keepalives=a.keepalives + b.keepalives,
        malformed=a.malformed + b.malformed,
    )
