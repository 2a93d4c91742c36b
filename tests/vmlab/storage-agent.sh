#!/bin/bash
# Runs INSIDE the VM lab: the real vastsky-storage-agent on two storage
# servers (netns ss1, ss2) exporting loop devices through kernel LIO (or
# tgt: TARGET=tgt, one tgtd per netns), and a real manager over HTTPS on the
# head's bridge address. Checks registration (each disk a thin pool), that
# only an initiator the manager authorised (via allowInitiator, with CHAP)
# can log in and that it sees only the legs it was given (LIO), that a
# fresh leg reads zeros, that an agent restart keeps ids, access and data,
# that revokeInitiator fences a logged-in head, and that deleteLegs gives
# the space back to the pool.
# Host side:
#   tests/vmlab/vm.sh run tests/vmlab/storage-agent.sh                            (LIO)
#   TARGET=tgt VMLAB_PASSENV=TARGET tests/vmlab/vm.sh run tests/vmlab/storage-agent.sh
# (vm.sh passes only VMLAB_*, VASTSKY_* and the names in VMLAB_PASSENV into
# the guest; VASTSKY_TARGET=tgt works too.)
. "$(dirname "$(readlink -f "$0")")/lib.sh"
repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
BIN=$repo/build/bin
HERE=$(dirname "$(readlink -f "$0")")
W=/run/vastsky-e2e
MGR=https://$VMLAB_HEAD_IP:8881/RPC2
CHAP_USER=vastsky-head
CHAP_SECRET=head-secret-01
INTRUDER=iqn.2024-01.org.vastsky.vmlab:intruder
TARGET=${TARGET:-${VASTSKY_TARGET:-lio}}
case $TARGET in lio|tgt) ;; *) echo "TARGET must be lio or tgt, not '$TARGET'"; exit 2;; esac
NAME=storage-agent-$TARGET
declare -A LOOP PID PDSK
# The daemons' logs outlive the VM in the shared dir (vm.sh keeps it after a
# failure, or always with VMLAB_KEEP=1).
trap 'cp $W/*.log "$VMLAB_SHARED/" 2>/dev/null' EXIT

mrpc() { python3 "$HERE/rpc.py" "$MGR" $W/cert.pem $W/secret "$@"; }
arpc() { local i=$1; shift; vmlab_in ss$i python3 "$HERE/rpc.py" "https://$(vmlab_ss_ip $i):8883/RPC2" $W/cert.pem $W/secret "$@"; }
iqn_of() { printf 'iqn.2010-10.org.vastsky:pdsk-%08x' "$1"; }

