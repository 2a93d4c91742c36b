#!/bin/bash
# Every test VastSky has: unit tests (plain and under AddressSanitizer +
# UBSan), the integration tests against the sanitized daemons over real
# sockets, the concurrency tests under ThreadSanitizer, then the VM lab (a
# real kernel under QEMU): the agents' host layer, the smoke test of the data
# path, end to end, faults and thrash. Ends with one "check: N passed, N
# failed" line. VASTSKY_SKIP_VMLAB=1 leaves the VM lab out (say so loudly).
set -u
cd "$(dirname "$0")/.."
tools/install-deps.sh --check-or-install --vmlab || exit 1

jobs=$(nproc 2>/dev/null || echo 2)
make -j"$jobs" all >/dev/null || { echo "check: build failed"; exit 1; }
make -j"$jobs" SAN=1 build-asan/bin/vastsky-manager build-asan/bin/vastsky build-asan/bin/vastsky-storage-agent build-asan/bin/vastsky-head-agent build-asan/bin/VastSkySR build-asan/bin/vastsky-xapi-plugin build-asan/bin/unit-tests >/dev/null \
  || { echo "check: sanitizer build failed"; exit 1; }
make -j"$jobs" SAN=thread build-tsan/bin/vastsky-manager build-tsan/bin/vastsky-storage-agent build-tsan/bin/vastsky-head-agent build-tsan/bin/unit-tests >/dev/null \
  || { echo "check: ThreadSanitizer build failed"; exit 1; }

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87
passed=0 failed=0
tally() {  # $1 = log file with a "...: N passed, N failed" line
  local line
  line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
  if [ -z "$line" ]; then failed=$((failed + 1)); return; fi
  passed=$((passed + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
  failed=$((failed + $(echo "$line" | sed -E 's/.*passed, ([0-9]+) failed.*/\1/')))
}

log=$(mktemp -d)
status=0
echo "== unit tests"
build/bin/unit-tests 2>&1 | tee "$log/unit" | grep -v ': OK$' || true
[ "${PIPESTATUS[0]}" = 0 ] || status=1
tally "$log/unit"
echo "== unit tests (ASan+UBSan)"
build-asan/bin/unit-tests 2>&1 | tee "$log/unit-asan" | grep -v ': OK$' || true
[ "${PIPESTATUS[0]}" = 0 ] || status=1
tally "$log/unit-asan"
echo "== integration tests (ASan+UBSan daemons)"
VASTSKY_BIN_DIR=$PWD/build-asan/bin python3 tests/integration/run.py 2>&1 | tee "$log/integration"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
tally "$log/integration"
echo "== concurrency tests (ThreadSanitizer daemons: agents' heartbeat, scrub and RPC threads, the manager's)"
# A race report stops the process at once with status 88: the test fails
# (the manager's exit is checked, an agent's counts through run.py).
tsan_options=halt_on_error=1:exitcode=88:second_deadlock_stack=1
TSAN_OPTIONS=$tsan_options build-tsan/bin/unit-tests 2>&1 | tee "$log/unit-tsan" | grep -v ': OK$' || true
[ "${PIPESTATUS[0]}" = 0 ] || status=1
tally "$log/unit-tsan"
TSAN_OPTIONS=$tsan_options VASTSKY_BIN_DIR=$PWD/build-tsan/bin python3 tests/integration/run.py --label tsan \
  test_attach_agents.py test_storage_agent.py test_reconnect_heartbeat.py test_acl_reconcile.py 2>&1 | tee "$log/tsan"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
tally "$log/tsan"
echo "== RPM packages: build, lint, file lists"
tests/rpm/check.sh 2>&1 | tee "$log/rpm"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
tally "$log/rpm"
if [ "${VASTSKY_SKIP_VMLAB:-0}" = 1 ]; then
  echo "== VM lab SKIPPED (VASTSKY_SKIP_VMLAB=1): the kernel data path was not tested"
else
  echo "== kernel layer in the VM lab"
  tests/vmlab/vm.sh run tests/vmlab/kernel-tests.sh 2>&1 | tee "$log/kernel"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  tally "$log/kernel"
  echo "== storage agent against LIO in the VM lab"
  tests/vmlab/vm.sh run tests/vmlab/storage-agent.sh 2>&1 | tee "$log/agent"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  tally "$log/agent"
  echo "== storage agent against tgt in the VM lab"
  TARGET=tgt VMLAB_PASSENV=TARGET tests/vmlab/vm.sh run tests/vmlab/storage-agent.sh 2>&1 | tee "$log/agent-tgt"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  tally "$log/agent-tgt"
  echo "== data path smoke test in the VM lab"
  tests/vmlab/vm.sh run tests/vmlab/smoke.sh 2>&1 | tee "$log/smoke"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  tally "$log/smoke"
  echo "== end to end in the VM lab: manager, 3 storage agents, head agent, checksummed data"
  VMLAB_TIMEOUT=1200 tests/vmlab/vm.sh run tests/vmlab/datapath.sh 2>&1 | tee "$log/datapath"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  tally "$log/datapath"
  echo "== thin legs in the VM lab: a deleted volume's space reads zeros in the next, a head sees only its legs"
  VMLAB_MEM=4096 VMLAB_TIMEOUT=1200 VS_TMPFS=3000m VMLAB_PASSENV=VS_TMPFS tests/vmlab/vm.sh run tests/vmlab/thin.sh 2>&1 | tee "$log/thin"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  tally "$log/thin"
  echo "== the XCP driver in the VM lab: a VDI's life through VastSkySR, checksummed data, online resize"
  VMLAB_TIMEOUT=1500 tests/vmlab/vm.sh run tests/vmlab/sm-lifecycle.sh 2>&1 | tee "$log/sm-lifecycle"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  tally "$log/sm-lifecycle"
  echo "== failures under checksummed writes in the VM lab: link flap, LUN removed, disk errors, drain, server killed"
  # The lab's disks are sparse files in the guest's RAM; every rebuild
  # writes a whole chunk and freed chunks keep their pages: room for all.
  VMLAB_MEM=7168 VMLAB_TIMEOUT=2700 VS_TMPFS=5000m VMLAB_PASSENV=VS_TMPFS tests/vmlab/vm.sh run tests/vmlab/faults.sh 2>&1 | tee "$log/faults"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  tally "$log/faults"
  echo "== thrash in the VM lab: 4 minutes of seeded faults under checksummed writes to two volumes"
  # Its seed is printed first: THRASH_SEED=N replays a failure. The deadline
  # covers the set-up, the last fault's healing and the final checks.
  THRASH_SECONDS=240 VMLAB_MEM=7168 VMLAB_TIMEOUT=1200 VS_TMPFS=5500m VMLAB_PASSENV=VS_TMPFS \
    tests/vmlab/vm.sh run tests/vmlab/thrash.sh 2>&1 | tee "$log/thrash"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  tally "$log/thrash"
fi
rm -rf "$log"
[ "$failed" = 0 ] || status=1
echo "check: $passed passed, $failed failed"
exit $status
