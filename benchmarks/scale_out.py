"""Scale-out benchmark: one large capture and the same traffic as a 16-file ring, with and
without keys, in one process and on 1, 2 and 4 Dask workers, beside tshark and
``mergecap | tshark``. Not a test: it prints figures.

    python benchmarks/make_scaleout_capture.py /tmp/scale --packets 2000000 --files 16
    python benchmarks/scale_out.py /tmp/scale [--workers 1,2,4] [--skip-tshark]

For every run: wall seconds, CPU seconds (all processes), packets per second, the ratio to
the tshark run doing the same job, and peak resident memory of the largest single process
(the driver or any Dask worker). For the partitioned runs also: the speed-up over one
worker, the time to start the cluster (not in the wall time; a long-lived cluster pays it
once), and the shares of the run's steps: survey, partitions, union — the union being the
only sequential step after the survey. The k-way merge's own cost is measured as reading
the 16 files merged minus reading the one file, against the one-process run's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Row:
    name: str
    seconds: float
    cpu: float
    rss_mb: float
    packets: int
    note: str = ""


def _wait(cmd: list[str] | str, env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Run a command; wall seconds, CPU seconds and the largest process's peak RSS (MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, shell=isinstance(cmd, str), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd}: failed: {err[-400:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def one_run(folder: Path, workers: int, keys: bool) -> dict[str, object]:
    """In a fresh process: the partitioned summary on a LocalCluster, with its report."""
    from ipsec_inspect.export.timeline import build_timeline, capture_json
    from ipsec_inspect.lifecycle.tracker import TrackerConfig
    from ipsec_inspect.pipeline.dask_engine import RunReport, executor_for, run_partitioned
    from ipsec_inspect.wire.decoder import DecodeOptions

    t0 = time.perf_counter()
    ex = executor_for(None, workers)
    started = time.perf_counter() - t0
    ring = [str(folder / "ring")]
    key_paths = [str(folder / "keys.toml")] if keys else []
    report = RunReport()
    client = ex.client  # type: ignore[attr-defined]

    def usage() -> tuple[float, float]:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_maxrss / 1024, r.ru_utime + r.ru_stime

    at_start = client.run(usage)
    c0 = time.process_time()
    t1 = time.perf_counter()
    u = run_partitioned(
        ring, DecodeOptions(), key_paths, TrackerConfig(), executor=ex, report=report
    )
    doc = build_timeline(u.result, capture_json(u.info, ring[0]))
    wall = time.perf_counter() - t1
    driver_cpu = time.process_time() - c0
    at_end = client.run(usage)
    per_worker = list(at_end.values())
    run_cpu = [at_end[w][1] - at_start[w][1] for w in at_end]
    ex.close()
    packets = sum(d["packets"] for c in doc["child_sas"] for d in c["directions"])
    decrypted = sum(d["decrypted"] for c in doc["child_sas"] for d in c["directions"])
    return {
        "wall": wall,
        "start": started,
        "driver_cpu": driver_cpu,
        "driver_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_rss": [w[0] for w in per_worker],
        "worker_cpu": [w[1] for w in per_worker],
        "worker_run_cpu": run_cpu,
        "worker_rss_start": [w[0] for w in at_start.values()],
        "survey": report.survey_seconds,
        "partitions": report.partition_seconds,
        "union": report.union_seconds,
        "part_cpu": report.part_seconds,
        "part_records": report.part_records,
        "ranges": report.ranges,
        "n_partitions": report.partitions,
        "sequential": report.sequential,
        "indexed": report.indexed,
        "packets": packets,
        "decrypted": decrypted,
        "doc": doc,
    }


def _merge_overhead(folder: Path) -> tuple[float, float]:
    from ipsec_inspect.sources.capture_file import CaptureReader
    from ipsec_inspect.sources.multi import MergedReader, expand_inputs

    t = time.perf_counter()
    for _ in CaptureReader(str(folder / "one.pcap")):
        pass
    one = time.perf_counter() - t
    t = time.perf_counter()
    for _ in MergedReader(expand_inputs([str(folder / "ring")]).names):
        pass
    return one, time.perf_counter() - t


def _print(title: str, rows: list[Row], base: str) -> None:
    ref = next((r for r in rows if r.name == base), None)
    print(f"\n{title}")
    print(
        f"{'run':<46} {'wall s':>8} {'CPU s':>8} {'pkts/s':>10} {'peak RSS MB':>12} {'vs ' + base.split()[0]:>10}"
    )
    for r in rows:
        ratio = f"{ref.seconds / r.seconds:.2f}x" if ref is not None else "-"
        print(
            f"{r.name:<46} {r.seconds:>8.2f} {r.cpu:>8.2f} {r.packets / r.seconds:>10.0f} {r.rss_mb:>12.1f} {ratio:>10}  {r.note}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("folder", type=Path)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--skip-tshark", action="store_true")
    ap.add_argument(
        "--tshark-decrypt-packets",
        type=int,
        default=0,
        metavar="N",
        help="tshark decrypts only the first N packets (-c) and its time is extrapolated "
        "linearly — it needs about ten minutes per million packets on a loaded 2-core machine",
    )
    ap.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--keys", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_run:
        out = one_run(args.folder, args.n, args.keys)
        out.pop("doc")
        print(json.dumps(out))
        return 0

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    py = [sys.executable, "-m", "ipsec_inspect"]
    one = args.folder / "one.pcap"
    ring = args.folder / "ring"
    files = sorted(ring.glob("*.pcap"))
    keys = args.folder / "keys.toml"
    from ipsec_inspect.sources.capture_file import CaptureReader

    packets = sum(1 for _ in CaptureReader(str(one)))
    size = one.stat().st_size
    print(
        f"{packets} packets, {size / 1e6:.0f} MB in one file and {len(files)} ring files; cores: {os.cpu_count()}"
    )
    workers = [int(w) for w in args.workers.split(",")]
    tshark, mergecap = shutil.which("tshark"), shutil.which("mergecap")

    for with_keys in (False, True):
        rows: list[Row] = []
        job = "decrypt" if with_keys else "summary"
        cfg = tempfile.mkdtemp()
        shutil.copy(args.folder / "esp_sa", Path(cfg) / "esp_sa")
        t_env = {**os.environ, "WIRESHARK_CONFIG_DIR": cfg}
        t_opts = (
            "-o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE "
            if with_keys
            else ""
        )
        fields = "-e esp.spi -e esp.sequence" + (" -e ip.proto" if with_keys else "")
        subset = args.tshark_decrypt_packets if with_keys else 0
        if tshark and not args.skip_tshark and 0 < subset < packets:
            k = packets / subset
            note = f"first {subset} packets (-c), time x{k:.0f} (linear)"
            w, c, m = _wait(f"{tshark} -r {one} -c {subset} -n {t_opts}-T fields {fields}", t_env)
            rows.append(Row(f"tshark ({job}, one file)", w * k, c * k, m, packets, note))
            if mergecap:
                w, c, m = _wait(
                    f"{mergecap} -F pcap -w - {' '.join(map(str, files))} | "
                    f"{tshark} -r - -c {subset} -n {t_opts}-T fields {fields}",
                    t_env,
                )
                rows.append(
                    Row(f"mergecap | tshark ({job}, 16 files)", w * k, c * k, m, packets, note)
                )
        elif tshark and not args.skip_tshark:
            w, c, m = _wait(f"{tshark} -r {one} -n {t_opts}-T fields {fields}", t_env)
            rows.append(Row(f"tshark ({job}, one file)", w, c, m, packets))
            if mergecap:
                w, c, m = _wait(
                    f"{mergecap} -F pcap -w - {' '.join(map(str, files))} | {tshark} -r - -n {t_opts}-T fields {fields}",
                    t_env,
                )
                rows.append(Row(f"mergecap | tshark ({job}, 16 files)", w, c, m, packets))
        key_args = ["--keys", str(keys)] if with_keys else []
        w, c, m = _wait(
            [*py, "summary", str(one), *key_args, "--format", "json", "--workers", "0"], env
        )
        rows.append(
            Row(
                "ipsec-inspect, one process, one file",
                w,
                c,
                m,
                packets,
                "decrypt offload: default" if with_keys else "",
            )
        )
        w, c, m = _wait(
            [*py, "summary", str(ring), *key_args, "--format", "json", "--workers", "0"], env
        )
        rows.append(Row("ipsec-inspect, one process, 16 files", w, c, m, packets))
        if with_keys:
            w, c, m = _wait(
                [
                    *py,
                    "summary",
                    str(one),
                    *key_args,
                    "--format",
                    "json",
                    "--workers",
                    "0",
                    "--decrypt-workers",
                    "0",
                ],
                env,
            )
            rows.append(Row("ipsec-inspect, one process, no offload", w, c, m, packets))
        base_wall = None
        details = []
        for n in workers:
            cmd = [sys.executable, __file__, str(args.folder), "--one-run", "--n", str(n)]
            if with_keys:
                cmd.append("--keys")
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if base_wall is None:
                base_wall = r["wall"]
            cpu = r["driver_cpu"] + sum(r["worker_cpu"])
            peak = max([r["driver_rss"], *r["worker_rss"]])
            rows.append(
                Row(
                    f"ipsec-inspect, {n} Dask worker(s), 16 files",
                    r["wall"],
                    cpu,
                    peak,
                    packets,
                    f"speed-up vs 1 worker {base_wall / r['wall']:.2f}x; cluster start {r['start']:.1f} s",
                )
            )
            details.append((n, r))
        _print(f"{job}: {packets} ESP packets", rows, f"tshark ({job}, one file)")
        for n, r in details:
            wall = r["wall"]
            print(
                f"  {n} worker(s): survey {r['survey']:.2f} s ({100 * r['survey'] / wall:.0f}%), "
                f"partitions {r['partitions']:.2f} s ({100 * r['partitions'] / wall:.0f}%), "
                f"union {r['union']:.3f} s ({100 * r['union'] / wall:.1f}%); "
                f"{r['ranges']} byte ranges, {r['n_partitions']} partitions, read one after another: {r['sequential']}; "
                f"worker CPU in the run {', '.join(f'{x:.2f}' for x in r['worker_run_cpu'])} s; "
                f"CPU per partition {', '.join(f'{x:.1f}' for x in r['part_cpu'])} s for "
                f"{', '.join(str(x) for x in r['part_records'])} records; "
                f"peak RSS driver {r['driver_rss']:.0f} MB, workers {', '.join(f'{x:.0f}' for x in r['worker_rss'])} MB; "
                f"decrypted {r['decrypted']}"
            )
    one_s, merged_s = _merge_overhead(args.folder)
    print(
        f"\nk-way merge: reading one file {one_s:.2f} s, the 16 files merged {merged_s:.2f} s "
        f"(merge overhead {max(0.0, merged_s - one_s):.2f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
