#!/bin/bash
# VastSky VM lab: boots Debian's kernel under QEMU and runs one script in it.
#
#   tests/vmlab/vm.sh run SCRIPT [ARGS...]   run SCRIPT as root inside a fresh VM,
#                                            exit with its exit code
#   tests/vmlab/vm.sh shell                  interactive root shell on the serial
#                                            console (`exit` powers off; Ctrl-A x kills)
#
# Why a VM: the kernel this machine runs has no device-mapper, iSCSI or
# configfs, so the real data path (dm raid/linear, LIO, open-iscsi) can only be
# exercised under another kernel. The VM boots /boot/vmlinuz-* (Debian's
# linux-image-amd64) with the HOST's root filesystem as its root: read-only
# over virtio-9p, with a tmpfs overlay on top. So every host path (the repo,
# build/bin/*, /usr/sbin/iscsiadm, ...) is the same path inside the VM, nothing
# is installed into an image, and guest writes vanish at power-off.
#
# The VM has no NIC (-nic none): every address a test uses exists only inside
# the VM (see lib.sh). QEMU uses TCG, not KVM: KVM hangs on this host even
# though /dev/kvm exists.
#
# Per run, a work dir /tmp/vastsky-vmlab.XXXXXX holds:
#   shared/          9p share, read-write in the guest at the same path
#     output.log     the script's stdout+stderr (also streamed here)
#     rc             its exit code        watchdog.log  hang dump, if any
#     dmesg.log      guest kernel log at the end (or when the watchdog fired)
#   console.log      the guest serial console (kernel messages + script output)
#   qemu.log         QEMU's own stderr
# It is deleted after a successful run and kept after a failure (and always
# with VMLAB_KEEP=1). The initramfs is cached in $VMLAB_CACHE, keyed on the
# kernel version and on everything that goes into it.
#
# Environment:
#   VMLAB_MEM=2048       guest RAM, MiB          VMLAB_SMP=2   guest CPUs
#   VMLAB_TIMEOUT=600    seconds from QEMU start until the host kills the VM. The
#                        guest watchdog dumps its state (blocked tasks, dmesg, dm,
#                        iSCSI sessions, ps) a margin before that and kills the script.
#   VMLAB_KEEP=1         keep the work dir even on success (0: never keep it)
#   VMLAB_STREAM=log     what to stream while running: log (script output),
#                        console (serial console, with kernel messages), none
#   VMLAB_KERNEL=/boot/vmlinuz-X   kernel to boot (default: newest with modules)
#   VMLAB_ACCEL=tcg,thread=multi   QEMU accelerator
#   VMLAB_CACHE=/tmp/vastsky-vmlab-cache
#   VMLAB_PEER=1         also boot a second VM, "the peer" (VMLAB_PEER_MEM=1024 MiB,
#                        1 vCPU), linked to the first by one Ethernet segment
#                        (eth0 in each, a QEMU datagram socket in this work dir).
#                        It runs peer.sh, which executes the commands the first
#                        VM's script posts with vmlab_peer (lib.sh); its shared
#                        dir is shared/peer/, its console peer-console.log. The
#                        first VM can power it off (QEMU killed) and boot it
#                        again (vmlab_peer_poweroff, vmlab_peer_boot). It is
#                        stopped when the first VM ends; its oops fails the run.
#   VMLAB_PASSENV="A B"  host variables to export into the script's environment;
#                        VMLAB_*, VASTSKY_* and THRASH_* (thrash.sh's knobs)
#                        variables are always passed.
# The script also gets VMLAB_DIR (this directory), VMLAB_SHARED (the shared
# dir: files written there survive the VM) and runs in the caller's cwd.
#
# Exit status: the script's; 124 on a timeout; 125 when the lab itself failed
# (no kernel, VM crashed before the script reported, ...); 123 when the guest
# kernel oopsed or panicked, even if the script finished (the VM is stopped
# a few seconds after an oops, not left wedged until the deadline; the last
# line names the function and module it was in: "vmlab: GUEST KERNEL OOPS
# in FUNCTION [MODULE]").
set -u

HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
MEM=${VMLAB_MEM:-2048}
SMP=${VMLAB_SMP:-2}
TIMEOUT=${VMLAB_TIMEOUT:-600}
KEEP=${VMLAB_KEEP:-}
STREAM=${VMLAB_STREAM:-log}
ACCEL=${VMLAB_ACCEL:-tcg,thread=multi}
CACHE=${VMLAB_CACHE:-/tmp/vastsky-vmlab-cache}
PEER=${VMLAB_PEER:-}
PEER_MEM=${VMLAB_PEER_MEM:-1024}

say() { echo "vmlab: $*" >&2; }
die() { say "$*"; exit 125; }
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
now() { echo "${EPOCHREALTIME/,/.}"; }   # bash 5, no fork
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

# ---------------------------------------------------------------- kernel
# The newest /boot/vmlinuz-* that has a module tree (the guest loads modules
# from the host's /lib/modules/<version>, seen over 9p).
find_kernel() {
  local k kv best=
  if [ -n "${VMLAB_KERNEL:-}" ]; then
    KERNEL=$VMLAB_KERNEL
    KV=${KERNEL##*/vmlinuz-}
  else
    for k in /boot/vmlinuz-*; do
      [ -e "$k" ] || continue
      kv=${k#/boot/vmlinuz-}
      [ -e "/lib/modules/$kv/modules.dep" ] && best="$best$kv"$'\n'
    done
    [ -n "$best" ] || die "no /boot/vmlinuz-* with modules in /lib/modules (run: tools/install-deps.sh --check-or-install --vmlab)"
    KV=$(printf '%s' "$best" | sort -V | tail -n 1)
    KERNEL=/boot/vmlinuz-$KV
  fi
  [ -r "$KERNEL" ] || die "cannot read $KERNEL (Debian installs it mode 0600: run as root)"
  [ -e "/lib/modules/$KV/modules.dep" ] || die "no modules for $KV in /lib/modules/$KV"
}

# ---------------------------------------------------------------- initramfs
# /init of the initramfs (busybox sh). It only reaches the real root:
# 9p host root (read-only, lower) + tmpfs (upper) -> overlay; the per-run
# shared dir (read-write 9p) mounted at its host path; then switch_root into
# guest-init.sh (named on the kernel command line) as PID 1.
INIT_SCRIPT='#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# The rootfs has no /dev/console node, so the kernel started us without stdio.
exec </dev/console >/dev/console 2>&1
fail() { echo "vmlab-initramfs: $*"; poweroff -f; sleep 60; }
for m in $(cat /modules.order); do insmod /lib/mod/$m || echo "vmlab-initramfs: insmod $m failed"; done
shared=; init=
for w in $(cat /proc/cmdline); do
  case $w in vmlab.shared=*) shared=${w#*=};; vmlab.init=*) init=${w#*=};; esac
done
# msize 512000: the largest the virtio transport accepts; cache=loose is fine
# for a root that is read-only in the guest.
MS=512000
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=$MS,cache=loose hostroot /lower || fail "9p mount of the host root failed"
mount -t tmpfs -o size=80%,mode=755 tmpfs /upper
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot || fail "overlay mount failed"
if [ -n "$shared" ]; then
  mkdir -p "/newroot$shared"
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=$MS shared "/newroot$shared" || fail "9p mount of $shared failed"
fi
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
[ -x "/newroot$init" ] || fail "vmlab.init=$init is not an executable file"
exec switch_root /newroot "$init"
'
# Modules the initramfs needs to reach the root, resolved with their
# dependencies for the guest kernel (modprobe -S), in load order.
ROOT_MODULES="virtio_pci 9pnet_virtio 9p overlay"

build_initramfs() {
  local key w m f b
  command -v modprobe >/dev/null || die "modprobe missing (apt-get install kmod)"
  # The initramfs has no libc: busybox must be the static build.
  [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 ||
    die "/bin/busybox is missing or not static (apt-get install busybox-static)"
  # Key: kernel version, its module tree (reinstall with the same version),
  # busybox, and the /init text.
  key=$( { echo "$KV $ROOT_MODULES"; stat -c %Y "/lib/modules/$KV/modules.dep";
           sha256sum /bin/busybox; printf '%s' "$INIT_SCRIPT"; } | sha256sum | cut -c1-12)
  INITRD=$CACHE/initramfs-$KV-$key.cpio.gz
  [ -s "$INITRD" ] && return 0
  mkdir -p "$CACHE" || die "cannot create $CACHE"
  w=$(mktemp -d "$CACHE/.build.XXXXXX") || die "mktemp failed"
  mkdir -p "$w/bin" "$w/lib/mod" "$w/proc" "$w/sys" "$w/dev" "$w/lower" "$w/upper" "$w/newroot"
  cp /bin/busybox "$w/bin/busybox"
  printf '%s' "$INIT_SCRIPT" > "$w/init"
  chmod 755 "$w/init"
  : > "$w/modules.order"
  for m in $ROOT_MODULES; do
    modprobe -S "$KV" --show-depends "$m" || { rm -rf "$w"; die "modprobe -S $KV --show-depends $m failed"; }
  done | awk '$1=="insmod"{print $2}' | awk '!seen[$0]++' > "$w/modlist"
  while read -r f; do
    b=$(basename "$f")
    case "$f" in
      *.xz)  /bin/busybox xz -dc "$f" > "$w/lib/mod/${b%.xz}"; b=${b%.xz} ;;
      *.zst) zstd -qdc "$f" > "$w/lib/mod/${b%.zst}"; b=${b%.zst} ;;
      *)     cp "$f" "$w/lib/mod/$b" ;;
    esac || { rm -rf "$w"; die "cannot copy module $f"; }
    echo "$b" >> "$w/modules.order"
  done < "$w/modlist"
  rm -f "$w/modlist"
  # busybox cpio: no dependency on the cpio package. Written to a temp name
  # and renamed, so concurrent runs never see a half-written file.
  (cd "$w" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$w.cpio.gz" &&
    mv -f "$w.cpio.gz" "$INITRD" || { rm -rf "$w" "$w.cpio.gz"; die "building the initramfs failed"; }
  say "built $INITRD ($(du -k "$INITRD" | cut -f1) KiB; modules: $(tr '\n' ' ' < "$w/modules.order"))"
  rm -rf "$w"
}

# ---------------------------------------------------------------- run
MODE=${1:-}
case "$MODE" in
  run)   shift; [ $# -ge 1 ] || usage
         SCRIPT=$(readlink -f "$1") && [ -f "$SCRIPT" ] || die "no such script: $1"
         shift ;;
  shell) shift; SCRIPT= ;;
  *)     usage ;;
