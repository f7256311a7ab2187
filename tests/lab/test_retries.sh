#!/bin/sh
# test_retries.sh - re-probes that survive their process. rcptguard-policyd
# makes the first probe of a recipient behind the lab's greylisting Postfix
# (postgrey, 2 s delay; greylist_retry_delay 3 s here) and is then killed,
# reloaded or restarted before the re-probe is due. The re-probe is in the
# cache's retry records, so another process (rcptguard check), the reloaded
# daemon or the restarted one performs it, and the definitive verdict is in
# the cache on time: at most 3 s after the due time. Needs root (the lab).
. "$top_srcdir/tests/cli/tap.sh"
LAB_TOOLS="$top_srcdir/tests/lab"
. "$LAB_TOOLS/lab.sh"

RG="$top_builddir/cli/rcptguard"
PD="$top_builddir/policyd/rcptguard-policyd"
PY=${PYTHON3:-/usr/bin/python3}
DELAY=3

lab_up_or_bail
mkdir -p "$LAB_DIR/state"
{
	printf '[general]\nstate_dir = %s/state\nuser =\n' "$LAB_DIR"
	lab_probe_conf ${DELAY}s 2s
	printf '[policyd]\nlisten = inet:127.0.0.1:10041\n[policy]\nwait_budget = 1s\n'
} > "$LAB_DIR/rg.conf"

pd_start() {
	lab_exec "$PD" -f -c "$LAB_DIR/rg.conf" >> "$LAB_DIR/pd.log" 2>&1 &
	PD_PID=$!
	lab_wait_port 127.0.0.1 10041 || tap_not_ok "rcptguard-policyd listens" "$(tail -n 5 "$LAB_DIR/pd.log")"
}

# ask RCPT - the policy server's action for a recipient at RCPT.
ask() {
	lab_exec "$PY" -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", 10041), 10)
s.sendall(("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
    "client_address=192.0.2.7\nclient_name=client.example\nsender=s@client.example\n"
    "recipient=%s\n\n" % sys.argv[1]).encode())
buf = b""
while not buf.endswith(b"\n\n"):
    d = s.recv(4096)
    if not d:
        break
    buf += d
print(buf.decode().split("\n")[0])' "$1"
}

# field ADDRESS NAME - a field of the cached verdict ("-" when absent).
field() {
	lab_exec "$RG" -c "$LAB_DIR/rg.conf" cache get --json "$1" 2>/dev/null |
	    "$PY" -c 'import json,sys
try:
    print(json.loads(sys.stdin.readline()).get(sys.argv[1], "-"))
except Exception:
    print("-")' "$2"
}

# greylisted_now ADDRESS - the first probe has left its interim verdict.
greylisted_now() { [ "$(field "$1" reason)" = greylisted ]; }
deliverable_now() { [ "$(field "$1" class)" = deliverable ]; }

# on_time ADDRESS T0 - the verdict was made at most 3 s after the re-probe was due.
on_time() {
	t=$(field "$1" checked_at)
	[ "$t" != - ] && [ "$t" -le $(($2 + DELAY + 3)) ] && echo yes || echo "no ($t, first $2)"
}

# 1. SIGKILL: the next process that runs a prober adopts the orphaned re-probe.
pd_start
like "policyd defers a greylisted recipient" "$(ask hank@grey.test)" '^action=DEFER'
wait_for 20 greylisted_now hank@grey.test
t0=$(field hank@grey.test checked_at)
kill -KILL "$PD_PID"
wait "$PD_PID" 2>/dev/null
out=$(lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json --wait 20s hank@grey.test 2>>"$LAB_DIR/check.log")
like "after SIGKILL, check gets the re-probe's verdict" "$out" '"class":"deliverable"'
like "from the second attempt" "$out" '"attempts":2'
like "made because of greylisting" "$out" '"retry_reason":"greylisted"'
is "on time" "$(on_time hank@grey.test "$t0")" yes
like "postgrey greylisted the first probe" "$(cat "$LAB_DIR/postfix-grey/maillog")" \
    'reject: RCPT from .*450 4\.2\.0 <hank@grey\.test>'

# 2. SIGHUP: the reloaded daemon adopts its earlier instance's re-probe.
pd_start
like "policyd defers another greylisted recipient" "$(ask ivan@grey.test)" '^action=DEFER'
wait_for 20 greylisted_now ivan@grey.test
t0=$(field ivan@grey.test checked_at)
before=$(grep -c 'configuration reloaded' "$LAB_DIR/pd.log")
kill -HUP "$PD_PID"
wait_for 30 sh -c "[ \$(grep -c 'configuration reloaded' '$LAB_DIR/pd.log') -gt $before ]"
check "after SIGHUP the verdict arrives" wait_for 20 deliverable_now ivan@grey.test
is "from the second attempt" "$(field ivan@grey.test attempts)" 2
is "on time" "$(on_time ivan@grey.test "$t0")" yes

# 3. A restart (SIGTERM, then a new daemon) loses none either.
like "policyd defers a third greylisted recipient" "$(ask judy@grey.test)" '^action=DEFER'
wait_for 20 greylisted_now judy@grey.test
t0=$(field judy@grey.test checked_at)
kill -TERM "$PD_PID"
wait "$PD_PID" 2>/dev/null
pd_start
check "after a restart the verdict arrives" wait_for 20 deliverable_now judy@grey.test
is "from the second attempt" "$(field judy@grey.test attempts)" 2
is "on time" "$(on_time judy@grey.test "$t0")" yes
# One greylisted probe each (Postfix logs the rejects, not the accepted
# RCPTs): no second probe while a re-probe was pending.
is "no probe while a re-probe was pending" \
    "$(grep -c 'reject: RCPT from .*<\(hank\|ivan\|judy\)@grey\.test>' "$LAB_DIR/postfix-grey/maillog")" 3
kill -TERM "$PD_PID"
wait "$PD_PID" 2>/dev/null

tap_done
