#!/bin/bash
# Runs INSIDE the VM lab: a VDI's life through the XCP driver VastSkySR on a
# real head. A manager, three storage servers (LIO) and a head agent
# (open-iscsi, dm raid1), a fake XenAPI on a unix socket, and the driver
# run exactly as xapi runs it (tests/sm/lifecycle.py): sr_create,
# vdi_create, vdi_attach and vdi_activate (the device exists and holds
# checksummed data), an online vdi_resize, deactivate, detach, attach
# again, snapshots of the active VDI with changed blocks between them, a
# clone of a snapshot, vdi_delete, sr_delete. Host side:
#   tests/vmlab/vm.sh run tests/vmlab/sm-lifecycle.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/cluster.sh"

vmlab_check "lab: 3 storage servers, 1 disk each" vs_lab_setup 3 1 3000 || { vmlab_summary sm-lifecycle; exit 1; }
vmlab_check "cluster up" vs_cluster_up || { vs_dump; vmlab_summary sm-lifecycle; exit 1; }
# Snapshots and clones reserve a whole leg's slot beside each leg they share
# (manager/API.md): two snapshots and a clone of a 3 GiB VDI need more than
# these 3 GB disks hold at overcommit 1.
vmlab_check "overcommit 4" vs_mrpc setClusterSetting '{"name": "overcommit", "value": "4"}'
vs_sm_conf
timeout 1500 python3 "$VS_REPO/tests/sm/lifecycle.py" "$VS_MGR" $VS_W/secret $VS_W | tee $VS_W/lifecycle.out
rc=${PIPESTATUS[0]}
steps=$(grep -E '^driver steps: ' $VS_W/lifecycle.out)
VMLAB_PASSED=$((VMLAB_PASSED + $(echo "$steps" | sed -nE 's/.*: ([0-9]+) passed.*/\1/p' | grep . || echo 0)))
VMLAB_FAILED=$((VMLAB_FAILED + $(echo "$steps" | sed -nE 's/.*passed, ([0-9]+) failed.*/\1/p' | grep . || echo 1)))
[ "$rc" = 0 ] || vs_dump
vmlab_check "daemons stop cleanly" vs_cluster_down
vmlab_summary sm-lifecycle
