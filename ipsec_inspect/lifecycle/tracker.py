"""The sans-I/O SA tracker: records in, events out.

Why sans-I/O: the same tracker serves capture files, live capture and merged shards, and is
tested with hand-built records. It never reads a file, a clock or a key: it is handed
dissected (and, where keys exist, decrypted) records in frame order.

How it works: this module only feeds, dispatches and finishes. Each IKE message is found
its IKE SA here, then classified into a :class:`Trigger` (:mod:`classify`, a pure table of
readers); the SA logic of its version (:mod:`ikev2_sa`, :mod:`ikev1_sa`) moves the SA by
the row of :mod:`transitions` for its state and that trigger and reads the message's
details. ESP and AH packets are attributed to child SAs by (destination, SPI)
(:mod:`attribution`) and counted (:mod:`traffic`, or without a record on a fast lane,
:mod:`fast_lane`). All of them share one :class:`~state.TrackerState`.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
import sys
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ipsec_inspect.core.records import (
    AhPacket,
    EspDecryption,
    EspPacket,
    IkeMessage,
    Malformed,
    NatKeepalive,
    PacketMeta,
    Record,
    Transport,
)
from ipsec_inspect.lifecycle.addresses import track_endpoints
from ipsec_inspect.lifecycle.attribution import plainly_orphan, register_nursed, register_orphan
from ipsec_inspect.lifecycle.classify import IKE_SA_INIT, V1_AGGRESSIVE, V1_MAIN
from ipsec_inspect.lifecycle.configuration import read_configuration
from ipsec_inspect.lifecycle.endings import entangled_peers, entangled_with, explain_endings
from ipsec_inspect.lifecycle.events import SaClosed, SaOpened, TrackerEvent
from ipsec_inspect.lifecycle.fast_lane import EspLane, LaneBoard
from ipsec_inspect.lifecycle.first_run import FirstRun, RawRequest
from ipsec_inspect.lifecycle.flood import EVICT_TO
from ipsec_inspect.lifecycle.ike_rekey_inference import infer_ike_rekey
from ipsec_inspect.lifecycle.ikev1_sa import on_v1
from ipsec_inspect.lifecycle.ikev2_sa import on_v2
from ipsec_inspect.lifecycle.liveness import read_dpd
from ipsec_inspect.lifecycle.model import Certainty, ChildSa, Endpoint, IkeSa, Stage
from ipsec_inspect.lifecycle.nursery import OrphanNursery
from ipsec_inspect.lifecycle.parked import BlobStore, Compact, Deferred, Parcel, ParkedDict
from ipsec_inspect.lifecycle.pending import PendingChildren, PendingOrphan, is_pending
from ipsec_inspect.lifecycle.result import (
    CaptureStats,
    TrackerConfig,
    TrackerError,
    TrackerResult,
)
from ipsec_inspect.lifecycle.sequence import SEQ_MAX
from ipsec_inspect.lifecycle.settle import infer_rekeys, settle
from ipsec_inspect.lifecycle.state import (
    TrackerState,
    apply_delete,
    drop_spi_dst,
    end_with_parent,
)
from ipsec_inspect.lifecycle.traffic import materialise_orphan, on_ipsec_record

if TYPE_CHECKING:  # the charon log parser is imported when a log is read (start-up)
    from ipsec_inspect.crypto.strongswan_log import DaemonHint

__all__ = [
    "CaptureStats",
    "EspLane",
    "Tracker",
    "TrackerConfig",
    "TrackerError",
    "TrackerResult",
    "apply_delete",
    "end_with_parent",
]

#: states of an IKE SA whose first message is all the capture shows (evicted first)
_HALF_OPEN_STATES = frozenset({"START", "INIT_SENT"})
_VIA = {"udp": "UDP {port}", "udp-encap": "UDP 4500 (NAT-T)", "tcp": "TCP (RFC 8229)"}
#: dissects an IKE message again: (data, offset, end, meta) -> the record (handed in)
Redissect = Callable[[bytes, int, int, PacketMeta], IkeMessage]


class Tracker:
    """Feed records with :meth:`feed`, end with :meth:`finish`, read :meth:`result`."""

    def __init__(
        self,
        config: TrackerConfig | None = None,
        spill: BlobStore | None = None,
        redissect: Redissect | None = None,
    ) -> None:
        """``spill``: where to park half-open IKE SAs beyond ``config.park_half_open`` (see
        :mod:`parked`); without it, or for a mergeable run, nothing is parked.
        ``redissect``: the IKE dissector of the run, with which a half-open SA kept as its
        message (``config.compact_half_open``) is rebuilt; without it none is."""
        self.config = config or TrackerConfig()
        self._st = TrackerState(self.config)
        self._end: float | None = None
        self._lanes = LaneBoard()
        self._hints: list[DaemonHint] = []
        keep = self.config.park_half_open
        self._park_keep = keep if spill is not None and not self.config.mergeable else None
        self._park_queue: deque[str] = deque()  # half-open uids, oldest first
        wanted = self.config.compact_half_open
        compacts = wanted is True or (wanted is None and self._park_keep is not None)
        self._redissect = redissect if compacts and not self.config.mergeable else None
        # the dissector a compact SA is replayed with (compact after its first message, or
        # deferred: handed over undissected, ``defer_first``)
        self._dissect = redissect if not self.config.mergeable else None
        self._defers = (
            self.config.defer_first
            and self._dissect is not None
            and self.config.max_sas is not None
            and self._park_keep is None
        )
        # a replay's scratch tracker: the same settings, nothing capped, parked, compact or
        # pending (a replayed IKE message opens no orphan); made at the first replay
        self._scratch_config = dataclasses.replace(
            self.config,
            max_sas=None,
            park_half_open=None,
            compact_half_open=False,
            defer_orphans=False,
        )
        self._scratch: Tracker | None = None
        self._force_uid: str | None = None  # the uid a replay gives its SA
        self._settled = False  # compact SAs are settled as they are replayed (finish)
        # the first requests held raw (defer_request), room and eviction as _bound's; not
        # made for a tracker that never defers (a replay's scratch tracker: one per SA kept)
        cap = self.config.max_sas or 0
        self._first = (
            FirstRun(
                self._st.ike_index,
                # the nursery's packets too: room is asked before _first_of_run registers them
                lambda: cap - len(self._st.ike) - len(self._st.child) - self._nursed(),
                lambda: self._evict(int(cap * EVICT_TO)),
                self._first_of_run,
            )
            if self._defers
            else None
        )
        self._in_run = False  # a run of first requests is held (_end_first_run ends it)
        if self._park_keep is not None or self._redissect is not None or self._defers:
            store = spill if self._park_keep is not None else None
            self._st.ike = ParkedDict(store, self._restore, self._replay)
        if self.config.defer_orphans and not self.config.mergeable:
            self._defer_orphans()
        #: new orphans' first packets held before registering (lifecycle/nursery.py)
        self._nursery = OrphanNursery(self._st) if self._st.defer_orphans else None

    def add_hints(self, hints: list[DaemonHint]) -> None:
        """What a daemon's log says about why SAs were rekeyed or closed (data, handed in:
        the tracker reads no file); used when the capture ends."""
        self._hints.extend(hints)

    # ------------------------------------------------------------------ public API

    def feed(self, record: Record) -> list[TrackerEvent]:
        """Apply one record; return the events it caused."""
        if self._in_run:
            self._end_first_run()
        if self._nursery is not None and self._nursery.open:
            self._flush_nursery()
        st = self._st
        st.out = []
        st.stats.see(record.meta)
        if isinstance(record, IkeMessage):
            st.stats.ike_messages += 1
            self._lanes.close_all()  # an IKE message may change what ESP packets mean
            self._on_ike(record)
        elif isinstance(record, EspPacket):
            st.stats.esp_packets += 1
            self._on_ipsec(record, "esp")
        elif isinstance(record, AhPacket):
            st.stats.ah_packets += 1
            self._on_ipsec(record, "ah")
        elif isinstance(record, NatKeepalive):
            st.stats.keepalives += 1
        elif isinstance(record, Malformed):
            st.stats.malformed += 1
            st.error(record.meta, f"malformed.{record.layer}", record.error.message)
        self._bound()
        return st.out

    def esp_orphan(self, p: PendingOrphan, events: bool = True) -> list[TrackerEvent] | None:
        """Feed the first packet of a brand-new ESP direction without a record, when all it
        does is register a pending orphan (:mod:`pending`); return its events. None, having
        changed nothing, when the caller must build the record and call :meth:`feed`.

        ``p`` must hold what the dissector would give the packet: not fragmented, no
        decryption (a run without keys), the ESP header whole, no other frames (no
        reassembly); why not a ``PacketMeta``: building one per packet of a flood was a
        tenth of its cost, and ports, IP version and interface are read by nothing
        here. ``events`` False: the
        caller drops the events (nothing listens), so they are not made (an empty list)."""
        if self._in_run:
            self._end_first_run()
        if self._nursery is not None and self._nursery.open:
            self._flush_nursery()
        st = self._st
        if not st.defer_orphans or p.seq >= SEQ_MAX or not plainly_orphan(st, p):
            return None
        st.out = []
        st.stats.see_frame(p.frame, p.time)
        st.stats.esp_packets += 1
        register_orphan(st, p, events)
        self._bound()
        return st.out

    @property
    def nursery(self) -> OrphanNursery | None:
        """Where the caller may put the first packets of new orphan ESP SAs (see
        :mod:`nursery` for how); None when this tracker registers none unbuilt."""
        return self._nursery

    def nursery_open(self) -> int:
        """Before the nursery's first packet since a flush: the length the nursery may
        reach before the SAs with it pass ``max_sas`` (then call :meth:`nursery_overflow`)."""
        n = self._nursery
        assert n is not None
        if self._in_run:  # never open together (see _first_of_run)
            self._end_first_run()
        n.start()
        return self._nursery_limit()

    def nursery_overflow(self) -> int:
        """The nursery's last packet passed ``max_sas``: evict as :meth:`_bound` does after
        registering an SA; the new limit on the nursery's length."""
        cap = self.config.max_sas
        n = self._nursery
        assert n is not None
        st = self._st
        if cap is not None and len(st.ike) + len(st.child) + len(n.items) > cap:
            self._evict(int(cap * EVICT_TO))
        return self._nursery_limit()

    def _nursed(self) -> int:
        return len(self._nursery.items) if self._nursery is not None else 0

    def _nursery_limit(self) -> int:
        cap = self.config.max_sas
        if cap is None:
            return sys.maxsize
        st = self._st
        return cap - len(st.ike) - len(st.child)

    def flush_nursery(self) -> None:
        """Register what the nursery holds (lifecycle/nursery.py), if anything: before
        anything else reads or changes the tracker's state (this tracker's entry points
        call it themselves)."""
        if self._nursery is not None and self._nursery.open:
            self._flush_nursery()

    def _flush_nursery(self) -> None:
        n = self._nursery
        assert n is not None
        base, packets = n.drain()
        register_nursed(self._st, base, packets)

    @property
    def defers_first(self) -> bool:
        """Whether :meth:`defer_first` takes requests in this run."""
        return self._defers

    def defer_first(self, meta: PacketMeta, data: bytes, offset: int, end: int) -> bool:
        """Take the first request of a new IKEv2 SA undissected; False, having changed
        nothing, when the caller must dissect it and call :meth:`feed`.

        ``data[offset:end]`` must be an IKEv2 IKE_SA_INIT request with message ID 0, the
        initiator flag and no responder SPI (``wire.fast_ike`` finds them), ``meta`` its
        packet as the decoder gives it. The SA is registered as :meth:`feed` would open it
        — its uid, its place in the SA order, the index by SPI, the half-open set and the
        flood figures — and kept as its message (:class:`~parked.Deferred`); it is
        dissected and fed only when a later message touches it or when the capture ends
        (then into the same uid, its errors put at its frame). Why: in an IKE_SA_INIT
        flood under ``max_sas`` most SAs are evicted untouched, and dissecting and
        tracking each request was nearly all of the flood's cost.

        Only under a cap, without parking and without a listener for events (the
        caller's part: the events of a deferred SA are never made).
        """
        if not self._defers:
            return False
        return self.defer_request(
            bytes(data[offset : offset + 8]),
            (meta.src, meta.dst),
            meta.frame,
            meta.time,
            (_read_meta, data, offset, end, meta),
        )

    def defer_request(
        self, spi_i: bytes, pair: tuple[str, str], frame: int, time: float, req: RawRequest
    ) -> bool:
        """:meth:`defer_first` for a request the caller holds as ``req`` (see
        ``first_run.RawRequest``: it reads the message and its ``PacketMeta`` when asked),
        of initiator's SPI ``spi_i``, from ``pair`` (source, destination) at ``frame`` and
        ``time``; the same SA, uid and figures.

        Why: no ``PacketMeta`` nor copy of the message is made for a request evicted
        untouched, which in a flood is nearly every one, and none of the SA tables is
        touched for it: it joins the run of such requests (:class:`~first_run.FirstRun`),
        one dict entry evicted off its front, and what is left of the run moves into the
        tables when anything else comes (:meth:`_end_first_run`).
        """
        return self._defers and self.first_taker(spi_i, pair, frame, time, req)

    @property
    def first_taker(self) -> Callable[[bytes, tuple[str, str], int, float, RawRequest], bool]:
        """:meth:`defer_request` without its checks, for a caller that has asked
        :attr:`defers_first` (one call less per request of a flood)."""
        assert self._first is not None
        return self._first.take

    def _first_of_run(self) -> None:
        """A run of first requests starts (:meth:`defer_request`). The orphans' nursery is
        registered: the two are never open together (see :meth:`nursery_open`), so that
        each one's room for the cap stays what it counted."""
        self._in_run = True
        if self._nursery is not None and self._nursery.open:
            self._flush_nursery()
        if self._lanes.lanes:
            self._lanes.close_all()  # as feed(): an IKE message may change what ESP means

    def _pin_first_uid(self, uid: str) -> None:
        """Before ``uid`` may leave the SA dict during a run (eviction): give the run's
        request of the same SPI, if any, the uid ``_ike_for`` would have given it when it
        came (``ike-`` and its SPI, or with ``-2``, ``-3``, ... when that was taken), which
        the dict without ``uid`` could no longer tell. Why not when it came: making every
        request's uid, for the few of a capture whose SPI an SA already had (an IKEv1 SA of
        the same cookie, ...), was a tenth of a request's cost."""
        run = self._first
        if run is None or not uid.startswith("ike-") or len(uid) < 20:
            return
        try:
            spi_i = bytes.fromhex(uid[4:20])
        except ValueError:
            return
        if spi_i in run.queue and spi_i not in run.uids:
            run.uids[spi_i] = _free_uid(self._st.ike, "ike-" + spi_i.hex())

    def _end_first_run(self) -> None:
        """Move the run of requests held raw (:meth:`defer_request`) into the tables, as
        if each had been registered there when it came: the kept ones as
        :class:`~parked.Deferred` SAs, in order (after every SA there: nothing else was
        registered during the run), and every one's part of the flood figures and the
        capture counts."""
        run = self._first
        st = self._st
        ike = st.ike
        assert isinstance(ike, ParkedDict) and run is not None
        index, half_open, uids = st.ike_index, st.half_open, run.uids
        for spi_i, req in run.queue.items():
            uid = uids.get(spi_i) or _free_uid(ike, "ike-" + spi_i.hex())
            ike.add_compact(uid, Deferred(*req[0](req)))
            index[(2, spi_i)] = uid
            half_open[uid] = None
        count, frame, t_min, t_max, first_time, last_time = run.sums()
        stats = st.stats
        stats.see_frame(frame, t_min)
        stats.see_frame(frame, t_max)
        stats.ike_messages += count
        st.flood.requests(run.pairs, first_time, last_time)
        run.clear()
        self._in_run = False

    def _bound(self) -> None:
        """After each record: keep at most ``max_sas`` SAs, park beyond ``park_half_open``."""
        st = self._st
        cap = self.config.max_sas
        nursed = len(self._nursery.items) if self._nursery is not None else 0
        if cap is not None and len(st.ike) + len(st.child) + nursed > cap:
            self._evict(int(cap * EVICT_TO))
        if self._park_keep is not None and len(self._park_queue) > self._park_keep:
            self._park(self._park_keep)

    def finish(self, end_time: float | None = None) -> list[TrackerEvent]:
        """Settle every SA against the end of the capture; return the closing events."""
        if self._in_run:
            self._end_first_run()
        if self._nursery is not None and self._nursery.open:
            self._flush_nursery()
        st = self._st
        st.out = []
        self._end = end_time if end_time is not None else st.stats.last_time
        _build_pending(st)
        _feed_deferred(st)
        live = self._unpark_entangled() if isinstance(st.ike, ParkedDict) else st.ike
        infer_rekeys(live, st.child)
        settle(live, st.child, self._end, self.config.settle_config)
        explain_endings(live, st.child, self._hints)
        if isinstance(st.ike, ParkedDict):
            self._finish_parked(st.ike)
        # one SA at a time: parked ones are transient copies (lifecycle.parked)
        every: Iterator[IkeSa | ChildSa] = itertools.chain(st.ike.values(), st.child.values())
        for sa in every:
            t = sa.termination
            if t is not None:
                st.out.append(SaClosed(sa.uid, t.reason, t.time, t.frame, t.notify))
        return st.out

    def lane(self, dst: str, spi: int) -> EspLane | None:
        """The fast lane of one ESP direction, which the caller may keep (see
        :mod:`fast_lane`): None until a packet of the direction has been fed as a record.

        A pipeline that sees millions of packets of few SAs keeps one per SA and so skips
        the lookup. It stays valid until the next IKE message; after that it declines
        every packet and the caller asks again.
        """
        return self._lanes.lanes.get((dst, spi))

    def esp_fast(
        self,
        frame: int,
        time: float,
        dst: str,
        spi: int,
        seq: int,
        wire_len: int,
        dec: EspDecryption | None = None,
    ) -> bool:
        """Count an ESP packet without a record, when that is all it needs.

        ``dec`` is the packet's decryption, when keys were given. Returns False, having
        changed nothing, when the caller must build the record and call :meth:`feed`.
        """
        lane = self._lanes.lanes.get((dst, spi))
        return lane is not None and lane.count(frame, time, seq, wire_len, dec)

    def result(self) -> TrackerResult:
        """The SA model so far; ``findings`` stays empty (the audit runs on this result,
        ``audit.run.audit``)."""
        if self._in_run:
            self._end_first_run()
        if self._nursery is not None and self._nursery.open:
            self._flush_nursery()
        st = self._st
        _build_pending(st)  # readers copy and pickle the dict
        _feed_deferred(st)
        res = TrackerResult(st.ike, st.child, st.errors, st.stats, self.config, self._end)
        res.evicted, res.flood = st.evicted, st.flood
        return res

    # ------------------------------------------------------------------ dispatch

    def _on_ike(self, msg: IkeMessage) -> None:
        sa = self._ike_for(msg)
        m = msg.meta
        sa.messages += 1
        sa.last_time, sa.last_frame = m.time, m.frame
        if m.transport == Transport.UDP_ENCAP and sa.transport == "udp":
            sa.transport = "udp-encap"
            self._st.note(
                sa, Stage.HOST_RECOGNITION, m, "ike.natt.float", "peers moved to UDP 4500 (NAT-T)"
            )
        decrypted = msg.decrypted is not None
        track_endpoints(self._st, sa, msg, decrypted)
        if msg.version == 2:
            on_v2(self._st, sa, msg, decrypted)
        else:
            on_v1(self._st, sa, msg, decrypted)
        st = self._st
        if sa.uid in st.half_open:
            if sa.responder is not None and m.src == sa.responder.addr:
                st.flood.answered(sa.responder.addr)  # answered at all, if only with a COOKIE
                del st.half_open[sa.uid]
            elif sa.state not in _HALF_OPEN_STATES:
                del st.half_open[sa.uid]
        read_configuration(self._st, sa, msg, decrypted)
        if decrypted:
            read_dpd(self._st, sa, msg)
        if self._redissect is not None and sa.messages == 1:
            self._compact(sa, msg)

    def _ike_for(self, msg: IkeMessage) -> IkeSa:
        """The IKE SA of a message by (version, initiator's SPI), opened if new."""
        st = self._st
        h = msg.header
        key = (msg.version, bytes(h.spi_i))
        uid = st.ike_index.get(key)
        if uid is not None:
            sa = st.ike[uid]
            if sa.spi_r == b"\x00" * 8 and any(h.spi_r):
                sa.spi_r = bytes(h.spi_r)
            return sa
        replay = self._force_uid  # a replay's uid: the SA's own, registered when first fed
        if replay is not None:
            uid = replay
        else:
            uid = f"ike-{h.spi_i.hex()}"
            n = 2
            while uid in st.ike:
                uid, n = f"ike-{h.spi_i.hex()}-{n}", n + 1
        sa = IkeSa(uid=uid, version=msg.version, spi_i=bytes(h.spi_i), spi_r=bytes(h.spi_r))
        m = msg.meta
        sender, receiver = Endpoint(m.src, m.sport), Endpoint(m.dst, m.dport)
        first_msg = not any(h.spi_r) and (
            (msg.version == 2 and h.exchange == IKE_SA_INIT and not h.is_response)
            or (msg.version == 1 and h.exchange in (V1_MAIN, V1_AGGRESSIVE))
        )
        if msg.version == 2:
            sender_is_init = h.is_initiator
            sa.certainty["roles"] = Certainty.OBSERVED
        else:
            sender_is_init = True
            sa.certainty["roles"] = Certainty.OBSERVED if first_msg else Certainty.INFERRED
        sa.initiator, sa.responder = (sender, receiver) if sender_is_init else (receiver, sender)
        sa.observed_from_start = first_msg
        sa.transport = {Transport.UDP_ENCAP: "udp-encap", Transport.TCP: "tcp"}.get(
            m.transport, "udp"
        )
        st.ike[uid] = sa
        st.ike_index[key] = uid
        if first_msg and replay is None:  # a replayed SA's were counted when first fed
            st.half_open[uid] = None
            st.flood.request(m.src, m.dst, m.time)
            if self._park_keep is not None:
                self._park_queue.append(uid)
        if st.emit:
            st.out.append(SaOpened(uid, "ike", m.time, m.frame, first_msg))
        st.enter(sa, Stage.HOST_RECOGNITION, m)
        ini, res = sa.initiator, sa.responder
        via = _VIA[sa.transport].format(port=m.dport or 500)
        if first_msg:
            text = f"{ini.addr}:{ini.port} starts IKEv{msg.version} with {res.addr}:{res.port} over {via}"
            st.note(sa, Stage.HOST_RECOGNITION, m, "ike.hosts", text)
        else:
            text = (
                f"IKEv{msg.version} SA {h.spi_i.hex()}/{h.spi_r.hex()} between {ini.addr} (initiator) "
                f"and {res.addr} first seen mid-life"
            )
            st.note(sa, Stage.HOST_RECOGNITION, m, "ike.midlife", text, Certainty.INFERRED)
            infer_ike_rekey(st, sa, msg)
        return sa

    # ------------------------------------------------------------------ compact SAs

    def _compact(self, sa: IkeSa, msg: IkeMessage) -> None:
        """Keep ``sa``, which ``msg`` just opened, as that message if it is plainly
        half-open: its first request and nothing else — no answer, no child, no ending,
        no redirect, nothing decrypted — so that replaying ``msg`` alone rebuilds it, and
        its pending exchange and Aggressive Mode bodies, exactly (``_replay``). Why: such
        an SA object is ~3.6 KB; the message is its bytes and its ``PacketMeta``.
        """
        st = self._st
        uid = sa.uid
        if (
            sa.state != "INIT_SENT"
            or not sa.observed_from_start
            or sa.child_sas
            or sa.hard_end is not None
            or sa.redirected_from is not None
            or msg.decrypted is not None
            or msg.decryption_status is not None
            or uid not in st.half_open
            or uid in st.auth_child
            or uid in st.short_auth
        ):
            return
        ike = st.ike
        assert isinstance(ike, ParkedDict)
        mid = msg.header.message_id
        for key in {(uid, mid, True), (uid, mid, False), (uid, 0, True), (uid, 0, False)}:
            st.exchanges.pop(key, None)  # the replay makes them again
        st.am1.pop(uid, None)
        ini, res = sa.initiator, sa.responder
        peers = (ini.addr if ini is not None else None, res.addr if res is not None else None)
        rest = bytes(msg.data[msg.offset :])  # what follows is read as the first time
        ike.compact(uid, Compact(rest, msg.offset, msg.length, msg.meta, peers))

    def _replay(self, uid: str, c: Compact) -> Parcel:
        """The SA ``c`` stands for, rebuilt by dissecting its message again and feeding it
        to a scratch tracker with this one's settings, under the same uid; with the state
        it leaves on its uid (its exchanges, Aggressive Mode bodies). Its events, errors and
        counts were emitted and counted the first time, so the scratch ones are dropped.
        Once the capture is finished the SA is settled as a parked one is
        (``_finish_parked``): it relates to no other SA (``_unpark_entangled``)."""
        assert self._dissect is not None
        msg = self._dissect(*c.buffer(), c.meta)
        scratch = self._scratch_tracker()
        sst = scratch._st = TrackerState(scratch.config)  # empty, as a new tracker's
        sst.offers = self._st.offers  # a read-only cache: share what it made
        sst.emit = False  # its events are dropped: not made
        scratch._force_uid = uid
        # feed() but its counts, which are dropped, and its bounds and lane closing, which
        # do nothing to a tracker that caps nothing and never counted an ESP packet
        scratch._on_ike(msg)
        sa = dict.__getitem__(sst.ike, uid)
        extras = {"exchanges": sst.exchanges, "am1": sst.am1}
        if isinstance(c, Deferred):
            # never fed before: its errors are reported now, where its frame puts them
            # (errors are in frame order while records are fed in frame order)
            for e in sst.errors:
                bisect.insort_right(self._st.errors, e, key=_error_frame)
        if self._settled:
            one = {uid: sa}
            infer_rekeys(one, {})
            settle(one, {}, self._end, self.config.settle_config)
            explain_endings(one, {}, self._hints)
        return sa, extras

    def _scratch_tracker(self) -> Tracker:
        """The one tracker every replay feeds, each time into a new empty state. Why one:
        a tracker per replay cost as much as the replay's own feeding (its configuration
        copied, its lane board made), and left a reference cycle per SA for the collector
        (20,000 kept SAs at the end of a flood: a third of their building). Between two
        replays it holds nothing but its settings: a fed message changes only the state
        (``_st``) and the lane board, which an IKE message only closes."""
        if self._scratch is None:
            self._scratch = Tracker(self._scratch_config)
        return self._scratch

    # ------------------------------------------------------------------ parking

    def _park(self, keep: int) -> None:
        """Park the oldest half-open IKE SAs until ``keep`` are left in memory. Only an SA
        that saw its first request and nothing else: no answer, no child, no ending. It is
        revived, exactly, by the next message for it (``ParkedDict``)."""
        st = self._st
        ike = st.ike
        assert isinstance(ike, ParkedDict)
        queue = self._park_queue
        while len(queue) > keep:
            uid = queue.popleft()
            if uid not in st.half_open or not dict.__contains__(ike, uid) or ike.is_parked(uid):
                continue
            sa = dict.__getitem__(ike, uid)
            if isinstance(sa, Compact):  # half-open by construction, its extras replayed
                ike.park(uid, {})
                continue
            if sa.state != "INIT_SENT" or sa.child_sas or sa.hard_end is not None:
                continue
            extras = {
                "exchanges": {
                    k: st.exchanges.pop(k)
                    for k in ((uid, 0, True), (uid, 0, False))
                    if k in st.exchanges
                },
                "am1": {uid: st.am1.pop(uid)} if uid in st.am1 else {},
            }
            ike.park(uid, extras)

    def _restore(self, extras: dict[str, Any]) -> None:
        """Put back the state a parked SA took with it (it is being revived)."""
        self._st.exchanges.update(extras["exchanges"])
        self._st.am1.update(extras["am1"])

    def _unpark_entangled(self) -> dict[str, IkeSa]:
        """Revive every parked SA that an end-of-capture pass relating SAs to each other
        could change (``endings.entangled_with``); return the SAs in memory, in order."""
        ike = self._st.ike
        assert isinstance(ike, ParkedDict)
        ike.revive_all(lambda sa: sa.redirected_from is not None)  # never a compact one
        live = ike.live()
        ike.revive_all(entangled_with(live), entangled_peers(live))
        return ike.live()

    def _finish_parked(self, ike: ParkedDict) -> None:
        """Settle each parked SA on its own (none relates to another SA: see
        :meth:`_unpark_entangled`) and write it back, one in memory at a time."""
        self._settled = True  # from now on a replayed compact SA is settled too
        cfg = self.config.settle_config
        for uid in list(ike.parked_uids()):
            sa = ike.peek(uid)
            one = {uid: sa}
            infer_rekeys(one, {})
            settle(one, {}, self._end, cfg)
            explain_endings(one, {}, self._hints)
            ike.repark(uid, sa)

    def _evict(self, target: int) -> None:
        """Drop the oldest half-open IKE SAs, then the oldest orphan child SAs, until at most
        ``target`` SAs are kept; count each (never silently). An SA negotiated in the capture
        is never evicted: only state whose start, or whose IKE SA, the capture does not show.
        """
        st = self._st
        # the nursery's packets count as registered orphans, the newest (lifecycle/nursery.py);
        # it is never open during a run of first requests (_first_of_run, nursery_open)
        nursery = self._nursery
        nursed = len(nursery.items) if nursery is not None else 0
        first = self._first
        # requests held raw: half-open, younger than every SA of the set
        run = first.queue if first is not None else {}
        while (
            st.half_open and (over := len(st.ike) + len(st.child) + len(run) + nursed - target) > 0
        ):
            for uid in _take_oldest(st.half_open, over):
                if run:
                    self._pin_first_uid(uid)
                self._evict_half_open(uid)
        if run and (over := len(st.ike) + len(st.child) + len(run) - target) > 0:
            assert first is not None
            st.evicted.half_open_ike_sas += first.evict_oldest(over)
        one_way: dict[tuple[str, str], None] = {}  # pairing lists an evicted SA was in
        orphans_before = st.evicted.orphan_child_sas
        while st.orphans and (over := len(st.ike) + len(st.child) + len(run) + nursed - target) > 0:
            self._evict_orphans(_take_oldest(st.orphans, over), one_way)
        if nursed and (over := len(st.ike) + len(st.child) + len(run) + nursed - target) > 0:
            assert nursery is not None
            nursery.evict_oldest(over, one_way)
        for pair in one_way:
            _drop_evicted_head(st, pair)
        if st.evicted.orphan_child_sas != orphans_before:
            # a lane may count into an evicted direction (only a child SA has lanes). Not
            # on every call: with more negotiated SAs than the cap nothing is evicted, and
            # closing the lanes after each record sent every ESP packet the full way
            self._lanes.close_all()

    def _evict_half_open(self, uid: str) -> None:
        """Evict one IKE SA, taken from ``half_open``, if it is still half-open."""
        st = self._st
        evicted = st.evicted
        if isinstance(st.ike, ParkedDict):
            parked_key = st.ike.drop_parked(uid)
            if parked_key is not None:  # parked only while half-open (see _park)
                if st.ike_index.get(parked_key) == uid:
                    del st.ike_index[parked_key]
                evicted.half_open_ike_sas += 1
                return
        sa = st.ike.get(uid)
        if sa is None or sa.state not in _HALF_OPEN_STATES or sa.child_sas:
            return
        del st.ike[uid]
        key = (sa.version, sa.spi_i)
        if st.ike_index.get(key) == uid:
            del st.ike_index[key]
        for by_initiator in (True, False):
            st.exchanges.pop((uid, 0, by_initiator), None)
        st.am1.pop(uid, None)
        evicted.half_open_ike_sas += 1

    def _evict_orphans(self, uids: list[str], one_way: dict[tuple[str, str], None]) -> None:
        """Evict orphan child SAs taken from ``orphans``: a pending one (nearly all, in a
        flood) here with the indexes in locals — what :meth:`_evict_orphan` does for it,
        without four calls per SA — any other by :meth:`_evict_orphan`."""
        st = self._st
        child = st.child
        if not isinstance(child, PendingChildren) or not child.pending:
            for uid in uids:
                self._evict_orphan(uid, one_way)
            return
        get, dir_index, spi_dsts, spi_first = _raw_get, st.dir_index, st.spi_dsts, st.spi_first
        dropped = 0
        for uid in uids:
            p = get(child, uid)
            if type(p) is not PendingOrphan:
                self._evict_orphan(uid, one_way)
                continue
            _raw_del(child, uid)
            dropped += 1
            dst, spi = p.dst, p.spi
            one_way[(p.src, dst)] = None
            key = (dst, spi, "esp")
            sp = (spi, "esp")
            if dir_index.get(key) == uid:  # _unindex, and drop_spi_dst
                del dir_index[key]
                v = spi_dsts.get(sp)
                if v is not None:
                    if isinstance(v, str):
                        if v == dst:
                            del spi_dsts[sp]
                    else:
                        v.pop(dst, None)
                        if not v:
                            del spi_dsts[sp]
            if spi_first.get(sp) == key:
                del spi_first[sp]
        child.pending -= dropped
        st.evicted.esp_packets += dropped
        st.evicted.orphan_child_sas += dropped

    def _evict_orphan(self, uid: str, one_way: dict[tuple[str, str], None]) -> None:
        """Evict one orphan child SA, taken from ``orphans``; note its pairing list."""
        st = self._st
        evicted = st.evicted
        if isinstance(st.child, PendingChildren):
            p = st.child.drop_pending(uid)
            if p is not None:  # never built, and not built now: one direction, one packet
                one_way[(p.src, p.dst)] = None
                self._unindex(uid, (p.dst, p.spi, "esp"))
                evicted.esp_packets += 1
                evicted.orphan_child_sas += 1
                return
        c = st.child.pop(uid, None)
        if c is None:
            return
        if c.directions:
            first = c.directions[0]
            one_way[(first.src, first.dst)] = None
        for d in c.directions:
            self._unindex(uid, d.key)
            evicted.esp_packets += d.packets
        evicted.orphan_child_sas += 1

    def _unindex(self, uid: str, key: tuple[str, int, str]) -> None:
        """Drop an evicted direction's index entries (those that are still its own)."""
        st = self._st
        dst, spi, proto = key
        if st.dir_index.get(key) == uid:
            del st.dir_index[key]
            drop_spi_dst(st, (spi, proto), dst)
        if st.spi_first.get((spi, proto)) == key:
            del st.spi_first[(spi, proto)]

    def _defer_orphans(self) -> None:
        """Register new orphans unbuilt (:mod:`pending`); built by replay when touched."""
        st = self._st
        child = PendingChildren()
        child.build = functools.partial(materialise_orphan, st)
        st.child, st.defer_orphans = child, True

    def _on_ipsec(self, rec: EspPacket | AhPacket, proto: str) -> None:
        st = self._st
        on_ipsec_record(st, rec, proto)
        if (
            isinstance(rec, EspPacket)
            and not self.config.mergeable
            and not rec.meta.ip_fragmented
            and (rec.decryption is None or rec.decryption.status == "ok")
        ):
            # Let the next in-order packets of this direction take the fast lane.
            m = rec.meta
            uid = st.dir_index.get((m.dst, rec.spi, "esp"))
            if uid is None or is_pending(st.child, uid):
                return  # a pending orphan gets its lane once built (its next packet)
            c = st.child[uid]
            d = c.direction(m.dst, rec.spi)
            if d is not None:
                self._lanes.open(m.dst, rec, c, d, st.ike.get(c.ike_sa or ""), st.stats)


