#!/bin/bash
# Runs INSIDE the VM lab, with a peer VM (vm.sh VMLAB_PEER=1): a head that
# crashes (issue 19). The peer is the first head: volume h1 (3 GiB, three
# mirrors of two legs) is attached there and written by two fio processes:
# one with crc32c verification, whose write state (what was acknowledged)
# is saved on the shared dir when the test pulls its trigger; one that goes
# on writing, so that writes are in flight when the host kills the peer's
# QEMU (a power cut: nothing flushed, no goodbye on the wire).
#   a. The manager notices through its grace period (20 s), fences the dead
#      head on every disk (its initiator revoked) and releases h1.
#   b. h1 attached on this VM's head through the manager: each mirror
#      resyncs what its write-intent bitmap marks; its time and the bytes
#      the resync wrote to the legs (counted on the storage servers' thin
#      devices) are reported against the legs' size. And a VDI that was
#      active on the peer is activated here through the XCP driver, as xapi
#      HA does (tests/sm/ha_takeover.py): refused (VDI_IN_USE) while the
#      manager has not judged the peer, then the peer's stale activation
#      cleared and the data it wrote read back.
#   c. fio verifies every block acknowledged before the cut (its saved
#      state); every leg compared (md5, first 64 MiB of each); a full
#      check pass of each mirror (dm raid `check`: every block of both legs
#      read and compared) finds no mismatch, and its time is the full
#      resync's figure.
#   d. The peer boots again with its head agent's state dir (which still
#      records h1): it registers, assembles nothing of h1 and holds no
#      session; a login from its initiator to each disk is refused, so no
#      write of it can reach a leg; h1 on this head still verifies.
# Host side (as tests/run-all.sh runs it):
#   VMLAB_PEER=1 VMLAB_MEM=4096 VMLAB_TIMEOUT=1800 VS_TMPFS=3000m VMLAB_PASSENV=VS_TMPFS \
#     tests/vmlab/vm.sh run tests/vmlab/headcrash.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/cluster.sh"

HSVR= PEER_HSVR= LVOLID=
GRACE=20
FIO_DIR=$VMLAB_SHARED/peer/fio     # the peer's $VMLAB_SHARED/fio
# The verified writer: job k writes the first 256 MiB of mirror k (64 KiB
# blocks, crc32c); the other writer 128 MiB from 768 MiB into each mirror.
# What they may dirty is bounded (DIRTY_MIB) so that a resync, which fills a
# dirty 4 MiB region of the thin legs whole, fits the lab's tmpfs (a full
# one fails the pools' disks) and is told from a full one.
DIRTY_MIB=$((3 * (256 + 128)))
fio_job() {   # FILE VERIFY_ONLY(0|1): the verified job, as written and as read back
  cat > "$1" <<EOF
[h1]
filename=/dev/vastsky/h1
rw=randwrite
bs=64k
size=256m
offset_increment=1g
numjobs=3
direct=1
ioengine=libaio
iodepth=4
randseed=19
verify=crc32c
verify_fatal=1
EOF
  # A verify run saving its own state would overwrite the cut's. The
  # writer's rate keeps it short of its 256 MiB when the cut comes (~30 s):
  # one that ended first would save no state.
  if [ "$2" = 1 ]; then printf 'verify_only=1\nverify_state_load=1\nverify_state_save=0\n' >> "$1"; else printf 'do_verify=0\nrate=4m\n' >> "$1"; fi
}

setup() { vs_lab_setup 3 1 3000; }
# Overcommit 2: h1's six legs and the VDI's two reserve 8 slots of 1 GiB on
# three pools of 2 (thin: what is written stays far below).
cluster() {
  VS_MANAGER_ARGS="--failure-grace $GRACE --rebuild-rate 200" vs_cluster_up && HSVR=$(vs_hsvr) && [ -n "$HSVR" ] &&
    vs_mrpc setClusterSetting '{"name": "overcommit", "value": "2"}' >/dev/null
}
peer_up() { vs_peer_up && PEER_HSVR=$(vs_hsvr_at "$VMLAB_PEER_IP") && echo "first head: the peer, hsvr $PEER_HSVR"; }
# The XCP driver's side (tests/sm/ha_takeover.py): a VDI active on the
# peer (host B), taken over by this host (A) once the peer is fenced.
HA_PID=
ha_driver_start() {
  mkdir -p $VS_W/ha && vs_sm_conf || return 1
  timeout 1700 python3 "$VS_REPO/tests/sm/ha_takeover.py" "$VS_MGR" $VS_W/secret \
    $VS_W/ha > $VS_W/ha.out 2>&1 &
  HA_PID=$!
  vs_wait 600 test -s $VS_W/ha/ha.volume || { cat $VS_W/ha.out; return 1; }
  local vol; vol=$(cat $VS_W/ha/ha.volume)
  vs_mrpc attachLogicalVolume "{\"lvolname\": \"$vol\", \"hsvrid\": $PEER_HSVR}" >/dev/null || return 1
  vmlab_peer "dd if=/dev/urandom of=/dev/vastsky/$vol bs=1M count=64 oflag=direct status=none &&
    dd if=/dev/vastsky/$vol bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1" > $VS_W/ha/.sha &&
    mv $VS_W/ha/.sha $VS_W/ha/ha.on-peer && echo "VDI volume $vol active on the peer; 64 MiB written there"
}
ha_driver_done() {
  wait $HA_PID; local rc=$?
  cat $VS_W/ha.out
  [ $rc = 0 ]
}

