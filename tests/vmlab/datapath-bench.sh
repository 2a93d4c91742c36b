#!/bin/bash
# Runs INSIDE the VM lab (`make bench` runs it): the data path's figures.
# 1. The six disks raw, each exported as one LUN before any agent runs (the
#    head logged in to each): sequential and random, read and write, 4 fio
#    jobs each spread over all six.
# 2. A volume of four 1 GiB mirrors (redundancy 2) on thin legs over the
#    same disks: its attach time through the manager (three times), then
#    the same fio runs, one job per mirror.
# 3. First write against rewrite (4 KiB random, thin space), the attach time
#    of a 16-mirror volume, sequential writes during a drain's rebuild
#    against without, and each rebuilt leg's pool space against its mirror's
#    other leg.
# Under TCG absolute numbers mean little; the ratios are the figures.
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/cluster.sh"
RUNTIME=${BENCH_FIO_SECONDS:-15}
CHAP_USER=bench CHAP_SECRET=bench-secret-1
declare -A BW

# fio_bw KEY RW BS ARGS...: KiB/s of one time-based run, 4 jobs x iodepth 2.
# The backing files live on a tmpfs inside a 2 GiB guest, so every run keeps
# to a small region that it rewrites for RUNTIME seconds.
fio_bw() {
  local key=$1 rw=$2 bs=$3 out; shift 3
  out=$(timeout $((RUNTIME + 120)) fio --name=bench --direct=1 --ioengine=libaio --iodepth=2 --numjobs=4 \
        --group_reporting --rw="$rw" --bs="$bs" --runtime="$RUNTIME" --time_based --randseed=7 \
        --output-format=json "$@") || return 1
  BW[$key]=$(echo "$out" | vs_json "int(d['jobs'][0]['read']['bw'] + d['jobs'][0]['write']['bw'])")
}
fio_all() {   # PREFIX ARGS...: the four workloads
  local p=$1; shift
  fio_bw "$p seq-read" read 1m "$@" && fio_bw "$p seq-write" write 1m "$@" &&
  fio_bw "$p rand-read" randread 4k "$@" && fio_bw "$p rand-write" randwrite 4k "$@"
}

# The disks raw: before any agent runs, each backing file is exported
# through LIO as one LUN (the lab's own configfs helpers), the head logs in
# and fio runs 1 GiB into each, clear of the first MiB that would later
# hold the agent's label. Then everything is taken down again.
raw_luns() {
  local i d f iqn name ip devs=() names=()
  for i in $(seq "$VS_SERVERS"); do
    ip=$(vmlab_ss_ip "$i")
    for d in $(seq "$VS_DISKS_PER"); do
      f=$VMLAB_DISKS/ss$i-disk$d.img name=raw-ss$i-d$d iqn=iqn.2024-01.org.vastsky.vmlab:raw-ss$i-d$d
      vmlab_lio_export "ss$i" "$name" "$iqn" "$f" "$ip" && vmlab_lio_allow "$iqn" "$VMLAB_HEAD_IQN" $CHAP_USER $CHAP_SECRET &&
        vmlab_iscsi_node "$iqn" "$ip" && vmlab_iscsi_auth "$iqn" "$ip" $CHAP_USER $CHAP_SECRET || return 1
      devs+=("$(vmlab_iscsi_login "$iqn" "$ip")") || return 1
      names+=("$iqn|$ip|$name")
    done
  done
  local files; files=$(IFS=:; echo "${devs[*]}")
  # Every job spreads over all six LUNs (fio round-robins its files).
  fio_all raw --filename="$files" --size=256m --offset=1g || return 1
  for d in "${names[@]}"; do
    IFS="|" read -r iqn ip name <<< "$d"
    vmlab_iscsi_logout "$iqn" "$ip" >/dev/null 2>&1
    vmlab_ia -m node -T "$iqn" -o delete >/dev/null 2>&1
    vmlab_lio_unexport "$iqn" "$name" || return 1
  done
}

