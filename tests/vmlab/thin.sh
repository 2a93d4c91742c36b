#!/bin/bash
# Runs INSIDE the VM lab: thin legs end to end. Two storage servers of one
# 2200 MiB disk each (a thin pool each), the manager and a head agent.
#   1. Volume va (1 GiB, 2 legs) is filled with a pattern, detached and
#      deleted; the manager has the agents delete its thin devices and the
#      pools hold no data block afterwards.
#   2. Volume vb, on the same disks, gets 4 KiB blocks written at random;
#      both legs read whole from the head hold them, and every other byte of
#      every MiB reads zero (dm-thin zeroes a newly provisioned block).
#   3. Volume vc is attached and detached, so its LUNs exist on the same
#      targets; with vb attached, the head's sessions (its own CHAP
#      credentials, a full rescan) show vb's legs and never vc's.
#   4. The metadata device under the pool of one of vb's legs fails (the
#      error target swapped in): dm-thin fails the pool (mode ro or fail,
#      needs_check), the head holds that leg dead, vb's writes go on to the
#      other leg and an event names `vastsky pdsk repair`. The device healed,
#      `vastsky pdsk repair` runs thin_check and brings the pool and its LUNs
#      back at their numbers, vb's leg there marked stale (dm-thin may have
#      lost writes it acknowledged in the second before the pool failed,
#      which the bitmap need not cover); the head takes the leg back by
#      rebuilding it in full, and both legs read whole hold every block
#      written, those just before the failure and while it was dead too.
# Host side: tests/vmlab/vm.sh run tests/vmlab/thin.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/cluster.sh"

HSVR=
NBLOCKS=16
setup() { vs_lab_setup 2 1 2200; }
cluster() { vs_cluster_up && HSVR=$(vs_hsvr) && [ -n "$HSVR" ]; }
attach() { vs_mrpc attachLogicalVolume "{\"lvolname\": \"$1\", \"hsvrid\": $HSVR}" >/dev/null; }
detach() { vs_mrpc detachLogicalVolume "{\"lvolname\": \"$1\"}" >/dev/null; }
create() { vs_mrpc createLogicalVolume "{\"lvolname\": \"$1\", \"capacity\": 1, \"redundancy\": 2}" >/dev/null; }
lvolid() { vs_mrpc listLogicalVolumes "{\"lvolname\": \"$1\"}" | vs_json "d[0]['lvolid']"; }
# legs NAME: "chunkid pdskid" per leg of the volume.
legs() { vs_state legs "$1" | awk '{print $4, $5}'; }
pool_blocks() {   # PDSKID: data blocks the pool has in use (thin-pool status)
  dmsetup status "$(printf 'vastsky-pool-%08x' "$1")" | awk '{split($6, a, "/"); print a[1]}'
}
pdsks() { vs_mrpc listPhysicalDisks '{}' | vs_json '" ".join(str(p["pdskid"]) for p in d)'; }

filled_and_deleted() {
  create va && attach va || return 1
  # 1 GiB of 'Z': every block of both legs provisioned with non-zero data.
  tr '\0' 'Z' < /dev/zero | timeout 900 dd of=/dev/vastsky/va bs=1M count=1024 oflag=direct iflag=fullblock status=none ||
    return 1
  [ "$(dd if=/dev/vastsky/va bs=1M skip=1000 count=1 iflag=direct status=none | tr -d Z | wc -c)" = 0 ] ||
    { echo "the pattern did not read back"; return 1; }
  local p; for p in $(pdsks); do echo "pdsk $p: $(pool_blocks "$p") data blocks in use"; done
  detach va && vs_mrpc deleteLogicalVolume '{"lvolname": "va"}' >/dev/null
}
pools_empty() {
  local p; for p in $(pdsks); do [ "$(pool_blocks "$p")" = 0 ] || return 1; done
  [ -z "$(vs_thin_devices)" ]
}
space_returned() {
  vs_wait 300 pools_empty || { for p in $(pdsks); do echo "pdsk $p: $(pool_blocks "$p") blocks"; done; vs_thin_devices; return 1; }
}

