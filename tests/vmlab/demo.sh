#!/bin/bash
# Runs INSIDE the VM lab (`make demo`): a real VastSky cluster, shown to a
# new user. Three storage servers (network namespaces, two disks each,
# exported by kernel LIO), a head server with iscsid, the manager and both
# agents; a mirrored volume created, attached (iSCSI + dm raid1), written
# and read back, and what the cluster looks like at each step.
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/cluster.sh"

say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
run() { printf '\033[1m$ %s\033[0m\n' "$*"; "$@"; }
die() { echo "demo: $*"; vs_dump; exit 1; }

say "Booting the lab: 3 storage servers x 2 disks (loop devices), TLS certificate, iscsid"
vs_lab_setup 3 2 3700 || die "lab setup failed"
say "Starting the manager, a storage agent per server and the head agent"
vs_cluster_up || die "cluster did not come up"
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
vs lvol detach vm-disk-1 >/dev/null
vs_cluster_down
say "Demo done: everything above ran for real (kernel LIO, open-iscsi, dm raid1) inside the VM."
