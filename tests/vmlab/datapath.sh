#!/bin/bash
# Runs INSIDE the VM lab: VastSky end to end. A manager, three storage
# servers (netns ss1..ss3, two LIO-exported disks each) and a head agent
# with iscsid in the root netns. A volume of four 1 GiB mirrors is created,
# attached through the agents, written with checksummed data (fio
# verify=crc32c), detached, attached again and verified; both kinds of agent
# are restarted under it and it is verified again. Refusals: a second head,
# an initiator the manager did not authorise (even with the head's CHAP), a
# detach while the device is open, and an attach that fails half-way (it
# must leave nothing behind). Online grow: while the device is open, the
# volume grows by a chunk; the kernel's size follows at once, checksummed
# data across the old end and in the new tail reads back, and the old data
# still verifies.
# Host side: tests/vmlab/vm.sh run tests/vmlab/datapath.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/cluster.sh"
VS_METRICS=1   # the agents serve /metrics, checked after the first writes

INTRUDER=iqn.2024-01.org.vastsky.vmlab:intruder
V1= V2= HSVR=

# One checksummed workload over the whole volume: 64 KiB blocks at random
# offsets, 48 MiB in all, the same offsets and data every time (fixed seed),
# so a later run with --verify_only checks what the first one wrote.
fio_job() {   # DEVICE [EXTRA...]
  local dev=$1; shift
  timeout 600 fio --name=vastsky-e2e --filename="$dev" --direct=1 --ioengine=psync --rw=randwrite --bs=64k \
    --size=4g --io_size=48m --randseed=20101001 --verify=crc32c --verify_fatal=1 --do_verify=1 \
    --output=$VS_W/fio.log "$@"
}
fio_write_verify() { fio_job /dev/vastsky/v1 || { tail -20 $VS_W/fio.log; return 1; }; }

metric() { awk -v s="$1" '$1 == s {print $2}'; }   # SERIES < SCRAPE: its value
# agents/PROTOCOL.md, "Metrics": the head's volume counters are the
# kernel's own (fio wrote 48 MiB and read it back to verify), its mirrors
# as dm raid has them; the storage agents' pools as their heartbeats read
# them; promtool finds nothing to say about any of it.
metrics_count_the_io() {
  local t w r i
  t=$(vs_scrape h) || return 1
  w=$(metric 'vastsky_head_volume_written_bytes_total{lvol="v1"}' <<<"$t")
  r=$(metric 'vastsky_head_volume_read_bytes_total{lvol="v1"}' <<<"$t")
  echo "head /metrics: v1 wrote ${w:-?} bytes, read ${r:-?} bytes;" \
    "$(grep -c '^vastsky_head_mirror_legs_in_sync{lvol="v1"' <<<"$t") mirrors," \
    "$(awk '/^vastsky_head_mirror_legs_in_sync\{lvol="v1"/ {n += $2} END {print n}' <<<"$t") legs in sync"
  python3 -c "import sys; sys.exit(not (float('$w') >= 48 * 2**20 and float('$r') >= 48 * 2**20))" || return 1
  [ "$(awk '/^vastsky_head_mirror_legs_in_sync\{lvol="v1"/ {n += $2} END {print n}' <<<"$t")" = 8 ] || return 1
  [ "$(grep -c '^vastsky_head_mirror_sync_action{action="idle",lvol="v1",.*} 1$' <<<"$t")" = 4 ] || return 1
  promtool check metrics <<<"$t" || return 1
  for i in 1 2 3; do
    t=$(vs_scrape "$i") || return 1
    [ "$(grep -c '^vastsky_storage_pool_data_bytes{' <<<"$t")" = 2 ] || return 1
    promtool check metrics <<<"$t" || return 1
  done
}
fio_verify_only() { fio_job /dev/vastsky/v1 --verify_only || { tail -20 $VS_W/fio.log; return 1; }; }

