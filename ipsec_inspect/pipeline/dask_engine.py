"""Tunnel-partitioned analysis on Dask: local processes, a cluster, or in-process.

Why Dask (``dask[distributed]``): scheduling, retries of failed tasks, worker processes
on one machine (``LocalCluster``) or many (``dask scheduler`` / ``dask worker``), and
fsspec URLs for inputs the workers read themselves — none of it ours to write.

A run has three steps, each a set of independent tasks:

1. **survey** — every input, large local ones cut into byte ranges on record boundaries
   (``sources.byte_ranges``), is read once to count frames and bytes per tunnel and note
   the IKE and ESP SPIs that tie tunnels together (``pipeline.fast_survey`` for a plain
   pcap, else ``pipeline.tunnels.survey``); each task also keeps its piece's record
   index (offset and tunnel code per record) on its worker, and the driver fetches only
   the per-tunnel facts;
2. **partitions** — the tunnels are packed into as many partitions as there are workers
   (``pipeline.tunnels.plan``); where the inputs allow it (``pipeline.partition_index``),
   one small task per (piece, span of its index, partition) cuts that partition's
   records out of the piece's index where it lies, and each partition task fetches only
   its own cuts, one at a time, and reads only its own records (per-record data beyond
   ``partition_index.SPILL_BYTES`` waits in worker-local files, so no task's memory grows
   with the capture); otherwise it reads the merged inputs (``sources.multi``:
   the same global frame numbers everywhere) and passes over other tunnels' frames. Each
   runs the ordinary pipeline (``session.Analysis``, fast lane included);
3. **union** — partitions that turned out related (``pipeline.union.conflicts``) are merged and run
   again; then the results become one (``pipeline.union.union``), equal to a single pass.

Decoding, decryption and tracking — the expensive part — are never repeated. Keys never
travel: workers load the key files themselves, and send derived keys back only when the
export is to include keys.

Failures: Dask retries a failed task (``retries``). An input that still cannot be read is
reported by name and left out (the partitions are then run without it, so all agree); a
partition that fails on every try is reported with its tunnels, and the rest of the
result still comes back.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import os
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ipsec_inspect.audit.rules import RULES
from ipsec_inspect.core.errors import InputError
from ipsec_inspect.core.extensions import Extensions
from ipsec_inspect.core.records import CaptureWarning
from ipsec_inspect.lifecycle.events import SaOpened, TrackerEvent
from ipsec_inspect.lifecycle.tracker import TrackerConfig
from ipsec_inspect.pipeline.fast_survey import survey_pcap
from ipsec_inspect.pipeline.partition_index import (
    IndexSink,
    Layout,
    Limits,
    PieceCut,
    PieceIndex,
    cut_piece,
    layout,
    part_records,
    part_size,
    piece_index,
    spans,
)
from ipsec_inspect.pipeline.session import Analysis
from ipsec_inspect.pipeline.tunnels import FrameCodes, Plan, Skip, Survey, plan, survey
from ipsec_inspect.pipeline.union import PartResult, Union, conflicts, union
from ipsec_inspect.sources.byte_ranges import (
    ByteRange,
    NotSplittable,
    read_range,
    split_capture,
    whole_file,
)
from ipsec_inspect.sources.capture_file import CaptureError, CaptureReader
from ipsec_inspect.sources.multi import (
    STDIN,
    MergedInfo,
    TimeWindow,
    expand_inputs,
    input_size,
    is_url,
)
from ipsec_inspect.wire.decoder import DecodeOptions

if TYPE_CHECKING:
    from distributed import Client

T = TypeVar("T")
R = TypeVar("R")

#: byte ranges per worker for the survey of one large file (so that faster workers
#: take more of them)
RANGES_PER_WORKER = 4
#: a range smaller than this is not worth a task of its own
MIN_RANGE = 8 << 20
#: how often Dask runs a failed task again before it counts as failed
RETRIES = 2


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class PartTask:
    """Everything a worker needs for one partition (picklable; no key material)."""

    partition: int
    inputs: tuple[str, ...]
    plan: Plan
    options: DecodeOptions
    key_paths: tuple[str, ...]
    config: TrackerConfig
    window: TimeWindow | None
    include_keys: bool = False
    #: the dissector tables and key formats of the run (rules and exporters stay with the
    #: driver, which audits the union); a plugin's must be importable on the workers
    extensions: Extensions | None = None
    #: the inputs' order when merging is reading them one after another (else None)
    read_order: tuple[int, ...] | None = None
    #: read only the partition's own records: the survey's cuts of them (per piece of
    #: ``layout``, handles on its spans' cuts, fetched one at a time as they are read)
    indexed: bool = False
    layout: Layout | None = None
    cuts: tuple[tuple[Any, ...], ...] = ()
    spans: tuple[tuple[int, ...], ...] = ()  # per piece: its spans' index positions
    #: what the survey says of those records: how many, their bytes, and whether some
    #: tunnels were not written down (the partition decides those frames itself)
    records: int = 0
    record_bytes: int = 0
    check: bool = False


class TaskFailed(Exception):
    """A task that failed for a reason that names an input (so it can be left out)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def _here(limits: Limits | None) -> Limits:
    """``limits`` with the spill directory of the worker running the task (its local
    directory: never shared storage), unless one was given."""
    limits = limits or Limits()
    if limits.directory is None:
        try:
            from distributed import get_worker

            return replace(limits, directory=get_worker().local_directory)
        except (ImportError, ValueError):  # not on a Dask worker
            pass
    return limits


