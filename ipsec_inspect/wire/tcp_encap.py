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
MAX_OUT_OF_ORDER = 256 * 1024
MAX_MESSAGE = 65535


@dataclass(slots=True)
class StreamMessage:
    """One framed message from the stream: kind is "ike" or "esp"."""

    kind: str
    data: bytes  # the message without the length field (and without the non-ESP marker)
    frames: tuple[int, ...]


@dataclass(slots=True)
class _Direction:
    next_seq: int | None = None
    buf: bytearray = field(default_factory=bytearray)
    frames: list[int] = field(default_factory=list)  # frames whose bytes are in buf
    pending: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # seq -> (data, frame)
    pending_bytes: int = 0
    prefix_checked: bool = False
    lost: int = 0


class TcpEncapStreams:
    """Per-direction TCP reassembly and RFC 8229 framing for IKE/ESP over TCP."""

    def __init__(self, max_streams: int = 1024) -> None:
        self.max_streams = max_streams
        self._dirs: dict[tuple[object, ...], _Direction] = {}
        self.problems: list[tuple[int, str]] = []

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
                self._dirs.pop(next(iter(self._dirs)))
            d = _Direction()
            self._dirs[key] = d
        if flags & 0x02:  # SYN consumes one sequence number
            d.next_seq = (seq + 1) & 0xFFFFFFFF
            return []
        if flags & 0x05 and not payload:  # FIN/RST without data
            self._dirs.pop(key, None)
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
                self.problems.append((frame, "TCP out-of-order buffer full; segment dropped"))
                return []
            if seq not in d.pending:
                d.pending[seq] = (payload, frame)
                d.pending_bytes += len(payload)
            return []
        self._append(d, payload, frame)
        # Drain segments that are now in order.
        while d.pending:
            nxt = d.pending.pop(d.next_seq, None)
            if nxt is None:
                break
            d.pending_bytes -= len(nxt[0])
            self._append(d, nxt[0], nxt[1])
        return self._frame_messages(d, frame)

    @staticmethod
    def _append(d: _Direction, data: bytes, frame: int) -> None:
        d.buf += data
        if not d.frames or d.frames[-1] != frame:
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
                self.problems.append(
                    (frame, f"RFC 8229 length field {length} is too small; stream framing lost")
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
