"""Tunnel partitions give exactly the single-process document, however the work is cut.

Every sample and shared capture is run whole and partitioned (in-process, the same code
path as on a cluster, ``SyncExecutor``), and — as property tests — cut into files at
random frames and analysed with a random number of partitions. Documents are compared
whole: SA ids, counters, stages, findings, errors.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipsec_inspect.core.errors import InputError
from ipsec_inspect.export.timeline import build_timeline, capture_json
from ipsec_inspect.lifecycle.tracker import TrackerConfig
from ipsec_inspect.pipeline.dask_engine import RunReport, SyncExecutor, run_partitioned
from ipsec_inspect.pipeline.session import Analysis
from ipsec_inspect.wire.decoder import DecodeOptions
from tests.pcapbuild import pcap
from tests.pipeline.cutting import cut, frames_of, monotonic
from tests.sample_corpus import label, sample_captures, shared_captures

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
TUNNEL_NG = SAMPLES / "ikev2-tunnel.pcapng"
WIKI = ROOT / ".." / "shared" / "captures" / "wireshark-wiki" / "ikev2_esp_aes-gcm_aes-ctr_aes-cbc"


def keys_for(path: Path) -> list[str]:
    k = path.with_name(path.name.split(".")[0] + ".keys.toml")
    if path.parent == SAMPLES and k.exists():
        return [str(k)]
    if (path.parent / "keys.toml").exists():
        return [str(path.parent / "keys.toml")]
    if path.parent.resolve() == WIKI.resolve():
        return [str(WIKI / "esp_sa"), str(WIKI / "ikev2_decryption_table")]
    return []


def single(paths: list[str], keys: list[str], config: TrackerConfig | None = None) -> dict:
    a = Analysis(paths, DecodeOptions(), keys, config or TrackerConfig(), keep_index=False)
    res = a.run()
    assert a.info is not None and a.path is not None
    return build_timeline(res, capture_json(a.info, a.path))


def partitioned(paths: list[str], keys: list[str], n: int, report: RunReport | None = None) -> dict:
    u = run_partitioned(
        paths,
        DecodeOptions(),
        keys,
        TrackerConfig(),
        executor=SyncExecutor(n),
        partitions=n,
        report=report,
    )
    return build_timeline(u.result, capture_json(u.info, ", ".join(paths)))


def _readable(p: Path) -> bool:
    try:
        frames_of(p)
    except Exception:
        return False
    return True


CORPUS = [p for p in sample_captures() + shared_captures() if _readable(p)]


def test_the_corpus_is_there() -> None:
    assert len([p for p in CORPUS if p.is_relative_to(SAMPLES)]) >= 6


@pytest.mark.parametrize("path", CORPUS, ids=label)
def test_partitioned_equals_single_process(path: Path) -> None:
    keys = keys_for(path)
    whole = single([str(path)], keys)
    for n in (2, 4):
        assert partitioned([str(path)], keys, n) == whole


def test_partitions_really_split_the_work() -> None:
    """esp-algorithms has 17 tunnels: four partitions each get some, and still agree."""
    path = SAMPLES / "esp-algorithms.pcap"
    keys = keys_for(path)
    report = RunReport()
    doc = partitioned([str(path)], keys, 4, report)
    assert report.partitions == 4 and all(n > 0 for n in report.part_records)
    assert doc == single([str(path)], keys)
    assert sum(d["decrypted"] for c in doc["child_sas"] for d in c["directions"]) > 0


_cut_points = st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=4)


@pytest.mark.parametrize("path", CORPUS, ids=label)
@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cuts=_cut_points, n=st.integers(min_value=1, max_value=4))
def test_random_cuts_and_partitions_equal_one_pass(
    path: Path, tmp_path_factory: pytest.TempPathFactory, cuts: list[int], n: int
) -> None:
    original = frames_of(path)
    if len(original) < 2:
        pytest.skip("one frame: nothing to cut")
    out = tmp_path_factory.mktemp("cut")
    pieces = cut(path, [1 + c % (len(original) - 1) for c in cuts], out)
    names = [str(p) for p in pieces]
    keys = keys_for(path)
    merged_once = single(names, keys)
    assert partitioned(names, keys, n) == merged_once
    if monotonic(original) and sum(len(frames_of(p)) for p in pieces) == len(original):
        whole = single([str(path)], keys)
        for doc in (whole, merged_once):
            del doc["capture"]["path"], doc["capture"]["files"]
        assert merged_once == whole


# --------------------------------------------------------------------------- moved SAs


def _ipv4_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _move_esp(data: bytes, new_src: bytes) -> bytes:
    """The frame with a new IPv4 source address, if it is ESP (NAT rebinding)."""
    if data[12:14] != b"\x08\x00":
        return data
    ip = bytearray(data[14:34])
    proto = ip[9]
    udp_esp = proto == 17 and data[34 + 2 : 34 + 4] == b"\x11\x94" and data[42:46] != bytes(4)
    if proto != 50 and not udp_esp:
        return data
    ip[12:16] = new_src
    ip[10:12] = b"\x00\x00"
    ip[10:12] = struct.pack("!H", _ipv4_checksum(bytes(ip)))
    rest = bytearray(data[34:])
    if proto == 17:
        rest[6:8] = b"\x00\x00"  # no UDP checksum (allowed on IPv4)
    return data[:14] + bytes(ip) + bytes(rest)


def test_sa_that_moved_address_is_tracked_as_one(tmp_path: Path) -> None:
    """The initiator's ESP leaves from a new address (NAT rebinding) with no IKE message
    on the new address pair: the SPIs are only known from the decrypted IKE_AUTH, in
    another partition. The partitions are found related, run again as one, and the
    document equals the single pass — packets counted under the negotiated child SA."""
    src = SAMPLES / "ikev2-tunnel.pcapng"
    keys = keys_for(src)
    frames = frames_of(src)
    first_ip = frames[0][1][26:30]
    moved = [
        (t, _move_esp(d, bytes([203, 0, 113, 77])) if d[26:30] == first_ip else d)
        for t, d in frames
    ]
    assert moved != frames
    path = tmp_path / "moved.pcap"
    path.write_bytes(pcap(moved))
    report = RunReport()
    doc = partitioned([str(path)], keys, 2, report)
    assert report.reruns >= 1, "the related partitions were not found"
    assert doc == single([str(path)], keys)
    # the same child SAs and packets as the capture before the move (the key file binds
    # the SA to its old addresses, so the moved direction is not decrypted — in one pass
    # or partitioned alike)
    before = single([str(src)], keys)

    def traffic(d: dict) -> list:
        return [[(x["spi"], x["packets"]) for x in c["directions"]] for c in d["child_sas"]]

    assert traffic(doc) == traffic(before)
    assert sum(x["decrypted"] for c in doc["child_sas"] for x in c["directions"]) > 0


def test_missing_input_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        partitioned([str(tmp_path / "nope.pcap")], [], 2)


def test_standard_input_is_refused_for_workers() -> None:
    with pytest.raises(InputError, match="standard input"):
        partitioned(["-"], [], 2)


def test_pcapng_that_cannot_be_cut_is_surveyed_whole(tmp_path: Path) -> None:
    """Interface blocks between packets: the byte ranges give up, the file is read whole."""
    from ipsec_inspect.pipeline import dask_engine as engine

    data = TUNNEL_NG.read_bytes()
    path = tmp_path / "twice.pcapng"
    path.write_bytes(data + data)  # a second section, with its own interface blocks
    old = engine.MIN_RANGE
    engine.MIN_RANGE = 1 << 10
    try:
        report = RunReport()
        doc = partitioned([str(path)], keys_for(TUNNEL_NG), 2, report)
    finally:
        engine.MIN_RANGE = old
    assert report.ranges > 1
    assert doc == single([str(path)], keys_for(TUNNEL_NG))


def test_read_order_only_when_inputs_follow_one_another() -> None:
    from ipsec_inspect.pipeline.dask_engine import read_order
    from ipsec_inspect.pipeline.tunnels import Survey
    from ipsec_inspect.sources.byte_ranges import ByteRange

    def piece(path: str, k: int, first: float, last: float, ok: bool = True):
        s = Survey(count=2, first_time=first, last_time=last, in_order=ok)
        return ByteRange(path, k, k + 1, k), s

    ring = [piece("b", 0, 10, 20), piece("a", 0, 0, 9), piece("c", 0, 20, 30)]
    assert read_order(["a", "b", "c"], ring) == [0, 1, 2]
    assert read_order(["c", "b", "a"], ring) is None  # a tie at 20 would go to c first
    assert read_order(["a", "b", "c"], [*ring[:2], piece("c", 0, 19, 30)]) is None  # overlap
    assert read_order(["a", "b", "c"], [*ring[:2], piece("c", 0, 25, 30, ok=False)]) is None
    one = [piece("x", 0, 0, 5), piece("x", 1, 5, 9)]
    assert read_order(["x"], one) == [0]
    assert read_order(["x"], [piece("x", 0, 0, 5), piece("x", 1, 4, 9)]) is None


# --------------------------------------------------------------------------- own records only


def test_partitions_read_only_their_own_records(tmp_path: Path) -> None:
    """The survey's index gives each partition exactly its tunnels' records, with the
    global numbers of the merged stream: disjoint, together every frame, and the run
    still equals one pass — on one file cut in byte ranges and on the same cut as a ring."""
    from ipsec_inspect.pipeline.dask_engine import survey_task
    from ipsec_inspect.pipeline.partition_index import (
        cut_piece,
        layout,
        part_records,
        part_size,
    )
    from ipsec_inspect.pipeline.tunnels import Survey, plan, tunnel_of
    from ipsec_inspect.sources.byte_ranges import split_capture

    path = SAMPLES / "esp-algorithms.pcap"
    keys = keys_for(path)
    ranges = split_capture(str(path), 3, min_size=1)
    assert len(ranges) == 3
    done = [survey_task(r) for r in ranges]
    assert all(d[3] is not None for d in done)
    total = Survey()
    for d in done:
        total.add(d[1])
    the_plan = plan(total, 3)
    frames = frames_of(path)
    seen: dict[int, int] = {}
    the_layout = layout([str(path)], [0], [(d[0], d[1]) for d in done])
    assert [first for _i, _k, first in the_layout.pieces] == [
        1,
        1 + done[0][1].count,
        1 + done[0][1].count + done[1][1].count,
    ]
    for p in the_plan.ids:
        cuts = []
        for _i, k, first in the_layout.pieces:
            idx = done[k][3]
            assert idx is not None
            cuts.append(
                cut_piece(done[k], idx.table(lambda t, p=p: the_plan.partition_of(t) == p), first)
            )
        placed = [(done[k][1], done[k][3].tunnels) for _i, k, _f in the_layout.pieces]
        count, size, check = part_size(the_plan.partition_of, p, placed)
        assert size == sum(c.size for c in cuts) > 0 and not check
        assert count == sum(len(c.numbers) for c in cuts)
        recs = part_records(the_layout, [[_Ready(c)] for c in cuts], total_bytes=size)
        assert recs.frames == len(frames) and not recs.check
        assert len(recs.slices) == 3 and {i for i, _rec in recs.slices} == {0}
        for _i, fetch in recs.slices:
            rec = fetch()
            assert len(rec.starts) == len(rec.numbers) > 0
            for n in rec.numbers:
                assert n not in seen
                seen[n] = p
    assert sorted(seen) == list(range(1, len(frames) + 1))
    raw = pcap_frames(path)
    for n, (link_type, data) in enumerate(raw, 1):
        assert seen[n] == the_plan.partition_of(tunnel_of(link_type, data))
    report = RunReport()
    assert partitioned([str(path)], keys, 3, report) == single([str(path)], keys)
    assert report.indexed and report.partitions == 3
    pieces = cut(path, [len(frames) // 3, 2 * len(frames) // 3], tmp_path)
    names = [str(p) for p in pieces]
    report = RunReport()
    assert partitioned(names, keys, 2, report) == single(names, keys)
    assert report.indexed


@dataclass
class _Ready:
    """A cut already at hand, as a handle (``partition_index.CutRef``)."""

    cut: Any

    def get(self) -> Any:
        return self.cut


def pcap_frames(path: Path) -> list[tuple[int, bytes]]:
    from ipsec_inspect.sources.capture_file import CaptureReader

    return [(f[2], f[3]) for f in CaptureReader(str(path))]


def test_more_tunnels_than_codes_still_exact(tmp_path: Path) -> None:
    """300 address pairs in one file: tunnels past the 255th are decided by the partition
    itself (every partition reads those), and the result still equals one pass."""
    frames = []
    for k in range(600):
        a, b = bytes([192, 0, 2, 1 + k % 250]), bytes([198, 51, 100, 1 + (k // 2) % 150])
        ip = bytes.fromhex("4500002c000040003232") + b"\0\0" + a + b
        esp = struct.pack("!II", 0x1000 + k % 300, 1 + k // 300) + bytes(16)
        frames.append((1000.0 + k * 0.01, bytes(6) + bytes(5) + b"\x01" + b"\x08\x00" + ip + esp))
    path = tmp_path / "many.pcap"
    path.write_bytes(pcap(frames))
    report = RunReport()
    assert partitioned([str(path)], [], 3, report) == single([str(path)], [])
    assert report.indexed


def test_url_inputs_are_indexed_and_read_by_the_partition_itself() -> None:
    """An fsspec URL (how workers on other machines read inputs): surveyed by the ordinary
    reader, indexed, and each partition reads its own records from the URL by range."""
    import fsspec

    path = SAMPLES / "esp-algorithms.pcap"
    fsspec.filesystem("memory").pipe("/indexed/esp.pcap", path.read_bytes())
    url = "memory://indexed/esp.pcap"
    report = RunReport()
    doc = partitioned([url], keys_for(path), 3, report)
    assert report.indexed and report.partitions == 3
    assert doc == single([url], keys_for(path))


def _dos01(doc: dict) -> dict:
    found = [f for f in doc["findings"] if f["rule"] == "DOS-01"]
    assert len(found) == 1, "no flood finding"
    return found[0]


def test_flood_figures_are_the_same_partitioned(tmp_path: Path) -> None:
    """An IKE_SA_INIT flood from 12 sources (each its own tunnel, so spread over the
    partitions): the DOS-01 figures — half-open count, sources, the responder's requests
    and answers, top sources — and capture.evicted are those of one pass."""
    from benchmarks.make_sa_captures import write

    path = tmp_path / "flood.pcap"
    write(path, "ike", 1_200, 12, 100)
    whole = single([str(path)], [])
    report = RunReport()
    parts = partitioned([str(path)], [], 3, report)
    assert report.partitions == 3 and all(n > 0 for n in report.part_records)
    flood = _dos01(whole)
    assert flood["values"]["half_open_ike_sas"] == 1_200
    assert flood["values"]["sources"] == 12
    assert flood["values"]["responder"]["requests"] == 1_200
    assert flood["values"]["responder"]["answered"] == 0
    assert flood["values"]["top_sources"][0]["requests"] == 100
    assert _dos01(parts) == flood
    assert parts["capture"].get("evicted") == whole["capture"].get("evicted")


def test_a_false_range_boundary_is_not_read_by_index(tmp_path: Path) -> None:
    """Times near 1970 and zero padding make plausible record headers inside frames: a
    byte range may then start inside a frame. The range before it ends past its end, so
    the pieces do not chain and the partitions do not read by index."""
    from ipsec_inspect.pipeline.dask_engine import chained, survey_task
    from ipsec_inspect.sources.byte_ranges import ByteRange, split_capture
    from tests.pipeline.test_fast_survey import mixed

    path = tmp_path / "near-1970.pcap"
    path.write_bytes(pcap([(1000.0 + k * 0.25, f) for k, (_t, f) in enumerate(mixed()[:60])]))
    starts, at, data = set(), 24, path.read_bytes()
    while at < len(data):
        starts.add(at)
        at += 16 + struct.unpack_from("<I", data, at + 8)[0]
    ranges = split_capture(str(path), 4, min_size=1)
    assert any(r.start not in starts for r in ranges[1:])  # a boundary inside a frame
    done = [survey_task(r) for r in ranges]
    ends = [(d[0], d[3].end if d[3] is not None else None) for d in done]
    assert not chained(ends)
    assert chained([(r, r.end) for r in ranges])
    whole = ByteRange(str(path), 0, -1, 0)
    assert chained([(whole, len(data)), (ByteRange("other", 0, 9, 0), 9)])
    assert not chained([(ranges[0], None), (ranges[1], ranges[1].end)])
