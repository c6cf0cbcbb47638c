"""The SA objects written as text (``export.timeline_text``) are the bytes of their dicts.

``write_timeline`` writes each SA and failed finding straight from the model in the compact
form; ``direct=False`` encodes the dicts of ``timeline._ike`` / ``_child`` / ``_finding``
instead. The two must agree byte for byte on every capture of the corpus, on floods mixed
with real tunnels (no cap, a small cap) and with every verdict listed or only failures.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest

from benchmarks.make_sa_captures import write
from ipsec_inspect.audit.findings import Outcome
from ipsec_inspect.export.timeline import build_timeline, write_timeline
from ipsec_inspect.export.timeline_text import child_text, finding_text, ike_text
from ipsec_inspect.lifecycle.model import Certainty, Reason, Termination, Trigger
from ipsec_inspect.lifecycle.tracker import TrackerConfig, TrackerResult
from ipsec_inspect.pipeline.session import Analysis
from tests.sample_corpus import SAMPLES, sample_captures, shared_captures


def _keys(path: Path) -> list[str]:
    own = path.with_name(path.name.split(".")[0] + ".keys.toml")
    return [str(own)] if own.exists() else []


def _run(
    paths: list[Path], max_sas: int | None = 20_000, all_findings: bool = False
) -> TrackerResult:
    keys = [k for p in paths for k in _keys(p)]
    config = TrackerConfig(max_sas=max_sas, all_findings=all_findings)
    return Analysis([str(p) for p in paths], None, keys, config, keep_index=False).run()


def _both(result: TrackerResult) -> tuple[str, str]:
    fast, slow = io.StringIO(), io.StringIO()
    write_timeline(fast, result, {"path": "x.pcap"}, direct=True)
    write_timeline(slow, result, {"path": "x.pcap"}, direct=False)
    return fast.getvalue(), slow.getvalue()


def _assert_same(result: TrackerResult) -> str:
    fast, slow = _both(result)
    assert fast == slow
    return fast


@pytest.mark.parametrize("path", [*sample_captures(), *shared_captures()], ids=lambda p: p.name)
def test_direct_text_is_the_encoded_dicts_on_the_corpus(path: Path) -> None:
    text = _assert_same(_run([path], all_findings=True))
    assert json.loads(text)["schema_version"] == "1.0"
    _assert_same(_run([path]))


@pytest.fixture(scope="module")
def floods(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("floods")
    esp, init = folder / "esp-400.pcap", folder / "init-400.pcap"
    write(esp, "esp", 400, 1, 20)
    write(init, "ike-init", 400, 9, 20)
    return [esp, init]


@pytest.mark.parametrize("max_sas", [None, 60])
@pytest.mark.parametrize("all_findings", [False, True])
def test_direct_text_on_floods_mixed_with_tunnels(
    floods: list[Path], max_sas: int | None, all_findings: bool
) -> None:
    esp, init = floods
    tunnel, v1 = SAMPLES / "ikev2-tunnel.pcapng", SAMPLES / "ikev1-main-quick.pcap"
    result = _run([esp, tunnel, init, v1], max_sas, all_findings)
    text = _assert_same(result)
    doc = json.loads(text)
    # the mix is what it says: flood SAs beside negotiated ones, evicted under the cap
    assert any(c["ike_sa"] is None for c in doc["child_sas"])
    assert any(c["ike_sa"] is not None for c in doc["child_sas"])
    evicted = doc["capture"]["evicted"]
    assert (evicted["half_open_ike_sas"] > 0) == (max_sas is not None)
    half_open = sum(1 for s in doc["ike_sas"] if s["state"] == "INIT_SENT")
    assert half_open == 400 if max_sas is None else half_open < 60
    assert doc == build_timeline(result, {"path": "x.pcap"})


def test_each_object_is_its_dict_also_where_the_flood_shortcuts_do_not_apply(
    floods: list[Path],
) -> None:
    """A still-active termination is memoised by its fields, an orphan's head by its few
    words: an SA that differs in any of them gets its own text."""
    from ipsec_inspect.export.timeline import _child, _finding, _ike, child_id_map

    result = _run([floods[0], SAMPLES / "ikev2-tunnel.pcapng", floods[1]])
    ids = child_id_map(result)
    encode = json.JSONEncoder().encode
    children = list(result.child_sas.values())
    odd = dataclasses.replace(children[0], observed_from_start=True, pfs=False, mode="tunnel")
    odd.termination = Termination(
        Reason.STILL_ACTIVE, None, None, "X", None, Certainty.INFERRED, "d", Trigger.TIME
    )
    ids[odd.uid] = ids[children[0].uid]
    for c in [*children, odd]:
        assert child_text(c, ids) == encode(_child(c, ids, None))
    ikes = list(result.ike_sas.values())
    first = ikes[0]
    alike = [  # memoised by repr: 1, True and 1.0 are written apart
        dataclasses.replace(first, proposals_offered=[{"number": n}]) for n in (1, True, 1.0)
    ]
    failed = dataclasses.replace(first, termination=dataclasses.replace(first.termination))
    failed.termination.time, failed.termination.frame = None, 7  # type: ignore[union-attr]
    for sa in [*ikes, *alike, failed]:
        assert ike_text(sa, ids) == encode(_ike(sa, ids, None))
    assert len({ike_text(sa, ids) for sa in alike}) == 3
    for f in result.findings:
        assert finding_text(f, ids) == encode(_finding(f, ids))
    passed = dataclasses.replace(result.findings[0], outcome=Outcome.PASS)
    assert finding_text(passed, ids) == encode(_finding(passed, ids))


def test_rfc3339_is_utc_text_to_the_microsecond() -> None:
    """The memoised-by-second form rounds as ``datetime`` does, halves to even."""
    from ipsec_inspect.export.timeline import rfc3339
    from ipsec_inspect.sources.timestamps import utc_text

    t0 = 1_768_471_200.0
    edges = [0.0, 0.5e-6, 1.5e-6, 2.5e-6, 0.9999995, 0.99999949, 4294967294.9999995]
    edges += [t0 + n * 0.25e-6 for n in range(-40, 40)] + [t0 + 0.9999996, 1e-7, -1.0, 5e9]
    for t in edges:
        assert rfc3339(t) == utc_text(t), t
    assert rfc3339(t0 + 0.9999996) == "2026-01-15T10:00:01.000000Z"
    assert rfc3339(None) is None
