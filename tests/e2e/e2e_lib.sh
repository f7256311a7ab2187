# e2e_lib.sh - what the end-to-end tests of the two front-ends share: the
# lab (tests/lab) with its real MTAs and DNS server, the daemon's config, a
# Postfix "front" that swaks talks to, and the RCPT answers every front-end
# must give for the lab's addresses. Source it after tap.sh. Needs root
# (network namespaces).
LAB_TOOLS="$top_srcdir/tests/lab"
. "$LAB_TOOLS/lab.sh"
RG="$top_builddir/cli/rcptguard"

lab_up_or_bail
mkdir -p "$LAB_DIR/state"
chmod 755 "$LAB_DIR"

# e2e_conf EXTRA - the daemon's config: the lab's prober settings, the
# front-end's own section ($E2E_SECTION), then EXTRA appended to [policy].
e2e_conf() {
	{
		printf '[general]\nstate_dir = %s/state\nuser = nobody\n' "$LAB_DIR"
		lab_probe_conf 4s 1s
		printf '%s\n[policy]\nwait_budget = 2s\n%s\n' "$E2E_SECTION" "$1"
	} > "$LAB_DIR/rg.conf"
}

# e2e_start BINARY IP PORT - the daemon in the lab, in the foreground, until
# its port answers. Not through lab_exec: $! must be the daemon itself.
e2e_start() {
	ip netns exec "$LAB_NS" "$1" -f -c "$LAB_DIR/rg.conf" >> "$LAB_DIR/daemon.log" 2>&1 &
	E2E_PID=$!
	lab_wait_port "$2" "$3"
}

# e2e_reloaded N - the daemon has logged more than N reloads.
e2e_reloaded() {
	[ "$(grep -c 'configuration reloaded' "$LAB_DIR/daemon.log")" -gt "$1" ]
}

# e2e_reload EXTRA - a new config, SIGHUP, and the daemon's word within 60
# s; a reload that is not acknowledged is a failed test, not a silent one.
e2e_reload() {
	e2e_conf "$1"
	before=$(grep -c 'configuration reloaded' "$LAB_DIR/daemon.log")
	kill -HUP "$E2E_PID"
	if wait_for 60 e2e_reloaded "$before"; then
		return 0
	fi
	tap_not_ok "the daemon acknowledges a reload within 60 s" "$(tail -n 5 "$LAB_DIR/daemon.log")"
	return 1
}

# e2e_stop - SIGTERM; the daemon's exit status.
e2e_stop() {
	kill -TERM "$E2E_PID"
	wait "$E2E_PID" 2>/dev/null
}

# e2e_front EXTRA_MAIN_CF - the front Postfix at 127.0.0.40, which holds
# every message it accepts, so the tests can read it from the queue.
e2e_front() {
	LAB_PF_EXTRA="mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
$1"
	lab_postfix front 127.0.0.40 "" || { echo "Bail out! the front Postfix did not start"; exit 1; }
	LAB_PF_EXTRA=
	lab_wait_port 127.0.0.40 25 || { echo "Bail out! the front Postfix does not listen"; exit 1; }
	FRONT="$LAB_DIR/postfix-front"
}

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
# reply_of ADDRESS - the whole RCPT reply line a client sees.
reply_of() {
	lab_exec swaks --server 127.0.0.40 --from s@client.lab.test --to "$1" --quit-after RCPT 2>&1 |
	    sed -n 's/^<\*\* //p' | head -n 1
}

