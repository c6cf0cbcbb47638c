"""Wires a capture through the pipeline: the one object commands and the TUI use.

Why: every consumer needs the same sequence — open the capture (turning "missing file"
or "not a capture" into one clear sentence), load the keys (reporting bad rows per file
and line), decode, decrypt — and the same bookkeeping of what went wrong along the way.
Layers below know nothing of each other; this module is where they meet.

The run's extension tables (``core.extensions.Extensions``, composed at start-up) come in
here and are handed down: the dissector tables to every decoder and the decryptor
(through ``DecodeOptions.extension_tables``), the key formats to key loading, the rules
to the audit, which runs on the tracker's result once tracking is done.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from ipsec_inspect.audit.rules import RULES
from ipsec_inspect.audit.run import audit
from ipsec_inspect.core.errors import InputError
from ipsec_inspect.core.extensions import Extensions, KeyFormat
from ipsec_inspect.core.records import (
    AhPacket,
    CaptureWarning,
    EspDecryption,
    EspPacket,
    IkeMessage,
    Malformed,
    NatKeepalive,
    PacketMeta,
    Record,
    Transport,
)
from ipsec_inspect.core.spill import SpillFile
from ipsec_inspect.ipsec.dissectors import ipsec_decoder
from ipsec_inspect.lifecycle.events import TrackerEvent
from ipsec_inspect.lifecycle.fast_lane import EspLane, LaneBoard
from ipsec_inspect.lifecycle.pending import PendingOrphan
from ipsec_inspect.lifecycle.sequence import SEQ_MAX
from ipsec_inspect.lifecycle.tracker import Redissect, Tracker, TrackerConfig, TrackerResult
from ipsec_inspect.pipeline.packet_index import PacketIndex, RecordKind
from ipsec_inspect.pipeline.records import end_of_capture_warnings, read_records
from ipsec_inspect.sources.capture_file import CaptureError, CaptureInfo
from ipsec_inspect.sources.frame_store import FrameStore
from ipsec_inspect.sources.indexed import IndexedReader, PartRecords
from ipsec_inspect.sources.multi import (
    STDIN,
    MergedReader,
    TimeWindow,
    expand_inputs,
    is_url,
)
from ipsec_inspect.sources.timestamps import RawTime
from ipsec_inspect.sources.warning_log import WarningLog
from ipsec_inspect.wire.decoder import NATT_PORT, DecodeOptions, Decoder
from ipsec_inspect.wire.fast_esp import ETH_IPV4_ESP, ETH_IPV4_ESP_MIN, esp_locator
from ipsec_inspect.wire.fast_ike import ETH_IPV4_INIT_MIN, eth_ipv4_taker, init_locator, init_meta
from ipsec_inspect.wire.link import LINKTYPE_ETHERNET

if TYPE_CHECKING:  # decryption is loaded only when keys are given: faster start-up
    from ipsec_inspect.crypto.decryptor import Decryptor, FastEspSa
    from ipsec_inspect.crypto.keys import KeyStore
    from ipsec_inspect.pipeline.offload_feed import Frame, OffloadFeed

#: the low byte of UDP port 4500: a frame to or from a port ending so is left to the ESP
#: locator first (NAT-T ESP; an IKE request there still takes the locators' way, slower)
_NATT_LOW = NATT_PORT & 0xFF

#: One ESP SA's fast lane: its decryption (None without keys), the tracker's lane (its
#: counters) and the SA's flow id.
_Lane = tuple["FastEspSa | None", EspLane, int]


def load_keys(
    paths: Sequence[str | os.PathLike[str]], formats: Sequence[KeyFormat] = ()
) -> KeyStore:
    """All key files into one store; an unreadable path is an input error.

    ``formats``: key formats added by extensions, tried after the built-in ones."""
    from ipsec_inspect.crypto.keyfiles.common import KeyFileError
    from ipsec_inspect.crypto.keyfiles.detect import load_key_path
    from ipsec_inspect.crypto.keys import KeyFileKeys, KeyStore

    store = KeyStore()
    for p in paths:
        if not os.path.exists(p):
            raise InputError(f"{os.fspath(p)}: no such key file or folder")
        try:
            loaded = load_key_path(os.fspath(p), formats)
            loaded.files = [
                KeyFileKeys(os.fspath(p), tuple(loaded.sa_keys()), tuple(loaded.ike_keys()))
            ]
            store.merge(loaded)
        except KeyFileError as e:  # its message already names the path
            raise InputError(str(e)) from None
        except (OSError, ValueError) as e:
            raise InputError(f"{os.fspath(p)}: cannot read keys ({e})") from None
    return store


def problem_lines(
    warnings: WarningLog, keys: KeyStore | None, decryptor: Decryptor | None
) -> list[str]:
    """One line per problem, in the order: the capture, the key files, the decryption.
    Repeated capture warnings are capped per kind ("and N more", see ``WarningLog``)."""
    out = warnings.lines()
    if keys is not None:
        out.extend(keys.problems)
    if decryptor is not None:
        out.extend(decryptor.problems())
    return out


def key_match_problems(keys: KeyStore, result: TrackerResult) -> list[str]:
    """The key files that matched no SA of the tracked capture, or added nothing."""
    from ipsec_inspect.crypto.key_usage import SeenSpis, key_match_lines

    seen = SeenSpis.of(
        ((d.protocol, d.spi) for c in result.child_sas.values() for d in c.directions),
        ((sa.spi_i, sa.spi_r) for sa in result.ike_sas.values()),
    )
    return key_match_lines(keys, seen)


@dataclass
class RecordStream:
    """Iterate the (decrypted, where keys allow) records of one capture."""

    path: str | Sequence[str]
    options: DecodeOptions
    keys: KeyStore | None = None
    warnings: WarningLog = field(default_factory=WarningLog)
    window: TimeWindow | None = None
    decoder: Decoder = field(init=False)
    decryptor: Decryptor | None = field(init=False, default=None)
    _info: list[CaptureInfo] = field(init=False, default_factory=list)
    _readers: list[MergedReader] = field(init=False, default_factory=list)
    _iter: Iterator[Record] | None = field(init=False, default=None)
    _first: Record | None = field(init=False, default=None)
    # SAs seen while iterating with keys, to name a key file that matched none of them
    _seen_sa: set[tuple[str, int]] = field(init=False, default_factory=set)
    _seen_ike: set[tuple[bytes, bytes]] = field(init=False, default_factory=set)
    _done: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.decoder = ipsec_decoder(self.options)
        if self.keys is not None:
            from ipsec_inspect.crypto.decryptor import Decryptor

            self.decryptor = Decryptor(self.keys, extension_tables=self.options.extension_tables)
        try:
            self._iter = read_records(
                self.path,
                self.options,
                on_warning=self.warnings.append,
                info=self._info,
                decoder=self.decoder,
                window=self.window,
                readers=self._readers,
            )
            # Open the file now, so "not a capture" is reported before any output.
            self._first = next(self._iter, None)
        except CaptureError as e:
            raise InputError(str(e)) from None

    @property
    def info(self) -> CaptureInfo:
        return self._info[0]

    @property
    def merged(self) -> bool:
        """Several inputs (or a time window): global frame numbers differ from the files'."""
        r = self._readers[0] if self._readers else None
        return r is not None and (len(r.names) > 1 or r.window.active)

    def raw_time(self, frame: int) -> RawTime | None:
        """The raw timestamp fields of a recent global frame whose time was unusable (the
        reader of its input keeps them by its own frame number)."""
        if not self._readers:
            return None
        reader = self._readers[0]
        i, n = reader.origin(frame)
        return reader.readers[i].info.raw_times.get(n) if i >= 0 else None

    def origin(self, frame: int) -> tuple[str, int] | None:
        """(input, frame number in that input) of a recent global frame."""
        if not self._readers:
            return None
        reader = self._readers[0]
        i, n = reader.origin(frame)
        return (reader.info.files[i].path, n) if i >= 0 else None

    def __iter__(self) -> Iterator[Record]:
        first = self._first
        if first is None or self._iter is None:
            return
        self._first = None
        process = self.decryptor.process if self.decryptor is not None else None
        if process is None:
            yield first
            yield from self._iter
            return
        seen_sa, seen_ike = self._seen_sa, self._seen_ike
        for r in itertools.chain((first,), self._iter):
            r = process(r)
            if isinstance(r, EspPacket | AhPacket):
                seen_sa.add(("esp" if isinstance(r, EspPacket) else "ah", r.spi))
            elif isinstance(r, IkeMessage):
                seen_ike.add((r.header.spi_i, r.header.spi_r))
            yield r
        self._done = True

    def __enter__(self) -> RecordStream:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def problems(self) -> list[str]:
        """Everything the user should know that is not a record: file damage, key rows,
        and (after a full iteration) the key files that matched nothing."""
        lines = problem_lines(self.warnings, self.keys, self.decryptor)
        if self.keys is not None and self._done:
            from ipsec_inspect.crypto.key_usage import SeenSpis, key_match_lines

            seen = SeenSpis.of(self._seen_sa, self._seen_ike)
            lines.extend(key_match_lines(self.keys, seen))
        return lines

    def report_problems(self, fh: TextIO) -> None:
        for line in self.problems():
            fh.write(f"ipsec-inspect: warning: {line}\n")


