"""The first packets of new orphan ESP SAs held in the tracker's nursery
(lifecycle/nursery.py) and registered, or evicted, in bulk.

Why these: nursing changes when an orphan is registered — at the next thing that reaches
the tracker, or never when ``--max-sas`` evicts it first — but never what comes out. Each
test runs a capture with the nursery and without it (the tracker's ``nursery`` switched
off, so the session's loop registers each packet as it comes) and compares the summary,
the export and the run's counts byte for byte: on a flood through a real tunnel that
holds everything that must stop or break a batch — packets the other way, an SPI on two
destinations, a second packet of a nursed SPI, an SPI coming back after its eviction, IKE
in between, a packet to itself, the last sequence number, other framings — uncapped and
under caps of 5, 20 and 300 (and of 0 SAs kept, through the tracker's settings: the
command line's 0 is no cap).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from benchmarks.make_sa_captures import ike_sa_init_request
from ipsec_inspect.export.timeline import build_timeline
from ipsec_inspect.lifecycle.flood import Evicted
from ipsec_inspect.lifecycle.sequence import SEQ_MAX
from ipsec_inspect.lifecycle.tracker import Tracker, TrackerConfig
from ipsec_inspect.pipeline.session import Analysis, Progress
from ipsec_inspect.sources.capture_file import CaptureReader
from tests.pcapbuild import pcap

from .test_compact_half_open import RESPONDER4, TUNNEL, _cli, _ike_frame
from .test_session import ROOT, _esp, _eth, _ipv4

#: the tunnel's peers (samples/ikev2-tunnel.pcapng), and others
A, B = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 1])
C, D, E = bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2]), bytes([10, 9, 0, 5])


def _ipv6_esp(spi: int, seq: int) -> bytes:
    src, dst = (
        bytes.fromhex("20010db8" + "00" * 11 + "01"),
        bytes.fromhex("20010db8" + "00" * 11 + "02"),
    )
    payload = _esp(spi, seq)
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(payload), 50, 64, src, dst) + payload
    return bytes.fromhex("020000000002020000000001") + b"\x86\xdd" + ip6


def flood_capture(path: Path, n: int = 600) -> Path:
    """The tunnel with ``n`` orphan SPIs running through it, most of one packet from C to
    D, and every case that must not be nursed or must end a batch (see the module doc)."""
    tunnel = [(t, data) for _n, t, _lt, data, _o, _i in CaptureReader(TUNNEL)]
    t0, t1 = tunnel[0][0], tunnel[-1][0]
    step = (t1 - t0 + 2.0) / (n + 1)
    frames = list(tunnel)

    def at(t: float, data: bytes) -> None:
        frames.append((t, data))

    for i in range(n):
        t = t0 - 1.0 + step * (i + 0.5)
        spi = 0xF000_0000 + i
        src, dst = (A, B) if i % 9 == 4 else (C, D)  # some between the tunnel's peers
        at(t, _eth(_ipv4(50, _esp(spi, 1), src, dst)))
        if i % 7 == 3:  # a second packet of the same SPI: builds it
            at(t + step * 0.3, _eth(_ipv4(50, _esp(spi, 2), src, dst)))
        if i % 11 == 5:  # a new SPI the other way: pairs with a one-way SA
            at(t + step * 0.2, _eth(_ipv4(50, _esp(0xF100_0000 + i, 1), dst, src)))
        if i % 13 == 6:  # the same SPI to a second destination
            at(t + step * 0.4, _eth(_ipv4(50, _esp(spi, 1), src, E)))
        if i % 17 == 8 and i >= 100:  # an SPI seen long ago (evicted under a small cap)
            at(t + step * 0.1, _eth(_ipv4(50, _esp(0xF000_0000 + i - 100, 7), src, dst)))
        if i % 19 == 2:  # an IKE_SA_INIT request nobody answers (deferred under a cap)
            req = ike_sa_init_request((0x5B00_0000_0000_0000 + i).to_bytes(8, "big"), i)
            at(t + step * 0.25, _ike_frame(req, E, RESPONDER4, i))
        if i % 23 == 10:  # other framings: UDP 4500, IPv6, a fragment
            udp = struct.pack("!HHHH", 4500, 4500, 8 + 56, 0) + _esp(0xF200_0000 + i, 1)
            at(t + step * 0.15, _eth(_ipv4(17, udp, E, C)))
            at(t + step * 0.35, _ipv6_esp(0xF300_0000 + i, 1))
            at(t + step * 0.45, _eth(_ipv4(50, _esp(0xF400_0000 + i, 1), C, D, frag=0x2000)))
        if i == n // 2:  # to itself, and the last sequence number
            at(t + step * 0.1, _eth(_ipv4(50, _esp(0xF500_0000, 1), D, D)))
            at(t + step * 0.15, _eth(_ipv4(50, _esp(0xF500_0002, 1), D, D)))  # pairs
            at(t + step * 0.2, _eth(_ipv4(50, _esp(0xF500_0001, SEQ_MAX), C, D)))
    for k, (t, data) in enumerate(tunnel):
        ike = data[36:38] == b"\x01\xf4" or data[42:46] == bytes(4)  # port 500, or a marker
        if data[23] == 17 and ike:  # right after each IKE message of the tunnel
            at(t + 1e-6, _eth(_ipv4(50, _esp(0xF600_0000 + k, 1), A, B)))  # its child SA's?
    frames.sort(key=lambda f: f[0])
    path.write_bytes(pcap(frames))
    return path


def plain_flood(path: Path, n: int, ike_every: int = 10) -> Path:
    """``n`` one-packet SPIs from C to D, and an IKE_SA_INIT flood through it: a request
    after every ``ike_every``-th."""
    frames = []
    for i in range(n):
        frames.append((1_700_000_000 + i / 1000, _eth(_ipv4(50, _esp(0xF000_0000 + i, 1), C, D))))
        if i % ike_every == ike_every - 1:
            req = ike_sa_init_request((0x5B00_0000_0000_0000 + i).to_bytes(8, "big"), i)
            frames.append((1_700_000_000 + i / 1000, _ike_frame(req, E, RESPONDER4, i)))
    path.write_bytes(pcap(frames))
    return path


@pytest.fixture
def no_nursery(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Switch the nursery off (the session's loop asks the tracker for it)."""

    def off() -> None:
        monkeypatch.setattr(Tracker, "nursery", property(lambda _self: None))

    return off


