"""Capture file → records: the first half of the pipeline as one streaming call.

Why a separate module from :mod:`ipsec_inspect.pipeline.session`: commands that only need records
(``packets``, ``summary``, conformance tests, the fuzz test) should not pay for
decryption or lifecycle tracking, and this function is the one place that knows how a
capture reader and a decoder fit together.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from ipsec_inspect.core.records import CaptureWarning, Record
from ipsec_inspect.ipsec.dissectors import ipsec_decoder
from ipsec_inspect.sources.capture_file import CaptureInfo, CaptureReader
from ipsec_inspect.wire.decoder import DecodeOptions, Decoder

__all__ = ["CaptureInfo", "DecodeOptions", "Decoder", "read_records"]


def read_records(
    path: str | os.PathLike[str],
    options: DecodeOptions | None = None,
    *,
    on_warning: Callable[[CaptureWarning], None] | None = None,
    info: list[CaptureInfo] | None = None,
    decoder: Decoder | None = None,
) -> Iterator[Record]:
    """Yield every IPsec record of a capture in frame order.

    Raises :class:`~ipsec_inspect.sources.capture_file.CaptureError` at once when the
    file cannot be opened or is not a capture. Problems inside the file (truncated or
    corrupt records, IP fragments that never completed) are reported through
    ``on_warning``; everything readable before them is still yielded. Pass a list as
    ``info`` to receive the reader's :class:`CaptureInfo` (frame count, interfaces).
    """
    reader = CaptureReader(path)
    reader.on_warning = on_warning
    if info is not None:
        info.append(reader.info)
    dec = decoder or ipsec_decoder(options)
    decode = dec.decode
    for number, time, link_type, data, orig_len, iface in reader:
        records = decode(number, time, link_type, data, orig_len, iface)
        if records:
            yield from records
    for frames, why in dec.finish():
        if on_warning is not None:
            first = frames[0] if frames else 0
            on_warning(
                CaptureWarning(
                    first,
                    f"IP fragments in frames {', '.join(map(str, frames[:8]))}{'…' if len(frames) > 8 else ''} were dropped: {why}",
                )
            )
    for frame, problem in dec.tcp.problems:
        if on_warning is not None:
            on_warning(CaptureWarning(frame, problem))
