#!/bin/sh
# test_milter_miltertest.sh - rcptguard-milter against miltertest (Debian's
# miltertest, the MTA side of the milter protocol, scripted in Lua): the
# negotiation, each action per class, several recipients with mixed verdicts,
# the tag header, exemption by {auth_authen}, abort in the middle of a
# message. Verdicts come from the shared cache (`rcptguard cache put`); the
# prober has no network. Every filter started must stop with status 0 on
# SIGTERM; RG_MILTER_WRAP (for example valgrind) runs it under a wrapper,
# whose error status then fails that check.
. "$top_srcdir/tests/cli/tap.sh"

RG="$top_builddir/cli/rcptguard"
MILTER="$top_builddir/milter/rcptguard-milter"
T="$top_srcdir/tests/milter"

tap_need miltertest
tmp=$(mktemp -d /tmp/rg-miltertest-XXXXXX)
MPID=
cleanup() {
	[ -n "$MPID" ] && kill -KILL "$MPID" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir "$tmp/state"
SOCK="$tmp/milter.sock"

# write_conf EXTRA - the filter's config, with EXTRA lines in [policy].
write_conf() {
	cat > "$tmp/rg.conf" <<CONF
[general]
state_dir = $tmp/state
user =
[dns]
dns_servers = 127.0.0.1:1
dns_timeout = 1s
dns_tries = 1
[lists]
providers_file =
disposable_domains_file =
role_accounts_file =
[milter]
listen = unix:$SOCK
[policy]
wait_budget = 2s
$1
CONF
}
write_conf ""
put() { "$RG" -c "$tmp/rg.conf" cache put "$@" >/dev/null; }
put ok@example.org deliverable accepted
put ok2@example.org deliverable accepted
put ghost@example.org undeliverable no_mailbox
put nodomain@nxdomain.example undeliverable no_domain
put risky@example.org risky catch_all
put risky2@example.org risky catch_all
put grey@example.org unknown greylisted
put noqueue@example.org undeliverable no_mailbox

# start - the filter in the foreground, until its socket answers (bounded).
start() {
	: > "$tmp/milter.log"
	# shellcheck disable=SC2086
	$RG_MILTER_WRAP "$MILTER" -f -c "$tmp/rg.conf" >> "$tmp/milter.log" 2>&1 &
	MPID=$!
	wait_for 120 milter_ready && grep -q 'ready:' "$tmp/milter.log"
}

# milter_ready - the filter said ready (or it died: stop waiting).
milter_ready() {
	grep -q 'ready:' "$tmp/milter.log" && return 0
	kill -0 "$MPID" 2>/dev/null || return 0
	return 1
}
# stop NAME - SIGTERM, and the filter must exit 0.
stop() {
	kill -TERM "$MPID"
	wait "$MPID"
	rc=$?
	MPID=
	is "$1: the filter stops cleanly on SIGTERM" "$rc" "0"
}
# script NAME [VAR=VALUE...] - run a Lua script; its ok/not ok lines count here.
script() {
	name=$1
	shift
	defs="-D sock=unix:$SOCK -D top_srcdir=$top_srcdir"
	for d in "$@"; do defs="$defs -D $d"; done
	# shellcheck disable=SC2086
	out=$(miltertest $defs -s "$T/$name.lua" 2>&1)
	rc=$?
	printf '%s\n' "$out" | while IFS= read -r line; do
		case $line in
		"ok - "*) echo "$line" ;;
		"not ok - "*) echo "$line" ;;
		"#"*) echo "$line" ;;
		esac
	done > "$tmp/script.out"
	while IFS= read -r line; do
		case $line in
		"ok - "*) tap_ok "$name: ${line#ok - }" ;;
		"not ok - "*) tap_not_ok "$name: ${line#not ok - }" ;;
		"#"*) echo "$line" ;;
		esac
	done < "$tmp/script.out"
	if [ "$rc" -ne 0 ]; then
		tap_not_ok "$name: miltertest exits 0" "$(printf '%s\n' "$out" | tail -n 5)"
	fi
}

# ---- defaults: negotiation, actions, mixed recipients, aborts ---------------
start || { echo "Bail out! rcptguard-milter did not start"; cat "$tmp/milter.log"; exit 1; }
script negotiate expect_tag=1
script actions
like_file "the last decision is logged" "$tmp/milter.log" 'NOQUEUE: action=reject .*rcpt=<noqueue@example\.org>'
log=$(cat "$tmp/milter.log")
like "reject text: 550 5.1.1 and the reason, logged with the job id" "$log" \
    'QID0001: action=reject client=client\.example\[192\.0\.2\.7\] sender=<alice@example\.com> rcpt=<ghost@example\.org> class=undeliverable reason=no_mailbox'
like "no such domain is rejected as no_domain" "$log" \
    'QID0001: action=reject .*rcpt=<nodomain@nxdomain\.example> class=undeliverable reason=no_domain'
like "risky is deferred" "$log" 'QID0001: action=defer .*rcpt=<risky@example\.org> class=risky reason=catch_all'
like "unknown is deferred" "$log" 'QID0001: action=defer .*rcpt=<grey@example\.org> class=unknown reason=greylisted'
like "bad syntax is rejected without a probe" "$log" \
    'QID0001: action=reject .*rcpt=<bad\.\.dots@example\.org> class=undeliverable reason=bad_syntax'
like "deliverable passes" "$log" 'QID0001: action=pass .*rcpt=<ok@example\.org> class=deliverable'
stop defaults

# ---- tag ----------------------------------------------------------------------
write_conf "reason_actions = catch_all=tag"
start || { echo "Bail out! rcptguard-milter did not start (tag)"; exit 1; }
script tag
script abort
like_file "a tagged recipient is logged as tag" "$tmp/milter.log" \
    'QID0101: action=tag .*rcpt=<risky@example\.org> class=risky reason=catch_all'
stop tag

# ---- a config that never tags asks for no header ------------------------------
write_conf "action_risky = reject
action_unknown = pass
defer_window = 0"
start || { echo "Bail out! rcptguard-milter did not start (no tag)"; exit 1; }
script negotiate expect_tag=0
stop "no tag"

# ---- exemption by {auth_authen} -----------------------------------------------
write_conf "exempt_sasl_users = trusted"
start || { echo "Bail out! rcptguard-milter did not start (exempt)"; exit 1; }
script exempt
like_file "the exemption is logged" "$tmp/milter.log" \
    'QID0201: action=pass exempt=sasl_user .*rcpt=<ghost@example\.org>'
stop exempt

tap_done
