#!/bin/sh
# run-bench.sh - build the benchmarks optimized, without sanitizers, and run
# them. Results are ratios against a reference measured in the same run.
set -eu
cd "$(dirname "$0")/.."
. bench/bench_lib.sh
echo "== bench_cache $*"
"$B/bench/bench_cache" "$@"
