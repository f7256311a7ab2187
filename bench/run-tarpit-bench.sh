#!/bin/sh
# run-tarpit-bench.sh - hostile recipients: N recipients at distinct
# subdomains of wild.test, a wildcard whose mail host (the lab's tarpit,
# 127.0.0.24) accepts connections and never greets, sent to
# rcptguard-policyd at 64 connections, while a second client asks about
# cached addresses on one connection. The daemon runs with the default
# configuration (the lab's networks allowed, its state in the lab).
#
# Reported: the daemon's RSS every second (it must level off: the caps on
# probe jobs and waiters bound the work), the cached client's p99 in 10 s
# windows against a reference window of the same client with no hostile
# load, and the engine's counters at the end. Needs root (the lab).
# usage: run-tarpit-bench.sh [RECIPIENTS] [MAX_SECONDS]
set -eu
cd "$(dirname "$0")/.."
n=${1:-100000}
maxsecs=${2:-900}

BENCH_TARGETS="cli/rcptguard policyd/rcptguard-policyd"
. bench/bench_lib.sh
if [ "$(id -u)" -ne 0 ]; then
	echo "run-tarpit-bench.sh needs root for the lab's network namespace" >&2
	exit 1
fi
LAB_TOOLS="$top/tests/lab"
. "$LAB_TOOLS/lab.sh"
lab_up >/dev/null || { echo "the lab did not start" >&2; exit 1; }
conf="$LAB_DIR/tarpit.conf"
mkdir -p "$LAB_DIR/state"
cat > "$conf" <<CONF
[general]
state_dir = $LAB_DIR/state
user =
[probe]
probe_allow_networks = 127.0.0.0/8
[lists]
providers_file =
disposable_domains_file =
role_accounts_file =
[policyd]
listen = unix:$LAB_DIR/policyd.sock
CONF
i=0
while [ $i -lt 1000 ]; do
	"$B/cli/rcptguard" -c "$conf" cache put "r$i@bench.example" deliverable accepted >/dev/null
	i=$((i + 1))
done
bench_start "$LAB_DIR/policyd.log" ip netns exec "$LAB_NS" "$B/policyd/rcptguard-policyd" -f -c "$conf"
sock="unix:$LAB_DIR/policyd.sock"

echo "recipients=$n hostile_conns=64 cached_conns=1"
ref=$(ip netns exec "$LAB_NS" "$B/bench/bench_policy" load "$sock" 1 10 r bench.example 1000)
echo "reference (no hostile load): $ref"

# RSS every second, from the start of the hostile load.
(
	t=0
	while kill -0 "$dpid" 2>/dev/null; do
		# RSS, then its anonymous part (heap: what the caps bound) and its
		# file part (the cache's mapped pages, bounded by map_size_max).
		echo "$t $(awk '/^(VmRSS|RssAnon|RssFile):/ { printf "%s ", $2 }' "/proc/$dpid/status")"
		t=$((t + 1))
		sleep 1
	done
) > "$LAB_DIR/rss.txt" &
rpid=$!
: > "$LAB_DIR/cached.out"
# phase WILDCARD - N recipients at distinct subdomains under it, with the
# cached client asking meanwhile; then the daemon's heap.
phase() {
	start=$(date +%s)
	BP_COUNT=$n ip netns exec "$LAB_NS" "$B/bench/bench_policy" load "$sock" 64 "$maxsecs" u "$1" 0 \
	    > "$LAB_DIR/hostile.out" &
	hpid=$!
	while kill -0 "$hpid" 2>/dev/null; do
		ip netns exec "$LAB_NS" "$B/bench/bench_policy" load "$sock" 1 10 r bench.example 1000 \
		    >> "$LAB_DIR/cached.out" || true
	done
	wait "$hpid" || true
	echo "hostile load under $1: $(cat "$LAB_DIR/hostile.out") in $(($(date +%s) - start))s;" \
	    "heap (RssAnon) now $(awk '/^RssAnon:/ { print $2 }' "/proc/$dpid/status") KiB"
}
# The second phase, as many new recipients again, shows whether the heap
# levels off once the caps are reached.
phase '*.wild.test'
phase '*.b.wild.test'

echo "cached client, one line per 10 s window:"
sed 's/^/    /' "$LAB_DIR/cached.out"
echo "cached p99 µs: median of windows $(median_field p99_us "$LAB_DIR/cached.out"), max $(sed -n 's/.* p99_us=\([0-9]*\).*/\1/p' "$LAB_DIR/cached.out" | sort -n | tail -n 1), reference $(printf '%s\n' "$ref" | sed -n 's/.* p99_us=\([0-9]*\).*/\1/p')"
kill "$rpid" 2>/dev/null || true
rows=$(wc -l < "$LAB_DIR/rss.txt")
echo "KiB at 0%, 10%, 25%, 50%, 75%, 100% of the run (RSS = anonymous + cache file pages); the maxima:"
for pct in 0 10 25 50 75 100; do
	row=$((rows * pct / 100))
	[ "$row" -lt 1 ] && row=1
	sed -n "${row}p" "$LAB_DIR/rss.txt" |
	    awk -v p="$pct" '{ printf "    %3d%% (t=%ss): rss=%s anon=%s file=%s\n", p, $1, $2, $3, $4 }'
done
echo "    max: rss=$(awk '{ print $2 }' "$LAB_DIR/rss.txt" | sort -n | tail -n 1) anon=$(awk '{ print $3 }' "$LAB_DIR/rss.txt" | sort -n | tail -n 1)"
echo "cache file: $(du -k "$LAB_DIR/state/cache.lmdb" | cut -f1) KiB; $("$B/cli/rcptguard" -c "$conf" cache stats 2>/dev/null | grep -i 'entries\|domains\|verdicts' | tr '\n' ' ')"
kill -TERM "$dpid"
wait "$dpid" || true
grep "wild.test" "$LAB_DIR/policyd.log" | head -n 3 | sed "s/^/    /"
echo "engine at stop: $(grep -o 'engine: .*' "$LAB_DIR/policyd.log" | tail -n 1)"
grep -c 'reached: recipients are answered' "$LAB_DIR/policyd.log" | sed 's/^/cap warnings logged: /'
