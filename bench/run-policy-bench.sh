#!/bin/sh
# run-policy-bench.sh - rcptguard-policyd throughput and latency, against the
# reference policy server (bench_policy server: parse, answer DUNNO) measured
# in the same run, with the same load client and the same requests.
#
#   1. cache hits: every recipient is in the verdict cache (1,000 of them),
#      at 1, 8 and 64 persistent connections;
#   1b. the same cache hits at 64 connections, with the daemon logging
#      through syslog to an rsyslogd the benchmark starts, against the
#      daemon logging to a file with -f, interleaved;
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
. bench/bench_lib.sh
# ---- 1. cache hits -----------------------------------------------------------
bench_hits policyd "listen = unix:@TMP@/policyd.sock" "max_connections = 1024"
"$B/policyd/rcptguard-policyd" -f -c "$tmp/rg.conf" 2> "$tmp/policyd.log" &
pids="$pids $!"
"$B/bench/bench_policy" server "unix:$tmp/ref.sock" &
pids="$pids $!"
sleep 1

echo "seconds=$secs rounds=$rounds"
header rcptguard-policyd req
for conns in 1 8 64; do
	bench_rounds "cache hit" "$conns" "unix:$tmp/ref.sock" "unix:$tmp/policyd.sock" \
	    "$B/bench/bench_policy" "$secs" r bench.example 1000
done
if grep -q 'action=defer\|action=reject' "$tmp/policyd.log"; then
	echo "warning: some requests were not cache hits" >&2
fi

# ---- 1b. the same, logging as in production: syslog ------------------------------
# A second daemon with -s (foreground, syslog: as under systemd) sends its
# lines to an rsyslogd of this run; the -f daemon above logs to a file.
bench_syslog_daemon policyd
header rcptguard-policyd req
bench_syslog_rounds 64 "unix:$tmp/ref.sock" "unix:$tmp/policyd.sock" \
    "unix:$tmp/policyd-syslog.sock" "$B/bench/bench_policy" "$secs" r bench.example 1000

# ---- 2. cache misses against the lab -------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
	echo "(cache-miss run skipped: it needs root for the lab's network namespace)"
	exit 0
fi
bench_sink_lab miss.conf
trap 'cleanup; lab_down' EXIT	# after lab_up, which sets its own
cat >> "$LAB_DIR/miss.conf" <<CONF
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
header rcptguard-policyd req
report "cache miss (probe of smtp-sink)" 64 "$LAB_DIR/ref.miss" "$LAB_DIR/rg.miss"
echo "probe answers: $(grep -c 'source=probe' "$LAB_DIR/policyd.log") probe, $(grep -c 'source=pending' "$LAB_DIR/policyd.log") pending (budget ran out), $(grep -c 'source=cache' "$LAB_DIR/policyd.log") cache"