# check_leg DEVICE LVOL_BYTES OFFSETS...: python reads the data slice; the
# 4 KiB blocks at OFFSETS must hold the pattern, every other byte zero.
check_leg() {
  python3 - "$@" <<'EOF'
import mmap, os, sys
dev, size, offs = sys.argv[1], int(sys.argv[2]), set(int(o) for o in sys.argv[3:])
pattern = b"vastsky-thin-leg" * 256
# O_DIRECT: dm-raid writes to the slice below its page cache, which may
# still hold what an earlier read saw.
fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
mm = mmap.mmap(-1, 1 << 20)
bad = 0
for at in range(0, size, 1 << 20):
    try:
        buf = bytes(mm[:os.preadv(fd, [mm], at)])
    except OSError as e:
        bad += 1; print("%s: MiB at %d: %s" % (dev, at, e)); continue
    for o in [o for o in offs if at <= o < at + (1 << 20)]:
        if buf[o - at:o - at + 4096] != pattern: bad += 1; print("block at %d: not the pattern" % o)
        buf = buf[:o - at] + bytes(4096) + buf[o - at + 4096:]
    if buf.count(0) != len(buf): bad += 1; print("MiB at %d: not zero" % at)
sys.exit(1 if bad else 0)
EOF
}
OFFSETS=
# vb's only writes: NBLOCKS 4 KiB blocks at random offsets (each provisions
# a pool block that dm-thin must zero around it). Then both legs are read
# whole from the head: those blocks hold the pattern, every other byte of
# every MiB reads zero.
written_blocks_only() {
  local i o id c n=0 total=0
  create vb && attach vb || return 1
  for i in $(seq $NBLOCKS); do
    o=$(( (RANDOM * 32768 + RANDOM) % (262144 - 1) * 4096 ))
    OFFSETS+=" $o"
    python3 -c 'import sys; sys.stdout.buffer.write(b"vastsky-thin-leg" * 256)' |
      dd of=/dev/vastsky/vb bs=4096 seek=$((o / 4096)) count=1 oflag=direct status=none || return 1
  done
  id=$(lvolid vb)
  while read -r c _; do
    total=$((total + 1))
    # shellcheck disable=SC2086
    check_leg "/dev/mapper/vastsky-$id-c$c-data" $((1 << 30)) $OFFSETS && n=$((n + 1))
  done <<< "$(legs vb)"
  echo "compared $n legs of $total (1024 MiB each): $NBLOCKS written 4 KiB blocks, zeros in every other byte"
  [ "$n" = "$total" ] && [ "$total" = 2 ]
}

# The serials the head's sessions show after a rescan of every target.
head_serials() {
  local t; for t in $(vs_sessions); do vmlab_iscsi_luns "$t"; done | awk '{print $1}' | sort
}
serials_of() { legs "$1" | while read -r c _; do printf 'leg-%08x\n' "$c"; done | sort; }
others_invisible() {
  create vc && attach vc && detach vc || return 1
  # vc's LUNs are on the targets (so the check below means something)...
  local p luns=0
  for p in $(pdsks); do
    luns=$((luns + $(ls -d "$VMLAB_LIO/iscsi/iqn.2010-10.org.vastsky:pdsk-$(printf %08x "$p")/tpgt_1/lun/lun_"* | wc -l)))
  done
  [ "$luns" = 4 ] || { echo "expected 4 LUNs (vb's and vc's legs) on the targets, found $luns"; return 1; }
  # ...and the head, attached to vb with its own CHAP credentials, sees vb's legs only.
  local seen; seen=$(head_serials)
  [ "$seen" = "$(serials_of vb)" ] || { echo "the head sees: $seen; vb's legs: $(serials_of vb | tr '\n' ' ')"; return 1; }
  echo "the head sees ${seen//$'\n'/ }; vc's legs $(serials_of vc | tr '\n' ' ')are on the targets but not mapped to it"
}

