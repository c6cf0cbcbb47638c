"""Shared helpers for the TUI tests: samples, a fixed clock, and waiting for the worker."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest
from textual.worker import WorkerState

from ipsec_inspect.pipeline.session import Analysis
from ipsec_inspect.tui.app import InspectorApp
from ipsec_inspect.tui.source import FrameSource

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
TUNNEL = SAMPLES / "ikev2-tunnel.pcapng"
TUNNEL_KEYS = SAMPLES / "ikev2-tunnel.keys.toml"
MALFORMED = SAMPLES / "malformed.pcap"


def fixed_clock() -> float:
    """A clock that never moves: SA views refresh only when the source ends."""
    return 0.0


def make_app(
    capture: Path | None = TUNNEL,
    keys: tuple[Path, ...] = (),
    source: FrameSource | None = None,
    clock=fixed_clock,
) -> InspectorApp:
    analysis = Analysis(str(capture) if capture else None, key_paths=[str(k) for k in keys])
    return InspectorApp(analysis, source, clock=clock)


async def settle(pilot) -> None:
    """Wait for the analysis (and the views it triggers) to finish, then for repaint."""
    app = pilot.app
    busy = (WorkerState.PENDING, WorkerState.RUNNING)
    for _ in range(1000):
        await pilot.pause(0.01)
        if not any(w.state in busy for w in app.workers):
            break
    await pilot.pause()


@pytest.fixture
def tunnel_app() -> InspectorApp:
    return make_app(TUNNEL, (TUNNEL_KEYS,))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests on a fresh event loop (no asyncio plugin is installed)."""
    func = pyfuncitem.obj
    if not inspect.iscoroutinefunction(func):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(func(**{n: pyfuncitem.funcargs[n] for n in names}))
    return True
