#!/bin/bash
# PID 1 of a VM lab guest (started by the initramfs of vm.sh via switch_root).
# Root is overlay(host root over 9p, read-only + tmpfs); the per-run shared dir
# is mounted read-write at its host path. Reads the script and its environment
# from the shared dir, runs it with a hang watchdog, records its output and
# exit code there, and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
# No udevd in the guest: let libdevmapper/dmsetup create /dev/mapper nodes
# itself instead of waiting for udev.
export DM_DISABLE_UDEV=1

mode=run shared='' deadline='' timeout=600 margin=60 tty=''
for w in $(cat /proc/cmdline); do
  case $w in
    vmlab.mode=*) mode=${w#*=} ;;     vmlab.shared=*) shared=${w#*=} ;;
    vmlab.deadline=*) deadline=${w#*=} ;; vmlab.timeout=*) timeout=${w#*=} ;;
    vmlab.margin=*) margin=${w#*=} ;; vmlab.tty=*) tty=${w#*=} ;;
  esac
done
S=$shared

poweroff_now() {
  # -n: no sync(); a dead iSCSI disk with dirty pages would hang it. The
  # shared dir is 9p without caching, so everything written there is on the host.
  /bin/busybox poweroff -n -f
  echo o > /proc/sysrq-trigger
  sleep 30
}

mkdir -p /dev/pts /dev/shm
# devtmpfs lacks the links udev would make; bash's <(...) and >(...) need /dev/fd.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t devpts -o mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# Fresh /run: the host's /run (pid files, netns, locks) must not leak in.
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/lock /run/vmlab
hostname vmlab
ip link set lo up
# Blocked-task reports after 60 s (not 120): a hang shows up in dmesg early.
echo 60 > /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null

[ -n "$S" ] && [ -f "$S/env" ] || { echo "vmlab-guest: no shared dir ($S)"; poweroff_now; }
. "$S/env"
. "$VMLAB_DIR/lib.sh"
echo "$(cut -d' ' -f1 /proc/uptime)" > "$S/started"

if [ "$mode" = shell ]; then
  [ -n "$tty" ] && stty -F /dev/ttyS0 rows "${tty%x*}" cols "${tty#*x}" 2>/dev/null
  echo "vmlab shell: kernel $(uname -r), host root at /, lib: . $VMLAB_DIR/lib.sh; 'exit' powers off"
  cd "$VMLAB_HOST_CWD" 2>/dev/null || cd /
  setsid -c -w bash -l </dev/ttyS0 >/dev/ttyS0 2>&1
  poweroff_now
fi

mapfile -d '' -t argv < "$S/argv"
[ -x "${argv[0]}" ] || argv=(bash "${argv[@]}")

# Output: a pipe to tee (-> shared/output.log and the serial console).
exec 3> >(exec tee -a "$S/output.log")
TEE=$!
echo "vmlab-guest: up at $(cut -d' ' -f1 /proc/uptime)s uptime, kernel $(uname -r), $(nproc) vCPU, $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) MiB; running ${argv[*]}" >&3

# The script runs in its own session (setsid), so the watchdog can kill its
# whole process group.
( cd "$VMLAB_HOST_CWD" 2>/dev/null || cd /; exec setsid -w "${argv[@]}" ) </dev/null >&3 2>&1 &
SCRIPT=$!

# Watchdog: fire MARGIN seconds before the host's deadline (host epoch; the
# guest clock starts from the host's RTC). Fall back to uptime if the clock
# looks wrong.
wake=$(( deadline - margin - $(date +%s) ))
if [ -z "$deadline" ] || [ $wake -le 0 ] || [ $wake -gt $timeout ]; then
  up=$(cut -d. -f1 /proc/uptime); wake=$(( timeout - margin - up ))
  [ $wake -lt 5 ] && wake=5
fi
(
  # TERM (sent when the script ends first) interrupts the wait: stop quietly.
  trap 'kill $sp 2>/dev/null; exit 0' TERM
  sleep "$wake" & sp=$!
  wait $sp
  {
    echo "vmlab-watchdog: the script is still running at uptime $(cut -d' ' -f1 /proc/uptime)s; the host kills the VM in ${margin}s. State dump:"
    vmlab_dump
  } 2>&1 | tee "$S/watchdog.log" > /dev/console
  dmesg > "$S/dmesg.log"
  : > "$S/watchdog-fired"
  echo "vmlab-watchdog: killing the script (session $SCRIPT)" > /dev/console
  kill -TERM -- -$SCRIPT; sleep 5; kill -KILL -- -$SCRIPT
) &
WD=$!

wait $SCRIPT
rc=$?
kill $WD 2>/dev/null; wait $WD 2>/dev/null
echo "vmlab-guest: script exited $rc at $(cut -d' ' -f1 /proc/uptime)s uptime" >&3
echo $rc > "$S/rc"

# Anything still running (daemons the script started, a background job)
# may hold the output pipe open: kill all of it so tee sees EOF.
left=
for p in /proc/[0-9]*; do
  p=${p#/proc/}
  case " 1 $TEE " in *" $p "*) continue ;; esac
  [ -e "/proc/$p/exe" ] || continue   # kernel threads and zombies have no exe
  left="$left $p"
done
if [ -n "$left" ]; then
  echo "vmlab-guest: killing leftover processes:$(for p in $left; do printf ' %s(%s)' "$(cat /proc/$p/comm 2>/dev/null)" $p; done)" >&3
  kill -KILL $left 2>/dev/null
fi
exec 3>&-
# (Wait in one process: every fork costs tens of ms under TCG.)
timeout 5 tail -s 0.1 -f --pid=$TEE /dev/null
[ -e "$S/dmesg.log" ] || dmesg > "$S/dmesg.log"
poweroff_now
