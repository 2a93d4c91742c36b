#!/bin/bash
# Runs INSIDE the VM lab: failures under checksummed writes. A manager
# (failure grace 30 s), three storage servers, a head; a 1 GiB volume of two
# legs attached and written by fio (verify=crc32c) while:
#  1. a storage server holding a leg loses its link for 12 s, within the
#     grace period: no replacement, the head takes the leg back and its
#     raid1 bitmap resyncs only what changed;
#  2. a storage server holding a leg is killed (agent SIGKILL, link down)
#     for good: the manager declares it failed, the leg gets a replacement
#     on the third server in the same raid slot, the head rebuilds it, and
#     the mirror is whole again without a hand.
# After each: zero fio mismatches, the data verified again, both legs'
# data identical, the database audited.
# Host side: tests/vmlab/vm.sh run tests/vmlab/faults.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/cluster.sh"

HSVR= FIO_PID=

fio_job() {   # [EXTRA...]: 16 MiB of 64 KiB blocks at random offsets, fixed seed
  timeout 900 fio --name=vastsky-faults --filename=/dev/vastsky/f1 --direct=1 --ioengine=psync --rw=randwrite \
    --bs=64k --size=256m --io_size=16m --randseed=20101001 --verify=crc32c --verify_fatal=1 --do_verify=1 \
    --rate=1m --output=$VS_W/fio.log "$@"
}
legs() {   # "dextid:ssvrid:status" of every leg, in mirror and slot order
  vs_mrpc showLogicalVolume '{"lvolname": "f1"}' | python3 -c 'import json, sys
def walk(t):
    if t["lvoltype"] == 3:
        yield "%d:%d:%d" % (t["lvolid"], t["lvolspec"]["ssvrid"], t["mirror_status"])
    for c in t.get("components", []):
        yield from walk(c)
print(" ".join(walk(json.load(sys.stdin))))'
}
leg_ssvr() { legs | tr ' ' '\n' | sed -n "$(($1 + 1))p" | cut -d: -f2; }
health() { vs_hrpc listVolumes '{}' | vs_json "''.join(m['health'] + ':' + m['action'] for v in d for m in v['mirrors'])"; }
whole() { [ "$(health)" = AA:idle ] && [ -z "$(legs | tr ' ' '\n' | grep -v ':2$')" ]; }

setup() { vs_lab_setup 3 1 3700; }
cluster() {
  vs_manager_start --failure-grace 30 --rebuild-rate 200 || return 1
  local i; for i in 1 2 3; do vs_storage_agent_start $i || return 1; done
  vs_head_agent_start && vs_wait 150 vs_registered && HSVR=$(vs_hsvr) && [ -n "$HSVR" ]
}
attach() {
  vs_mrpc createLogicalVolume '{"lvolname": "f1", "capacity": 1, "redundancy": 2}' >/dev/null &&
  vs_mrpc attachLogicalVolume "{\"lvolname\": \"f1\", \"hsvrid\": $HSVR}" >/dev/null && [ -b /dev/vastsky/f1 ] &&
  fio_job --rate=0
}
start_writes() { fio_job & FIO_PID=$!; }
writes_verified() {
  wait $FIO_PID || { tail -20 $VS_W/fio.log; return 1; }
  fio_job --verify_only --rate=0 || { tail -20 $VS_W/fio.log; return 1; }
}
legs_identical() {   # the first 256 MiB (what fio wrote) of both data slices
  local a b sums
  sums=$(for d in $(dmsetup ls | awk '$1 ~ /^vastsky-.*-data$/{print $1}'); do
    dd if=/dev/mapper/$d bs=1M count=256 iflag=direct 2>/dev/null | md5sum; done | sort -u | wc -l)
  [ "$sums" = 1 ]
}
audited() { "$VS_BIN/vastsky-manager" --db $VS_W/manager.db --audit | grep -q '^audit: OK'; }

# 1. Link down 12 s: the head's session times out (replacement_timeout 5 s
#    plus noop-outs), the leg goes D; back within grace: same chunks.
BEFORE=
flap_within_grace() {
  BEFORE=$(legs)
  local s; s=$(leg_ssvr 0)
  start_writes
  sleep 2
  ip link set vmlab-ss$s down && sleep 12 && ip link set vmlab-ss$s up || return 1
  grep -q "dead leg reads again" $VS_W/head.log || vs_wait 300 grep -q "dead leg reads again" $VS_W/head.log
}
resynced_in_place() {
  vs_wait 600 whole || { health; legs; return 1; }
  [ "$(legs)" = "$BEFORE" ] || { echo "legs changed: $BEFORE -> $(legs)"; return 1; }
}

# 2. A server killed for good.
DEAD=
kill_server() {
  DEAD=$(leg_ssvr 1)
  start_writes
  sleep 2
  kill -KILL "${VS_PID[$DEAD]}" && unset "VS_PID[$DEAD]" && ip link set vmlab-ss$DEAD down
}
off_dead_and_whole() { ! legs | tr ' ' '\n' | grep -q ":$DEAD:" && whole; }
replaced_and_rebuilt() {
  vs_wait 1500 off_dead_and_whole || { health; legs; tail -5 $VS_W/manager.log; return 1; }
  [ "$(vs_mrpc getClusterStatus '{}' | vs_json 'd["rebuilds_queued"] + d["rebuilds_running"]')" = 0 ]
}

vmlab_check "lab: 3 storage servers of one disk, iSCSI, TLS" setup || { vmlab_summary faults; exit 1; }
vmlab_check "cluster up (failure grace 30 s)" cluster || { vs_dump; vmlab_summary faults; exit 1; }
vmlab_check "1 GiB volume of 2 legs attached and written" attach || { vs_dump; vmlab_summary faults; exit 1; }
vmlab_check "link of a leg's server down 12 s under writes: the head takes the leg back" flap_within_grace
vmlab_check "within grace: no replacement, the bitmap resyncs in place, mirror whole" resynced_in_place
vmlab_check "writes during the outage verified: zero mismatches" writes_verified
vmlab_check "both legs identical" legs_identical
vmlab_check "database audited" audited
vmlab_check "a leg's server killed under writes (agent SIGKILL, link down)" kill_server
vmlab_check "beyond grace: replaced on the third server, rebuilt, mirror whole, queue empty" replaced_and_rebuilt
vmlab_check "writes during the failure and rebuild verified: zero mismatches" writes_verified
vmlab_check "both legs identical after the rebuild" legs_identical
vmlab_check "database audited after the rebuild" audited
vmlab_summary faults || { vs_dump; grep -i "rebuild\|fail\|replace\|dead" $VS_W/manager.log | tail -20; exit 1; }
