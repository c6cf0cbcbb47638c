"""Several inputs as one capture: merge order, numbering, origins, folders, stdin, windows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from ipsec_inspect.cli import main
from ipsec_inspect.export.timeline import load_schema
from ipsec_inspect.pipeline.session import Analysis
from ipsec_inspect.sources.byte_ranges import NotSplittable, read_range, split_capture
from ipsec_inspect.sources.capture_file import CaptureError
from ipsec_inspect.sources.multi import MergedReader, TimeBound, TimeWindow, expand_inputs
from ipsec_inspect.tui.detail import detail_nodes
from tests.pcapbuild import pcap, pcapng
from tests.pipeline.cutting import cut, frames_of
from tests.sample_corpus import label, sample_captures, shared_captures

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
TUNNEL = SAMPLES / "ikev2-tunnel.pcapng"
TUNNEL_KEYS = SAMPLES / "ikev2-tunnel.keys.toml"


def _write(path: Path, frames: list[tuple[float, bytes]]) -> Path:
    path.write_bytes(pcap(frames))
    return path


def test_merge_is_by_timestamp_with_ties_to_the_first_input(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.pcap", [(1.0, b"a1"), (3.0, b"a2"), (3.0, b"a3")])
    b = _write(tmp_path / "b.pcap", [(0.5, b"b1"), (3.0, b"b2"), (9.0, b"b3")])
    reader = MergedReader([str(a), str(b)], index=True)
    got = [(n, t, d) for n, t, _lt, d, _o, _i in reader]
    assert got == [
        (1, 0.5, b"b1"),
        (2, 1.0, b"a1"),
        (3, 3.0, b"a2"),
        (4, 3.0, b"a3"),
        (5, 3.0, b"b2"),
        (6, 9.0, b"b3"),
    ]
    assert [reader.origin(n) for n in range(1, 7)] == [
        (1, 1),
        (0, 1),
        (0, 2),
        (0, 3),
        (1, 2),
        (1, 3),
    ]
    info = reader.info
    assert (info.frames, info.first_time, info.last_time) == (6, 0.5, 9.0)
    assert [(f.path, f.frames, f.first_time, f.last_time) for f in info.files] == [
        (str(a), 3, 1.0, 3.0),
        (str(b), 3, 0.5, 9.0),
    ]


def test_time_window_cuts_the_merged_stream_and_renumbers(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.pcap", [(100.0 + i, bytes([i])) for i in range(10)])
    w = TimeWindow(TimeBound.parse("+2s"), TimeBound.parse("+5.5"))
    reader = MergedReader([str(a)], window=w, index=True)
    got = [(n, t) for n, t, *_ in reader]
    assert got == [(1, 102.0), (2, 103.0), (3, 104.0), (4, 105.0)]
    assert reader.origin(1) == (0, 3)
    assert reader.info.files[0].kept == 4 and reader.info.files[0].frames == 10
    iso = TimeWindow(TimeBound.parse("1970-01-01T00:01:47Z"), None)
    assert [t for _n, t, *_ in MergedReader([str(a)], window=iso)] == [107.0, 108.0, 109.0]


@pytest.mark.parametrize(
    ("text", "seconds", "relative"),
    [
        ("+30s", 30.0, True),
        ("+1.5m", 90.0, True),
        ("+250ms", 0.25, True),
        ("+2h", 7200.0, True),
        ("+90", 90.0, True),
        ("2024-05-01T12:00:00Z", 1714564800.0, False),
        ("2024-05-01T14:00:00+02:00", 1714564800.0, False),
        ("2024-05-01T12:00:00", 1714564800.0, False),
    ],
)
def test_time_bounds(text: str, seconds: float, relative: bool) -> None:
    assert TimeBound.parse(text) == TimeBound(seconds, relative)


def test_bad_time_bound_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["summary", str(TUNNEL), "--since", "yesterday"])
    assert e.value.code == 2
    assert "neither an ISO 8601 time" in capsys.readouterr().err


def test_folders_are_walked_and_other_files_reported(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub" / "b.pcap", [(1.0, b"x")])
    _write(tmp_path / "a.pcap", [(2.0, b"y")])
    (tmp_path / "notes.txt").write_text("not a capture")
    got = expand_inputs([str(tmp_path)])
    assert got.names == [str(tmp_path / "a.pcap"), str(tmp_path / "sub" / "b.pcap")]
    assert got.skipped == [f"{tmp_path / 'notes.txt'}: not a pcap or pcapng capture; skipped"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CaptureError, match="holds no pcap"):
        expand_inputs([str(empty)])
    with pytest.raises(CaptureError, match="no such file"):
        expand_inputs([str(tmp_path / "missing.pcap")])


def test_summary_of_pieces_equals_the_whole_capture(tmp_path: Path) -> None:
    """IKE in the first file, the ESP it keys in the last: one story, decrypted."""
    pieces = cut(TUNNEL, [10, 25], tmp_path)
    assert len(pieces) == 3
    whole_out, parts_out = tmp_path / "whole.json", tmp_path / "parts.json"
    base = ["export", "--keys", str(TUNNEL_KEYS)]
    assert main([*base, str(TUNNEL), "-o", str(whole_out)]) == 0
    assert main([*base, *map(str, pieces), "-o", str(parts_out)]) == 0
    whole, parts = json.loads(whole_out.read_text()), json.loads(parts_out.read_text())
    jsonschema.validate(parts, load_schema())
    files = parts["capture"].pop("files")
    assert [f["frames"] for f in files] == [10, 15, len(frames_of(TUNNEL)) - 25]
    assert all(f["format"] == "pcapng" for f in files)
    whole["capture"].pop("files")
    whole["capture"].pop("path"), parts["capture"].pop("path")
    assert parts == whole
    assert sum(d["decrypted"] for c in parts["child_sas"] for d in c["directions"]) > 0


def test_packets_jsonl_names_file_and_file_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pieces = cut(TUNNEL, [10], tmp_path)
    assert main(["packets", *map(str, pieces), "--format", "jsonl"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    by_frame = {x["frame"]: (x["file"], x["file_frame"]) for x in lines}
    assert by_frame[1] == (str(pieces[0]), 1)
    assert by_frame[11] == (str(pieces[1]), 1)
    last = max(by_frame)
    assert by_frame[last] == (str(pieces[1]), last - 10)


def test_standard_input_streams(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "ipsec_inspect", "summary", "--format", "json"]
    piped = subprocess.run(
        [*cmd, "-"], input=TUNNEL.read_bytes(), capture_output=True, env=env, timeout=120
    )
    direct = subprocess.run([*cmd, str(TUNNEL)], capture_output=True, env=env, timeout=120)
    assert piped.returncode == 0, piped.stderr
    a, b = json.loads(piped.stdout), json.loads(direct.stdout)
    assert a["capture"]["files"][0]["path"] == "<stdin>"
    for d in (a, b):
        d["capture"].pop("path"), d["capture"].pop("files")
    assert a == b and a["capture"]["frames"] == len(frames_of(TUNNEL))


def test_tui_analysis_reads_frames_back_from_the_right_file(tmp_path: Path) -> None:
    pieces = cut(TUNNEL, [7, 20], tmp_path)
    merged = Analysis([str(p) for p in pieces], key_paths=[str(TUNNEL_KEYS)])
    merged.run()
    whole = Analysis(str(TUNNEL), key_paths=[str(TUNNEL_KEYS)])
    whole.run()
    assert merged.merged and not whole.merged
    assert list(merged.index.frame) == list(whole.index.frame)
    for i in range(len(whole.index)):
        a, b = merged.record(i), whole.record(i)
        assert a is not None and b is not None
        assert (a.meta.frame, a.meta.time, type(a)) == (b.meta.frame, b.meta.time, type(b))
    assert merged.origin(21) == (str(pieces[2]), 1)
    r = merged.record(len(merged.index) - 1)
    assert r is not None
    nodes = detail_nodes(r, merged.origin(r.meta.frame))
    assert nodes[1].label == f"File: {pieces[2]}, frame {r.meta.frame - 20} of that file"
    merged.close()
    whole.close()


@pytest.mark.parametrize("path", sample_captures() + shared_captures(), ids=label)
def test_byte_ranges_give_every_record_once(path: Path) -> None:
    try:
        whole = frames_of(path)
    except CaptureError:
        pytest.skip("not readable as a capture")
    for pieces in (2, 5, 40):
        ranges = split_capture(str(path), pieces, min_size=0)
        got = [(f[1], f[3]) for r in ranges for f in read_range(r)]
        assert got == whole


def test_byte_ranges_really_cut(tmp_path: Path) -> None:
    frames = [(1000.0 + i / 10, bytes([i % 256]) * (60 + i % 700)) for i in range(3000)]
    p = _write(tmp_path / "big.pcap", frames)
    ranges = split_capture(str(p), 8, min_size=0)
    assert len(ranges) == 8
    assert [(t, d) for r in ranges for _n, t, _l, d, _o, _i in read_range(r)] == frames
    ng = tmp_path / "big.pcapng"
    ng.write_bytes(pcapng([(1, 6)], [(0, 10**6 * i, d) for i, (_t, d) in enumerate(frames)]))
    ranges = split_capture(str(ng), 8, min_size=0)
    assert len(ranges) == 8
    assert [d for r in ranges for *_x, d, _o, _i in read_range(r)] == [d for _t, d in frames]


def test_pcapng_with_interfaces_between_packets_is_not_splittable(tmp_path: Path) -> None:
    body = b"".join(
        pcapng([(1, 6)], [(0, 10**6 * i, bytes(200)) for i in range(400)])[:] for _ in range(1)
    )
    # a second section after the packets: its interface blocks are between packets
    second = pcapng([(1, 6)], [(0, 10**9, bytes(200))])
    p = tmp_path / "two-sections.pcapng"
    p.write_bytes(body + second)
    ranges = split_capture(str(p), 4, min_size=0)
    with pytest.raises(NotSplittable):
        for r in ranges:
            for _ in read_range(r):
                pass


def test_fsspec_urls_and_url_folders(capsys: pytest.CaptureFixture[str]) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/ring/a.pcap", (SAMPLES / "esp-algorithms.pcap").read_bytes())
    fs.pipe("/ring/notes.txt", b"hello")
    got = expand_inputs(["memory://ring"])
    assert got.names == ["memory:///ring/a.pcap"]
    assert got.skipped == ["memory:///ring/notes.txt: not a pcap or pcapng capture; skipped"]
    assert main(["summary", "memory://ring", "--format", "json"]) == 0
    by_url = json.loads(capsys.readouterr().out)
    assert main(["summary", str(SAMPLES / "esp-algorithms.pcap"), "--format", "json"]) == 0
    by_path = json.loads(capsys.readouterr().out)
    for d in (by_url, by_path):
        d["capture"].pop("path"), d["capture"].pop("files")
    assert by_url == by_path


def test_open_spools_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    from contextlib import ExitStack

    from ipsec_inspect.commands import open as open_command

    data = TUNNEL.read_bytes()
    monkeypatch.setattr(open_command.sys, "stdin", type("S", (), {"buffer": io.BytesIO(data)})())
    monkeypatch.setattr(open_command, "_terminal_as_stdin", lambda: None)
    with ExitStack() as stack:
        path = open_command._spool("-", stack)
        assert Path(path).read_bytes() == data
        a = Analysis([path])
        a.run()
        assert a.info is not None and a.info.frames == len(frames_of(TUNNEL))
        assert a.record(0) is not None  # read back by offset: the spool can seek
        a.close()
    assert not Path(path).exists()


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_one_input_knows_the_frames_it_handed_on(tmp_path: Path, fmt: str) -> None:
    """One input read alone (pcap: straight through the reader) answers ``origin`` as the
    merge does: every frame with an index, the most recent 65,536 without one, and the
    merged info is up to date however the read ends."""
    frames = [(100.0 + i / 1000, b"\x00" * 20) for i in range(70_000)]
    path = tmp_path / f"x.{fmt}"
    packets = [(0, round(t * 1e6), d) for t, d in frames]
    path.write_bytes(pcap(frames) if fmt == "pcap" else pcapng([(1, None)], packets))
    for index in (True, False):
        reader = MergedReader([str(path)], index=index)
        assert sum(1 for _ in reader) == 70_000
        assert reader.origin(70_000) == (0, 70_000) and reader.origin(4_465) == (0, 4_465)
        assert reader.origin(4_464) == ((0, 4_464) if index else (-1, 0))
        assert reader.origin(70_001) == (-1, 0) and reader.origin(0) == (-1, 0)
        assert reader.last_origin == (0, 70_000)
        info = reader.info
        assert info.frames == 70_000
        assert (info.first_time, info.last_time) == (100.0, pytest.approx(169.999))
        assert (info.files[0].frames, info.files[0].kept) == (70_000, 70_000)
    reader = MergedReader([str(path)])
    it = iter(reader)
    for _ in range(1_000):
        next(it)
    reader.close()  # as a run that is stopped closes it
    assert (reader.info.frames, reader.info.last_time) == (1_000, pytest.approx(100.999))
    assert reader.last_origin == (0, 1_000)
