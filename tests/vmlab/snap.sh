#!/bin/bash
# Runs INSIDE the VM lab: snapshots, clones and changed blocks end to end
# (issue 14). The manager, three storage servers of one disk each (a thin
# pool each), a head agent; volume v1 (1 GiB, 2 legs) attached.
#   a. Four threads write tagged 4 KiB blocks to v1 (each carries its offset
#      and a generation; tests/vmlab/tagged.py) while createSnapshot makes
#      s1. s1, attached read-only on the head, holds in every block the
#      generation acknowledged last before the call or a later one that was
#      in flight, never an older one, on the volume and on each leg of its
#      mirror; the legs hash the same.
#   b. A write to s1's device fails: the head loaded it read-only.
#   c. Clone c1 of s1 (cloneLogicalVolume) attached: it reads as s1 does,
#      takes checksummed writes (fio crc32c) while v1 keeps its last
#      generations and s1 its checksum.
#   c2. Clone c2 of the attached v1 attached on a second head (the peer VM,
#      vm.sh VMLAB_PEER=1: its own kernel, iscsid and initiator): it holds
#      v1's last generations; then c2 takes checksummed writes there while
#      v1 takes new tagged writes here: each verified (c2's legs compared
#      in the peer), s1 unchanged.
#   d. Snapshots s2 and s3 of v1 around 300 blocks written at random:
#      listChangedBlocks(s3, base s2) covers every one of them (the extras
#      ratio printed); nothing changed from s3 to v1; a base that is not a
#      snapshot is EINVAL.
#   e. v1 detached and deleted: s1 reads the same (checksum), c1 and c2
#      verify.
#   f. (SNAP_FAULT=0 leaves it out: it takes about 4 minutes) s1
#      detached, the storage server of one of its legs killed (agent SIGKILL, link down): the manager replaces
#      the leg and has it rebuilt on its own; s1 attached again: legs
#      identical, tagged blocks and checksum as before.
# Then deletes, clean shutdown, database audit.
# Host side (as tests/run-all.sh runs it):
#   VMLAB_PEER=1 VMLAB_MEM=4096 VMLAB_TIMEOUT=1800 VS_TMPFS=3000m VMLAB_PASSENV=VS_TMPFS tests/vmlab/vm.sh run tests/vmlab/snap.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/cluster.sh"

HSVR= SNAPSUM=
TAGGED="python3 $VS_REPO/tests/vmlab/tagged.py"
# The tagged blocks: one per 64 KiB pool block over the first 16 MiB, so
# SPAN_MIB covers them all for the checksums and the leg comparisons.
POSITIONS=256 STRIDE=65536 SPAN_MIB=16

setup() { vs_lab_setup 3 1 2200; }
# Grace 30 s for (f). Overcommit 4: five volumes of two 1 GiB legs (v1, its
# snapshots and clone each reserve their size) on three 2200 MiB pools.
cluster() {
  VS_MANAGER_ARGS="--failure-grace 30 --rebuild-rate 200" vs_cluster_up && HSVR=$(vs_hsvr) && [ -n "$HSVR" ] &&
    vs_mrpc setClusterSetting '{"name": "overcommit", "value": "4"}' >/dev/null
}
attach() { vs_mrpc attachLogicalVolume "{\"lvolname\": \"$1\", \"hsvrid\": $HSVR}" >/dev/null && [ -b "/dev/vastsky/$1" ]; }
PEER_HSVR=
peer_up() { vs_peer_up && PEER_HSVR=$(vs_hsvr_at "$VMLAB_PEER_IP") && echo "second head: hsvr $PEER_HSVR at $VMLAB_PEER_IP"; }
detach() { vs_mrpc detachLogicalVolume "{\"lvolname\": \"$1\"}" >/dev/null; }
delete() { vs_mrpc deleteLogicalVolume "{\"lvolname\": \"$1\"}" >/dev/null; }
snapshot() { vs_mrpc createSnapshot "{\"origin_lvolname\": \"$1\", \"snapshot_lvolname\": \"$2\"}" >/dev/null; }
lvol() { vs_mrpc listLogicalVolumes "{\"lvolname\": \"$1\"}"; }
span_sum() { dd if="/dev/vastsky/$1" bs=1M count=$SPAN_MIB iflag=direct status=none | md5sum | cut -d' ' -f1; }

