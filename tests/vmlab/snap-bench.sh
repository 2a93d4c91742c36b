#!/bin/bash
# Runs INSIDE the VM lab (`make bench` runs it): the figures of snapshots,
# clones and changed blocks (issue 14). Two storage servers of one disk each
# (sparse files: a thin pool reserves, it writes only what is written),
# overcommit 20, 4 GiB chunks (the manager's default), one head.
#   1. Snapshot pause: volume p1 (4 GiB, 2 legs) attached under 4 KiB random
#      fio writes; SNAPS snapshots one after the other; per snapshot the
#      head's thawVolume pause (freeze to thaw, paused_ms, from its log) and
#      createSnapshot's own time: median and p99.
#   2. Write throughput (4 KiB random, fio) over a written 256 MiB region of p1
#      before a snapshot, just after it (every first write to a shared pool
#      block copies it), and in the next run.
#   3. A 100 GiB volume (25 mirrors): its attach time, snapshot b0, 1 % of it
#      changed (one 1 MiB write at the start of every 100 MiB: 1,024 writes,
#      1 GiB; few large writes, as every first write to a pool block allocates
#      and zeroes it on both legs, slow under TCG), snapshot b1;
#      listChangedBlocks(b1, base b0) and (big, base b0): time and blocks
#      listed against the blocks written; cloneLogicalVolume of b1 (detached)
#      and of the attached volume (frozen for it): time.
# Under TCG absolute numbers mean little; the ratios are the figures. The
# backing files live in the guest's RAM (VS_TMPFS) and a pool reuses freed
# blocks late, so every phase writes little: 1 % of 100 GiB is 1 GiB a pool.
# Host side: VMLAB_MEM=7168 VMLAB_TIMEOUT=2400 VS_TMPFS=5000m VMLAB_PASSENV=VS_TMPFS \
#   tests/vmlab/vm.sh run tests/vmlab/snap-bench.sh
# (BENCH_SNAP_PHASES="big" runs phase 3 alone; pass it with VMLAB_PASSENV.)
# Under TCG on 2 busy host cores: about 14 min wall for all three, 6 for
# phase 3 alone; the backing files end near 4.1 GiB of the 5000m tmpfs.
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/cluster.sh"
SNAPS=${BENCH_SNAPSHOTS:-20}
RUNTIME=${BENCH_FIO_SECONDS:-10}
BIG_GIB=100
# Phase 3 changes BIG_WRITE_MIB at the start of every BIG_STRIDE_MIB: 1 %.
BIG_STRIDE_MIB=100
BIG_WRITE_MIB=1
BIG_WRITES=$((BIG_GIB * 1024 / BIG_STRIDE_MIB))
BIG_PCT=$((100 * BIG_WRITE_MIB / BIG_STRIDE_MIB))
HSVR=

# 30000 MiB pools at overcommit 20 reserve 580 GiB each: the 100 GiB volume,
# its two snapshots and two clones (each reserves its size).
setup() { vs_lab_setup 2 1 30000; }
cluster() {
  VS_CHUNK_SIZE=4G vs_cluster_up && HSVR=$(vs_hsvr) && [ -n "$HSVR" ] &&
    vs_mrpc setClusterSetting '{"name": "overcommit", "value": "20"}' >/dev/null
}
attach() { vs_mrpc attachLogicalVolume "{\"lvolname\": \"$1\", \"hsvrid\": $HSVR}" >/dev/null && [ -b "/dev/vastsky/$1" ]; }
snapshot() { vs_mrpc createSnapshot "{\"origin_lvolname\": \"$1\", \"snapshot_lvolname\": \"$2\"}" >/dev/null; }
# stats NAME UNIT VALUES...: "bench: NAME median X UNIT, p99 Y UNIT (n N)"
stats() {
  python3 - "$@" <<'EOF'
import sys
name, unit, v = sys.argv[1], sys.argv[2], sorted(float(x) for x in sys.argv[3:])
if not v:
    sys.exit("bench: %s: no values" % name)
med = v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
p99 = v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))]
print("bench: %s median %g %s, p99 %g %s, max %g %s (n %d)" % (name, med, unit, p99, unit, v[-1], unit, len(v)))
EOF
}
# fio_randwrite [ARGS...]: KiB/s of RUNTIME seconds of 4 KiB random writes, queue depth 8.
fio_randwrite() {
  timeout $((RUNTIME + 120)) fio --name=snapbench --filename=/dev/vastsky/p1 --direct=1 --ioengine=libaio \
    --iodepth=8 --rw=randwrite --bs=4k --runtime="$RUNTIME" --time_based --randseed=14 --output-format=json "$@" |
    vs_json "int(d['jobs'][0]['write']['bw'])"
}

