#!/bin/bash
# Runs INSIDE the VM lab: the thrash test (the models: Ceph's thrashosds,
# DRBD's test suite). A manager (failure grace THRASH_GRACE, default 30 s),
# five storage servers of one disk each, a head; two 1 GiB volumes of two
# legs, attached, each written without a pause by its own loop of
# checksummed fio jobs (8 MiB regions in turn, verify=crc32c, each region
# verified as soon as it is written). For THRASH_SECONDS (default 300),
# faults drawn from a seeded schedule, one at a time, each followed by a
# bounded wait (THRASH_HEAL, default 360 s) for full redundancy:
#   agent       a storage agent SIGKILLed, started again 3 s to 2 graces later
#   server      a leg's server killed (agent SIGKILL, link down) for more
#               than the grace period, then back (link up, a new agent)
#   link-short  a leg's server's link down for less than the grace period
#   link-long   the same for more than the grace period
#   lun         a leg's LUN removed for more than the grace period, then its
#               agent restarted (which exports it again)
#   disk        a leg's disk returns I/O errors (dm-error under the LUN) for
#               more than the grace period, then healed
#   manager     the manager SIGKILLed, restarted after more than the grace period
#   head        the head agent SIGKILLed and started again 1-3 s later
#   drain       a leg's server drained, deleted, and registered afresh (a new
#               agent state, a blank disk) so the pool does not run dry
# THRASH_SEED (default random) is printed first, and so is every fault with
# its time: the same seed replays the same schedule (what the faults hit can
# differ, since placement follows timing). THRASH_FAULTS="kind ..." limits
# the kinds drawn (default: all).
# Invariant, at every poll of every step: vastsky-manager --audit, with the
# head's records (--head-records, when the manager has that option: no
# extent the database counts free, or as another leg, lies under a leg the
# head has assembled). A step that breaks it, or does not heal, stops the
# schedule. At the end: zero fio errors, every region's last write verified
# again, every leg in sync read and identical, redundancy whole (every leg
# INSYNC, rebuild queue empty), audit OK, no orphan leg on the head; then a
# summary (seed, faults per kind, time, results).
# Host side: THRASH_SEED=N tests/vmlab/vm.sh run tests/vmlab/thrash.sh
# (THRASH_* variables are passed into the VM).
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/cluster.sh"

SERVERS=5 VOLS="v1 v2" REGION_MIB=8 REGIONS=16
# Two legs per disk: room for the four legs, a dead server's replacements and
# a drain's extra leg. Every rebuild writes a whole 1 GiB leg into the
# guest's RAM; its trim gives back what its source does not hold (space).
DISK_MIB=2100
THRASH_SECONDS=${THRASH_SECONDS:-300}
THRASH_SEED=${THRASH_SEED:-$((SRANDOM % 1000000))}
THRASH_GRACE=${THRASH_GRACE:-30}
THRASH_HEAL=${THRASH_HEAL:-360}
THRASH_FAULTS=${THRASH_FAULTS:-agent server link-short link-long lun disk manager head drain}
read -ra KINDS <<< "$THRASH_FAULTS"
RANDOM=$THRASH_SEED   # every draw below is from $RANDOM in this shell (never in a subshell)
# The invariant against the head's records, once the manager can check it.
THRASH_AUDIT_HEADS=
"$VS_BIN/vastsky-manager" --help 2>&1 | grep -q -- '--head-records' &&
  THRASH_AUDIT_HEADS="--head-records $VS_W/head/volumes"
MANAGER_ARGS=(--failure-grace "$THRASH_GRACE" --rebuild-rate 200)

HSVR= STEP=0 BROKEN= AUDITS=0 AUDIT_BAD=0 STEP_BAD0=0 T_START=$SECONDS
declare -A APPLIED NS_OF WRITER
tlog() { printf '[%(%T)T] ' -1; vmlab_log "$*"; }   # wall clock, then seconds into the run

