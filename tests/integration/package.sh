#!/usr/bin/env bash
# The Debian package as an operator gets it: a Release build configured for
# /usr, `cpack -G DEB`, the .deb unpacked into a scratch root (dpkg -x:
# never into the real system), then the installed programs run from there
# with the system's libraries: `tcnode --check-config` on the installed
# example (alone, and with the peers example and a secret), --version of
# every program, the man pages rendered, and the systemd unit checked by
# `systemd-analyze verify` (skipped, saying so, without systemd-analyze).
# The Release build lives in BUILD/deb-release and is incremental across runs.
# Exit 0 pass, 1 fail.
# Usage: package.sh [BUILD-DIR]
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${TC_TEST_BUILD:-${1:-$src/build}}
pkg=$build/deb-release
root=$(mktemp -d "${TMPDIR:-/tmp}/tc-package.XXXXXX")
trap 'rm -rf "$root"' EXIT

fail() { echo "FAIL: $*"; exit 1; }
log() { echo "package: $*"; }

log "Release build in $pkg"
cmake -S "$src" -B "$pkg" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DTC_BUILD_TESTS=OFF >"$root/cmake.log" 2>&1 || { cat "$root/cmake.log"; fail "cmake"; }
cmake --build "$pkg" -j2 >"$pkg/build.log" 2>&1 || { tail -40 "$pkg/build.log"; fail "build"; }
rm -f "$pkg"/tcluster_*.deb
(cd "$pkg" && cpack -G DEB) >"$pkg/cpack.log" 2>&1 || { cat "$pkg/cpack.log"; fail "cpack"; }
deb=$(ls "$pkg"/tcluster_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "cpack made no .deb"
log "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

# The control data: depends computed from the programs' libraries.
info=$(dpkg-deb -I "$deb") || fail "dpkg-deb -I"
depends=$(printf '%s\n' "$info" | sed -n 's/^ Depends: //p')
log "Depends: $depends"
for lib in libc6 libuv1 liblmdb0 libnng1 libprotobuf-c1 libsystemd0 libssl3; do
    case "$depends" in *"$lib"*) ;; *) fail "Depends lacks $lib" ;; esac
done
case "$depends" in *asan* | *ubsan*) fail "a sanitized build was packaged" ;; esac
conffiles=$(dpkg-deb --info "$deb" conffiles) || fail "no conffiles"
printf '%s\n' "$conffiles" | grep -qx /etc/tcluster/example.ini || fail "example.ini not a conffile"

# The files, and nothing secret.
dpkg -x "$deb" "$root" || fail "dpkg -x"
for f in usr/sbin/tcnode usr/bin/tcctl usr/bin/tcwatch usr/bin/tcphone \
    lib/systemd/system/tcnode@.service etc/tcluster/example.ini etc/tcluster/peers.example \
    etc/tcluster/cluster-secret.README usr/share/doc/tcluster/README.md \
    usr/share/man/man8/tcnode.8.gz usr/share/man/man1/tcctl.1.gz usr/share/man/man1/tcwatch.1.gz \
    usr/share/man/man1/tcphone.1.gz usr/share/man/man5/tcnode.ini.5.gz; do
    [ -e "$root/$f" ] || fail "missing /$f"
done
extra=$(cd "$root" && find etc -type f | grep -v -x -e etc/tcluster/example.ini \
    -e etc/tcluster/peers.example -e etc/tcluster/cluster-secret.README)
[ -z "$extra" ] || fail "unexpected files under /etc: $extra"

# The installed programs, with the system's libraries.
for p in usr/sbin/tcnode usr/bin/tcctl usr/bin/tcwatch usr/bin/tcphone; do
    out=$("$root/$p" --version 2>&1) || fail "/$p --version: $out"
    log "/$p --version: $out"
done
out=$("$root/usr/sbin/tcnode" --check-config "$root/etc/tcluster/example.ini" 2>&1) ||
    fail "check-config of the example: $out"
log "$out"
case "$out" in *"ok (node sip1, 0 peers,"*) ;; *) fail "check-config said: $out" ;; esac

# A node of a cluster: the example and the peers example with every
# commented-out key and section (";key", ";[dn") taken in, and a secret.
(umask 077 && head -c 32 /dev/urandom | base64 >"$root/secret")
sed -E -e 's/^;([a-z[])/\1/' -e "s|^cluster-secret-file = .*|cluster-secret-file = $root/secret|" \
    "$root/etc/tcluster/example.ini" "$root/etc/tcluster/peers.example" >"$root/sip1.ini"
grep -q "^cluster-secret-file = $root/secret" "$root/sip1.ini" || fail "no cluster-secret-file line"
out=$("$root/usr/sbin/tcnode" --check-config "$root/sip1.ini" 2>&1) ||
    fail "check-config of example + peers: $out"
log "$out"
case "$out" in *"ok (node sip1, 2 peers,"*) ;; *) fail "check-config said: $out" ;; esac
case "$out" in *warning*) fail "check-config warned: $out" ;; esac

# The unit names the installed paths.
unit=$root/lib/systemd/system/tcnode@.service
grep -qx 'ExecStart=/usr/sbin/tcnode -c /etc/tcluster/%i.ini' "$unit" || fail "ExecStart: $(grep ExecStart= "$unit")"
for key in Type=notify WatchdogSec= DynamicUser=yes StateDirectory=tcluster/%i \
    ProtectSystem=strict ProtectHome=yes NoNewPrivileges=yes LimitNOFILE= Restart=on-failure; do
    grep -q "^$key" "$unit" || fail "the unit lacks $key"
done

# The man pages render without warnings.
if command -v groff >/dev/null; then
    for m in "$root"/usr/share/man/man*/*.gz; do
        w=$(zcat "$m" | groff -man -ww -z 2>&1)
        [ -z "$w" ] || fail "$(basename "$m"): $w"
    done
else
    log "groff not installed: man pages not rendered"
fi

# systemd's own check of the unit, its binary pointed into the scratch root.
if command -v systemd-analyze >/dev/null; then
    mkdir "$root/units"
    sed "s|^ExecStart=/usr/sbin/tcnode|ExecStart=$root/usr/sbin/tcnode|" "$unit" \
        >"$root/units/tcnode@sip1.service"
    out=$(systemd-analyze verify --man=no "$root/units/tcnode@sip1.service" 2>&1)
    rc=$?
    [ "$rc" -eq 0 ] && [ -z "$out" ] || fail "systemd-analyze verify (rc $rc): $out"
    log "systemd-analyze verify: ok"
else
    log "SKIP systemd-analyze verify: systemd-analyze not installed"
fi
log "ok"
