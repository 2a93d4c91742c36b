#!/bin/bash
# make demo: a manager on loopback, a demo cluster of 4 storage servers x 3
# disks in 2 racks registered as their agents would, one head server, and a
# mirrored volume created, attached and shown with the vastsky CLI.
# (Until the agents land, attach is recorded as state; the VM-lab demo with
# real iSCSI and dm raid1 comes with the data path.)
set -eu
cd "$(dirname "$0")/.."
BIN=$PWD/build/bin
work=$(mktemp -d /tmp/vastsky-demo-XXXXXX)
trap 'kill $mgr 2>/dev/null; wait $mgr 2>/dev/null; rm -rf "$work"' EXIT
openssl rand -hex 24 > "$work/secret"
chmod 600 "$work/secret"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN/vastsky-manager" --db "$work/state.db" --listen 127.0.0.1:$port --secret-file "$work/secret" \
    --log-level warning 2>"$work/manager.log" &
mgr=$!
export VASTSKY_MANAGER=http://127.0.0.1:$port/RPC2 VASTSKY_SECRET_FILE=$work/secret
for _ in $(seq 100); do "$BIN/vastsky" cluster status >/dev/null 2>&1 && break; sleep 0.05; done

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

# What the storage and head agents do at boot: register the node and its disks.
python3 - "$port" "$work/secret" <<'PY'
import sys, xmlrpc.client
port, secret = sys.argv[1], open(sys.argv[2]).read().strip()
api = xmlrpc.client.ServerProxy("http://admin:%s@127.0.0.1:%s/RPC2" % (secret, port))
sizes = [480, 960, 1920]
for s in range(4):
    sid = api.registerStorageServer({"ver": 5, "ip_data": ["127.10.0.%d" % (s + 1)], "domain": "rack-%s" % "ab"[s % 2]})
    for d, gib in enumerate(sizes):
        api.registerPhysicalDisk({"ver": 5, "ssvrid": sid, "local_path": "/dev/disk/by-id/demo-%d-%d" % (s, d),
                                  "capacity": str(gib * 2**21)})
api.registerHeadServer({"ver": 5, "ip_data": ["127.20.0.1"]})
PY

say "$BIN/vastsky" ssvr list
say "$BIN/vastsky" pdsk list
say "$BIN/vastsky" lvol create --redundancy 2 vm-disk-1 10G
say "$BIN/vastsky" lvol attach vm-disk-1 hsvr-00000001
say "$BIN/vastsky" lvol list
say "$BIN/vastsky" lvol show vm-disk-1
say "$BIN/vastsky" cluster status
say "$BIN/vastsky" event list
