#!/bin/sh
# run-fleet-bench.sh - the fleet's shared tier on Redis ([redis]), against
# the reference policy server (bench_policy server: parse, answer DUNNO)
# measured in the same run, with a real redis-server on a unix socket.
#
#   1. cache hits stay local: rcptguard-policyd with the shared tier off and
#      on, the same 1,000 cached verdicts, 64 connections, rounds
#      interleaved with the reference;
#   2. a local miss answered from Redis: every recipient is new to the
#      daemon's cache and in Redis (filled beforehand with real records),
#      at 1 and 64 connections, over Redis's unix socket and over TCP on
#      loopback; the Redis commands per decision come from Redis's own
#      count;
#   3. (as root) three instances against the lab's smtp-sink, each sent
#      the same stream of new addresses at once: probes per second for the
#      fleet, and the duplicate probes (target 0); then the same three
#      without the shared tier, for comparison.
# usage: run-fleet-bench.sh [SECONDS] [ROUNDS]
set -eu
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-3}

BENCH_TARGETS="cli/rcptguard policyd/rcptguard-policyd"
. bench/bench_lib.sh
FT="$top/tests/lab/fleet_tool.py"
PY=/usr/bin/python3

# ---- 1. cache hits, shared tier off and on ------------------------------------
bench_hits policyd "listen = unix:@TMP@/off.sock" "max_connections = 1024"
redis-server --bind 127.0.0.1 --port 16390 --unixsocket "$tmp/redis.sock" --unixsocketperm 700 --save '' \
    --appendonly no --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log" &
pids="$pids $!"
wait_for 30 test -S "$tmp/redis.sock"
sed "s|^listen = .*|listen = unix:$tmp/on.sock|" "$tmp/rg.conf" > "$tmp/on.conf"
printf '[redis]\nserver = unix:%s/redis.sock\ninstance = bench\n' "$tmp" >> "$tmp/on.conf"
bench_start "$tmp/off.log" "$B/policyd/rcptguard-policyd" -f -c "$tmp/rg.conf"
bench_start "$tmp/on.log" "$B/policyd/rcptguard-policyd" -f -c "$tmp/on.conf"
wait_for 30 grep -q 'redis: connected' "$tmp/on.log"
"$B/bench/bench_policy" server "unix:$tmp/ref.sock" &
pids="$pids $!"
wait_for 30 test -S "$tmp/ref.sock"

echo "seconds=$secs rounds=$rounds"
echo
echo "1. cache hits (1,000 cached verdicts), 64 connections"
header rcptguard-policyd req
: > "$tmp/ref.h"; : > "$tmp/off.h"; : > "$tmp/ref.h2"; : > "$tmp/on.h"
r=0
while [ $r -lt "$rounds" ]; do
	"$B/bench/bench_policy" load "unix:$tmp/ref.sock" 64 "$secs" r bench.example 1000 >> "$tmp/ref.h"
	"$B/bench/bench_policy" load "unix:$tmp/off.sock" 64 "$secs" r bench.example 1000 >> "$tmp/off.h"
	"$B/bench/bench_policy" load "unix:$tmp/ref.sock" 64 "$secs" r bench.example 1000 >> "$tmp/ref.h2"
	"$B/bench/bench_policy" load "unix:$tmp/on.sock" 64 "$secs" r bench.example 1000 >> "$tmp/on.h"
	r=$((r + 1))
done
report "cache hit, shared tier off" 64 "$tmp/ref.h" "$tmp/off.h"
report "cache hit, shared tier on" 64 "$tmp/ref.h2" "$tmp/on.h"

