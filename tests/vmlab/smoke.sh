#!/bin/bash
# VM lab smoke test. Runs INSIDE the VM (host side: tests/vmlab/run-smoke.sh,
# or tests/vmlab/vm.sh run tests/vmlab/smoke.sh). Proves the real kernel data
# path works end to end with nothing but kernel tools:
#   3 storage servers (netns ss1..ss3), each exporting one file-backed LUN via
#   LIO (raw configfs), per-initiator ACL with CHAP; the head (root netns) is
#   refused without CHAP, with a wrong secret and under another initiator
#   name, and logs in with the right secret; dm-linear metadata + data slices
#   on each LUN; a dm raid1 over ss1+ss2; O_DIRECT writes verified by
#   checksum; leg ss1 replaced by ss3 and rebuilt; verified again; teardown
#   in order, checking nothing is left.
# Ends with "vmlab-smoke: N passed, M failed"; exit 0 only if all passed.
# Knobs: SMOKE_LEG_MB (64, data per leg), SMOKE_IO_MB (32, written + verified),
# SMOKE_CHECKER (fio if installed, else dd: dd + sha256sum).
. "$(dirname "$(readlink -f "$0")")/lib.sh"

N=3
LEG_MB=${SMOKE_LEG_MB:-64}
IO_MB=${SMOKE_IO_MB:-32}
CHECKER=${SMOKE_CHECKER:-$(command -v fio >/dev/null && echo fio || echo dd)}
META_SECT=2048                       # 1 MiB per leg for dm-raid's superblock + write-intent bitmap
LEG_SECT=$((LEG_MB * 2048))
LUN_MB=$((LEG_MB + 1))
CHAP_USER=vastsky-head
INTRUDER_IQN=iqn.2024-01.org.vastsky.vmlab:intruder
RAID=vmlab-m0
SCRATCH=/run/vmlab                    # guest tmpfs, gone at power-off
iqn() { echo "iqn.2024-01.org.vastsky.vmlab:ss$1.disk0"; }
ip_of() { vmlab_ss_ip "$1"; }
secret() { echo "vmlab-ss$1-secret"; }        # 16 characters: fine for every CHAP implementation
declare -A DISK                               # server index -> /dev/sdX on the head

vmlab_log "vmlab-smoke: kernel $(uname -r), $(nproc) vCPU, legs ${LEG_MB} MiB, I/O ${IO_MB} MiB"