def open_records(
    path: str | os.PathLike[str] | Sequence[str],
    options: DecodeOptions | None = None,
    key_paths: Sequence[str] = (),
    window: TimeWindow | None = None,
    extensions: Extensions | None = None,
) -> RecordStream:
    """The records of one capture or several merged (files, folders, ``-``, URLs),
    decrypted where the keys allow; ``extensions``: the run's tables (their dissector
    tables replace those of ``options``)."""
    options = _with_tables(options or DecodeOptions(), extensions)
    formats = extensions.key_formats if extensions is not None else ()
    keys = load_keys(key_paths, formats) if key_paths else None
    paths = os.fspath(path) if isinstance(path, str | os.PathLike) else list(path)
    return RecordStream(paths, options, keys, window=window)


def _with_tables(options: DecodeOptions, extensions: Extensions | None) -> DecodeOptions:
    """``options`` carrying the dissector tables of ``extensions`` (unchanged without)."""
    if extensions is None or options.extension_tables is extensions.dissectors:
        return options
    return dataclasses.replace(options, extension_tables=extensions.dissectors)


# --------------------------------------------------------------------------- full analysis


@dataclass(slots=True)
class Progress:
    """How far a run has read its input (for progress bars)."""

    frames: int
    records: int
    bytes_done: int
    bytes_total: int
    done: bool = False

    @property
    def fraction(self) -> float:
        if self.done:
            return 1.0
        return min(1.0, self.bytes_done / self.bytes_total) if self.bytes_total else 0.0