setup() { vs_lab_setup 3 2 3700; }
cluster() { vs_cluster_up && HSVR=$(vs_hsvr) && [ -n "$HSVR" ]; }
attach() {   # LVOL
  vs_mrpc attachLogicalVolume "{\"lvolname\": \"$1\", \"hsvrid\": $HSVR}" >/dev/null
}
detach() { vs_mrpc detachLogicalVolume "{\"lvolname\": \"$1\"}" >/dev/null; }
lvol_field() {   # NAME FIELD
  vs_mrpc listLogicalVolumes "{\"lvolname\": \"$1\"}" | vs_json "d[0]['$2']"
}

create() {
  V1=$(vs_mrpc createLogicalVolume '{"lvolname": "v1", "capacity": 4, "redundancy": 2}') || return 1
  [ "$(vs_mrpc showLogicalVolume '{"lvolname": "v1"}' | vs_mirrors)" = 4 ]
}
attached_device() {
  attach v1 || return 1
  [ -b /dev/vastsky/v1 ] && [ "$(blockdev --getsize64 /dev/vastsky/v1)" = $((4 << 30)) ] || return 1
  [ "$(lvol_field v1 hsvrid)" = "$HSVR" ] && [ "$(lvol_field v1 bind_status)" = 1 ] || return 1
  # 1 volume + 4 raids + 8 legs x (meta, data); every raid healthy.
  [ "$(vs_dm_devices | wc -l)" = 21 ] || return 1
  [ "$(vs_hrpc listVolumes '{}' | vs_json "''.join(m['health'] for v in d for m in v['mirrors'])")" = AAAAAAAA ]
}
detach_leaves_nothing() {
  detach v1 || return 1
  [ ! -e /dev/vastsky/v1 ] && [ -z "$(vs_dm_devices)" ] && [ -z "$(vs_sessions)" ] || return 1
  [ "$(lvol_field v1 hsvrid)" = 0 ] || return 1
  local i; for i in 1 2 3; do   # every ACL for the head revoked
    [ "$(vs_arpc $i listExports '{}' | vs_json 'sum(len(e["initiators"]) for e in d)')" = 0 ] || return 1
  done
}
reattach_verifies() { attach v1 && fio_verify_only; }

restart_agents_verifies() {
  local before after i
  before=$(dmsetup info -c --noheadings -o name,minor 2>/dev/null | grep '^vastsky-' | sort)
  vs_stop h || return 1
  for i in 1 2 3; do vs_stop $i || return 1; done
  for i in 1 2 3; do vs_storage_agent_start $i || return 1; done
  vs_head_agent_start || return 1
  # Adopted, not rebuilt: the same devices with the same minors.
  after=$(dmsetup info -c --noheadings -o name,minor 2>/dev/null | grep '^vastsky-' | sort)
  [ "$before" = "$after" ] || { echo "devices changed across the restart"; return 1; }
  fio_verify_only && fio_write_verify
}

second_head_refused() {
  local h2 err
  h2=$(vs_mrpc registerHeadServer '{"ip_data": ["10.99.0.200"]}') || return 1
  err=$(vs_mrpc attachLogicalVolume "{\"lvolname\": \"v1\", \"hsvrid\": $h2}" 2>&1 >/dev/null)
  [ "$err" = EBUSY ] && [ "$(lvol_field v1 hsvrid)" = "$HSVR" ]
}

