#!/bin/sh
# test_policyd_postfix.sh - rcptguard-policyd behind a real Postfix, end to
# end: swaks talks SMTP to a Postfix "front" whose smtpd_recipient_restrictions
# call the policy server, and the policy server probes the lab's real MTAs
# (tests/lab) through the lab's real DNS server. The answer asserted is the
# one a mail client sees at RCPT. Needs root (network namespaces).
. "$top_srcdir/tests/cli/tap.sh"
LAB_TOOLS="$top_srcdir/tests/lab"
. "$LAB_TOOLS/lab.sh"

RG="$top_builddir/cli/rcptguard"
POLICYD="$top_builddir/policyd/rcptguard-policyd"
PY=/usr/bin/python3

if [ "$(id -u)" -ne 0 ]; then
	echo "Bail out! the lab needs root for network namespaces"
	exit 1
fi
if ! lab_up; then
	echo "Bail out! the lab did not start"
	exit 1
fi

mkdir -p "$LAB_DIR/state"
# write_conf EXTRA - the policy server's config, with EXTRA lines appended.
write_conf() {
	cat > "$LAB_DIR/rg.conf" <<CONF
[general]
state_dir = $LAB_DIR/state
user = nobody
[probe]
helo_name = probe.lab.test
mail_from = postmaster@probe.lab.test
source_addresses = 127.0.0.2, 127.0.0.3
probe_allow_networks = 127.0.0.0/8
connect_timeout = 2s
greeting_timeout = 4s
command_timeout = 4s
session_timeout = 15s
greylist_retry_delay = 4s
greylist_max_retries = 3
[limits]
domain_rate = 600
domain_burst = 100
[dns]
dns_timeout = 1s
dns_tries = 1
[lists]
providers_file = $top_srcdir/conf/providers.conf
disposable_domains_file = $top_srcdir/conf/disposable_domains
role_accounts_file = $top_srcdir/conf/role_accounts
[policyd]
listen = inet:127.0.0.1:10040
[policy]
wait_budget = 2s
$1
CONF
}
write_conf ""
chmod 755 "$LAB_DIR"

start_policyd() {
	# Not through the lab_exec function: $! must be the daemon itself.
	ip netns exec "$LAB_NS" "$POLICYD" -f -c "$LAB_DIR/rg.conf" >> "$LAB_DIR/policyd.log" 2>&1 &
	POLICYD_PID=$!
	lab_wait_port 127.0.0.1 10040
}
# reload_policyd - SIGHUP, and wait for the daemon to say it reloaded (bounded).
reload_policyd() {
	before=$(grep -c 'configuration reloaded' "$LAB_DIR/policyd.log")
	kill -HUP "$POLICYD_PID"
	for _ in $(seq 1 50); do
		[ "$(grep -c 'configuration reloaded' "$LAB_DIR/policyd.log")" -gt "$before" ] && return 0
		sleep 0.1
	done
	return 1
}
start_policyd
check "rcptguard-policyd runs in the lab" kill -0 "$POLICYD_PID"

# The front: a Postfix that asks the policy server at RCPT and holds every
# message it accepts, so the tests can read it from the queue.
LAB_PF_EXTRA="mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = check_policy_service { inet:127.0.0.1:10040, timeout=20s, default_action=DUNNO }, check_client_access static:HOLD"
lab_postfix front 127.0.0.40 "" || { echo "Bail out! the front Postfix did not start"; exit 1; }
LAB_PF_EXTRA=
lab_wait_port 127.0.0.40 25 || { echo "Bail out! the front Postfix does not listen"; exit 1; }
FRONT="$LAB_DIR/postfix-front"

# rcpt TO... - "address code dsn" for each RCPT of one SMTP dialogue (swaks).
rcpt() {
	to=$(printf '%s' "$*" | tr ' ' ',')
	lab_exec swaks --server 127.0.0.40 --helo client.lab.test --from sender@client.lab.test \
	    --to "$to" --quit-after RCPT 2>&1 |
	    awk '/ -> RCPT TO:/ { sub(/.*RCPT TO:</, ""); sub(/>.*/, ""); a = $0; next }
		a != "" && /^<(-|\*\*) / { print a, $2, $3; a = "" }'
}
# code_of ADDRESS - the RCPT reply code and enhanced code, alone.
code_of() { rcpt "$1" | awk '{ print $2, $3 }'; }

is "deliverable: alice@honest.test gets 250" "$(code_of alice@honest.test)" "250 2.1.5"
is "undeliverable: ghost@honest.test gets 550 5.1.1" "$(code_of ghost@honest.test)" "550 5.1.1"
is "no such domain gets 550 5.1.2" "$(code_of someone@nowhere.test)" "550 5.1.2"
# Postfix's smtpd_dsn_fix() knows 5.1.0 to 5.1.8 only and maps the 5.1.10 of
# the answer (RFC 7505) to 5.1.0 on the wire; its log shows what it got.
is "null MX gets 550 (Postfix sends 5.1.0)" "$(code_of someone@nullmx.test)" "550 5.1.0"
like "null MX: the policy server answered 5.1.10" "$(cat "$LAB_DIR/postfix-front/maillog")" \
    'mapping DSN status 5\.1\.10 into Recipient address status 5\.1\.0'