# ---------------------------------------------------------------- steps
net_up() {
  vmlab_net_setup $N || return 1
  vmlab_disks_mount 1g || return 1
  local i; for i in $(seq $N); do vmlab_sparse_file ss$i.img $LUN_MB >/dev/null || return 1; done
}
targets_up() {
  local i
  for i in $(seq $N); do
    vmlab_lio_export ss$i disk-ss$i "$(iqn $i)" "$VMLAB_DISKS/ss$i.img" "$(ip_of $i)" &&
    vmlab_lio_allow "$(iqn $i)" "$VMLAB_HEAD_IQN" "$CHAP_USER" "$(secret $i)" || return 1
  done
}
# Each portal listens only inside its server's netns, and the head reaches it.
portals_isolated() {
  local i
  for i in $(seq $N); do
    vmlab_listening "$(ip_of $i):3260" ss$i || { echo "no listener in ss$i"; return 1; }
    vmlab_tcp_open "$(ip_of $i)" 3260 || { echo "head cannot reach ss$i"; return 1; }
  done
  if ss -Hltn | grep -q ':3260 '; then echo "a portal listens in the head's netns"; ss -Hltn; return 1; fi
}
discovery() {   # SendTargets on each portal lists that server's target (not stored)
  local i out
  for i in $(seq $N); do
    out=$(vmlab_ia -m discovery -t st -p "$(ip_of $i)" -o nonpersistent) || return 1
    echo "$out" | grep -q "^$(ip_of $i):3260,1 $(iqn $i)$" || { echo "ss$i: $out"; return 1; }
  done
}
node_records() {
  local i
  for i in $(seq $N); do vmlab_iscsi_node "$(iqn $i)" "$(ip_of $i)" || return 1; done
}
# refused TARGET IP [IFACE]: the login fails with iscsiadm's code 24 (the
# target refused authentication/authorisation) and leaves no session.
refused() {
  local rc
  vmlab_ia -m node -T "$1" -p "$2:3260,1" -I "${3:-default}" --login > $SCRATCH/smoke-login.out 2>&1
  rc=$?
  tail -n 1 $SCRATCH/smoke-login.out
  # The target's reason, from the kernel log (LIO runs in this kernel).
  dmesg | tail -n 5 | grep -vE 'Login negotiation failed|iSCSI Initiator over TCP|connection[0-9]+:[0-9]+: ' | tail -n 1 | sed 's/^/target: /'
  [ $rc = 24 ] || { echo "expected iscsiadm exit 24 (authorization failure), got $rc"; return 1; }
  [ "$(vmlab_iscsi_sessions)" = 0 ] || { echo "a session exists after a refused login"; return 1; }
}
refused_without_chap() {
  vmlab_iscsi_auth "$(iqn 1)" "$(ip_of 1)" "" "" && refused "$(iqn 1)" "$(ip_of 1)"
}
refused_wrong_secret() {
  vmlab_iscsi_auth "$(iqn 1)" "$(ip_of 1)" "$CHAP_USER" "wrong-secret-123" && refused "$(iqn 1)" "$(ip_of 1)"
}
# Right user and secret, but another initiator name (an open-iscsi iface
# with its own initiatorname): the target has no ACL for it.
refused_other_initiator() {
  vmlab_ia -m iface -I intruder -o new >/dev/null &&
  vmlab_ia -m iface -I intruder -o update -n iface.initiatorname -v "$INTRUDER_IQN" >/dev/null &&
  vmlab_iscsi_node "$(iqn 1)" "$(ip_of 1)" intruder &&
  vmlab_iscsi_auth "$(iqn 1)" "$(ip_of 1)" "$CHAP_USER" "$(secret 1)" intruder &&
  refused "$(iqn 1)" "$(ip_of 1)" intruder || return 1
  vmlab_ia -m node -T "$(iqn 1)" -p "$(ip_of 1):3260,1" -I intruder -o delete &&
  vmlab_ia -m iface -I intruder -o delete >/dev/null
}
login_all() {
  local i
  for i in $(seq $N); do
    vmlab_iscsi_auth "$(iqn $i)" "$(ip_of $i)" "$CHAP_USER" "$(secret $i)" &&
    DISK[$i]=$(vmlab_iscsi_login "$(iqn $i)" "$(ip_of $i)") || return 1
    [ "$(blockdev --getsize64 "${DISK[$i]}")" = $((LUN_MB * 1048576)) ] ||
      { echo "ss$i: ${DISK[$i]} has the wrong size"; return 1; }
    echo "ss$i -> ${DISK[$i]}"
  done
}
# Per LUN: vmlab-ssI-meta = first MiB, vmlab-ssI-data = the LEG_MB after it
# (like LVM's rmeta/rimage). The metadata slice is zeroed: dm-raid would
# trust a stale superblock left on a reused disk.
slices() {
  local i
  for i in $(seq $N); do
    vmlab_dm_linear vmlab-ss$i-meta "${DISK[$i]}" 0 $META_SECT &&
    vmlab_dm_linear vmlab-ss$i-data "${DISK[$i]}" $META_SECT $LEG_SECT &&
    dd if=/dev/zero of=/dev/mapper/vmlab-ss$i-meta bs=1M count=1 oflag=direct status=none || return 1
    [ "$(blockdev --getsz /dev/mapper/vmlab-ss$i-data)" = $LEG_SECT ] || return 1
  done
}
legs() { local i; for i; do printf ' /dev/mapper/vmlab-ss%s-meta /dev/mapper/vmlab-ss%s-data' $i $i; done; }
show_raid() { echo "$RAID: $(vmlab_dm status $RAID)"; }
raid_create() {   # raid1 over ss1 + ss2, then the initial resync
  local t
  vmlab_dm_create $RAID "0 $LEG_SECT raid raid1 1 0 2$(legs 1 2)" || return 1
  show_raid
  t=$(vmlab_dm_wait_sync $RAID 180) || { show_raid; return 1; }
  echo "initial sync of $LEG_MB MiB: ${t}s ($(awk -v m=$LEG_MB -v t="$t" 'BEGIN{printf "%.1f", m/t}') MiB/s)"
  show_raid
}
# Data check: fio with crc32c-verified blocks (O_DIRECT); without fio, dd a
# random pattern and compare sha256 sums.
FIO=(fio --name=smoke "--filename=/dev/mapper/$RAID" --direct=1 --ioengine=libaio --iodepth=4
     --rw=write --bs=256k "--size=${IO_MB}M" --verify=crc32c --verify_fatal=1 "--output=$SCRATCH/smoke-fio.out")
