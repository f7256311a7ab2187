#!/bin/sh
# run-converge-bench.sh - time to the definitive verdicts in the lab (as
# root): servers that limit recipients, throttle, answer 4xx at the greeting
# or at MAIL FROM, hang up, verify onward, greylist, lack SMTPUTF8. Each row
# runs `rcptguard check --json --no-cache --wait 120s` on a fresh lab with
# greylist_retry_delay 3s and throttle_cooldown 2s, and prints the verdicts
# (with their attempts) and the wall-clock seconds until check returned.
# usage: run-converge-bench.sh
set -eu
cd "$(dirname "$0")/.."
BENCH_TARGETS="cli/rcptguard"
. bench/bench_lib.sh
top_srcdir=$top; top_builddir=$B
LAB_TOOLS="$top_srcdir/tests/lab"
. "$LAB_TOOLS/lab.sh"
RG="$top_builddir/cli/rcptguard"
lab_up >/dev/null 2>&1 || { echo nolab; exit 1; }
mkdir -p "$LAB_DIR/state"
{ printf '[general]\nstate_dir = %s/state\nuser =\n' "$LAB_DIR"; lab_probe_conf 3s 2s; printf '[limits]\nthrottle_cooldown = 2s\n'; } > "$LAB_DIR/c.conf"
m() {
	name=$1; shift
	t0=$(date +%s.%N)
	out=$(lab_exec "$RG" -c "$LAB_DIR/c.conf" check --json --no-cache --wait 120s "$@" \
	    2>/dev/null) || true	# exit 5 or 6: some are not deliverable
	t1=$(date +%s.%N)
	v=$(printf '%s\n' "$out" | /usr/bin/python3 -c 'import json,sys
print(" ".join("%s/%s(a%s)" % (o["class"], o["reason"], o["attempts"]) for o in map(json.loads, sys.stdin)))')
	printf '| %s | %s | %s |\n' "$name" "$v" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
}
echo "| case | verdicts (attempts) | seconds |"
echo "|---|---|---:|"
m "Postfix smtpd_recipient_limit=2, 6 addresses" l1@limit.test l2@limit.test l3@limit.test l4@limit.test ghost@limit.test l5@limit.test
m "Microsoft 365 style, 1 RCPT per session, 3 addresses" m1@m365.test m2@m365.test ghost@m365.test
m "421 after 2 RCPTs (a limit), 4 addresses" a1@throttle.test a2@throttle.test a3@throttle.test a4@throttle.test
m "421 too many recipients from your IP (a rate), 4 addresses" b1@ratelimit.test b2@ratelimit.test b3@ratelimit.test b4@ratelimit.test
m "Postfix anvil 2 RCPT per client per 5 s, 4 addresses" v1@anvil.test v2@anvil.test v3@anvil.test v4@anvil.test
m "421 at the first greeting" user@greet421.test
m "451 greylisting at MAIL FROM (try again in 2 seconds)" user@mailgrey.test
m "hang-up after MAIL FROM in the first session" user@dropfirst.test
m "relay 450 verification in progress, existing" user@verify450.test
m "relay 450 verification in progress, unknown" ghost@verify450.test
m "postgrey (2 s) greylisting at RCPT" gina@grey.test
m "mixed UTF-8 batch, no SMTPUTF8" plain@noutf8.test "jörg@noutf8.test"
