#!/usr/bin/env bash
# make bench: the two issue-17 cases, each layout against the bare ssh2 pool
# (the yardstick), medians of 3 interleaved runs (A B C A B C A B C):
#   slow  1,000 lab devices (linux flavour: one exec), 2 s latency, `show version`:
#         the makespan against the ideal of ceil(N / slots) waves
#   zero  2,000 sessions of `echo ok` at zero latency, 100 concurrent:
#         throughput and CPU per session against the bare pool
# Usage: scripts/bench.sh [FLEET_BIN]
# Outputs: target/bench/summary.md (the short tables, with the commands), and
# per case target/bench/<case>/bench.{json,csv,svg,html,md} and work/ (every run).
# Override with BENCH_REPEAT, BENCH_CASES (e.g. "zero"), BENCH_SLOW_LAYOUTS,
# BENCH_ZERO_LAYOUTS. A new kind of layout (e.g. fleet's own `auto`) goes in the
# layout lists once `fleet bench --layouts` accepts it; nothing else changes.
set -euo pipefail
fleet=${1:-target/release/fleet}
out=${BENCH_OUT:-target/bench}
repeat=${BENCH_REPEAT:-3}
cases=${BENCH_CASES:-slow zero latency mixed}
slow_layouts=${BENCH_SLOW_LAYOUTS:-0x200,4x50,8x25,auto,bare(200)}
zero_layouts=${BENCH_ZERO_LAYOUTS:-2x16,2x50,0x100,4x25,auto,bare(100)}
latency_layouts=${BENCH_LATENCY_LAYOUTS:-2x16,0x200,2x100,4x50,auto,bare(200)}
mixed_layouts=${BENCH_MIXED_LAYOUTS:-2x16,0x200,2x100,4x50,auto}

if [ ! -x "$fleet" ]; then
  echo "bench: $fleet not found; run 'make build' first" >&2
  exit 2
fi
mkdir -p "$out"
summary=$out/summary.md
machine="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
{
  echo "# fleet bench ($(date -u +%Y-%m-%dT%H:%MZ), $machine)"
  echo
  echo "wall/ideal: the median makespan over max(ceil(N / slots) x session, (client + lab CPU) / cores)."
  echo "wall/bare and cpu/bare: against the bare ssh2 pool with the same slots (1.00x: no cost)."
} >"$summary"
echo "bench: machine: $machine, load: $(cut -d' ' -f1-3 /proc/loadavg)"

status=0
run() {
  local name=$1 title=$2
  shift 2
  local cmd=("$fleet" bench "$@" --repeat "$repeat" --out "$out/$name")
  echo
  echo "== $name: ${cmd[*]}"
  local rc=0
  "${cmd[@]}" || rc=$?
  [ "$rc" = 0 ] || status=$rc
  {
    echo
    echo "## $title"
    echo
    echo '```'
    printf '%q ' fleet "${cmd[@]:1}"
    echo
    echo '```'
    echo
    if [ -f "$out/$name/bench.md" ]; then cat "$out/$name/bench.md"; else echo "(no result: exit $rc)"; fi
  } >>"$summary"
}

for c in $cases; do
  case $c in
    slow)
      run slow "1,000 devices x 2 s, one \`show version\` each" \
        --devices 1000 --latency 2s --lab-arg=--flavours=linux \
        --layouts "$slow_layouts" -c 'show version'
      ;;
    zero)
      run zero "Zero latency: 2,000 sessions of \`echo ok\`, 100 concurrent" \
        --devices 2000 --zero-latency --lab-arg=--flavours=linux \
        --layouts "$zero_layouts" -c 'echo ok'
      ;;
    latency)
      run latency "Latency-bound: 2,000 devices x 500 ms, one \`show version\` each (issue 12)" \
        --devices 2000 --latency 500ms --lab-arg=--flavours=linux \
        --layouts "$latency_layouts" -c 'show version'
      ;;
    mixed)
      run mixed "Mixed: 1,000 devices x 500 ms, 10% hang until the 5 s session timeout (issue 12)" \
        --devices 1000 --latency 500ms --lab-arg=--flavours=linux \
        --lab-arg=--scenario=fixtures/lab/hang10.toml --run-arg=--session-timeout=5s \
        --layouts "$mixed_layouts" -c 'show version'
      ;;
    *)
      echo "bench: unknown case $c (slow, zero, latency, mixed)" >&2
      exit 2
      ;;
  esac
done

# One master on a 1,000,000-device inventory (end-to-end wall, peak RSS, run-dir size).
bash "$(dirname "$0")/bench-scale.sh" "$fleet" || status=$?

echo
cat "$summary"
echo
echo "bench: outputs in $out/{$(echo $cases | tr ' ' ',')}/bench.{json,csv,svg,html,md}; load now: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