class Analysis:
    """The whole pipeline over one capture: decode, decrypt, track; views read from here.

    The core is sans-I/O (:meth:`feed_frame` takes frames from any source — a file or a
    live interface); :meth:`run` drives it over a capture file. What views need afterwards
    is kept compactly: the tracker's SA state, a :class:`PacketIndex` of the IPsec
    records, and frame offsets to re-read any record on demand.
    """

    def __init__(
        self,
        path: str | Sequence[str] | None,
        options: DecodeOptions | None = None,
        key_paths: Sequence[str] = (),
        config: TrackerConfig | None = None,
        *,
        keep_index: bool = True,
        keys: KeyStore | None = None,
        fast_lane: bool = True,
        decrypt_workers: int | None = None,
        offload_options: dict[str, int] | None = None,
        extensions: Extensions | None = None,
        window: TimeWindow | None = None,
        keep_frame: Callable[[int, bytes], bool] | None = None,
        skip_raw: Callable[[int, bytes, int, int], bool] | None = None,
        read_order: Sequence[int] | None = None,
        part_records: PartRecords | None = None,
    ) -> None:
        """``path``: one capture or several (files, folders, ``-``, fsspec URLs), merged
        by timestamp (``sources.multi``); ``window`` cuts the merged stream.
        ``keep_frame``: only frames it accepts are analysed, the others still count in the
        frame numbering — how one partition of a tunnel-partitioned run reads its share
        (``pipeline.dask_engine``); ``skip_raw`` and ``read_order`` let it do so without copying the
        other frames, when the inputs are known to follow one another in time
        (``MergedReader``'s ``skip_raw`` and ``sequential``). ``part_records``: read only
        these records (``sources.indexed``), which the survey found to be the partition's."""
        self.paths: list[str] = [path] if isinstance(path, str) else list(path or [])
        #: how the capture is named in messages and the export: the input, or the inputs
        self.path: str | None = ", ".join(self.paths) if self.paths else None
        self.window = window
        self.keep_frame = keep_frame
        self.skip_raw = skip_raw
        self.read_order = list(read_order) if read_order is not None else None
        self.part_records = part_records
        self.reader: MergedReader | None = None
        # The run's extension tables; without, the built-in rules and nothing else.
        self.extensions = extensions if extensions is not None else Extensions(rules=RULES)
        self.options = _with_tables(options or DecodeOptions(), extensions)
        self.key_paths = list(key_paths)
        self.keys = (
            keys
            if keys is not None
            else (
                load_keys(self.key_paths, self.extensions.key_formats) if self.key_paths else None
            )
        )
        self.config = config or TrackerConfig()
        self.keep_index = keep_index
        self.fast_lane = fast_lane
        # ESP decryption in other processes (crypto.offload): None chooses by cores and
        # capture size, 0 keeps it in this process. offload_options tune the read-ahead
        # (batch_frames, depth) — for tests, which want small batches.
        self.decrypt_workers = decrypt_workers
        self.offload_options = offload_options or {}
        self.offloaded = 0  # ESP packets that worker processes decrypted in the last run
        self.decoder = ipsec_decoder(self.options)
        self.decryptor: Decryptor | None = None
        if self.keys is not None:
            from ipsec_inspect.crypto.decryptor import Decryptor

            self.decryptor = Decryptor(self.keys, extension_tables=self.options.extension_tables)
        self.tracker = Tracker(
            self.config, spill=_spill_for(self.config), redissect=_redissect_for(self.decoder)
        )
        if self.keys is not None and self.keys.daemon_hints:
            self.tracker.add_hints(self.keys.daemon_hints)
        self.index = PacketIndex()
        self.flow_ids: dict[tuple[object, ...], int] = {}
        self.flow_keys: list[tuple[object, ...]] = []
        self.warnings = WarningLog()
        self.info: CaptureInfo | None = None
        self.records = 0
        self.frames_fed = 0  # frames given to feed_frame (a live capture's analysed frames)
        self.finished = False
        self._stores: dict[int, FrameStore] = {}
        self._result: TrackerResult | None = None
        #: the tracker's board of fast lanes, once the loop without keys holds a lane
        self._lane_board: LaneBoard | None = None

    # ------------------------------------------------------------------ sans-I/O core

    def _flow(self, r: Record) -> int:
        if isinstance(r, EspPacket):
            key: tuple[object, ...] = ("esp", r.meta.dst, r.spi)
        elif isinstance(r, AhPacket):
            key = ("ah", r.meta.dst, r.spi)
        elif isinstance(r, IkeMessage):
            key = ("ike", r.version, r.header.spi_i)
        else:
            key = ("other",)
        return self._flow_id(key)

    def _flow_id(self, key: tuple[object, ...]) -> int:
        fid = self.flow_ids.get(key)
        if fid is None:
            fid = self.flow_ids[key] = len(self.flow_keys)
            self.flow_keys.append(key)
        return fid

    def feed_frame(
        self,
        number: int,
        time: float,
        link_type: int,
        data: bytes,
        orig_len: int = 0,
        iface: int = 0,
        esp_decryption: EspDecryption | None = None,
    ) -> list[TrackerEvent]:
        """Decode, decrypt and track one frame; return the tracker's events.

        ``esp_decryption``: the fast lane already decrypted this frame's ESP packet (and
        counted it); it is attached instead of decrypting again.
        """
        self.frames_fed += 1
        records = self.decoder.decode(number, time, link_type, data, orig_len, iface)
        if not records:
            return []
        return self._track(records, esp_decryption)

    def _track(
        self, records: list[Record], esp_decryption: EspDecryption | None
    ) -> list[TrackerEvent]:
        """:meth:`feed_frame` after decoding: decrypt, track and index a frame's records."""
        events: list[TrackerEvent] = []
        process = self.decryptor.process if self.decryptor is not None else None
        index = self.index if self.keep_index else None
        for sub, r in enumerate(records):
            if esp_decryption is not None and type(r) is EspPacket:
                r.decryption = esp_decryption
            elif process is not None:
                r = process(r)
            self.records += 1
            events.extend(self.tracker.feed(r))
            if index is not None:
                index.frame.append(r.meta.frame)
                index.sub.append(min(sub, 255))
                index.kind.append(_kind_of(r))
                index.time.append(r.meta.time)
                index.flow.append(self._flow(r))
                index.flags.append(_flags_of(r))
        return events

    def finish(self) -> list[TrackerEvent]:
        self.warnings.extend(end_of_capture_warnings(self.decoder))
        end = self.info.last_time if self.info is not None else None
        events = self.tracker.finish(end)
        self._result = audit(self.tracker.result(), self.extensions.rules)
        self.finished = True
        return events

    # ------------------------------------------------------------------ file driver

    def open(self) -> MergedReader:
        """Open the captures (raising InputError for an unreadable one, naming it)."""
        if not self.paths:
            raise InputError("no capture file given")
        try:
            inputs = expand_inputs(self.paths)
            reader = (
                IndexedReader(inputs.names, self.part_records, keep=self.keep_frame)
                if self.part_records is not None
                else MergedReader(
                    inputs.names,
                    window=self.window,
                    keep=self.keep_frame,
                    index=self.keep_index,
                    offsets=self.keep_index,
                    skip_raw=self.skip_raw,
                    sequential=self.read_order,
                )
            )
        except CaptureError as e:
            raise InputError(str(e)) from None
        self.warnings.extend(CaptureWarning(0, line) for line in inputs.skipped)
        reader.on_warning = self.warnings.append
        self.reader = reader
        self.info = reader.info
        return reader

    def run(
        self,
        on_progress: Callable[[Progress], None] | None = None,
        on_events: Callable[[list[TrackerEvent]], None] | None = None,
        stop: Callable[[], bool] | None = None,
        progress_every: int = 20000,
    ) -> TrackerResult:
        """Read the whole capture; call ``on_progress`` every ``progress_every`` frames.

        The loop has a fast lane for the commonest frame of all — ESP (direct or in UDP 4500)
        on IPv4 without options or IPv6 without extension headers, unfragmented, on any link
        layer (see ``wire.fast_esp``), of a direction the tracker already knows, with the
        next sequence number: such a frame is read with a ``struct`` call or two, decrypted
        by its SA's :class:`FastEspSa` and
        counted by the tracker's lane counter without building a record. With keys and a
        large capture, decryption moves to worker processes (``offload_feed``). Every other
        frame (and any the tracker declines) takes the full path, so results are identical;
        ``tests/pipeline/test_session.py`` checks that. Without keys the loop is
        :meth:`_run_without_keys`, which has nothing to decrypt and so less to do per frame.
        """
        reader = self.open()
        if self.fast_lane and not self.config.mergeable and self.decryptor is None:
            self._run_without_keys(reader, on_progress, on_events, stop, progress_every)
        else:
            self._run_with_keys(reader, on_progress, on_events, stop, progress_every)
        events = self.finish()
        if on_events is not None and events:
            on_events(events)
        if on_progress is not None:
            total = reader.total_bytes
            on_progress(Progress(reader.info.frames, self.records, total, total, done=True))
        return self.result()

    def _run_with_keys(
        self,
        reader: MergedReader | IndexedReader,
        on_progress: Callable[[Progress], None] | None,
        on_events: Callable[[list[TrackerEvent]], None] | None,
        stop: Callable[[], bool] | None,
        progress_every: int,
    ) -> None:
        """:meth:`run`'s loop with keys (or with the fast lane off): the fast lane decrypts
        and counts, the read-ahead may decrypt in worker processes."""
        total = reader.total_bytes
        feed = self.feed_frame
        fast = self.fast_lane and not self.config.mergeable
        esp_fast = self.tracker.esp_fast
        decrypt_fast = self.decryptor.esp_fast if self.decryptor is not None else None
        ipv4_name = self.decoder.ipv4_name
        ipv6_name = self.decoder.ipv6_name
        locate = esp_locator(self.decoder.udp_special)
        index = self.index if self.keep_index else None
        flow_ids = self.flow_ids
        # (source+destination address bytes, SPI) -> the SA's lane (see _Lane), so the
        # packets after the first of an SA skip every lookup. A lane that declines a packet
        # is dropped; the packet takes the path below, which makes the lane again.
        lanes: dict[tuple[bytes, int], _Lane] = {}
        spi_seq = _SPI_SEQ.unpack_from
        frames: Iterable[Frame] = reader
        prepared: dict[int, EspDecryption] = {}  # frames a worker decrypted (OffloadFeed)
        ahead = None
        if fast:
            reported = [0]  # progress is reported every progress_every frames, as below

            def on_batch(last_frame: int) -> bool:
                if last_frame - reported[0] < progress_every:
                    return False
                reported[0] = last_frame
                if on_progress is not None:
                    done = self.records + (ahead.counted if ahead is not None else 0)
                    on_progress(Progress(last_frame, done, reader.bytes_read(), total))
                if stop is not None and stop():
                    reader.close()
                    return True
                return False

            ahead = self._offload_feed(total, lanes, index, on_batch)
        if ahead is not None:
            frames = ahead.frames(reader)
            prepared = ahead.prepared
        try:
            for number, time, link_type, data, orig_len, iface in frames:
                dec = prepared.pop(number, None) if prepared else None
                found = locate(link_type, data) if fast else None
                if found is not None:
                    addr_at, addr_end, esp_at, ip_end, ip_len = found
                    spi, seq = spi_seq(data, esp_at)
                    lane_key = (data[addr_at:addr_end], spi)
                    lane = lanes.get(lane_key)
                    if lane is not None:
                        sa, counter, flow = lane
                        if dec is None and sa is not None:
                            dec = sa.decrypt(data[esp_at:ip_end], number)
                        handled = (
                            counter.count(number, time, seq, ip_len, dec)
                            if dec is not None
                            else counter.count_plain(number, time, seq, ip_len, None, b"", 0, 0, -1)
                        )
                        if not handled:
                            del lanes[lane_key]  # made again once the full path is done
                    else:
                        half = (addr_end - addr_at) // 2  # 4: IPv4, 16: IPv6
                        name = ipv4_name if half == 4 else ipv6_name
                        src = name(data[addr_at : addr_at + half])
                        dst = name(data[addr_at + half : addr_end])
                        if dec is None and decrypt_fast is not None:
                            dec = decrypt_fast(number, spi, src, dst, data[esp_at:ip_end])
                        handled = (decrypt_fast is None or dec is not None) and esp_fast(
                            number, time, dst, spi, seq, ip_len, dec
                        )
                        flow = flow_ids.get(("esp", dst, spi), 0)
                        if handled:
                            lane = self._lane(dst, src, spi, flow)
                            if lane is not None:
                                if len(lanes) >= _MAX_LANES:
                                    lanes.clear()
                                lanes[lane_key] = lane
                                if ahead is not None and lane[0] is not None:
                                    ahead.offer(lane_key, lane[0])
                    if handled:
                        self.records += 1
                        if index is not None:
                            index.frame.append(number)
                            index.sub.append(0)
                            index.kind.append(RecordKind.ESP)
                            index.time.append(time)
                            index.flow.append(flow)
                            index.flags.append(0 if dec is None else (2 if dec.verified else 10))
                        if number % progress_every == 0 and on_progress is not None:
                            on_progress(Progress(number, self.records, reader.bytes_read(), total))
                        continue
                # The full path; an ESP packet already decrypted is not decrypted again.
                events = feed(number, time, link_type, data, orig_len, iface, dec)
                if events and on_events is not None:
                    on_events(events)
                if number % progress_every == 0:
                    if on_progress is not None:
                        on_progress(Progress(number, self.records, reader.bytes_read(), total))
                    if stop is not None and stop():
                        reader.close()
                        break
        finally:
            if ahead is not None:
                ahead.close()
                self.offloaded = ahead.decrypted
                self.records += ahead.counted

    def _run_without_keys(
        self,
        reader: MergedReader | IndexedReader,
        on_progress: Callable[[Progress], None] | None,
        on_events: Callable[[list[TrackerEvent]], None] | None,
        stop: Callable[[], bool] | None,
        progress_every: int,
    ) -> None:
        """:meth:`run`'s loop when there are no keys, with the fast lane on.

        Why a loop of its own: without keys nearly all of a run is this loop, so it keeps
        only what such a run needs. ESP directly in IPv4 on Ethernet is read with one
        ``struct`` call (``wire.fast_esp.ETH_IPV4_ESP``), every other frame is asked of the
        locator as in the keyed loop; a packet of a known direction is counted by its lane
        (``EspLane.count_nokey``), the first packet of a direction is offered to the
        tracker's lane (:meth:`_first_of_lane`), and anything else — a gap, a replay, IKE,
        other protocols — takes the full path, as in the keyed loop. Progress (and
        ``stop``) is looked at every ``progress_every`` frames, on either path.
        """
        total = reader.total_bytes
        locate = esp_locator(self.decoder.udp_special)
        eth_esp = ETH_IPV4_ESP.unpack_from
        eth_esp_min = ETH_IPV4_ESP_MIN
        spi_seq = _SPI_SEQ.unpack_from
        index = self.index if self.keep_index else None
        if index is not None:
            ix_frame, ix_sub, ix_kind = index.frame.append, index.sub.append, index.kind.append
            ix_time, ix_flow, ix_flags = index.time.append, index.flow.append, index.flags.append
        # (source+destination address bytes, SPI) -> (the direction's lane, its flow id)
        lanes: dict[tuple[bytes, int], tuple[EspLane, int]] = {}
        # The lanes count runs of packets that reach the SA model when their board is
        # flushed (EspLane.count_nokey): before any record is tracked, a lane is opened,
        # progress is reported, and at the end. ``dirty`` is the board's list of lanes
        # with a run (none before the first lane).
        board = self._lane_board
        dirty: list[EspLane] = board.dirty if board is not None else []
        watch = on_progress is not None or stop is not None
        counted = 0  # packets the lanes counted (added to self.records at the end)
        decode = self.decoder.decode
        track = self._track
        # First IKE_SA_INIT requests go to the tracker undissected (Tracker.defer_first)
        # when nothing reads them as they come: no listener for events, no packet index.
        defer_first = (
            self.tracker.defer_first
            if self.tracker.defers_first and on_events is None and index is None
            else None
        )
        locate_init = init_locator(self.decoder.udp_special)
        stats = self.decoder.stats
        ipv4_name, ipv6_name = self.decoder.ipv4_name, self.decoder.ipv6_name
        # ... and the commonest of them, in IPv4 on Ethernet, found in one struct call and
        # handed over as raw fields (no PacketMeta: most are evicted untouched)
        take_init = (
            eth_ipv4_taker(self.decoder.udp_special, ipv4_name, self.tracker.first_taker)
            if defer_first is not None
            else None
        )
        taken = 0  # requests take_init handed over (counted as frames at the end)
        # The first packet of a new orphan ESP SA goes to the tracker's nursery when no
        # listener wants its events as it comes (lifecycle/nursery.py): one tuple per
        # packet, registered (or evicted) by the tracker in bulk.
        nursery = self.tracker.nursery if on_events is None else None
        flow_id = self._flow_id
        if nursery is not None:
            n_items, n_spis, n_pairs, n_known = (
                nursery.items,
                nursery.spis,
                nursery.pairs,
                nursery.known,
            )
            n_append, n_spi, n_admit = n_items.append, n_spis.add, nursery.admit
            n_open, n_overflow = self.tracker.nursery_open, self.tracker.nursery_overflow
            nursed_from = nursery.taken
        seq_max = SEQ_MAX
        limit = 0  # the nursery's length at which its SAs pass the cap (once it has one)

        def report(number: int, counted: int) -> bool:
            """Progress at frame ``number``; True: stop here (the reader is closed)."""
            self._flush_lanes()
            if on_progress is not None:
                done = self.records + counted
                on_progress(Progress(number, done, reader.bytes_read(), total))
            if stop is not None and stop():
                reader.close()
                return True
            return False

        try:
            for number, time, link_type, data, orig_len, iface in reader:
                # The first request of a new IKE SA in IPv4 on Ethernet, before anything
                # ESP (which would not claim it): one struct call, handed over raw
                # (wire.fast_ike.eth_ipv4_taker, Tracker.defer_request). An ESP frame pays
                # two compares here (its byte 23 is 50); a flood's request skips reading
                # the frame as ESP first, a fifth of its cost.
                if (
                    len(data) >= ETH_IPV4_INIT_MIN
                    and data[23] == 17  # UDP, if IPv4 on Ethernet (the taker makes sure)
                    and take_init is not None
                    and link_type == LINKTYPE_ETHERNET
                    and data[37] != _NATT_LOW  # not to or from port 4500 (NAT-T ESP):
                    and data[35] != _NATT_LOW  # the locator's
                ):
                    if dirty:
                        self._flush_lanes()  # before any record is tracked, as below
                    if take_init(number, time, iface, data):
                        taken += 1
                        counted += 1
                        if watch and number % progress_every == 0 and report(number, counted):
                            break
                        continue
                plain = False  # ESP in plain IPv4 on Ethernet, unfragmented (as fast_esp reads)
                if link_type == LINKTYPE_ETHERNET and len(data) >= eth_esp_min:
                    et, vihl, ip_len, frag, proto, addrs, spi, seq = eth_esp(data)
                    if (
                        et == 0x0800
                        and vihl == 0x45
                        and proto == 50
                        and not frag & 0x3FFF
                        and 28 <= ip_len <= len(data) - 14
                    ):
                        # The commonest frame of all, of a direction with a lane: counted.
                        plain = True
                        lane = lanes.get((addrs, spi))
                        if lane is not None and lane[0].count_nokey(number, time, seq, ip_len):
                            counted += 1
                            if index is not None:
                                ix_frame(number)
                                ix_sub(0)
                                ix_kind(RecordKind.ESP)
                                ix_time(time)
                                ix_flow(lane[1])
                                ix_flags(0)
                            if watch and number % progress_every == 0 and report(number, counted):
                                break
                            continue
                        # The first packet of a new orphan SA, when nothing else can claim
                        # it: nursed (see lifecycle/nursery.py for these tests)
                        if lane is None and nursery is not None:
                            pair = n_pairs.get(addrs)
                            if pair is None:
                                pair = n_admit(addrs, ipv4_name(addrs[:4]), ipv4_name(addrs[4:]))
                            if (
                                pair is not None
                                and spi not in n_spis
                                and (spi, "esp") not in n_known
                                and seq < seq_max
                            ):
                                if dirty:
                                    self._flush_lanes()
                                if not n_items:
                                    limit = n_open()
                                n_spi(spi)
                                n_append((number, time, pair, spi, seq, ip_len))
                                if len(n_items) > limit:
                                    limit = n_overflow()
                                counted += 1
                                if index is not None:  # as _new_orphan's flow, in frame order
                                    ix_frame(number)
                                    ix_sub(0)
                                    ix_kind(RecordKind.ESP)
                                    ix_time(time)
                                    ix_flow(flow_id(("esp", pair[1], spi)))
                                    ix_flags(0)
                                if (
                                    watch
                                    and number % progress_every == 0
                                    and report(number, counted)
                                ):
                                    break
                                continue
                # Any other ESP packet the locator finds: a lane's packet in other framing,
                # the first packet of a direction, or one its lane declines.
                # (a plain frame is where fast_esp.locate would find it: read once above)
                found = (26, 34, 34, 14 + ip_len, ip_len) if plain else locate(link_type, data)
                if found is not None:
                    addr_at, addr_end, esp_at, _ip_end, ip_len = found
                    spi, seq = spi_seq(data, esp_at)
                    key = (data[addr_at:addr_end], spi)
                    lane = lanes.get(key)
                    if lane is None:
                        if dirty:
                            self._flush_lanes()
                        flow = self._first_of_lane(lanes, key, number, time, seq, ip_len)
                        if flow < 0 and plain:
                            flow = self._new_orphan(key, number, time, seq, ip_len, on_events)
                        if self._lane_board is not None:
                            dirty = self._lane_board.dirty
                    elif lane[0].count_nokey(number, time, seq, ip_len):
                        flow = lane[1]
                    else:
                        del lanes[key]  # made again once the full path is done
                        flow = -1
                    if flow >= 0:
                        counted += 1
                        if index is not None:
                            ix_frame(number)
                            ix_sub(0)
                            ix_kind(RecordKind.ESP)
                            ix_time(time)
                            ix_flow(flow)
                            ix_flags(0)
                        if watch and number % progress_every == 0 and report(number, counted):
                            break
                        continue
                # The first request of a new IKE SA, handed over undissected.
                if defer_first is not None:
                    init = locate_init(link_type, data)
                    if init is not None:
                        if dirty:
                            self._flush_lanes()
                        meta = init_meta(init, data, number, time, iface, ipv4_name, ipv6_name)
                        if defer_first(meta, data, init[4], init[5]):
                            self.frames_fed += 1
                            stats.frames += 1  # as decode() counts the frame
                            stats.ipsec_frames += 1
                            counted += 1
                            if watch and number % progress_every == 0 and report(number, counted):
                                break
                            continue
                # The full path: the lanes' runs reach the SA model before any record.
                self.frames_fed += 1
                records = decode(number, time, link_type, data, orig_len, iface)
                if records:
                    if dirty:
                        self._flush_lanes()
                    events = track(records, None)
                    if events and on_events is not None:
                        on_events(events)
                if watch and number % progress_every == 0 and report(number, counted):
                    break
        finally:
            self.records += counted
            self.frames_fed += taken
            stats.frames += taken  # as decode() counts each frame
            stats.ipsec_frames += taken
            self._flush_lanes()
            if nursery is not None:
                self.tracker.flush_nursery()
                nursed = nursery.taken - nursed_from  # as _new_orphan counts each frame
                self.frames_fed += nursed
                stats.frames += nursed
                stats.ipsec_frames += nursed

    def _flush_lanes(self) -> None:
        """Apply the runs the lanes counted (``EspLane.count_nokey``) to the SA model."""
        if self._lane_board is not None:
            self._lane_board.flush()

    def _first_of_lane(
        self,
        lanes: dict[tuple[bytes, int], tuple[EspLane, int]],
        key: tuple[bytes, int],
        number: int,
        time: float,
        seq: int,
        ip_len: int,
    ) -> int:
        """A packet without keys whose direction has no lane in the loop yet: counted by the
        tracker's lane when it has one (which the loop then keeps); its flow id, or -1 when
        it must take the full path."""
        addrs, spi = key
        half = len(addrs) // 2  # 4: IPv4, 16: IPv6
        name = self.decoder.ipv4_name if half == 4 else self.decoder.ipv6_name
        dst = name(addrs[half:])
        if not self.tracker.esp_fast(number, time, dst, spi, seq, ip_len, None):
            return -1
        flow = self.flow_ids.get(("esp", dst, spi), 0)
        counter = self.tracker.lane(dst, spi)
        if counter is not None:
            if len(lanes) >= _MAX_LANES:
                lanes.clear()
            lanes[key] = (counter, flow)
            self._lane_board = counter.board
        return flow

    def _new_orphan(
        self,
        key: tuple[bytes, int],
        number: int,
        time: float,
        seq: int,
        ip_len: int,
        on_events: Callable[[list[TrackerEvent]], None] | None,
    ) -> int:
        """The first packet of a brand-new ESP direction (ESP in plain IPv4 on Ethernet,
        unfragmented, no keys) registered by the tracker as a pending orphan without a
        record (``Tracker.esp_orphan``), counted as the record path counts it; its flow id,
        or -1 when it must take the full path.

        Why: in a flood of one-packet ESP SAs each packet is such a first packet, and
        decoding it into a record was most of what was left of its cost.
        """
        addrs, spi = key
        name = self.decoder.ipv4_name
        dst = name(addrs[4:])
        # what the decoder's IPv4 and ESP handlers make of this frame (wire.context.IpContext),
        # as far as the tracker reads it
        p = PendingOrphan(number, time, name(addrs[:4]), dst, Transport.IP, ip_len, False, spi, seq)
        events = self.tracker.esp_orphan(p, on_events is not None)
        if events is None:
            return -1
        self.frames_fed += 1
        stats = self.decoder.stats  # as decode() counts the frame
        stats.frames += 1
        stats.ipsec_frames += 1
        if events and on_events is not None:
            on_events(events)
        return self._flow_id(("esp", dst, spi)) if self.keep_index else 0

    def _offload_feed(
        self,
        size: int,
        lanes: dict[tuple[bytes, int], _Lane],
        index: PacketIndex | None,
        on_batch: Callable[[int], bool],
    ) -> OffloadFeed | None:
        """The read-ahead that decrypts ESP in worker processes, when it is worth it:
        keys given, other cores free, and a capture large enough to repay starting them."""
        if self.decryptor is None:
            return None
        workers = self.decrypt_workers
        if workers is None:
            # Two workers even on two cores: the read-ahead keeps a batch for this process
            # whenever they fall behind (OffloadFeed.max_backlog), so every core stays busy;
            # more than two would leave this process, which counts every packet, the
            # bottleneck (measured on the benchmark capture, see benchmarks/).
            workers = 2 if _usable_cores() >= 2 and size >= _OFFLOAD_MIN_BYTES else 0
        if workers <= 0:
            return None
        from ipsec_inspect.pipeline.offload_feed import OffloadFeed

        return OffloadFeed(
            self.decoder.udp_special, workers, lanes, index, on_batch, **self.offload_options
        )

    def _lane(self, dst: str, src: str, spi: int, flow: int) -> _Lane | None:
        """The fast lane of one ESP SA, once the tracker (and the decryptor) can give one."""
        counter = self.tracker.lane(dst, spi)
        if counter is None:
            return None
        if self.decryptor is None:
            return None, counter, flow
        sa = self.decryptor.fast_sa(spi, src, dst)
        return (sa, counter, flow) if sa is not None else None

    def result(self) -> TrackerResult:
        """The tracked and audited result (of the whole capture once :meth:`run` is done)."""
        if self._result is None:
            self._result = audit(self.tracker.result(), self.extensions.rules)
        return self._result

    def snapshot(self) -> TrackerResult:
        """The result so far, audited, while frames are still coming (the TUI's loading view)."""
        return audit(self.tracker.result(), self.extensions.rules)

    # ------------------------------------------------------------------ views' helpers

    def record(self, i: int) -> Record | None:
        """Record ``i`` of the packet index, re-read from the capture and decrypted again."""
        if not self.keep_index or not 0 <= i < len(self.index) or self.info is None:
            return None
        number = self.index.frame[i]
        sub = self.index.sub[i]
        frame = self.frame(number)
        if frame is None:
            return None
        # the time the streaming pass accepted, not the file's raw (maybe unusable) fields
        frame = (frame[0], self.index.time[i], *frame[2:])
        records = ipsec_decoder(self.options).decode(*frame)
        if sub >= len(records):
            return (
                None  # built from several frames (IP fragments, TCP stream): not re-readable alone
            )
        r = records[sub]
        if self.decryptor is not None:
            r = self.decryptor.process_again(r)
        return r

    @property
    def merged(self) -> bool:
        """Several inputs (or a time window): global frame numbers differ from the files'."""
        r = self.reader
        return r is not None and (len(r.names) > 1 or r.window.active)

    def origin(self, number: int) -> tuple[str, int] | None:
        """(input, frame number in that input) of global frame ``number``, if known."""
        if self.reader is None:
            return None
        i, n = self.reader.origin(number)
        return (self.reader.info.files[i].path, n) if i >= 0 else None

    def frame(self, number: int) -> tuple[int, float, int, bytes, int, int] | None:
        """Global frame ``number`` read back from its input (standard input and URLs
        cannot be read back: the TUI spools standard input to a file first)."""
        reader = self.reader
        if reader is None or reader.file_offsets is None:
            return None
        i, n = reader.origin(number)
        if i < 0:
            return None
        name = reader.names[i]
        store = self._stores.get(i)
        if store is None:
            if name == STDIN or is_url(name):
                return None
            store = self._stores[i] = FrameStore(
                name, reader.readers[i].info, reader.file_offsets[i]
            )
        frame = store.frame(n)
        if frame is None:
            return None
        return (number, *frame[1:])

    def problems(self) -> list[str]:
        """Capture damage, key-file rows that were skipped, decryption problems per SA, and
        (once the run is done) each key file that matched nothing or added nothing."""
        lines = problem_lines(self.warnings, self.keys, self.decryptor)
        if self.keys is not None and self._result is not None:
            lines.extend(key_match_problems(self.keys, self._result))
        return lines

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()


