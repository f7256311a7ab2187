#!/bin/sh
# run-learn-bench.sh - `rcptguard learn` on a large Postfix log.
#
#   1. parse: a LINES-line log (default 1,000,000) of whole Postfix
#      transactions (smtpd connect, client, cleanup, qmgr, one smtp
#      delivery line, qmgr removed, disconnect; the deliveries 80 % sent,
#      12 % bounced 5.1.1, 3 % bounced 5.7.1, 5 % deferred) read by
#      bench_maillog (learn's own reader and parser, every line, no
#      decision), then by `rcptguard learn --dry-run` (every delivery
#      record also decided against the cache and printed, nothing
#      written), and the same for a log without records. Reference, in the
#      same rounds: `grep -c 'status=bounced'` on the same file, from the
#      page cache. Ratio: lines/s over grep's (median of the per-round
#      ratios).
#   2. write: BOUNCES distinct 5.1.1 bounces (default 100,000) learned into
#      an empty cache; the time, and bounces/s against bench_cache's raw
#      LMDB puts (one write transaction each) of the same run.
# usage: run-learn-bench.sh [LINES] [BOUNCES] [ROUNDS]
set -eu
cd "$(dirname "$0")/.."
lines=${1:-1000000}
bounces=${2:-100000}
rounds=${3:-5}

BENCH_TARGETS="cli/rcptguard bench/bench_maillog"
. bench/bench_lib.sh

tmp=$(mktemp -d /tmp/rg-lbench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/state"
{
	printf '[general]\nstate_dir = %s/state\nuser =\n' "$tmp"
	printf '[lists]\nproviders_file =\ndisposable_domains_file =\nrole_accounts_file =\n'
} > "$tmp/rg.conf"
RG="$B/cli/rcptguard"

# The log: 7 lines per message, ten messages a second over the last hours
# (so every verdict is still within its TTL).
awk -v n="$lines" -v t0="$(($(date +%s) - n / 70 - 60))" 'BEGIN {
	srand(42)
	for (m = 0; 7 * m < n; m++) {
		ts = strftime("%b %e %H:%M:%S", t0 + int(m / 10))
		q = sprintf("%X%05X", 2560 + m % 4096, m)
		c = sprintf("%d.%d.%d.%d", 198, 51, 100, m % 250 + 1)
		printf "%s mx1 postfix/smtpd[%d]: connect from client%d.example.org[%s]\n", ts, 1000 + m % 50, m % 250, c
		printf "%s mx1 postfix/smtpd[%d]: %s: client=client%d.example.org[%s]\n", ts, 1000 + m % 50, q, m % 250, c
		printf "%s mx1 postfix/cleanup[%d]: %s: message-id=<%d.%s@example.org>\n", ts, 2000 + m % 10, q, m, q
		printf "%s mx1 postfix/qmgr[90]: %s: from=<news@example.org>, size=%d, nrcpt=1 (queue active)\n", ts, q, 2000 + m % 9000
		r = sprintf("user%d@d%d.example", m, m % 1000)
		relay = sprintf("mx.d%d.example[93.184.%d.%d]:25", m % 1000, 216 + m % 3, m % 200 + 20)
		x = rand()
		if (x < 0.80)
			printf "%s mx1 postfix/smtp[%d]: %s: to=<%s>, relay=%s, delay=0.4, delays=0.1/0/0.1/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as %X)\n", ts, 3000 + m % 100, q, r, relay, m
		else if (x < 0.92)
			printf "%s mx1 postfix/smtp[%d]: %s: to=<%s>, relay=%s, delay=0.4, delays=0.1/0/0.1/0.2, dsn=5.1.1, status=bounced (host %s said: 550 5.1.1 <%s>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))\n", ts, 3000 + m % 100, q, r, relay, relay, r
		else if (x < 0.95)
			printf "%s mx1 postfix/smtp[%d]: %s: to=<%s>, relay=%s, delay=0.4, delays=0.1/0/0.1/0.2, dsn=5.7.1, status=bounced (host %s said: 554 5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org (in reply to RCPT TO command))\n", ts, 3000 + m % 100, q, r, relay, relay
		else
			printf "%s mx1 postfix/smtp[%d]: %s: to=<%s>, relay=%s, delay=30, delays=0.1/0/30/0, dsn=4.7.1, status=deferred (host %s said: 450 4.7.1 <%s>: Recipient address rejected: Greylisted (in reply to RCPT TO command))\n", ts, 3000 + m % 100, q, r, relay, relay, r
		printf "%s mx1 postfix/qmgr[90]: %s: removed\n", ts, q
		printf "%s mx1 postfix/smtpd[%d]: disconnect from client%d.example.org[%s] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5\n", ts, 1000 + m % 50, m % 250, c
	}
}' | head -n "$lines" > "$tmp/mail.log"
echo "log: $(wc -l < "$tmp/mail.log") lines, $(du -m "$tmp/mail.log" | cut -f1) MiB, $(grep -c 'status=bounced' "$tmp/mail.log") bounced"
cat "$tmp/mail.log" > /dev/null