# ---- 2. local misses answered from Redis ---------------------------------------
# A daemon with an empty cache of its own; Redis holds a real record under
# every address the load asks (f<round>c<conns>-<i>@bench.example).
# Two daemons: one reaches Redis over its unix socket, one over TCP on loopback.
for via in unix tcp; do
	mkdir -p "$tmp/state-$via"
	sed -e "s|^state_dir = .*|state_dir = $tmp/state-$via|" \
	    -e "s|^listen = .*|listen = unix:$tmp/miss-$via.sock|" "$tmp/on.conf" > "$tmp/miss-$via.conf"
	if [ $via = tcp ]; then
		sed -i "s|^server = .*|server = 127.0.0.1:16390|" "$tmp/miss-$via.conf"
	fi
	bench_start "$tmp/miss-$via.log" "$B/policyd/rcptguard-policyd" -f -c "$tmp/miss-$via.conf"
	wait_for 30 grep -q 'redis: connected' "$tmp/miss-$via.log"
done
"$B/cli/rcptguard" -c "$tmp/on.conf" cache put template@bench.example deliverable accepted \
    >/dev/null
echo
echo "2. local misses answered from Redis (over its unix socket, and TCP on loopback)"
header rcptguard-policyd req
for run in unix:1 unix:64 tcp:1 tcp:64; do
	via=${run%:*}
	conns=${run#*:}
	m=m$via$conns
	: > "$tmp/ref.$m"; : > "$tmp/rg.$m"; : > "$tmp/cmds.$m"
	# More records than the daemon can ask for in a round (about 90,000/s at 64).
	fill=$((secs * (conns == 1 ? 40000 : 200000)))
	r=0
	while [ $r -lt "$rounds" ]; do
		m0=$("$PY" "$top/bench/bench_fleet.py" memory "$tmp/redis.sock")
		"$PY" "$top/bench/bench_fleet.py" fill "$tmp/redis.sock" rcptguard:v:template@bench.example \
		    "rcptguard:v:f$r$m-" "@bench.example" "$fill"
		m1=$("$PY" "$top/bench/bench_fleet.py" memory "$tmp/redis.sock")
		echo "$(( (m1 - m0) / fill ))" >> "$tmp/mem"
		"$B/bench/bench_policy" load "unix:$tmp/ref.sock" "$conns" "$secs" "f$r$m-" \
		    bench.example 0 >> "$tmp/ref.$m"
		before=$("$PY" "$top/bench/bench_fleet.py" commands "$tmp/redis.sock")
		"$B/bench/bench_policy" load "unix:$tmp/miss-$via.sock" "$conns" "$secs" "f$r$m-" \
		    bench.example 0 >> "$tmp/rg.$m"
		after=$("$PY" "$top/bench/bench_fleet.py" commands "$tmp/redis.sock")
		req=$(tail -n 1 "$tmp/rg.$m" | sed -n 's/.* requests=\([0-9]*\).*/\1/p')
		echo "$before $after ${req:-0}" >> "$tmp/cmds.$m"
		"$PY" "$top/bench/bench_fleet.py" flush "$tmp/redis.sock"
		r=$((r + 1))
	done
	report "miss answered from Redis, $via" "$conns" "$tmp/ref.$m" "$tmp/rg.$m"
done
if grep -q 'source=probe\|source=pending' "$tmp"/miss-*.log; then
	echo "warning: some misses were not answered from Redis" >&2
fi
echo "Redis memory per verdict (keys like f0c1-123456@bench.example, a record with MX" \
    "and reply text): $(sort -n "$tmp/mem" | head -n 1) bytes"
for m in unix1 unix64 tcp1 tcp64; do
	awk -v c="$m" '{ if ($3 > 0) { n += ($2 - $1 - 1); d += $3 } }
	    END { printf "Redis commands per decision, %s: %.3f (%d commands, %d decisions)\n", c, n / d, n, d }' \
	    "$tmp/cmds.m$m"
done

# ---- 3. three instances, every address new, against smtp-sink ------------------
if [ "$(id -u)" -ne 0 ]; then
	echo "(fleet probe run skipped: it needs root for the lab's network namespace)"
	exit 0
fi
bench_sink_lab fleet.conf
trap 'cleanup || :; lab_down' EXIT	# the lab goes down even when removing $tmp fails
lab_exec redis-server --bind 127.0.0.1 --port 6390 --save '' --appendonly no \
    --logfile "$LAB_DIR/redis.log" >/dev/null 2>&1 &
lab_wait_port 127.0.0.1 6390 >/dev/null
# fleet_run SHARED - three instances on the same stream of new addresses; prints a row.
fleet_run() {
	for i in 1 2 3; do
		mkdir -p "$LAB_DIR/st$1$i"
		sed "s|^state_dir = .*|state_dir = $LAB_DIR/st$1$i|" "$LAB_DIR/fleet.conf" > "$LAB_DIR/f$1$i.conf"
		{
			printf '[lists]\nproviders_file =\ndisposable_domains_file =\nrole_accounts_file =\n'
			printf '[policyd]\nlisten = unix:%s/f%s%s.sock\nmax_connections = 1024\n' "$LAB_DIR" "$1" "$i"
			printf 'metrics_listen = inet:127.0.0.1:1017%s\n' "$i"
			if [ "$1" = on ]; then
				printf '[redis]\nserver = 127.0.0.1:6390\ninstance = i%s\n' "$i"
			fi
		} >> "$LAB_DIR/f$1$i.conf"
		ip netns exec "$LAB_NS" "$B/policyd/rcptguard-policyd" -f -c "$LAB_DIR/f$1$i.conf" \
		    2> "$LAB_DIR/f$1$i.log" &
		wait_for 60 grep -q 'ready:' "$LAB_DIR/f$1$i.log"
		if [ "$1" = on ]; then
			wait_for 30 grep -q 'redis: connected' "$LAB_DIR/f$1$i.log"
		fi
	done
	c0=$(lab_exec "$PY" "$top/bench/bench_fleet.py" commands 127.0.0.1:6390)
	loads=
	for i in 1 2 3; do
		lab_exec "$B/bench/bench_policy" load "unix:$LAB_DIR/f$1$i.sock" 16 "$secs" "$1-" sink.test 0 \
		    > "$LAB_DIR/load$1$i" &
		loads="$loads $!"
	done
	# shellcheck disable=SC2086
	wait $loads
	for i in 1 2 3; do
		wait_for 60 sh -c "[ \"\$(ip netns exec $LAB_NS $PY $FT metric 1017$i rcptguard_lookups_waiting)\" = 0 ]"
	done
	c1=$(lab_exec "$PY" "$top/bench/bench_fleet.py" commands 127.0.0.1:6390)
	probes=0
	for i in 1 2 3; do
		p=$(lab_exec "$PY" "$FT" metric "1017$i" rcptguard_probe_rcpts_total)
		probes=$((probes + ${p%.*}))
	done
	# Every address asked of any instance: the longest stream (they are the same one).
	asked=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' "$LAB_DIR/load$1"1 "$LAB_DIR/load$1"2 "$LAB_DIR/load$1"3 |
	    sort -n | tail -n 1)
	distinct=$(for i in 1 2 3; do lab_exec "$B/cli/rcptguard" -c "$LAB_DIR/f$1$i.conf" cache list \
	    --domain sink.test 2>/dev/null; done | awk '{print $1}' | sort -u | wc -l)
	printf '| %s | %s | %s | %s | %.1f | %s | %.2f |\n' "$1" "$asked" "$distinct" "$probes" \
	    "$(echo "$probes $secs" | awk '{print $1 / $2}')" "$((probes - distinct))" \
	    "$(echo "$c0 $c1 $asked" | awk '{print ($2 - $1 - 1) / ($3 * 3)}')"
	pkill -TERM -f -- "-c $LAB_DIR/f$1" || true
	fleet_gone=$1
	wait_for 30 fleet_stopped
}
fleet_stopped() { ! pgrep -f -- "-c $LAB_DIR/f$fleet_gone" >/dev/null; }
echo
echo "3. three instances, each sent the same new addresses at once (16 connections each), smtp-sink"
echo "| shared tier | addresses asked | distinct probed | probes | fleet probes/s | duplicate probes | Redis commands per lookup |"
echo "|---|---:|---:|---:|---:|---:|---:|"
fleet_run on
fleet_run off
