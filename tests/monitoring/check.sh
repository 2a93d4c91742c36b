#!/bin/bash
# The monitoring files (monitoring/): the alert rules load (promtool check
# rules), their unit tests pass (promtool test rules), and the dashboard is
# JSON with a query in every panel. Ends with "monitoring: N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
passed=0 failed=0
check() {  # check "what" command...
  local what=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $what"; else failed=$((failed + 1)); echo "FAIL: $what"; fi
}
command -v promtool >/dev/null || { echo "FAIL: promtool is missing (tools/install-deps.sh installs prometheus)"; echo "monitoring: 0 passed, 1 failed"; exit 1; }
check "promtool check rules monitoring/vastsky-rules.yml" promtool check rules monitoring/vastsky-rules.yml
check "promtool test rules (alerts fire after their 'for', not before)" \
  bash -c 'cd monitoring/tests && promtool test rules vastsky-rules.test.yml'
check "the dashboard is JSON and every panel has a query" python3 -c '
import json, sys
d = json.load(open("monitoring/vastsky-dashboard.json"))
bad = [p["title"] for p in d["panels"] if not [t for t in p.get("targets", []) if t.get("expr")]]
print("%d panels, %d queries" % (len(d["panels"]), sum(len(p["targets"]) for p in d["panels"])))
sys.exit(1 if bad or not d["panels"] else 0)'
echo "monitoring: $passed passed, $failed failed"
[ "$failed" = 0 ]
