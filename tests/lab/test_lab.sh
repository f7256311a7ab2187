#!/bin/sh
# test_lab.sh - `rcptguard check --json` against the lab: real Postfix
# servers, a real DNS server and scripted servers, one case per behaviour.
# Needs root (network namespaces); the lab is torn down on any exit.
. "$top_srcdir/tests/cli/tap.sh"
LAB_TOOLS="$top_srcdir/tests/lab"
. "$LAB_TOOLS/lab.sh"

RG="$top_builddir/cli/rcptguard"
PY=${PYTHON3:-/usr/bin/python3}

lab_up_or_bail

lab_rg_conf 3s 2s

# verdict ADDRESS [OPTIONS] - "class/reason" from check --json, fresh from the network.
verdict() {
	a=$1
	shift
	lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json --no-cache --wait 20s "$@" "$a" \
	    2>>"$LAB_DIR/stderr.log" |
	    "$PY" -c 'import json,sys
o=json.loads(sys.stdin.readline())
print(o["class"] + "/" + o["reason"])' 2>/dev/null
}

expect() {
	is "$1: $2" "$(verdict "$2")" "$3"
}

# Real Postfix, honest
expect "honest postfix, known mailbox" alice@honest.test deliverable/accepted
# The first probe of a domain carries the catch-all test: a random local part.
is "the first session of a domain tests catch-all" \
    "$(grep -c 'RCPT from.*<rg-[0-9a-f]*@honest.test>: Recipient address rejected' \
    "$LAB_DIR/postfix-honest/maillog")" 1
expect "honest postfix, unknown mailbox" ghost@honest.test undeliverable/no_mailbox
expect "honest postfix, case folded" Alice@HONEST.test deliverable/accepted
# Real Postfix, catch-all
expect "catch-all postfix" anyone@catchall.test risky/catch_all
# Real Postfix demanding STARTTLS
expect "STARTTLS-required postfix, known mailbox" erin@tls.test deliverable/accepted
expect "STARTTLS-required postfix, unknown mailbox" ghost@tls.test undeliverable/no_mailbox
like "the probe used TLS" "$(cat "$LAB_DIR/postfix-tls/maillog")" 'TLS connection established from'
sed 's/^starttls = .*//' "$LAB_DIR/rg.conf" > "$LAB_DIR/notls.conf"
printf '[probe]\nstarttls = no\n' >> "$LAB_DIR/notls.conf"
out=$(lab_exec "$RG" -c "$LAB_DIR/notls.conf" check --json --no-cache --wait 20s erin@tls.test 2>&1)
like "without STARTTLS the verdict is tls_required" "$out" '"class":"unknown","reason":"tls_required"'
# Real Postfix behind postgrey: the first probe is greylisted, the prober
# re-probes on its own after greylist_retry_delay and check waits for it.
out=$(lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json --no-cache --wait 30s gina@grey.test 2>&1)
like "greylisted mailbox: deliverable after the re-probe" "$out" '"class":"deliverable","reason":"accepted"'
like "it took a second attempt" "$out" '"attempts":2'
like "postgrey greylisted the first probe" "$(cat "$LAB_DIR/postfix-grey/maillog")" \
    'reject: RCPT from .*450 4\.2\.0 <gina@grey\.test>: Recipient address rejected: Greylisted'
out=$(lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json --no-cache --wait 30s ghost@grey.test 2>&1)
like "greylisted unknown mailbox: undeliverable after the re-probe" "$out" \
    '"class":"undeliverable","reason":"no_mailbox"'
out=$(lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json --no-cache --wait 1s hank@grey.test 2>&1)
like "within a short wait a greylisted mailbox is unknown, never undeliverable" "$out" '"class":"unknown"'
# DNS
expect "NXDOMAIN" user@nosuchdomain.test undeliverable/no_domain
expect "null MX (RFC 7505)" user@nullmx.test undeliverable/null_mx
expect "implicit MX from the A record" carol@implicit.test deliverable/accepted
expect "implicit MX, unknown mailbox" ghost@implicit.test undeliverable/no_mailbox
expect "dead first MX, live backup" dave@backup.test deliverable/accepted
expect "SERVFAIL" user@servfail.test unknown/dns_error
expect "MX on a forbidden address" user@forbidden.test unknown/forbidden_address
expect "MX host that does not resolve" user@nohost.test undeliverable/no_mail_host
# Static knowledge and provider rules
expect "disposable domain, no probe" someone@mailinator.com risky/disposable
expect "subdomain of a disposable domain" someone@eu.yopmail.com risky/disposable
out=$(lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json --no-cache --wait 20s postmaster@honest.test)
like "a role account is deliverable and flagged" "$out" '"class":"deliverable".*"role":true'
before=$(grep -c 'connect from' "$LAB_DIR/postfix-honest/maillog")
expect "accept-all provider (yahoodns.net), no probe" anyone@yahoo.test risky/accept_all_provider
is "the accept-all provider was not connected to" \
    "$(grep -c 'connect from' "$LAB_DIR/postfix-honest/maillog")" "$before"
