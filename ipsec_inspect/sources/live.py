"""Live frame sources: capture an interface and hand frames on like the file reader.

Why the same tuples as :mod:`~ipsec_inspect.sources.capture_file`: the analysis is fed
``(number, time, link_type, data, original_length, interface_id)`` whatever the origin, so
live capture runs the very pipeline that files run, and a test can swap one for the other.

Two backends:

- ``scapy`` (default): a Linux packet socket opened by scapy's ``L2ListenSocket`` (it binds
  the interface and attaches the compiled BPF filter before any frame is queued). Frames are
  then read with ``recvmsg`` straight from that socket — no scapy packet is built on the hot
  path — and the kernel's ``PACKET_STATISTICS`` give the drop counters.
- ``pyshark``: dumpcap captures (for users who hold dumpcap's capabilities but not root);
  see :mod:`ipsec_inspect.sources.live_pyshark`.

:func:`ipsec_inspect.sources.live_backends.open_live` picks one by name; this module holds
what both share, so the two backends never import each other.

A source is iterated from one thread; :meth:`LiveSource.stop` may be called from any other
thread or a signal handler and ends the iteration within one poll interval.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ipsec_inspect.sources.capture_file import RawFrame

#: IKE (UDP 500/4500, TCP 4500 per RFC 8229), ESP and AH over IPv4 and IPv6, and every IP
#: fragment so that reassembly of fragmented IKE and ESP still works.
DEFAULT_FILTER = (
    "udp port 500 or udp port 4500 or tcp port 4500"
    " or ip proto 50 or ip proto 51 or ip6 proto 50 or ip6 proto 51"
    " or (ip and ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)"
)

POLL_INTERVAL = 0.2  # seconds between checks of the stop flag while the wire is quiet
RECV_BUFFER = 262144  # bytes: larger than any frame a packet socket delivers (GRO included)
SOCKET_BUFFER = 8 << 20  # bytes of kernel queue for the packet socket: absorbs bursts

# Linux constants (linux/if_packet.h, linux/if_arp.h, asm-generic/socket.h)
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_AUXDATA = 8
SO_TIMESTAMPNS = 35
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
SIOCGIFFLAGS = 0x8913
IFF_UP = 0x1
ARPHRD_LOOPBACK = 772

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101

#: ARPHRD_* hardware type of an interface -> the pcap link type of what a packet socket reads
ARPHRD_LINKTYPE = {
    1: LINKTYPE_ETHERNET,  # ARPHRD_ETHER
    772: LINKTYPE_ETHERNET,  # ARPHRD_LOOPBACK: Linux gives loopback an Ethernet header
    768: LINKTYPE_RAW,  # ARPHRD_TUNNEL (ipip)
    769: LINKTYPE_RAW,  # ARPHRD_TUNNEL6 (ip6tnl)
    776: LINKTYPE_RAW,  # ARPHRD_SIT
    65534: LINKTYPE_RAW,  # ARPHRD_NONE (tun, wireguard, xfrm interfaces)
    65535: LINKTYPE_RAW,  # ARPHRD_VOID (vti)
}

_AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata
_TIMESPEC = struct.Struct("=qq")
_STATS = struct.Struct("=II")  # struct tpacket_stats


class LiveError(Exception):
    """Capture cannot start (permission, interface, filter); the message is one sentence."""


@dataclass(slots=True)
class CaptureCounters:
    """How many frames the capture saw and lost, by where they were lost.

    ``received``: frames that passed the filter and reached the capture (kernel count
    where the backend reports one); ``delivered``: frames handed on to the analysis.
    ``kernel_dropped``: lost because the socket buffer was full; ``backend_dropped``: lost
    inside the capture program (dumpcap, or our hand-over queue); ``interface_dropped``:
    lost by the interface or its driver, as the backend reports it.
    """

    received: int = 0
    delivered: int = 0
    kernel_dropped: int = 0
    backend_dropped: int = 0
    interface_dropped: int = 0

    @property
    def dropped(self) -> int:
        return self.kernel_dropped + self.backend_dropped + self.interface_dropped

    def to_json(self) -> dict[str, int]:
        return {
            "received": self.received,
            "delivered": self.delivered,
            "kernel_dropped": self.kernel_dropped,
            "backend_dropped": self.backend_dropped,
            "interface_dropped": self.interface_dropped,
        }


class LiveSource(Protocol):
    """What the sniff command and the TUI need from a capture backend."""

    iface: str
    backend: str
    bpf: str
    link_type: int

    def __iter__(self) -> Iterator[RawFrame]: ...

    def stop(self) -> None: ...

    def counters(self) -> CaptureCounters: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- interfaces


def interface_names() -> list[str]:
    """Names of the interfaces of this network namespace, in index order."""
    return [name for _, name in sorted(socket.if_nameindex())]


def check_interface(iface: str) -> None:
    """Raise :class:`LiveError` unless ``iface`` exists and is administratively up."""
    names = interface_names()
    if iface not in names:
        raise LiveError(
            f"no interface named {iface!r}; interfaces here: {', '.join(names) or 'none'}"
        )
    if not interface_is_up(iface):
        raise LiveError(f"interface {iface} is down (bring it up with: ip link set {iface} up)")


def interface_is_up(iface: str) -> bool:
    """IFF_UP of ``iface`` (SIOCGIFFLAGS works unprivileged and inside any namespace)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            raw = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, struct.pack("16s16x", iface.encode()[:15]))
        except OSError:
            return False
    (flags,) = struct.unpack_from("H", raw, 16)
    return bool(flags & IFF_UP)