def survey_task(
    r: ByteRange, limits: Limits | None = None
) -> tuple[ByteRange, Survey, int, PieceIndex | None]:
    """Survey one byte range (or a whole input), and index its records where partitions
    can then read only their own (``pipeline.partition_index``)."""
    limits = _here(limits)
    size = r.end - r.start if r.end >= 0 else input_size(r.path)
    fast = survey_pcap(r, limits)
    if fast is not None:
        return r, fast[0], size, fast[1]
    offsets: array[int] = array("Q")
    readers: list[CaptureReader] = []
    codes = FrameCodes()
    try:
        sink = IndexSink(r, offsets, codes, limits)
        s = survey(sink.frames(read_range(r, offsets, readers.append)), codes)
    except CaptureError as e:
        raise TaskFailed(r.path, str(e)) from None
    except OSError as e:
        raise TaskFailed(r.path, f"{r.path}: {e}") from None
    return r, s, size, piece_index(r, s, sink, readers, codes, limits)


def cut_task(
    piece: tuple[ByteRange, Survey, int, PieceIndex | None],
    table: bytes,
    first: int,
    span: tuple[int, int],
    limits: Limits | None = None,
) -> PieceCut:
    """``partition_index.cut_piece`` where the piece's index is, spilling there."""
    return cut_piece(piece, table, first, span, _here(limits))


def survey_facts(
    piece: tuple[ByteRange, Survey, int, PieceIndex | None],
) -> tuple[ByteRange, Survey, int, tuple[list[bytes], int] | None]:
    """What the driver needs of a survey task's result: not its record index, only the
    tunnel of each code and where the piece's last record ends (None: no index)."""
    idx = piece[3]
    return piece[0], piece[1], piece[2], (idx.tunnels, idx.end) if idx is not None else None


def chained(pieces: Sequence[tuple[ByteRange, int | None]]) -> bool:
    """Whether every indexed piece's last record ends where the next piece of its file
    starts (``pieces``: each range and where its index ends).

    Why: a byte-range boundary is found by plausible record headers; a false one inside
    a frame (possible in data that looks like headers, e.g. times near 1970 and zero
    padding) would give a range that starts with a made-up record. The reader of the
    range before it reads its last record past the boundary, so its end shows the
    mismatch; then the records are not read by index (the whole-file path is exact)."""
    by_file: dict[str, list[tuple[int, int, int | None]]] = {}
    for r, end in pieces:
        by_file.setdefault(r.path, []).append((r.index, r.start, end))
    for ps in by_file.values():
        ps.sort()
        for (_k, _s, end), (_k2, start, _e) in itertools.pairwise(ps):
            if end is None or end != start:
                return False
    return True