is "implicit MX, known mailbox: 250" "$(code_of carol@implicit.test)" "250 2.1.5"
is "dead first MX, live backup: 250" "$(code_of dave@backup.test)" "250 2.1.5"
is "risky (catch-all) gets 450 4.7.1" "$(code_of anyone@catchall.test)" "450 4.7.1"
is "risky (252) gets 450 4.7.1" "$(code_of someone@s252.test)" "450 4.7.1"
is "risky (accept-all provider) gets 450 4.7.1" "$(code_of anyone@yahoo.test)" "450 4.7.1"
is "unknown (SERVFAIL) gets 450 4.7.1" "$(code_of someone@servfail.test)" "450 4.7.1"
is "unknown (DNSBL block at the target) gets 450, never 550" "$(code_of someone@dnsbl.test)" "450 4.7.1"
is "unknown (MX on a forbidden address) gets 450" "$(code_of someone@forbidden.test)" "450 4.7.1"
is "a prober that cannot reach the MX: 450, never 550" "$(code_of someone@unreachable.test)" "450 4.7.1"
full=$(rcpt ghost@honest.test)
like "the client sees the reason in the reply text" \
    "$(lab_exec swaks --server 127.0.0.40 --from s@client.lab.test --to ghost@honest.test --quit-after RCPT 2>&1)" \
    '550 5.1.1 <ghost@honest.test>: Recipient address rejected: rcptguard: the mailbox does not exist \(no_mailbox\)'

# Greylisting: deferred at first, then 250 once the prober's own retry got through.
is "greylisted: gina@grey.test gets 450 at first" "$(code_of gina@grey.test)" "450 4.7.1"
got=
for _ in $(seq 1 40); do
	got=$(code_of gina@grey.test)
	[ "$got" = "250 2.1.5" ] && break
	sleep 0.5
done
is "greylisted: 250 after the prober's greylist retry" "$got" "250 2.1.5"

# One message, several recipients: each gets its own answer.
multi=$(rcpt alice@honest.test ghost@honest.test anyone@catchall.test bob@honest.test)
is "several recipients in one message are answered one by one" "$multi" \
"alice@honest.test 250 2.1.5
ghost@honest.test 550 5.1.1
anyone@catchall.test 450 4.7.1
bob@honest.test 250 2.1.5"

# Decisions are logged, one line each, with the Postfix queue id or NOQUEUE.
like "the policy server logs each decision" "$(cat "$LAB_DIR/policyd.log")" \
    'NOQUEUE: action=reject client=[^ ]*\[127\.0\.0\.1\] sender=<sender@client\.lab\.test> rcpt=<ghost@honest\.test> class=undeliverable reason=no_mailbox mx=mx\.honest\.test'

# A tagged recipient: the message is accepted and carries the header.
write_conf "reason_actions = catch_all=tag"
reload_policyd
out=$(lab_exec swaks --server 127.0.0.40 --from sender@client.lab.test --to anyone@catchall.test \
    --header "Subject: tagged" --body "hello" 2>&1)
qid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' | head -n 1)
like "a tagged recipient is accepted" "$out" '250 2.0.0 Ok: queued as'
like "the queued message carries X-Rcptguard-Verdict" \
    "$(lab_exec postcat -c "$FRONT" -hq "$qid" 2>&1)" \
    'X-Rcptguard-Verdict: risky; reason=catch_all; rcpt=<anyone@catchall.test>'

# Monitor mode: everything passes, and the log says what would have happened.
write_conf "mode = monitor"
reload_policyd
is "monitor mode: ghost@honest.test passes" "$(code_of ghost@honest.test)" "250 2.1.5"
is "monitor mode: a risky address passes" "$(code_of anyone@catchall.test)" "250 2.1.5"
like "monitor mode logs the action it would have taken" "$(cat "$LAB_DIR/policyd.log")" \
    'action=pass monitor=yes would=reject .*rcpt=<ghost@honest\.test>'

# DNS down: the resolver is a closed port. New addresses are deferred, never rejected.
write_conf "[dns]
dns_servers = 127.0.0.1:1"
reload_policyd
is "DNS down: a domain without cached MX data gets 450, never 550" "$(code_of erin@tls.test)" "450 4.7.1"
is "DNS down: a domain that would not exist gets 450, never 550" "$(code_of x@nowhere2.test)" "450 4.7.1"
is "DNS down: cached verdicts still answer" "$(code_of ghost@honest.test)" "550 5.1.1"
is "DNS down: MX data cached within its DNS TTL still serves probes" "$(code_of nobody1@honest.test)" "550 5.1.1"
like "DNS down is logged as dns_error" "$(cat "$LAB_DIR/policyd.log")" 'rcpt=<erin@tls\.test> class=unknown reason=dns_error'

# The policy server gone: Postfix applies default_action=DUNNO and mail flows.
kill -TERM "$POLICYD_PID"
wait "$POLICYD_PID" 2>/dev/null
is "the policy server stops on SIGTERM" "$?" "0"
is "policy server down: Postfix uses default_action (250)" "$(code_of ghost@honest.test)" "250 2.1.5"
write_conf ""
start_policyd
is "after a restart the policy server answers again" "$(code_of ghost@honest.test)" "550 5.1.1"
kill -TERM "$POLICYD_PID"
wait "$POLICYD_PID" 2>/dev/null
st=$(mdb_stat -n -a "$LAB_DIR/state/cache.lmdb" 2>&1)
like "the cache is clean after the run (mdb_stat)" "$st" 'Status of verdicts'

tap_done