expect "unreliable-250 provider: 250 becomes risky" frank@msft.test risky/accept_all_provider
expect "unreliable-250 provider: 550 still counts" ghost@msft.test undeliverable/no_mailbox
# Scripted servers
expect "252 to RCPT" user@s252.test risky/ambiguous_252
expect "552 mailbox full" user@full.test risky/mailbox_full
expect "550 5.7.1 DNSBL block is never undeliverable" user@dnsbl.test unknown/policy_block
expect "502 to EHLO falls back to HELO" user@ehlo502.test deliverable/accepted
expect "no greeting (tarpit)" user@tarpit.test unknown/timeout
expect "slow greeting within the timeout" user@slow.test deliverable/accepted
expect "multi-line replies, accepted" user@multiline.test deliverable/accepted
expect "multi-line replies, unknown user" ghost@multiline.test undeliverable/no_mailbox
expect "hang-up after RCPT keeps the answer" user@hangup.test deliverable/accepted
expect "literal address is not probed" "user@[127.0.0.10]" unknown/forbidden_address
expect "bad syntax is not probed" "a..b@honest.test" undeliverable/bad_syntax

# classes RCPT... - "class/reason/attempts" of each address, in order, from
# one check (asking again in a new transaction or session is not an attempt:
# attempts count re-probes of temporary answers).
classes() {
	lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json --no-cache --wait 30s "$@" \
	    2>>"$LAB_DIR/stderr.log" | "$PY" -c 'import json,sys
print(" ".join("%s/%s/%d" % (o["class"], o["reason"], o["attempts"])
    for o in map(json.loads, sys.stdin)))'
}

# 421 "too many recipients" after two RCPTs: a limit of the session, not a
# throttle. The rest are asked in a new session, the limit is learned, and
# no pause follows.
is "421 after two RCPTs: the rest asked in a new session" \
    "$(classes a1@throttle.test a2@throttle.test a3@throttle.test a4@throttle.test)" \
    "deliverable/accepted/1 deliverable/accepted/1 deliverable/accepted/1 deliverable/accepted/1"
is "two sessions for four recipients" "$(grep -c '^MAIL FROM' "$LAB_DIR/record/127.0.0.27.log")" 2
: > "$LAB_DIR/record/127.0.0.27.log"
expect "no pause after a recipient-count reply" a5@throttle.test deliverable/accepted
is "the learned limit: no 421 needed for two more" \
    "$(classes a6@throttle.test a7@throttle.test a8@throttle.test)" \
    "deliverable/accepted/1 deliverable/accepted/1 deliverable/accepted/1"
is "at most two RCPTs in any later session" "$("$PY" -c 'import sys
n = m = 0
for line in open(sys.argv[1]):
    if line.startswith("MAIL FROM"):
        n = 0
    elif line.startswith("RCPT TO"):
        n += 1
        m = max(m, n)
print(m)' "$LAB_DIR/record/127.0.0.27.log")" 2

# json_field FIELD - FIELD of each JSON line on standard input, space separated.
json_field() {
	"$PY" -c 'import json,sys
print(" ".join(str(json.loads(l).get(sys.argv[1], "-")) for l in sys.stdin))' "$1"
}

# 421 "too many recipients from your IP": a rate, so a throttle. The first
# two are answered, the domain cools down (2 s here), and the prober asks the
# other two again on its own when the pause ends: check --wait gets
# definitive verdicts, with the attempts and why the last was made.
{ cat "$LAB_DIR/rg.conf"; printf '[limits]\nthrottle_cooldown = 2s\n'; } > "$LAB_DIR/cool2.conf"
out=$(lab_exec "$RG" -c "$LAB_DIR/cool2.conf" check --json --no-cache --wait 30s \
    b1@ratelimit.test b2@ratelimit.test b3@ratelimit.test b4@ratelimit.test 2>>"$LAB_DIR/stderr.log")
