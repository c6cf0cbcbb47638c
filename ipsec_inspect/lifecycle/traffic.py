"""ESP and AH packets as records: sequence numbers, ICV results, IV reuse, MTU figures.

Why apart from the IKE logic: a packet of an SA only ever touches its direction's
counters and the transmission stages of its child SA and IKE SA; which child SA that is
comes from :mod:`attribution`. The fast lane (:mod:`fast_lane`) does the same counting
without a record for the packets that need nothing else.
"""

from __future__ import annotations

from ipsec_inspect.core.records import AhPacket, EspPacket
from ipsec_inspect.lifecycle import suites
from ipsec_inspect.lifecycle.addresses import follow_source
from ipsec_inspect.lifecycle.attribution import _ENCAPSULATION, _orphan_text, attribute
from ipsec_inspect.lifecycle.ivs import IvHistory
from ipsec_inspect.lifecycle.model import Certainty, ChildSa, Direction, Event, Stage, StageSpan
from ipsec_inspect.lifecycle.pending import PendingOrphan, is_pending
from ipsec_inspect.lifecycle.result import TrackerConfig
from ipsec_inspect.lifecycle.sequence import SEQ_MAX, SequenceAnalyzer
from ipsec_inspect.lifecycle.state import TrackerState

_HR, _NEG, _CIRCUIT, _TRANS, _TERM = Stage


def on_ipsec_record(st: TrackerState, rec: EspPacket | AhPacket, proto: str) -> None:
    m = rec.meta
    key = (m.dst, rec.spi, proto)
    uid = st.dir_index.get(key)
    if uid is None:
        p = _deferrable(st, rec)
        uid = attribute(st, m, rec.spi, proto, p)
        if p is not None and is_pending(st.child, uid):
            return  # registered: counted when it is built (materialise_orphan)
    c = st.child[uid]
    d = c.direction(m.dst, rec.spi)
    assert d is not None
    count(st, c, d, rec, proto)


def _deferrable(st: TrackerState, rec: EspPacket | AhPacket) -> PendingOrphan | None:
    """The packet as a pending orphan's (:mod:`pending`), if it would open one whose replay
    needs nothing but the packet: ESP, not decrypted (no ICV or key state), a sequence
    number that raises no note on a first packet (2^32-1 would: a wrap without ESN)."""
    if (
        not st.defer_orphans
        or type(rec) is not EspPacket
        or rec.decryption is not None
        or rec.seq & SEQ_MAX == SEQ_MAX
    ):
        return None
    return PendingOrphan.of(rec.meta, rec.spi, rec.seq)


def materialise_orphan(st: TrackerState, uid: str, p: PendingOrphan) -> ChildSa:
    """Build a pending orphan as the full path built it at its first packet — step 3 of
    ``attribution.attribute`` (``open_orphan``, ``new_direction``, ``_attach``) and then
    :func:`count` — into the same uid, field for field, directly.

    Why not by running that path: at the end of a flood every orphan kept (20,000 under
    the default cap) is built here, and the path's parts that do nothing for a one-packet
    orphan were two thirds of the cost: its events (made and dropped, they went out when
    it was registered), a :class:`PacketMeta` and a record for the packet, the look-up of
    a parent IKE SA it cannot have, the source check of a direction made from this very
    packet, the cipher look-up of an SA that negotiated none (so the packet's bytes, its
    IV, are never read), a first sequence number fed through the analyser. What is left
    is what ``count`` leaves: both stages touched at the packet, the orphan's note, its
    direction's counters and sequence state.
    ``tests/lifecycle/test_pending.py`` compares this with the full path, dataclass for
    dataclass."""
    t, f = p.time, p.frame
    text = _orphan_text(p.src, p.dst, p.spi, "esp")
    note = Event(t, f, "child.orphan", text, Certainty.INFERRED)
    stages = {  # new_stages' order; touched as open_orphan and count touch them
        _HR: StageSpan(t, t, f, f, [note]),
        _NEG: StageSpan(),
        _CIRCUIT: StageSpan(),
        _TRANS: StageSpan(t, t, f, f),
        _TERM: StageSpan(),
    }
    cfg = st.config
    d = Direction(
        spi=p.spi,
        src=p.src,
        dst=p.dst,
        packets=1,
        byte_count=p.wire_len,
        first_time=t,
        last_time=t,
        first_frame=f,
        last_frame=f,
        seq=_first_number(cfg, p),
        ivs=IvHistory(bounded=not cfg.mergeable),
    )
    if p.fragmented:
        d.fragmented, d.fragmented_frames = 1, [f]
    return ChildSa(
        uid=uid,
        encapsulation=_ENCAPSULATION.get(p.transport, "none"),
        directions=[d],
        stages=stages,
        observed_from_start=False,
    )


