# bench_build.sh - sourced by the bench scripts from the top of the tree:
# installs what the build needs and builds the benchmarks optimized, without
# sanitizers, in _build/bench, with the extra targets given in
# BENCH_TARGETS. Sets top and B (the build directory).
top=$(pwd)
./scripts/install-deps.sh >/dev/null
./scripts/bootstrap.sh
mkdir -p _build/bench
(
	cd _build/bench
	[ -f Makefile ] || "$top/configure" -q CFLAGS="-O2 -g"
	# shellcheck disable=SC2086
	make -s -j"$(nproc 2>/dev/null || echo 2)" bench ${BENCH_TARGETS:-}
) >/dev/null
B="$top/_build/bench"
