#!/bin/sh
# test_policyd_postfix.sh - rcptguard-policyd behind a real Postfix, end to
# end: swaks talks SMTP to a Postfix "front" whose smtpd_recipient_restrictions
# call the policy server, and the policy server probes the lab's real MTAs
# (tests/lab) through the lab's real DNS server. The answer asserted is the
# one a mail client sees at RCPT. Needs root (network namespaces).
. "$top_srcdir/tests/cli/tap.sh"
E2E_SECTION="[policyd]
listen = inet:127.0.0.1:10040"
. "$top_srcdir/tests/e2e/e2e_lib.sh"
POLICYD="$top_builddir/policyd/rcptguard-policyd"

e2e_conf ""
e2e_start "$POLICYD" 127.0.0.1 10040
check "rcptguard-policyd runs in the lab" kill -0 "$E2E_PID"
e2e_front "smtpd_recipient_restrictions = check_policy_service { inet:127.0.0.1:10040, timeout=20s, default_action=DUNNO }, check_client_access static:HOLD"

e2e_classes
# Postfix's smtpd_dsn_fix() knows 5.1.0 to 5.1.8 only and maps the 5.1.10 of
# the answer (RFC 7505) to 5.1.0 on the wire; its log shows what it got.
is "null MX gets 550 (Postfix sends 5.1.0)" "$(code_of someone@nullmx.test)" "550 5.1.0"
like "null MX: the policy server answered 5.1.10" "$(cat "$FRONT/maillog")" \
    'mapping DSN status 5\.1\.10 into Recipient address status 5\.1\.0'
is "the client sees the reason in the reply text" "$(reply_of ghost@honest.test)" \
    '550 5.1.1 <ghost@honest.test>: Recipient address rejected: rcptguard: the mailbox does not exist (no_mailbox)'
# Decisions are logged, one line each, with the Postfix queue id or NOQUEUE.
like_file "the policy server logs each decision" "$LAB_DIR/daemon.log" \
    'NOQUEUE: action=reject client=[^ ]*\[127\.0\.0\.1\] sender=<sender@client\.lab\.test> rcpt=<ghost@honest\.test> class=undeliverable reason=no_mailbox mx=mx\.honest\.test'

e2e_tagged
e2e_monitor_and_dns

# The policy server gone: Postfix applies default_action=DUNNO and mail flows.
e2e_stop
is "the policy server stops on SIGTERM" "$?" "0"
is "policy server down: Postfix uses default_action (250)" "$(code_of ghost@honest.test)" "250 2.1.5"
e2e_conf ""
e2e_start "$POLICYD" 127.0.0.1 10040
is "after a restart the policy server answers again" "$(code_of ghost@honest.test)" "550 5.1.1"
e2e_stop
st=$(mdb_stat -n -a "$LAB_DIR/state/cache.lmdb" 2>&1)
like "the cache is clean after the run (mdb_stat)" "$st" 'Status of verdicts'

tap_done