ATTACH_TIMES=
volume() {
  local hsvr t0 n
  hsvr=$(vs_hsvr) &&
  vs_mrpc createLogicalVolume '{"lvolname": "bench", "capacity": 4, "redundancy": 2}' >/dev/null || return 1
  for n in 1 2 3; do
    t0=$(vmlab_now)
    vs_mrpc attachLogicalVolume "{\"lvolname\": \"bench\", \"hsvrid\": $hsvr}" >/dev/null || return 1
    ATTACH_TIMES+=" $(vmlab_elapsed "$t0")s"
    [ $n = 3 ] || vs_mrpc detachLogicalVolume '{"lvolname": "bench"}' >/dev/null || return 1
  done
  # One job per mirror: 64 MiB at the start of each, all 8 legs busy.
  fio_all vol --filename=/dev/vastsky/bench --size=64m --offset_increment=1g
}


# First-write cost: 4 KiB random writes (32 MiB over 256 MiB, queue depth 16)
# to a fresh volume, whose every write provisions and zeroes a pool block,
# then the same offsets again (rewrites of provisioned blocks).
declare -A IOPS
fio_iops() {   # KEY ARGS...
  local key=$1 out; shift
  out=$(timeout 900 fio --name=fw --direct=1 --ioengine=libaio --iodepth=16 --rw=randwrite --bs=4k --size=256m \
        --io_size=32m --randrepeat=1 --randseed=11 --output-format=json "$@") || return 1
  IOPS[$key]=$(echo "$out" | vs_json "int(d['jobs'][0]['write']['iops'])")
}
first_write() {
  local hsvr; hsvr=$(vs_hsvr)
  vs_mrpc createLogicalVolume '{"lvolname": "fw", "capacity": 1, "redundancy": 2}' >/dev/null &&
    vs_mrpc attachLogicalVolume "{\"lvolname\": \"fw\", \"hsvrid\": $hsvr}" >/dev/null || return 1
  fio_iops fresh --filename=/dev/vastsky/fw && fio_iops rewrite --filename=/dev/vastsky/fw || return 1
  vs_mrpc detachLogicalVolume '{"lvolname": "fw"}' >/dev/null
}

# Attach time of a volume of 16 mirrors (32 legs on 6 disks): overcommit 4
# gives the room; thin legs hold nothing until written.
BIG_ATTACH=
big_attach() {
  local hsvr t0; hsvr=$(vs_hsvr)
  vs_mrpc setClusterSetting '{"name": "overcommit", "value": "4"}' >/dev/null &&
    vs_mrpc createLogicalVolume '{"lvolname": "big", "capacity": 16, "redundancy": 2}' >/dev/null || return 1
  t0=$(vmlab_now)
  vs_mrpc attachLogicalVolume "{\"lvolname\": \"big\", \"hsvrid\": $hsvr}" >/dev/null || return 1
  BIG_ATTACH=$(vmlab_elapsed "$t0")
  vs_mrpc detachLogicalVolume '{"lvolname": "big"}' >/dev/null
}