intruder_refused() {
  # The intruder even has the head's CHAP credentials (from the head
  # agent's record): only the ACL keeps it out.
  local rec user secret iqn ip
  rec=$(ls $VS_W/head/volumes/* | head -1)
  user=$(vs_json 'd["chap_user"]' < "$rec") && secret=$(vs_json 'd["chap_secret"]' < "$rec") || return 1
  iqn=$(vs_sessions | head -1)
  ip=$(vmlab_ia -m session 2>/dev/null | awk -v t="$iqn" '$4 == t {split($3, a, ":"); print a[1]; exit}')
  [ -n "$iqn" ] && [ -n "$ip" ] || return 1
  vmlab_ia -m iface -I intruder -o new >/dev/null &&
  vmlab_ia -m iface -I intruder -o update -n iface.initiatorname -v "$INTRUDER" >/dev/null &&
  vmlab_iscsi_node "$iqn" "$ip" intruder && vmlab_iscsi_auth "$iqn" "$ip" "$user" "$secret" intruder || return 1
  ! vmlab_iscsi_login "$iqn" "$ip" intruder >/dev/null 2>&1
}

open_device_not_detached() {
  local holder err
  sleep 300 < /dev/vastsky/v1 &
  holder=$!
  err=$(vs_mrpc detachLogicalVolume '{"lvolname": "v1"}' 2>&1 >/dev/null)
  kill $holder; wait $holder 2>/dev/null
  [ "$err" = EBUSY ] || { echo "detach of an open volume: '$err'"; return 1; }
  [ "$(lvol_field v1 bind_status)" = 1 ] && [ -b /dev/vastsky/v1 ] && [ "$(vs_dm_devices | wc -l)" = 21 ]
}

# Sequential 64 KiB blocks over [OFFSET, OFFSET+SIZE) of v1, written and
# read back (crc32c) while the device stays open.
fio_region() {   # NAME OFFSET SIZE
  timeout 600 fio --name="$1" --filename=/dev/vastsky/v1 --direct=1 --ioengine=psync --rw=write --bs=64k \
    --offset="$2" --size="$3" --verify=crc32c --verify_fatal=1 --do_verify=1 --output=$VS_W/fio-$1.log ||
    { tail -20 $VS_W/fio-$1.log; return 1; }
}

grow_while_open() {
  local holder err=0
  sleep 600 < /dev/vastsky/v1 &   # a VM holding the disk
  holder=$!
  vs_mrpc resizeLogicalVolume '{"lvolname": "v1", "capacity": 5}' >/dev/null || err=1
  [ $err = 0 ] && [ "$(blockdev --getsize64 /dev/vastsky/v1)" = $((5 << 30)) ] ||
    { echo "size after the grow: $(blockdev --getsize64 /dev/vastsky/v1)"; err=1; }
  [ $err = 0 ] && [ "$(lvol_field v1 capacity)" = 5 ] && [ "$(lvol_field v1 bind_status)" = 1 ] &&
    [ "$(lvol_field v1 bind_event)" = 0 ] || err=1
  # One more raid, two more legs: 26 devices; every raid healthy.
  [ $err = 0 ] && [ "$(vs_dm_devices | wc -l)" = 26 ] || { [ $err = 0 ] && echo "dm: $(vs_dm_devices | wc -l) devices"; err=1; }
  [ $err = 0 ] && [ "$(vs_hrpc listVolumes '{}' | vs_json "''.join(m['health'] for v in d for m in v['mirrors'])")" = AAAAAAAAAA ] || err=1
  # Across the old end (4 GiB) and the last 32 MiB of the new tail.
  [ $err = 0 ] && fio_region boundary $(((4 << 30) - (32 << 20))) 64m && fio_region tail $(((5 << 30) - (32 << 20))) 32m || err=1
  # The device was open all along; the earlier data is intact.
  kill -0 $holder 2>/dev/null || { echo "the holder died"; err=1; }
  kill $holder; wait $holder 2>/dev/null
  [ $err = 0 ] && fio_verify_only || return 1
  # Both regions again, read only (fresh reads from the legs).
  timeout 300 fio --name=boundary --filename=/dev/vastsky/v1 --direct=1 --ioengine=psync --rw=write --bs=64k \
    --offset=$(((4 << 30) - (32 << 20))) --size=64m --verify=crc32c --verify_fatal=1 --verify_only \
    --output=$VS_W/fio-reread.log || { tail -20 $VS_W/fio-reread.log; return 1; }
}

failed_attach_leaves_nothing() {
  local before_dm before_sessions err
  # Redundancy 3 over 3 servers: a leg on every server, so one agent down
  # fails the attach after the others granted access.
  V2=$(vs_mrpc createLogicalVolume '{"lvolname": "v2", "capacity": 1, "redundancy": 3}') || return 1
  before_dm=$(vs_dm_devices) before_sessions=$(vs_sessions)
  vs_stop 3 || return 1
  err=$(vs_mrpc attachLogicalVolume "{\"lvolname\": \"v2\", \"hsvrid\": $HSVR}" 2>&1 >/dev/null)
  vs_storage_agent_start 3 || return 1
  [ "$err" = ECONNREFUSED ] || { echo "attach with ss3's agent down: '$err'"; return 1; }
  [ "$(lvol_field v2 hsvrid)" = 0 ] && [ "$(lvol_field v2 bind_status)" = 0 ] && [ "$(lvol_field v2 bind_event)" = 0 ] || return 1
  [ "$(vs_dm_devices)" = "$before_dm" ] && [ "$(vs_sessions)" = "$before_sessions" ] || return 1
  # ...and it works once the agent is back.
  attach v2 && [ -b /dev/vastsky/v2 ] && detach v2 && [ "$(vs_dm_devices)" = "$before_dm" ]
}

# The checker itself must be able to fail: zero the first 256 MiB (about
# 1.5 MiB of the blocks written) and --verify_only must report it.
damage_is_detected() {
  dd if=/dev/zero of=/dev/vastsky/v1 bs=1M count=256 oflag=direct status=none || return 1
  # fio names the bad block on stderr ("verify: bad magic header ...").
  ! fio_job /dev/vastsky/v1 --verify_only 2>$VS_W/fio.err && grep -q "^verify: " $VS_W/fio.err
}

final_detach_and_audit() {
  detach_leaves_nothing || return 1
  vs_mrpc deleteLogicalVolume '{"lvolname": "v1"}' >/dev/null && vs_mrpc deleteLogicalVolume '{"lvolname": "v2"}' >/dev/null &&
  vs_cluster_down || return 1
  "$VS_BIN/vastsky-manager" --db $VS_W/manager.db --audit
}

fail_out() { vs_dump; vmlab_summary datapath; exit 1; }

# The head looks at its volumes each heartbeat: wait for a look after fio,
# then show the figures.
metrics_after_a_look() { vs_wait 150 metrics_count_the_io; metrics_count_the_io; }

vmlab_check "setup: modules, 3 netns, iscsid, TLS, 6 loop disks" setup || fail_out
vmlab_check "manager, 3 storage agents and the head agent up and registered" cluster || fail_out
vmlab_check "create v1: 4 GiB, redundancy 2 (4 mirrors)" create || fail_out
vmlab_check "attach v1: /dev/vastsky/v1, 4 GiB, 4 raid1 mirrors healthy" attached_device || fail_out
vmlab_check "fio: 48 MiB of random 64 KiB blocks written and verified (crc32c)" fio_write_verify
vmlab_check "agents' /metrics: the kernel's counters of v1 (>= 48 MiB written and read), 8 legs in sync, 6 pools; promtool clean" \
  metrics_after_a_look
vmlab_check "detach: no device, no dm, no session, every ACL revoked" detach_leaves_nothing
vmlab_check "attach again: fio verifies every block" reattach_verifies || fail_out
vmlab_check "restart head and storage agents: devices adopted, data verified, new writes verified" restart_agents_verifies
vmlab_check "attaching v1 on a second head is refused (EBUSY)" second_head_refused
vmlab_check "an initiator the manager did not authorise cannot log in, even with the CHAP secret" intruder_refused
vmlab_check "detach of an open device is refused (EBUSY), nothing torn down" open_device_not_detached
vmlab_check "grow v1 to 5 GiB while open: device 5 GiB at once, data across the old end and in the new tail verified" grow_while_open
vmlab_check "attach failing half-way (ss3 agent down): nothing left, works once it is back" failed_attach_leaves_nothing
vmlab_check "negative control: zeroed blocks make fio's verification fail" damage_is_detected
vmlab_check "final detach, deletes, clean shutdown, database audit" final_detach_and_audit
vmlab_summary datapath || { vs_dump; exit 1; }