# ---------------------------------------------------------------- invariant
audit() {   # WHEN
  local out
  AUDITS=$((AUDITS + 1))
  # shellcheck disable=SC2086  # THRASH_AUDIT_HEADS is an option and its value
  out=$("$VS_BIN/vastsky-manager" --db $VS_W/manager.db --audit $THRASH_AUDIT_HEADS 2>&1)
  grep -q '^audit: OK' <<< "$out" && return 0
  AUDIT_BAD=$((AUDIT_BAD + 1))
  tlog "INVARIANT BROKEN ($1):"
  echo "$out" | head -20
  return 1
}
# last_for SECONDS: let a fault last, auditing every few seconds meanwhile.
last_for() {
  local until=$((SECONDS + $1))
  while [ $SECONDS -lt $until ]; do audit "step $STEP, fault on"; sleep 3; done
}
# The head's leg devices are exactly the database's legs: no orphan.
no_orphan() {
  local db dev
  db=$(vs_state legs $VOLS | awk '{print $4}' | sort -n | tr '\n' ' ')
  dev=$(dmsetup ls | awk '$1 ~ /^vastsky-[0-9]+-c[0-9]+-data$/ {print $1}' |
        sed -E 's/^vastsky-[0-9]+-c([0-9]+)-data$/\1/' | sort -n | tr '\n' ' ')
  [ "$db" = "$dev" ] || { echo "legs in the database: $db; leg devices on the head: $dev"; return 1; }
}
# heal [SERVERS]: bounded wait for whole redundancy, auditing at each poll;
# fails if any audit of this step failed.
heal() {
  local deadline=$((SECONDS + THRASH_HEAL)) why last=
  while :; do
    audit "step $STEP, healing"
    why=$(vs_state healed "${1:-$SERVERS}" $VOLS) && break
    [ "${why//[0-9]/}" = "$last" ] || { tlog "healing: $why"; last=${why//[0-9]/}; }
    [ $SECONDS -lt $deadline ] || { tlog "not whole ${THRASH_HEAL}s after the fault: $why"; return 1; }
    sleep 2
  done
  [ "$AUDIT_BAD" = "$STEP_BAD0" ] || { tlog "whole again, but the invariant broke during the step"; return 1; }
}
# What the disks' backing files hold in the guest's RAM, once healed. The
# pools give RAM back themselves: a trim's or a guest's discards pass down
# to the loop files and punch them. Nothing may punch a disk from outside:
# a thin pool puts a leg's blocks anywhere in its data area, so the
# manager's free extents (slots it counts, not places on the disk) say
# nothing about where live blocks or the pool's metadata lie (punching them
# zeroed a live leg and a pool's space map in an earlier version of this
# script).
space() { tlog "space: the disks' backing files hold $(df -m --output=used $VMLAB_DISKS | tail -1) MiB"; }
disk_file() { echo "$VMLAB_DISKS/ss$1-disk1.img"; }

# ---------------------------------------------------------------- writes
fio_region() {   # VOL REGION SEED [EXTRA...]: one region written at random offsets, then verified
  local v=$1 r=$2 seed=$3; shift 3
  timeout 300 fio --name=r$r --filename=/dev/vastsky/$v --direct=1 --ioengine=psync --rw=randwrite --bs=64k \
    --offset=$((r * REGION_MIB))m --size=${REGION_MIB}m --randseed="$seed" --verify=crc32c --verify_fatal=1 \
    --do_verify=1 "$@"
}
# writer VOL: region after region until $VS_W/stop-writes exists; a line
# "iteration region seed exit" per write in $VS_W/writes-VOL.
writer() {
  local v=$1 k=0 r seed rc
  while [ ! -e $VS_W/stop-writes ]; do
    r=$((k % REGIONS)) seed=$((THRASH_SEED * 1000 + k + 1))
    fio_region "$v" $r $seed --rate=1m --output=$VS_W/fio-$v.log; rc=$?
    echo "$k $r $seed $rc" >> $VS_W/writes-$v
    if [ $rc != 0 ]; then
      tlog "WRITE ERROR on $v: region $r, seed $seed, fio exit $rc"
      tail -15 $VS_W/fio-$v.log
      [ -e $VS_W/fio-$v-first-failure.log ] || cp $VS_W/fio-$v.log $VS_W/fio-$v-first-failure.log
    fi
    k=$((k + 1))
  done
}
start_writers() {
  local v
  rm -f $VS_W/stop-writes
  for v in $VOLS; do writer "$v" & WRITER[$v]=$!; done
}
stop_writers() {
  local v
  touch $VS_W/stop-writes
  for v in $VOLS; do wait "${WRITER[$v]}"; done
}
writes_clean() {   # every write of every volume verified
  local v n bad rc=0
  for v in $VOLS; do
    n=$(wc -l < $VS_W/writes-$v) bad=$(awk '$4 != 0' $VS_W/writes-$v | wc -l)
    echo "$v: $n region writes, $bad failed"
    [ "$n" -gt 0 ] && [ "$bad" = 0 ] || rc=1
  done
  return $rc
}
# verify_all VOL: every region's last successful write read back again, one
# fio run with a job (thread) per region.
verify_all() {
  local v=$1 f=$VS_W/verify-$1.fio k r seed rc
  local -A last=()
  while read -r k r seed rc; do if [ "$rc" = 0 ]; then last[$r]=$seed; else unset "last[$r]"; fi; done < $VS_W/writes-$v
  {
    printf '[global]\nfilename=/dev/vastsky/%s\ndirect=1\nioengine=psync\nrw=randwrite\nbs=64k\nsize=%dm\n' "$v" $REGION_MIB
    printf 'verify=crc32c\nverify_fatal=1\ndo_verify=1\nverify_only=1\nthread\n'
    for r in "${!last[@]}"; do printf '[r%d]\noffset=%dm\nrandseed=%s\n' "$r" $((r * REGION_MIB)) "${last[$r]}"; done
  } > "$f"
  echo "$v: verifying the last write of ${#last[@]} of $REGIONS regions"
  timeout 600 fio --output=$VS_W/verify-$v.log "$f" || { tail -20 $VS_W/verify-$v.log; return 1; }
}

# ---------------------------------------------------------------- targets
# pick_leg: a random leg in sync; sets LEG_VOL LEG_CHUNK LEG_PDSK LEG_SSVR LEG_NS.
pick_leg() {
  local rows id ip _
  rows=$(vs_state legs $VOLS | awk '$7 == 2') && [ -n "$rows" ] || { echo "no leg in sync"; return 1; }
  mapfile -t L <<< "$rows"
  read -r LEG_VOL _ _ LEG_CHUNK LEG_PDSK LEG_SSVR _ <<< "${L[RANDOM % ${#L[@]}]}"
  while read -r id ip _; do NS_OF[$id]=${ip##*.}; done < <(vs_state servers)
  LEG_NS=${NS_OF[$LEG_SSVR]:-}
  [ -n "$LEG_NS" ] || { echo "no address for ssvr $LEG_SSVR"; return 1; }
  LEG="leg $LEG_CHUNK of $LEG_VOL on ss$LEG_NS (ssvr $LEG_SSVR, pdsk $LEG_PDSK)"
}
longer_than_grace() { echo $((THRASH_GRACE + 5 + RANDOM % 16)); }
start_agent() { vs_storage_agent_start "$1" || { tail -5 $VS_W/agent$1.log; return 1; }; }
link() { ip link set vmlab-ss$1 "$2"; }   # I up|down

# ---------------------------------------------------------------- faults
fault_agent() {
  local i=$((1 + RANDOM % SERVERS)) hold=$((3 + RANDOM % (2 * THRASH_GRACE)))
  tlog "FAULT agent: the storage agent of ss$i SIGKILLed, started again in ${hold}s"
  vs_kill $i && last_for $hold && start_agent $i
}
fault_server() {
  pick_leg || return 1
  local i=$LEG_NS hold; hold=$(longer_than_grace)
  tlog "FAULT server: ss$i killed (agent SIGKILL, link down), back in ${hold}s; it holds the $LEG"
  vs_kill $i && link $i down && last_for $hold && link $i up && start_agent $i
}
fault_link_short() {
  pick_leg || return 1
  local hold=$((5 + RANDOM % (THRASH_GRACE - 10)))
  tlog "FAULT link-short: the link of ss$LEG_NS down for ${hold}s (grace ${THRASH_GRACE}s); it holds the $LEG"
  link $LEG_NS down && last_for $hold && link $LEG_NS up
}
fault_link_long() {
  pick_leg || return 1
  local hold; hold=$(longer_than_grace)
  tlog "FAULT link-long: the link of ss$LEG_NS down for ${hold}s (grace ${THRASH_GRACE}s); it holds the $LEG"
  link $LEG_NS down && last_for $hold && link $LEG_NS up
}
fault_lun() {
  pick_leg || return 1
  local hold; hold=$(longer_than_grace)
  tlog "FAULT lun: the LUN of pdsk $LEG_PDSK removed for ${hold}s, then its agent restarted; the $LEG"
  vs_lun_remove "$LEG_PDSK" && last_for $hold && vs_stop $LEG_NS && start_agent $LEG_NS
}
fault_disk() {
  pick_leg || return 1
  local hold; hold=$(longer_than_grace)
  tlog "FAULT disk: the disk of ss$LEG_NS returns I/O errors for ${hold}s; the $LEG"
  vs_disk_errors $LEG_NS && last_for $hold && vs_disk_heal $LEG_NS
}
fault_manager() {
  local hold; hold=$((THRASH_GRACE + 5 + RANDOM % 11))
  tlog "FAULT manager: SIGKILLed, restarted in ${hold}s (grace ${THRASH_GRACE}s)"
  vs_kill m && last_for $hold && { vs_manager_start "${MANAGER_ARGS[@]}" || { tail -5 $VS_W/manager.log; return 1; }; }
}
fault_head() {   # back well within grace, even when a start takes 20 s under a busy TCG
  local hold=$((1 + RANDOM % 3))
  tlog "FAULT head: the head agent SIGKILLed, started again in ${hold}s"
  vs_kill h && sleep $hold && { vs_head_agent_start || { tail -5 $VS_W/head.log; return 1; }; }
}
fault_drain() {
  pick_leg || return 1
  local i=$LEG_NS s=$LEG_SSVR p pdsks
  tlog "FAULT drain: ss$i (ssvr $s) drained, then deleted and registered afresh; it holds the $LEG"
  vs_cli ssvr drain "$s" >/dev/null || return 1
  heal $((SERVERS - 1)) && ! vs_state legs $VOLS | awk -v s="$s" '$6 == s {f = 1} END {exit !f}' ||
    { tlog "drain of ssvr $s not done"; return 1; }
  pdsks=$(vs_mrpc listPhysicalDisks "{\"ssvrid\": $s}" | vs_json '" ".join(str(p["pdskid"]) for p in d)') &&
  vs_stop $i && vs_mrpc deleteStorageServer "{\"ssvrid\": $s}" >/dev/null || return 1
  tlog "ssvr $s deleted; ss$i comes back as a new server with a blank disk"
  # A new machine: no LIO targets, no agent state, a blank disk.
  for p in $pdsks; do vs_pdsk_wipe "$p" || return 1; done
  rm -rf "${VS_W:?}/ss$i" && fallocate -p -o 0 -l $((DISK_MIB << 20)) "$(disk_file $i)" && start_agent $i
}

# ---------------------------------------------------------------- steps
step() {   # KIND: apply the fault (held, then undone), then heal
  local kind=$1
  STEP=$((STEP + 1)) STEP_BAD0=$AUDIT_BAD
  APPLIED[$kind]=$((${APPLIED[$kind]:-0} + 1))
  vmlab_check "step $STEP: $kind applied and undone" "fault_${kind//-/_}" ||
    { BROKEN="step $STEP ($kind): the fault could not be applied or undone"; return 1; }
  audit "step $STEP, fault undone"
  vmlab_check "step $STEP: redundancy whole after $kind, invariant held throughout" heal ||
    { BROKEN="step $STEP ($kind): not healed, or the invariant broke"; diagnose; return 1; }
  space
}
thrash() {
  local end=$((SECONDS + THRASH_SECONDS))
  while [ $SECONDS -lt $end ] && [ -z "$BROKEN" ]; do
    step "${KINDS[RANDOM % ${#KINDS[@]}]}"
  done
  return 0
}
diagnose() {
  echo "---- cluster status"; vs_mrpc getClusterStatus '{}'
  echo "---- legs (lvol lvolid mirror chunk pdsk ssvr status)"; vs_state legs $VOLS
  echo "---- head volumes"; vs_hrpc listVolumes '{}'
  echo "---- last events"; vs_mrpc listEvents '{}' | python3 -c 'import json, sys
for e in json.load(sys.stdin)[-15:]: print(e["time"], e["level"], e["type"], e["target"], e["targetid"], e["message"])'
  echo "---- manager log"; tail -25 $VS_W/manager.log
  echo "---- head log"; tail -15 $VS_W/head.log
  dmsetup status | grep -- '-m[0-9]'
}

setup() { vs_lab_setup $SERVERS 1 $DISK_MIB && vs_disks_dm; }
cluster() {
  local i
  vs_manager_start "${MANAGER_ARGS[@]}" || return 1
  for i in $(seq $SERVERS); do start_agent $i || return 1; done
  vs_head_agent_start && vs_wait 150 vs_registered && HSVR=$(vs_hsvr) && [ -n "$HSVR" ]
}
attach() {
  local v
  for v in $VOLS; do
    vs_mrpc createLogicalVolume "{\"lvolname\": \"$v\", \"capacity\": 1, \"redundancy\": 2}" >/dev/null &&
    vs_mrpc attachLogicalVolume "{\"lvolname\": \"$v\", \"hsvrid\": $HSVR}" >/dev/null && [ -b /dev/vastsky/$v ] &&
    fio_region $v 0 1 --output=$VS_W/fio-$v.log || { tail -10 $VS_W/fio-$v.log; return 1; }
  done
  start_writers
}
final_heal() {   # after a broken step, a short wait: the report matters more than the wait
  local THRASH_HEAL=$THRASH_HEAL
  [ -z "$BROKEN" ] || THRASH_HEAL=60
  STEP_BAD0=$AUDIT_BAD
  heal && no_orphan
}
legs_identical() { local v rc=0; for v in $VOLS; do vs_legs_identical $v $((REGIONS * REGION_MIB)) || rc=1; done; return $rc; }
verify_both() { local v rc=0; for v in $VOLS; do verify_all $v || rc=1; done; return $rc; }

summary() {
  local k faults= n=0
  for k in "${KINDS[@]}"; do faults+=" $k ${APPLIED[$k]:-0},"; n=$((n + ${APPLIED[$k]:-0})); done
  echo "---- thrash summary"
  echo "seed       $THRASH_SEED (replay: THRASH_SEED=$THRASH_SEED THRASH_SECONDS=$THRASH_SECONDS THRASH_FAULTS=\"${KINDS[*]}\" tests/vmlab/vm.sh run tests/vmlab/thrash.sh)"
  echo "faults     $n in $STEP steps:${faults%,}"
  echo "time       $((SECONDS - T_START)) s in all, ${THRASH_SECONDS} s of faults asked, grace ${THRASH_GRACE} s"
  echo "invariant  $AUDITS audits, $AUDIT_BAD broken (${THRASH_AUDIT_HEADS:-the database alone: this manager has no --head-records})"
  echo "writes     $(for v in $VOLS; do echo -n "$v $(wc -l < $VS_W/writes-$v 2>/dev/null || echo 0) regions written, $(awk '$4 != 0' $VS_W/writes-$v 2>/dev/null | wc -l) failed; "; done)"
  echo "schedule   ${BROKEN:-ran to the end}"
}

tlog "THRASH_SEED=$THRASH_SEED THRASH_SECONDS=$THRASH_SECONDS THRASH_GRACE=$THRASH_GRACE faults: ${KINDS[*]}"
tlog "invariant: vastsky-manager --audit ${THRASH_AUDIT_HEADS:-(no --head-records in this manager: the database against itself only)}"
vmlab_check "lab: $SERVERS storage servers of one disk, iSCSI, TLS" setup || { vmlab_summary thrash; exit 1; }
vmlab_check "cluster up (failure grace ${THRASH_GRACE} s)" cluster || { vs_dump; vmlab_summary thrash; exit 1; }
vmlab_check "two 1 GiB volumes of 2 legs attached, checksummed writes running" attach ||
  { vs_dump; vmlab_summary thrash; exit 1; }
T_START=$SECONDS
thrash
vmlab_check "the end: redundancy whole (every leg INSYNC, queue empty), no orphan leg" final_heal || diagnose
stop_writers
vmlab_check "every write verified as it was made: zero fio errors" writes_clean
vmlab_check "every region's last write verified again" verify_both
vmlab_check "every mirror's legs in sync read and identical" legs_identical
vmlab_check "database audited at the end" audit "the end"
summary
# The daemons' logs and the write records outlive the VM (kept with a failure).
cp $VS_W/*.log $VS_W/writes-* "$VMLAB_SHARED/" 2>/dev/null
vmlab_summary thrash || { vs_dump; exit 1; }
