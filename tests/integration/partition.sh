#!/usr/bin/env bash
# Loop prevention with stale views (DESIGN §6, issue 11): two tcnode
# processes, each in a network namespace this test creates (and removes,
# even on failure), joined by a veth pair: sip1 on 10.99.0.1, sip2 on
# 10.99.0.2. The link is cut silently with nft inside sip1's namespace;
# link-timeout is long, so both nodes keep believing the link is up and
# their views go stale:
#   1001 registered at sip1, then at sip2 (sip2 owns, sip1 keeps standby);
#   cut; the phone unregisters at sip2 (sip2 releases; sip1 never hears).
# sip1 still says "sip2 owns 1001" and redirects to sip2 marked
# tc-fwd=sip1; sip2, which owns nothing, must answer the marked INVITE
# 480 and never redirect back. Every redirect chain, from either node, is
# followed hop by hop: at most one hop between nodes. Healed, both views
# converge. Exit 0 pass, 1 fail, 77 skip (no root / netns / nft).
# Usage: partition.sh [BUILD-DIR]   ($TC_TEST_BUILD and $TCNODE win)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${TC_TEST_BUILD:-${1:-$src/build}}
tcnode=${TCNODE:-$build/server/tcnode}
tcctl=$build/client/tcctl
udp="perl $src/tests/sip/udp_request.pl"

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; status=1; exit 1; }
log() { echo "partition: $*"; }

[ "$(id -u)" -eq 0 ] || skip "needs root for ip netns (run as root)"
command -v ip >/dev/null || skip "ip (iproute2) not installed"
command -v nft >/dev/null || skip "nft (nftables) not installed"
[ -x "$tcnode" ] || fail "no tcnode at $tcnode (set TCNODE)"
[ -x "$tcctl" ] || fail "no tcctl at $tcctl (set TC_TEST_BUILD)"

tag=$$
nsa=tcpart-a-$tag
nsb=tcpart-b-$tag
dir=$(mktemp -d "${TMPDIR:-/tmp}/tcpart-XXXXXX")
pids=()
status=1

cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    ip netns del "$nsa" 2>/dev/null
    ip netns del "$nsb" 2>/dev/null
    if [ "$status" -ne 0 ]; then
        for f in "$dir"/*.log; do
            [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }
        done
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! ip netns add "$nsa" 2>"$dir/netns.err"; then
    skip "ip netns add is not permitted here: $(cat "$dir/netns.err")"
fi
ip netns add "$nsb" || fail "ip netns add $nsb"
ip link add "tpa$tag" netns "$nsa" type veth peer name "tpb$tag" netns "$nsb" ||
    fail "veth pair"
ip -n "$nsa" addr add 10.99.0.1/24 dev "tpa$tag"
ip -n "$nsb" addr add 10.99.0.2/24 dev "tpb$tag"
for ns in "$nsa" "$nsb"; do
    ip -n "$ns" link set lo up
done
ip -n "$nsa" link set "tpa$tag" up
ip -n "$nsb" link set "tpb$tag" up

printf '0123456789abcdef0123456789abcdef\n' >"$dir/secret"
# name addr peer-name peer-addr
write_config() {
    cat >"$dir/$1.ini" <<INI
[node]
name = $1
sip-listen = $2:5060
default-listen = $2:5061
tc-listen = $2:5062
peer-listen = $2:5063
http-listen = $2:5064
data-dir = $dir/$1
cluster-secret-file = $dir/secret
heartbeat-interval = 200ms
; Long, so that a silent cut leaves the link "up" and the views stale.
link-timeout = 120s

[peer $3]
address = $4:5063
sip-address = $4:5060
access-number = 900${3#sip}

[dn 1000-1099]
type = extension
INI
}
write_config sip1 10.99.0.1 sip2 10.99.0.2
write_config sip2 10.99.0.2 sip1 10.99.0.1

ns_of() { [ "$1" = 10.99.0.1 ] && echo "$nsa" || echo "$nsb"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

ip netns exec "$nsa" "$tcnode" -c "$dir/sip1.ini" 2>"$dir/sip1.log" &
pids+=($!)
ip netns exec "$nsb" "$tcnode" -c "$dir/sip2.ini" 2>"$dir/sip2.log" &
pids+=($!)

# wait_for SECONDS DESCRIPTION COMMAND...: poll every 0.1 s.
wait_for() {
    local secs=$1 what=$2 end
    shift 2
    end=$((SECONDS + secs))
    while ! "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || fail "timed out ($secs s) waiting for: $what"
        sleep 0.1
    done
}
metric() { # addr name{labels}
    in_ns "$(ns_of "$1")" curl -s --max-time 2 "http://$1:5064/metrics" |
        awk -v k="$2" '$1 == k { print $2 }'
}
link_up() { [ "$(metric "$1" "tcluster_peer_link_up{peer=\"$2\"}")" = 1 ]; }
# view ADDR DN: "owner status" as that node's TC port reports them.
view() {
    local j
    j=$(in_ns "$(ns_of "$1")" timeout 5 "$tcctl" -s "$1:5062" --json dn "$2") || return 1
    printf '%s %s\n' "$(sed -n 's/.*"owner":"\([^"]*\)".*/\1/p' <<<"$j")" \
        "$(sed -n 's/.*"status":"\([^"]*\)".*/\1/p' <<<"$j")"
}
view_is() { [ "$(view "$1" "$2")" = "$3" ]; }
not_view_is() { local v; v=$(view "$1" "$2") && [ "$v" != "$3" ]; }
views_agree() { [ "$(view 10.99.0.1 1001)" = "$(view 10.99.0.2 1001)" ]; }
# sip ADDR METHOD RURI CALLID [CONTACT EXPIRES]: from inside ADDR's namespace.
sip() {
    local a=$1
    shift
    in_ns "$(ns_of "$a")" $udp "$a" 5060 "$@"
}
code_of() { sed -n '1s/^SIP\/2.0 \([0-9]*\).*/\1/p'; }
contact_of() { tr -d '\r' | sed -n 's/^Contact: *<\([^>]*\)>.*/\1/p' | head -n 1; }

