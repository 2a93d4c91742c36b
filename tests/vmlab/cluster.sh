# tests/vmlab/cluster.sh: a whole VastSky cluster inside a VM-lab guest, for
# the end-to-end tests, the data-path benchmark and the demo. Source after
# lib.sh. Functions are vs_*, return non-zero on failure, never exit.
#
#   head server (root netns, 10.99.0.254): vastsky-manager :8881 (HTTPS),
#     vastsky-head-agent :8882, iscsid
#   storage server i (netns ssi, 10.99.0.i): vastsky-storage-agent :8883,
#     exporting VS_DISKS_PER loop devices through kernel LIO
# Everything speaks HTTPS with one self-signed certificate (SANs for every
# address) and one cluster secret, as a real installation would.

VS_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VS_BIN=${VS_BIN:-$VS_REPO/build/bin}
VS_W=/run/vastsky-lab
VS_MGR=https://$VMLAB_HEAD_IP:8881/RPC2
# The head agent's address: this VM's own (the peer sets its address).
VS_HEAD_IP=${VS_HEAD_IP:-$VMLAB_HEAD_IP}
VS_HEAD=https://$VS_HEAD_IP:8882/RPC2
VS_SERVERS=0 VS_DISKS_PER=0
declare -A VS_PID VS_LOOPS

