#!/bin/bash
# make demo: VastSky for real. Boots the VM lab (QEMU running Debian's kernel
# on this machine's root filesystem), and inside it brings up a manager,
# three storage servers and a head server, then creates, attaches, writes
# and reads a mirrored volume, showing the cluster at each step
# (tests/vmlab/demo.sh); then a storage server dies under the volume and
# the demo follows the health and the rebuild to the end. Takes about five
# minutes under TCG.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh --check-or-install --vmlab
# The lab's disks are sparse files in the guest's RAM (a tmpfs); the rebuild
# after the demo's server loss writes each new leg whole (3 GiB or so).
VMLAB_MEM=${VMLAB_MEM:-6144} VS_TMPFS=${VS_TMPFS:-4500m} VMLAB_PASSENV=VS_TMPFS VMLAB_TIMEOUT=${VMLAB_TIMEOUT:-1500} \
  exec tests/vmlab/vm.sh run tests/vmlab/demo.sh