is "421 worded as a rate: every address converges" "$(printf '%s\n' "$out" | json_field class)" \
    "deliverable deliverable deliverable deliverable"
is "the throttled two took a second attempt" "$(printf '%s\n' "$out" | json_field attempts)" \
    "1 1 2 2"
is "and say why" "$(printf '%s\n' "$out" | json_field retry_reason)" "- - throttled throttled"
is "the re-probes made one or two more sessions" \
    "$(grep -c '^MAIL FROM' "$LAB_DIR/record/127.0.0.29.log" | awk '{print ($1 == 2 || $1 == 3) ? "yes" : $1}')" yes
# Real Postfix throttling per client address (anvil: two recipients per
# 5 s, then "450 4.7.1 Error: too many recipients from 127.0.0.x"): the
# domain cools down and the prober comes back until every address has its
# verdict, within the wait.
out=$(lab_exec "$RG" -c "$LAB_DIR/cool2.conf" check --json --no-cache --wait 60s \
    v1@anvil.test v2@anvil.test v3@anvil.test v4@anvil.test 2>>"$LAB_DIR/stderr.log")
is "Postfix's client rate limit: every address converges" \
    "$(printf '%s\n' "$out" | json_field class)" "deliverable deliverable deliverable deliverable"
like "the throttled ones say why they were asked again" \
    "$(printf '%s\n' "$out" | json_field retry_reason)" 'throttled'
like "Postfix did throttle the probe" "$(cat "$LAB_DIR/postfix-anvil/maillog")" \
    'Recipient address rate limit exceeded: [0-9]* from [^[]*\[127\.0\.0\.[23]\]'

# While a long pause lasts, nothing is probed: the answer is unknown/throttled
# (another domain of the same server, whose record has no pause yet).
{ cat "$LAB_DIR/rg.conf"; printf '[limits]\nthrottle_cooldown = 10m\n'; } > "$LAB_DIR/cool600.conf"
: > "$LAB_DIR/record/127.0.0.29.log"
out=$(lab_exec "$RG" -c "$LAB_DIR/cool600.conf" check --json --no-cache --wait 3s \
    b5@ratelimit2.test b6@ratelimit2.test b7@ratelimit2.test 2>>"$LAB_DIR/stderr.log")
is "421 worded as a rate, a long pause" "$(printf '%s\n' "$out" | json_field reason)" \
    "accepted accepted throttled"
out=$(lab_exec "$RG" -c "$LAB_DIR/cool600.conf" check --json --no-cache --wait 3s \
    b8@ratelimit2.test 2>>"$LAB_DIR/stderr.log")
is "a throttling domain is paused" "$(printf '%s\n' "$out" | json_field reason)" throttled
is "no session during the pause" "$(grep -c '^MAIL FROM' "$LAB_DIR/record/127.0.0.29.log")" 1

# Temporary failures before RCPT converge too: the prober asks again on its
# own (after the delay the reply names, or greylist_retry_delay, 3 s here).
converges() {
	out=$(lab_exec "$RG" -c "$LAB_DIR/cool2.conf" check --json --no-cache --wait 30s "$2" \
	    2>>"$LAB_DIR/stderr.log")
	is "$1: $2" "$(printf '%s\n' "$out" | json_field class) \
$(printf '%s\n' "$out" | json_field attempts) $(printf '%s\n' "$out" | json_field retry_reason)" \
	    "$3"
}
converges "421 at the greeting" user@greet421.test "deliverable 2 throttled"
converges "greylisting at MAIL FROM" user@mailgrey.test "deliverable 2 greylisted"
converges "a hang-up after MAIL FROM" user@dropfirst.test "deliverable 2 temp_failure"
converges "a relay's verification in progress" user@verify450.test "deliverable 2 in_progress"
converges "... and its unknown user" ghost@verify450.test "undeliverable 2 in_progress"

# Real Postfix with smtpd_recipient_limit = 2: "452 4.5.3 Error: too many
# recipients" for the third of a transaction. The rest are asked again in
# transactions of two (RSET between them), and none is left unknown.
is "a transaction limit: every recipient answered" \
    "$(classes l1@limit.test l2@limit.test l3@limit.test l4@limit.test ghost@limit.test \
    l5@limit.test)" \
    "deliverable/accepted/1 deliverable/accepted/1 deliverable/accepted/1 deliverable/accepted/1 undeliverable/no_mailbox/1 deliverable/accepted/1"
