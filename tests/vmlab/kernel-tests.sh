#!/bin/bash
# Runs INSIDE the VM lab: the agents' host layer (agents/host: libdevmapper,
# LIO configfs, tgt, open-iscsi) against the real kernel, through the cppunit
# binary build/bin/kernel-tests, on two loop devices. tgt's tests use a tgtd
# on 127.0.0.2:3260 with control port 7 (LIO's take 127.0.0.1:3260). Host side:
#   tests/vmlab/vm.sh run tests/vmlab/kernel-tests.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)

vmlab_load_modules loop || { echo "kernel-tests: 0 passed, 1 failed"; exit 1; }
vmlab_iscsid_start || { echo "kernel-tests: 0 passed, 1 failed"; exit 1; }
vmlab_tgtd_start 7 127.0.0.2 || { echo "kernel-tests: 0 passed, 1 failed (tgtd did not start)"; exit 1; }
vmlab_disks_mount 512m
devs=""
for i in 1 2; do
  f=$(vmlab_sparse_file kt$i.img 96)
  devs="$devs $(losetup -f --show "$f")"
done
export VASTSKY_TEST_DEVS="$devs" VASTSKY_TGT_PORT=7 DM_DISABLE_UDEV=1
timeout 600 "$repo/build/bin/kernel-tests" "$@"
rc=$?
for d in $devs; do losetup -d "$d"; done
exit $rc