p1() {   # volume p1 (4 GiB, 2 legs) attached, made if missing
  [ -b /dev/vastsky/p1 ] ||
    { vs_mrpc createLogicalVolume '{"lvolname": "p1", "capacity": 4, "redundancy": 2}' >/dev/null && attach p1; }
}
# 1. The pause of a snapshot under writes.
pauses() {
  p1 || return 1
  timeout 900 fio --name=snapload --filename=/dev/vastsky/p1 --direct=1 --ioengine=libaio --iodepth=8 \
    --rw=randwrite --bs=4k --size=32m --time_based --runtime=3600 --output=$VS_W/fio-load.log &
  local load=$! n t0 calls=() before after base=()
  # What a call costs the client alone (a python start under TCG).
  for n in 1 2 3; do t0=$(vmlab_now); vs_mrpc getClusterStatus '{}' >/dev/null; base+=("$(vmlab_elapsed "$t0")"); done
  sleep 5
  before=$(grep -c 'thawed: its I/O paused' $VS_W/head.log)
  for n in $(seq "$SNAPS"); do
    t0=$(vmlab_now)
    snapshot p1 "p1-s$n" || { kill $load; echo "snapshot $n failed"; return 1; }
    calls+=("$(vmlab_elapsed "$t0")")
  done
  kill $load; wait $load 2>/dev/null
  after=$(grep -o 'thawed: its I/O paused [0-9]* ms' $VS_W/head.log | tail -n +$((before + 1)) | awk '{print $5}')
  # shellcheck disable=SC2086
  stats "snapshot pause under 4 KiB random writes (head's freeze to thaw):" ms $after &&
    stats "createSnapshot call of an attached 4 GiB volume:" s "${calls[@]}" &&
    stats "(a getClusterStatus call, the client's own cost:" s "${base[@]}" || return 1
  [ "$(echo "$after" | wc -w)" = "$SNAPS" ] || { echo "$(echo "$after" | wc -w) thaws logged for $SNAPS snapshots"; return 1; }
  for n in $(seq "$SNAPS"); do vs_mrpc deleteLogicalVolume "{\"lvolname\": \"p1-s$n\"}" >/dev/null || return 1; done
}

# 2. Writes before and just after a snapshot.
throughput() {
  local a b c
  p1 && timeout 900 dd if=/dev/urandom of=/dev/vastsky/p1 bs=1M count=256 oflag=direct status=none || return 1
  a=$(fio_randwrite --size=256m) && snapshot p1 p1-t && b=$(fio_randwrite --size=256m) && c=$(fio_randwrite --size=256m) ||
    return 1
  echo "bench: 4 KiB random writes over a written 256 MiB: $a KiB/s before a snapshot, $b KiB/s just after" \
    "($(python3 -c "print('%.2f' % ($b / $a))") of before; first writes to shared blocks copy them), $c KiB/s in the next ${RUNTIME} s"
  # Room for the 100 GiB family.
  vs_mrpc detachLogicalVolume '{"lvolname": "p1"}' >/dev/null && vs_mrpc deleteLogicalVolume '{"lvolname": "p1-t"}' >/dev/null &&
    vs_mrpc deleteLogicalVolume '{"lvolname": "p1"}' >/dev/null
}

