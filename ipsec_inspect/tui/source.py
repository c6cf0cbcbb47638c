"""Where the TUI's frames come from: a capture file or any live iterator of frames.

Why a separate, Textual-free module: the app must not care whether it is replaying a
file or watching an interface (issue 7 drives it live), and the driving loop has to be
testable without a terminal. A source is consumed by :func:`drive` in a worker thread;
the worker reports through plain callbacks that the app marshals onto its own thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from queue import Empty, Queue
from threading import Thread

from ipsec_inspect.lifecycle.events import TrackerEvent
from ipsec_inspect.pipeline.session import Analysis, Progress

#: One captured frame as :meth:`Analysis.feed_frame` takes it:
#: ``(number, time, link_type, data, orig_len, iface)``.
Frame = tuple[int, float, int, bytes, int, int]


@dataclass(frozen=True)
class CaptureFileSource:
    """Replay the analysis's own capture file (``Analysis.path``) with :meth:`Analysis.run`."""

    live = False


@dataclass(frozen=True)
class LiveSource:
    """Frames from anywhere (a live interface, a test) and, optionally, drop counters.

    ``frames`` is iterated in the worker thread and may block between frames; the
    iteration ends when the capture stops. ``drops`` is called from the UI thread about
    twice a second and returns counters such as ``{"kernel": 3, "interface": 0}``.
    """

    frames: Iterable[Frame]
    drops: Callable[[], Mapping[str, int]] | None = None
    label: str = "live"
    live = True


FrameSource = CaptureFileSource | LiveSource


def drive(
    analysis: Analysis,
    source: FrameSource,
    on_progress: Callable[[Progress], None],
    on_events: Callable[[list[TrackerEvent]], None] | None = None,
    stop: Callable[[], bool] | None = None,
    progress_seconds: float = 0.25,
) -> None:
    """Feed ``source`` into ``analysis`` until it ends or ``stop()`` says so.

    For a live source progress is reported by elapsed time rather than by frame count,
    because frames may trickle in slowly and the screen should still follow them.
    """
    if isinstance(source, CaptureFileSource):
        analysis.run(on_progress=on_progress, on_events=on_events, stop=stop, progress_every=5000)
        return
    frames = 0
    last = time.monotonic()
    reported = 0
    on_progress(Progress(0, analysis.records, 0, 0))
    queue: Queue[Frame | None] = Queue(maxsize=10000)
    Thread(target=_pump, args=(source.frames, queue), daemon=True, name="live-frames").start()
    while not (stop is not None and stop()):
        try:
            frame = queue.get(timeout=progress_seconds)
        except Empty:  # the source is quiet: show what has arrived so far
            if frames != reported:
                reported, last = frames, time.monotonic()
                on_progress(Progress(frames, analysis.records, 0, 0))
            continue
        if frame is None:
            break
        events = analysis.feed_frame(*frame)
        frames += 1
        if events and on_events is not None:
            on_events(events)
        now = time.monotonic()
        if now - last >= progress_seconds:
            reported, last = frames, now
            on_progress(Progress(frames, analysis.records, 0, 0))
    events = analysis.finish()
    if events and on_events is not None:
        on_events(events)
    on_progress(Progress(frames, analysis.records, 0, 0, done=True))


def _pump(frames: Iterable[Frame], queue: Queue[Frame | None]) -> None:
    """Move frames from a possibly blocking iterator into the worker's queue.

    Why a thread of its own: a live source blocks while the network is quiet, and the
    worker must still refresh the views with what has already arrived.
    """
    try:
        for frame in frames:
            queue.put(frame)
    finally:
        queue.put(None)
