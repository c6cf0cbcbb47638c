"""``summary`` and ``export`` print the same bytes with the flood shortcuts on and off.

The shortcuts: the audit judging SAs with equal facts once (``Rule.by_facts``), the SA
objects written as text (``export.timeline_text``) and tables drawn without rich where
they are plain (``export.fold.plain_table``). Off: the rules with ``by_facts`` cleared,
the dicts encoded, rich drawing every table. Compared on floods mixed with real tunnels
(no cap, a small cap, the default), with every verdict listed and with the default, and
on shared captures.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest

from benchmarks.make_sa_captures import write
from ipsec_inspect.audit.rules import RULES
from ipsec_inspect.cli import main
from tests.sample_corpus import SAMPLES, shared_captures

TUNNEL = SAMPLES / "ikev2-tunnel.pcapng"
TUNNEL_KEYS = SAMPLES / "ikev2-tunnel.keys.toml"


@contextmanager
def _shortcuts_off() -> Iterator[None]:
    from ipsec_inspect.export import fold, json_exporter, timeline

    per_sa = tuple(dataclasses.replace(r, by_facts=False) for r in RULES)
    dicts = functools.partial(timeline.write_timeline, direct=False)
    with (
        mock.patch("ipsec_inspect.plugins.compose.RULES", per_sa),
        mock.patch.object(json_exporter, "write_timeline", dicts),
        mock.patch.object(timeline, "write_timeline", dicts),
        mock.patch.object(fold, "plain_table", lambda *_a: None),
    ):
        yield


def _outputs(argv: list[str], tmp: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    texts = []
    for off in (False, True):
        out = tmp / f"export-{off}.json"
        with _shortcuts_off() if off else contextlib_null():
            assert main(["summary", *argv]) == 0
            summary = capsys.readouterr().out
            assert main(["summary", "--format", "json", *argv]) == 0
            summary_json = capsys.readouterr().out
            assert main(["export", *argv, "-o", str(out)]) == 0
            capsys.readouterr()
        texts.append(summary + "\0" + summary_json + "\0" + out.read_text())
    return texts


@contextmanager
def contextlib_null() -> Iterator[None]:
    yield


@pytest.fixture(scope="module")
def floods(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("floods")
    esp, init = folder / "esp-500.pcap", folder / "init-1200.pcap"
    write(esp, "esp", 500, 1, 20)
    write(init, "ike-init", 1200, 11, 20)  # a flood: DOS-01 (1,000 half-open or more)
    return esp, init


@pytest.mark.parametrize("findings", ["failed", "all"])
@pytest.mark.parametrize("cap", ["0", "40", None])
def test_floods_with_a_tunnel_print_the_same_either_way(
    floods: tuple[Path, Path],
    findings: str,
    cap: str | None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    esp, init = floods
    argv = [str(esp), str(TUNNEL), str(init), "--keys", str(TUNNEL_KEYS), "--findings", findings]
    argv += ["--max-sas", cap] if cap is not None else []
    on, off = _outputs(argv, tmp_path, capsys)
    assert on == off
    assert "child-1" in on and "DOS-01" in on and "┏" in on  # the mix, with tables


def _some_shared() -> list[Path]:
    wanted = ("ikev2four.pcap", "ipsec_isakmp_esp.pcap", "IKEv1.pcap", "capture.pcapng")
    return [p for p in shared_captures() if p.name in wanted]


@pytest.mark.parametrize("path", _some_shared(), ids=lambda p: p.parent.name + "/" + p.name)
def test_shared_captures_print_the_same_either_way(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for findings in ("failed", "all"):
        on, off = _outputs([str(path), "--findings", findings], tmp_path, capsys)
        assert on == off