esac
case "$TIMEOUT" in ''|*[!0-9]*) die "VMLAB_TIMEOUT must be whole seconds";; esac
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (tools/install-deps.sh --check-or-install --vmlab)"
find_kernel
build_initramfs

WORK=$(mktemp -d /tmp/vastsky-vmlab.XXXXXX) || die "mktemp failed"
S=$WORK/shared
mkdir -p "$S"
# Arguments NUL-separated, environment as shell code: guest-init reads both.
[ -n "$SCRIPT" ] && printf '%s\0' "$SCRIPT" "$@" > "$S/argv"
write_env() {   # SHARED_DIR: the environment guest-init sources
  for n in $(compgen -e) ${VMLAB_PASSENV:-}; do
    case "$n" in VMLAB_*|VASTSKY_*|THRASH_*) ;; *) case " ${VMLAB_PASSENV:-} " in *" $n "*) ;; *) continue;; esac;; esac
    [ -n "${!n+x}" ] && printf 'export %s=%q\n' "$n" "${!n}"
  done
  printf 'export VMLAB_DIR=%q VMLAB_SHARED=%q VMLAB_HOST_CWD=%q\n' "$HERE" "$1" "$PWD"
  # run: output goes to files, so no terminal escapes; shell: the caller's terminal.
  if [ -n "$SCRIPT" ]; then echo 'export TERM=dumb'; else printf 'export TERM=%q\n' "${TERM:-vt100}"; fi
}
write_env "$S" > "$S/env"
if [ -n "$PEER" ]; then
  mkdir -p "$S/peer/req"
  printf '%s\0' "$HERE/peer.sh" > "$S/peer/argv"
  { write_env "$S/peer"; echo 'export VMLAB_ROLE=peer'; } > "$S/peer/env"
