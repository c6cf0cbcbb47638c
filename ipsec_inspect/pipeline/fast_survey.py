"""The survey of a plain pcap piece, read straight from the file's buffer.

Why: with partitions that read only their own records, the survey is the part of a run
that every frame pays for, and on two workers it must cost a fraction of the analysis for
two workers to be faster than one. :func:`pipeline.tunnels.survey` takes frames from the
ordinary reader (a copy and a tuple per frame); this reads record headers and the few
address bytes it needs where they lie in the chunk, and writes the record index
(offsets, lengths, tunnel codes) in the same pass.

It gives exactly what the ordinary reader and survey give, or nothing: any record the
reader would treat specially — an empty or over-long one, a truncated end, an unusable
timestamp — makes it return None, and the caller surveys the piece the ordinary way.
"""

from __future__ import annotations

import os
import struct
from array import array
from itertools import compress

from ipsec_inspect.pipeline.tunnels import (
    OVERFLOW,
    FrameCodes,
    Survey,
    Tunnel,
    _normal,
    clear_spis,
    tunnel_of,
)
from ipsec_inspect.sources.byte_ranges import WHOLE, ByteRange
from ipsec_inspect.sources.capture_file import (
    CHUNK,
    DEFAULT_SNAPLEN,
    MAX_FRAME_BYTES,
    PCAP_MAGICS,
)
from ipsec_inspect.sources.multi import is_url
from ipsec_inspect.sources.timestamps import LATEST_TIME
from ipsec_inspect.wire.decoder import LINKTYPE_ETHERNET


def survey_pcap(r: ByteRange) -> tuple[Survey, FrameCodes, array[int], array[int]] | None:
    """(survey, tunnel codes, record offsets, record lengths) of a local uncompressed
    pcap piece, or None (not such a file, or a record the ordinary reader would treat
    specially)."""
    if is_url(r.path):
        return None
    try:
        fh = open(r.path, "rb")  # noqa: SIM115 - closed below
    except OSError:
        return None
    with fh:
        head = fh.read(24)
        if len(head) < 24 or head[:4] not in PCAP_MAGICS:
            return None
        endian, resolution = PCAP_MAGICS[head[:4]]
        units = 1_000_000 if resolution == 1e-6 else 1_000_000_000
        snaplen, network = struct.unpack_from(endian + "II", head, 16)
        link_type = network & 0x0FFFFFFF
        max_len = min(max(snaplen, DEFAULT_SNAPLEN), MAX_FRAME_BYTES)
        size = os.fstat(fh.fileno()).st_size
        start = 24 if r.start == 0 or r.end == WHOLE else r.start
        end = size if r.end == WHOLE else r.end
        if end > size or start > end:
            return None
        fh.seek(start)
        return _scan(fh, start, end, link_type, endian, resolution, units, max_len)


def _scan(
    fh: object,
    start: int,
    end: int,
    link_type: int,
    endian: str,
    resolution: float,
    units: int,
    max_len: int,
) -> tuple[Survey, FrameCodes, array[int], array[int]] | None:
    read = fh.read  # type: ignore[attr-defined]
    unpack = struct.Struct(endian + "IIII").unpack_from
    s = Survey()
    fc = FrameCodes()
    codes = fc.codes
    tunnels = fc.tunnels
    code_append = codes.append
    offsets: array[int] = array("Q")
    lengths: array[int] = array("I")
    off_append, len_append = offsets.append, lengths.append
    raw_code: dict[bytes, int] = {}
    tun_code: dict[Tunnel, int] = {}
    key_code: dict[bytes, int] = {}
    ike, esp = s.ike, s.esp
    ethernet = link_type == LINKTYPE_ETHERNET
    latest = LATEST_TIME

    def code_of(t: Tunnel) -> int:
        c = tun_code.get(t)
        if c is None:
            if len(tunnels) >= OVERFLOW:
                fc.overflow = True
                return OVERFLOW
            c = tun_code[t] = len(tunnels)
            tunnels.append(t)
        return c

    buf = b""
    base = start  # file offset of buf[0]
    pos = 0
    n = 0
    first: float | None = None
    last = -1.0e300
    in_order = True
    while base + pos < end:
        if pos + 16 > len(buf):
            buf = buf[pos:] + read(min(CHUNK, end - base - len(buf)) if end > base else 0)
            base += pos
            pos = 0
            if len(buf) < 16:
                return None  # a truncated record header: the reader reports it
        sec, frac, incl, _orig = unpack(buf, pos)
        if incl > max_len or incl == 0:
            return None
        rend = pos + 16 + incl
        if rend > len(buf):
            if base + rend > end:
                return None  # a record across the end of the piece or the file
            buf = buf[pos:] + read(max(CHUNK, rend - len(buf)))
            base += pos
            rend -= pos
            pos = 0
            if rend > len(buf):
                return None
        t = sec + frac * resolution
        if frac >= units or t > latest:
            return None
        n += 1
        if first is None:
            first = t
        elif t < last:
            in_order = False
        last = t
        off_append(base + pos)
        len_append(16 + incl)
        d = pos + 16
        if (
            ethernet
            and incl >= 38
            and buf[d + 23] == 50
            and buf[d + 12 : d + 15] == b"\x08\x00\x45"
            and not buf[d + 20] & 0x3F
            and not buf[d + 21]
        ):
            k = buf[d + 26 : d + 38]  # the address pair and the SPI
            c = key_code.get(k)
            if c is None:
                raw = k[:8]
                c = raw_code.get(raw)
                if c is None:
                    c = raw_code[raw] = code_of(_normal(raw))
                key_code[k] = c
                esp.setdefault(int.from_bytes(k[8:12], "big"), set()).add(_normal(raw))
            code_append(c)
            if c == OVERFLOW:
                tun = _normal(k[:8])
                s.frames[tun] = s.frames.get(tun, 0) + 1
                s.sizes[tun] = s.sizes.get(tun, 0) + incl
            pos = rend
            continue
        data = buf[d:rend]
        tun = tunnel_of(link_type, data)
        c = code_of(tun)
        code_append(c)
        if c == OVERFLOW:
            s.frames[tun] = s.frames.get(tun, 0) + 1
            s.sizes[tun] = s.sizes.get(tun, 0) + incl
        spi_i, spi = clear_spis(link_type, data)
        if spi_i is not None:
            ike.setdefault(spi_i, set()).add(tun)
        elif spi is not None:
            esp.setdefault(spi, set()).add(tun)
        pos = rend
    for c, tun in enumerate(tunnels):  # counts and bytes per code, in C, not per frame
        count = codes.count(c)
        if count:
            table = bytearray(256)
            table[c] = 1
            size = sum(compress(lengths, codes.translate(table))) - 16 * count
            s.frames[tun] = s.frames.get(tun, 0) + count
            s.sizes[tun] = s.sizes.get(tun, 0) + size
    s.count, s.first_time, s.in_order = n, first, in_order
    s.last_time = last if n else None
    # the index travels to every partition: as small as the values allow
    starts = array("I", offsets) if not n or offsets[-1] < (1 << 32) else offsets
    sizes_ = array("H", lengths) if n and max(lengths) < (1 << 16) else lengths
    return s, fc, starts, sizes_
