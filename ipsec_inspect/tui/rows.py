"""Packet-list rows: records re-read on demand, their one-line text, and filter facts.

Why caches: the list is virtual — only visible rows are ever rendered — but each row
costs a re-read and a re-decode of its frame, and scrolling revisits rows constantly.
Two small LRU caches (records and rendered text) make that cheap, in the manner of
toolong's line cache. A record that cannot be re-read never raises into the UI: the
row falls back to what the packet index alone says.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ipsec_inspect.core.records import IkeMessage, Record
from ipsec_inspect.ipsec.registry import exchange_name, exchange_short_name
from ipsec_inspect.lifecycle.model import ChildSa, IkeSa, Stage
from ipsec_inspect.pipeline.describe import endpoint, info_text, protocol_label
from ipsec_inspect.pipeline.packet_index import RecordKind
from ipsec_inspect.pipeline.session import Analysis
from ipsec_inspect.tui.catalog import KIND_NAMES, SaCatalog

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A bounded mapping that forgets the least recently used entry."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, make: Callable[[], V]) -> V:
        d = self._d
        if key in d:
            d.move_to_end(key)
            return d[key]
        value = make()
        d[key] = value
        if len(d) > self.size:
            d.popitem(last=False)
        return value

    def clear(self) -> None:
        self._d.clear()


@dataclass(frozen=True, slots=True)
class Row:
    """One packet-list line, split into columns the list lays out by width."""

    frame: int
    time: str
    src: str
    dst: str
    proto: str
    info: str
    error: bool
    decrypted: bool
    unverified: bool = False  # decrypted, but no integrity key: the ICV was not checked


class PacketRows:
    """Records and row text for index rows of one :class:`Analysis`."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self._records: Lru[int, tuple[Record | None, str]] = Lru(512)
        self._rows: Lru[int, Row] = Lru(8192)

    @property
    def first_time(self) -> float:
        info = self.analysis.info
        if info is not None and info.first_time is not None:
            return info.first_time
        index = self.analysis.index
        return index.time[0] if len(index) else 0.0

    def record(self, i: int) -> Record | None:
        return self.record_and_problem(i)[0]

    def record_and_problem(self, i: int) -> tuple[Record | None, str]:
        """Record ``i`` and, when it cannot be shown, one sentence saying why."""
        return self._records.get(i, lambda: self._read(i))

    def _read(self, i: int) -> tuple[Record | None, str]:
        try:
            r = self.analysis.record(i)
        except Exception as e:  # a damaged frame must not take the UI down
            return None, f"frame could not be re-read: {e}"
        if r is None:
            return None, "this record is not re-readable alone (reassembled or live capture)"
        return r, ""

    def row(self, i: int) -> Row:
        return self._rows.get(i, lambda: self._make_row(i))

    def _make_row(self, i: int) -> Row:
        index = self.analysis.index
        frame, flags = index.frame[i], index.flags[i]
        when = f"{index.time[i] - self.first_time:.6f}"
        r = self.record(i)
        if r is None:
            key = self.analysis.flow_keys[index.flow[i]]
            proto = KIND_NAMES.get(index.kind[i], "?").upper()
            info = _flow_text(key)
            return Row(
                frame, when, "", "", proto, info, bool(flags & 1), bool(flags & 2), bool(flags & 8)
            )
        try:
            info = info_text(r)
        except Exception as e:  # summaries of damaged records must not raise into the UI
            info = f"(cannot summarise: {e})"
        return Row(
            frame,
            when,
            endpoint(r.meta, True),
            endpoint(r.meta, False),
            protocol_label(r),
            info,
            bool(flags & 1),
            bool(flags & 2),
            bool(flags & 8),
        )

    def clear(self) -> None:
        self._records.clear()
        self._rows.clear()


def _flow_text(key: tuple[object, ...]) -> str:
    if key and key[0] in ("esp", "ah") and len(key) == 3:
        return f"SPI 0x{key[2]:08x} → {key[1]}"
    if key and key[0] == "ike" and len(key) == 3 and isinstance(key[2], bytes):
        return f"IKEv{key[1]} SPI {key[2].hex()}"
    return ""


class IndexFacts:
    """Answers a filter's questions about a row (see ``filterlang.RowFacts``)."""

    def __init__(self, analysis: Analysis, catalog: SaCatalog, rows: PacketRows) -> None:
        self.analysis = analysis
        self.catalog = catalog
        self.rows = rows
        self._spis: dict[int, tuple[int | bytes, ...]] = {}
        self._peers: dict[int, tuple[str, ...]] = {}
        self._findings: dict[int, frozenset[str]] = {}

    def _sa(self, row: int) -> str | None:
        return self.catalog.sa_of_flow.get(self.analysis.index.flow[row])

    def spis(self, row: int) -> tuple[int | bytes, ...]:
        flow = self.analysis.index.flow[row]
        got = self._spis.get(flow)
        if got is None:
            key = self.analysis.flow_keys[flow]
            sa = self.catalog.sa(self.catalog.sa_of_flow.get(flow, ""))
            if key[0] in ("esp", "ah"):
                got = (int(key[2]),)  # type: ignore[call-overload]
            elif key[0] == "ike" and isinstance(key[2], bytes):
                got = (key[2], sa.spi_r) if isinstance(sa, IkeSa) else (key[2],)
            else:
                got = ()
            self._spis[flow] = got
        return got

    def peers(self, row: int) -> tuple[str, ...]:
        flow = self.analysis.index.flow[row]
        got = self._peers.get(flow)
        if got is not None:
            return got
        sa = self.catalog.sa(self.catalog.sa_of_flow.get(flow, ""))
        if isinstance(sa, IkeSa):
            got = tuple(e.addr for e in (sa.initiator, sa.responder) if e is not None)
        elif isinstance(sa, ChildSa):
            got = tuple({a for d in sa.directions for a in (d.src, d.dst)})
        else:  # not tied to an SA: ask the record itself (rare rows)
            r = self.rows.record(row)
            return (r.meta.src, r.meta.dst) if r is not None else ()
        self._peers[flow] = got
        return got

    def proto(self, row: int) -> str:
        return KIND_NAMES.get(self.analysis.index.kind[row], "")

    def exchange(self, row: int) -> str | None:
        if self.analysis.index.kind[row] != RecordKind.IKE:
            return None
        r = self.rows.record(row)
        if not isinstance(r, IkeMessage):
            return None
        n = r.header.exchange
        short = exchange_short_name(r.version, n)
        full = exchange_name(r.version, n)
        return short if short.upper() == full.upper() else f"{short} {full}"

    def stage(self, row: int) -> Stage | None:
        uid = self._sa(row)
        if uid is None:
            return None
        return self.catalog.stage_of_frame(uid, self.analysis.index.frame[row])

    def findings(self, row: int) -> frozenset[str]:
        flow = self.analysis.index.flow[row]
        got = self._findings.get(flow)
        if got is None:
            uid = self.catalog.sa_of_flow.get(flow)
            fs = self.catalog.failing.get(uid or "", [])
            got = frozenset({f.rule for f in fs} | {f.severity.value for f in fs})
            self._findings[flow] = got
        return got
