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
from ipsec_inspect.lifecycle.attribution import attribute, new_direction, open_orphan
from ipsec_inspect.lifecycle.model import ChildSa, Direction, Stage
from ipsec_inspect.lifecycle.pending import PendingOrphan, is_pending
from ipsec_inspect.lifecycle.sequence import SEQ_MAX
from ipsec_inspect.lifecycle.state import TrackerState


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
    """Build a pending orphan exactly as the full path built it at its first packet: step 3
    of ``attribution.attribute`` and :func:`count`, into the same uid. Its events went out
    when it was registered, so the ones made here are dropped."""
    out, st.out = st.out, []
    try:
        m = p.meta()
        c = open_orphan(st, m, p.spi, "esp", uid)
        d = new_direction(st, m, p.spi, "esp")
        d.seq.esn = bool(c.chosen_ids.get("esn"))  # as attribution._attach
        c.directions.append(d)
        # a new orphan has no cipher: count never reads the packet's bytes (its IV)
        count(st, c, d, EspPacket(m, b"", 0, 0, p.spi, p.seq), "esp")
    finally:
        st.out = out
    return c


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
