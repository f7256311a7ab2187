#!/bin/sh
# run-flood-bench.sh - hostile connections against rcptguard-policyd and
# rcptguard-milter in their default configuration (only the state
# directory and the socket differ), and one Postfix-like client measured
# meanwhile: a request every 20 ms for a cached recipient, a dead
# connection opened again and the request sent once more, as Postfix does.
#
# For each daemon: a reference run of the client alone, then the same run
# under the flood of bench/bench_flood.py (a quarter each: partial
# requests, a byte a second, a complete request followed by a partial one,
# connect-and-hold), kept at HOSTILE connections the whole time. The RSS
# and the thread count of the daemon under the flood are reported too.
# usage: run-flood-bench.sh [SECONDS] [HOSTILE]
set -eu
cd "$(dirname "$0")/.."
secs=${1:-30}
hostile=${2:-5000}

BENCH_TARGETS="cli/rcptguard policyd/rcptguard-policyd milter/rcptguard-milter"
. bench/bench_lib.sh
tmp=$(mktemp -d /tmp/rg-flood-XXXXXX)
pids=
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/state"
cat > "$tmp/rg.conf" <<CONF
[general]
state_dir = $tmp/state
user =
[policyd]
listen = inet:127.0.0.1:10140
[milter]
listen = inet:10141@127.0.0.1
CONF
"$B/cli/rcptguard" -c "$tmp/rg.conf" cache put alice@live.example deliverable accepted >/dev/null
PY=/usr/bin/python3
FLOOD="$top/bench/bench_flood.py"

# rss PID - resident set of a process, in KiB.
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }

# flood_row NAME PROG ADDR PID - the reference run, the run under the flood, one table row.
flood_row() {
	ref=$("$PY" "$FLOOD" client "$2" "$3" "$secs" 0.02)
	"$PY" "$FLOOD" attack "$2" "$3" "$hostile" "$((secs + 5))" > "$tmp/attack.out" &
	apid=$!
	sleep 3	# the flood builds up before the measured client starts
	got=$("$PY" "$FLOOD" client "$2" "$3" "$secs" 0.02)
	kb=$(rss "$4")
	threads=$(ls "/proc/$4/task" | wc -l)
	wait "$apid"
	field() { printf '%s\n' "$1" | sed -n "s/.* $2=\([0-9.]*\).*/\1/p;s/^$2=\([0-9.]*\).*/\1/p" | head -n 1; }
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$hostile" \
	    "$(field "$got" requests)" "$(field "$got" answered_pct)" "$(field "$got" p50_ms)" \
	    "$(field "$got" p99_ms)" "$(field "$ref" p99_ms)" "$(field "$got" max_ms)" "$kb" "$threads"
	echo "    flood: $(cat "$tmp/attack.out")" >&2
}

echo "seconds=$secs hostile=$hostile interval=20ms"
echo "| daemon | hostile conns | requests | answered % | p50 ms | p99 ms | reference p99 ms | max ms | RSS KiB | threads |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"

bench_start "$tmp/policyd.log" "$B/policyd/rcptguard-policyd" -f -c "$tmp/rg.conf"
flood_row rcptguard-policyd policyd inet:127.0.0.1:10140 "$dpid"
kill "$dpid"
bench_start "$tmp/milter.log" "$B/milter/rcptguard-milter" -f -c "$tmp/rg.conf"
flood_row rcptguard-milter milter inet:127.0.0.1:10141 "$dpid"
