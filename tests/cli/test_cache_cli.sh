#!/bin/sh
# test_cache_cli.sh - `rcptguard cache ...` through the real binary: put,
# get, del, list, purge, stats, JSON output, exit codes and hostile input.
. "$top_srcdir/tests/cli/tap.sh"

RG="$top_builddir/cli/rcptguard"
PY=${PYTHON3:-/usr/bin/python3}
tmp=$(mktemp -d)
open=""		# a second directory, made by the root cases below
trap 'rm -rf "$tmp" ${open:+"$open"}' EXIT
mkdir "$tmp/state"
cat > "$tmp/rg.conf" <<CONF
[general]
state_dir = $tmp/state
user =
CONF
rg() { "$RG" -c "$tmp/rg.conf" "$@"; }

# json FIELD - read one field of the JSON object on stdin.
json() {
	"$PY" -c 'import json,sys
o=json.loads(sys.stdin.readline())
v=o
for k in sys.argv[1].split("."):
    v=v[k]
print("null" if v is None else (str(v).lower() if isinstance(v,bool) else v))' "$1"
}

out=$(rg cache put 'Ghost@Example.ORG' undeliverable no_mailbox --code 550 --dsn 5.1.1 \
	--mx MX1.example.org --text 'Recipient address rejected: User unknown' --json)
is "put exits 0" "$?" 0
is "put normalizes the address" "$(printf "%s\n" "$out" | json address)" "ghost@example.org"
is "put lower-cases the mx" "$(printf "%s\n" "$out" | json mx)" "mx1.example.org"

out=$(rg cache get --json ghost@example.org)
is "get exits 0" "$?" 0
for f in address class reason code dsn mx text checked_at expires_at state; do
	got=$(printf "%s\n" "$out" | "$PY" -c "import json,sys; print('$f' in json.loads(sys.stdin.read()))")
	is "get --json has field $f" "$got" "True"
done
is "class" "$(printf "%s\n" "$out" | json class)" "undeliverable"
is "reason" "$(printf "%s\n" "$out" | json reason)" "no_mailbox"
is "code" "$(printf "%s\n" "$out" | json code)" "550"
is "dsn" "$(printf "%s\n" "$out" | json dsn)" "5.1.1"
is "state" "$(printf "%s\n" "$out" | json state)" "fresh"
is "text" "$(printf "%s\n" "$out" | json text)" "Recipient address rejected: User unknown"
exp=$(printf "%s\n" "$out" | json expires_at); chk=$(printf "%s\n" "$out" | json checked_at)
is "undeliverable expires after 3 days" "$((exp - chk))" 259200

out=$(rg cache get Ghost@EXAMPLE.org)
like "human get prints class and reason" "$out" '^ghost@example.org undeliverable no_mailbox code=550 dsn=5\.1\.1 mx=mx1\.example\.org state=fresh'
like "human get says where the verdict came from" "$out" ' source=admin( |$)'
is "cache put is the admin's: source admin" "$(rg cache get --json ghost@example.org | json source)" admin
rg cache put probed@example.org deliverable accepted --source probe >/dev/null
is "cache put --source probe" "$(rg cache get --json probed@example.org | json source)" probe
out=$(rg cache put x@example.org deliverable accepted --source robot 2>&1); rc=$?
is "cache put --source robot: usage error" "$rc" 2
like "and it says which sources exist" "$out" 'admin, probe or delivery'
rg cache del probed@example.org >/dev/null

out=$(rg cache get --json nobody@example.org); rc=$?
is "get of a missing address exits 1" "$rc" 1
is "missing address state" "$(printf "%s\n" "$out" | json state)" "absent"

# Several addresses: one line each, exit 1 when any is missing.
out=$(rg cache get --json ghost@example.org nobody@example.org); rc=$?
is "get of two prints two lines" "$(printf "%s\n" "$out" | wc -l | tr -d ' ')" 2
is "get with one missing exits 1" "$rc" 1

# Hostile input: control characters never reach stdout and are escaped in errors.
err=$(rg cache get "$(printf 'evil\r\nRCPT TO:<x@y>@example.org')" 2>&1 >/dev/null); rc=$?
is "CRLF address exits 2" "$rc" 2
like "CRLF address error names the problem" "$err" 'control character'
like "CRLF is escaped in the error" "$err" 'evil\\x0d\\x0aRCPT'
is "error is one line" "$(printf '%s\n' "$err" | wc -l | tr -d ' ')" 1