on_peer() {
  vs_mrpc createLogicalVolume '{"lvolname": "h1", "capacity": 3, "redundancy": 2}' >/dev/null &&
    vs_mrpc attachLogicalVolume "{\"lvolname\": \"h1\", \"hsvrid\": $PEER_HSVR}" >/dev/null || return 1
  LVOLID=$(vs_mrpc listLogicalVolumes '{"lvolname": "h1"}' | vs_json 'd[0]["lvolid"]')
  vmlab_peer '[ -b /dev/vastsky/h1 ] && vs_health' || return 1
}

# The power cut under writes.
writes_then_cut() {
  mkdir -p "$FIO_DIR" && fio_job "$FIO_DIR/write.fio" 0 || return 1
  # In the peer: the verified writer saves its state in the shared dir when
  # the trigger file shows up, then asks the host for the power cut.
  vmlab_peer 'cd $VMLAB_SHARED/fio &&
    { fio --trigger-file=$VMLAB_SHARED/fio/cut --trigger="touch $VMLAB_SHARED/poweroff" --aux-path=$VMLAB_SHARED/fio \
        write.fio > write.log 2>&1 & } &&
    { fio --name=inflight --filename=/dev/vastsky/h1 --rw=randwrite --bs=4k --direct=1 --ioengine=libaio \
        --iodepth=16 --size=128m --offset=768m --offset_increment=1g --numjobs=3 --time_based --runtime=3600 \
        > inflight.log 2>&1 & }' || return 1
  sleep 25
  # fio saves its state, then its trigger asks the host for the cut.
  : > "$FIO_DIR/cut"
  vs_wait 300 test -e "$VMLAB_SHARED/peer/off" || { echo "fio's trigger did not cut the power"; vmlab_peer_poweroff; return 1; }
  : > $VS_W/ha/ha.cut
  ls "$FIO_DIR"/local-h1-*-verify.state >/dev/null 2>&1 || { echo "no verify state saved"; tail "$FIO_DIR/write.log"; return 1; }
  echo "the peer was cut off under writes; fio's write states: $(ls "$FIO_DIR" | grep -c verify.state) jobs"
}