fi

# The guest watchdog fires MARGIN seconds before the host-side deadline, so
# its dump is in the log before QEMU gets killed.
MARGIN=$((TIMEOUT / 5)); [ $MARGIN -gt 60 ] && MARGIN=60; [ $MARGIN -lt 15 ] && MARGIN=15
T0=$(now)
DEADLINE=$(( ${T0%.*} + TIMEOUT ))
APPEND="console=ttyS0 panic=-1 quiet loglevel=4 mitigations=off vmlab.init=$HERE/guest-init.sh vmlab.shared=$S"
APPEND="$APPEND vmlab.mode=${SCRIPT:+run}${SCRIPT:-shell} vmlab.deadline=$DEADLINE vmlab.timeout=$TIMEOUT vmlab.margin=$MARGIN"
[ -z "$SCRIPT" ] && [ -t 0 ] && APPEND="$APPEND vmlab.tty=$(stty size 2>/dev/null | tr ' ' x)"
# qemu_args SMP MEM SHARED_DIR APPEND: the command line of one VM, in QEMU[].
qemu_args() {
  # shellcheck disable=SC2054  # commas are QEMU's option syntax
  QEMU=(qemu-system-x86_64 -nodefaults -no-user-config -machine pc -accel "$ACCEL" -cpu max
        -smp "$1" -m "$2" -display none -no-reboot -nic none
        -kernel "$KERNEL" -initrd "$INITRD" -append "$4"
        -fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
        -fsdev "local,id=shared,path=$3,security_model=none,multidevs=remap"
        -device virtio-9p-pci,fsdev=shared,mount_tag=shared)
}
# link_args ME OTHER MAC: one end of the Ethernet link between the two VMs.
# Datagrams between two unix sockets: no listener to wait for, and frames
# sent before the other VM is up are simply lost, as on a real wire.
link_args() {
  QEMU+=(-netdev "dgram,id=link,local.type=unix,local.path=$WORK/$1.sock,remote.type=unix,remote.path=$WORK/$2.sock"
         -device "virtio-net-pci,netdev=link,mac=$3")
}
qemu_args "$SMP" "$MEM" "$S" "$APPEND"
[ -n "$PEER" ] && link_args main peer 52:54:00:5a:00:01