# 4. A pool repaired.
SICK= META_TABLE= LUNS_BEFORE=
meta_dev() { printf 'vastsky-pool-%08x-meta' "$SICK"; }
pool_mode() { vs_mrpc listPhysicalDisks '{}' | vs_json "[p['pool_mode'] for p in d if p['pdskid'] == $SICK][0]"; }
# The LUNs of the sick disk's target and the head's ACL maps: "lun_N serial".
target_luns() {
  local t; t="$VMLAB_LIO/iscsi/iqn.2010-10.org.vastsky:pdsk-$(printf %08x "$SICK")/tpgt_1"
  for l in "$t"/lun/lun_*; do echo "$(basename "$l") $(cat "$l"/*/wwn/vpd_unit_serial 2>/dev/null | awk '{print $NF}')"; done
  ls -R "$t/acls" 2>/dev/null | grep -c '^lun_' | sed 's/^/mapped LUN entries: /'
}
# write_block OFFSET: one pattern block, written with a flush (a metadata commit).
write_block() {
  OFFSETS+=" $1"
  python3 -c 'import sys; sys.stdout.buffer.write(b"vastsky-thin-leg" * 256)' |
    dd of=/dev/vastsky/vb bs=4096 seek=$(($1 / 4096)) count=1 oflag=direct conv=fsync status=none
}
pool_down() { case $(pool_mode) in ro|fail) vs_health | grep -q D ;; *) return 1 ;; esac; }
# Fresh blocks (never written, so each needs a new mapping) until dm-thin
# fails the pool and dm raid the leg.
write_until_down() {
  local i
  for i in $(seq 40); do
    write_block $(( (4096 - i) * 65536 * 4 )) || return 1
    pool_down && return 0
    sleep 1
  done
  return 1
}
pool_fails() {
  SICK=$(legs vb | head -1 | awk '{print $2}')
  LUNS_BEFORE=$(target_luns)
  META_TABLE=$(dmsetup table "$(meta_dev)") || return 1
  dmsetup suspend --noflush "$(meta_dev)" &&
    dmsetup load "$(meta_dev)" --table "0 $(echo "$META_TABLE" | awk '{print $2}') error" &&
    dmsetup resume "$(meta_dev)" || return 1
  write_until_down || { echo "pool mode $(pool_mode), health $(vs_health)"; dmsetup status "$(printf 'vastsky-pool-%08x' "$SICK")"; return 1; }
  echo "pdsk $SICK: pool mode $(pool_mode), vb health $(vs_health)"
  # Written while the leg is dead: the bitmap resyncs these once it is back.
  local i
  for i in $(seq 8); do
    write_block $(( (2048 + i) * 65536 * 4 )) || return 1
  done
  # dm-thin shows the flag in mode ro; a pool in mode fail shows only "Fail".
  [ "$(pool_mode)" = fail ] || dmsetup status "$(printf 'vastsky-pool-%08x' "$SICK")" | grep -q needs_check ||
    { echo "no needs_check"; return 1; }
  vs_wait 150 eval "vs_mrpc listEvents '{\"count\": 20}' | grep -q 'pdsk repair'" ||
    { echo "no event names vastsky pdsk repair"; return 1; }
}
pool_repaired() {
  dmsetup suspend --noflush "$(meta_dev)" && dmsetup load "$(meta_dev)" --table "$META_TABLE" &&
    dmsetup resume "$(meta_dev)" || return 1
  vs_cli pdsk repair "$(printf 'pdsk-%08x' "$SICK")" || return 1
  [ "$(pool_mode)" = rw ] || vs_wait 150 eval '[ "$(pool_mode)" = rw ]' || { echo "pool mode $(pool_mode)"; return 1; }
  ! dmsetup status "$(printf 'vastsky-pool-%08x' "$SICK")" | grep -q needs_check || { echo "needs_check left"; return 1; }
  local now; now=$(target_luns)
  [ "$now" = "$LUNS_BEFORE" ] || { echo "LUNs before: $LUNS_BEFORE"; echo "LUNs after: $now"; return 1; }
  echo "pdsk $SICK: mode rw, LUNs and ACL maps as before: ${now//$'\n'/; }"
}
leg_taken_back() {
  vs_wait 900 eval '[ "$(vs_health)" = AA:idle ]' || { echo "health $(vs_health)"; grep -i 'leg' $VS_W/head.log | tail -5; return 1; }
  grep -q 'is marked stale by its storage server' $VS_W/head.log || { echo "the head did not rebuild it in full"; return 1; }
  # The head trims the rebuilt leg at its first look once the mirror is
  # whole (discards of what the source has not mapped): reading the leg
  # meanwhile races those discards, so the read waits for the trim.
  vs_wait 900 vs_legs_thin vb 16 >/dev/null || { vs_legs_thin vb 16; grep -i trim $VS_W/head.log | tail -3; return 1; }
  vs_legs_thin vb 16
  local id c n=0 total=0
  id=$(lvolid vb)
  while read -r c _; do
    total=$((total + 1))
    # shellcheck disable=SC2086
    check_leg "/dev/mapper/vastsky-$id-c$c-data" $((1 << 30)) $OFFSETS && n=$((n + 1))
  done <<< "$(legs vb)"
  echo "compared $n legs of $total (1024 MiB each): $(wc -w <<< "$OFFSETS") written 4 KiB blocks, zeros elsewhere"
  [ "$n" = "$total" ] && [ "$total" = 2 ] && return 0
  echo "---- mirror status"; dmsetup status | grep "vastsky-$id"
  echo "---- kernel (last 25 lines)"; dmesg | tail -25
  grep -i 'leg\|stale\|rebuil' $VS_W/head.log | tail -10
  return 1
}

final_cleanup_and_audit() {
  detach vb && vs_mrpc deleteLogicalVolume '{"lvolname": "vb"}' >/dev/null &&
    vs_mrpc deleteLogicalVolume '{"lvolname": "vc"}' >/dev/null && space_returned && vs_cluster_down || return 1
  "$VS_BIN/vastsky-manager" --db $VS_W/manager.db --audit
}

fail_out() { vs_dump; vmlab_summary thin; exit 1; }
vmlab_check "setup: modules, 2 netns, iscsid, TLS, 2 loop disks of 2200 MiB" setup || fail_out
vmlab_check "manager, 2 storage agents (a thin pool per disk) and the head agent up" cluster || fail_out
vmlab_check "va: 1 GiB written with a pattern, detached, deleted" filled_and_deleted || fail_out
vmlab_check "va's thin devices deleted by the agents; the pools hold no data block" space_returned
vmlab_check "vb on the same disks, 4 KiB blocks written: both legs read them back and zeros in every other byte of every MiB" written_blocks_only
vmlab_check "vc's LUNs on the same targets are invisible to the head attached to vb" others_invisible
vmlab_check "pool metadata I/O errors under vb's leg: pool ro/fail with needs_check, the leg dead, an event names pdsk repair" pool_fails &&
vmlab_check "metadata device healed, vastsky pdsk repair: pool rw, LUNs and maps as before" pool_repaired &&
vmlab_check "the head rebuilt the stale leg in full and trimmed it back: mirror AA, both legs hold every block written (before, at and after the failure), zeros elsewhere" leg_taken_back
vmlab_check "detach, deletes, space back in the pools, clean shutdown, database audit" final_cleanup_and_audit
vmlab_summary thin || { vs_dump; exit 1; }