# Postfix's disconnect line counts each session's commands: the first asked
# all seven recipients (the catch-all test included) in one transaction
# (Postfix counts its 452s as answered), the second the five left.
is "in two sessions" "$(grep -c 'disconnect from .* mail=' "$LAB_DIR/postfix-limit/maillog")" 2
like "the first session: one transaction of seven" "$(cat "$LAB_DIR/postfix-limit/maillog")" \
    'disconnect from .* mail=1 rcpt=7 '
like "the second: three transactions, RSET between them" \
    "$(cat "$LAB_DIR/postfix-limit/maillog")" 'disconnect from .* mail=3 rcpt=3/5 rset=2 '

# A Microsoft 365 style server: the first RCPT of a session is answered,
# every later one gets 452 4.5.3, after RSET too. Each recipient ends up in a
# session of its own; the catch-all test too.
is "one recipient per session: every one answered" \
    "$(classes m1@m365.test m2@m365.test ghost@m365.test)" \
    "deliverable/accepted/1 deliverable/accepted/1 undeliverable/no_mailbox/1"
: > "$LAB_DIR/record/127.0.0.31.log"
is "the per-session limit is remembered" "$(classes m3@m365.test m4@m365.test)" \
    "deliverable/accepted/1 deliverable/accepted/1"
is "later sessions ask one recipient each" \
    "$(grep -c '^RCPT TO' "$LAB_DIR/record/127.0.0.31.log")" \
    "$(grep -c '^MAIL FROM' "$LAB_DIR/record/127.0.0.31.log")"

# A UTF-8 local part and an ASCII one of a domain whose server offers no
# SMTPUTF8: only the UTF-8 one goes unasked.
is "a mixed UTF-8 batch without SMTPUTF8" "$(classes plain@noutf8.test "jörg@noutf8.test")" \
    "deliverable/accepted/1 unknown/smtputf8_unsupported/1"
# Postfix counts the RCPTs of the session: the ASCII one and the catch-all test.
like "the UTF-8 recipient never reached the server" "$(cat "$LAB_DIR/postfix-noutf8/maillog")" \
    'disconnect from .* rcpt=1/2 '

# The per-domain rate, shared through the cache: one session a minute.
sed 's/^domain_rate = .*/domain_rate = 1/; s/^domain_burst = .*/domain_burst = 1/' \
    "$LAB_DIR/rg.conf" > "$LAB_DIR/slow.conf"
: > "$LAB_DIR/record/127.0.0.21.log"
lab_exec "$RG" -c "$LAB_DIR/slow.conf" check --json --no-cache --wait 10s r1@full.test >/dev/null 2>&1
out=$(lab_exec "$RG" -c "$LAB_DIR/slow.conf" check --json --no-cache --wait 2s r2@full.test 2>&1)
like "over the domain rate the probe waits: unknown" "$out" '"class":"unknown","reason":"in_progress"'
is "only one session within the minute" "$(grep -c '^MAIL FROM' "$LAB_DIR/record/127.0.0.21.log")" 1

# Batching: several recipients of one domain in one session.
: > "$LAB_DIR/record/127.0.0.20.log"
lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json --no-cache --wait 20s \
    a@s252.test b@s252.test c@s252.test >/dev/null
is "three recipients, one MAIL FROM" "$(grep -c '^MAIL FROM' "$LAB_DIR/record/127.0.0.20.log")" 1
# The domain's catch-all answer is known from the first s252.test probe:
# the random recipient is not sent again within its TTL.
is "three RCPTs: the catch-all probe is not repeated" \
    "$(grep -c '^RCPT TO' "$LAB_DIR/record/127.0.0.20.log")" 3
is "no random recipient in the second session" \
    "$(grep -c '^RCPT TO:<rg-' "$LAB_DIR/record/127.0.0.20.log")" 0
is "the probe never sends DATA" "$(cat "$LAB_DIR"/record/*.log | grep -c 'DATA')" 0
like "EHLO carries the configured name" "$(head -n 1 "$LAB_DIR/record/127.0.0.20.log")" \
    '^EHLO probe\.lab\.test$'
like "MAIL FROM is the configured sender" "$(grep -m1 '^MAIL FROM' "$LAB_DIR/record/127.0.0.20.log")" \
    '^MAIL FROM:<postmaster@probe\.lab\.test>$'

