"""Orphans registered unbuilt (lifecycle/pending.py) change memory and time, never the result
nor the events a live view shows."""

from __future__ import annotations

import json
import pickle

import pytest

from ipsec_inspect.audit.run import audit
from ipsec_inspect.core.records import DeleteBody, EspPacket, IkeMessage, Record, Transport
from ipsec_inspect.export.timeline import build_timeline
from ipsec_inspect.lifecycle.pending import PendingChildren, PendingOrphan, is_pending
from ipsec_inspect.lifecycle.sequence import SEQ_MAX
from ipsec_inspect.lifecycle.tracker import Tracker, TrackerConfig

from .builders import T0, A, B, esp, ike2, ok, pl
from .scenarios import v2_full
from .test_eviction import _init, _source

C, D, E = "10.9.0.1", "10.9.0.2", "10.9.0.5"


def _delete(frame: int, spi: int, mid: int) -> Record:
    body = DeleteBody(3, [spi.to_bytes(4, "big")])
    return ike2(frame, 37, response=False, from_initiator=True, mid=mid, decrypted=[pl(42, body)])


def _records() -> list[Record]:
    """A negotiated tunnel among orphans of every kind, in frame order."""
    pre: list[Record] = [_init(1, 1, _source(1))]  # a half-open IKE SA, evicted first
    for i in range(30):  # a one-way flood
        pre.append(esp(0, 0xF000_0000 + i, 1 + i % 4, src=C, dst=D))
    pre += [
        esp(0, 0xE1, 1, src=C, dst=E),  # two-way orphan: 0xE2 comes back the other way
        esp(0, 0xE3, 1, src=C, dst=B),  # gets a second packet later
        esp(0, 0xE4, 7, src=B, dst=A),  # deleted by the tunnel's IKE SA later
        esp(0, 0xE5, 1, src=C, dst=A, port=4500, fragmented=True),  # NAT-T, fragmented
        esp(0, 0xE6, 0xFFFF_FFFF, src=C, dst=D),  # a wrap on its first packet: built at once
        esp(0, 0xE7, 1, src=C, dst=D, decryption=ok(b"\x45" + bytes(40))),  # decrypted
        esp(0, 0xE8, 1, src=C, dst=A),
        esp(0, 0xE8, 1, src=C, dst=B),  # the same SPI towards another host
    ]
    full = v2_full()
    post: list[Record] = [
        esp(0, 0xE2, 1, src=E, dst=C),
        esp(0, 0xE3, 2, src=C, dst=B),
        esp(0, 0xE3, 2, src=C, dst=B),  # a replay on the built one
        *[esp(0, 0xF100_0000 + i, 1, src=D, dst=C) for i in range(12)],  # pairs with the flood
    ]
    recs = [*pre, *full[:13], *post, _delete(0, 0xE4, 3), *full[13:]]
    for n, r in enumerate(recs, 1):
        r.meta.frame = n
        r.meta.time = 1_700_000_000.0 + n
    return recs


def _first_difference(a: str, b: str) -> str:
    """Where two long texts part (pytest's own diff of them takes minutes)."""
    n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    raise AssertionError(f"differ at {n}: {a[n - 80 : n + 80]!r} != {b[n - 80 : n + 80]!r}")


def _run(defer: bool, max_sas: int | None) -> tuple[str, list[str], Tracker]:
    t = Tracker(TrackerConfig(max_sas=max_sas, defer_orphans=defer))
    events: list[str] = []
    for r in _records():
        events += map(repr, t.feed(r))
    events += map(repr, t.finish())
    res = audit(t.result())
    doc = build_timeline(res, {"path": "x"})
    errors = [repr(e) for e in res.errors]
    return json.dumps([doc, errors], sort_keys=False), events, t


@pytest.mark.parametrize("max_sas", [None, 6, 15, 40])
def test_deferred_orphans_give_the_same_document_and_events(max_sas: int | None) -> None:
    doc, events, t = _run(True, max_sas)
    doc_off, events_off, t_off = _run(False, max_sas)
    assert isinstance(t._st.child, PendingChildren) and type(t_off._st.child) is dict
    assert doc == doc_off or _first_difference(doc, doc_off)
    assert events == events_off or _first_difference("\n".join(events), "\n".join(events_off))
    assert t._st.child.pending == 0  # finish built every one left
    # the model itself, dataclass for dataclass (the document leaves fields out: the
    # sequence bitmap, the IV history, evidence lists), and what the tracker counted
    res, res_off = t.result(), t_off.result()
    assert list(res.child_sas.items()) == list(res_off.child_sas.items())
    assert repr(list(res.child_sas.values())) == repr(list(res_off.child_sas.values()))
    assert res.ike_sas == res_off.ike_sas and res.errors == res_off.errors
    assert (res.stats, res.evicted, res.flood) == (res_off.stats, res_off.evicted, res_off.flood)


