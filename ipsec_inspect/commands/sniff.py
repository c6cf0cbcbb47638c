"""``ipsec-inspect sniff``: capture an interface and watch SAs come and go.

Frames from a live source (:mod:`ipsec_inspect.sources.live`) go through the same
:class:`~ipsec_inspect.pipeline.session.Analysis` as a file, built with ``keep_index=False`` so that
memory grows with the number of SAs, not of packets: an endless capture stays bounded.
With ``--write`` every frame is also saved to pcapng (optionally a ring of files).

Output: the TUI in live mode when standard output is a terminal; otherwise (or with
``--events``) the tracker's events as JSON lines — the very lines ``export --events``
writes — flushed as they happen, then one last line holding the export document
(``export``'s schema) with the capture counters added under ``capture.live``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from ipsec_inspect.commands._common import (
    add_decode_arguments,
    add_key_arguments,
    add_tracker_arguments,
    decode_options,
    extensions_of,
    tracker_config,
)
from ipsec_inspect.core.errors import InputError, UsageError
from ipsec_inspect.core.records import CaptureWarning
from ipsec_inspect.export.timeline import build_timeline, rfc3339
from ipsec_inspect.lifecycle.events import TrackerEvent, event_to_json
from ipsec_inspect.pipeline.session import Analysis
from ipsec_inspect.sources.live_backends import BACKENDS
from ipsec_inspect.sources.timestamps import LATEST_TIME, CaptureClock

if TYPE_CHECKING:  # the live sources are imported when the command runs (start-up)
    from ipsec_inspect.sources.capture_file import RawFrame
    from ipsec_inspect.sources.live import CaptureCounters, LiveSource
    from ipsec_inspect.sources.pcapng_writer import PcapngWriter

NAME = "sniff"
HELP = "capture an interface live and follow its SAs (TUI, or events as JSON lines)"
DESCRIPTION = (
    "Capture IKE, ESP and AH on an interface and run them through the same analysis as a "
    "capture file. On a terminal the TUI opens in live mode; otherwise (or with --events) "
    "the tracker's events are written as JSON lines as they happen, and a final line holds "
    "the export document with the capture's drop counters under capture.live."
)

MEGABYTE = 1_000_000  # --ring-size unit, as dumpcap's (decimal) file sizes


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--interface", required=True, metavar="IFACE", help="interface to capture")
    add_key_arguments(p)
    p.add_argument(
        "--bpf",
        metavar="EXPR",
        help="capture filter replacing the default (IKE on UDP 500/4500 and TCP 4500, ESP, AH, "
        "IP fragments)",
    )
    p.add_argument("-w", "--write", metavar="FILE.pcapng", help="also save every captured frame")
    p.add_argument(
        "--ring",
        type=int,
        default=0,
        metavar="N",
        help="with --write: keep only the N newest files",
    )
    p.add_argument(
        "--ring-size",
        type=float,
        default=0.0,
        metavar="MB",
        help="with --write: start a new file when the current one would exceed MB megabytes",
    )
    p.add_argument(
        "--events",
        action="store_true",
        help="write events as JSON lines even on a terminal (no TUI)",
    )
    p.add_argument("-c", "--count", type=int, metavar="N", help="stop after N captured frames")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="scapy",
        help="scapy: packet socket (root or CAP_NET_RAW); pyshark: dumpcap (default: scapy)",
    )
    add_decode_arguments(p)
    add_tracker_arguments(p)


def _check(args: argparse.Namespace) -> None:
    if args.count is not None and args.count < 1:
        raise UsageError("--count must be at least 1")
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration must be positive")
    if args.ring < 0 or args.ring_size < 0:
        raise UsageError("--ring and --ring-size must not be negative")
    if (args.ring or args.ring_size) and not args.write:
        raise UsageError("--ring and --ring-size need --write FILE.pcapng")
    if args.ring and not args.ring_size:
        raise UsageError("--ring N needs --ring-size MB (the size at which files rotate)")
    tracker_config(args)  # says what is wrong with --replay-window / --idle-timeout


def event_line(event: TrackerEvent) -> str:
    """One event as ``export --events`` writes it: compact JSON, RFC 3339 time."""
    obj = event_to_json(event)
    if isinstance(obj.get("time"), float):
        obj["time"] = rfc3339(obj["time"])
    return json.dumps(obj, separators=(",", ":"))


def event_text(event: TrackerEvent) -> str:
    """One event for a person reading a terminal."""
    obj = event_to_json(event)
    kind = obj.pop("event")
    when = rfc3339(obj.pop("time", None)) or "-"
    frame = obj.pop("frame", None)
    sa = obj.pop("sa", "")
    rest = " ".join(f"{k}={v}" for k, v in obj.items() if v is not None)
    return f"{when[11:26]}  frame {frame if frame is not None else '-':>6}  {kind:<12} {sa}  {rest}"


@dataclass
class _Stopper:
    """Ends the capture from a signal, a timer or the frame count: one place, thread-safe."""

    source: LiveSource
    reason: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, reason: str) -> None:
        with self._lock:
            if not self.reason:
                self.reason = reason
        self.source.stop()

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self(signal.Signals(signum).name)


def _frames(
    source: Iterable[RawFrame],
    writer: PcapngWriter | None,
    count: int | None,
    stop: Callable[[str], None],
    clock: CaptureClock,
) -> Iterator[RawFrame]:
    """The source's frames, saved as they pass, ending after ``count`` frames. Each time
    goes through the same check as a file's (a clock set to the far future, a backend
    that hands on garbage), so no formatter downstream meets an unusable one."""
    accept = clock.seconds
    for seen, frame in enumerate(source, 1):
        number, when = frame[0], frame[1]
        if 0.0 <= when <= LATEST_TIME:
            clock.last = when
        else:
            frame = (number, accept(number, when), *frame[2:])
        if writer is not None:
            try:
                writer.write(frame)
            except OSError as e:
                raise InputError(_write_failed(writer, e, seen)) from None
        yield frame
        if count is not None and seen >= count:
            stop("count")
            break


def _write_failed(writer: PcapngWriter, exc: OSError, frame: int) -> str:
    """One sentence for a ring file that cannot be written; the frames before are kept."""
    name = writer.files[-1] if writer.files else "the capture file"
    return (
        f"{name}: cannot write frame {frame} ({exc.strerror or exc}); "
        f"the {frame - 1} frames before it were written"
    )


def _flusher(writer: PcapngWriter) -> Callable[[], None]:
    """The idle-time flush of the ring file, its write error as one sentence."""

    def flush() -> None:
        try:
            writer.flush()
        except OSError as e:
            name = writer.files[-1] if writer.files else "the capture file"
            raise InputError(f"{name}: cannot write ({e.strerror or e})") from None

    return flush


def live_clock(analysis: Analysis) -> CaptureClock:
    """A clock whose warnings go to the analysis's warnings, as a file's do."""

    def warn(frame: int, message: str) -> None:
        analysis.warnings.append(CaptureWarning(frame, message, "timestamp"))

    return CaptureClock(warn)


def _install_signals(stop: _Stopper, stack: ExitStack) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.signal(sig, stop.on_signal)
        stack.callback(signal.signal, sig, previous)


def _final_document(
    analysis: Analysis,
    args: argparse.Namespace,
    counters: CaptureCounters,
    writer: PcapngWriter | None,
    reason: str,
) -> dict[str, Any]:
    from ipsec_inspect.sources.live import DEFAULT_FILTER

    result = analysis.result()
    stats = result.stats
    capture = {
        "path": args.write or args.interface,
        "frames": counters.delivered,
        "first_time": stats.first_time,
        "last_time": stats.last_time,
    }
    doc = build_timeline(result, capture, keystore=analysis.keys)
    doc["capture"]["live"] = {
        "interface": args.interface,
        "backend": args.backend,
        "filter": args.bpf if args.bpf is not None else DEFAULT_FILTER,
        "stopped_by": reason or "end",
        **counters.to_json(),
        "files": [str(f) for f in writer.files] if writer is not None else [],
    }
    doc["problems"] = analysis.problems()
    return doc


def _analysed(c: CaptureCounters, analysis: Analysis) -> CaptureCounters:
    """Frames the source delivered that never reached the analysis (left in the TUI's
    hand-over queue when it closed) move from ``delivered`` to ``queue_dropped``."""
    left = c.delivered - analysis.frames_fed
    if left <= 0:
        return c
    return replace(c, delivered=analysis.frames_fed, queue_dropped=c.queue_dropped + left)


def _drop_text(args: argparse.Namespace, c: CaptureCounters) -> str:
    return (
        f"ipsec-inspect: {c.delivered} frames captured on {args.interface} ({args.backend}); "
        f"dropped: kernel {c.kernel_dropped}, backend {c.backend_dropped}, "
        f"interface {c.interface_dropped}, queue {c.queue_dropped} (received at the stop, "
        "not analysed)"
    )


def _stream(
    frames: Iterator[RawFrame],
    analysis: Analysis,
    out: TextIO,
    render: Callable[[TrackerEvent], str],
) -> None:
    feed = analysis.feed_frame
    for number, when, link_type, data, orig_len, iface in frames:
        events = feed(number, when, link_type, data, orig_len, iface)
        if events:
            for event in events:
                out.write(render(event) + "\n")
            out.flush()
    for event in analysis.finish():
        out.write(render(event) + "\n")
    out.flush()


def _tui_app() -> Any:
    """The TUI's app class (None if the TUI cannot be imported: fall back to text)."""
    try:
        from ipsec_inspect.tui.app import InspectorApp
    except ImportError:
        return None
    return InspectorApp