# 3. A 100 GiB volume: changed blocks and clones.
timed() {   # VAR CMD...: VAR = seconds CMD took; CMD's output kept in $VS_W/timed.out
  local t0; t0=$(vmlab_now)
  "${@:2}" > $VS_W/timed.out || { cat $VS_W/timed.out; return 1; }
  printf -v "$1" '%s' "$(vmlab_elapsed "$t0")"
}
big() {
  local t
  vs_mrpc createLogicalVolume "{\"lvolname\": \"big\", \"capacity\": $BIG_GIB, \"redundancy\": 2}" >/dev/null || return 1
  timed t attach big || return 1
  echo "bench: attach of a $BIG_GIB GiB volume ($((BIG_GIB / 4)) mirrors, $((BIG_GIB / 2)) legs): ${t}s"
  timed t snapshot big b0 || return 1
  echo "bench: createSnapshot of the attached $BIG_GIB GiB volume: ${t}s"
  # fio wraps around until io_size is written: without it, it would rewrite
  # the same offsets until the whole size had been transferred.
  timed t timeout 1800 fio --name=changed --filename=/dev/vastsky/big --direct=1 --ioengine=libaio --iodepth=16 \
    --bs=${BIG_WRITE_MIB}m --rw=write:$((BIG_STRIDE_MIB - BIG_WRITE_MIB))m --size=${BIG_GIB}g \
    --io_size=$((BIG_WRITES * BIG_WRITE_MIB))m --output=$VS_W/fio-changed.log || return 1
  echo "bench: $BIG_WRITES writes of $BIG_WRITE_MIB MiB, one per $BIG_STRIDE_MIB MiB ($BIG_PCT % of the volume changed," \
    "first writes to its pool blocks): ${t}s"
  timed t snapshot big b1 || return 1
  echo "bench: createSnapshot of the attached $BIG_GIB GiB volume, $BIG_PCT % written since the last: ${t}s"
  diff_figures b1 b0 && diff_figures big b0 || return 1
  timed t vs_mrpc cloneLogicalVolume '{"lvolname": "b1", "clone_lvolname": "c-b1"}' || return 1
  echo "bench: cloneLogicalVolume of a detached $BIG_GIB GiB snapshot: ${t}s"
  timed t vs_mrpc cloneLogicalVolume '{"lvolname": "big", "clone_lvolname": "c-big"}' || return 1
  echo "bench: cloneLogicalVolume of the attached $BIG_GIB GiB volume (frozen for it): ${t}s"
}
# LISTED WRITES WRITE_MIB < listChangedBlocks' answer: what it lists against
# what was written, WRITES runs of WRITE_MIB each starting on a pool block (the
# stride is whole MiB, the blocks at most 1 MiB).
LISTED='import json, sys
d, writes, mib = json.load(sys.stdin), int(sys.argv[1]), int(sys.argv[2])
k, listed = d["block_kib"], sum(d["ranges"][1::2])
written = writes * -(-mib * 1024 // k)
print("%d KiB blocks, %d listed for %d written (%.2f x), %d ranges for %d writes"
      % (k, listed, written, listed / written, len(d["ranges"]) // 2, writes))'
diff_figures() {   # LVOL BASE: listChangedBlocks' time (best of 3) and what it lists
  local t best= n
  for n in 1 2 3; do
    timed t vs_mrpc listChangedBlocks "{\"lvolname\": \"$1\", \"base_lvolname\": \"$2\"}" || return 1
    [ -n "$best" ] && python3 -c "import sys; sys.exit(not $t < $best)" || best=$t
  done
  echo "bench: listChangedBlocks($1, base $2) of $BIG_GIB GiB, $BIG_PCT % changed: ${best}s (best of 3);" \
    "$(python3 -c "$LISTED" "$BIG_WRITES" "$BIG_WRITE_MIB" < $VS_W/timed.out)"
}

fail_out() { vs_dump; vmlab_summary snap-bench; exit 1; }
vmlab_check "setup: modules, 2 netns, iscsid, TLS, 2 sparse disks of 30000 MiB" setup || fail_out
vmlab_check "manager (4 GiB chunks, overcommit 20), 2 storage agents, head agent" cluster || fail_out
# BENCH_SNAP_PHASES: which phases run (default all three).
PHASES=" ${BENCH_SNAP_PHASES:-pauses throughput big} "
[[ $PHASES != *" pauses "* ]] ||
  vmlab_check "snapshot pause: $SNAPS snapshots of an attached volume under 4 KiB random writes" pauses
[[ $PHASES != *" throughput "* ]] || vmlab_check "write throughput before and just after a snapshot" throughput
[[ $PHASES != *" big "* ]] ||
  vmlab_check "$BIG_GIB GiB volume: attach, snapshots around 1 % changed, listChangedBlocks, clones" big
echo "bench: the disks' backing files hold $(df -m --output=used $VMLAB_DISKS | tail -1 | tr -d ' ') MiB of the guest's RAM at the end"
vmlab_summary snap-bench || { vs_dump; exit 1; }
