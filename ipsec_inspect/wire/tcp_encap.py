"""RFC 8229 (IKE and ESP over TCP) stream framing.

Why: behind firewalls that drop UDP, IKE and ESP run over one TCP connection. The stream
starts with the six bytes ``IKETCP`` from the initiator; after that every message is a
16-bit length (counting itself) followed by either a four-byte zero non-ESP marker and an
IKE message, or an ESP packet. Messages straddle TCP segments, so the byte stream is
reassembled in sequence order per direction (bounded: out-of-order data beyond a window
is dropped and reported, as is a gap that never fills).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PREFIX = b"IKETCP"
#: Out-of-order bytes held per direction, waiting for the gap before them to fill.
MAX_OUT_OF_ORDER = 256 * 1024
MAX_MESSAGE = 65535
#: Directions (TCP connection halves) followed at once; the oldest is dropped beyond it.
MAX_STREAMS = 1024
#: Bytes held over all directions (partial messages and out-of-order data): a peer that
#: announces 65,535-byte messages on many connections and never completes them cannot
#: hold more; the direction that started first is dropped (and reported) beyond it.
MAX_STREAM_BYTES = 16 << 20
#: Frames remembered per partial message (its record lists them); beyond it only the first
#: and the latest are kept.
MAX_FRAMES_PER_MESSAGE = 256
#: Problems listed one by one; further ones are only counted (``unlisted_problems``).
MAX_REPORTED_PROBLEMS = 1000


@dataclass(slots=True)
class StreamMessage:
    """One framed message from the stream: kind is "ike" or "esp"."""

    kind: str
    data: bytes  # the message without the length field (and without the non-ESP marker)
    frames: tuple[int, ...]


@dataclass(slots=True)
class _Direction:
    """One direction of an RFC 8229 TCP stream: bytes buffered and out of order."""

    next_seq: int | None = None
    buf: bytearray = field(default_factory=bytearray)
    frames: list[int] = field(default_factory=list)  # frames whose bytes are in buf
    pending: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # seq -> (data, frame)
    pending_bytes: int = 0
    prefix_checked: bool = False
    lost: int = 0


class TcpEncapStreams:
    """Per-direction TCP reassembly and RFC 8229 framing for IKE/ESP over TCP."""

    def __init__(self, max_streams: int = MAX_STREAMS, max_bytes: int = MAX_STREAM_BYTES) -> None:
        self.max_streams = max_streams
        self.max_bytes = max_bytes
        self._dirs: dict[tuple[object, ...], _Direction] = {}
        self._held = 0  # bytes in every direction's buf and pending, together
        self.problems: list[tuple[int, str]] = []
        self.unlisted_problems = 0

    def _problem(self, frame: int, text: str) -> None:
        if len(self.problems) < MAX_REPORTED_PROBLEMS:
            self.problems.append((frame, text))
        else:
            self.unlisted_problems += 1

    def _held_by(self, d: _Direction) -> int:
        return len(d.buf) + d.pending_bytes

    def _forget(self, key: tuple[object, ...], why: str | None) -> None:
        """Stop following a direction; report what it still held (``why`` it was dropped)."""
        d = self._dirs.pop(key, None)
        if d is None:
            return
        held = self._held_by(d)
        self._held -= held
        if why is None or not held:
            return
        first = d.frames[0] if d.frames else 0
        if d.prefix_checked and len(d.buf) >= 2:
            length = (d.buf[0] << 8) | d.buf[1]
            what = f"RFC 8229 message of {length} bytes never completed ({len(d.buf)} bytes seen)"
        else:
            what = f"{held} bytes of TCP stream never framed"
        self._problem(first, f"{what}; {why}")

    def flush(self) -> list[tuple[int, str]]:
        """At the end of the capture: report messages that were announced and never
        completed, and forget every stream. Returns :attr:`problems`."""
        while self._dirs:
            self._forget(next(iter(self._dirs)), "dropped at the end of the capture")
        return self.problems

    def segment(
        self,
        key: tuple[object, ...],
        frame: int,
        seq: int,
        flags: int,
        payload: bytes,
    ) -> list[StreamMessage]:
        d = self._dirs.get(key)
        if d is None:
            if len(self._dirs) >= self.max_streams:
                self._forget(
                    next(iter(self._dirs)), f"dropped: more than {self.max_streams} TCP streams"
                )
            d = _Direction()
            self._dirs[key] = d
        if flags & 0x02:  # SYN consumes one sequence number
            d.next_seq = (seq + 1) & 0xFFFFFFFF
            return []
        if flags & 0x05 and not payload:  # FIN/RST without data
            self._forget(key, "dropped when the connection closed")
            return []
        while self._held + len(payload) > self.max_bytes:
            oldest = next(iter(self._dirs))
            self._forget(oldest, f"dropped: streams held more than {self.max_bytes} bytes")
            if oldest == key:
                return []
        if not payload:
            return []
        if d.next_seq is None:
            d.next_seq = seq  # joined mid-stream: take the first data we see
        rel = (seq - d.next_seq) & 0xFFFFFFFF
        if rel >= 0x80000000:  # retransmission of data already consumed (maybe partially)
            overlap = (d.next_seq - seq) & 0xFFFFFFFF
            if overlap >= len(payload):
                return []
            payload = payload[overlap:]
            rel = 0
        if rel > 0:
            if d.pending_bytes + len(payload) > MAX_OUT_OF_ORDER:
                self._problem(frame, "TCP out-of-order buffer full; segment dropped")
                return []
            if seq not in d.pending:
                d.pending[seq] = (payload, frame)
                d.pending_bytes += len(payload)
                self._held += len(payload)
            return []
        before = len(d.buf)
        self._append(d, payload, frame)
        # Drain segments that are now in order.
        while d.pending:
            nxt = d.pending.pop(d.next_seq, None)
            if nxt is None:
                break
            d.pending_bytes -= len(nxt[0])
            self._held -= len(nxt[0])
            self._append(d, nxt[0], nxt[1])
        self._held += len(d.buf) - before
        before = len(d.buf)
        out = self._frame_messages(d, frame)
        self._held += len(d.buf) - before
        return out

    @staticmethod
    def _append(d: _Direction, data: bytes, frame: int) -> None:
        d.buf += data
        if not d.frames or d.frames[-1] != frame:
            if len(d.frames) >= MAX_FRAMES_PER_MESSAGE:
                del d.frames[1:-1]  # keep the first and the latest
            d.frames.append(frame)
        assert d.next_seq is not None
        d.next_seq = (d.next_seq + len(data)) & 0xFFFFFFFF

    def _frame_messages(self, d: _Direction, frame: int) -> list[StreamMessage]:
        out: list[StreamMessage] = []
        if not d.prefix_checked:
            if len(d.buf) < len(PREFIX) and PREFIX.startswith(bytes(d.buf)):
                return out
            if d.buf.startswith(PREFIX):
                del d.buf[: len(PREFIX)]
            d.prefix_checked = True
        while len(d.buf) >= 2:
            length = (d.buf[0] << 8) | d.buf[1]
            if length < 3:
                self._problem(
                    frame, f"RFC 8229 length field {length} is too small; stream framing lost"
                )
                d.buf.clear()
                d.frames = []
                break
            if len(d.buf) < length:
                break
            msg = bytes(d.buf[2:length])
            del d.buf[:length]
            frames = tuple(d.frames)
            d.frames = [frame] if d.buf else []
            if len(msg) >= 4 and msg[:4] == b"\x00\x00\x00\x00":
                out.append(StreamMessage("ike", msg[4:], frames))
            else:
                out.append(StreamMessage("esp", msg, frames))
        return out