volume() {
  vs_mrpc createLogicalVolume '{"lvolname": "v1", "capacity": 1, "redundancy": 2}' >/dev/null && attach v1
}

# a. The snapshot taken under writes.
snapshot_under_writes() {
  # shellcheck disable=SC2086
  $TAGGED run /dev/vastsky/v1 $VS_W/tagged.json --positions $POSITIONS --stride $STRIDE --threads 4 \
    --before 4 --after 2 "$VS_MGR" $VS_W/cert.pem $VS_W/secret createSnapshot \
    '{"origin_lvolname": "v1", "snapshot_lvolname": "s1"}'
}
# top_type NAME: the lvoltype under the volume's node in showLogicalVolume
# (7 SNAPSHOT, 6 SNAPSHOT_ORIGIN).
top_type() { vs_mrpc showLogicalVolume "{\"lvolname\": \"$1\"}" | vs_json 'd["components"][0]["lvoltype"]'; }
listed_as_snapshot() {
  local out
  out=$(vs_mrpc showLogicalVolume '{"lvolname": "s1"}' | vs_json 'd["components"][0]["lvoltype"]'; vs_mrpc listLogicalVolumes '{}') || return 1
  echo "$out" | python3 -c 'import json, sys
kind, rest = sys.stdin.read().split("\n", 1)
vols = {v["lvolname"]: v for v in json.loads(rest)}
s, v = vols["s1"], vols["v1"]
print("s1: lvoltype %s under its lvol node, read_only %s, capacity %d, associated_to %s; v1: associated_from %s"
      % (kind, s["read_only"], s["capacity"], s["associated_to"], v["associated_from"]))
sys.exit(0 if kind == "7" and s["read_only"] is True and s["capacity"] == 1
         and s["associated_to"] == [{"lvolid": v["lvolid"], "type": "snapshot"}]
         and {"lvolid": s["lvolid"], "type": "snapshot"} in v["associated_from"] else 1)'
}
# tagged_legs NAME MODE: the tagged check on every leg in sync of NAME's
# (only) mirror, read on the head: the leg's data slice is the volume's.
tagged_legs() {
  local c s n=0 rc=0 id
  while read -r _ id _ c _ _ s; do
    [ "$s" = 2 ] || continue
    $TAGGED check "/dev/mapper/vastsky-$id-c$c-data" $VS_W/tagged.json "$2" "$1 leg $c" $PAUSE || rc=1
    n=$((n + 1))
  done <<< "$(vs_state legs "$1")"
  echo "$1: $n legs checked"
  [ $n -ge 2 ] && [ $rc = 0 ]
}
# pause_ms NAME: the pause the manager's event on snapshot NAME reports.
pause_ms() {
  vs_mrpc listEvents '{}' | vs_json "[e['message'] for e in d if e['type'] == 'snapshot' and \"'$1'\" in e['message']]" |
    grep -o 'paused [0-9]* ms' | tail -1 | awk '{print $2}'
}
PAUSE=
snapshot_holds_writes() {
  PAUSE=$(pause_ms s1)
  echo "s1: the manager's event says v1's I/O paused ${PAUSE:-?} ms"
  [ -n "$PAUSE" ] && attach s1 || return 1
  $TAGGED check /dev/vastsky/s1 $VS_W/tagged.json snap s1 "$PAUSE" && tagged_legs s1 snap || return 1
  SNAPSUM=$(span_sum s1) && echo "s1: md5 of the first $SPAN_MIB MiB $SNAPSUM"
}
snapshot_legs_identical() { vs_legs_identical s1 $SPAN_MIB; }
origin_holds_last() { $TAGGED check /dev/vastsky/v1 $VS_W/tagged.json final v1; }

# b. Read-only.
snapshot_read_only() {
  local last=$(((1 << 30) / 4096 - 1)) before after
  echo "blockdev --getro: $(blockdev --getro /dev/vastsky/s1)"
  # The last block, clear of the span the other checks read, in case the write lands.
  before=$(dd if=/dev/vastsky/s1 bs=4096 skip=$last count=1 iflag=direct status=none | md5sum)
  if tr '\0' 'W' < /dev/zero | dd of=/dev/vastsky/s1 bs=4096 seek=$last count=1 iflag=fullblock oflag=direct \
      status=none 2>$VS_W/ro.err; then
    echo "a write to s1 succeeded"; return 1
  fi
  echo "the write failed: $(head -1 $VS_W/ro.err)"
  after=$(dd if=/dev/vastsky/s1 bs=4096 skip=$last count=1 iflag=direct status=none | md5sum)
  [ "$before" = "$after" ] && [ "$(blockdev --getro /dev/vastsky/s1)" = 1 ]
}