wait_for 20 "sip1 healthy" in_ns "$nsa" curl -sf --max-time 1 http://10.99.0.1:5064/healthz
wait_for 20 "sip2 healthy" in_ns "$nsb" curl -sf --max-time 1 http://10.99.0.2:5064/healthz
wait_for 20 "link sip1->sip2 up" link_up 10.99.0.1 sip2
wait_for 20 "link sip2->sip1 up" link_up 10.99.0.2 sip1
log "two nodes in namespaces $nsa, $nsb; links up"

# The phone registers at sip1, then (initial registration there) at sip2.
r=$(sip 10.99.0.1 REGISTER sip:1001@10.99.0.1 reg-a sip:1001@10.99.0.1:7001 300)
[ "$(code_of <<<"$r")" = 200 ] || fail "REGISTER at sip1: $r"
wait_for 10 "sip2 sees sip1 own 1001" view_is 10.99.0.2 1001 "sip1 insrv"
r=$(sip 10.99.0.2 REGISTER sip:1001@10.99.0.2 reg-b sip:1001@10.99.0.2:7002 300)
[ "$(code_of <<<"$r")" = 200 ] || fail "REGISTER at sip2: $r"
wait_for 10 "sip1 sees sip2 own 1001" view_is 10.99.0.1 1001 "sip2 insrv"
wait_for 10 "sip2 owns 1001" view_is 10.99.0.2 1001 "sip2 insrv"
log "1001 registered at sip1 then sip2: both say sip2 owns it"

# Silent cut: drop everything between the two inside sip1's namespace.
cut() {
    in_ns "$nsa" nft -f - <<NFT || fail "nft rules"
table inet tcpart {
    chain in { type filter hook input priority 0; ip saddr 10.99.0.2 drop; }
    chain out { type filter hook output priority 0; ip daddr 10.99.0.2 drop; }
}
NFT
    log "link cut (nft drop in $nsa)"
}
heal() {
    in_ns "$nsa" nft delete table inet tcpart || fail "nft delete"
    log "link healed"
}
cut

# The phone leaves sip2 during the partition: sip2 releases 1001; sip1
# never hears of it and keeps its stale view.
r=$(sip 10.99.0.2 REGISTER sip:1001@10.99.0.2 unreg-b sip:1001@10.99.0.2:7002 0)
[ "$(code_of <<<"$r")" = 200 ] || fail "unREGISTER at sip2: $r"
wait_for 10 "sip2 to release 1001" not_view_is 10.99.0.2 1001 "sip2 insrv"
va=$(view 10.99.0.1 1001)
vb=$(view 10.99.0.2 1001)
log "stale views: sip1 says '$va', sip2 says '$vb'"
[ "$va" = "sip2 insrv" ] || fail "sip1's view should be stale (sip2 insrv), is '$va'"
link_up 10.99.0.1 sip2 || fail "sip1 noticed the cut: the views are not stale"
link_up 10.99.0.2 sip1 || fail "sip2 noticed the cut: the views are not stale"