def _one_orphan(
    config: TrackerConfig, r: EspPacket, record_less: bool = False
) -> tuple[Tracker, list[str]]:
    """A tracker fed one brand-new orphan's first packet (as a record, or as the session's
    loop hands it without one); its events."""
    t = Tracker(config)
    if record_less:
        m = r.meta
        out = t.esp_orphan(PendingOrphan.of(m, r.spi, r.seq))
        assert out is not None
        return t, list(map(repr, out))
    return t, list(map(repr, t.feed(r)))


_TCP = esp(7, 0xC0DE_0001, 9, src=C, dst=D, port=4500)
_TCP.meta.transport = Transport.TCP


@pytest.mark.parametrize("window", [64, 1024])
@pytest.mark.parametrize(
    "packet",
    [
        esp(1, 0xF000_0001, 1, src=C, dst=D),
        esp(2, 0xF000_0002, 0, src=C, dst=D, wire_len=1500),  # number 0, full size
        esp(3, 0xF000_0003, SEQ_MAX - 1, src=C, dst=D),  # the last number before the wrap
        esp(4, 0xF000_0004, 0x8000_0000, src=D, dst=C, data=bytes(range(40))),  # bytes unread
        esp(5, 0x0000_0100, 77, src=C, dst=E, port=4500),  # NAT-T: encapsulation udp
        esp(6, 0xF000_0006, 3, src=C, dst=D, fragmented=True),  # counted as a fragment
        _TCP,  # RFC 8229: encapsulation tcp
    ],
    ids=["one", "zero", "before-wrap", "high-bit", "nat-t", "fragment", "tcp"],
)
def test_a_built_orphan_is_the_full_paths_child_sa_field_for_field(
    packet: EspPacket, window: int
) -> None:
    """``traffic.materialise_orphan`` builds a pending orphan without the full path
    (``attribution.attribute`` and ``traffic.count``, which a tracker that defers nothing
    runs at the packet): the two child SAs, every index and count must be the same."""
    whole, events = _one_orphan(TrackerConfig(replay_window=window, defer_orphans=False), packet)
    for record_less in (False, True):
        if record_less and packet.meta.ip_fragmented:
            continue  # the session's loop takes no fragment past the record path
        config = TrackerConfig(replay_window=window)
        t, events_pending = _one_orphan(config, packet, record_less)
        assert events_pending == events  # made at registration, as the full path makes them
        st, st_whole = t._st, whole._st
        (uid,) = st.child
        assert is_pending(st.child, uid)
        out = list(st.out)
        built, kept = st.child[uid], st_whole.child[uid]
        assert st.out == out  # building emits nothing: its events went out at registration
        assert built == kept
        assert repr(built) == repr(kept)  # the stages in the same order too
        assert list(built.stages) == list(kept.stages)
        for name in ("dir_index", "spi_first", "spi_dsts", "one_way", "orphans", "awaiting"):
            assert getattr(st, name) == getattr(st_whole, name), name
        assert (st.stats, st.errors, st.next_child) == (
            st_whole.stats,
            st_whole.errors,
            st_whole.next_child,
        )
        # and the same from here on: a second packet, then the end of the capture
        nxt = esp(20, packet.spi, (packet.seq + 1) & SEQ_MAX, src=packet.meta.src)
        nxt.meta.dst = packet.meta.dst
        assert t.feed(nxt) == whole.feed(nxt)
        assert t.finish(T0 + 60) == whole.finish(T0 + 60)
        assert st.child == st_whole.child
        whole, _ = _one_orphan(TrackerConfig(replay_window=window, defer_orphans=False), packet)