vs_mrpc() { python3 "$VS_REPO/tests/vmlab/rpc.py" "$VS_MGR" $VS_W/cert.pem $VS_W/secret "$@"; }
vs_hrpc() { python3 "$VS_REPO/tests/vmlab/rpc.py" "$VS_HEAD" $VS_W/cert.pem $VS_W/secret "$@"; }
vs_arpc() {   # I METHOD JSON: call storage agent i from inside its netns
  local i=$1; shift
  vmlab_in ss$i python3 "$VS_REPO/tests/vmlab/rpc.py" "https://$(vmlab_ss_ip $i):8883/RPC2" $VS_W/cert.pem $VS_W/secret "$@"
}
vs_cli() {   # OBJECT VERB [ARGS...]: the options follow the command
  "$VS_BIN/vastsky" "$1" "$2" --manager "$VS_MGR" --ca-file $VS_W/cert.pem --secret-file $VS_W/secret "${@:3}"
}
# vs_state COMMAND [ARGS...]: servers, legs, healed (see lab_state.py).
vs_state() { python3 "$VS_REPO/tests/vmlab/lab_state.py" "$VS_MGR" "$VS_HEAD" $VS_W/cert.pem $VS_W/secret "$@"; }
# vs_json EXPR: evaluate a Python expression over the JSON on stdin (as `d`).
vs_json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# vs_mirrors: the number of MIRROR nodes in a showLogicalVolume tree on stdin.
vs_mirrors() {
  python3 -c 'import json, sys
def count(t): return (t["lvoltype"] == 2) + sum(count(c) for c in t.get("components", []))
print(count(json.load(sys.stdin)))'
}
# vs_health: "health:action" of every mirror the head holds (dm raid's
# letters, A in sync, a recovering, D dead), volumes and mirrors in order.
vs_health() { vs_hrpc listVolumes '{}' | vs_json "''.join(m['health'] + ':' + m['action'] for v in d for m in v['mirrors'])"; }
vs_wait() {   # TRIES CMD...: retry CMD every 0.2 s, for at most TRIES x 0.2 s
  # A deadline, not a count: under QEMU TCG one try of an RPC can take
  # seconds, and a count would stretch the wait tenfold.
  local deadline=$((SECONDS + ($1 + 4) / 5)); shift
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# vs_lab_setup SERVERS DISKS_PER DISK_MIB: modules, netns, iscsid, TLS,
# backing loop devices (sparse files on a tmpfs).
vs_lab_setup() {
  VS_SERVERS=$1 VS_DISKS_PER=$2
  local mib=$3 i d san="IP:$VMLAB_HEAD_IP,IP:$VMLAB_PEER_IP"
  vmlab_load_modules loop && vmlab_net_setup "$VS_SERVERS" && vmlab_iscsid_start && vmlab_disks_mount ${VS_TMPFS:-1200m} || return 1
  mkdir -p $VS_W && openssl rand -hex 16 > $VS_W/secret && chmod 600 $VS_W/secret
  openssl rand -hex 16 > $VS_W/metrics-secret && chmod 600 $VS_W/metrics-secret
  for i in $(seq "$VS_SERVERS"); do san+=",IP:$(vmlab_ss_ip $i)"; done
  openssl req -x509 -newkey rsa:2048 -nodes -keyout $VS_W/key.pem -out $VS_W/cert.pem -days 2 -subj /CN=vastsky-lab \
    -addext "subjectAltName=$san" 2>/dev/null || return 1
  for i in $(seq "$VS_SERVERS"); do
    VS_LOOPS[$i]=
    for d in $(seq "$VS_DISKS_PER"); do
      local loop
      loop=$(losetup -f --show "$(vmlab_sparse_file ss$i-disk$d.img "$mib")") || return 1
      VS_LOOPS[$i]+=${VS_LOOPS[$i]:+,}$loop
    done
  done
}

vs_manager_start() {   # [EXTRA_ARGS...]; VS_CHUNK_SIZE: the chunk size (default 1G; a flag given twice is refused)
  "$VS_BIN/vastsky-manager" --db $VS_W/manager.db --listen "$VMLAB_HEAD_IP:8881" --secret-file $VS_W/secret \
    --tls-cert $VS_W/cert.pem --tls-key $VS_W/key.pem --ca-file $VS_W/cert.pem --chunk-size "${VS_CHUNK_SIZE:-1G}" "$@" \
    2>>$VS_W/manager.log &
  VS_PID[m]=$!
  vs_wait 150 vs_mrpc getClusterStatus '{}'
}

vs_storage_agent_start() {   # I [EXTRA_ARGS...]
  local i=$1; shift
  # nsenter itself (not vmlab_in, a function: backgrounding it would fork a
  # subshell) so that $! is the agent.
  nsenter --net=/run/netns/ss$i "$VS_BIN/vastsky-storage-agent" --manager "$VS_MGR" --ca-file $VS_W/cert.pem \
    --secret-file $VS_W/secret --listen "$(vmlab_ss_ip $i):8883" --tls-cert $VS_W/cert.pem --tls-key $VS_W/key.pem \
    --data-ip "$(vmlab_ss_ip $i)" --disks "${VS_LOOPS[$i]}" --target lio --state-dir $VS_W/ss$i --heartbeat 1 \
    --scrub-rate "${VS_SCRUB_RATE:-0}" $(vs_metrics_args "$(vmlab_ss_ip $i):9883") "$@" \
    2>>$VS_W/agent$i.log &
  VS_PID[$i]=$!
  vs_wait 150 vs_arpc "$i" helloWorld '{}'
}

# With VS_METRICS=1 the agents serve /metrics (HTTPS, user prometheus).
vs_metrics_args() {   # HOST:PORT
  [ "${VS_METRICS:-0}" = 1 ] && echo "--metrics-listen $1 --metrics-secret-file $VS_W/metrics-secret"
}
vs_scrape() {   # h | I: the head agent's or storage agent I's /metrics
  local url
  if [ "$1" = h ]; then url=https://$VS_HEAD_IP:9882/metrics; else url=https://$(vmlab_ss_ip "$1"):9883/metrics; fi
  curl -sfS --max-time 20 --cacert $VS_W/cert.pem -u "prometheus:$(cat $VS_W/metrics-secret)" "$url"
}

vs_head_agent_start() {   # [EXTRA_ARGS...]
  "$VS_BIN/vastsky-head-agent" --manager "$VS_MGR" --ca-file $VS_W/cert.pem --secret-file $VS_W/secret \
    --listen "$VS_HEAD_IP:8882" --tls-cert $VS_W/cert.pem --tls-key $VS_W/key.pem --data-ip "$VS_HEAD_IP" \
    --state-dir "${VS_HEAD_STATE:-$VS_W/head}" --heartbeat 1 --kernel-timeout 30 $(vs_metrics_args "$VS_HEAD_IP:9882") \
    "$@" 2>>$VS_W/head.log &
  VS_PID[h]=$!
  vs_wait 150 vs_hrpc helloWorld '{}'
}

# vs_kill KEY: SIGKILL one daemon (m, h or a server number), as a crash would.
vs_kill() {
  local p=${VS_PID[$1]:-}
  [ -n "$p" ] || return 0
  kill -KILL "$p" && { wait "$p" 2>/dev/null; unset "VS_PID[$1]"; }
}

# vs_stop KEY: SIGTERM one daemon (m, h or a server number); its exit code.
vs_stop() {
  local p=${VS_PID[$1]:-}
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null
  wait "$p"; local rc=$?
  unset "VS_PID[$1]"
  return $rc
}

# vs_disks_dm: each server's disk (one per server) behind a dm-linear
# device /dev/mapper/vsdiskI over its loop device (kept in VS_RAW), so that
# a test can put the error target under the LUN. Call before the agents start.
declare -A VS_RAW
vs_disks_dm() {
  local i
  for i in $(seq "$VS_SERVERS"); do
    VS_RAW[$i]=${VS_LOOPS[$i]}
    dmsetup create vsdisk$i --table "0 $(blockdev --getsz "${VS_RAW[$i]}") linear ${VS_RAW[$i]} 0" || return 1
    VS_LOOPS[$i]=/dev/mapper/vsdisk$i
  done
}
vs_disk_table() {   # I TARGET_ARGS: swap the table under server i's disk
  dmsetup suspend vsdisk$1 && dmsetup load vsdisk$1 --table "0 $(blockdev --getsz "${VS_RAW[$1]}") $2" &&
    dmsetup resume vsdisk$1
}
vs_disk_errors() { vs_disk_table "$1" error; }   # I: every read and write fails
vs_disk_heal() { vs_disk_table "$1" "linear ${VS_RAW[$1]} 0"; }
# vs_lun_remove PDSKID: every LUN of the disk (one per leg) removed from
# its LIO target, the mapped LUNs of each ACL first, the storage server left
# running: its heads see those legs fail.
vs_lun_remove() {
  local t=$VMLAB_LIO/iscsi/iqn.2010-10.org.vastsky:pdsk-$(printf %08x "$1")/tpgt_1 a l n=0
  [ -d "$t/lun" ] || { echo "no target at $t"; return 1; }
  for a in "$t"/acls/*/lun_*/; do
    [ -d "$a" ] || continue
    for l in "$a"*; do [ -L "$l" ] && { rm "$l" || return 1; }; done
    rmdir "$a" || return 1
  done
  for a in "$t"/lun/lun_*/; do
    [ -d "$a" ] || continue
    for l in "$a"*; do [ -L "$l" ] && { rm "$l" || return 1; }; done
    rmdir "$a" || return 1
    n=$((n + 1))
  done
  [ $n -gt 0 ] || { echo "no LUN at $t"; return 1; }
}

# vs_pdsk_wipe PDSKID: what a storage server exported and activated for the
# disk gone from the kernel, as on a new machine: its LIO target with every
# LUN, ACL and per-leg backstore, then its thin devices and pool.
vs_pdsk_wipe() {
  local hex; hex=$(printf %08x "$1")
  local t=$VMLAB_LIO/iscsi/iqn.2010-10.org.vastsky:pdsk-$hex l stores=() d
  for l in "$t"/tpgt_1/lun/lun_*/*; do [ -L "$l" ] && stores+=("$(readlink -f "$l")"); done
  vmlab_lio_unexport "iqn.2010-10.org.vastsky:pdsk-$hex" "vastsky-pdsk-$hex" || return 1
  for d in "${stores[@]}"; do rmdir "$d" || return 1; done
  for d in $(dmsetup ls | awk -v p="vastsky-thin-$hex-" 'index($1, p) == 1 {print $1}'); do
    dmsetup remove "$d" || return 1
  done
  for d in vastsky-pool-$hex vastsky-pool-$hex-meta vastsky-pool-$hex-data; do
    ! dmsetup info "$d" >/dev/null 2>&1 || dmsetup remove "$d" || return 1
  done
}

# The whole cluster: manager, every storage agent, the head agent, and
# every server and disk registered with the manager.
vs_cluster_up() {
  local i
  # shellcheck disable=SC2086  # VS_MANAGER_ARGS: extra manager options, split on blanks
  vs_manager_start ${VS_MANAGER_ARGS:-} || { echo "manager did not start:"; tail -5 $VS_W/manager.log; return 1; }
  for i in $(seq "$VS_SERVERS"); do
    vs_storage_agent_start "$i" || { echo "storage agent $i did not start:"; tail -5 $VS_W/agent$i.log; return 1; }
  done
  vs_head_agent_start || { echo "head agent did not start:"; tail -5 $VS_W/head.log; return 1; }
  vs_wait 150 vs_registered
}
vs_registered() {
  [ "$(vs_mrpc listPhysicalDisks '{}' | vs_json 'len(d)')" = $((VS_SERVERS * VS_DISKS_PER)) ] &&
  [ "$(vs_mrpc listHeadServers '{}' | vs_json 'len([h for h in d if h.get("url")])')" = 1 ]
}
vs_hsvr() { vs_mrpc listHeadServers '{}' | vs_json '[h["hsvrid"] for h in d if h.get("url")][0]'; }
vs_hsvr_at() {   # IP: the id of the head server whose agent serves at IP
  vs_mrpc listHeadServers '{}' | vs_json "[h['hsvrid'] for h in d if '//$1:' in h.get('url', '')][0]"
}

# vs_sm_conf: the XCP driver's settings for this head (the fake XenAPI
# listens on $VS_W/xapi), exported as VASTSKY_SM_CONF.
vs_sm_conf() {
  cat > $VS_W/sm.conf <<CONF
[sm]
xapi_socket = $VS_W/xapi
head_state_dir = ${VS_HEAD_STATE:-$VS_W/head}
device_dir = /dev/vastsky
secret_file = $VS_W/secret
ca_file = $VS_W/cert.pem
lock_dir = $VS_W/locks
CONF
  export VASTSKY_SM_CONF=$VS_W/sm.conf
}

# vs_peer_up: the peer VM (vm.sh with VMLAB_PEER=1) becomes a second head
# server at $VMLAB_PEER_IP, with its own kernel, iscsid, initiator name and
# head agent, registered with this VM's manager. After vs_cluster_up.
vs_peer_up() {
  local f=$VMLAB_SHARED/peer/files
  vmlab_peer_link && mkdir -p "$f" && cp $VS_W/cert.pem $VS_W/key.pem $VS_W/secret "$f" || return 1
  vs_wait 600 vmlab_peer_ready || { echo "the peer VM did not come up"; return 1; }
  vs_peer_head_start && vs_wait 150 vs_hsvr_at "$VMLAB_PEER_IP"
}
# vs_peer_head_start: in the peer (up, or booted again): iscsid and the head
# agent, its state dir on the peer's shared dir (it outlives a power cut,
# as /var/lib would).
vs_peer_head_start() {
  vmlab_peer 'mkdir -p $VS_W && cp $VMLAB_SHARED/files/* $VS_W && chmod 600 $VS_W/secret $VS_W/key.pem &&
    vmlab_iscsid_start $VMLAB_PEER_IQN && VS_HEAD_STATE=$VMLAB_SHARED/head-state vs_head_agent_start'
}

# Everything down, each daemon checked to exit 0 on SIGTERM.
vs_cluster_down() {
  local k rc=0
  for k in h $(seq "$VS_SERVERS") m; do vs_stop "$k" || { echo "daemon $k exited non-zero"; rc=1; }; done
  return $rc
}

# What the head has: our dm devices (vastsky-<lvolid>..., not the storage
# servers' pools and thin legs, vastsky-pool-* and vastsky-thin-*, which
# share this kernel), our iSCSI sessions.
vs_dm_devices() { dmsetup ls 2>/dev/null | awk '$1 ~ /^vastsky-[0-9]/{print $1}' | sort; }
vs_thin_devices() { dmsetup ls 2>/dev/null | awk '$1 ~ /^vastsky-thin-/{print $1}' | sort; }
vs_sessions() { vmlab_ia -m session 2>/dev/null | grep -o 'iqn.2010-10.org.vastsky:pdsk-[0-9a-f]*' | sort -u; }

# Logs and state worth reading when a check failed.
vs_dump() {
  local f
  for f in $VS_W/*.log; do echo "---- $f (last 15 lines)"; tail -15 "$f"; done
  echo "---- dmsetup table"; dmsetup table 2>&1 | head -40
  echo "---- iscsi sessions"; vmlab_ia -m session 2>&1 | head -20
}

# vs_legs_identical LVOLNAME [MIB]: every leg the database holds INSYNC is
# read on the head (the first MIB MiB of its data slice, default 256, O_DIRECT)
# and a mirror's legs must all hash the same. Prints "compared N legs of M"
# per mirror. Fails on a read error (dd's message is shown), on a leg that
# could not be read, and on a mirror with fewer than two such legs: one leg
# read proves nothing.
vs_legs_identical() {
  local name=$1 mib=${2:-256} rows rc=0 n lvolid m c s sum out
  rows=$(vs_state legs "$name") || { echo "$rows"; return 1; }
  local -A want
  while read -r _ n m c _ _ s; do
    lvolid=$n
    [ "$s" = 2 ] && want[$m]+=" $c"
  done <<< "$rows"
  [ ${#want[@]} -gt 0 ] || { echo "$name: no leg in sync"; return 1; }
  for m in "${!want[@]}"; do
    local -A sums=() && n=0
    for c in ${want[$m]}; do
      out=$(set -o pipefail; timeout 300 dd if=/dev/mapper/vastsky-$lvolid-c$c-data bs=1M count="$mib"             iflag=direct status=none | md5sum) || { echo "$name mirror $m: leg $c not read"; continue; }
      sum=${out%% *}; sums[$sum]+=" $c"; n=$((n + 1))
    done
    set -- ${want[$m]}
    echo "$name mirror $m: compared $n legs of $# (first $mib MiB)"
    [ "$n" = $# ] && [ $# -ge 2 ] && [ ${#sums[@]} = 1 ] && continue
    rc=1
    [ ${#sums[@]} -gt 1 ] && for sum in "${!sums[@]}"; do echo "  md5 $sum: legs${sums[$sum]}"; done
  done
  return $rc
}

# vs_leg_mib CHUNKID: the pool space (MiB, rounded up) the leg's thin device
# holds, found through its LIO backstore (vastsky-leg-<chunk>, over the thin).
vs_leg_mib() {
  local dev
  dev=$(cat "$VMLAB_LIO"/core/*/"$(printf 'vastsky-leg-%08x' "$1")"/udev_path 2>/dev/null) && [ -n "$dev" ] || return 1
  dmsetup status "$(basename "$dev")" | awk '$3 == "thin" {print int(($4 + 2047) / 2048)}'
}
# vs_legs_thin LVOLNAME MAX_MIB: every mirror's INSYNC legs hold about the
# same pool space (the largest at most a quarter plus 8 MiB above the
# smallest), and none more than MAX_MIB (what was written, plus the
# metadata MiB): a rebuilt leg was trimmed to its source's blocks. Prints
# the MiB per leg.
vs_legs_thin() {
  local name=$1 max=$2 rows m c s mib rc=0
  rows=$(vs_state legs "$name") || { echo "$rows"; return 1; }
  local -A held
  while read -r _ _ m c _ _ s; do
    [ "$s" = 2 ] || continue
    mib=$(vs_leg_mib "$c") || { echo "leg $c: no thin device found"; return 1; }
    held[$m]+=" $mib"
  done <<< "$rows"
  for m in "${!held[@]}"; do
    echo "$name mirror $m: legs hold${held[$m]} MiB of pool space"
    # shellcheck disable=SC2086
    python3 -c 'import sys; top, *v = [int(x) for x in sys.argv[1:]]
sys.exit(0 if len(v) >= 2 and max(v) <= min(v) * 1.25 + 8 and max(v) <= top else 1)' "$max" ${held[$m]} || rc=1
  done
  return $rc
}