# A rebuild under a client: the disk under the bench volume's first leg is
# drained (a new leg is added and rebuilt, then the old one dropped) while
# fio writes sequentially; then each mirror's legs' pool space (dm-thin's
# mapped sectors of the two thin devices) when the drain ended (the head
# may have trimmed the new legs already: it does at its first look once a
# mirror is whole), and again once every mirror's legs hold about the same
# (agents/PROTOCOL.md, "Rebuilt legs stay thin"), with the time that took.
thin_sectors() {   # PDSKID THIN_ID: sectors the thin device has provisioned
  dmsetup status "$(printf 'vastsky-thin-%08x-%d' "$1" "$2")" | awk '{print $4}'
}
REBUILT=
rebuild_under_load() {
  local from
  from=$(vs_state legs bench | awk 'NR == 1 {print $5}')
  [ -n "$from" ] || return 1
  vs_mrpc setRebuildRates '{"disk_mibs": 50, "cluster_mibs": 0}' >/dev/null &&
    vs_mrpc drainPhysicalDisk "{\"pdskid\": $from}" >/dev/null || return 1
  fio_bw "rebuild seq-write" write 1m --filename=/dev/vastsky/bench --size=64m --offset_increment=1g || return 1
  vs_wait 3000 drained "$from" || { echo "the drain did not finish"; return 1; }
  # The moved legs: compared with the other leg of their mirror.
  local line t0
  while read -r line; do REBUILT+="$line;"; done < <(vs_mrpc showLogicalVolume '{"lvolname": "bench"}' | python3 -c '
import json, sys
d = json.load(sys.stdin)
def legs(node):
    if node["lvoltype"] == 3: yield node
    for c in node.get("components", []): yield from legs(c)
def mirrors(node):
    if node["lvoltype"] == 2: yield node
    for c in node.get("components", []): yield from mirrors(c)
for m in mirrors(d):
    l = [(x["lvolspec"]["pdskid"], x["lvolspec"]["thin_id"]) for x in legs(m)]
    print(" ".join("%d:%d" % p for p in l))')
  leg_space "when the drain ended"
  t0=$(vmlab_now)
  vs_wait 3000 vs_legs_thin bench 1000000 || { echo "the new legs were not trimmed"; return 1; }
  TRIM_TIME=$(vmlab_elapsed "$t0")
  leg_space "trimmed"
}
SPACE=() TRIM_TIME=
leg_space() {   # LABEL: each mirror's two legs' pool space, into SPACE
  local label=$1 p a b pairs
  IFS=';' read -ra pairs <<< "$REBUILT"
  for p in "${pairs[@]}"; do
    set -- $p
    [ $# = 2 ] || continue
    a=$(thin_sectors "${1%%:*}" "${1#*:}") b=$(thin_sectors "${2%%:*}" "${2#*:}")
    SPACE+=("$label: pdsk ${1%%:*} thin ${1#*:} $((a / 2048)) MiB, pdsk ${2%%:*} thin ${2#*:} $((b / 2048)) MiB")
  done
}
drained() {
  ! vs_mrpc showLogicalVolume '{"lvolname": "bench"}' | grep -q "\"pdskid\": $1[,}]" &&
    [ "$(vs_mrpc getClusterStatus '{}' | vs_json 'd["rebuilds_queued"] + d["rebuilds_running"]')" = 0 ]
}

vmlab_check "setup: 3 storage servers x 2 disks" vs_lab_setup 3 2 3700 || { vs_dump; exit 1; }
vmlab_check "fio on the 6 disks raw, one LUN each, before any agent" raw_luns || { vs_dump; exit 1; }
vmlab_check "cluster up: a thin pool per disk" vs_cluster_up || { vs_dump; exit 1; }
vmlab_check "volume of 4 mirrors on thin legs: attach x3, fio" volume || { vs_dump; exit 1; }
vmlab_check "first write against rewrite, 4 KiB random" first_write
vmlab_check "attach of a 16-mirror volume" big_attach
vmlab_check "a drain's rebuild under sequential writes" rebuild_under_load
echo
echo "bench: attach of a 4-mirror volume (8 legs on 6 disks), seconds:$ATTACH_TIMES"
printf 'bench: %-11s %12s %12s %7s\n' mode "raw KiB/s" "thin KiB/s" ratio
for m in seq-read seq-write rand-read rand-write; do
  printf 'bench: %-11s %12s %12s %7s\n' $m "${BW[raw $m]}" "${BW[vol $m]}" \
    "$(python3 -c "print('%.2f' % (${BW[vol $m]} / max(1, ${BW[raw $m]})))")"
done
echo "bench: first write to thin space, 4 KiB random: ${IOPS[fresh]:-?} IOPS; rewrite ${IOPS[rewrite]:-?} IOPS; ratio $(python3 -c "print('%.2f' % (${IOPS[fresh]:-0} / max(1, ${IOPS[rewrite]:-0})))")"
echo "bench: attach of a 16-mirror volume (32 legs on 6 disks): ${BIG_ATTACH:-?} s"
echo "bench: sequential write during a rebuild: ${BW[rebuild seq-write]:-?} KiB/s against ${BW[vol seq-write]:-?} without; ratio $(python3 -c "print('%.2f' % (${BW[rebuild seq-write]:-0} / max(1, ${BW[vol seq-write]:-0})))")"
for line in "${SPACE[@]}"; do echo "bench: mirror legs' pool space, $line"; done
echo "bench: the head trimmed the rebuilt legs ${TRIM_TIME:-?} s after the drain ended"
vs_mrpc detachLogicalVolume '{"lvolname": "bench"}' >/dev/null
vs_cluster_down
vmlab_summary datapath-bench