# c. A clone of the snapshot, written.
clone_fio() {   # EXTRA...: 8 MiB of random 64 KiB blocks over the span, checksummed, fixed seed
  timeout 600 fio --name=snap-clone --filename=/dev/vastsky/c1 --direct=1 --ioengine=psync --rw=randwrite --bs=64k \
    --size=64m --io_size=8m --randseed=14 --verify=crc32c --verify_fatal=1 --do_verify=1 --output=$VS_W/fio.log "$@" ||
    { tail -20 $VS_W/fio.log; return 1; }
}
clone_reads_as_snapshot() {
  vs_mrpc cloneLogicalVolume '{"lvolname": "s1", "clone_lvolname": "c1"}' >/dev/null && attach c1 || return 1
  local t l
  t=$(top_type c1) && l=$(lvol c1 | vs_json '[d[0]["read_only"], d[0]["associated_to"]]') || return 1
  echo "c1: lvoltype $t under its lvol node; read_only, associated_to: $l"
  [ "$t" = 6 ] && [ "${l:0:7}" = "[False," ] && [[ $l = *"'type': 'clone'"* ]] || return 1
  local sum; sum=$(span_sum c1)
  [ "$sum" = "$SNAPSUM" ] || { echo "c1's first $SPAN_MIB MiB: md5 $sum, s1's $SNAPSUM"; return 1; }
  echo "c1 reads as s1: md5 $sum over $SPAN_MIB MiB"
}
clone_written() { clone_fio; }
others_unchanged() {
  origin_holds_last || return 1
  local sum; sum=$(span_sum s1)
  [ "$sum" = "$SNAPSUM" ] || { echo "s1 changed: md5 $sum, was $SNAPSUM"; return 1; }
  echo "s1: md5 $sum as before"
}

# c2. A clone of the live origin on a second head (the peer VM), both written
# at once.
PEER_FILES=$VMLAB_SHARED/peer/files
c2_fio() {   # EXTRA...: in the peer, as clone_fio does on this head
  vmlab_peer -t 900 "timeout 800 fio --name=snap-c2 --filename=/dev/vastsky/c2 --direct=1 --ioengine=psync \
    --rw=randwrite --bs=64k --size=64m --io_size=8m --randseed=15 --verify=crc32c --verify_fatal=1 --do_verify=1 \
    --output=\$VS_W/fio-c2.log $* || { tail -20 \$VS_W/fio-c2.log; false; }"
}
clone_on_second_head() {
  vs_mrpc cloneLogicalVolume '{"lvolname": "v1", "clone_lvolname": "c2"}' >/dev/null &&
    vs_mrpc attachLogicalVolume "{\"lvolname\": \"c2\", \"hsvrid\": $PEER_HSVR}" >/dev/null || return 1
  echo "c2 bound to hsvr $(lvol c2 | vs_json 'd[0]["hsvrid"]')"
  cp $VS_W/tagged.json "$PEER_FILES/" &&
    vmlab_peer "[ -b /dev/vastsky/c2 ] && $TAGGED check /dev/vastsky/c2 $PEER_FILES/tagged.json final c2"
}
both_written_at_once() {
  local out
  c2_fio > $VS_W/c2-fio.out 2>&1 &
  local peer=$!
  # v1 written on this head meanwhile: new generations, logged apart.
  $TAGGED run /dev/vastsky/v1 $VS_W/tagged2.json --positions $POSITIONS --stride $STRIDE --threads 4 \
    --before 10 --after 10 "$VS_MGR" $VS_W/cert.pem $VS_W/secret getClusterStatus '{}' > $VS_W/tagged2.out ||
    { cat $VS_W/tagged2.out; kill $peer; return 1; }
  wait $peer || { echo "c2's fio in the peer failed:"; cat $VS_W/c2-fio.out; return 1; }
  echo "c2 written and verified in the peer (fio crc32c, 8 MiB)"
  vmlab_peer "vs_legs_identical c2 64" || return 1
  $TAGGED check /dev/vastsky/v1 $VS_W/tagged2.json final v1 || return 1
  out=$(span_sum s1) && [ "$out" = "$SNAPSUM" ] || { echo "s1 changed: md5 $out, was $SNAPSUM"; return 1; }
  echo "s1: md5 $out as before"
}