def part_task(task: PartTask) -> PartResult:
    """Run the pipeline on one partition's tunnels (when ``task.indexed``: reading only
    its own records, fetching their cuts one at a time)."""
    started = time.process_time()
    records = None
    if task.indexed and task.layout is not None:
        records = part_records(
            task.layout,
            task.cuts,
            total_bytes=task.record_bytes,
            check=task.check,
            positions=task.spans or None,
            fetch_many=_fetch_many,
        )
        records.count = task.records
    alone = len(task.plan.ids) == 1  # one partition: every frame is its own
    sequential = task.read_order is not None
    opened: list[tuple[str, str, int]] = []

    def note(events: list[TrackerEvent]) -> None:
        for e in events:
            if isinstance(e, SaOpened):
                opened.append((e.kind, e.sa, e.frame))

    try:
        analysis = Analysis(
            list(task.inputs),
            task.options,
            task.key_paths,
            # a partition's SAs are pickled to the merge whole: none kept as its message
            replace(task.config, compact_half_open=False),
            extensions=task.extensions,
            keep_index=False,
            decrypt_workers=0,  # the cluster is the parallelism; see docs/scale-out.md
            window=task.window,
            keep_frame=task.plan.keep(task.partition) if alone is False else None,
            skip_raw=Skip(task.plan, task.partition)
            if sequential and not alone and records is None
            else None,
            read_order=task.read_order if sequential and records is None else None,
            part_records=records,
        )
        result = analysis.run(on_events=note)
    except InputError as e:
        text = str(e)
        name = next((n for n in task.inputs if text.startswith(f"{n}:")), "")
        raise TaskFailed(name, text) from None
    info = analysis.info
    assert isinstance(info, MergedInfo)
    reader_warnings = {id(w) for w in info.warnings}
    skipped = [w for w in analysis.warnings if w.frame == 0 and id(w) not in reader_warnings]
    capture_warnings = [*skipped, *info.warnings]
    listed = {id(w) for w in capture_warnings}
    decoder_warnings = [w for w in analysis.warnings if id(w) not in listed]
    problems = [*(analysis.keys.problems if analysis.keys else [])]
    if analysis.decryptor is not None:
        problems += analysis.decryptor.problems()
    return PartResult(
        partition=task.partition,
        result=result,
        opened=opened,
        info=info,
        capture_warnings=capture_warnings,
        decoder_warnings=decoder_warnings,
        problems=problems,
        records=analysis.records,
        seconds=time.process_time() - started,
        keys=analysis.keys if task.include_keys else None,
        tunnels=sum(1 for p in task.plan.assign.values() if p == task.partition),
    )


# --------------------------------------------------------------------------- executors


@dataclass
class Outcome:
    item: Any
    value: Any = None
    error: BaseException | None = None