out=$(rg cache put 'q@example.org' risky catch_all --text "$(printf 'a"b\\c\r\nd')" --json)
is "put with quotes and control bytes in text exits 0" "$?" 0
is "text is bounded and sanitized, JSON stays valid" "$(printf "%s\n" "$out" | json text)" 'a"b\c??d'

# Usage errors.
rg cache put x@example.org deliverable no_mailbox 2>/dev/null
is "reason of another class exits 2" "$?" 2
rg cache put x@example.org nosuch accepted 2>/dev/null
is "unknown class exits 2" "$?" 2
rg cache put x@example.org deliverable accepted --ttl 5parsecs 2>/dev/null
is "bad --ttl exits 2" "$?" 2
rg cache put x@example.org deliverable accepted --dsn 5.1 2>/dev/null
is "bad --dsn exits 2" "$?" 2
rg cache frobnicate 2>/dev/null
is "unknown subcommand exits 2" "$?" 2
"$RG" -c "$tmp/rg.conf" 2>/dev/null
is "no command exits 2" "$?" 2

# del
rg cache del ghost@example.org >/dev/null
is "del exits 0" "$?" 0
rg cache get ghost@example.org >/dev/null
is "deleted address is gone" "$?" 1
rg cache del ghost@example.org >/dev/null
is "del of a missing address exits 1" "$?" 1

# list with filters
rg cache put a@one.example deliverable accepted >/dev/null
rg cache put b@one.example undeliverable no_mailbox >/dev/null
rg cache put c@two.example undeliverable no_domain >/dev/null
out=$(rg cache list --json)
is "list shows every verdict" "$(printf "%s\n" "$out" | wc -l | tr -d ' ')" 4
out=$(rg cache list --class undeliverable)
is "list --class filters" "$(printf "%s\n" "$out" | wc -l | tr -d ' ')" 2
out=$(rg cache list --domain ONE.example --json)
is "list --domain filters" "$(printf "%s\n" "$out" | wc -l | tr -d ' ')" 2
is "list is in key order" "$(printf "%s\n" "$out" | head -n 1 | json address)" "a@one.example"
rg cache list --class bogus 2>/dev/null
is "list --class with a bad class exits 2" "$?" 2

# purge --expired: a one-second verdict expires, the rest stay.
rg cache put short@two.example unknown timeout --ttl 1s >/dev/null
sleep 1.2
out=$(rg cache get --json short@two.example)
is "a short verdict reads as expired" "$(printf "%s\n" "$out" | json state)" "expired"
out=$(rg cache purge --expired --json)
is "purge --expired removes one" "$(printf "%s\n" "$out" | json removed)" 1
rg cache get short@two.example >/dev/null
is "expired verdict is gone" "$?" 1

# stats
out=$(rg cache stats --json)
is "stats counts verdicts" "$(printf "%s\n" "$out" | json entries.verdicts)" 4
is "stats counts by class" "$(printf "%s\n" "$out" | json verdicts_by_class.undeliverable)" 2
out=$(rg cache stats)
like "human stats names the file" "$out" "cache: +$tmp/state/cache.lmdb"

# purge --all
out=$(rg cache purge --all)
is "purge --all exits 0" "$?" 0
out=$(rg cache stats --json)
is "purge --all empties the cache" "$(printf "%s\n" "$out" | json entries.verdicts)" 0
rg cache purge 2>/dev/null
is "purge needs a mode" "$?" 2

# A corrupt cache is a cache error (3), and purge --all --force recovers it.
head -c 65536 /dev/urandom > "$tmp/state/cache.lmdb"
rm -f "$tmp/state/cache.lmdb-lock"
err=$(rg cache get a@one.example 2>&1); rc=$?
is "corrupt cache exits 3" "$rc" 3
like "corrupt cache is named" "$err" 'corrupt'
rg cache purge --all >/dev/null 2>&1
is "purge --all without --force refuses a corrupt file" "$?" 3
rg cache purge --all --force >/dev/null
is "purge --all --force recreates it" "$?" 0
rg cache put a@one.example deliverable accepted >/dev/null
is "the recreated cache works" "$?" 0

# A missing state directory is a cache error.
cat > "$tmp/missing.conf" <<CONF
[general]
state_dir = $tmp/nowhere
user =
CONF
err=$("$RG" -c "$tmp/missing.conf" cache stats 2>&1); rc=$?
is "missing state dir exits 3" "$rc" 3
like "missing state dir is named" "$err" 'missing'

# A cache file that is a symbolic link is refused; its target is untouched.
mkdir "$tmp/linked"
echo keep > "$tmp/target"
ln -s "$tmp/target" "$tmp/linked/cache.lmdb"
cat > "$tmp/linked.conf" <<CONF
[general]
state_dir = $tmp/linked
user =
CONF
err=$("$RG" -c "$tmp/linked.conf" cache put a@one.example deliverable accepted 2>&1); rc=$?
is "a symlinked cache file exits 3" "$rc" 3
like "the link is named" "$err" "$tmp/linked/cache.lmdb is a symbolic link"
is "the link's target is untouched" "$(cat "$tmp/target")" keep

# Root against the service's state: the command acts as the service user.
# Where that user cannot reach the state directory, it says so and why.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	mkdir "$tmp/closed"		# under $tmp, which is 0700 root
	cat > "$tmp/closed.conf" <<CONF
[general]
state_dir = $tmp/closed
user = nobody
CONF
	err=$("$RG" -c "$tmp/closed.conf" cache put a@one.example deliverable accepted 2>&1); rc=$?
	is "root: a state the user cannot reach exits 3" "$rc" 3
	like "root: the reason names the directory and the user" "$err" \
	    "$tmp/closed: not accessible to user nobody"
	open=$(mktemp -d /tmp/rg-open.XXXXXX)
	chmod 0755 "$open"
	mkdir "$open/state"
	cat > "$tmp/open.conf" <<CONF
[general]
state_dir = $open/state
user = nobody
CONF
	"$RG" -c "$tmp/open.conf" cache put a@one.example deliverable accepted >/dev/null 2>&1
	is "root: a reachable state works" "$?" 0
	is "root: the cache file belongs to the service user" \
	    "$(stat -c %U "$open/state/cache.lmdb" 2>/dev/null)" nobody
	is "root: so does the lock file" \
	    "$(stat -c %U "$open/state/cache.lmdb-lock" 2>/dev/null)" nobody
else
	for c in "a state the user cannot reach" "its reason" "a reachable state" \
	    "the cache file's owner" "the lock file's owner"; do
		tap_skip "root: $c" "needs root and the user nobody"
	done
fi

# Version
out=$("$RG" -V)
like "-V names the version" "$out" '^rcptguard [0-9]+\.[0-9]+\.[0-9]+'
like "-V names LMDB" "$out" 'LMDB 0\.9\.'
like "-V names libidn2" "$out" 'libidn2 '
like "-V names jansson" "$out" 'jansson '

tap_done