def interface_link_type(iface: str) -> int:
    """The pcap link type of frames read from ``iface`` (from its ARPHRD type)."""
    try:
        with open(f"/sys/class/net/{iface}/type") as fh:
            hatype = int(fh.read().strip())
    except (OSError, ValueError):
        return LINKTYPE_ETHERNET
    return ARPHRD_LINKTYPE.get(hatype, LINKTYPE_ETHERNET)


PERMISSION_HINT = "run as root, grant CAP_NET_RAW, or use --backend pyshark"


# --------------------------------------------------------------------------- scapy backend


@dataclass
class ScapySource:
    """Frames from a Linux packet socket opened through scapy, with kernel drop counters."""

    iface: str
    bpf: str = DEFAULT_FILTER
    promiscuous: bool = True
    on_idle: Callable[[], None] | None = None
    backend: str = field(init=False, default="scapy")
    link_type: int = field(init=False, default=LINKTYPE_ETHERNET)
    _sock: socket.socket | None = field(init=False, default=None, repr=False)
    _scapy_socket: object = field(init=False, default=None, repr=False)
    _stopped: threading.Event = field(init=False, default_factory=threading.Event, repr=False)
    _counters: CaptureCounters = field(init=False, default_factory=CaptureCounters)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock, repr=False)
    _loopback: bool = field(init=False, default=False, repr=False)
    _ignored: int = field(init=False, default=0, repr=False)

    def __post_init__(self) -> None:
        check_interface(self.iface)
        self._open()

    def _open(self) -> None:
        try:
            from scapy.arch.linux import L2ListenSocket
            from scapy.error import Scapy_Exception
        except ImportError as e:  # scapy is a dependency; a broken install is an input problem
            raise LiveError(f"scapy cannot be imported ({e})") from None
        scapy_log = logging.getLogger("scapy.runtime")
        level = scapy_log.level
        scapy_log.setLevel(logging.ERROR)  # scapy warns it has no layer for loopback: irrelevant
        try:
            ls = L2ListenSocket(iface=self.iface, filter=self.bpf, promisc=self.promiscuous)
        except PermissionError:
            raise LiveError(
                f"no permission to capture on {self.iface}: {PERMISSION_HINT}"
            ) from None
        except Scapy_Exception as e:
            raise LiveError(f"capture filter {self.bpf!r} was refused: {e}") from None
        except OSError as e:
            if e.errno in (errno.EPERM, errno.EACCES):
                raise LiveError(
                    f"no permission to capture on {self.iface}: {PERMISSION_HINT}"
                ) from None
            if e.errno in (errno.ENODEV, errno.ENXIO):
                check_interface(self.iface)
            raise LiveError(f"cannot capture on {self.iface}: {e.strerror or e}") from None
        finally:
            scapy_log.setLevel(level)
        self._scapy_socket = ls
        self._sock = ls.ins
        hatype = self._sock.getsockname()[3]
        self.link_type = ARPHRD_LINKTYPE.get(hatype, interface_link_type(self.iface))
        self._loopback = hatype == ARPHRD_LOOPBACK
        # A larger receive buffer absorbs bursts; if the kernel refuses, scapy's default stays.
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        self._sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        self._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._read_stats()  # the counters reset on read: start from zero

    # ------------------------------------------------------------------ reading

    def __iter__(self) -> Iterator[RawFrame]:
        sock = self._sock
        if sock is None:
            return
        buf = bytearray(RECV_BUFFER)
        view = memoryview(buf)
        ancsize = socket.CMSG_SPACE(_AUXDATA.size) + socket.CMSG_SPACE(_TIMESPEC.size)
        fd = sock.fileno()
        number = 0
        next_stats = time.monotonic() + 1.0
        stopped = self._stopped
        loopback = self._loopback
        while not stopped.is_set():
            ready, _, _ = select.select([fd], [], [], POLL_INTERVAL)
            if not ready:
                self._read_stats()
                next_stats = time.monotonic() + 1.0
                if self.on_idle is not None:
                    self.on_idle()
                continue
            try:
                n, anc, _flags, addr = sock.recvmsg_into([view], ancsize, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError as e:
                if stopped.is_set() or e.errno == errno.EBADF:
                    break
                if e.errno == errno.ENETDOWN:
                    raise LiveError(
                        f"interface {self.iface} went down during the capture"
                    ) from None
                raise
            if loopback and addr[2] == socket.PACKET_OUTGOING:
                with self._lock:  # loopback shows each packet leaving and arriving:
                    self._ignored += 1  # keep one, as libpcap does
                continue
            data, stamp, orig_len = _frame_from(view, n, anc, self.link_type)
            number += 1
            with self._lock:
                self._counters.delivered += 1
            yield (number, stamp, self.link_type, data, orig_len, 0)
            if number % 256 == 0 and time.monotonic() >= next_stats:
                self._read_stats()
                next_stats = time.monotonic() + 1.0
        self._read_stats()

    def _read_stats(self) -> None:
        """Add the kernel's counters (which reset on every read) to ours."""
        sock = self._sock
        if sock is None:
            return
        try:
            raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS.size)
        except OSError:
            return
        packets, drops = _STATS.unpack(raw)
        with self._lock:
            # tp_packets counts every frame queued *and* dropped; received = queued ones
            self._counters.received += packets - drops
            self._counters.kernel_dropped += drops

    def counters(self) -> CaptureCounters:
        with self._lock:
            c = self._counters
            return CaptureCounters(
                max(c.received - self._ignored, c.delivered),
                c.delivered,
                c.kernel_dropped,
                c.backend_dropped,
                c.interface_dropped,
            )

    def stop(self) -> None:
        self._stopped.set()

    def close(self) -> None:
        self._stopped.set()
        if self._sock is not None:
            self._read_stats()
        ls = self._scapy_socket
        self._scapy_socket = None
        self._sock = None
        if ls is not None:
            ls.close()  # type: ignore[attr-defined]


def _frame_from(
    view: memoryview, n: int, anc: list[tuple[int, int, bytes]], link_type: int
) -> tuple[bytes, float, int]:
    """Frame bytes (VLAN tag put back), kernel timestamp and original length."""
    stamp: float | None = None
    orig_len = n
    vlan: bytes | None = None
    for level, kind, payload in anc:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(payload) >= _AUXDATA.size:
            status, length, _snap, _mac, _net, tci, tpid = _AUXDATA.unpack_from(payload)
            orig_len = length
            if status & TP_STATUS_VLAN_VALID and link_type == LINKTYPE_ETHERNET:
                tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                vlan = struct.pack("!HH", tpid, tci)
        elif level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
            sec, nsec = _TIMESPEC.unpack_from(payload)
            stamp = sec + nsec * 1e-9
    if vlan is not None and n >= 12:
        # the kernel strips the 802.1Q tag and reports it aside: rebuild the wire frame
        data = bytes(view[:12]) + vlan + bytes(view[12:n])
        orig_len += 4
    else:
        data = bytes(view[:n])
    return data, stamp if stamp is not None else time.time(), max(orig_len, len(data))
