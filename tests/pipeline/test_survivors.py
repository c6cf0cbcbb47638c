"""The SAs a flood leaves at the end of the capture, built the fast way — pending orphans
built directly (``traffic.materialise_orphan``), deferred first requests replayed into one
quiet scratch tracker (``Tracker._replay``) — are the SAs of the full path: the one a
tracker that defers nothing takes at each packet.

Each test runs the same input with both deferrals on and with both off and compares the
model dataclass for dataclass, the pending state, the errors and the counts, and the CLI's
export and summary byte for byte: on real tunnels with an IKE_SA_INIT flood and an ESP
orphan flood running through them, without a cap (``--max-sas 0``), under small caps and
the default one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ipsec_inspect.core.records import IkeMessage
from ipsec_inspect.ipsec import ikev2
from ipsec_inspect.ipsec.ike import NO_DISSECTORS
from ipsec_inspect.lifecycle.pending import PendingChildren
from ipsec_inspect.lifecycle.tracker import Tracker, TrackerConfig, TrackerResult
from ipsec_inspect.pipeline.session import Analysis, open_records

from .test_compact_half_open import ROOT, _captures, _cli, mixed_capture
from .test_deferred_orphans import _flood, _span


def _inputs(tmp_path: Path) -> list[Path]:
    """A real tunnel with 60 IKE_SA_INIT requests through it (some retransmitted, some
    answered late), and 400 orphan SPIs over the same span (some with a second packet,
    some paired the other way, some over UDP 4500)."""
    mixed = mixed_capture(tmp_path / "mixed.pcap")
    return [mixed, _flood(tmp_path / "orphans.pcap", *_span(mixed))]


def _no_deferral(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every first request dissected and fed as it comes, every orphan built at its packet."""
    monkeypatch.setattr(Tracker, "defers_first", property(lambda _self: False))
    monkeypatch.setattr(Tracker, "_defer_orphans", lambda _self: None)


def _analysed(paths: list[Path], max_sas: int | None) -> tuple[TrackerResult, Tracker]:
    a = Analysis([str(p) for p in paths], config=TrackerConfig(max_sas=max_sas), keep_index=False)
    return a.run(), a.tracker


def _settle_bitmaps(*results: TrackerResult) -> None:
    """Write each analyser's deferred in-order packets into its bitmap. Why: an orphan's
    second packet counts the same either way but is kept two ways — on the fast lane of a
    built orphan as a pending shift (``SequenceAnalyzer.in_order``), as a record for a
    pending one (its building opens no lane), which shifts the bitmap at once — and both
    stand for the same numbers received."""
    for res in results:
        for c in res.child_sas.values():
            for d in c.directions:
                d.seq._settle()


@pytest.mark.parametrize("max_sas", [None, 7, 60, 1000])
def test_the_survivors_are_the_full_paths_sas_dataclass_for_dataclass(
    tmp_path: Path, max_sas: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _inputs(tmp_path)
    fast, t_fast = _analysed(paths, max_sas)
    _no_deferral(monkeypatch)
    full, t_full = _analysed(paths, max_sas)
    monkeypatch.undo()
    if max_sas is not None and max_sas >= 60:  # deferred (under a cap), some kept: replayed
        assert t_fast._scratch is not None
    assert t_full._scratch is None  # every request fed as it came, none replayed
    assert isinstance(t_fast._st.child, PendingChildren) and type(t_full._st.child) is dict
    _settle_bitmaps(fast, full)
    assert list(fast.ike_sas.items()) == list(full.ike_sas.items())
    assert list(fast.child_sas.items()) == list(full.child_sas.items())
    assert repr(list(fast.ike_sas.values())) == repr(list(full.ike_sas.values()))
    assert repr(list(fast.child_sas.values())) == repr(list(full.child_sas.values()))
    assert fast.errors == full.errors
    assert (fast.stats, fast.evicted, fast.flood) == (full.stats, full.evicted, full.flood)
    st, st_full = t_fast._st, t_full._st
    for name in ("exchanges", "am1", "ike_index", "half_open", "orphans", "dir_index"):
        assert getattr(st, name) == getattr(st_full, name), name
    assert st.one_way == st_full.one_way and st.spi_dsts == st_full.spi_dsts
    if max_sas == 1000:  # the flood's SAs all kept: built here, not evicted
        assert len(fast.ike_sas) > 60 and len(fast.child_sas) > 300


@pytest.mark.parametrize("caps", [["--max-sas", "0"], ["--max-sas", "9"], ["--max-sas", "120"], []])
def test_export_and_summary_are_byte_identical_with_the_fast_build(
    tmp_path: Path, caps: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [str(p) for p in _inputs(tmp_path)]
    runs = [
        [*paths, str(ROOT / "samples" / "ikev1-main-quick.pcap")],  # and IKEv1
        [*paths, str(ROOT / "samples" / "esp-algorithms.pcap")],  # and negotiated ESP
    ]
    for inp in runs:
        outs = []
        for name in ("fast", "full"):
            if name == "full":
                _no_deferral(monkeypatch)
            out = tmp_path / f"{name}.json"
            got = _cli(["export", *inp, *caps, "-o", str(out)]) + out.read_bytes()
            got += _cli(["summary", *inp, *caps, "--all"])
            outs.append(got)
        monkeypatch.undo()
        assert outs[0] == outs[1]
        assert b"ike-5a00000000000000" in outs[0] or b"evicted" in outs[0]
        assert b"f0000000" in outs[0] or b"evicted" in outs[0]


@pytest.mark.parametrize("path", _captures(), ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_ke_and_nonce_of_a_real_capture_reads_as_the_general_path(path: Path) -> None:
    """The KE and Nonce payloads read directly (``ikev2._plain_payload``, what a replay of a
    flood's requests reads most) are those the general payload parser reads."""
    seen = 0
    with open_records(str(path)) as stream:
        for r in stream:
            if not isinstance(r, IkeMessage) or r.version != 2:
                continue
            end = r.offset + r.length
            for p in r.payloads:
                if p.type not in (34, 40) or p.length < 4:
                    continue  # (a shorter one is no payload the chain parses: bogus_payload)
                seen += 1
                general = ikev2._dissect_payload(r.data, p.offset, end, p.type, NO_DISSECTORS)
                for got in (p, ikev2._parse_payload(r.data, p.offset, end, p.type, NO_DISSECTORS)):
                    assert (got.name, got.offset, got.length, got.body) == (
                        general.name,
                        general.offset,
                        general.length,
                        general.body,
                    )
                    assert (got.error, got.critical, got.fields) == (
                        general.error,
                        general.critical,
                        general.fields,
                    )
    if path.name == "ikev2-tunnel.pcapng":
        assert seen >= 2