if [ -z "$SCRIPT" ]; then
  say "kernel $KV, ${MEM} MiB, $SMP vCPU; work dir $WORK; Ctrl-A x kills the VM"
  "${QEMU[@]}" -serial mon:stdio 2>"$WORK/qemu.log"
  rc=$?
  if [ "$KEEP" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
  exit $rc
fi

say "kernel $KV, ${MEM} MiB, $SMP vCPU, timeout ${TIMEOUT}s; running $SCRIPT${*:+ $*}"
"${QEMU[@]}" -serial "file:$WORK/console.log" </dev/null >"$WORK/qemu.log" 2>&1 &
QPID=$!
PPID_PEER= PEER_BOOTS=0
# boot_peer: (again) a fresh peer: its tmpfs is new, its shared dir kept.
boot_peer() {
  local console=$WORK/peer-console.log
  PEER_BOOTS=$((PEER_BOOTS + 1))
  [ $PEER_BOOTS = 1 ] || console=$WORK/peer-console.$PEER_BOOTS.log
  # The link's socket of the last boot: a new bind would fail on it.
  rm -f "$S/peer/ready" "$S/peer/off" "$WORK/peer.sock"
  qemu_args 1 "$PEER_MEM" "$S/peer" "${APPEND/vmlab.shared=$S/vmlab.shared=$S/peer}"
  link_args peer main 52:54:00:5a:00:02
  "${QEMU[@]}" -serial "file:$console" </dev/null >>"$WORK/peer-qemu.log" 2>&1 &
  PPID_PEER=$!
  say "peer VM (boot $PEER_BOOTS): ${PEER_MEM} MiB, 1 vCPU, linked to the first by eth0; console $console"
}
# serve_peer: what the guests asked of the peer's power (lib.sh's
# vmlab_peer_poweroff and vmlab_peer_boot): off is QEMU killed, as a power cut.
serve_peer() {
  if [ -e "$S/peer/poweroff" ] && [ -n "$PPID_PEER" ]; then
    kill -KILL $PPID_PEER 2>/dev/null; wait $PPID_PEER 2>/dev/null
    PPID_PEER=
    rm -f "$S/peer/poweroff"; : > "$S/peer/off"
    say "peer VM powered off (QEMU killed), as asked"
  fi
  if [ -e "$S/peer/boot" ] && [ -z "$PPID_PEER" ]; then
    rm -f "$S/peer/boot"
    boot_peer
  fi
}
[ -n "$PEER" ] && boot_peer
TAILPID=
case "$STREAM" in
  log)     f=$S/output.log ;;
  console) f=$WORK/console.log ;;
  *)       f= ;;
esac
if [ -n "$f" ]; then
  # Serial console lines end in CR LF; sed -u keeps the stream unbuffered.
  tail -n +1 -F -s 0.5 --pid=$QPID "$f" 2>/dev/null | sed -u 's/\r$//' &
  TAILPID=$!
fi

