# tests/vmlab/lib.sh: helpers for scripts that run INSIDE a VM lab guest
# (`tests/vmlab/vm.sh run SCRIPT`). Source it with bash:
#     . "$VMLAB_DIR/lib.sh"        (vm.sh exports VMLAB_DIR)
# Functions are named vmlab_*, return non-zero on failure and never exit the
# caller. The guest kernel is Debian's; the userland is the host's.
#
# Topology (exists only inside the VM; the VM has no NIC to the outside):
#   bridge vmlab-br in the root netns, address 10.99.0.254 = the head server
#   netns ss1..ssN, address 10.99.0.<i> on eth0, = the storage servers
#   with VMLAB_PEER=1: a second VM, the peer, at 10.99.0.200 on its eth0,
#   linked to this VM's eth0, which vmlab_peer_link puts on the bridge
# The head MUST stay in the root netns: scsi_transport_iscsi's netlink socket
# exists only in init_net (iscsid elsewhere fails at login with "sendmsg: bug?
# ctrl_fd"), and iscsiadm reaches iscsid over an abstract unix socket, which
# is per netns. Targets work fine inside a netns.

VMLAB_NET=10.99.0
VMLAB_HEAD_IP=$VMLAB_NET.254
VMLAB_BRIDGE=vmlab-br
VMLAB_DISKS=/run/vmlab/disks
VMLAB_LIO=/sys/kernel/config/target
VMLAB_HEAD_IQN=iqn.2024-01.org.vastsky.vmlab:head
# The peer VM (vm.sh with VMLAB_PEER=1): one more host on the bridge.
VMLAB_PEER_IP=$VMLAB_NET.200
VMLAB_PEER_IQN=iqn.2024-01.org.vastsky.vmlab:peer
# Every dmsetup/iscsiadm call gets a time limit, so a stuck one fails a check
# instead of hanging the run (the guest watchdog is the last resort).
VMLAB_CMD_TIMEOUT=${VMLAB_CMD_TIMEOUT:-60}
# No udevd in the guest: libdevmapper creates /dev/mapper nodes itself.
export DM_DISABLE_UDEV=1

