#!/bin/sh
# Installs the Debian 12 packages VastSky needs to build and test.
#   --check-or-install  install only if something is missing (quiet when all is there)
#   --vmlab             also the VM lab's packages (tests/vmlab: QEMU, Debian's
#                       kernel, busybox for the initramfs, iSCSI initiator and
#                       targets, fio); installing the kernel regenerates /boot/initrd.img-*
set -eu
PKGS="g++ make pkg-config python3 openssl sqlite3 procps
libxmlrpc-c++8-dev libxmlrpc-core-c3-dev libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev
libsqlite3-dev libinih-dev libtclap-dev libcppunit-dev nlohmann-json3-dev
libdevmapper-dev libxml2-dev prometheus-cpp-dev prometheus rpm rpmlint elfutils libfaketime
thin-provisioning-tools clang libclang-rt-14-dev"
VMLAB_PKGS="qemu-system-x86 linux-image-amd64 busybox-static kmod iproute2 util-linux
dmsetup open-iscsi tgt targetcli-fb fio"
for arg in "$@"; do
  case "$arg" in --vmlab) PKGS="$PKGS $VMLAB_PKGS" ;; esac
done

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing Debian packages:$missing (run as root: $0)" >&2
  exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