def _first_number(cfg: TrackerConfig, p: PendingOrphan) -> SequenceAnalyzer:
    """The sequence analyser of a direction after its first packet, as ``feed`` leaves it
    for a first number that is not 2^32-1 (a pending orphan's never is: ``_deferrable``,
    ``Tracker.esp_orphan``): one packet counted, no anomaly, its number the highest and
    the bitmap's only bit. A logging analyser (a mergeable run, which defers nothing) is
    fed instead, to log the packet."""
    s = p.seq & SEQ_MAX
    if cfg.mergeable:
        seq = SequenceAnalyzer(window=cfg.replay_window, keep_log=True)
        seq.feed(s, p.frame, p.time)
        return seq
    return SequenceAnalyzer(
        cfg.replay_window, False, False, count=1, first=s, last=s, highest=s, _bitmap=1
    )


def count(
    st: TrackerState, c: ChildSa, d: Direction, rec: EspPacket | AhPacket, proto: str
) -> None:
    """One packet of a known direction ``d`` of ``c``."""
    m = rec.meta
    if d.src != m.src:
        follow_source(st, c, d, m)
    if d.first_time is None:
        d.first_time, d.first_frame = m.time, m.frame
    d.last_time, d.last_frame = m.time, m.frame
    d.packets += 1
    d.byte_count += m.wire_len
    st.enter(c, Stage.TRANSMISSION, m)
    parent = st.ike.get(c.ike_sa or "")
    if parent is not None:
        st.enter(parent, Stage.TRANSMISSION, m)
    for a in d.seq.feed(rec.seq, m.frame, m.time):
        st.note(c, Stage.TRANSMISSION, m, f"{proto}.seq.{a.kind}", f"SPI 0x{rec.spi:08x}: {a.text}")
    if m.ip_fragmented:
        d.fragmented += 1
        d.fragmented_frames.append(m.frame)
    if isinstance(rec, AhPacket):
        if rec.icv_status == "ok":
            d.decrypted += 1
        elif rec.icv_status == "icv-failed":
            d.icv_failures += 1
            st.note(
                c, Stage.TRANSMISSION, m, "ah.icv_failed", f"SPI 0x{rec.spi:08x}: ICV check failed"
            )
        return
    iv = b""
    dec = rec.decryption
    if dec is not None:
        if dec.key_source:
            d.key_source = dec.key_source
            c.keys_source = c.keys_source or dec.key_source
        if dec.status == "ok":
            d.decrypted += 1
            if not dec.verified:
                d.integrity_checked = False
            elif d.integrity_checked is None:
                d.integrity_checked = True
            inner = len(dec.plaintext)
            d.inner_bytes += inner
            if m.wire_len:
                over = m.wire_len - inner
                d.max_overhead = over if d.max_overhead is None else max(d.max_overhead, over)
            d.max_inner = inner if d.max_inner is None else max(d.max_inner, inner)
            if dec.next_header in (4, 41) and dec.plaintext:
                d.inner_ip_version = dec.plaintext[0] >> 4
        elif dec.status == "icv-failed":
            d.icv_failures += 1
            st.note(
                c, Stage.TRANSMISSION, m, "esp.icv_failed", f"SPI 0x{rec.spi:08x}: ICV check failed"
            )
        if dec.counter_iv:  # only AEAD and counter modes must never repeat an IV
            iv = dec.iv
    if not iv and dec is None:
        e = suites.encryption_alg(c.chosen_ids.get("encryption"))
        if e is not None and e.iv_len and (e.aead or e.mode == "ctr"):
            start = rec.offset + 8
            if start + e.iv_len <= min(len(rec.data), rec.offset + rec.length):
                iv = bytes(rec.data[start : start + e.iv_len])
    if iv:
        n = int.from_bytes(iv, "big")
        used = d.ivs.first_use(n)
        if used is not None:
            d.ivs.count += 1
            d.iv_reuse_frames.append(m.frame)
            st.note(
                c,
                Stage.TRANSMISSION,
                m,
                "esp.iv_reuse",
                f"SPI 0x{rec.spi:08x}: explicit IV {iv.hex()} already used (frame {used})",
            )
        else:
            d.ivs.add(n, m.frame)
