#!/bin/sh
# test_milter_postfix.sh - rcptguard-milter behind a real Postfix, end to
# end: swaks talks SMTP to a Postfix "front" whose smtpd_milters is the
# filter, and the filter probes the lab's real MTAs (tests/lab) through the
# lab's real DNS server. The answers asserted are the ones a mail client
# sees at RCPT; a tagged message is read back from the front's queue. Then
# the filter is killed in the middle of an SMTP session: Postfix applies
# milter_default_action, and after a restart the filter serves again.
# Needs root (network namespaces).
. "$top_srcdir/tests/cli/tap.sh"
E2E_SECTION="[milter]
listen = inet:10041@127.0.0.1"
. "$top_srcdir/tests/e2e/e2e_lib.sh"
MILTER="$top_builddir/milter/rcptguard-milter"
PY=${PYTHON3:-/usr/bin/python3}

e2e_conf ""
e2e_start "$MILTER" 127.0.0.1 10041
check "rcptguard-milter runs in the lab" kill -0 "$E2E_PID"
e2e_front "smtpd_milters = inet:127.0.0.1:10041
milter_default_action = accept
milter_protocol = 6
smtpd_recipient_restrictions = check_client_access static:HOLD"

e2e_classes
is "null MX gets 550 5.1.10 through the milter" "$(code_of someone@nullmx.test)" "550 5.1.10"
is "the client sees rcptguard's reply text" "$(reply_of ghost@honest.test)" \
    '550 5.1.1 rcptguard: the mailbox does not exist (no_mailbox)'
like_file "the filter logs each decision with Postfix's queue id" "$LAB_DIR/daemon.log" \
    '[0-9A-F]+: action=reject client=[^ ]*\[127\.0\.0\.1\] sender=<sender@client\.lab\.test> rcpt=<ghost@honest\.test> class=undeliverable reason=no_mailbox mx=mx\.honest\.test'

e2e_tagged
e2e_monitor_and_dns
e2e_reload ""

# Killed in the middle of an SMTP session: the first RCPT is the filter's,
# then the filter dies (kill -9), and the next RCPT of the same session gets
# milter_default_action (accept). The client waits for the go file.
cat > "$LAB_DIR/session.py" <<'PYEOF'
import os, smtplib, sys, time
go = sys.argv[1]
s = smtplib.SMTP("127.0.0.40", 25, timeout=60)
s.ehlo("client.lab.test")
s.mail("sender@client.lab.test")
print("first", s.rcpt("ghost@honest.test")[0], flush=True)
end = time.monotonic() + 60
while time.monotonic() < end and not os.path.exists(go):
    time.sleep(0.05)
print("second", s.rcpt("ghost@honest.test")[0], flush=True)
s.quit()
PYEOF
rm -f "$LAB_DIR/go"
lab_exec "$PY" "$LAB_DIR/session.py" "$LAB_DIR/go" > "$LAB_DIR/session.out" 2>&1 &
spid=$!
wait_for 60 grep -q '^first' "$LAB_DIR/session.out" ||
    tap_not_ok "the first RCPT of the session is answered within 60 s" "$(cat "$LAB_DIR/session.out")"
kill -KILL "$E2E_PID"
wait "$E2E_PID" 2>/dev/null
touch "$LAB_DIR/go"
wait "$spid"
is "in a session, before the kill: the filter rejects" "$(sed -n 's/^first //p' "$LAB_DIR/session.out")" "550"
is "the same session after kill -9: milter_default_action=accept (250)" \
    "$(sed -n 's/^second //p' "$LAB_DIR/session.out")" "250"
is "filter down: a new session gets milter_default_action (250)" "$(code_of ghost@honest.test)" "250 2.1.5"
like "Postfix logged the filter's failure" "$(cat "$FRONT/maillog")" 'milter inet:127\.0\.0\.1:10041'

e2e_start "$MILTER" 127.0.0.1 10041
is "after a restart the filter serves again" "$(code_of ghost@honest.test)" "550 5.1.1"
e2e_stop
is "the filter stops on SIGTERM" "$?" "0"
st=$(mdb_stat -n -a "$LAB_DIR/state/cache.lmdb" 2>&1)
like "the cache is clean after kill -9 and the run (mdb_stat)" "$st" 'Status of verdicts'

tap_done
