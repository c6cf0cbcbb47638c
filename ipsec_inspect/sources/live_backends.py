"""Choosing a live capture backend by name: ``scapy`` (packet socket) or ``pyshark`` (dumpcap).

Why a module of its own: the factory knows both backends, and each backend imports what
they share from :mod:`ipsec_inspect.sources.live`; with the factory there, the two
backend modules imported each other. Importing this module imports neither backend (the
``sniff`` command lists :data:`BACKENDS` while the parser is built, at every start-up).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ipsec_inspect.sources.live import LiveSource

BACKENDS = ("scapy", "pyshark")


def open_live(
    iface: str,
    bpf: str | None = None,
    backend: str = "scapy",
    on_idle: Callable[[], None] | None = None,
) -> LiveSource:
    """Open a capture on ``iface`` with ``bpf`` (default ``live.DEFAULT_FILTER``)."""
    from ipsec_inspect.sources.live import DEFAULT_FILTER, LiveError, ScapySource

    expr = bpf if bpf is not None else DEFAULT_FILTER
    if backend == "scapy":
        return ScapySource(iface, expr, on_idle=on_idle)
    if backend == "pyshark":
        from ipsec_inspect.sources.live_pyshark import PysharkSource

        return PysharkSource(iface, expr, on_idle=on_idle)
    raise LiveError(f"unknown capture backend {backend!r} (choose from {', '.join(BACKENDS)})")
