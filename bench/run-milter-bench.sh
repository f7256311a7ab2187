#!/bin/sh
# run-milter-bench.sh - rcptguard-milter throughput and RCPT latency against
# the reference filter (bench_milter filter: a libmilter filter that returns
# SMFIS_CONTINUE at envrcpt), measured in the same run with the same load
# client (bench_milter load: negotiate, connect, then MAIL, K x RCPT,
# ABORT) and the same recipients, every one a verdict-cache hit (1,000 of
# them), at 1, 8 and 64 connections. Rounds alternate reference and
# daemon; each number is the median of rounds, and the ratio the median of
# the per-round ratios. Then the same at 64 connections with the filter
# logging through syslog to an rsyslogd the benchmark starts, against -f to
# a file.
# usage: run-milter-bench.sh [SECONDS] [ROUNDS] [K]
set -eu
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-3}
k=${3:-5}

BENCH_TARGETS="cli/rcptguard milter/rcptguard-milter"
. bench/bench_lib.sh
bench_hits milter "listen = unix:@TMP@/milter.sock"
"$B/milter/rcptguard-milter" -f -c "$tmp/rg.conf" 2> "$tmp/milter.log" &
pids="$pids $!"
"$B/bench/bench_milter" filter "unix:$tmp/ref.sock" &
pids="$pids $!"
for _ in $(seq 1 100); do
	[ -S "$tmp/milter.sock" ] && [ -S "$tmp/ref.sock" ] && break
	sleep 0.1
done

echo "seconds=$secs rounds=$rounds rcpts_per_message=$k"
header rcptguard-milter RCPT
for conns in 1 8 64; do
	bench_rounds "cache hit" "$conns" "unix:$tmp/ref.sock" "unix:$tmp/milter.sock" \
	    "$B/bench/bench_milter" "$secs" "$k" r bench.example 1000
done
if grep -q 'action=defer\|action=reject' "$tmp/milter.log"; then
	echo "warning: some recipients were not cache hits" >&2
fi

# The same at 64 connections, with a second filter logging through syslog
# (-s, as under systemd) to an rsyslogd of this run, against -f to a file.
bench_syslog_daemon milter
header rcptguard-milter RCPT
bench_syslog_rounds 64 "unix:$tmp/ref.sock" "unix:$tmp/milter.sock" \
    "unix:$tmp/milter-syslog.sock" "$B/bench/bench_milter" "$secs" "$k" r bench.example 1000
