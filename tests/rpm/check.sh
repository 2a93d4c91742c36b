#!/bin/bash
# Builds the four RPMs of rpm/vastsky.spec from the working tree (tracked
# files plus untracked ones git does not ignore, so a clean clone works) in a
# private %_topdir, lints them with rpmlint (zero errors; the warnings
# filtered in rpm/vastsky.rpmlintrc are justified there), checks each
# package's file list and key metadata, and tests xapi/sm-plugins-dropin.sh
# in a temporary root. Ends with "rpm: N passed, M failed".
#   KEEP=1  keep the temporary directory (RPMs, build log) and print its path
set -u
cd "$(dirname "$0")/../.."
src=$PWD
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() {  # check "what" command...: passes when the command succeeds
  local what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
finish() {
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
  echo "rpm: $passed passed, $failed failed"
  [ "$failed" = 0 ]
  exit $?
}

tmp=$(mktemp -d)
for tool in rpmbuild rpmlint rpm git; do
  command -v "$tool" >/dev/null || { bad "$tool is not installed (tools/install-deps.sh installs rpm rpmlint)"; finish; }
done

version=$(sed -n 's/^#define VASTSKY_VERSION "\(.*\)"$/\1/p' lib/version.h)
[ -n "$version" ] || { bad "VASTSKY_VERSION not found in lib/version.h"; finish; }

# ---- the source tarball: vastsky-VERSION/ holding the working tree
start=$(date +%s)
top=$tmp/rpmbuild
mkdir -p "$top"/{SOURCES,SPECS,BUILD,BUILDROOT,RPMS,SRPMS} "$tmp/stage"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done >"$tmp/files"
tar -C "$src" --null -T "$tmp/files" --transform "s,^,vastsky-$version/," -czf "$top/SOURCES/vastsky-$version.tar.gz"
command -v eu-strip >/dev/null || echo "rpm: warning: eu-strip (elfutils) is missing: no debuginfo, the programs stay unstripped"
check "source tarball vastsky-$version.tar.gz ($(tr -cd '\0' <"$tmp/files" | wc -c) files)" \
  test -s "$top/SOURCES/vastsky-$version.tar.gz"

# ---- rpmbuild (compiles every program from scratch)
# As CentOS 7's redhat-rpm-config does: strip the programs into -debuginfo
# and -debugsource packages (a bare rpm leaves them unstripped).
cat >"$tmp/macros" <<'EOF'
%_enable_debug_packages 1
%install %{?_enable_debug_packages:%{?buildsubdir:%{debug_package}}}\
%%install\
%{nil}
EOF
if rpmbuild -bb --nodeps --load "$tmp/macros" --define "_topdir $top" --define "vastsky_version $version" \
     --define "packager VastSky CI (tests/rpm/check.sh)" \
     rpm/vastsky.spec >"$tmp/build.log" 2>&1; then
  ok "rpmbuild -bb in $(($(date +%s) - start)) s"
else
  bad "rpmbuild failed; the end of its log:"
  tail -n 30 "$tmp/build.log"
  finish
fi
rpmfile() { ls "$top"/RPMS/*/"$1-$version"-*.rpm 2>/dev/null | head -n 1; }
for p in manager storage head cli; do
  check "package vastsky-$p built" test -n "$(rpmfile vastsky-$p)"
done
[ "$failed" = 0 ] || finish

# ---- rpmlint: no errors; only the justified warnings are filtered. The four
# packages the spec makes; not vastsky-debuginfo, which rpm's find-debuginfo
# generates (Fedora's rpmlint configuration skips debuginfo packages too).
rpmlint -r rpm/vastsky.rpmlintrc $(for p in manager storage head cli; do rpmfile vastsky-$p; done) >"$tmp/lint.log" 2>&1
summary=$(grep -E '[0-9]+ packages and [0-9]+ specfiles checked' "$tmp/lint.log" | tail -n 1)
echo "rpmlint: $summary"
if echo "$summary" | grep -qE '; 0 errors, 0 warnings'; then
  ok "rpmlint: 0 errors, 0 unfiltered warnings"
else
  bad "rpmlint:"
  grep -E ': (E|W): ' "$tmp/lint.log"
fi

# ---- file lists (documentation checked apart: its directory differs by distribution)
expect_files() {  # $1 package; stdin: the expected files, sorted
  local rpm got
  rpm=$(rpmfile "$1")
  got=$(rpm -qlp "$rpm" | grep -v '^/usr/share/doc/' | sort)
  if [ "$got" = "$(sort)" ]; then ok "$1 file list"; else
    bad "$1 file list; got:"
    echo "$got" | sed 's/^/    /'
  fi
}
expect_files vastsky-manager <<'EOF'
/etc/vastsky
/etc/vastsky/manager.conf
/usr/lib/systemd/system/vastsky-manager.service
/usr/sbin/vastsky-manager
/var/lib/vastsky
EOF
expect_files vastsky-storage <<'EOF'
/etc/vastsky
/etc/vastsky/storage-agent.conf
/usr/lib/systemd/system/vastsky-storage-agent.service
/usr/sbin/vastsky-storage-agent
/var/lib/vastsky
EOF
expect_files vastsky-head <<'EOF'
/etc/vastsky
/etc/vastsky/head-agent.conf
/etc/vastsky/sm.conf
/etc/xapi.d/plugins/vastsky
/opt/xensource/sm/VastSkySR
/usr/lib/systemd/system/vastsky-head-agent.service
/usr/libexec/vastsky
/usr/libexec/vastsky/sm-plugins-dropin
/usr/sbin/vastsky-head-agent
/var/lib/vastsky
EOF
expect_files vastsky-cli <<'EOF'
/usr/bin/vastsky
EOF
for p in manager storage head cli; do
  check "vastsky-$p ships README.md" eval "rpm -qlp '$(rpmfile vastsky-$p)' | grep -q '^/usr/share/doc/.*/README.md$'"
done

# ---- metadata
qf() { rpm -qp --qf "$2" "$(rpmfile "$1")" 2>/dev/null; }
requires() { rpm -qp --requires "$(rpmfile "$1")" 2>/dev/null | awk '{print $1}'; }
has_require() { requires "$1" | grep -qxF "$2"; }
for p in manager storage head cli; do
  check "vastsky-$p version $version" test "$(qf vastsky-$p '%{VERSION}')" = "$version"
done
for r in device-mapper iscsi-initiator-utils xapi-core; do
  check "vastsky-head Requires $r" has_require vastsky-head "$r"
done
for r in targetcli device-mapper; do
  check "vastsky-storage Requires $r" has_require vastsky-storage "$r"
done
mode_of() { qf "$1" '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' | awk -v f="$2" '$3 == f {print $1, $2}'; }
for f in /opt/xensource/sm/VastSkySR /etc/xapi.d/plugins/vastsky /usr/libexec/vastsky/sm-plugins-dropin /usr/sbin/vastsky-head-agent; do
  check "vastsky-head: $f is -rwxr-xr-x root:root" test "$(mode_of vastsky-head "$f")" = "-rwxr-xr-x root:root"
done
check "vastsky-manager: /var/lib/vastsky is drwxr-xr-x root:root" test "$(mode_of vastsky-manager /var/lib/vastsky)" = "drwxr-xr-x root:root"
check "daemon units: UMask=0077 (the database and state files stay private)" \
  eval "[ \"\$(grep -lx 'UMask=0077' rpm/systemd/*.service | wc -l)\" = 3 ]"
config_flags() { qf "$1" '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' | awk -v f="$2" '$2 == f {print $1}'; }
for pc in manager:manager storage:storage-agent head:head-agent head:sm; do
  p=vastsky-${pc%%:*} f=/etc/vastsky/${pc#*:}.conf
  flags=$(config_flags "$p" "$f")
  check "$p: $f is %config(noreplace)" eval "case '$flags' in *c*n*|*n*c*) true ;; *) false ;; esac"
done
for u in manager:manager storage:storage-agent head:head-agent; do
  p=vastsky-${u%%:*} unit=rpm/systemd/vastsky-${u#*:}.service
  check "$unit starts with --config /etc/vastsky/${u#*:}.conf" \
    grep -qxF "ExecStart=/usr/sbin/vastsky-${u#*:} --config /etc/vastsky/${u#*:}.conf" "$unit"
  check "$unit: Restart=on-failure, After=network-online.target" \
    eval "grep -qx 'Restart=on-failure' $unit && grep -q '^After=.*network-online.target' $unit"
  check "$p: %post enables through presets, %preun stops, %postun try-restarts" \
    eval "rpm -qp --scripts '$(rpmfile $p)' | grep -q 'systemctl.* preset ' &&
          rpm -qp --scripts '$(rpmfile $p)' | grep -q 'systemctl.* stop ' &&
          rpm -qp --scripts '$(rpmfile $p)' | grep -q 'systemctl.* try-restart '"
done
check "head agent unit: After=iscsid.service" grep -q '^After=.*iscsid.service' rpm/systemd/vastsky-head-agent.service
scripts=$(rpm -qp --scripts "$(rpmfile vastsky-head)")
check "vastsky-head %post writes the xapi drop-in" \
  eval "echo \"\$scripts\" | sed -n '/^postinstall/,/^[a-z]* scriptlet/p' | grep -q '^/usr/libexec/vastsky/sm-plugins-dropin || :'"
check "vastsky-head removes the drop-in on erase" \
  eval "echo \"\$scripts\" | grep -q 'sm-plugins-dropin --remove'"
check "vastsky-head %triggerin -- xapi-core rewrites the drop-in" \
  eval "rpm -qp --triggers '$(rpmfile vastsky-head)' | grep -A3 'triggerin scriptlet.*xapi-core' | grep -q sm-plugins-dropin"
# The keys xapi/host_settings.cc reads; sm.conf shows each, and no other.
check "sm.conf shows exactly the driver's settings" \
  eval "[ \"\$(sed -nE 's/^#?([a-z_]+) =.*/\\1/p' rpm/config/sm.conf | sort | tr '\\n' ' ')\" = 'ca_file device_dir head_state_dir log_level secret_file xapi_socket ' ]"
check "manager.conf keeps the manager on loopback by default" \
  eval "! grep -Eq '^[[:space:]]*listen' rpm/config/manager.conf"

# ---- xapi/sm-plugins-dropin.sh in a temporary root (run by dash: POSIX sh)
root=$tmp/root
dropin() { VASTSKY_ROOT=$root dash xapi/sm-plugins-dropin.sh "$@"; }
out=$root/etc/xapi.conf.d/99-vastsky.conf
effective() { grep -v '^#' "$out"; }
mkdir -p "$root/etc"
printf '# comment\n# sm-plugins=commented out\nsm-plugins=ext nfs iscsi lvm\nother=1\n' >"$root/etc/xapi.conf"
check "dropin: appends vastsky to xapi.conf's line" \
  eval "dropin && [ \"\$(effective)\" = 'sm-plugins=ext nfs iscsi lvm vastsky' ]"
before=$(cat "$out")
check "dropin: a second run changes nothing (idempotent, no duplicate)" \
  eval "dropin && [ \"\$(cat '$out')\" = \"\$before\" ]"
printf 'sm-plugins=ext nfs\nsm-plugins=ext nfs zfs\n' >"$root/etc/xapi.conf.d/10-xcpng.conf"
printf 'sm-plugins = ext nfs zfs largeblock  \n' >"$root/etc/xapi.conf.d/20-more.conf"
printf 'other=2\n' >"$root/etc/xapi.conf.d/30-nothing.conf"
check "dropin: the last definition wins (files in order, last line of a file)" \
  eval "dropin && [ \"\$(effective)\" = 'sm-plugins=ext nfs zfs largeblock vastsky' ]"
rm -f "$root"/etc/xapi.conf.d/[123]0-*.conf
printf 'sm-plugins=ext nfs vastsky udev\n' >"$root/etc/xapi.conf"
check "dropin: a line that has vastsky is kept as it is (its own file is not read)" \
  eval "dropin && [ \"\$(effective)\" = 'sm-plugins=ext nfs vastsky udev' ]"
printf 'sm-plugins=*\n' >"$root/etc/xapi.conf"
check "dropin: sm-plugins=* is left alone" \
  eval "(cd '$root/etc' && VASTSKY_ROOT='$root' dash '$src/xapi/sm-plugins-dropin.sh') && [ \"\$(effective)\" = 'sm-plugins=*' ]"
printf 'sm-plugins=ext\n' >"$root/etc/xapi.conf"
printf 'sm-plugins=ext nfs\n' >"$root/etc/xapi.conf.d/zz-late.conf"
check "dropin: warns when a later file overrides its drop-in" \
  eval "dropin 2>&1 | grep -q 'zz-late.conf' && [ \"\$(effective)\" = 'sm-plugins=ext nfs vastsky' ]"
rm -f "$root/etc/xapi.conf.d/zz-late.conf"
check "dropin: the drop-in is mode 0644" test "$(stat -c %a "$out")" = 644
check "dropin --remove deletes it" eval "dropin --remove && [ ! -e '$out' ]"
check "dropin --remove without a drop-in succeeds" dropin --remove
printf 'other=1\n' >"$root/etc/xapi.conf"
check "dropin: no sm-plugins line anywhere: writes nothing, succeeds" \
  eval "dropin 2>/dev/null && [ ! -e '$out' ]"
check "dropin: rejects an unknown argument" eval "! dropin --bogus 2>/dev/null"
if command -v shellcheck >/dev/null; then
  check "shellcheck xapi/sm-plugins-dropin.sh" shellcheck -s sh xapi/sm-plugins-dropin.sh
fi
echo "rpm: build, lint and checks took $(($(date +%s) - start)) s"
finish
