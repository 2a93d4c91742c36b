#!/bin/bash
# Runs INSIDE the peer VM (vm.sh with VMLAB_PEER=1), never on its own: a
# second machine on the lab's storage network at $VMLAB_PEER_IP, which the
# first VM's script drives with vmlab_peer (lib.sh). It evaluates each
# request in this one shell, in posting order, and answers with its output
# and exit status. It never ends by itself: vm.sh stops this VM when the
# first one ends (or a request powers it off, as a crash would).
. "$VMLAB_DIR/lib.sh"
# A head agent started here serves at this VM's address.
VS_HEAD_IP=$VMLAB_PEER_IP
. "$VMLAB_DIR/cluster.sh"
hostname vmlab-peer
vmlab_load_modules virtio_net && vmlab_wait_link eth0 && ip addr add "$VMLAB_PEER_IP/24" dev eth0 && ip link set eth0 up ||
  { echo "peer: modules or eth0 failed"; exit 1; }
: > "$VMLAB_SHARED/ready"
echo "peer: up at $VMLAB_PEER_IP"
req=$VMLAB_SHARED/req
while :; do
  for r in "$req"/r*; do
    case $r in *.out|*.rc|*.tmp) continue ;; esac
    [ -e "$r" ] && [ ! -e "$r.rc" ] || continue
    vmlab_log "request ${r##*/}: $(head -c 200 "$r")"
    eval "$(cat "$r")" > "$r.out" 2>&1 < /dev/null
    echo $? > "$r.tmp" && mv "$r.tmp" "$r.rc"
  done
  sleep 0.2
done
