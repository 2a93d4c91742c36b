#!/bin/bash
# Runs INSIDE the VM lab (`make bench` runs it): a head attaching a volume
# whose legs are 256 LUNs on one disk. Two storage servers of one disk each
# (thin pools), overcommit 20 so 256 GiB of legs fit on 14 GB of sparse
# disk (nothing is written), a 256 GiB volume of redundancy 2: 256 mirrors,
# each with a leg on each disk. Prints the attach and detach times, and the
# LUNs each target serves.
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/cluster.sh"
GIB=${SCALE_GIB:-256}
# Attaching 256 mirrors under TCG outlasts the default 120 s of a lab RPC and
# the manager's 300 s per agent call.
VS_MANAGER_ARGS="--agent-timeout 1800"
T_ATTACH= T_DETACH=

big_volume() {
  vs_mrpc setClusterSetting '{"name": "overcommit", "value": "20"}' >/dev/null &&
    vs_mrpc createLogicalVolume "{\"lvolname\": \"huge\", \"capacity\": $GIB, \"redundancy\": 2}" >/dev/null
}
attach_huge() {
  local t0; t0=$(vmlab_now)
  VS_RPC_TIMEOUT=1800 vs_mrpc attachLogicalVolume "{\"lvolname\": \"huge\", \"hsvrid\": $(vs_hsvr)}" >/dev/null || return 1
  T_ATTACH=$(vmlab_elapsed "$t0")
  [ "$(blockdev --getsize64 /dev/vastsky/huge)" = $((GIB << 30)) ]
}
luns_per_target() {
  local t
  for t in "$VMLAB_LIO"/iscsi/iqn.2010-10.org.vastsky:pdsk-*/tpgt_1; do
    echo "bench: ${t%/tpgt_1}: $(ls -d "$t"/lun/lun_* | wc -l) leg LUNs, $(ls -d "$t"/acls/*/lun_* | wc -l) mapped to the head"
  done
}
detach_huge() {
  local t0; t0=$(vmlab_now)
  VS_RPC_TIMEOUT=1800 vs_mrpc detachLogicalVolume '{"lvolname": "huge"}' >/dev/null || return 1
  T_DETACH=$(vmlab_elapsed "$t0")
}

vmlab_check "setup: 2 storage servers of one 14 GB sparse disk" vs_lab_setup 2 1 14000 || { vs_dump; exit 1; }
vmlab_check "cluster up" vs_cluster_up || { vs_dump; exit 1; }
vmlab_check "a $GIB GiB volume of $GIB mirrors" big_volume || { vs_dump; exit 1; }
vmlab_check "attach: $GIB legs on each disk" attach_huge || { vs_dump; exit 1; }
luns_per_target
vmlab_check "detach" detach_huge
echo "bench: attach of a volume with $GIB legs on each of 2 disks: ${T_ATTACH:-?} s; detach ${T_DETACH:-?} s"
vs_cluster_down
vmlab_summary thin-scale