# follow START CALLID: send an unmarked INVITE for 1001 to START and follow
# every 302 that points at a node (10.99.0.x:5060), as a UA that follows
# any 3xx would, up to 5 hops. Prints "HOPS FINALCODE LASTCONTACT".
follow() {
    local addr=$1 callid=$2 ruri="sip:1001@$1" hops=0 r code c
    while :; do
        r=$(sip "$addr" INVITE "$ruri" "$callid") || { echo "$hops none -"; return; }
        code=$(code_of <<<"$r")
        c=$(contact_of <<<"$r")
        echo "  hop $hops: INVITE $ruri -> $code ${c:-}" >&2
        if [ "$code" != 302 ] || ! [[ $c =~ ^sip:1001@(10\.99\.0\.[12]):5060 ]] || [ $hops -ge 5 ]; then
            echo "$hops $code ${c:--}"
            return
        fi
        addr=${BASH_REMATCH[1]}
        ruri=$c
        hops=$((hops + 1))
    done
}

# sip1, stale, forwards to sip2 with its marker...
r=$(sip 10.99.0.1 INVITE sip:1001@10.99.0.1 loop-1)
[ "$(code_of <<<"$r")" = 302 ] || fail "INVITE at sip1: want 302 to sip2, got: $r"
c=$(contact_of <<<"$r")
[ "$c" = "sip:1001@10.99.0.2:5060;tc-fwd=sip1" ] || fail "sip1's Contact: '$c'"
# ... and sip2 answers the marked INVITE from its own state: 480.
r=$(sip 10.99.0.2 INVITE "$c" loop-1)
[ "$(code_of <<<"$r")" = 480 ] || fail "marked INVITE at sip2: want 480, got: $r"
log "sip1 -> 302 $c; sip2 -> 480 for the marked INVITE"

# chains PHASE: from either node, at most one hop between nodes, and the
# chain never ends pointing at a node.
chains() {
    local start hops code last
    for start in 10.99.0.1 10.99.0.2; do
        read -r hops code last < <(follow "$start" "chain-$1-$start")
        log "chain from $start: $hops hop(s), ends in $code ($last)"
        [ "$hops" -le 1 ] || fail "redirect chain from $start is $hops hops long"
        [ "$code" != 302 ] || [[ ! $last =~ ^sip:1001@10\.99\.0\.[12]:5060 ]] ||
            fail "chain from $start still points at a node after $hops hops"
    done
}
chains 1

# Heal: both views converge (sip1, holding the only live binding, owns).
heal
wait_for 60 "views of 1001 to converge" views_agree
va=$(view 10.99.0.1 1001)
log "converged: both say '$va'"
[ "$va" = "sip1 insrv" ] || fail "after the heal sip1 should own 1001 (its live binding), views say '$va'"
r=$(sip 10.99.0.1 INVITE sip:1001@10.99.0.1 healed-1)
c=$(contact_of <<<"$r")
[ "$(code_of <<<"$r")" = 302 ] && [[ $c == sip:1001@10.99.0.1:7001* ]] ||
    fail "after the heal sip1 should redirect to its phone: $r"
r=$(sip 10.99.0.2 INVITE sip:1001@10.99.0.2 healed-2)
[ "$(contact_of <<<"$r")" = "sip:1001@10.99.0.1:5060;tc-fwd=sip2" ] ||
    fail "after the heal sip2 should forward to sip1: $r"

# The mirror case: sip1 owns 1001; cut; the phone leaves sip1, which
# releases while sip2 keeps the stale "sip1 owns". Now sip2 forwards,
# marked tc-fwd=sip2, and sip1 answers the marked INVITE 480.
cut
r=$(sip 10.99.0.1 REGISTER sip:1001@10.99.0.1 unreg-a sip:1001@10.99.0.1:7001 0)
[ "$(code_of <<<"$r")" = 200 ] || fail "unREGISTER at sip1: $r"
wait_for 10 "sip1 to release 1001" not_view_is 10.99.0.1 1001 "sip1 insrv"
va=$(view 10.99.0.1 1001)
vb=$(view 10.99.0.2 1001)
log "stale views: sip1 says '$va', sip2 says '$vb'"
[ "$vb" = "sip1 insrv" ] || fail "sip2's view should be stale (sip1 insrv), is '$vb'"
r=$(sip 10.99.0.2 INVITE sip:1001@10.99.0.2 loop-2)
c=$(contact_of <<<"$r")
[ "$c" = "sip:1001@10.99.0.1:5060;tc-fwd=sip2" ] || fail "sip2 should forward marked: $r"
r=$(sip 10.99.0.1 INVITE "$c" loop-2)
[ "$(code_of <<<"$r")" = 480 ] || fail "marked INVITE at sip1: want 480, got: $r"
log "sip2 -> 302 $c; sip1 -> 480 for the marked INVITE"
chains 2
heal
wait_for 60 "views of 1001 to converge" views_agree
va=$(view 10.99.0.1 1001)
log "converged: both say '$va'"
[ "$va" = " oos" ] || fail "after the heal 1001 should be out of service everywhere, views say '$va'"

status=0
log "PASS"