class Executor(Protocol):
    workers: int

    def map(
        self,
        fn: Callable[..., R],
        items: Sequence[T],
        on_done: Callable[[Outcome], None],
        extras: Sequence[Sequence[Any]] = (),
    ) -> list[Outcome]:
        """``fn(item, *values of extras[i])`` for every item (``extras``: none, or one
        sequence of handles from :meth:`keep` / :meth:`keep_calls` per item)."""
        ...

    def keep(self, fn: Callable[[T], R], items: Sequence[T]) -> list[Any]:
        """Start ``fn(item)`` for every item and keep the results where they are computed
        (on the workers): handles for :meth:`map`'s ``extras`` and :meth:`map_kept`."""
        ...

    def keep_calls(self, fn: Callable[..., R], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Start ``fn(*args)`` for every ``args`` of ``calls`` (a handle from :meth:`keep`
        stands for its value, and the call runs where that value is) and keep the
        results there: handles, as from :meth:`keep`."""
        ...

    def map_kept(
        self,
        fn: Callable[[Any], R],
        kept: Sequence[Any],
        items: Sequence[T],
        on_done: Callable[[Outcome], None],
    ) -> list[Outcome]:
        """``fn(result)`` of every kept result; ``items`` name them in the outcomes."""
        ...

    def refs(self, kept: Sequence[Any]) -> list[Any]:
        """Picklable handles on kept results whose ``get()`` a task may call to fetch
        one when it needs it; returns once every one is computed (so that a worker's
        single thread never waits for a task queued behind the one asking). The kept
        handles must stay alive while the refs are used."""
        ...

    def close(self) -> None: ...


@dataclass
class _Kept:
    """A result kept by :class:`SyncExecutor` (its error is raised where it is used)."""

    value: Any
    error: BaseException | None

    def get(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class SyncExecutor:
    """Every task in this process, one after the other (tests: ``scheduler="sync"``)."""

    def __init__(self, workers: int = 1, retries: int = RETRIES) -> None:
        self.workers = workers
        self.retries = retries

    def map(
        self,
        fn: Callable[..., R],
        items: Sequence[T],
        on_done: Callable[[Outcome], None],
        extras: Sequence[Sequence[Any]] = (),
    ) -> list[Outcome]:
        out = []
        for k, item in enumerate(items):
            o = Outcome(item)
            for _attempt in range(self.retries + 1):
                try:
                    args = [h.get() for h in extras[k]] if extras else []
                    o.value, o.error = fn(item, *args), None
                    break
                except Exception as e:
                    o.error = e
            on_done(o)
            out.append(o)
        return out

    def keep(self, fn: Callable[[T], R], items: Sequence[T]) -> list[Any]:
        return [_Kept(o.value, o.error) for o in self.map(fn, items, lambda o: None)]

    def keep_calls(self, fn: Callable[..., R], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        out = []
        for args in calls:
            try:
                value = fn(*(a.get() if isinstance(a, _Kept) else a for a in args))
                out.append(_Kept(value, None))
            except Exception as e:
                out.append(_Kept(None, e))
        return out

    def refs(self, kept: Sequence[Any]) -> list[Any]:
        return list(kept)  # in this process: the kept results themselves

    def map_kept(
        self,
        fn: Callable[[Any], R],
        kept: Sequence[Any],
        items: Sequence[T],
        on_done: Callable[[Outcome], None],
    ) -> list[Outcome]:
        out = []
        for k, item in zip(kept, items, strict=True):
            o = Outcome(item)
            try:
                o.value = fn(k.get())
            except Exception as e:
                o.error = e
            on_done(o)
            out.append(o)
        return out

    def close(self) -> None:
        return None


class DaskExecutor:
    """Tasks on a Dask cluster, retried by Dask (``retries``), in any order."""

    def __init__(self, client: Client, *, owns: Iterable[Any] = (), retries: int = RETRIES):
        self.client = client
        self.retries = retries
        self._owned = list(owns)
        self.workers = max(1, len(client.scheduler_info().get("workers", {})))

    def map(
        self,
        fn: Callable[..., R],
        items: Sequence[T],
        on_done: Callable[[Outcome], None],
        extras: Sequence[Sequence[Any]] = (),
    ) -> list[Outcome]:
        if not items:
            return []
        futures = [
            self.client.submit(
                fn, item, *(extras[k] if extras else ()), retries=self.retries, pure=False
            )
            for k, item in enumerate(items)
        ]
        return self._collect(futures, items, on_done)

    def keep_calls(self, fn: Callable[..., R], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        if not calls:
            return []
        columns = [list(c) for c in zip(*calls, strict=True)]
        return list(self.client.map(fn, *columns, retries=self.retries, pure=False))

    def keep(self, fn: Callable[[T], R], items: Sequence[T]) -> list[Any]:
        if not items:
            return []
        return list(self.client.map(fn, list(items), retries=self.retries, pure=False))

    def refs(self, kept: Sequence[Any]) -> list[Any]:
        from distributed import wait

        wait(list(kept))
        return [
            _FutureRef(f.key, f"{f.exception()!r}" if f.status == "error" else None) for f in kept
        ]

    def map_kept(
        self,
        fn: Callable[[Any], R],
        kept: Sequence[Any],
        items: Sequence[T],
        on_done: Callable[[Outcome], None],
    ) -> list[Outcome]:
        if not items:
            return []
        futures = list(self.client.map(fn, list(kept), pure=False))
        return self._collect(futures, items, on_done)

    def _collect(
        self, futures: list[Any], items: Sequence[Any], on_done: Callable[[Outcome], None]
    ) -> list[Outcome]:
        from distributed import as_completed

        where = {f.key: i for i, f in enumerate(futures)}
        out: list[Outcome] = [Outcome(item) for item in items]
        for f in as_completed(futures):
            o = out[where[f.key]]
            if f.status == "error":
                o.error = f.exception()
            elif f.status == "cancelled":
                o.error = RuntimeError("task cancelled (its worker was lost on every try)")
            else:
                try:
                    o.value = f.result()
                except Exception as e:  # a result that cannot be fetched is a failure too
                    o.error = e
            f.release()
            on_done(o)
        return out

    def close(self) -> None:
        self.client.close()
        for thing in reversed(self._owned):
            thing.close()


@dataclass(frozen=True)
class _FutureRef:
    """A Dask result by its key, fetched by the task that needs it (the driver holds
    the future, so the result stays until the run is done with it)."""

    key: Any
    error: str | None = None  # the task failed on every try: this, not its result

    def get(self) -> Any:
        from distributed import Future, get_client

        if self.error is not None:
            raise RuntimeError(f"a cut of the survey's index failed: {self.error}")
        # computed already (``refs`` waited): a new handle learns nothing from the
        # scheduler by itself, so it is told the result is in memory (the state is the
        # name of a client state handler, whatever the annotation of ``Future`` says)
        f: Any = Future(self.key, get_client(), state="memory")  # type: ignore[arg-type]
        try:
            return f.result()
        finally:
            f.release()


def _fetch_many(refs: Sequence[Any]) -> list[Any]:
    """Several kept results in one round trip (Dask), or one by one (in-process)."""
    if not refs or not all(isinstance(r, _FutureRef) for r in refs):
        return [r.get() for r in refs]
    from distributed import Future, get_client

    for r in refs:
        if r.error is not None:
            r.get()  # raises
    client = get_client()
    futures: list[Any] = [
        Future(r.key, client, state="memory")  # type: ignore[arg-type]
        for r in refs
    ]
    try:
        return list(client.gather(futures))
    finally:
        for f in futures:
            f.release()


def executor_for(scheduler: str | None, workers: int | None) -> Executor:
    """``"sync"``: in-process; an address: that cluster; else a ``LocalCluster`` of
    ``workers`` processes (one thread each: the work is pure Python)."""
    if scheduler == "sync":
        return SyncExecutor(workers or 1)
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - a declared dependency
        raise InputError("--workers/--scheduler need dask[distributed] installed") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout=10)
        except (OSError, TimeoutError) as e:
            raise InputError(f"--scheduler {scheduler}: cannot connect ({e})") from None
        _warm_up(client)
        return DaskExecutor(client)
    n = max(1, workers or 1)
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit=0,
        silence_logs=40,
    )
    client = Client(cluster)
    _warm_up(client)
    return DaskExecutor(client, owns=[cluster])


#: what the tasks import: loaded on every worker when the executor starts, so that no
#: task's time (the run's) includes it — a long-lived cluster pays it once
TASK_MODULES = (
    "ipsec_inspect.pipeline.dask_engine",
    "ipsec_inspect.crypto.decryptor",
    "ipsec_inspect.crypto.keys",
)


def import_task_modules() -> None:
    for name in TASK_MODULES:
        importlib.import_module(name)


def _warm_up(client: Client) -> None:
    """Import the tasks' modules on every worker now (see :data:`TASK_MODULES`)."""
    try:
        client.run(import_task_modules)
    except Exception:  # a worker that cannot import fails its tasks, named there
        pass


# --------------------------------------------------------------------------- the run


@dataclass
class RunReport:
    """How the work was cut and what it cost: for the benchmark and docs/scale-out.md."""

    partitions: int = 0
    ranges: int = 0
    reruns: int = 0
    survey_seconds: float = 0.0
    partition_seconds: float = 0.0
    union_seconds: float = 0.0
    part_seconds: list[float] = field(default_factory=list)
    part_records: list[int] = field(default_factory=list)
    failed_inputs: list[str] = field(default_factory=list)
    sequential: bool = False  # the inputs followed one another: no heap, cheap skipping
    indexed: bool = False  # partitions read only their own records (survey's index)


#: (what, done, total): "bytes" surveyed, "partitions" finished
ProgressFn = Callable[[str, int, int], None]


def _ranges(names: Sequence[str], workers: int, local: bool) -> list[ByteRange]:
    """Byte ranges for the survey: large local uncompressed files are cut, into as many
    pieces as the workers need in all (many inputs already are enough pieces: every
    piece costs tasks — its survey, its facts, a cut per partition)."""
    out: list[ByteRange] = []
    wanted = -(-RANGES_PER_WORKER * workers // max(1, len(names)))  # pieces per input
    for name in names:
        if name == STDIN or is_url(name):
            out.append(whole_file(name))
            continue
        size = input_size(name)
        pieces = min(wanted, max(1, size // MIN_RANGE))
        try:
            out.extend(
                split_capture(name, pieces, min_size=MIN_RANGE)
                if pieces > 1
                else [whole_file(name)]
            )
        except CaptureError:
            out.append(whole_file(name))  # the survey task reports it
    return out


class _PartProgress:
    """Counts finished partitions for the progress bar."""

    def __init__(self, progress: ProgressFn | None, done: int, total: int) -> None:
        self.progress, self.done, self.total = progress, done, total

    def __call__(self, o: Outcome) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress("partitions", min(self.done, self.total), self.total)


def read_order(
    names: Sequence[str], pieces: Sequence[tuple[ByteRange, Survey]]
) -> list[int] | None:
    """The inputs' order if merging them by timestamp is reading them one after another:
    every input in time order and none overlapping the next (a ring, one file). Ties at
    a boundary go to the input named first, as in the merge, so they must be in order."""
    facts: dict[str, list[tuple[int, Survey]]] = {}
    for r, s in pieces:
        facts.setdefault(r.path, []).append((r.index, s))
    spans: list[tuple[float, int, float]] = []  # (first, input index, last)
    empty: list[int] = []
    for i, name in enumerate(names):
        if name not in facts:
            return None  # not surveyed: nothing is known about its times
        ranges = [s for _k, s in sorted(facts[name], key=lambda x: x[0])]
        last: float | None = None
        first: float | None = None
        for s in ranges:
            if not s.in_order:
                return None
            if s.first_time is None or s.last_time is None:
                continue
            if last is not None and s.first_time < last:
                return None
            if first is None:
                first = s.first_time
            last = s.last_time
        if first is None or last is None:
            empty.append(i)
        else:
            spans.append((first, i, last))
    spans.sort()
    for (_f, a, last), (first, b, _l) in itertools.pairwise(spans):
        if first < last or (first == last and b < a):
            return None
    return [i for _f, i, _l in spans] + empty


def _table(the_plan: Plan, partition: int, tunnels: Sequence[bytes]) -> bytes:
    """A piece's codes -> 1 if the partition wants the tunnel (``FrameCodes.table``)."""

    def mine(t: bytes) -> bool:
        return the_plan.partition_of(t) == partition

    return FrameCodes(tunnels=list(tunnels)).table(mine)


def run_partitioned(
    paths: Sequence[str],
    options: DecodeOptions,
    key_paths: Sequence[str],
    config: TrackerConfig,
    *,
    window: TimeWindow | None = None,
    executor: Executor,
    partitions: int | None = None,
    include_keys: bool = False,
    progress: ProgressFn | None = None,
    report: RunReport | None = None,
    extensions: Extensions | None = None,
    limits: Limits | None = None,
) -> Union:
    """The tunnel-partitioned run; the result equals ``Analysis.run`` on the same inputs.
    ``limits``: how much per-record data the survey and cut tasks keep in memory."""
    limits = limits or Limits()
    surveyor = functools.partial(survey_task, limits=limits)
    report = report if report is not None else RunReport()
    try:
        inputs = expand_inputs(paths)
    except CaptureError as e:
        raise InputError(str(e)) from None
    if STDIN in inputs.names:
        raise InputError(
            "standard input cannot be shared with Dask workers; write it to a file first "
            "(or use --workers 0)"
        )
    for key in key_paths:
        if not os.path.exists(key):
            raise InputError(f"{key}: no such key file or folder")
    names = list(inputs.names)
    failed: dict[str, str] = {}
    n_parts = max(1, partitions or executor.workers)

    # 1. survey (one partition needs no plan: every frame is its own)
    t0 = time.perf_counter()
    ranges = _ranges(names, executor.workers, True) if n_parts > 1 else []
    report.ranges = len(ranges)
    total = sum(input_size(n) for n in names)
    done_bytes = [0]

    def surveyed(o: Outcome) -> None:
        if o.error is None:
            done_bytes[0] += o.value[2]
            if progress is not None:
                progress("bytes", done_bytes[0], total)

    # the pieces' record indexes stay on the workers; the driver fetches the small facts
    kept = executor.keep(surveyor, ranges)
    outcomes = executor.map_kept(survey_facts, kept, ranges, surveyed)
    handle = {(r.path, r.index): k for r, k in zip(ranges, kept, strict=True)}
    again = sorted({o.item.path for o in outcomes if isinstance(o.error, NotSplittable)})
    if again:  # pcapng with interface blocks between packets: survey those files whole
        outcomes = [o for o in outcomes if o.item.path not in again]
        whole = [whole_file(p) for p in again]
        kept = executor.keep(surveyor, whole)
        outcomes += executor.map_kept(survey_facts, kept, whole, surveyed)
        handle.update({(r.path, r.index): k for r, k in zip(whole, kept, strict=True)})
    total_survey = Survey()
    for o in outcomes:
        if o.error is not None:
            name = o.error.name if isinstance(o.error, TaskFailed) else o.item.path
            failed.setdefault(name, str(o.error))
        else:
            total_survey.add(o.value[1])
    names = [n for n in names if n not in failed]
    pieces = [(o.value[0], o.value[1]) for o in outcomes if o.error is None]
    indexed = {
        (o.value[0].path, o.value[0].index): o.value[3][0] if o.value[3] is not None else None
        for o in outcomes
        if o.error is None
    }
    ends = [
        (o.value[0], o.value[3][1] if o.value[3] is not None else None)
        for o in outcomes
        if o.error is None
    ]
    order = read_order(names, pieces)
    report.sequential = order is not None
    report.survey_seconds = time.perf_counter() - t0
    if not names:
        raise InputError("; ".join(failed.values()) or "no capture could be read")

    # 2. partitions, run again as one where they turn out related
    worker_tables = (
        Extensions(dissectors=extensions.dissectors, key_formats=extensions.key_formats)
        if extensions is not None
        else None
    )
    t1 = time.perf_counter()
    the_plan = plan(total_survey, n_parts)
    parts: dict[int, PartResult] = {}
    part_failures: dict[int, str] = {}
    todo = the_plan.ids
    for _round in range(n_parts + len(names) + 1):
        if not todo:
            break
        sequential = order is not None and (window is None or not window.active)
        use_index = (
            sequential
            and all(indexed.get((r.path, r.index)) is not None for r, _sv in pieces)
            and chained([(r, end) for r, end in ends if r.path in names])
        )
        report.indexed = use_index
        the_layout = layout(names, order, pieces) if use_index and order is not None else None
        kept_cuts: list[Any] = []  # the cut futures: alive until the partitions are done
        cut_refs: dict[int, tuple[tuple[Any, ...], ...]] = {}
        widths: tuple[tuple[int, ...], ...] = ()
        sizes: dict[int, tuple[int, int, bool]] = {}
        if the_layout is not None:
            # cut tasks per (piece, span of its index, partition), where the piece's
            # index is; each partition task then fetches its cuts one at a time
            calls: list[tuple[Any, ...]] = []
            shape: list[tuple[int, int, int]] = []  # (partition, layout piece, spans)
            for p in todo:
                for j, (_i, k, first) in enumerate(the_layout.pieces):
                    r, sv = pieces[k]
                    tunnels = indexed[(r.path, r.index)] or []
                    table = _table(the_plan, p, tunnels)
                    these = spans(sv.count, limits)
                    calls += [
                        (handle[(r.path, r.index)], table, first, span, limits) for span in these
                    ]
                    shape.append((p, j, len(these)))
            facts = [(sv, list(indexed[(r.path, r.index)] or [])) for r, sv in pieces]
            placed = [facts[k] for _i, k, _first in the_layout.pieces]
            for p in todo:
                sizes[p] = part_size(the_plan.partition_of, p, placed)
            kept_cuts = executor.keep_calls(cut_task, calls)
            refs = iter(executor.refs(kept_cuts))
            per: dict[int, list[tuple[Any, ...]]] = {}
            for p, _j, n in shape:
                per.setdefault(p, []).append(tuple(itertools.islice(refs, n)))
            cut_refs = {p: tuple(v) for p, v in per.items()}
            widths = tuple(
                tuple(hi - lo for lo, hi in spans(pieces[k][1].count, limits))
                for _i, k, _first in the_layout.pieces
            )
        tasks = [
            PartTask(
                p,
                tuple(names),
                the_plan,
                options,
                tuple(key_paths),
                config,
                window,
                include_keys,
                worker_tables,
                tuple(order) if sequential and order is not None else None,
                the_layout is not None,
                the_layout,
                cut_refs.get(p, ()),
                widths,
                *sizes.get(p, (0, 0, False)),
            )
            for p in todo
        ]
        results = executor.map(
            part_task, tasks, _PartProgress(progress, len(parts), len(the_plan.ids))
        )
        # the cuts are released (the survey's indexes stay for a rerun)
        kept_cuts.clear()
        cut_refs.clear()
        tasks.clear()
        lost_inputs = [
            o.error.name
            for o in results
            if isinstance(o.error, TaskFailed) and o.error.name in names
        ]
        if lost_inputs:
            # an input fails on the workers: leave it out everywhere, so partitions agree
            for o in results:
                if isinstance(o.error, TaskFailed) and o.error.name:
                    failed.setdefault(o.error.name, str(o.error))
            names = [n for n in names if n not in lost_inputs]
            pieces = [(r, sv) for r, sv in pieces if r.path not in lost_inputs]
            order = read_order(names, pieces)
            if not names:
                raise InputError("; ".join(failed.values()))
            parts.clear()
            part_failures.clear()
            todo = the_plan.ids
            report.reruns += 1
            continue
        for o in results:
            if o.error is None:
                parts[o.item.partition] = o.value
            else:
                part_failures[o.item.partition] = f"{type(o.error).__name__}: {o.error}"
        related = conflicts(list(parts.values()))
        if not related:
            break
        the_plan = the_plan.merged(related)
        todo = sorted({min(g) for g in related})
        for g in related:
            for p in g:
                parts.pop(p, None)
        report.reruns += 1
    report.partition_seconds = time.perf_counter() - t1
    report.partitions = len(the_plan.ids)
    report.failed_inputs = sorted(failed)
    if not parts:
        raise InputError(
            "every partition failed: " + "; ".join(sorted(set(part_failures.values())))
        )

    # 3. union
    t2 = time.perf_counter()
    ordered = [parts[p] for p in sorted(parts)]
    report.part_seconds = [p.seconds for p in ordered]
    report.part_records = [p.records for p in ordered]
    u = union(ordered, extensions.rules if extensions is not None else RULES)
    u.warnings[:0] = [CaptureWarning(0, line) for line in inputs.skipped]
    for name in sorted(failed):
        u.warnings.insert(
            0, CaptureWarning(0, f"{name}: left out, it failed on every try ({failed[name]})")
        )
    for p, why in sorted(part_failures.items()):
        tunnels = sum(1 for q in the_plan.assign.values() if q == p)
        u.warnings.append(
            CaptureWarning(
                0,
                f"partition {p} ({tunnels} tunnels) failed on every try ({why}); "
                "its SAs are missing from the result",
            )
        )
    report.union_seconds = time.perf_counter() - t2
    return u