def run(args: argparse.Namespace) -> int:
    from ipsec_inspect.sources.live import LiveError
    from ipsec_inspect.sources.live_backends import open_live
    from ipsec_inspect.sources.pcapng_writer import PcapngWriter

    _check(args)
    config = tracker_config(args)
    analysis = Analysis(
        None,
        decode_options(args),
        args.keys,
        config,
        keep_index=False,
        extensions=extensions_of(args),
    )
    on_terminal = sys.stdout.isatty() and not args.events
    with ExitStack() as stack:
        writer: PcapngWriter | None = None
        if args.write:
            try:
                writer = PcapngWriter(
                    args.write,
                    iface_name=args.interface,
                    ring_size=int(args.ring_size * MEGABYTE),
                    ring_files=args.ring,
                )
            except OSError as e:
                raise InputError(f"{args.write}: cannot write ({e.strerror})") from None
        try:
            source = open_live(
                args.interface,
                args.bpf,
                args.backend,
                on_idle=_flusher(writer) if writer is not None else None,
            )
        except LiveError as e:
            if writer is not None:
                writer.close()
                for f in writer.files:
                    f.unlink(missing_ok=True)
            raise InputError(str(e)) from None
        stack.callback(source.close)
        print(
            f"ipsec-inspect: capturing on {args.interface} ({args.backend}), filter: {source.bpf}",
            file=sys.stderr,
            flush=True,
        )
        stop = _Stopper(source)
        _install_signals(stop, stack)
        if args.duration is not None:
            timer = threading.Timer(args.duration, stop, args=("duration",))
            timer.daemon = True
            timer.start()
            stack.callback(timer.cancel)
        frames = _frames(source, writer, args.count, stop, live_clock(analysis))
        try:
            app = _tui_app() if on_terminal else None
            if app is not None:
                _run_tui(app, analysis, frames, source, stop)
            else:
                _stream(frames, analysis, sys.stdout, event_text if on_terminal else event_line)
        except LiveError as e:
            raise InputError(str(e)) from None
        finally:
            source.close()  # counts what is still queued: every frame received is accounted
            counters = _analysed(source.counters(), analysis)
            if writer is not None:
                # a write error was already reported as one sentence; this is only the trailer
                with suppress(OSError):
                    writer.close(
                        counters.received, counters.kernel_dropped, counters.interface_dropped
                    )
        doc = _final_document(analysis, args, counters, writer, stop.reason)
        if on_terminal:
            _print_summary(doc)
        else:
            sys.stdout.write(json.dumps(doc, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        for line in doc["problems"]:
            print(f"ipsec-inspect: warning: {line}", file=sys.stderr)
        print(_drop_text(args, counters), file=sys.stderr)
    return 0


def _run_tui(
    app_class: Any,
    analysis: Analysis,
    frames: Iterator[RawFrame],
    source: LiveSource,
    stop: _Stopper,
) -> None:
    from ipsec_inspect.tui.source import LiveSource as TuiLiveSource

    def drops() -> dict[str, int]:
        c = source.counters()
        return {
            "kernel": c.kernel_dropped,
            "backend": c.backend_dropped,
            "interface": c.interface_dropped,
        }

    class LiveApp(app_class):
        """Quitting the TUI ends the capture, so the worker reading frames returns."""

        CSS_PATH = _css_of(app_class)

        def on_unmount(self) -> None:
            stop("tui closed")

    live = TuiLiveSource(frames, drops, label=f"live: {source.iface}")
    try:
        LiveApp(analysis, live).run()
    finally:
        stop("tui closed")


def _css_of(app_class: Any) -> Any:
    """The app's stylesheet as an absolute path (Textual reads a relative one beside the
    module of the class that uses it, which for a subclass is this module)."""
    css = getattr(app_class, "CSS_PATH", None)
    if not isinstance(css, str | Path) or Path(css).is_absolute():
        return css
    import inspect

    return Path(inspect.getfile(app_class)).with_name(str(css))


def _print_summary(doc: dict[str, Any]) -> None:
    live = doc["capture"]["live"]
    print(
        f"{len(doc['ike_sas'])} IKE SA(s), {len(doc['child_sas'])} child SA(s); "
        f"{live['delivered']} frames, stopped by {live['stopped_by']}"
    )
    for child in doc["child_sas"]:
        dirs = ", ".join(
            f"{d['spi']} {d['src']}->{d['dst']} {d['packets']} pkts" for d in child["directions"]
        )
        print(f"  {child['id']}: {dirs}")
