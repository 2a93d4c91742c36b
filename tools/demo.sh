#!/bin/bash
# make demo: VastSky for real. Boots the VM lab (QEMU running Debian's kernel
# on this machine's root filesystem), and inside it brings up a manager,
# three storage servers and a head server, then creates, attaches, writes
# and reads a mirrored volume, showing the cluster at each step
# (tests/vmlab/demo.sh). Takes a few minutes under TCG.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh --check-or-install --vmlab
VMLAB_TIMEOUT=${VMLAB_TIMEOUT:-900} exec tests/vmlab/vm.sh run tests/vmlab/demo.sh
