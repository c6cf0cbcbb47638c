#!/usr/bin/env bash
# A real Dask cluster on localhost: one `dask scheduler` and two `dask worker` processes
# (`python3 -m dask …`, the same commands, from the interpreter that has the project) on
# ports the kernel picks, `summary --scheduler` against it, compared with the run in one
# process. Every process is stopped by its pid, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

export PYTHONPATH="$PWD"  # scheduler, workers and commands all run this checkout's code
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

python3 -m dask scheduler --host 127.0.0.1 --port 0 --no-dashboard \
  --scheduler-file "$work/scheduler.json" >"$work/scheduler.log" 2>&1 &
pids+=($!)
disown "$!"  # stopped by pid below; no job-control notices
for _ in $(seq 200); do [ -s "$work/scheduler.json" ] && break; sleep 0.1; done
[ -s "$work/scheduler.json" ] || { cat "$work/scheduler.log" >&2; exit 1; }
address="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["address"])' "$work/scheduler.json")"
for i in 1 2; do
  python3 -m dask worker --scheduler-file "$work/scheduler.json" \
    --host 127.0.0.1 --nthreads 1 --no-dashboard --name "ci-worker-$i" \
    >"$work/worker-$i.log" 2>&1 &
  pids+=($!)
  disown "$!"
done
python3 - "$address" <<'PY'
import sys, time
from distributed import Client
with Client(sys.argv[1], timeout=30) as c:
    c.wait_for_workers(2, timeout=60)
PY

inputs=(samples/esp-algorithms.pcap samples/ikev2-tunnel.pcapng samples/ah.pcap)
keys=(--keys samples/esp-algorithms.keys.toml --keys samples/ikev2-tunnel.keys.toml --keys samples/ah.keys.toml)
python3 -m ipsec_inspect summary "${inputs[@]}" "${keys[@]}" --format json --workers 0 >"$work/one.json"
python3 -m ipsec_inspect summary "${inputs[@]}" "${keys[@]}" --format json --scheduler "$address" >"$work/cluster.json"
if ! cmp -s "$work/one.json" "$work/cluster.json"; then
  diff "$work/one.json" "$work/cluster.json" | head -40 >&2
  echo "dask cluster: summary --scheduler differs from the run in one process" >&2
  exit 1
fi
echo "dask cluster ($address, 2 workers): summary --scheduler equals the run in one process"