def _read_meta(req: RawRequest) -> tuple[bytes, int, int, PacketMeta]:
    """Read a request :meth:`Tracker.defer_first` took: (the frame from the IKE message on,
    the message's offset in the frame, its length, its packet)."""
    _read, data, offset, end, meta = req
    return bytes(data[offset:]), offset, end - offset, meta


def _free_uid(ike: dict[str, IkeSa], uid: str) -> str:
    """The uid ``_ike_for`` gives a new SA whose plain uid ``uid`` is taken."""
    base, n = uid, 2
    while uid in ike:
        uid, n = f"{base}-{n}", n + 1
    return uid


#: the plain dict methods on a ``PendingChildren``, reaching a PendingOrphan unbuilt
_raw_get: Any = dict.get
_raw_del: Any = dict.__delitem__


def _error_frame(e: TrackerError) -> int:
    return e.frame


def _feed_deferred(st: TrackerState) -> None:
    """Dissect and feed every deferred first request still held (:meth:`Tracker.defer_first`):
    at most ``max_sas`` of them, kept as SA objects from now on, so the end-of-capture
    passes and every reader see plain SAs."""
    ike = st.ike
    if isinstance(ike, ParkedDict):
        for uid in [u for u, v in dict.items(ike) if isinstance(v, Deferred)]:
            ike.revive(uid)


