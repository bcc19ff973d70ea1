#!/usr/bin/env bash
# Interleaved A/B of whole commands against one running `fleet lab`, with each run's client CPU
# divided by the lab's CPU over the same run (the lab does the same work every run, so the ratio
# cancels a machine that runs faster or slower from one run to the next).
# Usage: scripts/ab-cpu.sh LAB_PID ROUNDS 'label::command' ['label::command' ...]
# Prints per label the medians of wall (s), client CPU (s) and client CPU / lab CPU, then every
# run's ratio. Example (docs/performance.md, session 6):
#   scripts/ab-cpu.sh "$(pgrep -f 'fleet lab')" 5 \
#     "before::/tmp/fleet-before run -i inv.yaml -p 0 -t 100 -c 'echo ok' --format none --out /tmp/ab-runs" \
#     "after::/tmp/fleet-after run -i inv.yaml -p 0 -t 100 -c 'echo ok' --format none --out /tmp/ab-runs" \
#     "bare::/tmp/fleet-after __bare-pool --inventory inv.yaml --threads 100 --command 'echo ok'"
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n '2,12p' "$0" >&2
  exit 2
fi
lab=$1
rounds=$2
shift 2
[ -r "/proc/$lab/stat" ] || { echo "ab-cpu: no process $lab (the lab's pid)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "ab-cpu: /usr/bin/time (Debian package 'time') is needed" >&2; exit 2; }
tick=$(getconf CLK_TCK)
lab_cpu() { awk -v t="$tick" '{printf "%.3f", ($14 + $15) / t}' "/proc/$lab/stat"; }
declare -A wall cpu ratio
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$rounds"); do
  for spec in "$@"; do
    label=${spec%%::*}
    cmd=${spec#*::}
    before=$(lab_cpu)
    /usr/bin/time -o "$out" -f "%e %U %S" bash -c "$cmd" >/dev/null 2>&1 || {
      echo "ab-cpu: $label failed: $cmd" >&2
      exit 1
    }
    after=$(lab_cpu)
    read -r w u s <"$out"
    c=$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.3f", u + s}')
    r=$(awk -v c="$c" -v a="$before" -v b="$after" 'BEGIN {d = b - a; if (d > 0) printf "%.3f", c / d; else print "nan"}')
    wall[$label]+="$w "
    cpu[$label]+="$c "
    ratio[$label]+="$r "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
for spec in "$@"; do
  label=${spec%%::*}
  printf '%-12s wall %6s s  cpu %6s s  cpu/lab %6s   (runs: %s)\n' "$label" \
    "$(echo "${wall[$label]}" | median)" "$(echo "${cpu[$label]}" | median)" \
    "$(echo "${ratio[$label]}" | median)" "${ratio[$label]}"
done
