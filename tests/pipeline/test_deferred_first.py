"""First IKE_SA_INIT requests handed to the tracker undissected (``Tracker.defer_first``).

Why these: deferring changes when a request is dissected and tracked — at a later message
for its SA, or at the end of the capture, or never when ``--max-sas`` evicts it first — but
never what comes out. Each test runs the same capture with deferral and without it (the
tracker's ``defers_first`` switched off) and compares the documents and summaries byte for
byte, on a flood running through a real tunnel (retransmissions and late answers
included), under the default cap and small ones, and on every real capture.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.make_sa_captures import RESPONDER4, ike_sa_init_request, write
from ipsec_inspect.lifecycle.parked import Deferred, ParkedDict
from ipsec_inspect.lifecycle.tracker import Tracker, TrackerConfig
from ipsec_inspect.pipeline.session import Analysis
from ipsec_inspect.sources.capture_file import CaptureReader
from tests.pcapbuild import pcap

from .test_compact_half_open import _captures, _cli, _flood, _ike_frame, mixed_capture


@pytest.fixture
def no_deferral(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run the CLI with deferral off (the pipeline asks ``defers_first``)."""

    def off() -> None:
        monkeypatch.setattr(Tracker, "defers_first", property(lambda _self: False))

    return off


def _both(argv: list[str], tmp_path: Path, no_deferral, monkeypatch) -> list[bytes]:  # type: ignore[no-untyped-def]
    outs = []
    for name in ("deferred", "whole"):
        if name == "whole":
            no_deferral()
        argv_o = [*argv, "-o", str(tmp_path / f"{name}.json")] if argv[0] == "export" else argv
        got = _cli(argv_o)
        if argv[0] == "export":
            got += (tmp_path / f"{name}.json").read_bytes()
        outs.append(got)
    monkeypatch.undo()
    return outs