def _build_pending(st: TrackerState) -> None:
    """Build every pending orphan (:mod:`pending`): the end-of-capture passes and the
    readers of a result see only child SAs."""
    if isinstance(st.child, PendingChildren):
        st.child.materialise_all()


def _take_oldest(ordered: dict[str, None], n: int) -> list[str]:
    """Remove and return the first ``n`` keys of an ordered set. Why in one go: taking
    them one by one with ``next(iter(...))`` after deleting the previous one rescans the
    deleted slots at the dict's front each time (quadratic in the batch)."""
    taken = list(itertools.islice(ordered, n))
    for uid in taken:
        del ordered[uid]
    return taken


def _drop_evicted_head(st: TrackerState, key: tuple[str, str]) -> None:
    """Drop the entries of SAs no longer kept from the front of one pairing list.

    Why: orphans between one pair of addresses all queue in one list; pairing skips an
    evicted entry, but only a packet the other way ever cleaned the list, so a one-way
    flood grew it by an entry per SA ever seen. Eviction takes the oldest orphans, which
    are the list's head (it is in child order), so trimming the head keeps the list as
    long as the SAs kept.
    """
    entries = st.one_way.get(key)
    if entries is None:
        return
    child = st.child
    n = 0
    while n < len(entries) and entries[n][1] not in child:
        n += 1
    if n == len(entries):
        del st.one_way[key]
    elif n:
        del entries[:n]
