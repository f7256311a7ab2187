#!/bin/sh
# run-policy-bench.sh - rcptguard-policyd throughput and latency, against the
# reference policy server (bench_policy server: parse, answer DUNNO) measured
# in the same run, with the same load client and the same requests.
#
#   1. cache hits: every recipient is in the verdict cache (1,000 of them),
#      at 1, 8 and 64 persistent connections;
#   2. cache misses (as root): every recipient is new, so every request is
#      a probe of the lab's smtp-sink through the lab's DNS, at 64 connections.
# Rounds alternate reference and daemon; each number is the median of
# rounds, and the ratio the median of the per-round ratios.
# usage: run-policy-bench.sh [SECONDS] [ROUNDS]
set -eu
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-3}

BENCH_TARGETS="cli/rcptguard policyd/rcptguard-policyd"
. bench/bench_build.sh
tmp=$(mktemp -d /tmp/rg-pbench-XXXXXX)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# median_field FIELD FILE - the median of FIELD=value over the lines of FILE.
median_field() {
	sed -n "s/.* $1=\([0-9.]*\).*/\1/p" "$2" | sort -n |
	    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# report NAME CONNS REF_FILE RG_FILE - one table row. The ratio is the
# median of the per-round ratios (each daemon round against the reference
# round just before it), which drift on a shared machine cancels out of.
report() {
	rr=$(median_field req_per_s "$3")
	gr=$(median_field req_per_s "$4")
	ratio=$(paste -d' ' "$3" "$4" |
	    sed -n 's/.* req_per_s=\([0-9.]*\) .* req_per_s=\([0-9.]*\) .*/\1 \2/p' |
	    awk '{ print $2 / $1 }' | sort -n |
	    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
	printf '| %s | %s | %s | %s | %.2f | %s | %s | %s | %s |\n' "$1" "$2" "$gr" "$rr" "$ratio" \
	    "$(median_field p50_us "$4")" "$(median_field p99_us "$4")" \
	    "$(median_field p999_us "$4")" "$(median_field p99_us "$3")"
}

header() {
	echo "| run | conns | rcptguard-policyd req/s | reference req/s | ratio | p50 µs | p99 µs | p99.9 µs | reference p99 µs |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
}

# ---- 1. cache hits -----------------------------------------------------------
mkdir -p "$tmp/state"
cat > "$tmp/rg.conf" <<CONF
[general]
state_dir = $tmp/state
user =
[dns]
dns_servers = 127.0.0.1:1
[lists]
providers_file =
disposable_domains_file =
role_accounts_file =
[policyd]
listen = unix:$tmp/policyd.sock
max_connections = 1024
CONF
i=0
while [ $i -lt 1000 ]; do
	"$B/cli/rcptguard" -c "$tmp/rg.conf" cache put "r$i@bench.example" deliverable accepted >/dev/null
	i=$((i + 1))
done
"$B/policyd/rcptguard-policyd" -f -c "$tmp/rg.conf" 2> "$tmp/policyd.log" &
pids="$pids $!"
"$B/bench/bench_policy" server "unix:$tmp/ref.sock" &
pids="$pids $!"
sleep 1

echo "seconds=$secs rounds=$rounds"
header
for conns in 1 8 64; do
	: > "$tmp/ref.$conns"
	: > "$tmp/rg.$conns"
	r=0
	while [ $r -lt "$rounds" ]; do
		"$B/bench/bench_policy" load "unix:$tmp/ref.sock" "$conns" "$secs" r bench.example 1000 \
		    >> "$tmp/ref.$conns"
		"$B/bench/bench_policy" load "unix:$tmp/policyd.sock" "$conns" "$secs" r bench.example 1000 \
		    >> "$tmp/rg.$conns"
		r=$((r + 1))
	done
	report "cache hit" "$conns" "$tmp/ref.$conns" "$tmp/rg.$conns"
done
if grep -q 'action=defer\|action=reject' "$tmp/policyd.log"; then
	echo "warning: some requests were not cache hits" >&2
fi

# ---- 2. cache misses against the lab -------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
	echo "(cache-miss run skipped: it needs root for the lab's network namespace)"
	exit 0
fi
LAB_TOOLS="$top/tests/lab"
. "$LAB_TOOLS/lab.sh"
lab_up >/dev/null || { echo "the lab did not start" >&2; exit 1; }
trap 'cleanup; lab_down' EXIT	# after lab_up, which sets its own
lab_exec smtp-sink -u postfix 127.0.0.30:25 1024 >/dev/null 2>&1 &
lab_wait_port 127.0.0.30 25 >/dev/null
mkdir -p "$LAB_DIR/state"
cat > "$LAB_DIR/miss.conf" <<CONF
[general]
state_dir = $LAB_DIR/state
user =
[probe]
helo_name = probe.lab.test
probe_allow_networks = 127.0.0.0/8
catch_all_check = no
[limits]
domain_rate = 100000
domain_burst = 100000
mx_concurrency = 64
global_concurrency = 1024
[lists]
providers_file =
disposable_domains_file =
role_accounts_file =
[policyd]
listen = unix:$LAB_DIR/policyd.sock
max_connections = 1024
CONF
ip netns exec "$LAB_NS" "$B/policyd/rcptguard-policyd" -f -c "$LAB_DIR/miss.conf" \
    2> "$LAB_DIR/policyd.log" &
ip netns exec "$LAB_NS" "$B/bench/bench_policy" server "unix:$LAB_DIR/ref.sock" &
sleep 1
: > "$LAB_DIR/ref.miss"
: > "$LAB_DIR/rg.miss"
r=0
while [ $r -lt "$rounds" ]; do
	lab_exec "$B/bench/bench_policy" load "unix:$LAB_DIR/ref.sock" 64 "$secs" "m$r-" sink.test 0 \
	    >> "$LAB_DIR/ref.miss"
	lab_exec "$B/bench/bench_policy" load "unix:$LAB_DIR/policyd.sock" 64 "$secs" "m$r-" sink.test 0 \
	    >> "$LAB_DIR/rg.miss"
	r=$((r + 1))
done
echo
header
report "cache miss (probe of smtp-sink)" 64 "$LAB_DIR/ref.miss" "$LAB_DIR/rg.miss"
echo "probe answers: $(grep -c 'source=probe' "$LAB_DIR/policyd.log") probe, $(grep -c 'source=pending' "$LAB_DIR/policyd.log") pending (budget ran out), $(grep -c 'source=cache' "$LAB_DIR/policyd.log") cache"