setup() {
  vmlab_load_modules loop && vmlab_net_setup 2 && vmlab_iscsid_start && vmlab_disks_mount 1g || return 1
  mkdir -p $W && openssl rand -hex 16 > $W/secret && chmod 600 $W/secret
  openssl req -x509 -newkey rsa:2048 -nodes -keyout $W/key.pem -out $W/cert.pem -days 2 -subj /CN=vastsky-lab \
    -addext "subjectAltName=IP:$VMLAB_HEAD_IP,IP:$(vmlab_ss_ip 1),IP:$(vmlab_ss_ip 2)" 2>/dev/null || return 1
  local i; for i in 1 2; do LOOP[$i]=$(losetup -f --show "$(vmlab_sparse_file disk$i.img 2100)") || return 1; done
  # tgt: a tgtd per storage server, listening in its netns; control port i.
  if [ "$TARGET" = tgt ]; then
    for i in 1 2; do vmlab_tgtd_start "$i" "$(vmlab_ss_ip $i)" ss$i $W/tgtd$i.log || return 1; done
  fi
}
manager_up() {
  "$BIN/vastsky-manager" --db $W/manager.db --listen "$VMLAB_HEAD_IP:8881" --secret-file $W/secret \
    --tls-cert $W/cert.pem --tls-key $W/key.pem --chunk-size 1G 2>$W/manager.log &
  PID[m]=$!
  local n; for n in $(seq 100); do mrpc getClusterStatus '{}' >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
agent_start() {   # i
  local i=$1
  # nsenter itself (not the vmlab_in function, which would fork a subshell)
  # so that $! is the agent's pid.
  nsenter --net=/run/netns/ss$i "$BIN/vastsky-storage-agent" --manager "$MGR" --ca-file $W/cert.pem --secret-file $W/secret \
    --listen "$(vmlab_ss_ip $i):8883" --tls-cert $W/cert.pem --tls-key $W/key.pem --data-ip "$(vmlab_ss_ip $i)" \
    --disks "${LOOP[$i]}" --target $TARGET --tgt-control-port $i --state-dir $W/ss$i --heartbeat 1 2>>$W/agent$i.log &
  PID[$i]=$!
  local n; for n in $(seq 100); do arpc "$i" helloWorld '{}' >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
agents_up() { agent_start 1 && agent_start 2; }
registered() {
  local disks
  disks=$(mrpc listPhysicalDisks '{}') || return 1
  [ "$(echo "$disks" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ] || return 1
  local i; for i in 1 2; do
    PDSK[$i]=$(echo "$disks" | python3 -c "import json,sys; print([d['pdskid'] for d in json.load(sys.stdin) if d['local_path']=='${LOOP[$i]}'][0])") || return 1
  done
  exported 1 && exported 2
}
# exported I: the kernel (LIO) or tgtd has server I's disk as its target
# (no LUN yet: a LUN is a leg, made when a head is given it), and the disk
# is a thin pool behind a VastSky label.
exported() {
  local i=$1 iqn; iqn=$(iqn_of "${PDSK[$i]}")
  dmsetup status "$(pool_of "${PDSK[$i]}")" 2>/dev/null | grep -q ' thin-pool ' || return 1
  if [ "$TARGET" = lio ]; then
    [ -d "/sys/kernel/config/target/iscsi/$iqn/tpgt_1" ]
    return
  fi
  # tgt: tid = the pdsk id, CHAP required (the lock account is bound).
  tgt_target "$i" | awk -v t="Target ${PDSK[$i]}: $iqn" '$0 == t { f = 1 } f && /^        vastsky-tgt-lock$/ { k = 1 }
    END { exit !(f && k) }'
}
pool_of() { printf 'vastsky-pool-%08x' "$1"; }
serial_of() { printf 'leg-%08x' "$1"; }   # a leg's LUN serial: its chunk id
# tgt_target I: server I's target as tgtadm shows it (tgt only).
tgt_target() {
  vmlab_tgtadm "$1" --mode target --op show | awk -v t="Target ${PDSK[$1]}: " 'index($0, t) == 1 { f = 1; print; next } /^Target / { f = 0 } f'
}
# allow I INITIATOR OPID LEGS_JSON [CHAP_USER]: allowInitiator on server I's disk.
allow() {
  arpc "$1" allowInitiator "{\"opid\": \"$3\", \"pdskid\": ${PDSK[$1]}, \"initiator\": \"$2\", \"chap_user\": \"${5:-$CHAP_USER}\", \"chap_secret\": \"$CHAP_SECRET\", \"legs\": $4}"
}
LEG1='{"chunkid": 1, "thin_id": 1, "size_mib": 65, "create": true}'
LEG2='{"chunkid": 2, "thin_id": 2, "size_mib": 65, "create": true}'
login() { vmlab_ia -m node -T "$(iqn_of "${PDSK[1]}")" -p "$(vmlab_ss_ip 1):3260,1" --login >&2; }
login_refused_before_allow() {
  vmlab_iscsi_node "$(iqn_of "${PDSK[1]}")" "$(vmlab_ss_ip 1)" &&
  vmlab_iscsi_auth "$(iqn_of "${PDSK[1]}")" "$(vmlab_ss_ip 1)" $CHAP_USER $CHAP_SECRET || return 1
  ! login 2>/dev/null
}
# A leg made fresh reads zeros; what the head writes reads back.
allowed_login_sees_leg() {
  allow 1 "$VMLAB_HEAD_IQN" op-1 "[$LEG1]" >/dev/null || return 1
  # The same operation again is a no-op.
  allow 1 "$VMLAB_HEAD_IQN" op-1 "[$LEG1]" >/dev/null || return 1
  login || return 1
  local disk; disk=$(vmlab_iscsi_lun "$(iqn_of "${PDSK[1]}")" "$(serial_of 1)") || { echo "no LUN with serial $(serial_of 1)"; return 1; }
  [ "$(blockdev --getsize64 "$disk")" = $((65 << 20)) ] || { echo "leg size $(blockdev --getsize64 "$disk")"; return 1; }
  cmp -n $((65 << 20)) /dev/zero "$disk" || { echo "a fresh leg does not read zeros"; return 1; }
  echo "compared 1 leg of 1 with zeros (65 MiB)"
  dd if=/dev/urandom of=$W/pattern bs=1M count=4 status=none &&
  dd if=$W/pattern of="$disk" bs=1M oflag=direct status=none || return 1
  cmp -n $((4 << 20)) $W/pattern <(dd if="$disk" bs=1M count=4 iflag=direct status=none)
}
# Another initiator's leg on the same disk: the head's session never shows
# it (LIO maps LUNs per ACL); narrowing the head's grant takes its own leg
# away, and granting it again gives it back with its data.
other_leg_invisible() {
  # Its own CHAP user: tgt binds accounts per target, and the revoke check
  # below expects the head's account gone from this one.
  allow 1 "$INTRUDER" op-4 "[$LEG2]" other-head >/dev/null || return 1
  local luns; luns=$(vmlab_iscsi_luns "$(iqn_of "${PDSK[1]}")")
  if [ "$TARGET" = tgt ]; then   # tgt cannot mask LUNs per initiator (PROTOCOL.md)
    grep -q "^$(serial_of 2) " <<< "$luns" || { echo "tgt: expected both legs: $luns"; return 1; }
    return 0
  fi
  [ "$(echo "$luns" | awk '{print $1}')" = "$(serial_of 1)" ] || { echo "the head sees: $luns"; return 1; }
  local n; n=$(ls -d "/sys/kernel/config/target/iscsi/$(iqn_of "${PDSK[1]}")/tpgt_1/lun/lun_"* | wc -l)
  [ "$n" = 2 ] || { echo "the target has $n LUNs, not 2 (legs 1 and 2)"; return 1; }
}
# The kernel keeps a SCSI device whose LUN went away (a rescan adds LUNs, it
# never removes them): narrowing shows as I/O errors on it, and the head
# deletes such a device itself when a leg leaves (ForgetLun).
narrowed_and_restored() {
  [ "$TARGET" = lio ] || return 0
  local disk n cut=0
  disk=$(vmlab_iscsi_lun "$(iqn_of "${PDSK[1]}")" "$(serial_of 1)") || return 1
  allow 1 "$VMLAB_HEAD_IQN" op-5 "[]" >/dev/null || return 1
  for n in $(seq 40); do
    timeout 5 dd if="$disk" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null || { cut=1; break; }
    sleep 0.5
  done
  [ $cut = 1 ] || { echo "leg 1 still readable after narrowing"; return 1; }
  echo 1 > "/sys/block/${disk#/dev/}/device/delete" || return 1
  allow 1 "$VMLAB_HEAD_IQN" op-6 "[${LEG1/true/false}]" >/dev/null || return 1
  disk=$(vmlab_iscsi_lun "$(iqn_of "${PDSK[1]}")" "$(serial_of 1)") || { echo "leg 1 not back"; return 1; }
  cmp -n $((4 << 20)) $W/pattern <(dd if="$disk" bs=1M count=4 iflag=direct status=none)
}
# The authorised initiator name is not enough: it needs the CHAP secret
# (tgt: the lock account keeps CHAP required on every target).
wrong_or_no_chap_refused() {
  local t; t=$(iqn_of "${PDSK[1]}")
  vmlab_ia -m iface -I nochap -o new >/dev/null &&
  vmlab_ia -m iface -I nochap -o update -n iface.initiatorname -v "$VMLAB_HEAD_IQN" >/dev/null &&
  vmlab_iscsi_node "$t" "$(vmlab_ss_ip 1)" nochap || return 1
  vmlab_iscsi_auth "$t" "$(vmlab_ss_ip 1)" $CHAP_USER wrong-secret-99 nochap || return 1
  ! vmlab_iscsi_login "$t" "$(vmlab_ss_ip 1)" nochap >/dev/null 2>&1 || { echo "logged in with a wrong secret"; return 1; }
  vmlab_iscsi_auth "$t" "$(vmlab_ss_ip 1)" "" "" nochap || return 1
  ! vmlab_iscsi_login "$t" "$(vmlab_ss_ip 1)" nochap >/dev/null 2>&1 || { echo "logged in without CHAP"; return 1; }
  vmlab_ia -m node -T "$t" -p "$(vmlab_ss_ip 1):3260,1" -I nochap -o delete >/dev/null
}
intruder_refused() {   # not in any ACL of server 2's disk, even with the head's CHAP
  local t; t=$(iqn_of "${PDSK[2]}")
  vmlab_ia -m iface -I intruder -o new >/dev/null &&
  vmlab_ia -m iface -I intruder -o update -n iface.initiatorname -v "$INTRUDER" >/dev/null &&
  vmlab_iscsi_node "$t" "$(vmlab_ss_ip 2)" intruder &&
  vmlab_iscsi_auth "$t" "$(vmlab_ss_ip 2)" $CHAP_USER $CHAP_SECRET intruder || return 1
  ! vmlab_iscsi_login "$t" "$(vmlab_ss_ip 2)" intruder >/dev/null 2>&1
}
restart_keeps_ids_and_access() {
  local rc
  kill -TERM "${PID[1]}" || return 1
  wait "${PID[1]}"; rc=$?
  [ $rc = 0 ] || { echo "agent 1 exited $rc on SIGTERM:"; tail -5 $W/agent1.log; return 1; }
  agent_start 1 || return 1
  local before=${PDSK[1]}
  registered && [ "${PDSK[1]}" = "$before" ] || return 1
  [ "$(mrpc listStorageServers '{}' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ] || return 1
  vmlab_iscsi_logout "$(iqn_of "${PDSK[1]}")" "$(vmlab_ss_ip 1)" >/dev/null 2>&1
  login || return 1
  local disk; disk=$(vmlab_iscsi_lun "$(iqn_of "${PDSK[1]}")" "$(serial_of 1)") || return 1
  cmp -n $((4 << 20)) $W/pattern <(dd if="$disk" bs=1M count=4 iflag=direct status=none)
}
revoke_fences() {
  local disk; disk=$(vmlab_iscsi_lun "$(iqn_of "${PDSK[1]}")" "$(serial_of 1)") || return 1
  arpc 1 revokeInitiator "{\"opid\": \"op-2\", \"pdskid\": ${PDSK[1]}, \"initiator\": \"$VMLAB_HEAD_IQN\"}" >/dev/null || return 1
  local n fenced=0; for n in $(seq 40); do
    timeout 5 dd if="$disk" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null || { fenced=1; break; }
    sleep 0.5
  done
  [ $fenced = 1 ] || { echo "the head still reads $disk"; return 1; }
  [ "$TARGET" = tgt ] || return 0
  # tgt: the name unbound, the head's account unbound (and deleted: no other
  # target has it), no connection left; the lock account stays.
  local show; show=$(tgt_target 1)
  ! grep -qx "        $VMLAB_HEAD_IQN" <<< "$show" || { echo "head still in the ACL:"; echo "$show"; return 1; }
  ! grep -qx "        $CHAP_USER" <<< "$show" || { echo "head account still bound:"; echo "$show"; return 1; }
  grep -qx "        vastsky-tgt-lock" <<< "$show" || { echo "lock account gone:"; echo "$show"; return 1; }
  ! vmlab_tgtadm 1 --mode account --op show | grep -qx "    $CHAP_USER" || { echo "head account not deleted"; return 1; }
  [ -z "$(vmlab_tgtadm 1 --mode conn --op show --tid "${PDSK[1]}")" ] || { echo "connections left"; return 1; }
}
# deleteLegs: the LUN goes, the thin device goes, the pool space comes back.
delete_legs_frees() {
  local pool; pool=$(pool_of "${PDSK[1]}")
  arpc 1 deleteLegs "{\"opid\": \"op-7\", \"pdskid\": ${PDSK[1]}, \"legs\": [{\"chunkid\": 1, \"thin_id\": 1}, {\"chunkid\": 2, \"thin_id\": 2}]}" >/dev/null || return 1
  ! dmsetup ls | grep -q "^vastsky-thin-$(printf %08x "${PDSK[1]}")-" || { echo "thin devices left: $(dmsetup ls | grep thin)"; return 1; }
  [ "$(arpc 1 listExports '{}' | python3 -c "import json,sys; print(sum(len(e['legs']) for e in json.load(sys.stdin) if e['pdskid'] == ${PDSK[1]}))")" = 0 ] || return 1
  # thin-pool status: "<transaction> <meta used>/<total> <data used>/<total> ...": no data block in use.
  [ "$(dmsetup status "$pool" | awk '{split($6, a, "/"); print a[1]}')" = 0 ] || { echo "pool: $(dmsetup status "$pool")"; return 1; }
}
# tgt: an agent whose tgtd is not running says so (and does not start one).
no_tgtd_is_explained() {
  local p n rc=1
  # The disk's own ids (its label says them): the agent exports it at once,
  # before any manager answers, and so meets the missing tgtd.
  mkdir -p $W/nodaemon && printf 'ssvr 1\npdsk %s %s\n' "${PDSK[2]}" "${LOOP[2]}" > $W/nodaemon/ids
  nsenter --net=/run/netns/ss2 "$BIN/vastsky-storage-agent" --manager "https://$VMLAB_HEAD_IP:1/RPC2" --ca-file $W/cert.pem \
    --secret-file $W/secret --listen "$(vmlab_ss_ip 2):8884" --tls-cert $W/cert.pem --tls-key $W/key.pem \
    --data-ip "$(vmlab_ss_ip 2)" --disks "${LOOP[2]}" --target tgt --tgt-control-port 9 --state-dir $W/nodaemon \
    --heartbeat 1 2>$W/nodaemon.log &
  p=$!
  for n in $(seq 50); do
    grep -q 'ECONNREFUSED: tgtd is not running: start it (systemctl start tgt)' $W/nodaemon.log && { rc=0; break; }
    sleep 0.2
  done
  kill -TERM $p; wait $p
  [ ! -e /run/tgtd/socket.9 ] || { echo "a tgtd was started"; rc=1; }
  [ $rc = 0 ] || cat $W/nodaemon.log
  return $rc
}
unknown_disk_is_enoent() {
  local err; err=$(arpc 2 allowInitiator "{\"opid\": \"op-3\", \"pdskid\": 999999, \"initiator\": \"$VMLAB_HEAD_IQN\", \"chap_user\": \"u\", \"chap_secret\": \"$CHAP_SECRET\"}" 2>&1 >/dev/null)
  [ "$err" = ENOENT ]
}

vmlab_log "target: $TARGET"
extra=; [ "$TARGET" = tgt ] && extra=", a tgtd per netns"
vmlab_check "setup: modules, 2 netns, iscsid, TLS cert, loop disks$extra" setup ||
  { cat $W/tgtd*.log 2>/dev/null; vmlab_summary $NAME; exit 1; }
vmlab_check "manager over HTTPS on the bridge" manager_up || { cat $W/manager.log; vmlab_summary $NAME; exit 1; }
vmlab_check "two storage agents in their netns" agents_up || { cat $W/agent*.log; vmlab_summary $NAME; exit 1; }
if [ "$TARGET" = lio ]; then
  vmlab_check "servers and disks registered, thin pools, LIO targets exported" registered
else
  vmlab_check "servers and disks registered, thin pools, tgt targets exported (tid = pdsk id, CHAP lock)" registered
fi
vmlab_check "no login before the manager authorises the head" login_refused_before_allow
vmlab_check "allowInitiator of a fresh leg (twice, one opid): the head logs in with CHAP, finds its LUN by serial, reads zeros, writes and reads back" allowed_login_sees_leg
vmlab_check "another initiator's leg on the same disk is not in the head's session (LIO; tgt shows it, as documented)" other_leg_invisible
vmlab_check "narrowing the grant to no leg cuts the head off that LUN; granting it again returns it with its data (LIO)" narrowed_and_restored
vmlab_check "the head with a wrong CHAP secret, or none, is refused" wrong_or_no_chap_refused
vmlab_check "an initiator not authorised is refused" intruder_refused
vmlab_check "agent restart: same ids, ACL restored, head logs in again" restart_keeps_ids_and_access
vmlab_check "revokeInitiator fences the logged-in head" revoke_fences
vmlab_check "deleteLegs removes the LUNs and thin devices; the pool holds no data block" delete_legs_frees
vmlab_check "allowInitiator on an unknown disk is ENOENT" unknown_disk_is_enoent
[ "$TARGET" = tgt ] && vmlab_check "without tgtd the agent says 'tgtd is not running' and starts none" no_tgtd_is_explained
stopped_cleanly() {
  local p rc=0
  for p in "${PID[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PID[@]}"; do wait "$p" || rc=1; done
  return $rc
}
vmlab_check "manager and agents exit 0 on SIGTERM" stopped_cleanly
vmlab_summary $NAME
