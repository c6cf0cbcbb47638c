"""Capture file → records: the first half of the pipeline as one streaming call.

Why a separate module from :mod:`ipsec_inspect.pipeline.session`: commands that only need records
(``packets``, ``summary``, conformance tests, the fuzz test) should not pay for
decryption or lifecycle tracking, and this function is the one place that knows how a
capture reader and a decoder fit together.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

from ipsec_inspect.core.records import CaptureWarning, Record
from ipsec_inspect.ipsec.dissectors import ipsec_decoder
from ipsec_inspect.sources.capture_file import CaptureInfo
from ipsec_inspect.sources.multi import MergedReader, TimeWindow, expand_inputs
from ipsec_inspect.wire.decoder import DecodeOptions, Decoder

__all__ = ["CaptureInfo", "DecodeOptions", "Decoder", "read_records"]


def read_records(
    path: str | os.PathLike[str] | Sequence[str],
    options: DecodeOptions | None = None,
    *,
    on_warning: Callable[[CaptureWarning], None] | None = None,
    info: list[CaptureInfo] | None = None,
    decoder: Decoder | None = None,
    window: TimeWindow | None = None,
    readers: list[MergedReader] | None = None,
) -> Iterator[Record]:
    """Yield every IPsec record of a capture (or of several, merged by timestamp, see
    ``sources.multi``) in frame order.

    Raises :class:`~ipsec_inspect.sources.capture_file.CaptureError` at once when the
    file cannot be opened or is not a capture. Problems inside the file (truncated or
    corrupt records, IP fragments that never completed) are reported through
    ``on_warning``; everything readable before them is still yielded. Pass a list as
    ``info`` to receive the reader's :class:`CaptureInfo` (frame count, interfaces), and
    as ``readers`` to receive the reader itself (which input a frame came from).
    """
    names = [os.fspath(path)] if isinstance(path, str | os.PathLike) else list(path)
    inputs = expand_inputs(names)
    reader = MergedReader(inputs.names, window=window)
    if on_warning is not None:
        for line in inputs.skipped:
            on_warning(CaptureWarning(0, line))
    reader.on_warning = on_warning
    if readers is not None:
        readers.append(reader)
    if info is not None:
        info.append(reader.info)
    dec = decoder or ipsec_decoder(options)
    decode = dec.decode
    for number, time, link_type, data, orig_len, iface in reader:
        records = decode(number, time, link_type, data, orig_len, iface)
        if records:
            yield from records
    if on_warning is not None:
        for w in end_of_capture_warnings(dec):
            on_warning(w)
    else:
        end_of_capture_warnings(dec)


def end_of_capture_warnings(dec: Decoder) -> list[CaptureWarning]:
    """What the decoder could not complete by the end of the input (IP datagrams missing
    fragments, RFC 8229 messages never completed, TCP stream damage), as warnings.

    The message names the other frames involved, never the frame the warning is filed
    under (that is shown once, in front of it).
    """
    out: list[CaptureWarning] = []
    for frames, why in dec.finish():
        first = frames[0] if frames else 0
        others = frames[1:9]
        also = (
            f" (its other fragments: frames {', '.join(map(str, others))}"
            f"{', …' if len(frames) > 9 else ''})"
            if others
            else ""
        )
        out.append(CaptureWarning(first, f"IP datagram dropped, {why}{also}", "fragments"))
    unlisted = dec.reassembler.unlisted_drops
    if unlisted:
        text = f"{unlisted:,} more IP datagrams were dropped"
        out.append(CaptureWarning(0, text, "fragments", unlisted=unlisted))
    for frame, problem in dec.tcp.flush():
        out.append(CaptureWarning(frame, problem, "tcp"))
    if dec.tcp.unlisted_problems:
        n = dec.tcp.unlisted_problems
        out.append(CaptureWarning(0, f"{n:,} more TCP stream problems", "tcp", unlisted=n))
    return out
