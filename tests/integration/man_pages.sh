#!/usr/bin/env bash
# The man pages (deploy/man/, plain roff) agree with the programs: every
# option that `tcnode`, `tcctl`, `tcwatch` and `tcphone --help` print is in
# the program's page, every key of the configuration
# (server/config/config_keys.c) heads an entry of tcnode.ini(5), and groff
# renders each page without a warning (when groff is installed).
# Exit 0 pass, 1 fail.
# Usage: man_pages.sh [BUILD-DIR]
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${TC_TEST_BUILD:-${1:-$src/build}}
man=$src/deploy/man
status=0

bad() {
    echo "FAIL: $*"
    status=1
}

# The page's text with roff's escapes for '-' and fonts removed.
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(dq/"/g' "$1"; }

# The options a --help text names: tokens starting with '-' after a
# blank, a bracket, a parenthesis, a comma or a bar.
options() { grep -oE '(^|[][ (,|])--?[A-Za-z][A-Za-z0-9-]*' | sed -E 's/^[][ (,|]//' | sort -u; }

check_program() { # PROGRAM PAGE
    local prog=$1 page=$man/$2 text help n=0
    help=$("$prog" --help 2>&1) || {
        bad "$prog --help failed"
        return
    }
    text=$(plain "$page")
    for opt in $(printf '%s\n' "$help" | options); do
        n=$((n + 1))
        # A whole token: not followed by another option character.
        # (A here-string, not printf | grep -q: with pipefail, grep -q
        # quitting early can fail printf with SIGPIPE, a false "missing".)
        grep -qE -- "(^|[^A-Za-z0-9-])$opt([^A-Za-z0-9-]|\$)" <<<"$text" ||
            bad "$(basename "$page"): $opt of $(basename "$prog") --help is missing"
    done
    [ "$n" -gt 0 ] || bad "no option found in $(basename "$prog") --help"
    echo "man_pages: $(basename "$page"): $n options of --help"
}

check_program "$build/server/tcnode" tcnode.8
check_program "$build/client/tcctl" tcctl.1
check_program "$build/client/tcwatch" tcwatch.1
check_program "$build/client/tcphone" tcphone.1

# tcnode.ini(5): an entry (.TP then a line naming the key) for every key.
heads=$(plain "$man/tcnode.ini.5" | awk 'tp { print $2 } { tp = ($1 == ".TP") }' | sort -u)
keys=$(grep -oE '^ *\{"[a-z0-9-]+", key_' "$src/server/config/config_keys.c" |
    sed -E 's/^ *\{"([a-z0-9-]+)".*/\1/' | sort -u)
[ -n "$keys" ] || bad "no key found in server/config/config_keys.c"
for k in $keys; do
    grep -qx -- "$k" <<<"$heads" || bad "tcnode.ini.5: key $k has no entry"
done
echo "man_pages: tcnode.ini.5: $(printf '%s\n' "$keys" | wc -l) keys"

if command -v groff >/dev/null; then
    for page in "$man"/*.[0-9]; do
        w=$(groff -man -ww -z "$page" 2>&1)
        [ -z "$w" ] || bad "$(basename "$page"): groff: $w"
    done
else
    echo "man_pages: groff not installed: pages not rendered"
fi
exit $status