@pytest.mark.parametrize(
    "caps", [[], ["--max-sas", "20"], ["--max-sas", "5"]], ids=["default", "cap-20", "cap-5"]
)
@pytest.mark.parametrize("command", ["export", "summary"])
def test_a_flood_through_a_tunnel_comes_out_the_same(
    tmp_path: Path, caps: list[str], command: str, no_deferral, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    mixed = mixed_capture(tmp_path / "mixed.pcap")
    deferred, whole = _both([command, str(mixed), *caps], tmp_path, no_deferral, monkeypatch)
    assert deferred == whole
    assert b"ike-5a00000000000000" in deferred or b"evicted" in deferred


def test_requests_are_deferred_and_the_touched_ones_fed(tmp_path: Path) -> None:
    """Under a cap: every first request of the flood is deferred; a retransmission or a
    late answer feeds its SA at once; at the end the rest is fed, nothing is left deferred."""
    mixed = mixed_capture(tmp_path / "mixed.pcap")
    analysis = Analysis(str(mixed), config=TrackerConfig(max_sas=1000), keep_index=False)
    tracker = analysis.tracker
    deferred: list[str] = []
    defer = tracker._first.take  # where both the raw and the PacketMeta way lead

    def counting(spi_i, pair, frame, time, req):  # type: ignore[no-untyped-def]
        took = defer(spi_i, pair, frame, time, req)
        if took:
            deferred.append(pair[0])
        return took

    tracker._first.take = counting
    analysis.run()
    res = analysis.result()
    assert len(deferred) == 60 + 1  # the flood's 60 requests and the tunnel's own
    ike = res.ike_sas
    assert isinstance(ike, ParkedDict)
    assert not [u for u, v in dict.items(ike) if not hasattr(v, "uid")]  # all SAs whole
    answered = ike["ike-5a00000000000007"]  # the 8th request: answered late
    assert answered.state == "INIT_DONE" and answered.messages == 2
    retransmitted = ike["ike-5a00000000000005"]
    assert retransmitted.state == "INIT_SENT" and retransmitted.messages == 2
    # the counts are the same as when every request is dissected as it comes
    whole = Analysis(str(mixed), config=TrackerConfig(max_sas=1000), keep_index=False)
    whole.tracker._defers = False
    whole.run()
    assert res.stats == whole.result().stats and res.stats.ike_messages == 93
    assert analysis.decoder.stats == whole.decoder.stats
    assert (analysis.records, analysis.frames_fed) == (whole.records, whole.frames_fed)


def test_under_the_default_cap_most_of_a_flood_is_never_dissected(tmp_path: Path) -> None:
    flood = _flood(tmp_path / "flood.pcap", 3_000)
    analysis = Analysis(str(flood), config=TrackerConfig(max_sas=1000), keep_index=False)
    dissected: list[int] = []
    tracker = analysis.tracker
    dissect = tracker._dissect
    assert dissect is not None

    def counting(data, offset, end, meta):  # type: ignore[no-untyped-def]
        dissected.append(meta.frame)
        return dissect(data, offset, end, meta)

    tracker._dissect = counting  # type: ignore[assignment]
    analysis.run()
    res = analysis.result()
    assert res.evicted.half_open_ike_sas == 3_000 - len(res.ike_sas)
    assert len(dissected) == len(res.ike_sas) <= 1000  # only the SAs kept were dissected
    assert res.flood.half_open_started == 3_000
    assert not any(isinstance(v, Deferred) for v in dict.values(res.ike_sas))


def test_no_cap_or_a_listener_means_no_deferral(tmp_path: Path) -> None:
    mixed = mixed_capture(tmp_path / "mixed.pcap")
    assert not Analysis(str(mixed), config=TrackerConfig(max_sas=None)).tracker.defers_first
    analysis = Analysis(str(mixed), config=TrackerConfig(max_sas=1000), keep_index=False)
    assert analysis.tracker.defers_first
    events: list[object] = []
    analysis.run(on_events=events.extend)
    opened = [e for e in events if type(e).__name__ == "SaOpened"]
    assert len(opened) == len(analysis.result().ike_sas) + len(analysis.result().child_sas)


@pytest.mark.parametrize("path", _captures(), ids=lambda p: p.name)
def test_every_real_capture_comes_out_the_same(
    path: Path, tmp_path: Path, no_deferral, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    deferred, whole = _both(
        ["export", str(path), "--max-sas", "3"], tmp_path, no_deferral, monkeypatch
    )
    assert deferred == whole


def _counts(path: Path, cap: int, defer: bool) -> tuple[object, ...]:
    """Every count a run makes, with first requests deferred (held raw in a run) or not."""
    analysis = Analysis(str(path), config=TrackerConfig(max_sas=cap), keep_index=False)
    analysis.tracker._defers = defer
    analysis.run()
    res = analysis.result()
    return (
        res.stats,
        res.flood,
        res.evicted,
        analysis.decoder.stats,
        analysis.records,
        analysis.frames_fed,
        list(res.ike_sas),
        list(res.child_sas),
        res.errors,
    )


@pytest.mark.parametrize("cap, started", [(1, 241), (5, 241), (20, 221), (1000, 201)])
def test_every_count_is_the_same_with_first_requests_held_raw(
    tmp_path: Path, cap: int, started: int
) -> None:
    """The capture counts, the flood figures, the evictions, the decoder's counts and
    which SAs are kept, in order: the same when the flood's first requests are held as a
    run (evicted off its front, moved into the tables when anything else comes)."""
    mixed = mixed_capture(tmp_path / "mixed.pcap", flood=200)
    deferred, whole = _counts(mixed, cap, True), _counts(mixed, cap, False)
    assert deferred == whole
    stats, flood, evicted = deferred[:3]
    # 200 + the tunnel's own; a retransmission of an evicted request starts an SA again
    assert flood.half_open_started == started  # type: ignore[attr-defined]
    assert (evicted.half_open_ike_sas > 0) == (cap < 201)  # type: ignore[attr-defined]
    assert stats.ike_messages > 201  # type: ignore[attr-defined]


V1_SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "ikev1-main-quick.pcap"


def _v1_then_flood(path: Path) -> tuple[Path, bytes]:
    """An IKEv1 Main Mode first message (never answered), then 21 IKE_SA_INIT requests, the
    5th with the IKEv1 SA's cookie as its SPI: under ``--max-sas 20`` the IKEv1 SA is
    evicted while that request is held, which must still be named ``ike-<spi>-2``."""
    v1 = next(iter(CaptureReader(V1_SAMPLE)))[3]
    cookie = v1[42:50]
    t0 = 1_700_000_000.0
    frames = [(t0, v1)]
    for i in range(21):
        spi = cookie if i == 4 else (0x5B00_0000_0000_0000 + i).to_bytes(8, "big")
        src = bytes([192, 0, 2, i % 3 + 1])
        frames.append((t0 + 1 + i, _ike_frame(ike_sa_init_request(spi, i), src, RESPONDER4, i)))
    path.write_bytes(pcap(frames))
    return path, cookie


@pytest.mark.parametrize("command", ["export", "summary"])
def test_a_request_whose_uid_was_taken_keeps_its_uid_when_the_holder_is_evicted(
    tmp_path: Path, command: str, no_deferral, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    path, cookie = _v1_then_flood(tmp_path / "v1-flood.pcap")
    argv = [command, str(path), "--max-sas", "20"]
    deferred, whole = _both(argv, tmp_path, no_deferral, monkeypatch)
    assert deferred == whole
    res = _counts(path, 20, True)
    uids = res[6]
    assert f"ike-{cookie.hex()}-2" in uids and f"ike-{cookie.hex()}" not in uids  # type: ignore[operator]
    assert res[2].half_open_ike_sas == 3  # type: ignore[attr-defined]  # the IKEv1 SA, 2 requests


def test_a_flood_in_ipv4_and_ipv6_counts_the_same(tmp_path: Path) -> None:
    """508 IPv4 sources (taken in one struct call) and 92 IPv6 ones (through the locator and
    ``defer_first``), interleaved in one run: the same counts and kept SAs."""
    path = tmp_path / "v4v6.pcap"
    write(path, "ike-init", 3_000, 600, 20)
    for cap in (20, 1_000, 5_000):
        deferred, whole = _counts(path, cap, True), _counts(path, cap, False)
        assert deferred == whole
        assert deferred[1].half_open_started == 3_000  # type: ignore[attr-defined]
        assert len(deferred[1].sources) == 600  # type: ignore[attr-defined]


def test_a_run_stopped_midway_counts_what_was_read(tmp_path: Path) -> None:
    """Stopped (``stop``) in the middle of a run: the run is ended with what was read."""
    flood = _flood(tmp_path / "flood.pcap", 2_500)
    results = []
    for defer in (True, False):
        analysis = Analysis(str(flood), config=TrackerConfig(max_sas=300), keep_index=False)
        analysis.tracker._defers = defer
        res = analysis.run(stop=lambda: True, progress_every=1_000)
        results.append((res.stats, res.flood, res.evicted, list(res.ike_sas), analysis.records))
    assert results[0] == results[1]
    assert results[0][0].frames == 1_000 and results[0][1].half_open_started == 1_000  # type: ignore[attr-defined]
