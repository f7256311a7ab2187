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

# like_file NAME FILE PATTERN - FILE comes to match PATTERN within 5 s (a
# daemon may hold its log lines for a moment before writing them).
like_file() {
	for _ in $(seq 1 50); do
		grep -Eq -- "$3" "$2" 2>/dev/null && break
		sleep 0.1
	done
	like "$1" "$(cat "$2" 2>/dev/null)" "$3"
}

tap_done() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}
