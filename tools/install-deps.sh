#!/bin/sh
# Installs the Debian 12 packages VastSky needs to build and test.
#   --check-or-install  install only if something is missing (quiet when all is there)
set -eu
PKGS="g++ make pkg-config python3 openssl sqlite3 procps
libxmlrpc-c++8-dev libxmlrpc-core-c3-dev libmicrohttpd-dev libcurl4-openssl-dev
libsqlite3-dev libinih-dev libtclap-dev libcppunit-dev nlohmann-json3-dev
libdevmapper-dev libxml2-dev"

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
