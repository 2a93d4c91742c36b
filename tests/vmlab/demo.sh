#!/bin/bash
# Runs INSIDE the VM lab (`make demo`): a real VastSky cluster, shown to a
# new user. Three storage servers (network namespaces, two disks each,
# exported by kernel LIO), a head server with iscsid, the manager and both
# agents; a mirrored volume created, attached (iSCSI + dm raid1), written
# and read back, and what the cluster looks like at each step. Then what
# VastSky exists for: a storage server dies under the volume, the health
# turns to WARN, the lost legs are rebuilt elsewhere (their progress and
# ETA shown until the end), the data is verified on every leg, and once the
# server is back the health is OK again.
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/cluster.sh"

say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
run() { printf '\033[1m$ %s\033[0m\n' "$*"; "$@"; }
die() { echo "demo: $*"; vs_dump; exit 1; }
ssvr_declared_failed() { [ "$(vs_mrpc getClusterStatus '{}' | vs_json 'int(d["ssvrs_online"] < d["ssvrs"])')" = 1 ]; }
ssvrs_all_online() { [ "$(vs_mrpc getClusterStatus '{}' | vs_json 'int(d["ssvrs_online"] == d["ssvrs"])')" = 1 ]; }

say "Booting the lab: 3 storage servers x 2 disks (loop devices), TLS certificate, iscsid"
vs_lab_setup 3 2 3700 || die "lab setup failed"
say "Starting the manager, a storage agent per server and the head agent"
# A short failure grace (default 60 s) and a modest rebuild rate, so that
# the demo shows a rebuild in motion without a long wait.
VS_MANAGER_ARGS="--failure-grace 20 --rebuild-rate 32" vs_cluster_up || die "cluster did not come up"
export VASTSKY_MANAGER=$VS_MGR VASTSKY_SECRET_FILE=$VS_W/secret
vs() { run "$VS_BIN/vastsky" "$@" --ca-file $VS_W/cert.pem; }
HSVR=$(vs_hsvr)

say "The agents registered their servers and disks"
vs ssvr list
vs pdsk list
vs hsvr list
say "A 4 GiB volume, every chunk mirrored on two servers"
vs lvol create --redundancy 2 vm-disk-1 4G || die "create failed"
say "Attach: the manager authorises the head on each disk, the head logs in and builds dm raid1 mirrors"
vs lvol attach vm-disk-1 "$HSVR" || die "attach failed"
run ls -l /dev/vastsky/
say "Its layout: which chunk of which mirror on which disk of which server"
vs lvol show vm-disk-1
say "On the head: one dm raid1 per mirror, one linear device over them"
run dmsetup ls
run dmsetup status --target raid
say "Writing 32 MiB of random data at the start of each mirror, then reading it back"
head -c $((32 << 20)) /dev/urandom > $VS_W/data
for g in 0 1 2 3; do
  run dd if=$VS_W/data of=/dev/vastsky/vm-disk-1 bs=1M seek=$((g * 1024)) oflag=direct status=none || die "write failed"
done
want=$(sha256sum < $VS_W/data | cut -c1-16)
for g in 0 1 2 3; do
  got=$(dd if=/dev/vastsky/vm-disk-1 bs=1M skip=$((g * 1024)) count=32 iflag=direct status=none | sha256sum | cut -c1-16)
  echo "mirror $g: wrote sha256 $want..., read back $got... $([ "$want" = "$got" ] && echo OK || echo MISMATCH)"
  [ "$want" = "$got" ] || die "data mismatch"
done
say "Detach, attach again, and the data is still there"
vs lvol detach vm-disk-1 || die "detach failed"
vs lvol attach vm-disk-1 "$HSVR" || die "attach failed"
got=$(dd if=/dev/vastsky/vm-disk-1 bs=1M skip=3072 count=32 iflag=direct status=none | sha256sum | cut -c1-16)
echo "mirror 3 after re-attach: $got... $([ "$want" = "$got" ] && echo OK || echo MISMATCH)"
[ "$want" = "$got" ] || die "data mismatch after re-attach"
say "The cluster now"
vs cluster status
vs lvol list
vs event list --since 9

rebuilt() {   # every leg in sync on a live server, nothing queued
  [ "$(vs_mrpc getClusterStatus '{}' | vs_json 'd["rebuild_left_mib"] + d["mirrors_degraded"] + d["rebuilds_queued"]')" = 0 ]
}
DEAD_SSVR=$(vs_state legs vm-disk-1 | awk 'NR == 1 {print $6}')
ip=$(vs_state servers | awk -v s="$DEAD_SSVR" '$1 == s {print $2}')
DEAD=${ip##*.}
say "A storage server dies under the volume: ssvr $DEAD_SSVR's agent killed, its network cut"
vs_kill "$DEAD" && ip link set vmlab-ss$DEAD down || die "could not kill storage server $DEAD"
say "The manager waits out its grace period (20 s) before it declares the server failed"
sleep 10
vs cluster status
vs_wait 600 ssvr_declared_failed || die "the server was not declared failed"
say "Declared failed: new legs placed on the other servers; the head rebuilds each mirror from its surviving leg"
t0=$SECONDS
until rebuilt; do
  [ $((SECONDS - t0)) -lt 900 ] || die "the rebuild did not end in 15 minutes"
  vs rebuild list
  "$VS_BIN/vastsky" cluster status --ca-file $VS_W/cert.pem | grep -E '^(health|  HEALTH|rebuild)'
  sleep 8
done
say "Rebuilt in $((SECONDS - t0)) s: every mirror whole again"
vs cluster status
vs lvol show vm-disk-1
say "The data read back through the head, then every leg of every mirror compared"
for g in 0 1 2 3; do
  got=$(dd if=/dev/vastsky/vm-disk-1 bs=1M skip=$((g * 1024)) count=32 iflag=direct status=none | sha256sum | cut -c1-16)
  echo "mirror $g after the rebuild: $got... $([ "$want" = "$got" ] && echo OK || echo MISMATCH)"
  [ "$want" = "$got" ] || die "data mismatch after the rebuild"
done
vs_legs_identical vm-disk-1 32 || die "legs differ after the rebuild"
say "The server comes back: its agent registers again; what it held is freed, the pool is whole"
ip link set vmlab-ss$DEAD up && vs_storage_agent_start "$DEAD" || die "the server did not come back"
vs_wait 300 ssvrs_all_online || die "the server did not register again"
vs cluster status
vs event list --since 9 | tail -12
vs lvol detach vm-disk-1 >/dev/null
vs_cluster_down
say "Demo done: everything above ran for real (kernel LIO, open-iscsi, dm raid1) inside the VM."