def _both(argv: list[str], tmp_path: Path, no_nursery, monkeypatch) -> list[bytes]:  # type: ignore[no-untyped-def]
    outs = []
    for name in ("nursed", "one-by-one"):
        if name == "one-by-one":
            no_nursery()
        out = tmp_path / f"{name}.json"
        got = _cli([*argv, "-o", str(out)] if argv[0] == "export" else argv)
        if argv[0] == "export":
            got += out.read_bytes()
        outs.append(got)
    monkeypatch.undo()
    return outs


CAPS = [[], ["--max-sas", "0"], ["--max-sas", "5"], ["--max-sas", "20"], ["--max-sas", "300"]]


@pytest.mark.parametrize("caps", CAPS, ids=["default", "no-cap", "cap-5", "cap-20", "cap-300"])
@pytest.mark.parametrize("command", ["export", "summary"])
def test_a_flood_through_a_tunnel_comes_out_the_same(
    tmp_path: Path, caps: list[str], command: str, no_nursery, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    flood = flood_capture(tmp_path / "flood.pcap")
    nursed, one_by_one = _both([command, str(flood), *caps], tmp_path, no_nursery, monkeypatch)
    assert nursed == one_by_one
    assert b"child-" in nursed


@pytest.mark.parametrize("caps", CAPS, ids=["default", "no-cap", "cap-5", "cap-20", "cap-300"])
def test_an_esp_and_an_ike_flood_together_come_out_the_same(
    tmp_path: Path, caps: list[str], no_nursery, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    flood = plain_flood(tmp_path / "flood.pcap", 2_000)
    nursed, one_by_one = _both(["export", str(flood), *caps], tmp_path, no_nursery, monkeypatch)
    assert nursed == one_by_one
    evicted = json.loads((tmp_path / "nursed.json").read_text())["capture"]["evicted"]
    capped = caps[1:] not in ([], ["0"])  # --max-sas 0: no cap (the default: 20,000)
    assert evicted["orphan_child_sas"] > 1_500 if capped else evicted["orphan_child_sas"] == 0


@pytest.mark.parametrize("max_sas", [None, 0, 5, 20, 300])
def test_the_counts_and_the_model_are_the_same(tmp_path: Path, max_sas: int | None) -> None:
    """Beyond the documents: the run's record and frame counts, the decoder's, the
    capture's, what was evicted, and the uids kept."""
    flood = flood_capture(tmp_path / "flood.pcap")
    runs, taken = [], []
    for nursed in (True, False):
        a = Analysis(str(flood), config=TrackerConfig(max_sas=max_sas), keep_index=False)
        nursery = a.tracker.nursery
        assert nursery is not None
        if not nursed:
            a.tracker._nursery = None
        res = a.run()
        taken.append(nursery.taken)
        doc = build_timeline(res, {"path": "x"})
        runs.append(
            (
                json.dumps(doc),
                a.records,
                a.frames_fed,
                a.decoder.stats,
                res.stats,
                res.evicted,
                list(res.child_sas),
                list(res.ike_sas),
            )
        )
    assert runs[0] == runs[1]
    assert taken[0] >= 590 and taken[1] == 0  # nursed: nearly every first packet, or none
    evicted = runs[0][5]
    assert isinstance(evicted, Evicted)
    if max_sas is not None and max_sas < 300:
        assert evicted.orphan_child_sas > 600  # more SPIs than 600: some came back


def test_the_flood_is_nursed_and_mostly_never_registered(tmp_path: Path) -> None:
    """Under a cap, the nursery takes every first packet of a plain flood, and only the
    SAs still kept when something else reaches the tracker are ever registered: here,
    a run of deferred IKE_SA_INIT requests (lifecycle/first_run.py: the two runs are
    never open together) and the end."""
    flood = plain_flood(tmp_path / "flood.pcap", 5_000, ike_every=1_000)
    a = Analysis(str(flood), config=TrackerConfig(max_sas=100), keep_index=False)
    nursery = a.tracker.nursery
    assert nursery is not None
    registered: list[int] = []
    from ipsec_inspect.lifecycle import tracker as tracker_module

    register = tracker_module.register_nursed

    def counting(st, base, packets):  # type: ignore[no-untyped-def]
        registered.extend(p[0] for p in packets)
        register(st, base, packets)

    tracker_module.register_nursed = counting  # type: ignore[assignment]
    try:
        res = a.run()
    finally:
        tracker_module.register_nursed = register  # type: ignore[assignment]
    assert nursery.taken == 5_000  # every first packet was nursed
    assert len(registered) <= 6 * 100  # at the 5 requests and at the end, no more
    assert res.evicted.orphan_child_sas == 5_000 - len(res.child_sas) > 4_800
    assert registered[-len(res.child_sas) :] == [
        c.directions[0].first_frame for c in res.child_sas.values()
    ]
    assert not nursery.open and not nursery.items and not nursery.spis


def test_no_nursery_with_a_listener(tmp_path: Path) -> None:
    flood = flood_capture(tmp_path / "flood.pcap", 100)
    listened = Analysis(str(flood), config=TrackerConfig(max_sas=20), keep_index=False)
    events: list[object] = []
    listened.run(on_events=events.extend)
    assert listened.tracker.nursery is not None and listened.tracker.nursery.taken == 0
    quiet = Analysis(str(flood), config=TrackerConfig(max_sas=20), keep_index=False)
    quiet.run()
    assert quiet.tracker.nursery is not None and quiet.tracker.nursery.taken > 50
    # nothing is lost by nursing: the same documents as with a listener
    assert json.dumps(build_timeline(quiet.result(), {"path": "x"})) == json.dumps(
        build_timeline(listened.result(), {"path": "x"})
    )


@pytest.mark.parametrize("max_sas", [None, 0, 20])
def test_the_packet_index_and_progress_are_the_same(tmp_path: Path, max_sas: int | None) -> None:
    """With a packet index (the TUI's run) the nursed packets are indexed as they come,
    their flows numbered as before; progress (which reads snapshots) sees the same."""
    flood = flood_capture(tmp_path / "flood.pcap")
    runs = []
    for nursed in (True, False):
        a = Analysis(str(flood), config=TrackerConfig(max_sas=max_sas))
        nursery = a.tracker.nursery
        assert nursery is not None
        if not nursed:
            a.tracker._nursery = None
        seen: list[tuple[int, int, int]] = []

        def progress(p: Progress, a: Analysis = a, seen: list = seen) -> None:  # type: ignore[type-arg]
            res = a.snapshot()
            seen.append((p.frames, p.records, len(res.child_sas)))

        res = a.run(on_progress=progress, progress_every=50)
        ix = a.index
        runs.append(
            (
                json.dumps(build_timeline(res, {"path": "x"})),
                [list(ix.frame), list(ix.kind), list(ix.time), list(ix.flow), list(ix.flags)],
                a.flow_keys,
                seen,
            )
        )
        if nursed:
            assert nursery.taken > 500
    assert runs[0] == runs[1]
    assert len(runs[0][3]) > 10


@pytest.mark.parametrize("name", ["esp-algorithms.pcap", "wire-variety.pcapng", "ah.pcap"])
def test_real_captures_with_the_flood_come_out_the_same(
    tmp_path: Path, name: str, no_nursery, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    flood = flood_capture(tmp_path / "flood.pcap", 300)
    argv = ["export", str(ROOT / "samples" / name), str(flood), "--max-sas", "20"]
    nursed, one_by_one = _both(argv, tmp_path, no_nursery, monkeypatch)
    assert nursed == one_by_one


def spoofed_flood(path: Path, n: int) -> Path:
    """``n`` one-packet SPIs to D, each from its own source of 10.1.0.0/16, and after
    every 3rd a new SPI from D back to the source 40 packets earlier (paired with it while
    it is kept, a new orphan once it is evicted)."""
    frames = []

    def src(i: int) -> bytes:
        return bytes([10, 1, i // 250, i % 250 + 1])

    for i in range(n):
        t = 1_700_000_000 + i / 1000
        frames.append((t, _eth(_ipv4(50, _esp(0xF000_0000 + i, 1), src(i), D))))
        if i % 3 == 2 and i >= 40:
            frames.append((t, _eth(_ipv4(50, _esp(0xF100_0000 + i, 1), D, src(i - 40)))))
    path.write_bytes(pcap(frames))
    return path


@pytest.mark.parametrize("max_sas", [0, 5, 20, 300, None])
def test_a_flood_from_spoofed_sources_keeps_few_pairs_and_comes_out_the_same(
    tmp_path: Path, max_sas: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ipsec_inspect.lifecycle import nursery as nursery_module

    monkeypatch.setattr(nursery_module, "MAX_PAIRS", 16)
    most = [0]
    admit = nursery_module.OrphanNursery.admit

    def counting(self, addrs: bytes, src: str, dst: str):  # type: ignore[no-untyped-def]
        most[0] = max(most[0], len(self.pairs))
        return admit(self, addrs, src, dst)

    monkeypatch.setattr(nursery_module.OrphanNursery, "admit", counting)
    flood = spoofed_flood(tmp_path / "flood.pcap", 2_000)
    docs = []
    for nursed in (True, False):
        a = Analysis(str(flood), config=TrackerConfig(max_sas=max_sas), keep_index=False)
        nursery = a.tracker.nursery
        assert nursery is not None
        if not nursed:
            a.tracker._nursery = None
        res = a.run()
        docs.append((json.dumps(build_timeline(res, {"path": "x"})), a.records, res.evicted))
        if nursed:
            assert nursery.taken > 1_000
    assert docs[0] == docs[1]
    if max_sas is not None and max_sas <= 20:
        assert most[0] <= 2 * max(16, max_sas + 1)  # the pairs of the packets kept, no more
