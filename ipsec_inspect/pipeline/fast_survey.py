"""The survey of a plain pcap piece: a Python record chase, the rest in numpy.

Why: with partitions that read only their own records, the survey is the part of a run
that every frame pays for, and on two workers it must cost a small fraction of the
analysis (2.2 µs a record without keys) for two workers to be 1.7 times faster than one.
Per-frame Python work was 0.85 µs; here the only Python loop over every record is the
chase of record headers (``p += 16 + caplen``), and everything else — the validity checks
of every header, the address bytes, the tunnel of each frame, the ESP SPIs per tunnel,
the counts per tunnel, time order — is done on the array of offsets, one numpy pass per
window of the file. Frames that are not plain IPv4 ESP (IKE, NAT-T, IPv6, VLAN,
fragments, non-IP: few in an IPsec capture) are surveyed one by one in Python with the
very functions the ordinary survey uses (:func:`~ipsec_inspect.pipeline.tunnels.tunnel_of`,
:func:`~ipsec_inspect.pipeline.tunnels.clear_spis`).

It gives exactly what the ordinary reader and survey give, or nothing: any record the
reader would treat specially — an empty or over-long one, a truncated end, an unusable
timestamp — makes it return None, and the caller surveys the piece the ordinary way.
"""

from __future__ import annotations

import io
import os
import struct
import sys
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ipsec_inspect.pipeline.partition_index import Column, Limits, PieceIndex, offset_type
from ipsec_inspect.pipeline.tunnels import OVERFLOW, Survey, Tunnel, _normal, clear_spis, tunnel_of
from ipsec_inspect.sources.byte_ranges import WHOLE, ByteRange
from ipsec_inspect.sources.capture_file import DEFAULT_SNAPLEN, MAX_FRAME_BYTES, PCAP_MAGICS
from ipsec_inspect.sources.multi import is_url
from ipsec_inspect.sources.timestamps import LATEST_TIME
from ipsec_inspect.wire.link import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    LINKTYPE_RAW_OLD,
    LINKTYPE_RAW_OLD2,
)

#: bytes of the piece handled per numpy pass: large enough that numpy's cost per call
#: (a few µs, some 40 calls a window) is little per frame, small enough that the window
#: stays in the processor's cache between the chase and the numpy passes (measured:
#: 4 MB 238 ns a frame, 1 MB 193, 256 kB 204)
WINDOW = 1 << 20

#: link type -> (offset of the IP header, offset of the EtherType that must say IPv4, or
#: -1): where ``wire.link`` puts an IPv4 header at a fixed place, so that a frame whose
#: bytes there are plain IPv4 ESP has its tunnel and SPI at fixed offsets too
_FIXED_IP: dict[int, tuple[int, int]] = {
    LINKTYPE_ETHERNET: (14, 12),
    LINKTYPE_LINUX_SLL: (16, 14),
    LINKTYPE_LINUX_SLL2: (20, 0),
    LINKTYPE_RAW: (0, -1),
    LINKTYPE_RAW_OLD: (0, -1),
    LINKTYPE_RAW_OLD2: (0, -1),
    LINKTYPE_IPV4: (0, -1),
    LINKTYPE_IPV6: (0, -1),
}
#: bytes kept free after a window's data, so that every field read at a fixed offset
#: from a record start (at most 16 + 20 + 20 + 8) lies inside the buffer
_SLACK = 64
_HIGH = np.uint64(32)
_LOW = np.uint64(0xFFFFFFFF)


