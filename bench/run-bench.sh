#!/bin/sh
# run-bench.sh - build the benchmarks optimized, without sanitizers, and run
# them. Results are ratios against a reference measured in the same run.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
./scripts/install-deps.sh >/dev/null
./scripts/bootstrap.sh
mkdir -p _build/bench
(
	cd _build/bench
	[ -f Makefile ] || "$top/configure" -q CFLAGS="-O2 -g"
	make -s -j"$(nproc 2>/dev/null || echo 2)" bench
)
echo "== bench_cache $*"
_build/bench/bench/bench_cache "$@"