# d. Changed blocks between two snapshots.
CHANGED=
around_known_writes() {
  snapshot v1 s2 && $TAGGED scatter /dev/vastsky/v1 $VS_W/scatter.json 300 20141 && snapshot v1 s3
}
changed_blocks_cover() {
  CHANGED=$(vs_mrpc listChangedBlocks '{"lvolname": "s3", "base_lvolname": "s2"}') || return 1
  echo "$CHANGED" | python3 -c 'import json, sys
d, offs = json.load(sys.stdin), json.load(open(sys.argv[1]))
unit = d["block_kib"] * 1024
r = d["ranges"]
spans = list(zip(r[::2], r[1::2]))
ok = all(a + n <= b for (a, n), (b, _) in zip(spans, spans[1:])) and all(n > 0 for _, n in spans)
missed = [o for o in offs if not any(a <= o // unit < a + n for a, n in spans)]
touched = {o // unit for o in offs}
listed = sum(n for _, n in spans)
print("listChangedBlocks(s3, base s2): block_kib %d, %d ranges, %d blocks listed for %d touched by %d writes: "
      "%d missed, extras ratio %.2f%s" % (d["block_kib"], len(spans), listed, len(touched), len(offs), len(missed),
      listed / len(touched), "" if ok else "; ranges NOT sorted, merged and non-empty"))
sys.exit(0 if ok and not missed and d["block_kib"] <= 64 else 1)' $VS_W/scatter.json
}
nothing_changed_since() {
  local n
  n=$(vs_mrpc listChangedBlocks '{"lvolname": "v1", "base_lvolname": "s3"}' | vs_json 'sum(d["ranges"][1::2])') || return 1
  echo "listChangedBlocks(v1, base s3): $n blocks"
  [ "$n" = 0 ]
}
base_not_snapshot() {
  local err
  err=$(vs_mrpc listChangedBlocks '{"lvolname": "s3", "base_lvolname": "v1"}' 2>&1 >/dev/null)
  echo "listChangedBlocks(s3, base v1): '$err'"
  [ "$err" = EINVAL ]
}

# e. The origin deleted under its snapshots and clone.
origin_deleted() {
  detach v1 && delete v1 || return 1
  local sum; sum=$(span_sum s1)
  [ "$sum" = "$SNAPSUM" ] || { echo "s1 changed: md5 $sum, was $SNAPSUM"; return 1; }
  echo "s1: md5 $sum as before; $(lvol s1 | vs_json '"associated_to %s" % d[0].get("associated_to")')"
  clone_fio --verify_only && c2_fio --verify_only && echo "c1 and c2 (in the peer) verify"
}

# f. A storage server of one of s1's legs killed while s1 is detached.
DEAD= DEAD_SSVR=
s1_legs() { vs_state legs s1 | awk '{print $4 ":" $6 ":" $7}' | tr '\n' ' '; }
kill_snapshot_leg_server() {
  detach c1 && delete c1 && delete s2 && delete s3 && detach s1 || return 1
  local ip
  DEAD_SSVR=$(vs_state legs s1 | awk 'NR == 1 {print $6}')
  ip=$(vs_state servers | awk -v s="$DEAD_SSVR" '$1 == s {print $2}')
  DEAD=${ip##*.}
  [ -n "$DEAD" ] || return 1
  echo "s1's legs (chunk:ssvr:status) $(s1_legs); killing storage server $DEAD_SSVR (ss$DEAD)"
  vs_kill "$DEAD" && ip link set vmlab-ss$DEAD down
}
s1_rebuilt() {   # no leg on the dead server, every leg INSYNC, no rebuild left
  local legs; legs=$(vs_state legs s1) || return 1
  [ "$(echo "$legs" | awk -v i="$DEAD_SSVR" '$6 != i && $7 == 2' | wc -l)" = 2 ] &&
    [ "$(vs_mrpc getClusterStatus '{}' | vs_json 'd["rebuilds_queued"] + d["rebuilds_running"]')" = 0 ]
}
leg_replaced_and_rebuilt() {
  vs_wait 6000 s1_rebuilt || { echo "legs $(s1_legs)"; vs_mrpc getClusterStatus '{}'; vs_mrpc listEvents '{"count": 10}' | tail -c 2000; return 1; }
  echo "s1's legs now $(s1_legs); s1 bind_status $(lvol s1 | vs_json 'd[0]["bind_status"]')"
}
rebuilt_snapshot_reads_same() {
  attach s1 && vs_legs_identical s1 $SPAN_MIB && tagged_legs s1 snap || return 1
  local sum; sum=$(span_sum s1)
  [ "$sum" = "$SNAPSUM" ] || { echo "s1 changed: md5 $sum, was $SNAPSUM"; return 1; }
  echo "s1: md5 $sum as before"
}

final_cleanup_and_audit() {
  local v
  # The killed server back first: the deletes free its thin devices too.
  [ -z "$DEAD" ] || { ip link set vmlab-ss$DEAD up && vs_storage_agent_start "$DEAD"; } || return 1
  for v in c1 c2 s1; do lvol $v >/dev/null 2>&1 && { detach $v; delete $v || return 1; }; done
  for v in s2 s3; do lvol $v >/dev/null 2>&1 && { delete $v || return 1; }; done
  vmlab_peer 'vs_stop h && echo "the peer head agent exited 0"' && [ -z "$(vmlab_peer vs_dm_devices)" ] || return 1
  vs_cluster_down && "$VS_BIN/vastsky-manager" --db $VS_W/manager.db --audit
}

fail_out() { vs_dump; vmlab_summary snap; exit 1; }
vmlab_check "setup: modules, 3 netns, iscsid, TLS, 3 loop disks of 2200 MiB" setup || fail_out
vmlab_check "manager (grace 30 s, overcommit 4), 3 storage agents and the head agent up" cluster || fail_out
vmlab_check "a second head: the peer VM's own iscsid, initiator and head agent, registered" peer_up || fail_out
vmlab_check "v1: 1 GiB, 2 legs, attached" volume || fail_out
vmlab_check "a. createSnapshot s1 of v1 under 4 threads of tagged 4 KiB writes" snapshot_under_writes || fail_out
vmlab_check "a. s1 listed: SNAPSHOT (lvoltype 7), read_only, capacity 1, associated to v1 (and v1 from s1)" listed_as_snapshot
vmlab_check "a. s1 attached: every tagged block holds the last generation acknowledged before the call or a later one in flight, one instant (within the pause), on the volume and on each leg" snapshot_holds_writes || fail_out
vmlab_check "a. s1's legs identical" snapshot_legs_identical
vmlab_check "a. v1 holds the last generation of every block" origin_holds_last
vmlab_check "b. a write to s1's device fails (read-only), its data unchanged" snapshot_read_only
vmlab_check "c. clone c1 of s1 attached: a writable volume, reads as s1" clone_reads_as_snapshot
vmlab_check "c. c1 written and verified (fio crc32c)" clone_written
vmlab_check "c. v1 and s1 keep their own content (last generations, md5)" others_unchanged
vmlab_check "c2. clone c2 of the attached v1, attached on the second head: holds v1's last generations" clone_on_second_head
vmlab_check "c2. c2 written in the peer (fio crc32c) while v1 takes tagged writes here: both verified, s1 unchanged" both_written_at_once
vmlab_check "d. snapshots s2 and s3 of v1 around 300 random 4 KiB writes" around_known_writes
vmlab_check "d. listChangedBlocks(s3, base s2) covers every block written" changed_blocks_cover
vmlab_check "d. listChangedBlocks(v1, base s3) is empty" nothing_changed_since
vmlab_check "d. listChangedBlocks with a base that is no snapshot: EINVAL" base_not_snapshot
vmlab_check "e. v1 detached and deleted: s1 reads the same, c1 and c2 (second head) still verify" origin_deleted
if [ "${SNAP_FAULT:-1}" = 1 ]; then
  vmlab_check "f. s1 detached; the storage server of one of its legs killed" kill_snapshot_leg_server &&
  vmlab_check "f. the manager replaced and rebuilt the leg on its own" leg_replaced_and_rebuilt &&
  vmlab_check "f. s1 attached again: legs identical, tagged blocks and md5 as before" rebuilt_snapshot_reads_same
fi
vmlab_check "deletes, clean shutdown, database audit" final_cleanup_and_audit
vmlab_summary snap || { vs_dump; exit 1; }