def survey_pcap(r: ByteRange, limits: Limits | None = None) -> tuple[Survey, PieceIndex] | None:
    """(survey, record index) of a local uncompressed pcap piece, or None (not such a
    file, or a record the ordinary reader would treat specially). The index is written
    window by window, to a file of ``limits.directory`` once it is larger than
    ``limits.spill_bytes``, so the survey's memory does not grow with the piece."""
    limits = limits or Limits()
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
        snaplen, network = struct.unpack_from(endian + "II", head, 16)
        size = os.fstat(fh.fileno()).st_size
        start = 24 if r.start == 0 or r.end == WHOLE else r.start
        end = size if r.end == WHOLE else r.end
        if end > size or start > end:
            return None
        fh.seek(start)
        scan = _Scan(
            link_type=network & 0x0FFFFFFF,
            endian=endian,
            resolution=resolution,
            units=1_000_000 if resolution == 1e-6 else 1_000_000_000,
            max_len=min(max(snaplen, DEFAULT_SNAPLEN), MAX_FRAME_BYTES),
            codes=Column(np.uint8, limits.spill_bytes, limits.directory),
            starts=Column(offset_type(end), limits.spill_bytes, limits.directory),
        )
        if not scan.run(fh, start, end):
            return None
        return scan.result(end)


