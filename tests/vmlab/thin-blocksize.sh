#!/bin/bash
# Runs INSIDE the VM lab: what a dm-thin pool block size costs, to choose the
# default (agents/host/thin_pool.h). For each block size: random 4 KiB
# direct writes (fio, iodepth 16) to fresh space of a thin device (each
# provisions, and zeroes, a whole block) against the same writes again
# (rewrites of provisioned blocks), and the metadata a 16 TiB pool needs
# (VastSky's 48 bytes a block, and thin_metadata_size for 10,000 thins).
# The pool's data is a loop device on tmpfs, so the numbers show dm-thin's
# own cost (zeroing, mapping), not a disk's. Host side:
#   tests/vmlab/vm.sh run tests/vmlab/thin-blocksize.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

WRITES=${THIN_BS_WRITES:-512}
vmlab_load_modules loop || exit 1
vmlab_disks_mount 1200m
meta=$(losetup -f --show "$(vmlab_sparse_file meta.img 64)")
data=$(losetup -f --show "$(vmlab_sparse_file data.img 1024)")
data_sectors=$((1024 * 2048))

fio_write() {   # DEVICE -> "iops mean_clat_us"
  fio --name=w --filename="$1" --rw=randwrite --bs=4k --direct=1 --ioengine=libaio --iodepth=16 \
      --number_ios="$WRITES" --size=16g --randrepeat=1 --randseed=4711 --norandommap \
      --output-format=json 2>/dev/null |
    python3 -c 'import json,sys; w=json.load(sys.stdin)["jobs"][0]["write"]; print("%.0f %.0f" % (w["iops"], w["clat_ns"]["mean"] / 1000))'
}

printf '%-8s %12s %12s %12s %12s %8s %14s %14s\n' block first_iops first_us rewrite_iops rewrite_us ratio meta16T_48B meta16T_tools
for kib in 64 256 1024; do
  sectors=$((kib * 2))
  dd if=/dev/zero of="$meta" bs=4096 count=1 oflag=direct 2>/dev/null
  timeout 30 dmsetup create vsbs-pool --table "0 $data_sectors thin-pool $meta $data $sectors 0 1 error_if_no_space" || exit 1
  timeout 30 dmsetup message vsbs-pool 0 "create_thin 1" || exit 1
  timeout 30 dmsetup create vsbs-thin --table "0 $((16 * 1024 * 2048)) thin /dev/mapper/vsbs-pool 1" || exit 1
  read -r fi fl < <(fio_write /dev/mapper/vsbs-thin)
  read -r ri rl < <(fio_write /dev/mapper/vsbs-thin)
  used=$(dmsetup status vsbs-pool | awk '{print $6}')
  m48=$((48 * (16 * 1024 * 1024 * 1024 * 2 / sectors) / 1048576))
  mtools=$(thin_metadata_size -b "${kib}k" -s 16t -m 10000 -u m -n 2>/dev/null)
  printf '%-8s %12s %12s %12s %12s %8s %12sMiB %12sMiB   (data blocks used %s)\n' "${kib}KiB" "$fi" "$fl" "$ri" "$rl" \
    "$(python3 -c "print('%.1f' % ($fl / $rl))")" "$m48" "${mtools%.*}" "$used"
  timeout 30 dmsetup remove vsbs-thin && timeout 30 dmsetup remove vsbs-pool || exit 1
  # The next pool starts from nothing: punch the data out of tmpfs.
  fallocate -p -o 0 -l 1G "$VMLAB_DISKS/data.img"
done
losetup -d "$meta" "$data"
