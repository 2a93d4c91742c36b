#!/bin/bash
# Every test VastSky has: unit tests (plain and under AddressSanitizer +
# UBSan), the integration tests against the sanitized daemons over real
# sockets, the concurrency tests under ThreadSanitizer, then the VM lab (a
# real kernel under QEMU): the agents' host layer, the smoke test of the data
# path, end to end, faults and thrash. Two lanes run side by side (a VM
# lab guest keeps about 1.3 of the 2 cores busy): the tests on this host
# then the VM suites of the data path, and the two fault suites (about 22
# minutes each lane, alone). Each suite's output is
# shown whole when it ends. Ends with a table of every suite (time, counts,
# failing lines: CI may show only the tail) and one "check: N passed, N
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
log=$(mktemp -d)
# suite NAME CMD...: runs one suite into $log/NAME, prints that output (one
# suite at a time, whichever lane it ran in) and leaves in $log/NAME.result
# "passed failed seconds" from its "...: N passed, N failed" line; a suite
# without that line, or exiting non-zero, counts at least one failure.
suite() {
  local name=$1 line p=0 f=1 t0=$SECONDS rc
  shift
  "$@" >"$log/$name" 2>&1
  rc=$?
  line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log/$name" | tail -1)
  if [ -n "$line" ]; then
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.*passed, ([0-9]+) failed.*/\1/')
  fi
  [ "$rc" = 0 ] || [ "$f" != 0 ] || f=1
  echo "$p $f $((SECONDS - t0))" >"$log/$name.result"
  { flock 9; echo "== $name: $(sed -n 1p "$log/$name.what")"; grep -v ': OK$' "$log/$name"; } 9>"$log/.lock"
}
# what NAME TEXT: the suite's one-line description, for its header.
what() { echo "$2" >"$log/$1.what"; }

host_tests() {
  what unit "unit tests"
  suite unit build/bin/unit-tests
  what unit-asan "unit tests (ASan+UBSan)"
  suite unit-asan build-asan/bin/unit-tests
  what integration "integration tests (ASan+UBSan daemons over real sockets)"
  VASTSKY_BIN_DIR=$PWD/build-asan/bin suite integration python3 tests/integration/run.py
  # A race report stops the process at once with status 88: the test fails
  # (the manager's exit is checked, an agent's counts through run.py).
  local tsan=halt_on_error=1:exitcode=88:second_deadlock_stack=1
  what unit-tsan "unit tests (ThreadSanitizer)"
  TSAN_OPTIONS=$tsan suite unit-tsan build-tsan/bin/unit-tests
  what tsan "concurrency tests (ThreadSanitizer daemons: agents' heartbeat, scrub and RPC threads, the manager's)"
  TSAN_OPTIONS=$tsan VASTSKY_BIN_DIR=$PWD/build-tsan/bin suite tsan python3 tests/integration/run.py --label tsan \
    test_attach_agents.py test_storage_agent.py test_reconnect_heartbeat.py test_acl_reconcile.py
  what rpm "RPM packages: build, lint, file lists"
  suite rpm tests/rpm/check.sh
}

vm=tests/vmlab/vm.sh
vm_suites() {
  what kernel "kernel layer in the VM lab"
  suite kernel $vm run tests/vmlab/kernel-tests.sh
  what agent "storage agent against LIO in the VM lab"
  suite agent $vm run tests/vmlab/storage-agent.sh
  what agent-tgt "storage agent against tgt in the VM lab"
  TARGET=tgt VMLAB_PASSENV=TARGET suite agent-tgt $vm run tests/vmlab/storage-agent.sh
  what smoke "data path smoke test in the VM lab"
  suite smoke $vm run tests/vmlab/smoke.sh
  what sm-lifecycle "the XCP driver in the VM lab: a VDI's life through VastSkySR, checksummed data, online resize"
  VMLAB_TIMEOUT=1500 suite sm-lifecycle $vm run tests/vmlab/sm-lifecycle.sh
  what datapath "end to end in the VM lab: manager, 3 storage agents, head agent, checksummed data"
  VMLAB_TIMEOUT=1200 suite datapath $vm run tests/vmlab/datapath.sh
  what thin "thin legs in the VM lab: a deleted volume's space reads zeros in the next, a head sees only its legs"
  VMLAB_MEM=4096 VMLAB_TIMEOUT=1200 VS_TMPFS=3000m VMLAB_PASSENV=VS_TMPFS suite thin $vm run tests/vmlab/thin.sh
}

vm_fault_suites() {
  # The lab's disks are sparse files in the guest's RAM; every rebuild
  # writes a whole chunk and freed chunks keep their pages: room for all.
  what faults "failures under checksummed writes in the VM lab: link flap, LUN removed, disk errors, drain, server killed"
  VMLAB_MEM=7168 VMLAB_TIMEOUT=2700 VS_TMPFS=5000m VMLAB_PASSENV=VS_TMPFS suite faults $vm run tests/vmlab/faults.sh
  # Its seed is printed first: THRASH_SEED=N replays a failure. The deadline
  # covers the set-up, the last fault's healing and the final checks.
  what thrash "thrash in the VM lab: 4 minutes of seeded faults under checksummed writes to two volumes"
  THRASH_SECONDS=240 VMLAB_MEM=7168 VMLAB_TIMEOUT=1200 VS_TMPFS=5500m VMLAB_PASSENV=VS_TMPFS \
    suite thrash $vm run tests/vmlab/thrash.sh
}

order="unit unit-asan integration unit-tsan tsan rpm"
if [ "${VASTSKY_SKIP_VMLAB:-0}" = 1 ]; then
  host_tests
  echo "== VM lab SKIPPED (VASTSKY_SKIP_VMLAB=1): the kernel data path was not tested"
else
  vm_fault_suites &
  lane=$!
  host_tests
  vm_suites
  wait $lane
  order+=" kernel agent agent-tgt smoke sm-lifecycle datapath thin faults thrash"
fi

echo "== every suite: seconds, counts, and what failed"
passed=0 failed=0
for name in $order; do
  read -r p f t 2>/dev/null <"$log/$name.result" || { p=0 f=1 t=-; }
  passed=$((passed + p)) failed=$((failed + f))
  printf '%-14s %5ss %5s passed %3s failed\n' "$name" "$t" "$p" "$f"
  [ "$f" = 0 ] || grep -E 'FAIL|^ERROR: |UNCLEAN EXIT|^Test name: |timed out|exited [1-9]' "$log/$name" | head -8 | sed 's/^/      /'
done
rm -rf "$log"
echo "check: $passed passed, $failed failed"
[ "$failed" = 0 ]
