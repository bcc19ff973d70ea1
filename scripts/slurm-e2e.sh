#!/usr/bin/env bash
# End-to-end test on a real Slurm: installs slurm-wlm and munge (Debian, as
# root), starts a private single-node cluster (slurmctld + slurmd on this
# host, proctrack/linuxproc, no cgroups, its own config, ports and spool
# under a temp dir), starts a fleet lab, submits
# docs/deploy/slurm/fleet-array.sbatch as a 4-task array plus its dependent
# merge job, waits, and checks that the merged run has every lab device
# exactly once.
#
# Usage: scripts/slurm-e2e.sh [path/to/fleet]   (default target/release/fleet)
# If Slurm cannot be installed or started here, this FAILS with the reason;
# it never skips.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
FLEET=$(readlink -f "${1:-target/release/fleet}")
DEVICES=${SLURM_E2E_DEVICES:-200}
SHARDS=4

fail() { echo "slurm-e2e: FAIL: $*" >&2; exit 1; }
say() { echo "slurm-e2e: $*"; }

[ -x "$FLEET" ] || fail "no fleet binary at $FLEET (run make build)"
[ "$(id -u)" = 0 ] || fail "needs root: slurmd runs jobs as their user and munged needs /etc/munge"

# 1. Packages.
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || fail "slurm-wlm/munge missing and no apt-get to install them"
    say "installing slurm-wlm munge"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null; } \
        || fail "apt-get install slurm-wlm munge failed"
fi

tmp=$(mktemp -d /tmp/fleet-slurm-e2e.XXXXXX)
pids=()
started_munged=""
cleanup() {
    set +e
    if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ]; then
        scancel --full -u root >/dev/null 2>&1
        scontrol shutdown >/dev/null 2>&1
    fi
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    if [ -n "$started_munged" ]; then kill "$started_munged" 2>/dev/null; fi
    if [ -z "${SLURM_E2E_KEEP:-}" ]; then rm -rf "$tmp"; else say "kept $tmp"; fi
}
trap cleanup EXIT

# 2. munge: the Debian package created /etc/munge/munge.key.
[ -f /etc/munge/munge.key ] || fail "/etc/munge/munge.key missing after installing munge"
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    su -s /bin/sh munge -c /usr/sbin/munged || fail "munged did not start"
    started_munged=$(cat /run/munge/munged.pid 2>/dev/null || true)
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n | unmunge | grep -q "STATUS: *Success" || fail "munge -n | unmunge does not succeed"

# 3. A private single-node cluster.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $(( 20000 + RANDOM % 20000 )); }
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemAvailable/ {print $2}' /proc/meminfo) / 1024 / 2 ))
mkdir -p "$tmp/spool/ctld" "$tmp/spool/d" "$tmp/log" "$tmp/run"
export SLURM_CONF="$tmp/slurm.conf"
cat > "$SLURM_CONF" <<CONF
ClusterName=fleete2e
SlurmctldHost=$host
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$tmp/spool/ctld
SlurmdSpoolDir=$tmp/spool/d
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
JobCompType=jobcomp/none
ReturnToService=2
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
say "starting slurmctld and slurmd ($SLURM_CONF)"
/usr/sbin/slurmctld -D -i -f "$SLURM_CONF" >"$tmp/log/slurmctld.out" 2>&1 &
pids+=($!)
/usr/sbin/slurmd -D -f "$SLURM_CONF" >"$tmp/log/slurmd.out" 2>&1 &
pids+=($!)
ready=""
for _ in $(seq 150); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qx 'idle'; then ready=1; break; fi
    sleep 0.2
done
if [ -z "$ready" ]; then
    echo "--- sinfo"; sinfo 2>&1 || true
    echo "--- slurmctld"; tail -20 "$tmp/log/slurmctld.log" "$tmp/log/slurmctld.out" 2>/dev/null || true
    echo "--- slurmd"; tail -20 "$tmp/log/slurmd.log" "$tmp/log/slurmd.out" 2>/dev/null || true
    fail "Slurm did not come up (node not idle within 30 s); logs above"
fi
say "slurm up: $(sinfo -h -o '%N %T %c')"

# 4. A lab.
"$FLEET" lab --devices "$DEVICES" --state-dir "$tmp/lab" >"$tmp/lab.out" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q '^lab ready:' "$tmp/lab.out" && break; sleep 0.1; done
grep -q '^lab ready:' "$tmp/lab.out" || { cat "$tmp/lab.out"; fail "fleet lab did not get ready"; }
inventory="$tmp/lab/inventory.yaml"

# 5. Submit the example as users would.
base="$tmp/work"
out=$(FLEET="$FLEET" FLEET_INVENTORY="$inventory" FLEET_BASE="$base" FLEET_SHARDS=$SHARDS \
    FLEET_RUN_ARGS="-p 2 -t 8 -c 'show version'" \
    bash "$repo/docs/deploy/slurm/fleet-array.sbatch" submit) || fail "submit failed: $out"
say "$out"
array=$(echo "$out" | sed -n 's/^array job \([0-9]*\).*/\1/p')
merge=$(echo "$out" | sed -n 's/.*merge job \([0-9]*\).*/\1/p')
[ -n "$array" ] && [ -n "$merge" ] || fail "cannot read job ids from: $out"

# 6. Wait for both jobs to leave the queue.
show_outputs() { for f in "$base"/slurm-*.out; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done; }
for _ in $(seq 900); do
    queue=$(squeue -h -o '%i %T %r' -j "$array,$merge" 2>/dev/null || true)
    [ -z "$queue" ] && break
    if echo "$queue" | grep -q DependencyNeverSatisfied; then
        show_outputs
        fail "a shard task failed, so the merge job can never run (job outputs above)"
    fi
    sleep 0.2
done
[ -z "$(squeue -h -j "$array,$merge" 2>/dev/null)" ] || { squeue; show_outputs; fail "jobs still queued after 180 s"; }
show_outputs

# 7. Check: 4 shards ran as array tasks, the merge saw them all, every
# device exactly once.
merged="$base/merged"
[ -f "$merged/run.json" ] || fail "no merged run (did a shard fail? see the job outputs above)"
for k in $(seq $SHARDS); do
    n=$(ls -d "$base/shards/$k"/*/ 2>/dev/null | wc -l)
    [ "$n" = 1 ] || fail "shard task $k left $n run directories"
    grep -q "\"k\": $k," "$base/shards/$k"/*/run.json || fail "shard $k's run.json does not record shard $k"
done
grep -q '"complete": true' "$merged/run.json" || fail "merge reports incomplete: $(grep -A3 missing "$merged/run.json")"
"$FLEET" inventory list -i "$inventory" | awk '{print $1}' | sort >"$tmp/want"
grep -o '"device":"[^"]*"' "$merged/results.jsonl" | cut -d'"' -f4 | sort >"$tmp/got"
want=$(wc -l <"$tmp/want")
[ "$want" = "$DEVICES" ] || fail "inventory list gave $want devices, expected $DEVICES"
dups=$(uniq -d "$tmp/got" | head -5)
[ -z "$dups" ] || fail "devices twice in the merged results: $dups"
diff -u "$tmp/want" "$tmp/got" >"$tmp/diff" || { head -20 "$tmp/diff"; fail "merged devices differ from the inventory"; }
ok=$(grep -c '"status":"ok"' "$merged/results.jsonl" || true)
"$FLEET" runs --out "$base" >/dev/null 2>&1 || true
say "PASS: $SHARDS array tasks + dependent merge: $DEVICES devices exactly once ($ok ok)"
