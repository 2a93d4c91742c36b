#!/bin/sh
# tests/fuzz/run.sh SECONDS: each libFuzzer target (build-fuzz/bin/fuzz-*,
# `make fuzz-programs SAN=fuzz`) first replays its regression inputs
# (tests/fuzz/regressions/<target>/: every crash ever found, kept), then
# fuzzes for SECONDS from its seeds (tests/fuzz/seeds/<target>/) in a
# scratch corpus. Each runs in a network namespace of its own: whatever a
# fuzzed input names (an agent's or the manager's URL), nothing is reached.
# A crash leaves its input under the scratch directory, named in the output:
# fix the bug, then add the input to the target's regressions. Prints each
# target's executions per second; exits non-zero if any target failed.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${VASTSKY_FUZZ_BIN:-$ROOT/build-fuzz/bin}
seconds=${1:-60}
work=$(mktemp -d "${TMPDIR:-/tmp}/vastsky-fuzz.XXXXXX") || exit 1
trap 'exit 130' INT TERM HUP
if ! unshare --net true 2>/dev/null; then
  echo "fuzz: cannot make a network namespace (unshare --net; run as root): refusing to fuzz with the network reachable"
  exit 1
fi
rc=0 failed=0 passed=0
for prog in "$BIN"/fuzz-*; do
  [ -x "$prog" ] || { echo "fuzz: no targets in $BIN (make fuzz-programs SAN=fuzz)"; exit 1; }
  name=${prog##*/fuzz-}
  corpus=$work/$name
  mkdir -p "$corpus"
  cp "$ROOT/tests/fuzz/seeds/$name"/* "$corpus"/ 2>/dev/null
  log=$work/$name.log
  ok=1
  regressions=$(find "$ROOT/tests/fuzz/regressions/$name" -type f 2>/dev/null | sort)
  if [ -n "$regressions" ]; then
    # shellcheck disable=SC2086
    unshare --net "$prog" -timeout=10 -rss_limit_mb=2048 $regressions >"$log.replay" 2>&1 || ok=0
    [ $ok = 1 ] || { echo "fuzz: $name: a regression input fails again:"; tail -30 "$log.replay"; }
  fi
  if [ $ok = 1 ]; then
    unshare --net "$prog" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="$work/$name-" -print_final_stats=1 "$corpus" >"$log" 2>&1 || ok=0
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    per_s=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "fuzz: $name: ${execs:-?} runs in $seconds s (${per_s:-?}/s), ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) inputs"
    [ $ok = 1 ] || { echo "fuzz: $name FAILED; its input: $(ls "$work/$name-"* 2>/dev/null)"; tail -40 "$log"; }
  fi
  if [ $ok = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); rc=1; fi
done
echo "fuzz: $passed passed, $failed failed"
[ $rc = 0 ] && rm -rf "$work"
exit $rc
