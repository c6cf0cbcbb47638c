"""The sans-I/O SA tracker: records in, events out.

Why sans-I/O: the same tracker serves capture files, live capture and merged shards, and is
tested with hand-built records. It never reads a file, a clock or a key: it is handed
dissected (and, where keys exist, decrypted) records in frame order.

How it works: each IKE message is classified into a :class:`Trigger`, and the IKE SA moves
by the row of :mod:`ipsec_inspect.lifecycle.transitions` for its state and that trigger;
the row names the stage the frame belongs to. The details of a message (proposals,
chosen suite, NAT detection, child SA SPIs, deletes) are read after the move. ESP and AH
packets are attributed to child SAs by (destination, SPI) — from decrypted SA payloads
when there are any, otherwise by timing and addresses, marked ``inferred``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ipsec_inspect.core.records import (
    AhPacket,
    AuthBody,
    DeleteBody,
    EspDecryption,
    EspPacket,
    HashBody,
    IdBody,
    IkeMessage,
    IkePayload,
    KeBody,
    Malformed,
    NatKeepalive,
    NotifyBody,
    PacketMeta,
    Proposal,
    RawBody,
    Record,
    SaBody,
    Transport,
    TsBody,
    VendorIdBody,
)
from ipsec_inspect.ipsec import registry
from ipsec_inspect.lifecycle import suites
from ipsec_inspect.lifecycle.events import (
    Happened,
    SaClosed,
    SaOpened,
    StageEntered,
    TrackerEvent,
)
from ipsec_inspect.lifecycle.ivs import IvHistory
from ipsec_inspect.lifecycle.model import (
    Certainty,
    ChildSa,
    Direction,
    Endpoint,
    IkeSa,
    Reason,
    Stage,
    StageSpan,
    Termination,
)
from ipsec_inspect.lifecycle.sequence import SequenceAnalyzer
from ipsec_inspect.lifecycle.settle import SettleConfig, infer_rekeys, settle
from ipsec_inspect.lifecycle.transitions import (
    IkeState,
    IllegalTransition,
    Transition,
    Trigger,
    next_transition,
)

# IKEv2 exchange types (RFC 7296 §3.1, RFC 9242)
IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL, IKE_INTERMEDIATE = 34, 35, 36, 37, 43
# IKEv1 exchange types (RFC 2408 §3.1, RFC 2409)
V1_MAIN, V1_AGGRESSIVE, V1_INFO, V1_TRANSACTION, V1_QUICK = 2, 4, 5, 6, 32
# IKEv2 payload types
PT_SA, PT_KE, PT_IDI, PT_IDR, PT_AUTH, PT_NONCE, PT_NOTIFY, PT_DELETE, PT_TSI, PT_TSR = (
    33,
    34,
    35,
    36,
    39,
    40,
    41,
    42,
    44,
    45,
)
# IKEv1 payload types
V1_PT_SA, V1_PT_KE, V1_PT_ID, V1_PT_HASH, V1_PT_NONCE, V1_PT_NATD, V1_PT_NATD_DRAFT = (
    1,
    4,
    5,
    8,
    10,
    20,
    130,
)
# notify types
N_INVALID_KE, N_AUTH_FAILED, N_COOKIE = 17, 24, 16390

N_NAT_SRC, N_NAT_DST, N_USE_TRANSPORT, N_REKEY_SA = 16388, 16389, 16391, 16393
#: IKEv2 notifies in an IKE_AUTH response that fail the IKE SA itself (RFC 7296 §2.21.2)
IKE_FATAL = frozenset({N_AUTH_FAILED, 7, 5, 4})
#: IKEv1 hash algorithm (phase 1 attribute 2) -> hashlib name, for NAT-D (RFC 3947 §3.2)
V1_NATD_HASH = {1: "md5", 2: "sha1", 4: "sha256", 5: "sha384", 6: "sha512"}


#: (frame, time, sequence number, wire length, decryption) -> handled: see Tracker.fast_counter
FastCounter = Callable[[int, float, int, int, "EspDecryption | None"], bool]
#: The same with a good decryption as plain values: see Tracker.fast_plain_counter
FastPlainCounter = Callable[[int, float, int, int, "str | None", bytes, int, int, int], bool]


@dataclass(slots=True)
class TrackerConfig:
    idle_timeout: float = 300.0
    replay_window: int = 64
    inferred_delete_after: float = 10.0
    # Keep per-packet sequence logs and every IV so that partial results can be merged
    # exactly (lifecycle.merge). Off by default: memory then stays bounded by the number of
    # SAs, not of packets (IV reuse: lifecycle/ivs.py keeps runs, the oldest forgotten).
    mergeable: bool = False

    @property
    def settle_config(self) -> SettleConfig:
        return SettleConfig(self.idle_timeout, self.inferred_delete_after)


@dataclass(slots=True)
class TrackerError:
    frame: int
    time: float
    kind: str
    message: str
    sa: str | None = None


@dataclass(slots=True)
class CaptureStats:
    frames: int = 0
    first_time: float | None = None
    last_time: float | None = None
    ike_messages: int = 0
    esp_packets: int = 0
    ah_packets: int = 0
    keepalives: int = 0
    malformed: int = 0

    def see(self, meta: PacketMeta) -> None:
        self.frames = (
            max(self.frames, meta.frame, *meta.frames)
            if meta.frames
            else max(self.frames, meta.frame)
        )
        if self.first_time is None or meta.time < self.first_time:
            self.first_time = meta.time
        if self.last_time is None or meta.time > self.last_time:
            self.last_time = meta.time


@dataclass(slots=True)
class TrackerResult:
    ike_sas: dict[str, IkeSa]
    child_sas: dict[str, ChildSa]
    errors: list[TrackerError]
    stats: CaptureStats
    config: TrackerConfig
    end_time: float | None = None
    findings: list[Any] = field(default_factory=list)  # list[findings.Finding]


@dataclass(slots=True)
class _Exchange:
    """One request/response pair in flight on an IKE SA."""

    exchange: int
    requester: Endpoint
    time: float
    frame: int
    child: str | None = None
    delete_ike: bool = False
    ike_rekey_spi: bytes | None = None
    request_spi: int | None = None
    messages: int = 0
    answered: bool = False


def _notifies(payloads: list[IkePayload]) -> list[NotifyBody]:
    return [p.body for p in payloads if isinstance(p.body, NotifyBody)]


def _first(payloads: list[IkePayload], kind: type) -> Any:
    for p in payloads:
        if isinstance(p.body, kind):
            return p.body
    return None


def _notify_name(version: int, n: int) -> str:
    return registry.notify_name(version, n)


def _spi_int(spi: bytes) -> int:
    return int.from_bytes(spi[-4:], "big") if spi else 0


def _ts_text(body: TsBody) -> list[str]:
    out = []
    for ts in body.selectors:
        try:
            nets = ipaddress.summarize_address_range(
                ipaddress.ip_address(ts.start_addr), ipaddress.ip_address(ts.end_addr)
            )
            text = ",".join(str(n) for n in nets)
        except (ValueError, TypeError):
            text = f"{ts.start_addr}-{ts.end_addr}"
        if ts.ip_protocol or (ts.start_port, ts.end_port) != (0, 65535):
            ports = (
                str(ts.start_port)
                if ts.start_port == ts.end_port
                else f"{ts.start_port}-{ts.end_port}"
            )
            text += f"[{ts.ip_protocol or 'any'}/{ports}]"
        out.append(text)
    return out


def _id_text(body: IdBody) -> str:
    return body.text


def _clean(name: str) -> str:
    return name.removesuffix("_midlife").removeprefix("midlife_")


class Tracker:
    """Feed records with :meth:`feed`, end with :meth:`finish`, read :meth:`result`."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._ike: dict[str, IkeSa] = {}
        self._ike_index: dict[tuple[int, bytes], str] = {}
        self._child: dict[str, ChildSa] = {}
        self._dir_index: dict[tuple[str, int, str], str] = {}
        self._exchanges: dict[tuple[str, int, bool], _Exchange] = {}
        self._awaiting: list[str] = []
        self._auth_child: dict[str, str] = {}
        self._am1: dict[str, tuple[bytes, bytes, bytes]] = {}
        self._errors: list[TrackerError] = []
        self._stats = CaptureStats()
        self._out: list[TrackerEvent] = []
        self._end: float | None = None
        self._next_child = 1
        # (destination, SPI) -> (direction, child's transmission span, parent's or None):
        # ESP directions whose next packets need nothing but counting (see esp_fast).
        self._fast: dict[
            tuple[str, int], tuple[Direction, ChildSa, StageSpan, StageSpan | None]
        ] = {}
        self._fast_generation = 0

    # ------------------------------------------------------------------ public API

    def feed(self, record: Record) -> list[TrackerEvent]:
        """Apply one record; return the events it caused."""
        self._out = []
        self._stats.see(record.meta)
        if isinstance(record, IkeMessage):
            self._stats.ike_messages += 1
            self._fast.clear()  # an IKE message may change what ESP packets mean
            self._fast_generation += 1  # and so ends every counter handed out
            self._on_ike(record)
        elif isinstance(record, EspPacket):
            self._stats.esp_packets += 1
            self._on_ipsec(record, "esp")
        elif isinstance(record, AhPacket):
            self._stats.ah_packets += 1
            self._on_ipsec(record, "ah")
        elif isinstance(record, NatKeepalive):
            self._stats.keepalives += 1
        elif isinstance(record, Malformed):
            self._stats.malformed += 1
            self._error(record.meta, f"malformed.{record.layer}", record.error.message)
        return self._out

    def finish(self, end_time: float | None = None) -> list[TrackerEvent]:
        """Settle every SA against the end of the capture; return the closing events."""
        self._out = []
        self._end = end_time if end_time is not None else self._stats.last_time
        infer_rekeys(self._ike, self._child)
        settle(self._ike, self._child, self._end, self.config.settle_config)
        every: list[IkeSa | ChildSa] = [*self._ike.values(), *self._child.values()]
        for sa in every:
            t = sa.termination
            if t is not None:
                self._out.append(SaClosed(sa.uid, t.reason, t.time, t.frame, t.notify))
        return self._out

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

        Why: a capture is mostly ESP, and building two objects per packet costs more than
        everything else the tracker does with it. The first packet of every direction, any
        packet out of order, a failed decryption, a reused IV, and every packet of an SA
        whose IVs must be read from the packet go through :meth:`feed` as records; the rest
        (the next sequence number on a direction already known) only update counters,
        exactly as :meth:`feed` would. ``dec`` is the packet's decryption, when keys were
        given. Returns False, having changed nothing, when the caller must build the record
        and call :meth:`feed` instead.
        """
        counter = self.fast_counter(dst, spi)
        return counter is not None and counter(frame, time, seq, wire_len, dec)

    def fast_counter(self, dst: str, spi: int) -> FastCounter | None:
        """:meth:`esp_fast` for one direction, as a function the caller may keep.

        A pipeline that sees millions of packets of few SAs keeps one per SA and so skips
        the lookup. It stays valid until the next IKE message (which may change what the
        SA's packets mean); after that it returns False and the caller asks again.
        """
        plain = self.fast_plain_counter(dst, spi)
        if plain is None:
            return None

        def count(
            frame: int, time: float, seq: int, wire_len: int, dec: EspDecryption | None
        ) -> bool:
            if dec is None:
                return plain(frame, time, seq, wire_len, None, b"", 0, 0, -1)
            if dec.status != "ok":
                return False
            text = dec.plaintext
            return plain(
                frame,
                time,
                seq,
                wire_len,
                dec.key_source,
                dec.iv if dec.counter_iv else b"",
                len(text),
                dec.next_header,
                text[0] if text else -1,
            )

        return count

    def fast_plain_counter(self, dst: str, spi: int) -> FastPlainCounter | None:
        """:meth:`fast_counter` taking a good decryption as plain values, not an object.

        Why: when ESP is decrypted in another process (``crypto.offload``) only these few
        numbers come back per packet; building an :class:`EspDecryption` for each would
        cost the pipeline's main loop more than the counting. Arguments: frame, time,
        sequence number, wire length, the key's source (None: not decrypted), the IV when
        it is a counter that must never repeat (else ``b""``), the inner length, the next
        header and the first inner byte (-1 when there is none).
        """
        entry = self._fast.get((dst, spi))
        if entry is None:
            return None
        d, c, tx, parent_tx = entry
        sequence = d.seq
        ivs = d.ivs
        st = self._stats
        generation = self._fast_generation

        def count(
            frame: int,
            time: float,
            seq: int,
            wire_len: int,
            source: str | None,
            iv: bytes,
            inner: int,
            next_header: int,
            first: int,
        ) -> bool:
            if self._fast_generation != generation:
                return False
            iv_value = -1
            if iv:
                iv_value = int.from_bytes(iv, "big")
                if not ivs.continues_run(iv_value) and ivs.first_use(iv_value) is not None:
                    return False
            if not sequence.in_order(seq):
                return False
            d.packets += 1
            d.byte_count += wire_len
            d.last_time = time
            d.last_frame = frame
            # StageSpan.touch, inlined without tuples: the end moves to (time, frame) if later.
            end = tx.end
            if end is None or time > end or (time == end and frame > (tx.end_frame or 0)):
                tx.end = time
                tx.end_frame = frame
            if parent_tx is not None:
                end = parent_tx.end
                if (
                    end is None
                    or time > end
                    or (time == end and frame > (parent_tx.end_frame or 0))
                ):
                    parent_tx.end = time
                    parent_tx.end_frame = frame
            if source is not None:
                if source:
                    d.key_source = source
                    if not c.keys_source:
                        c.keys_source = source
                d.decrypted += 1
                if wire_len:
                    over = wire_len - inner
                    if d.max_overhead is None or over > d.max_overhead:
                        d.max_overhead = over
                if d.max_inner is None or inner > d.max_inner:
                    d.max_inner = inner
                if first >= 0 and next_header in (4, 41):
                    d.inner_ip_version = first >> 4
                if iv:
                    ivs.add(iv_value, frame)
            st.esp_packets += 1
            if frame > st.frames:
                st.frames = frame
            if st.last_time is None or time > st.last_time:
                st.last_time = time
            return True

        return count

    def result(self) -> TrackerResult:
        """The SA model so far; ``findings`` stays empty (the audit runs on this result,
        ``audit.run.audit``)."""
        return TrackerResult(
            self._ike, self._child, self._errors, self._stats, self.config, self._end
        )

    # ------------------------------------------------------------------ helpers

    def _error(self, meta: PacketMeta, kind: str, message: str, sa: str | None = None) -> None:
        self._errors.append(TrackerError(meta.frame, meta.time, kind, message, sa))

    def _enter(self, sa: IkeSa | ChildSa, stage: Stage, meta: PacketMeta) -> None:
        span = sa.stages[stage]
        if not span.seen:
            self._out.append(StageEntered(sa.uid, stage, meta.time, meta.frame))
        span.touch(meta.time, meta.frame)

    def _note(
        self,
        sa: IkeSa | ChildSa,
        stage: Stage,
        meta: PacketMeta,
        kind: str,
        text: str,
        certainty: Certainty = Certainty.OBSERVED,
    ) -> None:
        from ipsec_inspect.lifecycle.model import Event

        sa.stages[stage].events.append(Event(meta.time, meta.frame, kind, text, certainty))
        self._out.append(Happened(sa.uid, stage, meta.time, meta.frame, kind, text, certainty))

    # ------------------------------------------------------------------ IKE

    def _ike_for(self, msg: IkeMessage) -> IkeSa:
        h = msg.header
        key = (msg.version, bytes(h.spi_i))
        uid = self._ike_index.get(key)
        if uid is not None:
            sa = self._ike[uid]
            if sa.spi_r == b"\x00" * 8 and any(h.spi_r):
                sa.spi_r = bytes(h.spi_r)
            return sa
        uid = f"ike-{h.spi_i.hex()}"
        n = 2
        while uid in self._ike:
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
        self._ike[uid] = sa
        self._ike_index[key] = uid
        self._out.append(SaOpened(uid, "ike", m.time, m.frame, first_msg))
        self._enter(sa, Stage.HOST_RECOGNITION, m)
        ini, res = sa.initiator, sa.responder
        via = {
            "udp": f"UDP {m.dport or 500}",
            "udp-encap": "UDP 4500 (NAT-T)",
            "tcp": "TCP (RFC 8229)",
        }[sa.transport]
        if first_msg:
            text = f"{ini.addr}:{ini.port} starts IKEv{msg.version} with {res.addr}:{res.port} over {via}"
            self._note(sa, Stage.HOST_RECOGNITION, m, "ike.hosts", text)
        else:
            text = (
                f"IKEv{msg.version} SA {h.spi_i.hex()}/{h.spi_r.hex()} between {ini.addr} (initiator) "
                f"and {res.addr} first seen mid-life"
            )
            self._note(sa, Stage.HOST_RECOGNITION, m, "ike.midlife", text, Certainty.INFERRED)
        return sa

    def _sent_by_initiator(self, sa: IkeSa, m: PacketMeta) -> bool:
        ini = sa.initiator
        if ini is None:
            return True
        if ini.addr != m.src:
            return False
        res = sa.responder
        if res is not None and res.addr == ini.addr:
            return ini.port == m.sport or (m.sport == 4500 and ini.port == 500)
        return True

    def _on_ike(self, msg: IkeMessage) -> None:
        sa = self._ike_for(msg)
        m = msg.meta
        sa.messages += 1
        sa.last_time, sa.last_frame = m.time, m.frame
        if m.transport == Transport.UDP_ENCAP and sa.transport == "udp":
            sa.transport = "udp-encap"
            self._note(
                sa, Stage.HOST_RECOGNITION, m, "ike.natt.float", "peers moved to UDP 4500 (NAT-T)"
            )
        decrypted = msg.decrypted is not None
        if msg.version == 2:
            self._on_v2(sa, msg, decrypted)
        else:
            self._on_v1(sa, msg, decrypted)

    def _move(
        self, sa: IkeSa, trigger: Trigger, m: PacketMeta, text: str, cert: Certainty
    ) -> Transition | None:
        try:
            tr = next_transition(IkeState(sa.state), trigger)
        except IllegalTransition as e:
            self._error(m, "ike.unexpected", str(e), sa.uid)
            stage = Stage.TRANSMISSION if sa.state == IkeState.ESTABLISHED else Stage.NEGOTIATION
            self._enter(sa, stage, m)
            self._note(
                sa, stage, m, "ike.unexpected", f"{text} (unexpected in state {sa.state})", cert
            )
            return None
        sa.state = tr.target.value
        self._enter(sa, tr.stage, m)
        self._note(sa, tr.stage, m, f"ike.{_clean(tr.name)}", text, cert)
        return tr

    # ---- IKEv2

    def _on_v2(self, sa: IkeSa, msg: IkeMessage, decrypted: bool) -> None:
        h, m = msg.header, msg.meta
        resp = h.is_response
        req_by_init = (not h.is_initiator) if resp else h.is_initiator
        ex_key = (sa.uid, h.message_id, req_by_init)
        ex = self._exchanges.get(ex_key)
        if not resp and ex is None:
            ex = _Exchange(h.exchange, Endpoint(m.src, m.sport), m.time, m.frame)
            self._exchanges[ex_key] = ex
        if ex is not None:
            ex.messages += 1
            if resp:
                ex.answered = True
        payloads = msg.all_payloads
        notes = _notifies(payloads)
        errors = [n for n in notes if 0 < n.notify_type < 16384]
        x = h.exchange
        name = registry.exchange_name(2, x)
        cert = Certainty.OBSERVED if (decrypted or x == IKE_SA_INIT) else Certainty.INFERRED
        if x != IKE_SA_INIT and not decrypted:
            sa.certainty["deletes"] = Certainty.ENCRYPTED
        if x == IKE_SA_INIT:
            if not resp:
                trig, text = Trigger.INIT_REQ, "IKE_SA_INIT request"
            elif any(n.notify_type in (N_COOKIE, N_INVALID_KE) for n in notes):
                which = next(
                    _notify_name(2, n.notify_type)
                    for n in notes
                    if n.notify_type in (N_COOKIE, N_INVALID_KE)
                )
                trig, text = Trigger.INIT_RETRY, f"Responder asks the initiator to retry: {which}"
            elif errors:
                trig, text = (
                    Trigger.INIT_ERROR,
                    f"Responder refuses: {_notify_name(2, errors[0].notify_type)}",
                )
            else:
                trig, text = Trigger.INIT_RESP, "IKE_SA_INIT response"
        elif x == IKE_INTERMEDIATE:
            trig = Trigger.INTERMEDIATE_RESP if resp else Trigger.INTERMEDIATE_REQ
            text = f"IKE_INTERMEDIATE {'response' if resp else 'request'}"
        elif x == IKE_AUTH:
            fatal = [n for n in errors if n.notify_type in IKE_FATAL]
            if resp and fatal:
                trig, text = (
                    Trigger.AUTH_ERROR,
                    f"IKE_AUTH failed: {_notify_name(2, fatal[0].notify_type)}",
                )
            elif resp and not decrypted and (short := _auth_response_too_short(sa, msg)):
                trig, text = Trigger.AUTH_ERROR, short
            elif resp:
                trig = Trigger.AUTH_RESP
                text = "IKE_AUTH response: IKE SA established" + (
                    "" if decrypted else " (contents encrypted)"
                )
            else:
                trig, text = (
                    Trigger.AUTH_REQ,
                    "IKE_AUTH request" + ("" if decrypted else " (contents encrypted)"),
                )
        elif x == CREATE_CHILD_SA:
            trig = Trigger.CHILD_RESP if resp else Trigger.CHILD_REQ
            text = f"CREATE_CHILD_SA {'response' if resp else 'request'}" + (
                "" if decrypted else " (contents encrypted)"
            )
        else:
            dels = [p.body for p in payloads if isinstance(p.body, DeleteBody)]
            if any(n.notify_type == N_AUTH_FAILED for n in notes) and not resp:
                trig, text = Trigger.AUTH_ERROR, "peer reports AUTHENTICATION_FAILED"
            elif not resp and any(d.protocol == 1 for d in dels):
                trig, text = Trigger.DELETE_REQ, "Delete of the IKE SA"
                if ex is not None:
                    ex.delete_ike = True
            elif resp and ex is not None and ex.delete_ike:
                trig, text = Trigger.DELETE_RESP, "Delete of the IKE SA acknowledged"
            else:
                trig = Trigger.INFO_RESP if resp else Trigger.INFO_REQ
                if decrypted:
                    text = f"{name} {'response' if resp else 'request'}" + (
                        "" if payloads[len(msg.payloads) :] else " (liveness check)"
                    )
                else:
                    text = f"{name} {'response' if resp else 'request'} (contents encrypted)"
            if not resp and x == INFORMATIONAL:
                sa.last_info_time, sa.last_info_frame = m.time, m.frame
        sa.last_exchange = (
            "INFORMATIONAL"
            if x not in (IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, IKE_INTERMEDIATE)
            else name
        )
        tr = self._move(sa, trig, m, text, cert)
        if tr is None:
            return
        self._vendor_ids(sa, payloads)
        if trig in (Trigger.INIT_REQ, Trigger.INIT_RESP):
            self._v2_init(sa, msg, trig == Trigger.INIT_RESP)
        elif trig == Trigger.INIT_ERROR:
            n = errors[0]
            sa.hard_end = Termination(
                Reason.FAILED, m.time, m.frame, _notify_name(2, n.notify_type), Stage.NEGOTIATION
            )
            self._enter(sa, Stage.TERMINATION, m)
        elif trig == Trigger.AUTH_ERROR:
            fatal_notify = next((n for n in notes if n.notify_type in IKE_FATAL), None)
            if fatal_notify is not None:
                sa.hard_end = Termination(
                    Reason.FAILED,
                    m.time,
                    m.frame,
                    _notify_name(2, fatal_notify.notify_type),
                    Stage.CIRCUIT,
                )
            else:  # inferred from the size of an encrypted response
                sa.hard_end = Termination(
                    Reason.FAILED,
                    m.time,
                    m.frame,
                    None,
                    Stage.CIRCUIT,
                    Certainty.INFERRED,
                    text,
                )
            self._enter(sa, Stage.TERMINATION, m)
            child_uid = self._auth_child.get(sa.uid)
            if child_uid is not None:
                c = self._child[child_uid]
                c.hard_end = Termination(
                    Reason.FAILED, m.time, m.frame, sa.hard_end.notify, Stage.CIRCUIT
                )
                self._enter(c, Stage.TERMINATION, m)
        elif trig in (Trigger.AUTH_REQ, Trigger.AUTH_RESP, Trigger.CHILD_REQ, Trigger.CHILD_RESP):
            assert ex is not None or resp
            self._v2_child_exchange(sa, msg, ex, ex_key, decrypted, resp)
        elif trig in (Trigger.INFO_REQ, Trigger.INFO_RESP) and decrypted:
            self._deletes(sa, msg, m)
        elif trig == Trigger.DELETE_REQ:
            sa.hard_end = Termination(Reason.DELETED, m.time, m.frame)
            self._enter(sa, Stage.TERMINATION, m)
            self._end_children(sa, m)
        if decrypted:
            for p in msg.decrypted or []:
                if isinstance(p.body, IdBody):
                    role = "initiator" if p.type == PT_IDI else "responder"
                    sa.identities[role] = _id_text(p.body)
                elif isinstance(p.body, AuthBody) and (not resp or sa.auth_method is None):
                    sa.auth_method = p.body.method

    def _v2_init(self, sa: IkeSa, msg: IkeMessage, response: bool) -> None:
        m = msg.meta
        body = _first(msg.payloads, SaBody)
        ke = _first(msg.payloads, KeBody)
        if body is not None and not response:
            sa.proposals_offered = [suites.v2_offered(p) for p in body.proposals]
            sa.offered_ids = [suites.v2_offered_ids(p) for p in body.proposals]
            self._note(
                sa,
                Stage.NEGOTIATION,
                m,
                "ike.offer",
                f"Initiator offers {len(body.proposals)} proposal(s)"
                + (f", KE group {ke.group}" if ke is not None and ke.group else ""),
            )
        if body is not None and response and body.proposals:
            s = suites.v2_suite(body.proposals[0])
            sa.chosen, sa.chosen_ids = s.names, s.ids
            sa.certainty["chosen"] = Certainty.OBSERVED
            self._note(
                sa,
                Stage.NEGOTIATION,
                m,
                "ike.chosen",
                "Responder chose " + ", ".join(str(v) for v in s.names.values()),
            )
        self._nat_v2(sa, msg)

    def _nat_v2(self, sa: IkeSa, msg: IkeMessage) -> None:
        """NAT detection from NAT_DETECTION_* hashes (RFC 7296 §2.23), checked in the clear."""
        m, h = msg.meta, msg.header
        spi_r = h.spi_r if msg.header.is_response else b"\x00" * 8
        for n in _notifies(msg.payloads):
            if n.notify_type not in (N_NAT_SRC, N_NAT_DST):
                continue
            addr, port = (m.src, m.sport) if n.notify_type == N_NAT_SRC else (m.dst, m.dport)
            try:
                packed = ipaddress.ip_address(addr).packed
            except ValueError:
                continue
            expect = hashlib.sha1(h.spi_i + spi_r + packed + port.to_bytes(2, "big")).digest()
            if n.data != expect:
                self._nat_found(sa, m, "source" if n.notify_type == N_NAT_SRC else "destination")
            elif sa.nat_detected is None:
                sa.nat_detected = False

    def _nat_found(self, sa: IkeSa, m: PacketMeta, which: str) -> None:
        first = not sa.nat_detected
        sa.nat_detected = True
        sa.nat_frames.append(m.frame)
        if first:
            self._note(
                sa,
                Stage.HOST_RECOGNITION,
                m,
                "ike.nat",
                f"NAT detected ({which} address/port rewritten)",
            )

    def _vendor_ids(self, sa: IkeSa, payloads: list[IkePayload]) -> None:
        for p in payloads:
            if isinstance(p.body, VendorIdBody):
                name = p.body.name or p.body.data.hex()
                if name not in sa.vendor_ids:
                    sa.vendor_ids.append(name)

    def _new_child(
        self, sa: IkeSa, m: PacketMeta, created_by: str, ex_key: tuple[str, int, bool] | None
    ) -> ChildSa:
        uid = f"child-{self._next_child}"
        self._next_child += 1
        c = ChildSa(
            uid=uid,
            ike_sa=sa.uid,
            created_by=created_by,
            creating_exchange=(ex_key[1], ex_key[2]) if ex_key else None,
        )
        c.encapsulation = {"udp-encap": "udp", "tcp": "tcp"}.get(sa.transport, "none")
        c.initiator_addr = m.src
        self._child[uid] = c
        sa.child_sas.append(uid)
        self._awaiting.append(uid)
        self._out.append(SaOpened(uid, "child", m.time, m.frame, True))
        self._enter(c, Stage.HOST_RECOGNITION, m)
        self._enter(c, Stage.NEGOTIATION, m)
        self._enter(c, Stage.CIRCUIT, m)
        self._note(
            c,
            Stage.HOST_RECOGNITION,
            m,
            "child.created",
            f"child SA requested in {created_by} of {sa.uid}",
        )
        return c

    def _v2_child_exchange(
        self,
        sa: IkeSa,
        msg: IkeMessage,
        ex: _Exchange | None,
        ex_key: tuple[str, int, bool],
        decrypted: bool,
        resp: bool,
    ) -> None:
        m, x = msg.meta, msg.header.exchange
        plain = msg.decrypted or []
        body = _first(plain, SaBody)
        if ex is None:  # a response whose request we never saw (capture started in between)
            ex = _Exchange(x, Endpoint(m.dst, m.dport), m.time, m.frame, messages=1, answered=True)
            self._exchanges[ex_key] = ex
        # IKE SA rekey: CREATE_CHILD_SA whose SA payload proposes protocol IKE
        if (
            x == CREATE_CHILD_SA
            and body is not None
            and body.proposals
            and body.proposals[0].protocol == 1
        ):
            if not resp:
                ex.ike_rekey_spi = bytes(body.proposals[0].spi)
            elif ex.ike_rekey_spi is not None:
                self._ike_rekeyed(sa, ex, bytes(body.proposals[0].spi), body.proposals[0], m)
            return
        if ex.child is None:
            existing = self._auth_child.get(sa.uid) if x == IKE_AUTH else None
            if existing is not None:
                ex.child = existing
            else:
                c = self._new_child(
                    sa,
                    m if not resp else PacketMeta(ex.frame, ex.time, ex.requester.addr, m.src),
                    "IKE_AUTH" if x == IKE_AUTH else "CREATE_CHILD_SA",
                    ex_key,
                )
                ex.child = c.uid
                if x == IKE_AUTH:
                    self._auth_child[sa.uid] = c.uid
        c = self._child[ex.child]
        self._enter(c, Stage.NEGOTIATION, m)
        self._enter(c, Stage.CIRCUIT, m)
        if resp:
            c.answered = True
        if not decrypted:
            for k in ("chosen", "traffic_selectors", "spis", "mode"):
                c.certainty.setdefault(k, Certainty.ENCRYPTED)
            return
        notes = _notifies(plain)
        errors = [n for n in notes if 0 < n.notify_type < 16384]
        tsi, tsr = None, None
        for p in plain:
            if isinstance(p.body, TsBody):
                if p.type == PT_TSI:
                    tsi = p.body
                elif p.type == PT_TSR:
                    tsr = p.body
        if tsi is not None and tsr is not None:
            c.traffic_selectors = {"initiator": _ts_text(tsi), "responder": _ts_text(tsr)}
            c.certainty["traffic_selectors"] = Certainty.OBSERVED
            if resp:
                owner = self._ike.get(c.ike_sa or "")
                if owner is not None:
                    self._note(
                        owner,
                        Stage.HOST_RECOGNITION,
                        m,
                        "ike.ts",
                        f"traffic to protect: {', '.join(c.traffic_selectors['initiator'])} <-> "
                        f"{', '.join(c.traffic_selectors['responder'])}",
                    )
        if any(n.notify_type == N_USE_TRANSPORT for n in notes):
            c.mode = "transport"
        elif resp and not errors:
            c.mode = c.mode or "tunnel"
        c.certainty["mode"] = Certainty.OBSERVED
        if x == CREATE_CHILD_SA:
            has_ke = _first(plain, KeBody) is not None
            c.pfs = has_ke if not resp else (c.pfs or False) and has_ke
        if not resp:
            if body is not None and body.proposals:
                c.protocol = "ah" if body.proposals[0].protocol == 2 else "esp"
                c.proposals_offered = [suites.v2_offered(p) for p in body.proposals]
                ex.request_spi = _spi_int(body.proposals[0].spi)
            for n in notes:
                if n.notify_type == N_REKEY_SA:
                    self._link_child_rekey(c, _spi_int(n.spi), m.src, m)
            return
        if errors:
            n = errors[0]
            c.hard_end = Termination(
                Reason.FAILED, m.time, m.frame, _notify_name(2, n.notify_type), Stage.CIRCUIT
            )
            self._enter(c, Stage.TERMINATION, m)
            self._note(
                c, Stage.CIRCUIT, m, "child.failed", f"child SA refused: {c.hard_end.notify}"
            )
            return
        if body is not None and body.proposals:
            self._child_chosen_v2(c, body.proposals[0])
            if ex.request_spi is not None:
                self._install_directions(
                    c, ex.requester.addr, m.src, ex.request_spi, _spi_int(body.proposals[0].spi), m
                )

    def _child_chosen_v2(self, c: ChildSa, p: Proposal) -> None:
        s = suites.v2_suite(p)
        c.protocol = "ah" if p.protocol == 2 else "esp"
        c.chosen = {
            "encryption": s.names.get("encryption"),
            "integrity": s.names.get("integrity"),
            "esn": s.names.get("esn", False),
            "dh_group": s.names.get("dh_group"),
        }
        c.chosen_ids = s.ids
        c.certainty["chosen"] = Certainty.OBSERVED

    def _install_directions(
        self, c: ChildSa, req_addr: str, resp_addr: str, req_spi: int, resp_spi: int, m: PacketMeta
    ) -> None:
        """Directions from decrypted SA payloads: each side names the SPI it receives on."""
        esn = bool(c.chosen_ids.get("esn"))
        for spi, src, dst in ((resp_spi, req_addr, resp_addr), (req_spi, resp_addr, req_addr)):
            d = Direction(
                spi=spi,
                src=src,
                dst=dst,
                protocol=c.protocol,
                seq=SequenceAnalyzer(
                    window=self.config.replay_window, esn=esn, keep_log=self.config.mergeable
                ),
                ivs=IvHistory(bounded=not self.config.mergeable),
            )
            c.directions.append(d)
            self._dir_index[d.key] = c.uid
        c.certainty["spis"] = Certainty.OBSERVED
        c.certainty["pairing"] = Certainty.OBSERVED
        if c.uid in self._awaiting:
            self._awaiting.remove(c.uid)
        self._note(
            c,
            Stage.CIRCUIT,
            m,
            "child.installed",
            f"{c.protocol.upper()} SPIs 0x{resp_spi:08x} ({req_addr} -> {resp_addr}) and "
            f"0x{req_spi:08x} ({resp_addr} -> {req_addr})"
            + (f", {c.chosen.get('encryption')}" if c.chosen.get("encryption") else ""),
        )

    def _link_child_rekey(self, new: ChildSa, spi: int, requester: str, m: PacketMeta) -> None:
        for proto in ("esp", "ah"):
            uid = self._dir_index.get((requester, spi, proto))
            if uid is None:
                continue
            old = self._child[uid]
            old.rekeyed_to, new.rekeyed_from = new.uid, old.uid
            new.certainty["rekey"] = Certainty.OBSERVED
            self._note(
                old,
                Stage.TERMINATION,
                m,
                "child.rekeyed",
                f"rekeyed: REKEY_SA for SPI 0x{spi:08x} in frame {m.frame}",
            )
            return

    def _ike_rekeyed(
        self, sa: IkeSa, ex: _Exchange, new_spi_r: bytes, p: Proposal, m: PacketMeta
    ) -> None:
        new_spi_i = ex.ike_rekey_spi or b""
        uid = f"ike-{new_spi_i.hex()}"
        succ = IkeSa(uid=uid, version=2, spi_i=new_spi_i, spi_r=new_spi_r)
        succ.initiator = ex.requester
        succ.responder = Endpoint(m.src, m.sport)
        succ.transport = sa.transport
        succ.state = IkeState.ESTABLISHED.value
        s = suites.v2_suite(p)
        succ.chosen, succ.chosen_ids = s.names, s.ids
        succ.certainty = {"roles": Certainty.OBSERVED, "chosen": Certainty.OBSERVED}
        succ.nat_detected = sa.nat_detected
        succ.rekeyed_from, sa.rekeyed_to = sa.uid, uid
        self._ike[uid] = succ
        self._ike_index[(2, new_spi_i)] = uid
        self._out.append(SaOpened(uid, "ike", m.time, m.frame, True))
        req = PacketMeta(ex.frame, ex.time, ex.requester.addr, m.src)
        for stage in (Stage.HOST_RECOGNITION, Stage.NEGOTIATION, Stage.CIRCUIT):
            self._enter(succ, stage, req)
            self._enter(succ, stage, m)
        self._note(
            succ,
            Stage.NEGOTIATION,
            m,
            "ike.chosen",
            "rekeyed IKE SA chose " + ", ".join(str(v) for v in s.names.values()),
        )
        self._note(sa, Stage.TRANSMISSION, m, "ike.rekeyed", f"IKE SA rekeyed: successor {uid}")
        # The new IKE SA inherits every child SA still alive (RFC 7296 §2.18).
        moved = [
            u
            for u in sa.child_sas
            if u in self._child
            and self._child[u].hard_end is None
            and not self._child[u].rekeyed_to
        ]
        for u in moved:
            sa.child_sas.remove(u)
            succ.child_sas.append(u)
            self._child[u].ike_sa = uid
            self._note(
                self._child[u],
                Stage.TRANSMISSION,
                m,
                "child.inherited",
                f"now under the rekeyed IKE SA {uid}",
            )

    def _deletes(self, sa: IkeSa, msg: IkeMessage, m: PacketMeta) -> None:
        for p in msg.decrypted or []:
            if not isinstance(p.body, DeleteBody) or p.body.protocol not in (2, 3):
                continue
            proto = "ah" if p.body.protocol == 2 else "esp"
            for raw in p.body.spis:
                spi = _spi_int(raw)
                uid = self._dir_index.get((m.src, spi, proto))
                if uid is None:
                    uid = next(
                        (
                            u
                            for (dst, s, pr), u in self._dir_index.items()
                            if s == spi and pr == proto
                        ),
                        None,
                    )
                if uid is None:
                    sa.unresolved_deletes.append((proto, spi, m.src, m.time, m.frame))
                    continue
                self._delete_child(self._child[uid], proto, spi, m)

    def _delete_child(self, c: ChildSa, proto: str, spi: int, m: PacketMeta) -> None:
        apply_delete(c, proto, spi, m.time, m.frame)
        self._out.append(
            Happened(
                c.uid,
                Stage.TERMINATION,
                m.time,
                m.frame,
                "child.deleted",
                f"Delete of {proto.upper()} SPI 0x{spi:08x}",
            )
        )

    def _end_children(self, sa: IkeSa, m: PacketMeta) -> None:
        for uid in sa.child_sas:
            c = self._child[uid]
            if end_with_parent(c, sa, m.time, m.frame):
                self._out.append(
                    Happened(
                        c.uid,
                        Stage.TERMINATION,
                        m.time,
                        m.frame,
                        "child.deleted",
                        f"deleted with its IKE SA {sa.uid}",
                    )
                )

    # ---- IKEv1

    def _on_v1(self, sa: IkeSa, msg: IkeMessage, decrypted: bool) -> None:
        h, m = msg.header, msg.meta
        x = h.exchange
        from_init = self._sent_by_initiator(sa, m)
        payloads = msg.all_payloads
        types = {p.type for p in msg.payloads}
        notes = _notifies(payloads)
        errors = [n for n in notes if 0 < n.notify_type < 8192]
        cert = Certainty.OBSERVED if (decrypted or not h.v1_encrypted) else Certainty.INFERRED
        if h.v1_encrypted and not decrypted:
            sa.certainty["deletes"] = Certainty.ENCRYPTED
        side = "initiator" if from_init else "responder"
        if x == V1_MAIN:
            sa.mode = sa.mode or "main"
            if not h.v1_encrypted and V1_PT_SA in types:
                trig, num = (Trigger.MM1, 1) if from_init else (Trigger.MM2, 2)
            elif not h.v1_encrypted and V1_PT_KE in types:
                trig, num = (Trigger.MM3, 3) if from_init else (Trigger.MM4, 4)
            elif h.v1_encrypted:
                trig, num = (Trigger.MM5, 5) if from_init else (Trigger.MM6, 6)
            else:
                trig, num = Trigger.V1_INFO, 0
            text = (
                f"Main Mode message {num} ({side})" if num else f"Main Mode message from the {side}"
            )
        elif x == V1_AGGRESSIVE:
            sa.mode = sa.mode or "aggressive"
            if from_init:
                trig, num = (
                    (Trigger.AM3, 3)
                    if (h.v1_encrypted or V1_PT_SA not in types)
                    else (Trigger.AM1, 1)
                )
            else:
                trig, num = Trigger.AM2, 2
            text = f"Aggressive Mode message {num} ({side})"
        elif x == V1_QUICK:
            trig, text = Trigger.QM, "Quick Mode"
        elif x in (V1_INFO, V1_TRANSACTION):
            dels = [p.body for p in payloads if isinstance(p.body, DeleteBody)]
            if any(d.protocol == 1 for d in dels):
                trig, text = Trigger.V1_DELETE, "Delete of the ISAKMP SA"
            elif errors:
                trig, text = (
                    Trigger.V1_ERROR,
                    f"error notify {_notify_name(1, errors[0].notify_type)}",
                )
            else:
                trig = Trigger.V1_INFO
                what = "Transaction (mode config/XAUTH)" if x == V1_TRANSACTION else "Informational"
                text = what + (" (contents encrypted)" if h.v1_encrypted and not decrypted else "")
            if x == V1_INFO:
                sa.last_info_time, sa.last_info_frame = m.time, m.frame
        else:
            trig, text = Trigger.V1_INFO, f"{registry.exchange_name(1, x)} exchange"
        sa.last_exchange = "INFORMATIONAL" if x == V1_INFO else registry.exchange_name(1, x)
        tr = self._move(sa, trig, m, text, cert)
        if tr is None:
            return
        self._vendor_ids(sa, payloads)
        if trig in (Trigger.MM1, Trigger.AM1):
            body = _first(msg.payloads, SaBody)
            if body is not None:
                sa.proposals_offered = [
                    o for p in body.proposals for o in suites.v1_phase1_offered(p)
                ]
                sa.offered_ids = [
                    {k: [v] for k, v in suites.v1_phase1_suite(t).ids.items()}
                    for p in body.proposals
                    for t in p.transforms
                ]
                self._note(
                    sa,
                    Stage.NEGOTIATION,
                    m,
                    "ike.offer",
                    f"Initiator offers {len(sa.proposals_offered)} transform(s) in {sa.mode} mode",
                )
            if trig == Trigger.AM1:
                self._am1_store(sa, msg)
        if trig in (Trigger.MM2, Trigger.AM2):
            body = _first(msg.payloads, SaBody)
            if body is not None and body.proposals and body.proposals[0].transforms:
                s = suites.v1_phase1_suite(body.proposals[0].transforms[0])
                sa.chosen = {k: v for k, v in s.names.items() if k != "auth_method"}
                sa.chosen_ids, sa.auth_method = s.ids, s.auth_method
                sa.lifetime_seconds, sa.lifetime_kilobytes = (
                    s.lifetime_seconds,
                    s.lifetime_kilobytes,
                )
                sa.certainty["chosen"] = Certainty.OBSERVED
                self._note(
                    sa,
                    Stage.NEGOTIATION,
                    m,
                    "ike.chosen",
                    "Responder chose " + ", ".join(str(v) for v in s.names.values()),
                )
            if trig == Trigger.AM2:
                self._am2_store(sa, msg)
        if trig in (Trigger.MM3, Trigger.MM4, Trigger.AM1, Trigger.AM2):
            self._nat_v1(sa, msg)
        if trig in (Trigger.AM1, Trigger.AM2):
            for p in msg.payloads:
                if isinstance(p.body, IdBody):
                    sa.identities["initiator" if trig == Trigger.AM1 else "responder"] = p.body.text
        if tr.target == IkeState.FAILED and sa.hard_end is None and errors:
            sa.hard_end = Termination(
                Reason.FAILED, m.time, m.frame, _notify_name(1, errors[0].notify_type), tr.stage
            )
            self._enter(sa, Stage.TERMINATION, m)
        if trig == Trigger.QM:
            self._v1_quick(sa, msg, decrypted, from_init)
        if trig in (Trigger.V1_INFO, Trigger.V1_DELETE) and decrypted:
            self._deletes(sa, msg, m)
        if trig == Trigger.V1_DELETE:
            sa.hard_end = Termination(Reason.DELETED, m.time, m.frame)
            self._enter(sa, Stage.TERMINATION, m)
            self._end_children(sa, m)
        if decrypted and trig in (Trigger.MM5, Trigger.MM6, Trigger.AM3):
            for p in msg.decrypted or []:
                if isinstance(p.body, IdBody):
                    sa.identities[side] = p.body.text

    def _payload_body_bytes(self, msg: IkeMessage, p: IkePayload) -> bytes:
        return bytes(msg.data[p.offset + 4 : p.offset + p.length])

    def _am1_store(self, sa: IkeSa, msg: IkeMessage) -> None:
        parts: dict[int, bytes] = {}
        for p in msg.payloads:
            if p.type in (V1_PT_SA, V1_PT_KE, V1_PT_NONCE) and p.type not in parts:
                parts[p.type] = self._payload_body_bytes(msg, p)
        if len(parts) == 3:
            self._am1[sa.uid] = (parts[V1_PT_KE], parts[V1_PT_SA], parts[V1_PT_NONCE])

    def _am2_store(self, sa: IkeSa, msg: IkeMessage) -> None:
        """psk-crack inputs (ike-scan): g_xr g_xi cky_r cky_i sai_b idir_b ni_b nr_b hash_r."""
        if sa.auth_method not in suites.V1_PSK_METHODS:
            return
        sa.aggressive_psk_frames = [msg.meta.frame]
        am1 = self._am1.get(sa.uid)
        parts: dict[int, bytes] = {}
        for p in msg.payloads:
            if p.type in (V1_PT_KE, V1_PT_ID, V1_PT_NONCE, V1_PT_HASH) and p.type not in parts:
                parts[p.type] = self._payload_body_bytes(msg, p)
        if am1 is None or len(parts) < 4:
            return
        g_xi, sai_b, ni_b = am1
        sa.psk_crack = (
            parts[V1_PT_KE],
            g_xi,
            bytes(msg.header.spi_r),
            bytes(msg.header.spi_i),
            sai_b,
            parts[V1_PT_ID],
            ni_b,
            parts[V1_PT_NONCE],
            parts[V1_PT_HASH],
        )

    def _nat_v1(self, sa: IkeSa, msg: IkeMessage) -> None:
        """NAT-D (RFC 3947 §3.2): the first hash is of the destination, the rest of the source."""
        natd = [
            p.body.data
            for p in msg.payloads
            if p.type in (V1_PT_NATD, V1_PT_NATD_DRAFT) and isinstance(p.body, HashBody | RawBody)
        ]
        hash_id = next((v for k, v in _v1_hash_attr(sa).items() if k == "hash"), None)
        if len(natd) < 2 or hash_id not in V1_NATD_HASH:
            return
        m, h = msg.meta, msg.header

        def digest(addr: str, port: int) -> bytes:
            return hashlib.new(
                V1_NATD_HASH[hash_id],
                h.spi_i + h.spi_r + ipaddress.ip_address(addr).packed + port.to_bytes(2, "big"),
            ).digest()

        try:
            dst_ok = natd[0] == digest(m.dst, m.dport)
            src_ok = any(d == digest(m.src, m.sport) for d in natd[1:])
        except ValueError:
            return
        if not dst_ok or not src_ok:
            self._nat_found(sa, m, "destination" if not dst_ok else "source")
        elif sa.nat_detected is None:
            sa.nat_detected = False

    def _v1_quick(self, sa: IkeSa, msg: IkeMessage, decrypted: bool, from_init: bool) -> None:
        h, m = msg.header, msg.meta
        ex_key = (sa.uid, h.message_id, True)
        ex = self._exchanges.get(ex_key)
        if ex is None:
            ex = _Exchange(V1_QUICK, Endpoint(m.src, m.sport), m.time, m.frame)
            self._exchanges[ex_key] = ex
            c = self._new_child(sa, m, "QUICK_MODE", ex_key)
            ex.child = c.uid
        c = self._child[ex.child or ""]
        by_requester = m.src == ex.requester.addr and m.sport == ex.requester.port
        if not by_requester:
            ex.answered = True
            c.answered = True
        number = 1 if by_requester and not ex.answered else (2 if not by_requester else 3)
        self._enter(c, Stage.NEGOTIATION, m)
        self._enter(c, Stage.CIRCUIT, m)
        self._note(
            c,
            Stage.CIRCUIT,
            m,
            f"child.qm{number}",
            f"Quick Mode message {number}" + ("" if decrypted else " (contents encrypted)"),
            Certainty.OBSERVED if decrypted else Certainty.INFERRED,
        )
        if not decrypted:
            for k in ("chosen", "traffic_selectors", "spis", "mode"):
                c.certainty.setdefault(k, Certainty.ENCRYPTED)
            return
        plain = msg.decrypted or []
        body = _first(plain, SaBody)
        has_ke = _first(plain, KeBody) is not None
        ids = [p.body for p in plain if isinstance(p.body, IdBody)]
        if len(ids) >= 2:
            c.traffic_selectors = {"initiator": [ids[0].text], "responder": [ids[1].text]}
            c.certainty["traffic_selectors"] = Certainty.OBSERVED
        if number == 1 and body is not None and body.proposals:
            c.protocol = "ah" if body.proposals[0].protocol == 2 else "esp"
            c.proposals_offered = [o for p in body.proposals for o in suites.v1_phase2_offered(p)]
            ex.request_spi = _spi_int(body.proposals[0].spi)
            c.pfs = has_ke
        elif number == 2:
            errors = [n for n in _notifies(plain) if 0 < n.notify_type < 8192]
            if errors:
                c.hard_end = Termination(
                    Reason.FAILED,
                    m.time,
                    m.frame,
                    _notify_name(1, errors[0].notify_type),
                    Stage.CIRCUIT,
                )
                self._enter(c, Stage.TERMINATION, m)
                return
            c.pfs = bool(c.pfs) and has_ke
            if body is not None and body.proposals and body.proposals[0].transforms:
                p = body.proposals[0]
                s = suites.v1_phase2_suite(p, p.transforms[0])
                c.protocol = "ah" if p.protocol == 2 else "esp"
                c.chosen = {
                    "encryption": s.names.get("encryption"),
                    "integrity": s.names.get("integrity"),
                    "esn": s.names.get("esn", False),
                    "dh_group": s.names.get("dh_group"),
                }
                c.chosen_ids = s.ids
                c.mode = s.mode
                if s.udp_encap:
                    c.encapsulation = "udp"
                c.lifetime_seconds, c.lifetime_kilobytes = s.lifetime_seconds, s.lifetime_kilobytes
                c.certainty["chosen"] = Certainty.OBSERVED
                c.certainty["mode"] = Certainty.OBSERVED
                if ex.request_spi is not None:
                    self._install_directions(
                        c, ex.requester.addr, m.src, ex.request_spi, _spi_int(p.spi), m
                    )

    # ------------------------------------------------------------------ ESP / AH

    def _on_ipsec(self, rec: EspPacket | AhPacket, proto: str) -> None:
        self._on_ipsec_record(rec, proto)
        if (
            isinstance(rec, EspPacket)
            and not self.config.mergeable
            and not rec.meta.ip_fragmented
            and (rec.decryption is None or rec.decryption.status == "ok")
        ):
            self._register_fast(rec)

    def _register_fast(self, rec: EspPacket | AhPacket) -> None:
        """Let the next in-order packets of this direction take :meth:`esp_fast`, unless
        they need more than counting (explicit IVs to check)."""
        m = rec.meta
        uid = self._dir_index.get((m.dst, rec.spi, "esp"))
        if uid is None:
            return
        c = self._child[uid]
        d = c.direction(m.dst, rec.spi)
        if d is None:
            return
        if isinstance(rec, EspPacket) and rec.decryption is None:
            e = suites.encryption_alg(c.chosen_ids.get("encryption"))
            if e is not None and e.iv_len and (e.aead or e.mode == "ctr"):
                return  # the IV must be read from each packet: the full path does that
        parent = self._ike.get(c.ike_sa or "")
        self._fast[(m.dst, rec.spi)] = (
            d,
            c,
            c.stages[Stage.TRANSMISSION],
            parent.stages[Stage.TRANSMISSION] if parent is not None else None,
        )

    def _on_ipsec_record(self, rec: EspPacket | AhPacket, proto: str) -> None:
        m = rec.meta
        key = (m.dst, rec.spi, proto)
        uid = self._dir_index.get(key)
        if uid is None:
            uid = self._attribute(m, rec.spi, proto)
        c = self._child[uid]
        d = c.direction(m.dst, rec.spi)
        assert d is not None
        if d.first_time is None:
            d.first_time, d.first_frame = m.time, m.frame
        d.last_time, d.last_frame = m.time, m.frame
        d.packets += 1
        d.byte_count += m.wire_len
        self._enter(c, Stage.TRANSMISSION, m)
        parent = self._ike.get(c.ike_sa or "")
        if parent is not None:
            self._enter(parent, Stage.TRANSMISSION, m)
        for a in d.seq.feed(rec.seq, m.frame, m.time):
            self._note(
                c, Stage.TRANSMISSION, m, f"{proto}.seq.{a.kind}", f"SPI 0x{rec.spi:08x}: {a.text}"
            )
        if m.ip_fragmented:
            d.fragmented += 1
            d.fragmented_frames.append(m.frame)
        if isinstance(rec, AhPacket):
            if rec.icv_status == "ok":
                d.decrypted += 1
            elif rec.icv_status == "icv-failed":
                d.icv_failures += 1
                self._note(
                    c,
                    Stage.TRANSMISSION,
                    m,
                    "ah.icv_failed",
                    f"SPI 0x{rec.spi:08x}: ICV check failed",
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
                if m.wire_len:
                    over = m.wire_len - inner
                    d.max_overhead = over if d.max_overhead is None else max(d.max_overhead, over)
                d.max_inner = inner if d.max_inner is None else max(d.max_inner, inner)
                if dec.next_header in (4, 41) and dec.plaintext:
                    d.inner_ip_version = dec.plaintext[0] >> 4
            elif dec.status == "icv-failed":
                d.icv_failures += 1
                self._note(
                    c,
                    Stage.TRANSMISSION,
                    m,
                    "esp.icv_failed",
                    f"SPI 0x{rec.spi:08x}: ICV check failed",
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
                self._note(
                    c,
                    Stage.TRANSMISSION,
                    m,
                    "esp.iv_reuse",
                    f"SPI 0x{rec.spi:08x}: explicit IV {iv.hex()} already used (frame {used})",
                )
            else:
                d.ivs.add(n, m.frame)

    def _attribute(self, m: PacketMeta, spi: int, proto: str) -> str:
        """Find the child SA a new (destination, SPI) belongs to; see the module doc."""
        d = Direction(
            spi=spi,
            src=m.src,
            dst=m.dst,
            protocol=proto,
            seq=SequenceAnalyzer(window=self.config.replay_window, keep_log=self.config.mergeable),
            ivs=IvHistory(bounded=not self.config.mergeable),
        )
        # 1. the missing direction of a child SA seen in one direction only
        for c in reversed(list(self._child.values())):
            if (
                len(c.directions) == 1
                and c.protocol == proto
                and c.hard_end is None
                and c.certainty.get("pairing") != Certainty.OBSERVED
                and c.directions[0].src == m.dst
                and c.directions[0].dst == m.src
            ):
                return self._attach(c, d, m, "pairing")
        # 2. a child SA negotiated (encrypted) between these peers and still waiting for SPIs
        for uid in self._awaiting:
            c = self._child[uid]
            sa = self._ike.get(c.ike_sa or "")
            if (
                sa is None
                or c.directions
                or c.hard_end is not None
                or sa.initiator is None
                or sa.responder is None
            ):
                continue
            if {sa.initiator.addr, sa.responder.addr} == {m.src, m.dst}:
                c.protocol = proto
                return self._attach(c, d, m, "spis")
        # 3. an SA whose negotiation is not in the capture
        uid = f"child-{self._next_child}"
        self._next_child += 1
        c = ChildSa(uid=uid, protocol=proto, observed_from_start=False)
        c.encapsulation = {Transport.UDP_ENCAP: "udp", Transport.TCP: "tcp"}.get(
            m.transport, "none"
        )
        self._child[uid] = c
        self._out.append(SaOpened(uid, "child", m.time, m.frame, False))
        self._enter(c, Stage.HOST_RECOGNITION, m)
        self._note(
            c,
            Stage.HOST_RECOGNITION,
            m,
            "child.orphan",
            f"{proto.upper()} SPI 0x{spi:08x} ({m.src} -> {m.dst}) first seen with no IKE exchange for it",
            Certainty.INFERRED,
        )
        return self._attach(c, d, m, "orphan")

    def _attach(self, c: ChildSa, d: Direction, m: PacketMeta, how: str) -> str:
        d.seq.esn = bool(c.chosen_ids.get("esn"))
        c.directions.append(d)
        self._dir_index[d.key] = c.uid
        if how == "pairing":
            c.certainty["pairing"] = Certainty.INFERRED
            if c.uid in self._awaiting:
                self._awaiting.remove(c.uid)
            text = f"SPI 0x{d.spi:08x} ({d.src} -> {d.dst}) paired by timing and addresses"
        elif how == "spis":
            c.certainty["spis"] = Certainty.INFERRED
            text = f"SPI 0x{d.spi:08x} ({d.src} -> {d.dst}) attributed to this child SA by timing and addresses"
        else:
            return c.uid
        self._note(c, Stage.TRANSMISSION, m, "child.spi", text, Certainty.INFERRED)
        return c.uid


def apply_delete(c: ChildSa, proto: str, spi: int, time: float, frame: int) -> None:
    """A Delete payload naming one of ``c``'s SPIs (shared with the merge)."""
    from ipsec_inspect.lifecycle.model import Event

    c.stages[Stage.TERMINATION].touch(time, frame)
    if c.hard_end is None:
        c.hard_end = Termination(Reason.DELETED, time, frame)
        c.stages[Stage.TERMINATION].events.append(
            Event(time, frame, "child.deleted", f"Delete of {proto.upper()} SPI 0x{spi:08x}")
        )


def end_with_parent(c: ChildSa, sa: IkeSa, time: float, frame: int) -> bool:
    """Deleting an IKE SA deletes its child SAs (RFC 7296 §1.4.1); True if ``c`` ended now."""
    from ipsec_inspect.lifecycle.model import Event

    if c.hard_end is not None:
        return False
    c.hard_end = Termination(Reason.DELETED, time, frame)
    c.stages[Stage.TERMINATION].touch(time, frame)
    c.stages[Stage.TERMINATION].events.append(
        Event(time, frame, "child.deleted", f"deleted with its IKE SA {sa.uid}")
    )
    return True


def _auth_response_too_short(sa: IkeSa, msg: IkeMessage) -> str | None:
    """Why an encrypted IKE_AUTH response cannot be a success, or None.

    Without keys the notify of a failed IKE_AUTH is invisible, but its size is not: a
    successful response carries at least IDr and AUTH (RFC 7296 §1.2), and with the suite
    chosen in IKE_SA_INIT the smallest SK payload that can hold them has a known size. A
    shorter message can only carry an error notify (AUTHENTICATION_FAILED, in practice).
    """
    encr = suites.encryption_alg(sa.chosen_ids.get("encryption"))
    if encr is None:
        return None
    from ipsec_inspect.crypto import algorithms

    prf = algorithms.prf_by_id(sa.chosen_ids.get("prf", -1))
    integ = None if encr.aead else suites.integrity_alg(sa.chosen_ids.get("integrity"))
    if prf is None or (not encr.aead and integ is None):
        return None
    icv = encr.icv_len if encr.aead else (integ.icv_len if integ is not None else 0)
    plain = 9 + 8 + prf.out_len + 1  # IDr (one-byte identity), AUTH (PSK: prf output), pad length
    block = max(encr.block_len, 1)
    minimum = 28 + 4 + encr.iv_len + -(-plain // block) * block + icv
    if msg.header.length >= minimum:
        return None
    return (
        f"IKE_AUTH failed (inferred): the encrypted response of {msg.header.length} bytes is too "
        f"short to hold IDr and AUTH (at least {minimum} bytes with this suite); it can only "
        "carry an error notify such as AUTHENTICATION_FAILED"
    )


def _v1_hash_attr(sa: IkeSa) -> dict[str, int]:
    """The IKEv1 phase-1 Hash Algorithm attribute value, recovered from the chosen PRF."""
    prf = sa.chosen_ids.get("prf")
    back = {1: 1, 2: 2, 5: 4, 6: 5, 7: 6}
    return {"hash": back[prf]} if prf in back else {}
