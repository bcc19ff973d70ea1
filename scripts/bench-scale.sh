#!/usr/bin/env bash
# make bench (part): one master on a 1,000,000-device fleet YAML inventory.
# Runs `fleet run --transport noop -p 2 -t 8` (default --format table, stdout
# to /dev/null) and reports end-to-end wall time, CPU, the master's peak RSS
# and the run directory's size, plus `fleet inventory check` (parse only).
# Usage: scripts/bench-scale.sh [FLEET_BIN]
# Outputs in target/bench/scale/: bench-scale.json, the inventory (kept,
# regenerated when missing); the run directory is removed unless
# BENCH_KEEP_RUNS=1. SCALE_DEVICES overrides the device count.
set -euo pipefail
fleet=${1:-target/release/fleet}
out=${BENCH_OUT:-target/bench}/scale
n=${SCALE_DEVICES:-1000000}
here=$(cd "$(dirname "$0")" && pwd)

if [ ! -x "$fleet" ]; then
  echo "bench-scale: $fleet not found; run 'make build' first" >&2
  exit 2
fi
if [ ! -x /usr/bin/time ]; then
  echo "bench-scale: /usr/bin/time (Debian package 'time') is needed for peak RSS" >&2
  exit 2
fi
fleet=$(cd "$(dirname "$fleet")" && pwd)/$(basename "$fleet")
mkdir -p "$out"
inv=$out/inv-$n.yaml
[ -s "$inv" ] || "$here/scale-inventory.sh" "$n" "$inv"
rm -rf "$out/work"

measure() { # label, command...: prints "wall user sys maxrss_kib" and keeps stderr in $out/<label>.err
  local label=$1
  shift
  /usr/bin/time -o "$out/$label.time" -f "%e %U %S %M" "$@" >/dev/null 2>"$out/$label.err" || {
    echo "bench-scale: $label failed:" >&2
    tail -5 "$out/$label.err" >&2
    return 1
  }
  cat "$out/$label.time"
}

echo "bench-scale: $n devices, inventory $(stat -c %s "$inv") bytes; machine: $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
read -r pw pu ps pm < <(measure parse "$fleet" inventory check -i "$inv")
t0=$(date +%s.%N)
read -r rw ru rs rm < <(measure run "$fleet" run -i "$inv" --transport noop -p 2 -t 8 --out "$out/work")
run_dir=$(ls -d "$out"/work/*/ | head -1)
# Phases: preparation (start to master.log's "starting" line: inventory, resolve, table),
# the run (its own "done in" figure), and what follows (table print, files).
started=$(grep -m1 ' starting: ' "$run_dir/master.log" | cut -d' ' -f1)
inside=$(grep -m1 ' done in ' "$run_dir/master.log" | sed -E 's/.* done in ([0-9.]+) s.*/\1/')
prep=$(python3 -c "import datetime as d,sys; s=d.datetime.strptime(sys.argv[1],'%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=d.timezone.utc).timestamp(); print(f'{s-float(sys.argv[2]):.2f}')" "$started" "$t0" 2>/dev/null || echo null)
bytes=$(du -sb "$run_dir" | cut -f1)
files=$(cd "$run_dir" && for f in *; do printf '"%s": %s, ' "$f" "$(stat -c %s "$f")"; done)
cat >"$out/bench-scale.json" <<EOF
{
  "devices": $n,
  "inventory_bytes": $(stat -c %s "$inv"),
  "command": "fleet run -i inv-$n.yaml --transport noop -p 2 -t 8 >/dev/null",
  "cores": $(nproc),
  "load_after": "$(cut -d' ' -f1-3 /proc/loadavg)",
  "parse": {"wall_s": $pw, "user_s": $pu, "sys_s": $ps, "max_rss_kib": $pm},
  "run": {"wall_s": $rw, "user_s": $ru, "sys_s": $rs, "master_max_rss_kib": $rm, "prepare_s": ${prep:-null}, "inside_run_s": ${inside:-null}},
  "run_dir_bytes": $bytes,
  "run_dir_files": {${files%, }}
}
EOF
echo "bench-scale: parse (inventory check): wall $pw s, cpu $pu + $ps s, peak RSS $((pm / 1024)) MiB"
echo "bench-scale: run: wall $rw s end to end, cpu $ru + $rs s (master + workers), master peak RSS $((rm / 1024)) MiB, run dir $((bytes / 1000000)) MB"
echo "bench-scale: run phases: preparation ${prep:-?} s (inventory, resolve, table), inside the run ${inside:-?} s, the rest is printing and files"
echo "bench-scale: goal (issue 15): <= 8 s end to end, <= 400 MB peak RSS; wall times are upper bounds on a loaded machine"
if [ "${BENCH_KEEP_RUNS:-0}" != 1 ]; then
  rm -rf "$out/work"
fi
