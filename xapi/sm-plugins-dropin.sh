#!/bin/sh
# Whitelists the vastsky SR type for xapi: writes /etc/xapi.conf.d/99-vastsky.conf
# holding the effective `sm-plugins=` line with `vastsky` appended.
#
# xapi reads /etc/xapi.conf, then /etc/xapi.conf.d/*.conf in alphabetical
# order; the last `sm-plugins=` read wins. So the drop-in repeats the whole
# effective line (as it stands without this file) and appends vastsky: a
# duplicate is not added, and `*` (every type) is left as it is.
#
#   sm-plugins-dropin.sh            write (or rewrite) the drop-in
#   sm-plugins-dropin.sh --remove   delete it
#
# VASTSKY_ROOT (default empty) prefixes every path, for tests.
# xapi sees the change after `xe-toolstack-restart`. Run from the
# vastsky-head package's %post, its `%triggerin -- xapi-core` (an xapi update
# may rewrite xapi.conf) and, with --remove, when the package is erased.
set -eu
LC_ALL=C
export LC_ALL

root=${VASTSKY_ROOT:-}
type=vastsky
conf=$root/etc/xapi.conf
dir=$root/etc/xapi.conf.d
name=99-vastsky.conf
out=$dir/$name

case "${1:-}" in
  --remove)
    rm -f "$out"
    exit 0 ;;
  "") ;;
  *)
    echo "usage: $0 [--remove]" >&2
    exit 2 ;;
esac

# The last `sm-plugins=` definition in a file (nothing if none), trimmed.
last_definition() {
  sed -n 's/^[[:space:]]*sm-plugins[[:space:]]*=/sm-plugins=/p' "$1" | tail -n 1 |
    sed 's/[[:space:]]*$//'
}

line=""
if [ -f "$conf" ]; then
  def=$(last_definition "$conf")
  [ -n "$def" ] && line=$def
fi
after_ours=""
for f in "$dir"/*.conf; do
  [ -f "$f" ] || continue
  base=${f##*/}
  [ "$base" = "$name" ] && continue
  def=$(last_definition "$f")
  [ -n "$def" ] || continue
  line=$def
  # A file sorting after ours overrides it.
  if [ "$(printf '%s\n%s\n' "$base" "$name" | sort | tail -n 1)" = "$base" ]; then
    after_ours="$after_ours $base"
  fi
done

if [ -z "$line" ]; then
  # No whitelist at all: writing `sm-plugins=vastsky` would disable every
  # other SR type, so leave xapi's configuration alone.
  echo "sm-plugins-dropin: no sm-plugins= line in $conf or $dir/*.conf; vastsky not whitelisted" >&2
  exit 0
fi
if [ -n "$after_ours" ]; then
  echo "sm-plugins-dropin: warning: sm-plugins= in$after_ours (read after $name) overrides vastsky's drop-in" >&2
fi

value=${line#sm-plugins=}
present=no
set -f  # split the value into words, but never expand `*`
for t in $value; do
  case "$t" in "$type" | "*") present=yes ;; esac
done
set +f
if [ "$present" = no ]; then
  value=$(printf '%s' "$value" | sed 's/^[[:space:]]*//')
  if [ -n "$value" ]; then line="sm-plugins=$value $type"; else line="sm-plugins=$type"; fi
fi

mkdir -p "$dir"
tmp=$dir/.$name.$$
trap 'rm -f "$tmp"' EXIT
{
  echo "# Written by vastsky-head (/usr/libexec/vastsky/sm-plugins-dropin): the effective"
  echo "# sm-plugins line of xapi.conf and xapi.conf.d with the vastsky SR type added."
  echo "# Regenerated when xapi-core is updated; removed with vastsky-head. Do not edit."
  echo "$line"
} >"$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$out"
trap - EXIT
