#!/bin/sh
# valgrind-check.sh BUILDDIR - run the unit tests and the command line under
# valgrind memcheck; print one TAP line per run.
#
# Tests that fork children which _exit() while holding a copy of the
# parent's heap are checked for memory errors but not for leaks: valgrind
# would report the parent's live blocks as lost in every child. Their leak
# check is LeakSanitizer's, in the sanitizer build.
set -u
build=$1
top=$(cd "$(dirname "$0")/.." && pwd)
export top_builddir="$(cd "$build" && pwd)" top_srcdir="$top" CMOCKA_MESSAGE_OUTPUT=STDOUT
vg="valgrind -q --error-exitcode=99 --child-silent-after-fork=yes"
full="--leak-check=full --errors-for-leak-kinds=definite,indirect,possible --show-leak-kinds=definite,indirect,possible"
n=0
rc_all=0

# run NAME COMMAND... - expects exit 0, or $want when set (valgrind errors exit 99).
run() {
	name=$1
	shift
	n=$((n + 1))
	"$@" > "$build/vg-$n.log" 2>&1
	rc=$?
	if [ "$rc" -eq "${want:-0}" ]; then
		echo "ok $n - valgrind $name"
	else
		echo "not ok $n - valgrind $name"
		sed 's/^/#   /' "$build/vg-$n.log" | head -n 40
		rc_all=1
	fi
}

for t in test_address test_verdict test_config test_log test_util test_classify \
    test_knowledge test_dns_record test_dns test_jsonw test_metrics test_log_syslog test_maillog; do
	run "$t" $vg $full "$build/tests/unit/$t"
done
for t in test_cache test_cache_procs test_engine_thread; do
	run "$t (memory errors)" $vg --leak-check=no "$build/tests/unit/$t"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/state"
# user = (empty): the command stays who it is, whatever users this host has.
printf '[general]\nuser =\nstate_dir = %s/state\n' "$tmp" > "$tmp/rg.conf"
rg="$build/cli/rcptguard"
run "cli put" $vg $full "$rg" -c "$tmp/rg.conf" cache put a@example.org undeliverable no_mailbox --text x
run "cli get --json" $vg $full "$rg" -c "$tmp/rg.conf" cache get --json a@example.org
run "cli list" $vg $full "$rg" -c "$tmp/rg.conf" cache list
run "cli stats --json" $vg $full "$rg" -c "$tmp/rg.conf" cache stats --json
run "cli purge" $vg $full "$rg" -c "$tmp/rg.conf" cache purge --expired
run "cli del" $vg $full "$rg" -c "$tmp/rg.conf" cache del a@example.org
run "cli config" $vg $full "$rg" -c "$tmp/rg.conf" config
run "cli stats --json (no daemon configured)" $vg $full "$rg" -c "$tmp/rg.conf" stats --json
# check without the network: syntax, a literal; the engine is built and freed.
want=5
run "cli check (no network)" $vg $full --errors-for-leak-kinds=definite,indirect \
    "$rg" -c "$tmp/rg.conf" check --json --wait 1s "bad..x@example.org" "u@[192.0.2.1]"
want=0
# learn: the corpus of log lines (every format, the hostile ones), then
# --follow on a growing file until SIGTERM, which must exit 0.
grep -v '^[#=]' "$top/tests/learn/corpus.txt" | grep -v '^$' > "$tmp/mail.log"
run "cli learn (the corpus)" $vg $full "$rg" -c "$tmp/rg.conf" learn --json --verbose "$tmp/mail.log"
run "cli learn --follow" sh -c '
	"$@" > "$0/follow.out" 2>&1 &
	pid=$!
	i=0
	until [ -n "$(ls "$0"/state/learn-*.pos 2>/dev/null)" ] || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
	grep -v "^[#=]" "$0/mail.log" | head -n 5 >> "$0/mail.log"
	sleep 1
	kill -TERM $pid
	wait $pid' "$tmp" $vg $full "$rg" -c "$tmp/rg.conf" learn --follow --json "$tmp/mail.log"
# The fleet's shared tier with a real redis-server on a unix socket: a put
# that reaches Redis, a check of another state directory answered from it,
# and the policy server losing Redis and finding it again, all under valgrind.
if command -v redis-server >/dev/null 2>&1; then
	redis-server --port 0 --unixsocket "$tmp/redis.sock" --save '' --appendonly no \
	    --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log" --daemonize yes >/dev/null
	i=0
	while [ ! -S "$tmp/redis.sock" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	for d in f1 f2; do
		mkdir -p "$tmp/$d"
		printf '[general]\nuser =\nstate_dir = %s/%s\n[dns]\ndns_servers = 127.0.0.1:1\n' \
		    "$tmp" "$d" > "$tmp/$d.conf"
		printf '[policyd]\nlisten = unix:%s/%s.sock\n' "$tmp" "$d" >> "$tmp/$d.conf"
		printf '[redis]\nserver = unix:%s/redis.sock\ninstance = %s\n' "$tmp" "$d" >> "$tmp/$d.conf"
	done
	run "cli put (fleet)" $vg $full "$rg" -c "$tmp/f1.conf" cache put b@example.org deliverable accepted
	run "cli check (fleet: answered from Redis)" sh -c '"$@" | grep -q "\"source\":\"shared\""' sh \
	    $vg $full "$rg" -c "$tmp/f2.conf" check --json --wait 5s b@example.org
	run "rcptguard-policyd losing Redis and finding it again" sh -c '
		tmp=$1; shift
		"$@" -f -c "$tmp/f2.conf" 2> "$tmp/pd.log" & pid=$!
		i=0
		until grep -q "redis: connected" "$tmp/pd.log" || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
		kill "$(cat "$tmp/redis.pid")"
		i=0
		until grep -q "goes on with its local cache" "$tmp/pd.log" || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
		redis-server --port 0 --unixsocket "$tmp/redis.sock" --save "" --appendonly no \
		    --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log" --daemonize yes >/dev/null
		i=0
		until grep -q "connected again" "$tmp/pd.log" || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
		grep -q "connected again" "$tmp/pd.log" || { cat "$tmp/pd.log"; kill "$pid"; exit 1; }
		kill "$pid"
		wait "$pid"' sh "$tmp" $vg $full "$build/policyd/rcptguard-policyd"
	kill "$(cat "$tmp/redis.pid")" 2>/dev/null
else
	run "the fleet's cases (redis-server is not installed)" false
fi
# The policy server's protocol suite with the daemon under valgrind: every
# daemon the suite stops must exit 0, and valgrind turns any error into 99.
run "rcptguard-policyd protocol suite" env RG_WRAP="$vg $full" \
    /usr/bin/python3 "$top/tests/policyd/test_policyd_protocol.py"
# The milter's suites likewise: miltertest's Lua scripts and the raw
# protocol. libmilter's own threads are never joined (see the suppressions).
msupp="--suppressions=$top/tests/valgrind/libmilter.supp"
run "rcptguard-milter miltertest suite" env RG_MILTER_WRAP="$vg $full $msupp" \
    sh "$top/tests/milter/test_milter_miltertest.sh"
run "rcptguard-milter protocol suite" env RG_WRAP="$vg $full $msupp" \
    /usr/bin/python3 "$top/tests/milter/test_milter_protocol.py"
# Both daemons serving metrics, scraped by promtool, Prometheus and stats.
run "metrics of both daemons" env RG_WRAP="$vg $full $msupp" \
    /usr/bin/python3 "$top/tests/metrics/test_metrics_scrape.py"
echo "1..$n"
exit $rc_all
