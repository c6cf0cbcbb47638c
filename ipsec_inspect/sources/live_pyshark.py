"""Live frames through dumpcap, driven by pyshark: for users with dumpcap's rights, not root.

Why a thread and a queue: pyshark's capture runs its own asyncio loop and blocks until a
packet arrives, so it cannot notice a stop request on a quiet wire. It runs in a worker
thread that hands raw frames over a bounded queue; the consumer polls the queue and so
stops on time. A full queue (the analysis fell behind) drops the frame and counts it as a
backend drop — reported, never silent.

Stopping sends SIGTERM to dumpcap (by its own pid): dumpcap then prints its statistics
(``Packets received/dropped on interface …  (pcap:N/dumpcap:N/flushed:N/ps_ifdrop:N)``)
and exits, tshark reaches the end of its input, and the worker ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ipsec_inspect.sources.capture_file import RawFrame
from ipsec_inspect.sources.live import (
    PERMISSION_HINT,
    POLL_INTERVAL,
    CaptureCounters,
    LiveError,
    check_interface,
    interface_link_type,
)

QUEUE_FRAMES = 65536  # frames waiting for the analysis before the backend starts dropping
TSHARK_GRACE = 1.0  # seconds between stopping dumpcap and stopping tshark
STOP_WAIT = 10.0  # seconds the worker gets to finish after dumpcap was told to stop

_STATS = re.compile(
    r"Packets received/dropped on interface '[^']*': (\d+)/(\d+)"
    r" \(pcap:(\d+)/dumpcap:(\d+)/flushed:(\d+)/ps_ifdrop:(\d+)\)"
)
_PERMISSION = re.compile(r"permission|not permitted", re.IGNORECASE)


class _LineCollector(logging.Handler):
    """Keeps what dumpcap and tshark say on stderr (pyshark logs it at debug level)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        del self.lines[:-200]  # bounded: only the last lines matter


class PysharkSource:
    """Frames from dumpcap (through pyshark's LiveCapture) with dumpcap's drop counters."""

    backend = "pyshark"

    def __init__(self, iface: str, bpf: str, on_idle: Callable[[], None] | None = None) -> None:
        check_interface(iface)
        try:
            import pyshark  # noqa: F401
        except ImportError:
            raise LiveError(
                "the pyshark backend needs pyshark (pip install 'ipsec-inspect[live]')"
            ) from None
        self.iface = iface
        self.bpf = bpf
        self.on_idle = on_idle
        self.link_type = interface_link_type(iface)
        self._queue: queue.Queue[tuple[float, bytes, int] | None] = queue.Queue(QUEUE_FRAMES)
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._counters = CaptureCounters()
        self._log = _LineCollector()
        self._dumpcap_pid: int | None = None
        self._tshark_pid: int | None = None
        self._error: str | None = None
        self._worker = threading.Thread(target=self._work, name="dumpcap", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------------ worker thread

    def _work(self) -> None:
        from pyshark.capture.live_capture import LiveCapture

        source = self

        class _Capture(LiveCapture):
            def _get_dumpcap_parameters(self) -> list[str]:
                # without -q dumpcap reports its received/dropped counters when it stops
                return [p for p in super()._get_dumpcap_parameters() if p != "-q"]

            def _created_new_process(
                self, parameters: list[str], process: Any, process_name: str = "TShark"
            ) -> None:
                if process_name == "Dumpcap":
                    source._dumpcap_pid = process.pid
                    if source._stopped.is_set():
                        source._signal_dumpcap()
                else:
                    source._tshark_pid = process.pid
                super()._created_new_process(parameters, process, process_name)

        loop = asyncio.new_event_loop()
        capture = None
        try:
            capture = _Capture(
                interface=self.iface,
                bpf_filter=self.bpf,
                use_json=True,
                include_raw=True,
                eventloop=loop,
            )
            capture._log.setLevel(logging.DEBUG)
            capture._log.addHandler(self._log)
            for packet in capture.sniff_continuously():
                raw = packet.get_raw_packet()
                stamp = float(packet.sniff_timestamp)
                orig = int(getattr(packet.frame_info, "len", len(raw)))
                try:
                    self._queue.put_nowait((stamp, raw, orig))
                except queue.Full:
                    with self._lock:
                        self._counters.backend_dropped += 1
        except Exception as e:  # any failure of the external tools ends the capture
            self._error = _explain(str(e), self._log.lines, self.iface)
        finally:
            if capture is not None:
                try:
                    capture.close()
                except Exception:
                    pass
                capture._running_processes.clear()  # nothing left for pyshark's __del__ to do
            loop.close()
            self._read_stats()
            if self._error is None and not self._stopped.is_set():
                self._error = _explain("dumpcap stopped", self._log.lines, self.iface)
            self._queue.put(None)

    def _signal_dumpcap(self) -> None:
        _terminate(self._dumpcap_pid)

    def _end_tshark(self) -> None:
        """pyshark keeps the pipe into tshark open, so tshark never sees its end: once
        dumpcap has stopped (and reported), tell tshark to finish too."""
        time.sleep(TSHARK_GRACE)
        _terminate(self._tshark_pid)

    def _read_stats(self) -> None:
        for line in reversed(self._log.lines):
            m = _STATS.search(line)
            if m:
                received, _dropped, pcap, dumpcap, _flushed, ifdrop = map(int, m.groups())
                with self._lock:
                    self._counters.received = received
                    self._counters.kernel_dropped = pcap
                    self._counters.backend_dropped += dumpcap
                    self._counters.interface_dropped = ifdrop
                return

    # ------------------------------------------------------------------ consumer side

    def __iter__(self) -> Iterator[RawFrame]:
        number = 0
        while True:
            try:
                item = self._queue.get(timeout=POLL_INTERVAL)
            except queue.Empty:
                if self._stopped.is_set() and not self._worker.is_alive():
                    break
                if self.on_idle is not None:
                    self.on_idle()
                continue
            if item is None:
                break
            stamp, data, orig_len = item
            number += 1
            with self._lock:
                self._counters.delivered += 1
            yield (number, stamp, self.link_type, data, orig_len, 0)
        if self._error is not None and number == 0:
            raise LiveError(self._error)

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._signal_dumpcap()
        threading.Thread(target=self._end_tshark, name="tshark-stop", daemon=True).start()

    def counters(self) -> CaptureCounters:
        with self._lock:
            c = self._counters
            return CaptureCounters(
                max(c.received, c.delivered + c.queue_dropped),
                c.delivered,
                c.kernel_dropped,
                c.backend_dropped,
                c.interface_dropped,
                c.queue_dropped,
            )

    def close(self) -> None:
        self.stop()
        deadline = time.monotonic() + STOP_WAIT
        while self._worker.is_alive() and time.monotonic() < deadline:
            self._worker.join(POLL_INTERVAL)
        if self._worker.is_alive():
            for pid in (self._dumpcap_pid, self._tshark_pid):
                _terminate(pid, signal.SIGKILL)
        # frames tshark handed on that nobody read: received, not analysed
        left = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                left += 1
        with self._lock:
            self._counters.queue_dropped += left


def _terminate(pid: int | None, signum: int = signal.SIGTERM) -> None:
    if pid is not None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _explain(what: str, lines: list[str], iface: str) -> str:
    said = " ".join(line for line in lines[-3:] if line) or what
    if _PERMISSION.search(said):
        return f"dumpcap has no permission to capture on {iface}: {PERMISSION_HINT.split(', or')[0]} for dumpcap ({said})"
    return f"dumpcap could not capture on {iface}: {said}"
