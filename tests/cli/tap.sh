# tap.sh - minimal TAP helpers for the shell tests. Source it, then call
# `check NAME COMMAND...` or `is NAME GOT WANT`, and `tap_done` at the end.
tap_n=0
tap_failed=0

tap_ok() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1"
}

tap_not_ok() {
	tap_n=$((tap_n + 1))
	tap_failed=$((tap_failed + 1))
	echo "not ok $tap_n - $1"
	shift
	for line in "$@"; do
		printf "#   %s\n" "$line"
	done
}

# is NAME GOT WANT - string equality.
is() {
	if [ "$2" = "$3" ]; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "got:  $2" "want: $3"
	fi
}

# check NAME COMMAND... - the command exits 0.
check() {
	name=$1
	shift
	if "$@" >/dev/null 2>&1; then
		tap_ok "$name"
	else
		tap_not_ok "$name" "command failed: $*"
	fi
}

# like NAME TEXT PATTERN - grep -E match.
like() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "text: $2" "does not match: $3"
	fi
}

# wait_for SECS CMD... - run CMD every 0.1 s until it succeeds; at most SECS
# seconds of wall-clock time, however slow a busy machine makes each try.
wait_for() {
	_wf_end=$(($(date +%s) + $1))
	shift
	while :; do
		"$@" && return 0
		[ "$(date +%s)" -ge "$_wf_end" ] && return 1
		sleep 0.1
	done
}

# tap_skip_all REASON - the whole suite cannot run here: a TAP skip (never
# counted as a pass), or, with RG_REQUIRE_LAB=1 (CI), a failure.
tap_skip_all() {
	if [ "${RG_REQUIRE_LAB:-}" = 1 ]; then
		echo "Bail out! $1 (and RG_REQUIRE_LAB=1)"
		exit 1
	fi
	echo "1..0 # SKIP $1"
	exit 0
}

# tap_skip NAME REASON - one case cannot run here: a TAP skip, or, with
# RG_REQUIRE_LAB=1 (CI), a failure.
tap_skip() {
	if [ "${RG_REQUIRE_LAB:-}" = 1 ]; then
		tap_not_ok "$1" "$2 (and RG_REQUIRE_LAB=1)"
		return
	fi
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1 # SKIP $2"
}

# tap_need TOOL... - skip the suite unless every tool is installed.
tap_need() {
	for _tool in "$@"; do
		command -v "$_tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$_tool" ] ||
		    tap_skip_all "$_tool is not installed"
	done
}

# like_file NAME FILE PATTERN - FILE comes to match PATTERN within 30 s (a
# daemon may hold its log lines for a moment before writing them).
like_file() {
	wait_for 30 grep -Eq -- "$3" "$2" 2>/dev/null
	like "$1" "$(cat "$2" 2>/dev/null)" "$3"
}

tap_done() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}
