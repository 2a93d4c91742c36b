#!/bin/bash
# Runs INSIDE the VM lab (`make bench` runs it): the data path's figures.
# 1. The six LUNs used directly (the head logged in to each, as the manager
#    would authorise it): sequential and random, read and write, 4 fio jobs
#    each spread over all six.
# 2. A volume of four 1 GiB mirrors (redundancy 2) over the same LUNs: its
#    attach time through the manager (three times), then the same fio runs,
#    one job per mirror.
# Under TCG absolute numbers mean little; the ratio volume/LUNs is the figure.
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

raw_luns() {
  local disks iqns=() devs=() i p ip
  disks=$(vs_mrpc listPhysicalDisks '{}') || return 1
  for p in $(echo "$disks" | vs_json "' '.join('%d:%d' % (x['pdskid'], x['ssvrid']) for x in d)"); do
    i=${p#*:} p=${p%%:*}
    vs_arpc "$i" allowInitiator "{\"opid\": \"bench-$p\", \"pdskid\": $p, \"initiator\": \"$VMLAB_HEAD_IQN\", \"chap_user\": \"$CHAP_USER\", \"chap_secret\": \"$CHAP_SECRET\"}" >/dev/null || return 1
    local iqn; iqn=$(printf 'iqn.2010-10.org.vastsky:pdsk-%08x' "$p")
    ip=$(vs_mrpc listStorageServers "{\"ssvrid\": $i}" | vs_json 'd[0]["ip_data"][0]')
    vmlab_iscsi_node "$iqn" "$ip" && vmlab_iscsi_auth "$iqn" "$ip" $CHAP_USER $CHAP_SECRET || return 1
    devs+=("$(vmlab_iscsi_login "$iqn" "$ip")") || return 1
    iqns+=("$iqn|$ip|$i|$p")
  done
  local files; files=$(IFS=:; echo "${devs[*]}")
  # Every job spreads over all six LUNs (fio round-robins its files).
  fio_all raw --filename="$files" --size=256m || return 1
  for p in "${iqns[@]}"; do   # back to how the manager left it
    IFS="|" read -r iqn ip i p <<< "$p"
    vmlab_iscsi_logout "$iqn" "$ip" >/dev/null 2>&1
    vmlab_ia -m node -T "$iqn" -o delete >/dev/null 2>&1
    vs_arpc "$i" revokeInitiator "{\"opid\": \"bench-r$p\", \"pdskid\": $p, \"initiator\": \"$VMLAB_HEAD_IQN\"}" >/dev/null || return 1
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

vmlab_check "setup: 3 storage servers x 2 disks" vs_lab_setup 3 2 3700 || { vs_dump; exit 1; }
vmlab_check "cluster up" vs_cluster_up || { vs_dump; exit 1; }
vmlab_check "fio on the 6 LUNs directly" raw_luns || { vs_dump; exit 1; }
vmlab_check "volume of 4 mirrors: attach x3, fio" volume || { vs_dump; exit 1; }
echo
echo "bench: attach of a 4-mirror volume (8 legs on 6 disks), seconds:$ATTACH_TIMES"
printf 'bench: %-11s %12s %12s %7s\n' mode "LUNs KiB/s" "volume KiB/s" ratio
for m in seq-read seq-write rand-read rand-write; do
  printf 'bench: %-11s %12s %12s %7s\n' $m "${BW[raw $m]}" "${BW[vol $m]}" \
    "$(python3 -c "print('%.2f' % (${BW[vol $m]} / max(1, ${BW[raw $m]})))")"
done
vs_mrpc detachLogicalVolume '{"lvolname": "bench"}' >/dev/null
vs_cluster_down
vmlab_summary datapath-bench