def test_the_mix_exercises_what_it_says() -> None:
    doc, _events, _t = _run(True, None)
    sas = {
        (d["spi"], d["dst"]): c for c in json.loads(doc)[0]["child_sas"] for d in c["directions"]
    }
    assert sas[("000000e1", E)]["id"] == sas[("000000e2", C)]["id"]  # paired
    assert sas[("000000e4", A)]["termination"]["reason"] == "deleted"
    e3 = next(d for d in sas[("000000e3", B)]["directions"])
    assert (e3["packets"], e3["seq"]["replayed"]) == (3, 1)
    flood = {c["id"]: c for (spi, _), c in sas.items() if spi.startswith("f0")}
    # the 12 packets back pair with the newest one-way orphans C -> D: two built at once
    # (the wrap, the decrypted one), then ten of the pending flood
    assert len(flood) == 30 and sum(len(c["directions"]) == 2 for c in flood.values()) == 10
    assert len(sas[("000000e6", D)]["directions"]) == len(sas[("000000e7", D)]["directions"]) == 2


def test_eviction_drops_pending_orphans_unbuilt_and_counts_them() -> None:
    built: list[str] = []
    t = Tracker(TrackerConfig(max_sas=6))
    child = t._st.child
    assert isinstance(child, PendingChildren)
    build = child.build
    assert build is not None

    def counting(uid: str, p: PendingOrphan):
        built.append(uid)
        return build(uid, p)

    child.build = counting
    recs = [esp(i + 1, 0xF000_0000 + i, 1, src=C, dst=D) for i in range(100)]
    for r in recs:
        t.feed(r)
    assert built == [] and child.pending == len(child) <= 6
    assert t._st.evicted.orphan_child_sas + len(child) == 100
    assert t._st.evicted.esp_packets == t._st.evicted.orphan_child_sas
    assert len(t._st.one_way[(C, D)]) == len(child)  # the pairing list was trimmed too
    t.finish()
    assert built == list(child) and child.pending == 0


def test_a_result_pickles_and_copies_as_plain_child_sas() -> None:
    t = Tracker()
    for i in range(3):
        t.feed(esp(i + 1, 0xF000_0000 + i, 1, src=C, dst=D))
    child = t._st.child
    assert isinstance(child, PendingChildren) and child.pending == 3
    copied = dict(child)  # a plain copy builds through []
    assert child.pending == 0 and [c.uid for c in copied.values()] == [
        "child-1",
        "child-2",
        "child-3",
    ]
    back = pickle.loads(pickle.dumps(t.result()))
    assert type(back.child_sas) is dict
    assert back.child_sas["child-2"].directions[0].spi == 0xF000_0001


def test_mergeable_trackers_never_defer() -> None:
    t = Tracker(TrackerConfig(mergeable=True))
    assert type(t._st.child) is dict and not t._st.defer_orphans


def _record_less(t: Tracker, r: Record) -> tuple[list[str], bool]:
    """What the session's loop does: an ESP packet it could read without a record is
    offered to ``esp_orphan`` first; anything declined is fed as a record. True: taken."""
    m = r.meta
    if isinstance(r, EspPacket) and r.decryption is None and not m.ip_fragmented:
        events = t.esp_orphan(PendingOrphan.of(m, r.spi, r.seq))
        if events is not None:
            return list(map(repr, events)), True
    return list(map(repr, t.feed(r))), False


@pytest.mark.parametrize("encrypted", [False, True])
@pytest.mark.parametrize("max_sas", [None, 6])
def test_orphans_registered_without_a_record_give_the_same_result(
    encrypted: bool, max_sas: int | None
) -> None:
    def records() -> list[Record]:
        recs = _records()
        if encrypted:  # the tunnel's child SAs wait for their SPIs (attribution step 2)
            recs = [r for r in recs if not isinstance(r, IkeMessage)]
            recs[40:40] = v2_full(decrypted=False)
            for n, r in enumerate(recs, 1):
                r.meta.frame, r.meta.time = n, 1_700_000_000.0 + n
        return recs

    docs, taken = [], []
    for record_less in (False, True):
        t = Tracker(TrackerConfig(max_sas=max_sas))
        events: list[str] = []
        hits = 0
        for r in records():
            if record_less:
                out, took = _record_less(t, r)
                events += out
                hits += took
            else:
                events += map(repr, t.feed(r))
        events += map(repr, t.finish())
        res = audit(t.result())
        docs.append(json.dumps([build_timeline(res, {"path": "x"}), events]))
        taken.append(hits)
    assert docs[0] == docs[1] or _first_difference(docs[0], docs[1])
    assert taken[0] == 0 and taken[1] >= 30  # the flood, not what pairs or waits
