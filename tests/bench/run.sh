#!/bin/sh
# `make bench`: runs vastsky-bench against a real vastsky-manager on a free
# loopback port with a fresh database, in a temp dir removed afterwards.
# Arguments go to vastsky-bench (e.g. --servers 100, --help); BENCH_CHUNK_SIZE
# sets the manager's --chunk-size (default 4G); BENCH_KEEP=1 keeps the temp dir
# (database, manager log) for a closer look. The manager serves /metrics on a
# second port with its own password, for vastsky-bench's scrape phase.
# Exits non-zero only on errors; a missed target is printed as MISS. Then the VM lab's data-path figures
# (tests/vmlab/datapath-bench.sh), the snapshot figures (snap-bench.sh) and the scale of one LIO target's leg LUNs
# (kernel-tests scale) unless VASTSKY_SKIP_VMLAB=1. The rebuild
# simulator's MISS is reported but does not fail the run. The XCP driver's
# per-call cost comes after the simulator.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${VASTSKY_BIN_DIR:-$ROOT/build/bin}
dir=$(mktemp -d "${TMPDIR:-/tmp}/vastsky-bench.XXXXXX") || exit 1
if [ "${BENCH_KEEP:-0}" = 1 ]; then
  trap 'echo "bench: kept $dir"' EXIT
else
  trap 'rm -rf "$dir"' EXIT
fi
trap 'exit 130' INT TERM HUP PIPE

# The API's and /metrics' secrets differ, as the manager demands.
for f in secret metrics-secret; do
  (umask 077 && echo "bench-$f-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')" >"$dir/$f")
done
# Two free loopback ports, both held while asked so they differ.
ports=$(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))') || exit 1
port=${ports% *}
mport=${ports#* }

"$BIN/vastsky-bench" --url "http://127.0.0.1:$port/RPC2" --secret-file "$dir/secret" \
    --manager-log "$dir/manager.log" --metrics-url "http://127.0.0.1:$mport/metrics" \
    --metrics-secret-file "$dir/metrics-secret" "$@" -- \
    "$BIN/vastsky-manager" --db "$dir/state.db" --listen "127.0.0.1:$port" \
    --secret-file "$dir/secret" --metrics-listen "127.0.0.1:$mport" \
    --metrics-secret-file "$dir/metrics-secret" --chunk-size "${BENCH_CHUNK_SIZE:-4G}" --log-level warning
rc=$?
# Rebuild of a failed disk and server with the manager's own allocator and
# scheduler (tests/rebuild_sim); its arguments via BENCH_REBUILD_ARGS.
# shellcheck disable=SC2086
"$BIN/vastsky-rebuild-sim" ${BENCH_REBUILD_ARGS:-}
[ $? -le 1 ] || rc=1
# The XCP driver's cost per xapi call (tests/bench/sm_driver_bench.py).
python3 "$ROOT/tests/bench/sm_driver_bench.py" || rc=1
if [ -s "$dir/manager.log" ]; then
  echo "bench: manager log (last 20 lines):"
  tail -n 20 "$dir/manager.log" | sed 's/^/  /'
fi
# The data path's figures need the VM lab (real iSCSI and dm raid1).
if [ "${VASTSKY_SKIP_VMLAB:-0}" != 1 ]; then
  # A drain's rebuild writes whole legs into the lab's RAM-backed disks.
  VMLAB_MEM=7168 VMLAB_TIMEOUT=2400 VS_TMPFS=5000m VMLAB_PASSENV=VS_TMPFS \
    "$ROOT/tests/vmlab/vm.sh" run "$ROOT/tests/vmlab/datapath-bench.sh" | grep -E '^bench:|FAIL|datapath-bench:' || rc=1
  # Snapshots: the pause under writes, writes after one, clones and changed
  # blocks of a 100 GiB volume (sparse disks: thin pools only reserve).
  VMLAB_MEM=7168 VMLAB_TIMEOUT=2400 VS_TMPFS=5000m VMLAB_PASSENV=VS_TMPFS \
    "$ROOT/tests/vmlab/vm.sh" run "$ROOT/tests/vmlab/snap-bench.sh" | grep -E '^bench:|FAIL|snap-bench:' || rc=1
  # One LIO target with 2,000 leg LUNs, 256 of them mapped to one head.
  "$ROOT/tests/vmlab/vm.sh" run "$ROOT/tests/vmlab/kernel-tests.sh" scale | grep -E '^bench:|FAIL|kernel-tests:' || rc=1
  # A head attaching a volume with 256 legs on each of two disks.
  VMLAB_TIMEOUT=3600 "$ROOT/tests/vmlab/vm.sh" run "$ROOT/tests/vmlab/thin-scale.sh" | grep -E '^bench:|FAIL|thin-scale:' || rc=1
fi
exit $rc
