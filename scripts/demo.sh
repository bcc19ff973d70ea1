#!/usr/bin/env bash
# make demo: start a simulated lab, run fleet against it, stop the lab.
# Usage: scripts/demo.sh FLEET_BIN DEVICES PROCESSES THREADS
set -euo pipefail
fleet=${1:-target/release/fleet}
devices=${2:-500}
p=${3:-4}
t=${4:-25}
state=target/demo-lab
rm -rf "$state"
mkdir -p "$state"

"$fleet" lab --devices "$devices" --latency 50ms --jitter 20ms --state-dir "$state" \
  >"$state/lab.out" 2>"$state/lab.err" &
lab=$!
trap 'kill -INT $lab 2>/dev/null || true; wait $lab 2>/dev/null || true' EXIT

for _ in $(seq 1 300); do
  grep -q '^lab ready:' "$state/lab.out" 2>/dev/null && break
  if ! kill -0 $lab 2>/dev/null; then
    echo "demo: the lab failed to start:" >&2
    cat "$state/lab.err" >&2
    exit 1
  fi
  sleep 0.1
done
cat "$state/lab.out"

set +e
"$fleet" run --inventory "$state/inventory.yaml" -p "$p" -t "$t" \
  --command 'show version' --out runs --format none
code=$?
set -e

kill -INT $lab 2>/dev/null || true
wait $lab 2>/dev/null || true
trap - EXIT
run=$(ls -td runs/*/ | head -1)
echo
echo "demo: results in ${run}results.jsonl; logs: ${run}master.log, ${run}worker-*.log; timeline: ${run}trace.json"
echo "demo: first result:"
head -n 1 "${run}results.jsonl" | cut -c 1-400
exit $code