now_ns() { date +%s%N; }

# rounds_of NAME FILE COMMAND... - ROUNDS rounds of grep -c (its output to
# a file: GNU grep stops at the first match when it writes to /dev/null)
# and COMMAND FILE, alternating; one table row.
rounds_of() {
	name=$1 file=$2
	shift 2
	: > "$tmp/ratios"
	r=0
	while [ "$r" -lt "$rounds" ]; do
		t=$(now_ns)
		grep -c 'status=bounced' "$file" > "$tmp/grep.out" || true
		tg=$(( $(now_ns) - t ))
		t=$(now_ns)
		"$@" "$file" > "$tmp/learn.out" 2> "$tmp/learn.err"
		tl=$(( $(now_ns) - t ))
		echo "$tg $tl" | awk -v n="$(wc -l < "$file")" '{ printf "round grep=%.0f learn=%.0f ratio=%.3f\n", n / ($1 / 1e9), n / ($2 / 1e9), $1 / $2 }' >> "$tmp/ratios"
		r=$((r + 1))
	done
	echo "# $name: $(cat "$tmp/learn.err") $(head -c 200 "$tmp/learn.out" | grep '^lines=' || true); grep -c: $(cat "$tmp/grep.out")" >&2
	printf '| %s | %s | %s | %s |\n' "$name" "$(median_field learn "$tmp/ratios")" \
	    "$(median_field grep "$tmp/ratios")" "$(median_field ratio "$tmp/ratios")"
}

# The same number of lines with no delivery record among them: how fast the
# lines learn passes over go by.
grep -v 'status=' "$tmp/mail.log" | awk -v n="$lines" '{ l[NR] = $0 } END { for (i = 0; i < n; i++) print l[i % NR + 1] }' > "$tmp/nodeliv.log"

echo
echo "| run | lines/s | grep -c lines/s | ratio |"
echo "|---|---:|---:|---:|"
rounds_of "parse: $lines lines, 1 in 7 a delivery record" "$tmp/mail.log" "$B/bench/bench_maillog"
rounds_of "learn --dry-run: the same" "$tmp/mail.log" "$RG" -c "$tmp/rg.conf" learn --dry-run
rounds_of "parse: $lines lines, no delivery record" "$tmp/nodeliv.log" "$B/bench/bench_maillog"
rounds_of "learn --dry-run: the same" "$tmp/nodeliv.log" "$RG" -c "$tmp/rg.conf" learn --dry-run

# Part 2: distinct bounces into an empty cache.
awk -v n="$bounces" -v t0="$(($(date +%s) - 3600))" 'BEGIN {
	for (i = 0; i < n; i++) {
		ts = strftime("%b %e %H:%M:%S", t0 + int(i / 100))
		r = sprintf("gone%d@d%d.example", i, i % 1000)
		relay = sprintf("mx.d%d.example[93.184.216.%d]", i % 1000, i % 200 + 20)
		printf "%s mx1 postfix/smtp[3001]: %X: to=<%s>, relay=%s:25, delay=0.4, delays=0.1/0/0.1/0.2, dsn=5.1.1, status=bounced (host %s said: 550 5.1.1 <%s>: Recipient address rejected: User unknown (in reply to RCPT TO command))\n", ts, 1048576 + i, r, relay, relay, r
	}
}' > "$tmp/bounces.log"
: > "$tmp/writes"
r=0
while [ "$r" -lt 3 ]; do
	rm -rf "$tmp/state"
	mkdir -p "$tmp/state"
	t=$(now_ns)
	"$RG" -c "$tmp/rg.conf" learn "$tmp/bounces.log" > /dev/null 2> "$tmp/learn2.err"
	tl=$(( $(now_ns) - t ))
	echo "$tl" | awk -v n="$bounces" '{ printf "round seconds=%.3f bounces_per_s=%.0f\n", $1 / 1e9, n / ($1 / 1e9) }' >> "$tmp/writes"
	r=$((r + 1))
done
echo "# $(cat "$tmp/learn2.err")" >&2
raw=$("$B/bench/bench_cache" 100000 100000 3 | sed -n 's/^| put (1 txn each) | \([0-9]*\) | \([0-9]*\) .*/\2/p')
bps=$(median_field bounces_per_s "$tmp/writes")
echo
echo "| run | seconds | bounces/s | raw LMDB puts/s | ratio |"
echo "|---|---:|---:|---:|---:|"
printf '| %s bounces into an empty cache | %s | %s | %s | %s |\n' "$bounces" \
    "$(median_field seconds "$tmp/writes")" "$bps" "$raw" \
    "$(echo "$bps $raw" | awk '{ printf "%.2f", $1 / $2 }')"
