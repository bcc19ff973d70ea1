#!/usr/bin/env bash
# make bench: a small layout sweep that fits a few minutes on a 2-core machine.
# Usage: scripts/bench.sh [FLEET_BIN]
# Outputs (bench.json, bench.csv, bench.svg, and every run under work/) in:
#   target/bench/lab   100 lab devices at 200 ms: sequential vs threads vs processes
#   target/bench/zero  500 lab devices at 0 ms: the orchestration's own overhead
#   target/bench/noop  100,000 devices, --transport noop: pure dispatch cost, batch sizes
# Override the first sweep with BENCH_DEVICES, BENCH_LATENCY, BENCH_LAYOUTS, BENCH_REPEAT.
set -euo pipefail
fleet=${1:-target/release/fleet}
out=${BENCH_OUT:-target/bench}
devices=${BENCH_DEVICES:-100}
latency=${BENCH_LATENCY:-200ms}
layouts=${BENCH_LAYOUTS:-1x1,0x50,4x1,2x50,4x50,8x25}
repeat=${BENCH_REPEAT:-2}

if [ ! -x "$fleet" ]; then
  echo "bench: $fleet not found; run 'make build' first" >&2
  exit 2
fi
mkdir -p "$out"
echo "bench: machine: $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"

status=0
run() {
  local name=$1
  shift
  echo
  echo "== $name: fleet bench $* --out $out/$name"
  "$fleet" bench "$@" --out "$out/$name" || status=$?
}

run lab --devices "$devices" --latency "$latency" --layouts "$layouts" --repeat "$repeat"
run zero --devices 500 --zero-latency --layouts 1x1,0x8,2x4,2x50,4x50 --repeat "$repeat"
run noop --transport noop --devices 100000 --layouts 0x8,2x8,2x8@64,2x8@1024,4x8@1024 --repeat "$repeat"
# Each 100,000-device run directory holds ~100 MB of logs, results and trace: keep the numbers
# (bench.json/csv/svg), drop the runs unless BENCH_KEEP_RUNS=1.
if [ "${BENCH_KEEP_RUNS:-0}" != 1 ]; then
  rm -rf "$out/noop/work"
fi

# One master on a 1,000,000-device inventory (end-to-end wall, peak RSS, run-dir size).
bash "$(dirname "$0")/bench-scale.sh" "$fleet" || status=$?

echo
echo "bench: outputs in $out/{lab,zero,noop}/bench.{json,csv,svg}; load now: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