# a. Fenced and released by the manager on its own.
T_CUT=
released() {
  [ "$(vs_mrpc listLogicalVolumes '{"lvolname": "h1"}' | vs_json 'd[0].get("hsvrid", 0)')" = 0 ]
}
fenced_and_released() {
  T_CUT=$SECONDS
  vs_wait $(((GRACE + 60) * 5)) released || { vs_mrpc listLogicalVolumes '{"lvolname": "h1"}'; return 1; }
  echo "h1 released $((SECONDS - T_CUT)) s after the cut (grace ${GRACE} s)"
  : > $VS_W/ha/ha.released
  echo "head servers (hsvrid, priority): $(vs_mrpc listHeadServers '{}' | vs_json "[(h['hsvrid'], h['priority']) for h in d]")"
  vs_mrpc listEvents '{}' | vs_json "'\n'.join('  event %s %s: %s' % (e['level'], e['type'], e['message']) for e in d if e['target'] == 'hsvr' or 'fence' in e['message'])"
  vs_acl_lacks_peer
}
# Every disk's LIO ACL lacks the peer's initiator (the fence's revoke).
vs_acl_lacks_peer() {
  local n
  n=$(ls -d "$VMLAB_LIO"/iscsi/*/tpgt_1/acls/"$VMLAB_PEER_IQN" 2>/dev/null | wc -l)
  echo "disks whose LIO ACL still lists the peer's initiator: $n"
  [ "$n" = 0 ]
}

# b. Attached here: the bitmap resync.
leg_written_sectors() {   # the sectors written to h1's legs' thin devices, summed
  local c dev minor sum=0 w
  for c in $(vs_state legs h1 | awk '{print $4}'); do
    dev=$(cat "$VMLAB_LIO"/core/*/"$(printf 'vastsky-leg-%08x' "$c")"/udev_path 2>/dev/null) || return 1
    minor=$(dmsetup info -c -o minor --noheadings "$(basename "$dev")") || return 1
    read -r _ _ _ _ _ _ w _ < "/sys/block/dm-$minor/stat"
    sum=$((sum + w))
  done
  echo $sum
}
in_sync() {   # every mirror of every volume here: all legs A, no recovery running
  vs_hrpc listVolumes '{}' | python3 -c 'import json, sys
m = [m for v in json.load(sys.stdin) for m in v["mirrors"]]
sys.exit(0 if m and all(set(x["health"]) == {"A"} and x["action"] == "idle" for x in m) else 1)'
}
# What a stalled resync leaves to look at: the raids' state, the room left
# on the tmpfs under the lab's disks (a full one fails the thin pools), the
# pools' state, the kernel's last words.
resync_report() {
  dmsetup status | awk '$4 == "raid" || $4 == "thin-pool"'
  df -m "$VMLAB_DISKS" | tail -1
  dmesg | tail -15
}
in_sync_reporting() {   # in_sync, with a report each minute of waiting on fd 3 (vs_wait silences 1 and 2)
  in_sync && return 0
  [ $((SECONDS - ${LAST_REPORT:=$SECONDS})) -lt 60 ] && return 1
  LAST_REPORT=$SECONDS
  { echo "-- still resyncing: $(vs_health)"; resync_report; } >&3
  return 1
}
RESYNC_S=
attached_and_resynced() {
  local before after t0
  before=$(leg_written_sectors) || return 1
  t0=$(vmlab_now)
  vs_mrpc attachLogicalVolume "{\"lvolname\": \"h1\", \"hsvrid\": $HSVR}" >/dev/null && [ -b /dev/vastsky/h1 ] || return 1
  echo "h1 attached here; health $(vs_health)"
  vs_wait 3000 in_sync_reporting 3>&1 || { echo "not in sync: $(vs_health)"; resync_report; return 1; }
  echo "room on the disks' tmpfs: $(df -m --output=used,avail "$VMLAB_DISKS" | tail -1) MiB used, free"
  RESYNC_S=$(vmlab_elapsed "$t0")
  after=$(leg_written_sectors) || return 1
  dmesg | grep -E 'md/raid1|md: (resync|recovery)|mdX|dm-raid' | tail -12
  local mib=$(((after - before) / 2048))
  echo "bitmap resync: attach to every mirror in sync ${RESYNC_S} s; written to the legs meanwhile" \
    "$mib MiB, where the writers could dirty $DIRTY_MIB MiB of the $((6 * 1024)) MiB of legs; health $(vs_health)"
  # Writes ran until the cut, so regions were dirty: nothing written means
  # md took the mirrors for clean (PROTOCOL.md, "A head that stopped
  # without a word"); more than the writers' ranges (and a few MiB of md's
  # superblocks and bitmaps), more than the bitmap marks.
  [ "$mib" -gt 0 ] && [ "$mib" -le $((DIRTY_MIB + 16)) ]
}

# c. The data.
acknowledged_writes_verify() {
  fio_job "$FIO_DIR/verify.fio" 1 &&
    (cd "$FIO_DIR" && timeout 900 fio --aux-path="$FIO_DIR" verify.fio > verify.log 2>&1) ||
    { tail -20 "$FIO_DIR/verify.log"; return 1; }
  # Each job reads back what its saved state says was acknowledged.
  echo "fio verified what 3 jobs had acknowledged before the cut, 0 errors:" \
    "$(grep -o 'READ: bw=[^,]*, [^,]*, io=[^,]*' "$FIO_DIR/verify.log")"
}
legs_identical() { vs_legs_identical h1 64; }
full_check() {
  local m t0 out rc=0
  t0=$(vmlab_now)
  for m in $(dmsetup ls | awk -v p="vastsky-$LVOLID-m" 'index($1, p) == 1 {print $1}'); do
    dmsetup message "$m" 0 check || return 1
  done
  vs_wait 3000 check_done || { dmsetup status | grep " raid "; return 1; }
  echo "full check pass of every mirror (both legs read whole and compared): $(vmlab_elapsed "$t0") s, against ${RESYNC_S} s for the bitmap resync"
  while read -r m out; do
    echo "  $m $out"
    [ "$out" = "mismatches 0" ] || rc=1
  done < <(dmsetup status | awk -v p="vastsky-$LVOLID-m" 'index($1, p) == 1 {print substr($1, 1, length($1) - 1), "mismatches", $10}')
  return $rc
}
# dmsetup status: NAME: 0 LEN raid raid1 2 HEALTH RATIO ACTION MISMATCHES ...
check_done() { ! dmsetup status | awk -v p="vastsky-$LVOLID-m" 'index($1, p) == 1 && $9 != "idle"' | grep -q .; }

