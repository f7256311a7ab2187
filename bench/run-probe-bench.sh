#!/bin/sh
# run-probe-bench.sh - probe speed in the lab (needs root: a network namespace).
#
# Builds the benchmarks optimized, starts the lab of tests/lab plus Postfix's
# smtp-sink, and measures, each against a reference in the same run:
#   1. SMTP sessions/s and CPU per session: rg_smtp vs a minimal client;
#   2. the full engine path per probe vs the same minimal client;
#   3. first-verdict latency of `rcptguard check` on a verdict-cache miss
#      against the honest Postfix vs one bare SMTP dialogue with it.
# usage: run-probe-bench.sh [SESSIONS] [CONCURRENCY] [ROUNDS]
set -eu
cd "$(dirname "$0")/.."
sessions=${1:-20000}
conc=${2:-64}
rounds=${3:-3}

BENCH_TARGETS="cli/rcptguard"
. bench/bench_lib.sh

bench_sink_lab bench.conf "max_rcpt_per_session = 1"

echo "== 1. SMTP sessions against smtp-sink"
lab_exec "$B/bench/bench_probe" sessions 127.0.0.30 "$sessions" "$conc" "$rounds"
echo
echo "== 2. full engine path against smtp-sink (one recipient per session)"
lab_exec "$B/bench/bench_probe" engine "$LAB_DIR/bench.conf" sink.test \
    $((sessions / 4)) "$conc" "$rounds" 127.0.0.30
echo
echo "== 3. first verdict on a cache miss against the honest Postfix"
lab_exec "$B/bench/bench_probe" latency 127.0.0.10 alice@honest.test 31
i=0
: > "$LAB_DIR/lat.txt"
while [ $i -lt 31 ]; do
	# A verdict-cache miss each time: a new address (unknown ones get 550 quickly).
	lab_exec "$B/cli/rcptguard" -c "$LAB_DIR/bench.conf" check --json --wait 10s \
	    "user$i@honest.test" 2>/dev/null >> "$LAB_DIR/lat.txt" || true
	i=$((i + 1))
done
/usr/bin/python3 - "$LAB_DIR/lat.txt" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ms = [r["elapsed_ms"] for r in rows]
warm = sorted(ms[1:])
print("first_cold_dns_ms=%d median_ms=%d p90_ms=%d n=%d sources=%s" % (
    ms[0], warm[len(warm) // 2], warm[len(warm) * 9 // 10], len(warm),
    sorted(set(r["source"] for r in rows))))
PY
