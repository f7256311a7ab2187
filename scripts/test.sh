#!/bin/sh
# test.sh - the whole rcptguard test suite on a fresh Debian 12 clone.
#
# 1. installs the Debian packages the build and the tests need;
# 2. builds with -Wall -Wextra -Werror and runs `make check`;
# 3. builds again with AddressSanitizer and UndefinedBehaviorSanitizer
#    (LeakSanitizer included) and runs `make check` there;
# 4. runs the unit tests and the command line under valgrind;
# 5. builds the Debian package from the tracked files, runs lintian, and
#    installs it in a booted Debian 12 container (systemd-nspawn);
# 6. builds the libFuzzer targets with clang and runs each for
#    RG_FUZZ_SECONDS (default 30) from the seed corpus.
# Ends with one line "rcptguard: N passed, N failed".
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

./scripts/install-deps.sh
./scripts/bootstrap.sh

passed=0
failed=0
skipped=0

# count_log FILE - add the automake summary of a make check run to the totals.
# A skip is counted as a skip, never as a pass.
count_log() {
	p=$(sed -n 's/^# PASS: *//p' "$1" | tail -n 1)
	f=$(sed -n 's/^# FAIL: *//p' "$1" | tail -n 1)
	e=$(sed -n 's/^# ERROR: *//p' "$1" | tail -n 1)
	k=$(sed -n 's/^# SKIP: *//p' "$1" | tail -n 1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${e:-0}))
	skipped=$((skipped + ${k:-0}))
}

# tap_stage NAME LOG - count the TAP lines of a stage run by a script.
tap_stage() {
	grep -E '^not ok' "$2" || true
	sp=$(grep '^ok' "$2" | grep -vc '# SKIP' || true)
	sk=$(grep '^ok' "$2" | grep -c '# SKIP' || true)
	sf=$(grep -c '^not ok' "$2" || true)
	passed=$((passed + sp))
	skipped=$((skipped + sk))
	failed=$((failed + sf))
	if [ "$3" -ne 0 ] && [ "$sf" -eq 0 ]; then
		tail -n 30 "$2"
		failed=$((failed + 1))
	fi
}

# suite NAME CONFIGURE-ARGS... - configure, build and make check in _build/NAME.
suite() {
	name=$1
	shift
	echo "==> $name: configure $*"
	mkdir -p "_build/$name"
	if ! (
		cd "_build/$name"
		"$top/configure" -q "$@"
		make -s -j"$jobs"
	) > "_build/$name.build.log" 2>&1; then
		tail -n 40 "_build/$name.build.log"
		echo "rcptguard: $passed passed, $((failed + 1)) failed, $skipped skipped"
		exit 1
	fi
	echo "==> $name: make check"
	rc=0
	(cd "_build/$name" && make -s -j"$jobs" check) > "_build/$name.check.log" 2>&1 || rc=$?
	grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP|# )' "_build/$name.check.log" | grep -v '^PASS' || true
	if [ "$rc" -ne 0 ] && ! grep -q '^# TOTAL' "_build/$name.check.log"; then
		# The harness itself failed (a build error in a test): show why.
		tail -n 40 "_build/$name.check.log"
		failed=$((failed + 1))
	fi
	count_log "_build/$name.check.log"
	if [ "$rc" -ne 0 ]; then
		# Show the failing cases with their diagnostics.
		grep -l '^not ok' $(find "_build/$name/tests" -name '*.log') 2>/dev/null |
		    while read -r log; do
			echo "---- $log"
			grep -A8 '^not ok' "$log" | head -n 60
		done
	fi
}

suite dev --enable-werror
suite asan --enable-werror --enable-sanitizers

echo "==> valgrind"
vg_rc=0
./scripts/valgrind-check.sh _build/dev > _build/valgrind.log 2>&1 || vg_rc=$?
tap_stage valgrind _build/valgrind.log "$vg_rc"

echo "==> package: dpkg-buildpackage and lintian"
deb_rc=0
rm -rf _build/deb
RG_DEB_OUT=$top/_build/deb top_srcdir=$top sh tests/packaging/test_deb.sh > _build/package.log 2>&1 ||
    deb_rc=$?
grep -E '^(not ok|# lintian: [EWIP]:)' _build/package.log || true
tap_stage package _build/package.log "$deb_rc"

echo "==> package: installed in a booted Debian 12 (systemd-nspawn)"
ct_rc=0
top_srcdir=$top sh tests/packaging/test_container.sh "$(ls _build/deb/rcptguard_*.deb 2>/dev/null | head -n 1)" \
    > _build/container.log 2>&1 || ct_rc=$?
grep -E '^not ok' -A4 _build/container.log || true
tap_stage container _build/container.log "$ct_rc"

echo "==> fuzz: ${RG_FUZZ_SECONDS:-30}s per target"
mkdir -p _build/fuzz
fz_rc=0
(
	cd _build/fuzz
	[ -f Makefile ] || "$top/configure" -q CC=clang --enable-fuzzers --enable-sanitizers --enable-werror
	make -s -j"$jobs"
) > _build/fuzz.build.log 2>&1 || fz_rc=$?
if [ "$fz_rc" -eq 0 ]; then
	tests/fuzz/run-fuzz.sh _build/fuzz "${RG_FUZZ_SECONDS:-30}" > _build/fuzz.log 2>&1 || fz_rc=$?
	cat _build/fuzz.log
	tap_stage fuzz _build/fuzz.log "$fz_rc"
else
	tail -n 30 _build/fuzz.build.log
	failed=$((failed + 1))
fi

echo "rcptguard: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