# e2e_classes - the answers at RCPT for each class of the lab's addresses,
# the greylist retry and several recipients in one message.
e2e_classes() {
	is "deliverable: alice@honest.test gets 250" "$(code_of alice@honest.test)" "250 2.1.5"
	is "undeliverable: ghost@honest.test gets 550 5.1.1" "$(code_of ghost@honest.test)" "550 5.1.1"
	is "no such domain gets 550 5.1.2" "$(code_of someone@nowhere.test)" "550 5.1.2"
	is "implicit MX, known mailbox: 250" "$(code_of carol@implicit.test)" "250 2.1.5"
	is "dead first MX, live backup: 250" "$(code_of dave@backup.test)" "250 2.1.5"
	is "risky (catch-all) gets 450 4.7.1" "$(code_of anyone@catchall.test)" "450 4.7.1"
	is "risky (252) gets 450 4.7.1" "$(code_of someone@s252.test)" "450 4.7.1"
	is "risky (accept-all provider) gets 450 4.7.1" "$(code_of anyone@yahoo.test)" "450 4.7.1"
	is "unknown (SERVFAIL) gets 450 4.7.1" "$(code_of someone@servfail.test)" "450 4.7.1"
	is "unknown (DNSBL block at the target) gets 450, never 550" "$(code_of someone@dnsbl.test)" "450 4.7.1"
	is "unknown (MX on a forbidden address) gets 450" "$(code_of someone@forbidden.test)" "450 4.7.1"
	is "a prober that cannot reach the MX: 450, never 550" "$(code_of someone@unreachable.test)" "450 4.7.1"

	# Greylisting: deferred at first, then 250 once the prober's own retry got through.
	is "greylisted: gina@grey.test gets 450 at first" "$(code_of gina@grey.test)" "450 4.7.1"
	got=
	# The prober's retry comes after the lab's greylist delay: up to 90 s here.
	_end=$(($(date +%s) + 90))
	while [ "$(date +%s)" -lt "$_end" ]; do
		got=$(code_of gina@grey.test)
		[ "$got" = "250 2.1.5" ] && break
		sleep 0.5
	done
	is "greylisted: 250 after the prober's greylist retry" "$got" "250 2.1.5"

	# One message, several recipients: each gets its own answer.
	is "several recipients in one message are answered one by one" \
	    "$(rcpt alice@honest.test ghost@honest.test anyone@catchall.test bob@honest.test)" \
"alice@honest.test 250 2.1.5
ghost@honest.test 550 5.1.1
anyone@catchall.test 450 4.7.1
bob@honest.test 250 2.1.5"
}

# e2e_tagged - with catch_all=tag, a message to a catch-all address is
# accepted and carries the verdict header in the front's queue.
e2e_tagged() {
	e2e_reload "reason_actions = catch_all=tag"
	out=$(lab_exec swaks --server 127.0.0.40 --from sender@client.lab.test --to anyone@catchall.test \
	    --header "Subject: tagged" --body "hello" 2>&1)
	qid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' | head -n 1)
	like "a tagged recipient is accepted" "$out" '250 2.0.0 Ok: queued as'
	like "the queued message carries X-Rcptguard-Verdict" \
	    "$(lab_exec postcat -c "$FRONT" -hq "$qid" 2>&1)" \
	    'X-Rcptguard-Verdict: risky; reason=catch_all; rcpt=<anyone@catchall\.test>'
}

# e2e_monitor_and_dns - monitor mode passes and logs; with DNS down new
# addresses are deferred, never rejected, and cached verdicts still answer.
e2e_monitor_and_dns() {
	e2e_reload "mode = monitor"
	is "monitor mode: ghost@honest.test passes" "$(code_of ghost@honest.test)" "250 2.1.5"
	is "monitor mode: a risky address passes" "$(code_of anyone@catchall.test)" "250 2.1.5"
	like_file "monitor mode logs the action it would have taken" "$LAB_DIR/daemon.log" \
	    'action=pass monitor=yes would=reject .*rcpt=<ghost@honest\.test>'

	# DNS down: the resolver is a closed port.
	e2e_reload "[dns]
dns_servers = 127.0.0.1:1"
	is "DNS down: a domain without cached MX data gets 450, never 550" "$(code_of erin@tls.test)" "450 4.7.1"
	is "DNS down: a domain that would not exist gets 450, never 550" "$(code_of x@nowhere2.test)" "450 4.7.1"
	is "DNS down: cached verdicts still answer" "$(code_of ghost@honest.test)" "550 5.1.1"
	is "DNS down: MX data cached within its DNS TTL still serves probes" "$(code_of nobody1@honest.test)" "550 5.1.1"
	like_file "DNS down is logged as dns_error" "$LAB_DIR/daemon.log" 'rcpt=<erin@tls\.test> class=unknown reason=dns_error'
}