_SPI_SEQ = struct.Struct("!II")
_MAX_LANES = 65536
#: below this capture size, starting worker processes costs more than it saves
_OFFLOAD_MIN_BYTES = 16 << 20


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _kind_of(r: Record) -> int:
    if isinstance(r, IkeMessage):
        return RecordKind.IKE
    if isinstance(r, EspPacket):
        return RecordKind.ESP
    if isinstance(r, AhPacket):
        return RecordKind.AH
    if isinstance(r, NatKeepalive):
        return RecordKind.KEEPALIVE
    return RecordKind.MALFORMED


#: index flag of a packet decrypted without an integrity check (with bit 1, "decrypted")
UNVERIFIED_FLAG = 8


def _flags_of(r: Record) -> int:
    flags = 0
    if isinstance(r, Malformed) or getattr(r, "errors", None):
        flags |= 1
    if isinstance(r, EspPacket) and r.decryption is not None:
        if r.decryption.status == "ok":
            flags |= 2 if r.decryption.verified else 2 | UNVERIFIED_FLAG
        else:
            flags |= 4
    elif isinstance(r, IkeMessage) and r.decryption_status is not None:
        flags |= (
            2
            if r.decryption_status == "ok"
            else (4 if r.decryption_status not in ("no-key",) else 0)
        )
    elif isinstance(r, AhPacket) and r.icv_status is not None:
        flags |= 2 if r.icv_status == "ok" else 4
    return flags


def _redissect_for(decoder: Decoder) -> Redissect:
    """The decoder's IKE dissector with this run's tables: what the tracker rebuilds a
    half-open SA kept as its message with (``lifecycle.parked``), handed in because the
    lifecycle layer imports no dissector."""
    ike, tables = decoder.dissectors.ike, decoder.options.extension_tables

    def redissect(data: bytes, offset: int, end: int, meta: PacketMeta) -> IkeMessage:
        return ike(data, offset, end, meta, tables)

    return redissect


def _spill_for(config: TrackerConfig) -> SpillFile | None:
    """The temporary file half-open IKE SAs are parked in, when the run parks them."""
    return SpillFile() if config.park_half_open is not None and not config.mergeable else None
