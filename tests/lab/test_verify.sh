#!/bin/sh
# test_verify.sh - `rcptguard verify` on lists, through the real binary,
# against the lab's real Postfix servers: every class the lab produces, in
# plain text and in CSV, in input order, with the split files and the
# summary; hostile input; SIGKILL then --resume equals a clean run; SIGINT
# writes what was decided and exits 130; the progress bar in a
# pseudo-terminal (script); a list of 1,500 domains whose MX lookups all
# start at once, none of them lost; output to /dev/null. Needs root (the
# lab).
. "$top_srcdir/tests/cli/tap.sh"
LAB_TOOLS="$top_srcdir/tests/lab"
. "$LAB_TOOLS/lab.sh"

RG="$top_builddir/cli/rcptguard"
PY=${PYTHON3:-/usr/bin/python3}
NBULK=1500

# 1,500 domains b0.bulk.test ... served by the honest Postfix, which is no
# relay for them: every row is an SMTP answer, unless DNS lost the lookup.
LAB_DNS_EXTRA=$(mktemp /tmp/rg-verify-dns-XXXXXX)
awk -v n=$NBULK 'BEGIN { for (i = 0; i < n; i++) printf "mx-host=b%d.bulk.test,mx.honest.test,10\n", i }' \
    > "$LAB_DNS_EXTRA"

lab_up_or_bail
rm -f "$LAB_DNS_EXTRA"
tap_need script
T="$LAB_DIR/verify"
mkdir -p "$T"

# conf NAME - a configuration with its own state directory.
conf() {
	mkdir -p "$T/$1.state"
	{
		printf '[general]\nstate_dir = %s/%s.state\nuser =\n' "$T" "$1"
		lab_probe_conf 3s 2s
		# Postfix ends a session after 20 errors (smtpd_hard_error_limit):
		# long lists of dead mailboxes are throttled; the cooldown fits --wait.
		printf '[limits]\nthrottle_cooldown = 2s\n'
	} > "$T/$1.conf"
}

# verify CONF ARGS... - rcptguard verify in the lab; stderr to CONF.err.
verify() {
	c=$1
	shift
	lab_exec "$RG" -c "$T/$c.conf" verify "$@" 2>>"$T/$c.err"
}

# jcol FILE FIELD - one field of each JSON line, "line:value".
jcol() {
	"$PY" -c 'import json,sys
for l in open(sys.argv[1]):
    o=json.loads(l)
    print("%s:%s" % (o["line"], o[sys.argv[2]]))' "$1" "$2" | tr '\n' ' '
}

# ccol FILE COLUMN... - columns of a CSV file (read back with Python's csv), "|" between.
ccol() {
	f=$1
	shift
	"$PY" -c 'import csv,sys
r=list(csv.DictReader(open(sys.argv[1], newline="")))
for row in r:
    print("|".join(row[c] for c in sys.argv[2:]))' "$f" "$@" | tr '\n' ' '
}