# Injection: CRLF and SMTP commands inside an address never reach a server.
: > "$LAB_DIR/record/127.0.0.20.log"
evil=$(printf 'x@s252.test>\r\nRCPT TO:<victim@s252.test')
out=$(lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json --no-cache --wait 10s "$evil" \
    "$(printf 'x\r\nDATA@s252.test')" "$(printf 'x@s252.test\nQUIT')")
is "injected addresses are bad syntax" \
    "$(printf '%s\n' "$out" | "$PY" -c 'import json,sys
print(" ".join(json.loads(l)["reason"] for l in sys.stdin))')" "bad_syntax bad_syntax bad_syntax"
is "nothing of them reached the server" "$(wc -c < "$LAB_DIR/record/127.0.0.20.log" | tr -d ' ')" 0

# Cache: a probed verdict answers the next lookup from the cache.
lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json --wait 20s bob@honest.test >/dev/null
out=$(lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json --wait 20s bob@honest.test)
is "second lookup comes from the cache" \
    "$(printf '%s\n' "$out" | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["source"])')" cache
out=$(lab_exec "$RG" -c "$LAB_DIR/rg.conf" cache get --json bob@honest.test)
like "the verdict names the MX" "$out" '"mx":"mx.honest.test"'

# A stale verdict answers at once from the cache; check waits (within --wait)
# for the background refresh, so the new verdict is in the cache when it exits.
{ cat "$LAB_DIR/rg.conf"; printf '[cache]\nrefresh_deliverable = 1s\n'; } > "$LAB_DIR/stale.conf"
checked() {
	lab_exec "$RG" -c "$LAB_DIR/rg.conf" cache get --json "$1" |
	    "$PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["checked_at"])'
}
# Probed under a config that refreshes deliverable verdicts after a second.
lab_exec "$RG" -c "$LAB_DIR/stale.conf" check --json --no-cache --wait 20s bob@honest.test >/dev/null
before=$(checked bob@honest.test)
wait_for 10 sh -c "[ \$(date +%s) -gt $((before + 1)) ]"
out=$(lab_exec "$RG" -c "$LAB_DIR/stale.conf" check --json --wait 20s bob@honest.test 2>&1)
like "a stale verdict answers from the cache" "$out" '"state":"stale"'
is "its refresh landed before check exited" \
    "$(test "$(checked bob@honest.test)" -gt "$before" && echo newer || echo same)" newer

# Catch-all is remembered per domain: the next address needs no probe.
lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json --wait 20s first@catchall.test >/dev/null
before=$(grep -c 'connect from' "$LAB_DIR/postfix-catchall/maillog")
out=$(lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json --wait 20s second@catchall.test)
after=$(grep -c 'connect from' "$LAB_DIR/postfix-catchall/maillog")
like "catch-all domain answers later addresses" "$out" '"reason":"catch_all"'
is "without another connection" "$after" "$before"

# Source addresses: every session to a domain comes from the same one.
# (Postfix logs the client address with every rejected RCPT.)
srcs=$(grep -o 'reject: RCPT from [^[]*\[127\.0\.0\.[0-9]*\]: [^<]*<[^>]*@honest\.test>' \
    "$LAB_DIR/postfix-honest/maillog" | sed 's/^[^[]*\[\([0-9.]*\)\].*/\1/' | sort -u)
like "sessions come from a configured source address" "$srcs" '^127\.0\.0\.[23]$'
is "and always the same one for the domain" "$(printf '%s\n' "$srcs" | wc -l | tr -d ' ')" 1
is "several sessions were seen" "$(grep -c 'reject: RCPT from .*@honest\.test>' \
    "$LAB_DIR/postfix-honest/maillog" | awk '{print ($1 >= 2) ? "yes" : "no"}')" yes

# MX data is cached for its DNS TTL: the next probe of the domain asks no MX.
before=$(grep -c 'query\[MX\] implicit.test' "$LAB_DIR/dnsmasq.log")
expect "a later probe of a resolved domain" carol@implicit.test deliverable/accepted
is "reuses its cached MX data" "$(grep -c 'query\[MX\] implicit.test' "$LAB_DIR/dnsmasq.log")" "$before"

# Exit codes of check.
lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --wait 20s alice@honest.test >/dev/null
is "check exits 0 when all are deliverable" "$?" 0
lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --wait 20s alice@honest.test ghost@honest.test >/dev/null
is "check exits 5 with an undeliverable one" "$?" 5
lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --wait 20s alice@honest.test user@s252.test >/dev/null
is "check exits 6 with a risky one" "$?" 6

tap_done