# d. The first head comes back.
peer_back() {
  vmlab_peer_boot && vs_peer_head_start || return 1
  vs_wait 300 peer_online
}
peer_online() {
  [ "$(vs_mrpc listHeadServers '{}' | vs_json "[h['priority'] for h in d if h['hsvrid'] == $PEER_HSVR][0]")" = 1 ]
}
# What the peer holds: its devices, its sessions, its head agent's volume
# records. The records go when the manager's reconciliation of the
# registered head detaches what it no longer attaches there, which waits
# for the manager's work loop (a rebuild's poll may hold it) and under TCG
# can take longer than the grace: wait for it, bounded, and say how long.
peer_holdings() {
  vmlab_peer 'echo "dm: $(vs_dm_devices | tr "\n" " ")"; echo "sessions: $(vs_sessions | tr "\n" " ")";
    echo "records: $(ls $VMLAB_SHARED/head-state/volumes 2>/dev/null | tr "\n" " ")"'
}
peer_holds_none() { [ "$(peer_holdings | grep -c ': $')" = 3 ]; }
peer_holds_nothing() {
  local t0=$SECONDS
  if vs_wait 600 peer_holds_none; then
    peer_holdings
    echo "the peer held nothing $((SECONDS - t0)) s after its registration was seen"
    return 0
  fi
  peer_holdings
  echo "after $((SECONDS - t0)) s the peer still holds the above; the manager on the peer's head:"
  grep -F "hsvr-$(printf %08x "$PEER_HSVR")" $VS_W/manager.log | tail -15
  return 1
}
peer_cannot_write() {
  local i rc n=0
  for i in $(seq "$VS_SERVERS"); do
    vmlab_peer "vmlab_ia -m node -o new -T iqn.2010-10.org.vastsky:pdsk-$(printf %08x "$i") -p $(vmlab_ss_ip "$i"):3260,1 >/dev/null &&
      vmlab_ia -m node -T iqn.2010-10.org.vastsky:pdsk-$(printf %08x "$i") -p $(vmlab_ss_ip "$i"):3260,1 --login" >/dev/null 2>&1
    rc=$?
    echo "the peer's login to pdsk $i: iscsiadm exit $rc"
    [ $rc != 0 ] && [ $rc != 255 ] && n=$((n + 1))
  done
  [ -z "$(vmlab_peer vs_sessions)" ] && [ $n = "$VS_SERVERS" ] && echo "every login refused: no write of the peer can reach a leg"
}
still_verifies() { acknowledged_writes_verify; }

cleanup_and_audit() {
  vs_mrpc detachLogicalVolume '{"lvolname": "h1"}' >/dev/null && vs_mrpc deleteLogicalVolume '{"lvolname": "h1"}' >/dev/null &&
    vmlab_peer 'vs_stop h && echo "the peer head agent exited 0"' &&
    vs_cluster_down && "$VS_BIN/vastsky-manager" --db $VS_W/manager.db --audit
}

fail_out() { vs_dump; vmlab_summary headcrash; exit 1; }
vmlab_check "setup: modules, 3 netns, iscsid, TLS, 3 disks of 3000 MiB" setup || fail_out
vmlab_check "manager (grace $GRACE s, overcommit 2), 3 storage agents, the head agent here" cluster || fail_out
vmlab_check "the peer VM as the first head: its own iscsid, initiator and head agent" peer_up || fail_out
vmlab_check "h1: 3 GiB, 3 mirrors of 2 legs, attached on the peer" on_peer || fail_out
vmlab_check "a VDI through the XCP driver, active on the peer (host B), written there" ha_driver_start || fail_out
vmlab_check "the peer's power cut under verified writes and writes in flight" writes_then_cut || fail_out
vmlab_check "a. the manager fenced the dead head on every disk and released h1" fenced_and_released || fail_out
vmlab_check "b. h1 attached here: every mirror resynced through its bitmap" attached_and_resynced || fail_out
vmlab_check "c. fio verifies every block acknowledged before the cut" acknowledged_writes_verify
vmlab_check "c. h1's legs identical (md5, every leg)" legs_identical
vmlab_check "c. a full check pass of every mirror: no mismatch" full_check
vmlab_check "b. the VDI activated on this host as xapi HA does (the driver: refused before B's fence, then B's data read back)" ha_driver_done
vmlab_check "d. the peer boots again, its head agent (state dir kept) registers" peer_back || fail_out
vmlab_check "d. the peer assembles nothing of h1, holds no session, and drops its volume records" peer_holds_nothing
vmlab_check "d. the peer's logins to every disk are refused (the fence holds)" peer_cannot_write
vmlab_check "d. h1 on this head still verifies" still_verifies
vmlab_check "detach, delete, clean shutdown, database audit" cleanup_and_audit
vmlab_summary headcrash || { vs_dump; exit 1; }