stop_vm() {   # PID
  kill -TERM "$1" 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$1" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}
stop_qemu() { stop_vm $QPID; }
on_signal() {
  trap - INT TERM HUP
  say "interrupted: killing the VM; logs kept in $WORK"
  stop_qemu
  [ -n "$PPID_PEER" ] && stop_vm $PPID_PEER
  [ -n "$TAILPID" ] && kill $TAILPID 2>/dev/null
  exit 130
}
trap on_signal INT TERM HUP

# A guest kernel that oopsed is tainted and often wedged: its run proves
# nothing more. A soft lockup's "BUG:" under TCG is only a warning.
OOPS_RE='Oops: |Kernel panic|general protection fault'
oopsed() { grep -qE "$OOPS_RE" "$WORK"/*console*.log 2>/dev/null; }

# Watch QEMU: note the boot and the end of the script, enforce the deadline,
# stop a guest 5 s after an oops (time for the trace to reach the console).
timed_out=0; T_UP=; T_END=; oops_at=; polls=0
while kill -0 $QPID 2>/dev/null; do
  if [ -z "$T_UP" ] && [ -e "$S/started" ]; then T_UP=$(now); fi
  if [ -z "$T_END" ] && [ -e "$S/rc" ]; then T_END=$(now); fi
  if [ "$EPOCHSECONDS" -ge "$DEADLINE" ]; then timed_out=1; stop_qemu; break; fi
  polls=$((polls + 1))
  if [ -z "$oops_at" ] && [ $((polls % 10)) = 0 ] && oopsed; then oops_at=$EPOCHSECONDS; fi
  if [ -n "$oops_at" ] && [ "$EPOCHSECONDS" -ge $((oops_at + 5)) ]; then stop_qemu; break; fi
  [ -n "$PEER" ] && serve_peer
  sleep 0.2
done
wait $QPID 2>/dev/null; QRC=$?
# The peer serves the first VM's script only: it ends with it.
[ -n "$PPID_PEER" ] && stop_vm $PPID_PEER
T1=$(now)
# A panic powers the VM off by itself, before the loop saw it.
[ -z "$oops_at" ] && oopsed && oops_at=$EPOCHSECONDS
[ -z "$T_END" ] && [ -e "$S/rc" ] && T_END=$T1
[ -n "$TAILPID" ] && { sleep 0.3; kill $TAILPID 2>/dev/null; wait $TAILPID 2>/dev/null; }
trap - INT TERM HUP

show() { # show FILE LINES TITLE
  [ -s "$1" ] || return 0
  echo "----- $3 ($1)" >&2
  tail -n "$2" "$1" | sed 's/\r$//' >&2
  echo "-----" >&2
}
panic_lines() {   # the first lines of a kernel panic/oops, which a tail may have cut
  grep -m 5 -E 'Kernel panic|BUG:|Oops|general protection fault' "$WORK"/*console*.log 2>/dev/null |
    sed 's/\r$//; s/^/vmlab: guest kernel: /' >&2
}
RC=$(cat "$S/rc" 2>/dev/null)
timing="boot $( [ -n "$T_UP" ] && secs "$T0" "$T_UP" || echo '?')s"
[ -n "$T_UP" ] && [ -n "$T_END" ] && timing="$timing, script $(secs "$T_UP" "$T_END")s"
timing="$timing, total $(secs "$T0" "$T1")s wall"
if [ -n "$oops_at" ]; then
  show "$S/output.log" 40 "last lines of the script output"
  show "$WORK/console.log" 80 "last lines of the serial console"
  [ -n "$PEER" ] && show "$WORK/peer-console.log" 80 "last lines of the peer's serial console"
  panic_lines
  where=$(cat "$WORK"/*console*.log 2>/dev/null | sed 's/\r$//' | grep -m 1 -oE 'RIP: 0010:[^ ]+( \[[a-z0-9_]+\])?' | sed -E 's/RIP: 0010://; s/\+0x[0-9a-f]+\/0x[0-9a-f]+//')
  say "timings: $timing"
  say "GUEST KERNEL OOPS in ${where:-a place it did not name}: the VM was stopped${RC:+ (the script had exited $RC)}"
  RC=123
elif [ $timed_out = 1 ] || [ -e "$S/watchdog-fired" ]; then
  show "$S/output.log" 40 "last lines of the script output"
  show "$S/watchdog.log" 400 "guest watchdog dump"
  [ -s "$S/watchdog.log" ] || show "$WORK/console.log" 40 "last lines of the serial console"
  panic_lines
  if [ -e "$S/watchdog-fired" ]; then
    say "TIMEOUT: the script was still running ${MARGIN}s before VMLAB_TIMEOUT=${TIMEOUT}s; the guest watchdog dumped the state above and killed it${RC:+ (exit $RC)}"
    [ $timed_out = 1 ] && say "the VM did not stop by itself either: QEMU killed at the deadline"
  elif [ -n "$RC" ]; then
    say "TIMEOUT: the script exited $RC, but the VM did not power off within VMLAB_TIMEOUT=${TIMEOUT}s; QEMU killed"
  else
    say "TIMEOUT: the script did not finish within VMLAB_TIMEOUT=${TIMEOUT}s; QEMU killed"
    say "no watchdog dump: the guest was too wedged to write one (see the console lines above)"
  fi
  say "timings: $timing"
  RC=124
elif [ -z "$RC" ]; then
  show "$S/output.log" 40 "last lines of the script output"
  show "$WORK/console.log" 60 "last lines of the serial console"
  show "$WORK/qemu.log" 20 "QEMU messages"
  panic_lines
  say "FAILED: the VM stopped without a script result (QEMU exit $QRC; kernel panic or init failure?) ($timing)"
  RC=125
else
  say "script exited $RC ($timing)"
fi
[ -n "$PEER" ] && [ "$RC" != 0 ] && show "$S/peer/output.log" 30 "last lines of the peer's output"
if [ "$KEEP" = 1 ] || { [ "$RC" != 0 ] && [ "$KEEP" != 0 ]; }; then
  say "logs kept in $WORK"
else
  rm -rf "$WORK"
fi
exit "$RC"