# ------------------------------------------------------------ time and results
# Every fork+exec costs ~50-100 ms under TCG (more while the host is busy), so
# the helpers below use shell builtins where they can.
vmlab_now() { local u _; read -r u _ < /proc/uptime; echo "$u"; }   # uptime, seconds
VMLAB_T0=$(vmlab_now)
# _vmlab_since VAR T: VAR = seconds since uptime T, as "S.CC" (no fork).
_vmlab_since() {
  local u _ d
  read -r u _ < /proc/uptime
  d=$(( 10#${u/./} - 10#${2/./} ))
  printf -v "$1" '%d.%02d' $((d / 100)) $((d % 100))
}
vmlab_elapsed() { local e; _vmlab_since e "$1"; echo "$e"; }   # seconds since uptime $1
vmlab_log() { local e; _vmlab_since e "$VMLAB_T0"; echo "[$e] $*"; }

VMLAB_PASSED=0 VMLAB_FAILED=0 VMLAB_TIMES=
# vmlab_check "what" CMD [ARGS...]: run CMD in this shell (it may set
# variables), count it as passed/failed, log the outcome and its duration.
vmlab_check() {
  local what=$1 a rc t _ line
  shift
  read -r a _ < /proc/uptime
  "$@"; rc=$?
  _vmlab_since t "$a"
  if [ $rc = 0 ]; then
    VMLAB_PASSED=$((VMLAB_PASSED + 1)); vmlab_log "ok   $what (${t}s)"
    printf -v line '%8ss  ok   %s' "$t" "$what"
  else
    VMLAB_FAILED=$((VMLAB_FAILED + 1)); vmlab_log "FAIL $what (rc=$rc, ${t}s)"
    printf -v line '%8ss  FAIL %s' "$t" "$what"
  fi
  VMLAB_TIMES+=$line$'\n'
  return $rc
}
# vmlab_summary NAME: timing table, then "NAME: N passed, M failed".
# Returns 0 only if something passed and nothing failed.
vmlab_summary() {
  echo "---- timings"
  printf '%s' "$VMLAB_TIMES"
  printf '%8ss  total in the VM\n' "$(vmlab_elapsed "$VMLAB_T0")"
  echo "$1: $VMLAB_PASSED passed, $VMLAB_FAILED failed"
  [ "$VMLAB_FAILED" = 0 ] && [ "$VMLAB_PASSED" -gt 0 ]
}

# ------------------------------------------------------------ modules
# dm-linear is built into dm-mod. raid1 is md's personality behind dm-raid.
# dm-thin-pool: the storage servers' disks are thin pools.
VMLAB_MODULES="dm-mod dm-raid raid1 dm-flakey dm-thin-pool configfs target_core_mod target_core_file
target_core_iblock iscsi_target_mod scsi_transport_iscsi iscsi_tcp sd_mod veth bridge"
vmlab_load_modules() {   # [EXTRA_MODULES...]
  # One modprobe for all: each process start costs under TCG.
  # shellcheck disable=SC2086
  modprobe -a $VMLAB_MODULES "$@" || return 1
  # LIO's tree lives in configfs, which nothing mounts for us.
  mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config || return 1
  # md throttles resync to speed_limit_min (1 MB/s) whenever there is other
  # I/O; under TCG that makes every resync crawl. Let it run flat out.
  echo 100000 > /proc/sys/dev/raid/speed_limit_min
  echo 2000000 > /proc/sys/dev/raid/speed_limit_max
}

# ------------------------------------------------------------ network
vmlab_ss_ip() { echo "$VMLAB_NET.$1"; }    # address of storage server i
# Run a command in a storage server's netns. nsenter, not `ip netns exec`:
# the latter remounts /sys, which hides configfs (/sys/kernel/config).
vmlab_in() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
vmlab_net_setup() {   # N: netns ss1..ssN, each with a veth into the bridge
  local i ns
  ip link add "$VMLAB_BRIDGE" type bridge forward_delay 0 || return 1
  ip addr add "$VMLAB_HEAD_IP/24" dev "$VMLAB_BRIDGE" && ip link set "$VMLAB_BRIDGE" up || return 1
  for i in $(seq "$1"); do
    ns=ss$i
    ip netns add $ns &&
    ip link add vmlab-$ns type veth peer name eth0 netns $ns &&
    ip link set vmlab-$ns master "$VMLAB_BRIDGE" up &&
    ip -n $ns link set lo up &&
    ip -n $ns addr add "$(vmlab_ss_ip $i)/24" dev eth0 &&
    ip -n $ns link set eth0 up || return 1
  done
}
# ------------------------------------------------------------ the peer VM
# The first VM drives the peer (peer.sh) through files in the peer's shared
# dir, $VMLAB_SHARED/peer: requests in req/, files to hand over in files/.
vmlab_peer_link() {   # this VM's end of the link joins the bridge
  modprobe virtio_net && vmlab_wait_link eth0 && ip link set eth0 master "$VMLAB_BRIDGE" && ip link set eth0 up
}
vmlab_wait_link() {   # IFACE: the driver just loaded, it shows up within seconds
  local i
  for i in $(seq 50); do ip link show "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "no network interface $1"; return 1
}
vmlab_peer_ready() { [ -e "$VMLAB_SHARED/peer/ready" ]; }
# vmlab_peer_poweroff: the host kills the peer's QEMU, as a power cut: no
# shutdown, nothing flushed, its links dead without a word. Returns once off.
vmlab_peer_poweroff() {
  local i
  : > "$VMLAB_SHARED/peer/poweroff" || return 1
  for i in $(seq 300); do [ -e "$VMLAB_SHARED/peer/off" ] && return 0; sleep 0.2; done
  echo "the host did not power the peer off"; return 1
}
# vmlab_peer_boot: the host boots the peer again (a fresh tmpfs root, as a
# machine restarting; its shared dir stays). Returns once peer.sh is ready.
vmlab_peer_boot() {
  local i
  rm -f "$VMLAB_SHARED/peer/ready" && : > "$VMLAB_SHARED/peer/boot" || return 1
  for i in $(seq 3000); do vmlab_peer_ready && return 0; sleep 0.2; done
  echo "the peer did not boot again"; return 1
}
# vmlab_peer [-t SECONDS] CODE: run shell code in the peer and print its
# output; its exit status, or 255 when the peer did not answer in time
# (default 300 s). peer.sh evaluates CODE in one long-lived bash that has
# lib.sh and cluster.sh loaded, so variables and background daemons persist
# from one call to the next. CODE must not `exit`.
vmlab_peer() {
  local t=300 dir=$VMLAB_SHARED/peer/req r deadline
  [ "$1" = -t ] && { t=$2; shift 2; }
  # A name that sorts in posting order, unique across subshells.
  r=r${EPOCHREALTIME/[.,]/}-$BASHPID
  printf '%s\n' "$*" > "$dir/.$r" && mv "$dir/.$r" "$dir/$r" || return 255
  deadline=$((SECONDS + t))
  until [ -e "$dir/$r.rc" ]; do
    [ $SECONDS -lt $deadline ] || { echo "the peer did not answer within ${t}s: $*"; return 255; }
    sleep 0.2
  done
  cat "$dir/$r.out"
  return "$(cat "$dir/$r.rc")"
}

# Remove LIO portals first: a kernel socket does not pin its netns.
vmlab_net_teardown() {
  local ns rc=0
  for ns in $(ip netns list | awk '$1 ~ /^ss[0-9]+$/{print $1}'); do ip netns del "$ns" || rc=1; done
  ! ip link show "$VMLAB_BRIDGE" >/dev/null 2>&1 || ip link del "$VMLAB_BRIDGE" || rc=1
  return $rc
}
# vmlab_tcp_open IP PORT [NS]: can a TCP connection be made (from NS)?
vmlab_tcp_open() {
  if [ -n "${3:-}" ]; then vmlab_in "$3" timeout 5 bash -c "exec 3<>/dev/tcp/$1/$2"
  else timeout 5 bash -c "exec 3<>/dev/tcp/$1/$2"; fi 2>/dev/null
}
# vmlab_listening IP:PORT [NS]: is there a TCP listener on it (in NS)?
vmlab_listening() {
  if [ -n "${2:-}" ]; then vmlab_in "$2" ss -Hltn; else ss -Hltn; fi | awk -v a="$1" '$4==a{f=1} END{exit !f}'
}

# ------------------------------------------------------------ backing files
# A tmpfs just for backing files: sparse files cost nothing until written, and
# the guest's root overlay is tmpfs too, so keep them apart and bounded.
vmlab_disks_mount() {   # [SIZE, default 1g]
  mkdir -p "$VMLAB_DISKS" && mountpoint -q "$VMLAB_DISKS" ||
    mount -t tmpfs -o "size=${1:-1g}" tmpfs "$VMLAB_DISKS"
}
vmlab_sparse_file() {   # NAME MIB -> prints the path
  truncate -s "${2}M" "$VMLAB_DISKS/$1" && echo "$VMLAB_DISKS/$1"
}

# ------------------------------------------------------------ LIO target (raw configfs)
# LIO's configfs tree is global: one tree serves every netns. A "server" is
# separated from the others only by the netns its portal socket was created
# in, so use distinct IQNs and backstore names per server.
# vmlab_lio_export NS NAME IQN FILE IP: fileio backstore NAME on FILE, target
# IQN with it as LUN 0, portal IP:3260 inside NS. No initiator may log in
# until vmlab_lio_allow: no generated (demo-mode) ACLs, CHAP required.
vmlab_lio_export() {
  local ns=$1 name=$2 iqn=$3 file=$4 ip=$5 size
  local bs=$VMLAB_LIO/core/fileio_0/$name tpg=$VMLAB_LIO/iscsi/$iqn/tpgt_1
  size=$(stat -c %s "$file") || return 1
  mkdir -p "$bs" "$tpg/lun/lun_0" &&
  echo "fd_dev_name=$file,fd_dev_size=$size" > "$bs/control" &&
  echo 1 > "$bs/enable" &&
  ln -s "$bs" "$tpg/lun/lun_0/$name" || return 1
  # The listening socket is created in the netns of the process that does
  # the mkdir.
  vmlab_in "$ns" mkdir "$tpg/np/$ip:3260" || return 1
  echo 0 > "$tpg/attrib/generate_node_acls" &&
  echo 1 > "$tpg/attrib/authentication" &&
  echo 1 > "$tpg/enable"
}
# vmlab_lio_allow IQN INITIATOR USER SECRET: ACL for INITIATOR on target IQN,
# mapping LUN 0, with CHAP credentials that initiator must present.
vmlab_lio_allow() {
  local acl=$VMLAB_LIO/iscsi/$1/tpgt_1/acls/$2
  mkdir -p "$acl/lun_0" &&
  ln -s "$VMLAB_LIO/iscsi/$1/tpgt_1/lun/lun_0" "$acl/lun_0/lun_0" &&
  # printf, not echo: LIO keeps a trailing newline as part of the CHAP name
  # or secret ("CHAP_N values do not match!").
  printf '%s' "$3" > "$acl/auth/userid" &&
  printf '%s' "$4" > "$acl/auth/password" || return 1
  # Explicit ACLs have their own "authentication" attribute (default:
  # inherited from the TPG); say it outright.
  [ ! -e "$acl/attrib/authentication" ] || echo 1 > "$acl/attrib/authentication"
}
# vmlab_lio_unexport IQN NAME: undo export+allow (a file or block backstore),
# children before parents:
# disable, ACL LUN links, ACLs, LUN links, LUNs, portals, TPG, target, backstore.
# (One rm and one rmdir for the lot: rmdir removes its arguments in order.)
vmlab_lio_unexport() {
  local tpg=$VMLAB_LIO/iscsi/$1/tpgt_1 d f links=() dirs=()
  if [ -d "$tpg" ]; then
    echo 0 > "$tpg/enable"
    for d in "$tpg"/acls/*/lun_*/ "$tpg"/lun/lun_*/; do
      for f in "$d"*; do [ -L "$f" ] && links+=("$f"); done
    done
    for d in "$tpg"/acls/*/lun_*/ "$tpg"/acls/*/ "$tpg"/lun/lun_*/ "$tpg"/np/*/; do
      [ -d "$d" ] && dirs+=("$d")
    done
    dirs+=("$tpg" "$VMLAB_LIO/iscsi/$1")
  fi
  for d in fileio_0 iblock_0; do [ -d "$VMLAB_LIO/core/$d/$2" ] && dirs+=("$VMLAB_LIO/core/$d/$2"); done
  [ ${#links[@]} = 0 ] || rm "${links[@]}" || return 1
  [ ${#dirs[@]} = 0 ] || rmdir "${dirs[@]}"
}
# vmlab_lio_clean: true if no target and no backstore is left (removes empty HBAs).
vmlab_lio_clean() {
  local d left=
  for d in "$VMLAB_LIO"/core/*_[0-9]*/; do
    [ -d "$d" ] || continue
    rmdir "$d" 2>/dev/null || left="$left $(ls -d "$d"*/ 2>/dev/null | tr '\n' ' ')"
  done
  for d in "$VMLAB_LIO"/iscsi/iqn.*/ "$VMLAB_LIO"/iscsi/eui.*/ "$VMLAB_LIO"/iscsi/naa.*/; do
    [ -d "$d" ] && left="$left $d"
  done
  [ -z "$left" ] || { echo "LIO leftovers:$left" >&2; return 1; }
}

# ------------------------------------------------------------ tgt target (tgtd + tgtadm)
# tgtd listens in the netns it was started in, on the portal given here; its
# control socket is /run/tgtd/socket.PORT on the (shared) filesystem, so each
# "server" needs its own control port (tgtd -C / tgtadm -C). tgtd ignores
# SIGTERM while it has targets: guest-init's final SIGKILL ends it.
# vmlab_tgtd_start PORT IP [NS] [LOG]: tgtd with control port PORT and portal
# IP:3260, in netns NS (default: the root netns), messages to LOG.
vmlab_tgtd_start() {
  local i in=()
  mkdir -p /run/tgtd
  [ -n "${3:-}" ] && in=(nsenter --net="/run/netns/$3")
  # -f: foreground, so its messages go to LOG (there is no syslog).
  "${in[@]}" tgtd -f -C "$1" --iscsi "portal=$2:3260" >>"${4:-/dev/null}" 2>&1 &
  for i in $(seq 100); do
    vmlab_tgtadm "$1" --mode target --op show >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
vmlab_tgtadm() { local port=$1; shift; timeout "$VMLAB_CMD_TIMEOUT" tgtadm -C "$port" --lld iscsi "$@"; }

# ------------------------------------------------------------ iSCSI initiator (head)
vmlab_ia() { timeout "$VMLAB_CMD_TIMEOUT" iscsiadm "$@"; }
# vmlab_conf_set FILE KEY=VALUE...: for each KEY, "KEY = VALUE" replaces the
# line that sets or documents KEY (commented or not), else is appended.
vmlab_conf_set() {
  local f=$1; shift
  awk 'BEGIN { for (i = 1; i < ARGC - 1; i++) { j = index(ARGV[i], "=")
                 k = substr(ARGV[i], 1, j - 1); want[k] = substr(ARGV[i], j + 1); order[i] = k; ARGV[i] = "" } }
       { s = $0; sub(/^[#[:space:]]+/, "", s); i = index(s, "=")
         key = substr(s, 1, i - 1); gsub(/[[:space:]]+$/, "", key)
         if (i > 0 && (key in want)) { if (!(key in done)) print key " = " want[key]; done[key] = 1; next }
         print }
       END { for (i = 1; i in order; i++) if (!(order[i] in done)) print order[i] " = " want[order[i]] }' \
    "$@" "$f" > "$f.vmlab" && mv "$f.vmlab" "$f"
}
# vmlab_iscsid_start [INITIATOR_IQN]: iscsid in the root netns with test
# timeouts. Defaults (replacement_timeout 120 s) would stall I/O on a dead
# leg for 2 minutes. Node records copy these values when they are created,
# so this must run before any discovery or `-m node -o new`.
vmlab_iscsid_start() {
  local c=/etc/iscsi/iscsid.conf i rc
  mkdir -p /run/lock/iscsi /etc/iscsi
  echo "InitiatorName=${1:-$VMLAB_HEAD_IQN}" > /etc/iscsi/initiatorname.iscsi
  # Start from an empty node database, whatever the host has.
  rm -rf /etc/iscsi/nodes /etc/iscsi/send_targets /var/lib/iscsi/nodes /var/lib/iscsi/send_targets
  # iscsid.startup: never "systemctl start iscsid" from iscsiadm.
  vmlab_conf_set $c iscsid.startup=/bin/true node.startup=manual \
    node.session.timeo.replacement_timeout=5 \
    'node.conn[0].timeo.noop_out_interval=2' 'node.conn[0].timeo.noop_out_timeout=2' \
    'node.conn[0].timeo.login_timeout=5' 'node.conn[0].timeo.logout_timeout=5' \
    node.session.initial_login_retry_max=2 || return 1
  iscsid || return 1
  for i in $(seq 100); do   # ready when "-m session" answers (21 = no sessions)
    vmlab_ia -m session >/dev/null 2>&1; rc=$?
    [ $rc = 0 ] || [ $rc = 21 ] && return 0
    sleep 0.1
  done
  return 1
}
vmlab_iscsid_stop() {
  local p i
  p=$(cat /run/iscsid.pid 2>/dev/null) || return 0
  vmlab_ia -k 0 >/dev/null 2>&1
  for i in $(seq 50); do [ -d "/proc/$p" ] || return 0; sleep 0.1; done
  return 1
}
# vmlab_iscsi_node TARGET IP [IFACE]: a static node record (no discovery),
# the way a head agent told "target T at portal P" would create it. The
# portal needs its ",tpgt": without it iscsiadm writes a flat legacy record
# that cannot coexist with a second iface's record (and "-I x -o delete"
# then deletes it). IFACE (default "default") is an open-iscsi iface, e.g.
# one with another iface.initiatorname.
vmlab_iscsi_node() {
  vmlab_ia -m node -o new -T "$1" -p "$2:3260,1" -I "${3:-default}" >/dev/null
}
# vmlab_iscsi_auth TARGET IP USER SECRET [IFACE]: CHAP credentials for the
# node record; an empty USER sets AuthMethod None.
vmlab_iscsi_auth() {
  local o=(-m node -T "$1" -p "$2:3260,1" -I "${5:-default}" -o update)
  if [ -z "$3" ]; then vmlab_ia "${o[@]}" -n node.session.auth.authmethod -v None; return; fi
  vmlab_ia "${o[@]}" -n node.session.auth.authmethod -v CHAP \
    -n node.session.auth.username -v "$3" -n node.session.auth.password -v "$4"
}
# vmlab_iscsi_disk TARGET [SECONDS]: the /dev/sdX of TARGET's session. No
# udev, so no /dev/disk/by-path: ask iscsiadm, and wait for the SCSI scan.
vmlab_iscsi_disk() {
  local i d
  for i in $(seq $(( ${2:-20} * 5 ))); do
    d=$(vmlab_ia -m session -P3 2>/dev/null |
        awk -v t="$1" '/^Target:/{cur=$2} /Attached scsi disk/{if (cur == t) {print $4; exit}}')
    [ -n "$d" ] && [ -b "/dev/$d" ] && { echo "/dev/$d"; return 0; }
    sleep 0.2
  done
  return 1
}
# vmlab_iscsi_login TARGET IP [IFACE]: log in; prints the disk on stdout
# (iscsiadm's own messages go to stderr). Returns iscsiadm's code on failure
# (24: refused for authentication/authorisation).
vmlab_iscsi_login() {
  vmlab_ia -m node -T "$1" -p "$2:3260,1" -I "${3:-default}" --login >&2 || return
  vmlab_iscsi_disk "$1"
}
# vmlab_iscsi_luns TARGET: rescans TARGET's session(s), then prints one
# line per SCSI disk they have, "SERIAL /dev/sdX", the serial read from the
# unit serial page (VPD 0x80) in sysfs: no udev in the lab. Without a LUN
# mapped to this initiator a target shows no disk at all.
vmlab_iscsi_luns() {
  local s d sn b
  for s in /sys/class/iscsi_session/session*; do
    [ "$(cat "$s/targetname" 2>/dev/null)" = "$1" ] || continue
    vmlab_ia -m session -r "${s##*session}" --rescan >/dev/null 2>&1
    for d in "$s"/device/target*/*:*:*:*; do
      [ -d "$d/block" ] || continue
      sn=$(tail -c +5 "$d/vpd_pg80" 2>/dev/null | tr -d '\0 ')
      b=$(ls "$d/block" | head -1)
      echo "$sn /dev/$b"
    done
  done
}
# vmlab_iscsi_lun TARGET SERIAL [SECONDS]: the /dev/sdX of that LUN, waiting
# (rescanning) for it to appear.
vmlab_iscsi_lun() {
  local i d
  for i in $(seq $(( ${3:-20} * 2 ))); do
    d=$(vmlab_iscsi_luns "$1" | awk -v s="$2" '$1 == s {print $2; exit}')
    [ -n "$d" ] && [ -b "$d" ] && { echo "$d"; return 0; }
    sleep 0.5
  done
  return 1
}
vmlab_iscsi_logout() {   # TARGET IP
  vmlab_ia -m node -T "$1" -p "$2:3260" --logout >&2
}
vmlab_iscsi_sessions() {  # number of sessions
  vmlab_ia -m session 2>/dev/null | grep -c '^tcp:'
}

# ------------------------------------------------------------ device-mapper
vmlab_dm() { timeout "$VMLAB_CMD_TIMEOUT" dmsetup "$@"; }
# An empty table string would create a device with no table (status then
# prints nothing, and later steps fail in confusing ways): refuse it.
vmlab_dm_create() {   # NAME TABLE
  [ -n "$2" ] || { echo "vmlab_dm_create $1: empty table" >&2; return 1; }
  vmlab_dm create "$1" --table "$2"
}
vmlab_dm_linear() {   # NAME DEV START_SECTOR SECTORS: a slice of DEV
  vmlab_dm_create "$1" "0 $4 linear $2 $3"
}
# vmlab_dm_raid_status NAME -> "HEALTH SYNC_RATIO SYNC_ACTION", e.g. "AA 131072/131072 idle"
# (HEALTH per leg: A alive and in sync, a alive and syncing, D dead).
vmlab_dm_raid_status() {
  local _s _l t _r _n h r a
  read -r _s _l t _r _n h r a _ <<< "$(vmlab_dm status "$1")"
  [ "$t" = raid ] && echo "$h $r $a"
}
# vmlab_dm_wait_sync NAME [SECONDS]: wait until every leg is A, the sync
# ratio is complete and md is idle; prints the seconds it took.
vmlab_dm_wait_sync() {
  local a e h r act
  a=$(vmlab_now)
  while :; do
    read -r h r act <<< "$(vmlab_dm_raid_status "$1")"
    [ -n "$h" ] || { echo "vmlab_dm_wait_sync $1: no raid status" >&2; return 1; }
    case $h in *[!A]*) ;; *) [ "${r%/*}" = "${r#*/}" ] && [ "$act" = idle ] && break ;; esac
    _vmlab_since e "$a"
    [ "${e%.*}" -lt "${2:-300}" ] ||
      { echo "vmlab_dm_wait_sync $1: not in sync after ${2:-300}s: $h $r $act" >&2; return 1; }
    sleep 0.5
  done
  vmlab_elapsed "$a"
}

# ------------------------------------------------------------ hang diagnostics
# vmlab_dump: what you need to understand a hang. Used by the guest watchdog
# (guest-init.sh) before the host kills the VM; scripts may call it on failure.
vmlab_dump() {
  local n
  echo "=== vmlab_dump at uptime $(vmlab_now)s"
  echo "--- kernel log, last 200 lines"
  dmesg | tail -n 200
  echo "--- blocked (D state) tasks: sysrq-w"
  n=$(dmesg | wc -l)
  echo w > /proc/sysrq-trigger
  sleep 1
  dmesg | tail -n +$((n + 1)) | head -n 600
  if command -v dmsetup >/dev/null; then
    echo "--- dmsetup table"; timeout 15 dmsetup table 2>&1
    echo "--- dmsetup status"; timeout 15 dmsetup status 2>&1
  fi
  if command -v iscsiadm >/dev/null && [ -e /run/iscsid.pid ]; then
    echo "--- iscsiadm -m session -P3"; timeout 15 iscsiadm -m session -P3 2>&1
  fi
  for n in /run/tgtd/socket.[0-9]*; do
    [ -S "$n" ] || continue
    echo "--- tgtadm -C ${n##*.} target show"; timeout 15 tgtadm -C "${n##*.}" --lld iscsi --mode target --op show 2>&1
  done
  echo "--- ps"
  ps -eo pid,ppid,stat,wchan:30,etime,args 2>&1
  echo "=== end of vmlab_dump"
}
