#!/bin/bash
# Host side of the VM lab smoke test: boots a VM, runs tests/vmlab/smoke.sh in
# it, exits with its result. Prints the total wall time.
#   tests/vmlab/run-smoke.sh          (as root; VMLAB_* knobs: see vm.sh)
set -u
cd "$(dirname "$(readlink -f "$0")")/../.." || exit 125
tools/install-deps.sh --check-or-install --vmlab || exit 125
t0=$(date +%s.%N)
tests/vmlab/vm.sh run tests/vmlab/smoke.sh
rc=$?
echo "run-smoke: exit $rc, $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s wall"
exit $rc
