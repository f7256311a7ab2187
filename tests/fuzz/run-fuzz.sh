#!/bin/sh
# run-fuzz.sh BUILDDIR SECONDS - run every libFuzzer target for SECONDS each,
# starting from the seed corpus in tests/fuzz/corpus/NAME (copied, so the
# committed seeds stay small). One TAP line per target.
set -u
build=$1
secs=${2:-30}
top=$(cd "$(dirname "$0")/../.." && pwd)
n=0
rc=0
for t in address verdict config reply dns_record policyd_request smtp milter records rules verify_input metrics_text maillog redis_reply; do
	n=$((n + 1))
	work="$build/fuzz-corpus-$t"
	rm -rf "$work"
	mkdir -p "$work"
	cp "$top/tests/fuzz/corpus/$t/"* "$work/" 2>/dev/null || true
	log="$build/fuzz-$t.log"
	if "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -max_len=4096 -timeout=10 \
	    -rss_limit_mb=1024 -print_final_stats=1 "$work" > "$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		echo "ok $n - fuzz_$t: $runs runs in ${secs}s, no crash"
	else
		echo "not ok $n - fuzz_$t"
		grep -E 'ERROR|SUMMARY|==[0-9]+==|Test unit written|deadly' "$log" | head -n 20 | sed 's/^/#   /'
		rc=1
	fi
done
echo "1..$n"
exit $rc