@dataclass
class _Scan:
    """The state of one piece's survey across its windows."""

    link_type: int
    endian: str
    resolution: float
    units: int
    max_len: int
    codes: Column  # the index, window by window
    starts: Column
    survey: Survey = field(default_factory=Survey)
    tunnels: list[Tunnel] = field(default_factory=list)  # code -> tunnel
    overflow: bool = False
    _code: dict[Tunnel, int] = field(default_factory=dict)
    # every tunnel seen (overflow ones too): its id, and per id the tunnel and its code
    _gid: dict[Tunnel, int] = field(default_factory=dict)
    _gtun: list[Tunnel] = field(default_factory=list)
    _gcode: list[int] = field(default_factory=list)
    # raw address bytes of plain ESP seen (as integers, sorted) and their tunnel ids
    _raw_keys: npt.NDArray[np.uint64] = field(default_factory=lambda: np.zeros(0, np.uint64))
    _raw_gid: npt.NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, np.intp))
    # (tunnel id << 32 | SPI) of plain ESP seen, sorted
    _esp_keys: npt.NDArray[np.uint64] = field(default_factory=lambda: np.zeros(0, np.uint64))
    _last: float = -1.0e300

    def code_of(self, t: Tunnel) -> int:
        c = self._code.get(t)
        if c is None:
            if len(self.tunnels) >= OVERFLOW:
                self.overflow = True
                return OVERFLOW
            c = self._code[t] = len(self.tunnels)
            self.tunnels.append(t)
        return c

    def run(self, fh: io.BufferedReader, start: int, end: int) -> bool:
        """Survey the records in ``[start, end)`` of the file; False on anything the
        ordinary reader would remark on."""
        caplen = struct.Struct(self.endian + "I").unpack_from
        max_len = self.max_len
        space = bytearray(WINDOW + _SLACK)  # reused: no new memory per window
        views = _Views(space, self.endian)
        filled = 0  # bytes of the piece in space
        base = start  # file offset of space[0]
        left = end - start  # bytes of the piece not read yet
        while left > 0:
            room = len(space) - _SLACK
            if filled == room:  # one record larger than the window
                need = 16 + caplen(space, 8)[0] if filled >= 16 else 16
                grown = bytearray(max(need, filled) + WINDOW + _SLACK)
                grown[:filled] = space[:filled]
                space, views = grown, _Views(grown, self.endian)
                room = len(space) - _SLACK
            got = fh.readinto(memoryview(space)[filled : filled + min(room - filled, left)])
            if not got:
                return False  # the file is shorter than it was
            left -= got
            filled += got
            # the one loop over every record: chase the headers (by the offset of their
            # length field, which saves an addition a record)
            fields = array("q")
            note = fields.append
            f = 8
            lim = filled - 8
            while f <= lim:
                note(f)
                f += caplen(space, f)[0] + 16
            if f > filled + 8:  # the last record is not all in this window
                f = fields.pop()
            p = f - 8  # the first record not surveyed yet
            if fields and not self._window(space, views, fields, p, base):
                return False
            if filled - p >= 16:
                incl = caplen(space, p + 8)[0]
                if incl > max_len or incl == 0:
                    return False  # the reader stops here with a remark
            space[: filled - p] = space[p:filled]
            filled -= p
            base += p
        return not filled  # else: a truncated record at the end of the piece

    def _window(
        self, space: bytearray, v: _Views, fields: array[int], stop: int, base: int
    ) -> bool:
        """Every complete record of one window (``fields``: the offsets of their length
        fields in ``space``; the next record at ``stop``), at file offset ``base``."""
        o = np.frombuffer(fields, dtype=np.int64)  # a record's start + 8
        n = len(o)
        incl = np.diff(o, append=stop + 8) - 16
        if incl.min() <= 0 or incl.max() > self.max_len:
            return False
        stamp = v.u8f[o - 8]  # the seconds and sub-seconds fields, in one read
        sec, frac = (
            (stamp >> _HIGH, stamp & _LOW) if self.endian == ">" else (stamp & _LOW, stamp >> _HIGH)
        )
        if frac.max() >= self.units:
            return False
        t = frac * self.resolution  # what ``sec + frac * resolution`` gives, in float64
        t += sec
        if t.max() > LATEST_TIME:
            return False
        s = self.survey
        if s.count == 0:
            s.first_time = float(t[0])
        if s.in_order and (t[0] < self._last or (n > 1 and bool((t[1:] < t[:-1]).any()))):
            s.in_order = False
        self._last = float(t[-1])
        s.last_time = self._last
        s.count += n
        self.starts.append(o + (base - 8))

        fast = self._plain_esp(v, o, incl)
        slow = np.flatnonzero(~fast) if fast is not None else np.arange(n)
        gids = np.empty(n, dtype=np.intp)
        new: list[tuple[int, Tunnel]] = []  # tunnels first seen here: (frame, tunnel)
        fresh: list[tuple[int, Tunnel]] = []  # raw address values first seen here
        at = spi = raw = None
        if fast is not None:
            at = np.flatnonzero(fast)
            ip = o[at] + (8 + _FIXED_IP[self.link_type][0])
            raw = v.u8[ip + 12]
            spi = v.u4b[ip + 20]
            slot = _slot(self._raw_keys, raw)
            unknown = self._raw_keys[slot] != raw if len(self._raw_keys) else None
            if unknown is None or unknown.any():
                if unknown is None:
                    unknown = np.ones(len(raw), dtype=np.bool_)
                values, first = np.unique(raw[unknown], return_index=True)
                where = at[unknown][first]
                for value, k in zip(values.tolist(), where.tolist(), strict=True):
                    tun = _normal(int(value).to_bytes(8, sys.byteorder))
                    fresh.append((value, tun))
                    new.append((k, tun))
        slow_tun: list[Tunnel] = []
        if len(slow):
            link_type, ike, esp = self.link_type, s.ike, s.esp
            view = memoryview(space)
            for d, length in zip((o[slow] + 8).tolist(), incl[slow].tolist(), strict=True):
                data = view[d : d + length].tobytes()
                tun = tunnel_of(link_type, data)
                slow_tun.append(tun)
                spi_i, espi = clear_spis(link_type, data)
                if spi_i is not None:
                    ike.setdefault(spi_i, set()).add(tun)
                elif espi is not None:
                    esp.setdefault(espi, set()).add(tun)
            seen = set(self._gid)
            for i, tun in zip(slow.tolist(), slow_tun, strict=True):
                if tun not in seen:
                    seen.add(tun)
                    new.append((i, tun))
        # ids (and codes) in the order tunnels first appear, as a frame-by-frame survey
        new.sort()
        for _i, tun in new:
            if tun not in self._gid:
                self._gid[tun] = len(self._gtun)
                self._gtun.append(tun)
                self._gcode.append(self.code_of(tun))
        if fast is not None and at is not None and raw is not None and spi is not None:
            if fresh:
                keys = np.concatenate([self._raw_keys, np.array([f[0] for f in fresh], np.uint64)])
                ids = np.concatenate(
                    [self._raw_gid, np.array([self._gid[f[1]] for f in fresh], np.intp)]
                )
                order = np.argsort(keys)
                self._raw_keys, self._raw_gid = keys[order], ids[order]
                slot = _slot(self._raw_keys, raw)
            fast_gid = self._raw_gid[slot]
            gids[at] = fast_gid
            pairs = (fast_gid.astype(np.uint64) << _HIGH) | spi
            known = self._esp_keys
            unseen = known[_slot(known, pairs)] != pairs if len(known) else None
            if unseen is None or unseen.any():
                added = np.unique(pairs if unseen is None else pairs[unseen])
                esp = s.esp
                for key in added.tolist():
                    esp.setdefault(key & 0xFFFFFFFF, set()).add(self._gtun[key >> 32])
                self._esp_keys = np.union1d(known, added)
        if slow_tun:
            gids[slow] = [self._gid[t] for t in slow_tun]
        self.codes.append(np.array(self._gcode, dtype=np.uint8)[gids])
        width = len(self._gtun)
        counts = np.bincount(gids, minlength=width).tolist()
        sizes = np.bincount(gids, weights=incl, minlength=width).tolist()
        for g, tun in enumerate(self._gtun):
            if counts[g]:
                s.frames[tun] = s.frames.get(tun, 0) + counts[g]
                s.sizes[tun] = s.sizes.get(tun, 0) + int(sizes[g])
        return True

    def _plain_esp(
        self, v: _Views, o: npt.NDArray[np.int64], incl: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_] | None:
        """Which frames are IPv4 ESP without options or fragments at the link type's
        fixed IP offset (None: the link type has none). ``o``: record starts + 8. A
        frame too short for the fields reads bytes beyond it, which the length check
        rules out."""
        fixed = _FIXED_IP.get(self.link_type)
        if fixed is None:
            return None
        ip_at, type_at = fixed
        ip = o + (8 + ip_at)
        # flags, fragment offset, TTL, protocol: no fragment bits, protocol 50
        fast = (v.u4b[ip + 6] & np.uint32(0x3FFF00FF)) == 50
        fast &= incl >= ip_at + 24
        if type_at == ip_at - 2:  # the EtherType and the version/IHL byte, in one read
            fast &= (v.u4b[ip - 2] >> np.uint32(8)) == 0x080045
        else:
            fast &= v.u1[ip] == 0x45
            if type_at >= 0:
                fast &= v.u2b[o + (8 + type_at)] == 0x0800
        return fast

    def result(self, end: int) -> tuple[Survey, PieceIndex]:
        if not self.survey.count:
            self.survey.last_time = None
        codes, starts = self.codes.finish(), self.starts.finish()
        return self.survey, PieceIndex(codes, self.tunnels, self.overflow, starts, end)


class _Views:
    """The window's buffer as integers of every width starting at *every* byte (stride
    1): one numpy gather reads a field of every record, wherever the record lies."""

    def __init__(self, space: bytearray, endian: str) -> None:
        n = len(space) - 7

        def at_every_byte(dtype: str) -> Any:
            return np.ndarray((n,), dtype=np.dtype(dtype), buffer=space, strides=(1,))

        self.u1 = at_every_byte("u1")
        self.u2b = at_every_byte(">u2")
        self.u4 = at_every_byte(endian + "u4")  # the file's byte order: record headers
        self.u4b = at_every_byte(">u4")
        self.u8 = at_every_byte("=u8")  # raw bytes as a number (a key, not a value)
        self.u8f = at_every_byte(endian + "u8")  # two fields of a record header
        self.u8b = at_every_byte(">u8")


def _slot(sorted_keys: npt.NDArray[np.uint64], values: npt.NDArray[np.uint64]) -> Any:
    """Where each of ``values`` is, or would be, in ``sorted_keys`` (a few: searched,
    not hashed), clipped to a valid index (compare to know whether it is there)."""
    if not len(sorted_keys):
        return np.zeros(len(values), dtype=np.intp)
    return np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
