#!/bin/sh
# test_learn_lab.sh - `rcptguard learn` on a real Postfix's own log: a
# "sender" Postfix in the lab delivers real messages to the lab's mail
# servers (honest, catch-all, a DNSBL block, a full mailbox, greylisting
# through postgrey), and learn reads that Postfix's maillog. The cache
# then holds exactly the verdicts the deliveries showed, with
# source=delivery, and nothing from the block, the full mailbox or the
# deferral. Needs root (network namespaces); the lab is torn down on exit.
. "$top_srcdir/tests/cli/tap.sh"
LAB_TOOLS="$top_srcdir/tests/lab"
. "$LAB_TOOLS/lab.sh"

RG="$top_builddir/cli/rcptguard"
PY=${PYTHON3:-/usr/bin/python3}

lab_up_or_bail

lab_rg_conf 3s 2s

# The sender: relays for the lab's clients, resolves MX through the lab's
# dnsmasq, and retries a deferred message after 2 to 4 seconds.
LAB_PF_EXTRA="mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtp_bind_address = 127.0.0.41
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s"
lab_postfix sender 127.0.0.41 "" || { echo "Bail out! the sender Postfix did not start"; exit 1; }
LAB_PF_EXTRA=
lab_wait_port 127.0.0.41 25 || { echo "Bail out! the sender Postfix does not listen"; exit 1; }
LOG="$LAB_DIR/postfix-sender/maillog"

# The catch-all domain is known as such from a probe, as in production.
lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json --wait 20s probe@catchall.test \
    >/dev/null 2>>"$LAB_DIR/stderr.log"

# send RCPT - one message with the null sender (no bounce comes back).
send() {
	lab_exec swaks --server 127.0.0.41 --helo client.lab.test --from '<>' --to "$1" \
	    --header "Subject: learn test" --body "hello" >/dev/null 2>&1
}
for r in alice@honest.test nobody@honest.test someone@catchall.test user@dnsbl.test \
    user@full.test gina@grey.test; do
	send "$r"
done

# logged RCPT STATUS - the sender logged that status for that recipient.
logged() { grep -q "to=<$1>.* status=$2" "$LOG"; }
for pair in alice@honest.test:sent nobody@honest.test:bounced someone@catchall.test:sent \
    user@dnsbl.test:bounced user@full.test:bounced gina@grey.test:deferred \
    gina@grey.test:sent; do
	r=${pair%:*} st=${pair#*:}
	if wait_for 90 logged "$r" "$st"; then
		tap_ok "the sender Postfix logged status=$st for $r"
	else
		tap_not_ok "the sender Postfix logged status=$st for $r" "$(tail -n 20 "$LOG")"
	fi
done

out=$("$RG" -c "$LAB_DIR/rg.conf" learn --json --verbose --format postfix "$LOG" 2>"$LAB_DIR/learn.err")
is "learn exits 0" "$?" 0
like "learn's summary" "$(cat "$LAB_DIR/learn.err")" \
    'delivery records: 1 undeliverable, 2 deliverable, 1 risky, 0 suspect, [0-9]+ ignored'

# cached ADDRESS - "class/reason source" of the cached verdict, or "none".
cached() {
	"$RG" -c "$LAB_DIR/rg.conf" cache get --json "$1" 2>/dev/null | "$PY" -c 'import json,sys
line = sys.stdin.readline()
o = json.loads(line) if line.strip() else {}
print("%s/%s %s%s" % (o["class"], o["reason"], o["source"], " delivered" if o.get("delivered") else "")
      if o.get("class") else "none")'
}
is "a delivered message: deliverable, from the delivery" "$(cached alice@honest.test)" \
    "deliverable/accepted delivery"
is "550 5.1.1 from the real Postfix: undeliverable, from the delivery" \
    "$(cached nobody@honest.test)" "undeliverable/no_mailbox delivery"
is "delivered on a catch-all domain: still risky, delivered" "$(cached someone@catchall.test)" \
    "risky/catch_all delivery delivered"
is "a DNSBL block is never learned" "$(cached user@dnsbl.test)" "none"
is "a full mailbox is never learned as dead" "$(cached user@full.test)" "none"
is "greylisted, then delivered: deliverable" "$(cached gina@grey.test)" \
    "deliverable/accepted delivery"
like "the block is reported as ignored, policy_block" "$out" \
    '"address":"user@dnsbl.test","learned":"ignored","why":"policy_block"'
like "the full mailbox is reported as ignored, mailbox_full" "$out" \
    '"address":"user@full.test","learned":"ignored","why":"mailbox_full"'
like "the deferral is reported as ignored" "$out" \
    '"address":"gina@grey.test","learned":"ignored","why":"deferred"'
qid=$(grep 'to=<nobody@honest.test>' "$LOG" | sed -n 's/.*: \([0-9A-F]*\): to=<.*/\1/p' | head -n 1)
like "the learned verdict carries the sender's queue id" \
    "$("$RG" -c "$LAB_DIR/rg.conf" cache get --json nobody@honest.test)" "\"queue_id\":\"$qid\""

# The daemons answer from it: a policy check of the learned address needs no probe.
before=$(grep -c 'connect from' "$LAB_DIR/postfix-honest/maillog")
out=$(lab_exec "$RG" -c "$LAB_DIR/rg.conf" check --json nobody@honest.test 2>&1)
like "check answers the learned verdict from the cache" "$out" \
    '"class":"undeliverable".*"source":"cache","verdict_source":"delivery"'
is "and no probe went out for it" "$(grep -c 'connect from' "$LAB_DIR/postfix-honest/maillog")" \
    "$before"

tap_done