write_verify() {
  if [ "$CHECKER" = fio ]; then
    "${FIO[@]}" --do_verify=1; local rc=$?
    grep -E 'WRITE: bw|READ: bw|err=|verify' $SCRATCH/smoke-fio.out | sed 's/^ *//'
    return $rc
  fi
  dd if=/dev/urandom of=$SCRATCH/smoke-pat bs=1M count=$IO_MB status=none &&
  dd if=$SCRATCH/smoke-pat of=/dev/mapper/$RAID bs=1M oflag=direct status=none &&
  reverify
}
reverify() {
  if [ "$CHECKER" = fio ]; then
    "${FIO[@]}" --verify_only; local rc=$?
    grep -E 'READ: bw|err=|verify' $SCRATCH/smoke-fio.out | sed 's/^ *//'
    return $rc
  fi
  [ "$(dd if=/dev/mapper/$RAID bs=1M count=$IO_MB iflag=direct status=none | sha256sum)" = \
    "$(sha256sum < $SCRATCH/smoke-pat)" ]
}
# legs_equal I J: the data areas of two legs are byte-identical where it
# counts: on the storage servers' backing files (what LIO wrote), compared
# in one cmp (the guest reads tmpfs far faster than it reads over iSCSI).
legs_equal() {
  local off=$((META_SECT * 512))
  cmp -i $off:$off -n $((LEG_SECT * 512)) "$VMLAB_DISKS/ss$1.img" "$VMLAB_DISKS/ss$2.img"
}
# What the head agent does when a leg goes: new table with ss3 in ss1's slot
# (slots cannot be reordered once there is metadata) and "rebuild 0".
replace_leg() {
  local t
  vmlab_dm reload $RAID --table "0 $LEG_SECT raid raid1 3 0 rebuild 0 2$(legs 3 2)" &&
  vmlab_dm suspend $RAID && vmlab_dm resume $RAID || return 1
  show_raid
  t=$(vmlab_dm_wait_sync $RAID 180) || { show_raid; return 1; }
  echo "rebuild of $LEG_MB MiB: ${t}s ($(awk -v m=$LEG_MB -v t="$t" 'BEGIN{printf "%.1f", m/t}') MiB/s)"
  show_raid
}

# ---------------------------------------------------------------- teardown
# Idempotent: removes whatever exists, then checks that nothing is left, so
# it also cleans up after a failed step.
dm_down() {   # the raid first: it holds the slices
  local d raid='' names=()
  while read -r d _; do
    if [ "$d" = $RAID ]; then raid=$d; else names+=("$d"); fi
  done < <(vmlab_dm ls | grep '^vmlab-')
  [ -z "$raid" ] || vmlab_dm remove $RAID || return 1
  [ ${#names[@]} = 0 ] || vmlab_dm remove "${names[@]}" || return 1
  ! vmlab_dm ls | grep -q '^vmlab-'
}
iscsi_down() {
  local i
  for i in $(seq $N); do
    vmlab_ia -m session 2>/dev/null | grep -q " $(iqn $i) " && { vmlab_iscsi_logout "$(iqn $i)" "$(ip_of $i)" || return 1; }
  done
  [ "$(vmlab_iscsi_sessions)" = 0 ] || return 1
  vmlab_ia -m node -o delete >/dev/null 2>&1
  vmlab_iscsid_stop
}
lio_down() {
  local i
  for i in $(seq $N); do vmlab_lio_unexport "$(iqn $i)" disk-ss$i || return 1; done
  vmlab_lio_clean
}
# No oops, BUG, WARNING or hung task in the kernel log of the whole run.
kernel_log_clean() {
  ! dmesg | grep -E 'BUG:|WARNING:|Oops|general protection|blocked for more than|Call Trace'
}
net_down() {
  vmlab_net_teardown || return 1
  umount "$VMLAB_DISKS" 2>/dev/null
  [ -z "$(ip netns list)" ]
}

# ---------------------------------------------------------------- run
main() {
  vmlab_check "load kernel modules" vmlab_load_modules || return 1
  vmlab_check "network: $N netns + bridge, sparse backing files" net_up || return 1
  vmlab_check "LIO: $N targets via configfs (ACL + CHAP, portal in netns)" targets_up || return 1
  vmlab_check "portals listen only in their netns, head reaches them" portals_isolated || return 1
  vmlab_check "iscsid started (short timeouts)" vmlab_iscsid_start || return 1
  vmlab_check "SendTargets discovery on each portal" discovery
  vmlab_check "static node records" node_records || return 1
  vmlab_check "login without CHAP refused" refused_without_chap
  vmlab_check "login with a wrong CHAP secret refused" refused_wrong_secret
  vmlab_check "login as an initiator without ACL refused" refused_other_initiator
  vmlab_check "login with the right CHAP secret to $N targets" login_all || return 1
  vmlab_check "dm-linear meta + data slices on each LUN" slices || return 1
  vmlab_check "dm raid1 over ss1+ss2 created and in sync" raid_create || return 1
  vmlab_check "O_DIRECT write ${IO_MB} MiB + verify ($CHECKER)" write_verify || return 1
  vmlab_check "legs ss1 and ss2 identical" legs_equal 1 2
  vmlab_check "replace leg ss1 by ss3, rebuild" replace_leg || return 1
  vmlab_check "data verifies after the rebuild" reverify
  vmlab_check "legs ss3 and ss2 identical" legs_equal 3 2
}
main
vmlab_log "teardown"
vmlab_check "teardown: dm devices removed" dm_down
vmlab_check "teardown: iSCSI logged out, iscsid stopped" iscsi_down
vmlab_check "teardown: LIO configfs empty" lio_down
vmlab_check "teardown: netns and bridge removed" net_down
vmlab_check "kernel log: no oops, BUG, WARNING or hung task" kernel_log_clean
vmlab_summary vmlab-smoke