# sumf FILE EXPR - a value of the summary JSON (a Python expression on s).
sumf() {
	"$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# --- 1. a plain list, every class the lab gives, duplicates, a bad line ---
conf plain
printf '\357\273\277alice@honest.test\r\nghost@honest.test\r\n\r\nAlice@HONEST.test\r\nanyone@catchall.test\r\nnot an address\r\nuser@full.test\r\nuser@nosuchdomain.test\r\ngina@grey.test\r\nalice@honest.test\r\n' \
    > "$T/list.txt"
verify plain --wait 30s -q --summary "$T/plain.sum" -o "$T/plain.jsonl" "$T/list.txt"
is "exit 5: some are undeliverable" "$?" 5
is "one JSON row per address, in input order, with its line" "$(jcol "$T/plain.jsonl" input)" \
    "1:alice@honest.test 2:ghost@honest.test 4:Alice@HONEST.test 5:anyone@catchall.test 6:not an address 7:user@full.test 8:user@nosuchdomain.test 9:gina@grey.test 10:alice@honest.test "
is "classes" "$(jcol "$T/plain.jsonl" class)" \
    "1:deliverable 2:undeliverable 4:deliverable 5:risky 6:undeliverable 7:risky 8:undeliverable 9:deliverable 10:deliverable "
is "reasons" "$(jcol "$T/plain.jsonl" reason)" \
    "1:accepted 2:no_mailbox 4:accepted 5:catch_all 6:bad_syntax 7:mailbox_full 8:no_domain 9:accepted 10:accepted "
like "the fields of check --json" "$(head -n 1 "$T/plain.jsonl")" \
    '^\{"address":"alice@honest.test","class":"deliverable","reason":"accepted","code":250,"dsn":.*"mx":"mx.honest.test".*"checked_at":[0-9]+.*"state":"fresh".*"input":"alice@honest.test","source":"probe".*"line":1\}$'
like "a bad line says why" "$(sed -n 5p "$T/plain.jsonl")" '"detail":"[^"]+"'
like "greylisting waited for" "$(sed -n 8p "$T/plain.jsonl")" '"attempts":2,"retry_reason":"greylisted"'
is "summary: rows" "$(sumf "$T/plain.sum" 's["rows"]')" 9
is "summary: classes" "$(sumf "$T/plain.sum" 'sorted(s["classes"].items())')" \
    "[('deliverable', 4), ('risky', 2), ('undeliverable', 3), ('unknown', 0)]"
is "summary: duplicates (same normalized address)" "$(sumf "$T/plain.sum" 's["duplicates"]')" 2
is "summary: bad lines" "$(sumf "$T/plain.sum" 's["bad_lines"]')" 1
is "summary: reasons" "$(sumf "$T/plain.sum" 's["reasons"]["no_mailbox"], s["reasons"]["catch_all"]')" "(1, 1)"
is "summary: greylisted domains" "$(sumf "$T/plain.sum" 's["greylisted_domains"]')" "['grey.test']"
is "summary: ended" "$(sumf "$T/plain.sum" 's["ended"]')" complete
like "summary on stderr" "$(cat "$T/plain.err")" 'verify: 9 rows \(complete\)'
probes=$(sumf "$T/plain.sum" 's["probes"]')
# alice three times, ghost, anyone, user@full, user@nosuchdomain, gina: six addresses.
check "duplicates probed once (probes: $probes)" test "$probes" -le 6
# Second run on the same cache: every verdict is cached, no probe.
verify plain --wait 30s -q --summary "$T/plain2.sum" -o "$T/plain2.jsonl" "$T/list.txt"
is "again: answered from the cache" "$(sumf "$T/plain2.sum" 's["probes"], s["cache_hits"] >= 6')" "(0, True)"
is "again: same classes" "$(jcol "$T/plain2.jsonl" class)" "$(jcol "$T/plain.jsonl" class)"
like "again: source cache" "$(head -n 1 "$T/plain2.jsonl")" '"source":"cache"'
check "the first run probed" test "$probes" -ge 5

# --- 2. CSV with extra columns, quoting, another separator; split files ---
conf csv
printf 'name;note;E-Mail\n"Smith; Jane";"said ""hi""";alice@honest.test\nBob;"two\nlines";ghost@honest.test\nCarl;;anyone@catchall.test\nDan;missing\n' > "$T/list.csv"
verify csv --wait 30s -q --split "$T/split" -o "$T/out.csv" --column e-mail "$T/list.csv"
is "csv: exit 5" "$?" 5
is "csv: the input's columns unchanged, then ours" "$(head -n 1 "$T/out.csv" | tr -d '\r')" \
    "name,note,E-Mail,class,reason,code,dsn,mx,role,disposable,checked_at,source"
# The output is comma-separated whatever the input's separator was.
"$PY" - "$T/out.csv" > "$T/csv.check" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
print(len(rows))
for r in rows[1:]:
    print("|".join([r[0], r[1], r[2], r[3], r[4], r[5], r[8], r[9], r[11]]))
EOF
is "csv: read back by Python's csv" "$(tr '\n' ' ' < "$T/csv.check")" \
    '5 Smith; Jane|said "hi"|alice@honest.test|deliverable|accepted|250|false|false|probe Bob|two lines|ghost@honest.test|undeliverable|no_mailbox|550|false|false|probe Carl||anyone@catchall.test|risky|catch_all|250|false|false|probe Dan|missing||undeliverable|bad_syntax||false|false|syntax '
is "split: deliverable.csv" "$(ccol "$T/split/deliverable.csv" E-Mail class)" "alice@honest.test|deliverable "
is "split: undeliverable.csv" "$(ccol "$T/split/undeliverable.csv" E-Mail reason)" \
    "ghost@honest.test|no_mailbox |bad_syntax "
is "split: risky.csv" "$(ccol "$T/split/risky.csv" E-Mail reason)" "anyone@catchall.test|catch_all "
is "split: unknown.csv has its header only" "$(wc -l < "$T/split/unknown.csv")" 1
like "checked_at in ISO 8601" "$(sed -n 2p "$T/out.csv")" ',[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z,probe'
printf 'email\nalice@honest.test\n' | verify csv -q > "$T/stdin.csv"
is "csv from standard input, the column named email" "$(tr -d '\r' < "$T/stdin.csv" | cut -d, -f1-3 | tr '\n' ' ')" \
    "email,class,reason alice@honest.test,deliverable,accepted "
verify csv -q --column nosuch "$T/list.csv" > /dev/null
is "a missing column is a usage error" "$?" 2
like "and says which" "$(tail -n 1 "$T/csv.err")" 'nosuch'

# --- 3. hostile input: NUL, a 100 KB line, invalid UTF-8, an empty file ---
conf bad
{
	printf 'a\000b@honest.test\n'
	head -c 100000 /dev/zero | tr '\0' 'x'
	printf '@honest.test\n'
	printf '\377\376@honest.test\n'
	printf 'alice@honest.test\n'
} > "$T/hostile.txt"
verify bad --wait 30s -q -o "$T/hostile.jsonl" "$T/hostile.txt"
is "hostile: exit 5" "$?" 5
is "hostile: each line a row" "$(jcol "$T/hostile.jsonl" reason)" "1:bad_syntax 2:bad_syntax 3:bad_syntax 4:accepted "
check "hostile: the output is ASCII JSON" "$PY" -c 'import json,sys
for l in open(sys.argv[1], "rb"):
    l.decode("ascii"); json.loads(l)' "$T/hostile.jsonl"
: > "$T/empty.txt"
verify bad -q -o "$T/empty.jsonl" --summary "$T/empty.sum" "$T/empty.txt"
is "empty file: exit 0" "$?" 0
is "empty file: no rows" "$(wc -c < "$T/empty.jsonl") $(sumf "$T/empty.sum" 's["rows"]')" "0 0"
verify bad -q --resume < "$T/empty.txt"
is "--resume on standard input is a usage error" "$?" 2

# --- 4. SIGKILL, --resume, and the output equals a clean run's ---
# Recipients of the greylisting server hold the rows after them back for
# the greylisting delay: a kill there leaves a run in the middle. The clean
# run comes after (postgrey then knows every address): same verdicts.
longlist() {
	"$PY" -c '
import sys
for i in range(60):
    print("%s%d@grey.test" % (sys.argv[1], i) if i % 3 else "ghost%d@honest.test" % i)' "$1"
}
longlist u > "$T/long.txt"
conf kill
# Not through a function: $! is then rcptguard itself (ip netns exec execs it).
ip netns exec "$LAB_NS" "$RG" -c "$T/kill.conf" verify --wait 60s -q -o "$T/kill.csv" --format csv \
    "$T/long.txt" 2>>"$T/kill.err" &
pid=$!
rows_in() { [ "$(wc -l < "$1" 2>/dev/null || echo 0)" -ge "$2" ]; }
check "some rows are written" wait_for 120 rows_in "$T/kill.csv" 2
kill -9 $pid
wait $pid 2>/dev/null
check "killed in the middle" test "$(wc -l < "$T/kill.csv")" -lt 61
check "the journal is kept" test -n "$(ls "$T/kill.state/verify/" 2>/dev/null)"
verify kill --wait 60s -q --resume -o "$T/kill.csv" --format csv --summary "$T/kill.sum" "$T/long.txt"
is "resumed: exit 5" "$?" 5
conf clean
verify clean --wait 60s -q -o "$T/clean.csv" --format csv --summary "$T/clean.sum" "$T/long.txt"
is "clean run: exit 5" "$?" 5
like "the domains that said 'too many errors' are in the summary" \
    "$(sumf "$T/clean.sum" 's["throttled_domains"]')" "honest.test"
is "resumed: the same rows as a clean run" "$(ccol "$T/kill.csv" address class reason code)" \
    "$(ccol "$T/clean.csv" address class reason code)"
is "resumed: no row lost or repeated" "$(grep -c . "$T/kill.csv")" 61
is "resumed: counted as two parts" "$(sumf "$T/kill.sum" 's["parts"], s["rows"]')" "(2, 60)"
check "the journal is gone once complete" test -z "$(ls "$T/kill.state/verify/" 2>/dev/null)"

# --- 5. SIGINT writes what was decided, exits 130 ---
longlist v > "$T/long2.txt"
conf int
ip netns exec "$LAB_NS" "$RG" -c "$T/int.conf" verify --wait 60s -q -o "$T/int.jsonl" "$T/long2.txt" \
    2>>"$T/int.err" &
pid=$!
check "rows are being decided" wait_for 120 rows_in "$T/int.jsonl" 1
kill -INT $pid
wait $pid
is "SIGINT: exit 130" "$?" 130
like "SIGINT: the summary says interrupted" "$(cat "$T/int.err")" 'rows \(interrupted\)'
check "SIGINT: whole rows only" "$PY" -c 'import json,sys
[json.loads(l) for l in open(sys.argv[1])]' "$T/int.jsonl"
verify int --wait 60s -q --resume -o "$T/int.jsonl" "$T/long2.txt"
is "SIGINT then --resume: every row once" "$(jcol "$T/int.jsonl" line | wc -w)" 60
is "SIGINT then --resume: in order" "$(jcol "$T/int.jsonl" line | tr ' ' '\n' | cut -d: -f1 | sort -n | uniq | wc -l)" 60

# --- 6. progress: a bar on a terminal, plain lines elsewhere ---
conf prog
lab_exec script -qec "$RG -c $T/prog.conf verify --wait 30s -o $T/prog.jsonl $T/list.txt" \
    /dev/null > "$T/prog.tty" 2>&1
like "a bar in a terminal" "$(tr '\r' '\n' < "$T/prog.tty")" '^\[[#.]+\] 9/9 100%'
like "it ends on a clean line" "$(tr '\r' '\n' < "$T/prog.tty" | grep -a '9/9')" 'unknown 0'
verify prog --wait 30s -o "$T/prog2.jsonl" "$T/list.txt"
check "without a terminal no bar" sh -c "! grep -q \"$(printf '\r')\" $T/prog.err"
like "but a plain line" "$(cat "$T/prog.err")" 'verify: 9 of 9 done'

# --- 7. many new domains at once; output that is not a regular file ---
conf bulk
awk -v n=$NBULK 'BEGIN { for (i = 0; i < n; i++) printf "user@b%d.bulk.test\n", i }' > "$T/bulk.txt"
verify bulk --wait 60s -q -o "$T/bulk.jsonl" "$T/bulk.txt"
is "bulk: every row written" "$(grep -c . "$T/bulk.jsonl")" $NBULK
is "bulk: no MX lookup lost (rows with a DNS error)" "$(grep -c '"reason":"dns_error"' "$T/bulk.jsonl")" 0
is "bulk: every row answered by the MX" "$(grep -c '"mx":"mx.honest.test"' "$T/bulk.jsonl")" $NBULK
verify bulk -q -o /dev/null --summary "$T/null.sum" "$T/bulk.txt"
is "-o /dev/null: exit as with a file" "$?" "$(verify bulk -q -o "$T/bulk2.jsonl" "$T/bulk.txt"; echo $?)"
is "-o /dev/null: every row counted" "$(sumf "$T/null.sum" 's["rows"]')" $NBULK
verify bulk -q --resume -o /dev/null "$T/bulk.txt"
is "--resume into /dev/null is a usage error" "$?" 2
like "it says why" "$(tail -n 1 "$T/bulk.err")" 'not a regular file'

tap_done
