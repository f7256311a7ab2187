# bench_lib.sh - sourced by the bench scripts from the top of the tree:
# installs what the build needs and builds the benchmarks optimized, without
# sanitizers, in _build/bench, with the extra targets given in
# BENCH_TARGETS. Sets top and B (the build directory), and defines the
# table helpers of the daemon benchmarks.
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
. "$top/tests/cli/tap.sh"	# wait_for, which the lab uses too

# median_field FIELD FILE - the median of FIELD=value over the lines of FILE.
median_field() {
	sed -n "s/.* $1=\([0-9.]*\).*/\1/p" "$2" | sort -n |
	    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# report NAME CONNS REF_FILE RG_FILE - one table row. The ratio is the
# median of the per-round ratios (each daemon round against the reference
# round just before it), which drift on a shared machine cancels out of.
report() {
	rr=$(median_field req_per_s "$3")
	gr=$(median_field req_per_s "$4")
	ratio=$(paste -d' ' "$3" "$4" |
	    sed -n 's/.* req_per_s=\([0-9.]*\) .* req_per_s=\([0-9.]*\) .*/\1 \2/p' |
	    awk '{ print $2 / $1 }' | sort -n |
	    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
	printf '| %s | %s | %s | %s | %.2f | %s | %s | %s | %s |\n' "$1" "$2" "$gr" "$rr" "$ratio" \
	    "$(median_field p50_us "$4")" "$(median_field p99_us "$4")" \
	    "$(median_field p999_us "$4")" "$(median_field p99_us "$3")"
}

# header DAEMON UNIT - the table's head.
header() {
	echo "| run | conns | $1 $2/s | reference $2/s | ratio | p50 µs | p99 µs | p99.9 µs | reference p99 µs |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
}

# bench_start LOG COMMAND... - start a daemon (in the foreground, its log in
# LOG) and wait until it says ready; sets dpid and adds it to $pids.
bench_start() {
	_log=$1
	shift
	"$@" 2> "$_log" &
	dpid=$!
	pids="${pids:-} $dpid"
	wait_for 60 grep -q 'ready:' "$_log" || { echo "$* did not start:" >&2; cat "$_log" >&2; exit 1; }
}

# cleanup - stop the daemons in $pids, remove $tmp (on exit).
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}

# bench_hits SECTION LINES... - a temporary directory $tmp (removed with the
# daemons in $pids on exit), a config whose SECTION holds LINES (@TMP@ in
# them stands for $tmp), and 1,000 deliverable verdicts
# r0..r999@bench.example in its cache.
bench_hits() {
	tmp=$(mktemp -d /tmp/rg-bench-XXXXXX)
	pids=
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$tmp/state"
	section=$1
	shift
	{
		printf '[general]\nstate_dir = %s/state\nuser =\n' "$tmp"
		printf '[dns]\ndns_servers = 127.0.0.1:1\n'
		printf '[lists]\nproviders_file =\ndisposable_domains_file =\nrole_accounts_file =\n'
		printf '[%s]\n' "$section"
		for line in "$@"; do printf '%s\n' "$line" | sed "s|@TMP@|$tmp|g"; done
	} > "$tmp/rg.conf"
	i=0
	while [ $i -lt 1000 ]; do
		"$B/cli/rcptguard" -c "$tmp/rg.conf" cache put "r$i@bench.example" deliverable accepted >/dev/null
		i=$((i + 1))
	done
}

# bench_rounds NAME CONNS REF_SOCKET DAEMON_SOCKET LOAD... - ROUNDS rounds of
# LOAD (a bench client command, SOCKET CONNS placed after its first word)
# alternating reference and daemon, then the table row.
bench_rounds() {
	name=$1 conns=$2 ref=$3 dmn=$4
	shift 4
	client=$1
	shift
	: > "$tmp/ref.$conns"
	: > "$tmp/rg.$conns"
	r=0
	while [ $r -lt "$rounds" ]; do
		"$client" load "$ref" "$conns" "$@" >> "$tmp/ref.$conns"
		"$client" load "$dmn" "$conns" "$@" >> "$tmp/rg.$conns"
		r=$((r + 1))
	done
	report "$name" "$conns" "$tmp/ref.$conns" "$tmp/rg.$conns"
}

# bench_sink_lab NAME [PROBE_LINES...] - the lab of tests/lab (which stops on
# exit) with Postfix's smtp-sink on 127.0.0.30, the MX of sink.test, and at
# $LAB_DIR/NAME a config that probes it flat out: state under the lab, [probe]
# with PROBE_LINES added, [limits] wide open (max_domain_jobs too: every probe
# of the engine benchmark is a job of the one domain sink.test, and at the
# default of 16 the rest would be answered in_progress at once). The caller
# appends its sections.
bench_sink_lab() {
	bench_conf_name=$1
	shift
	LAB_TOOLS="$top/tests/lab"
	. "$LAB_TOOLS/lab.sh"
	lab_up >/dev/null || { echo "the lab did not start" >&2; exit 1; }
	lab_exec smtp-sink -u postfix 127.0.0.30:25 1024 >/dev/null 2>&1 &
	lab_wait_port 127.0.0.30 25 >/dev/null
	mkdir -p "$LAB_DIR/state"
	{
		printf '[general]\nstate_dir = %s/state\nuser =\n' "$LAB_DIR"
		printf '[probe]\nhelo_name = probe.lab.test\nprobe_allow_networks = 127.0.0.0/8\n'
		printf 'catch_all_check = no\n'
		for line in "$@"; do printf '%s\n' "$line"; done
		printf '[limits]\ndomain_rate = 100000\ndomain_burst = 100000\n'
		printf 'mx_concurrency = 64\nglobal_concurrency = 1024\nmax_domain_jobs = 1024\n'
	} > "$LAB_DIR/$bench_conf_name"
}

# bench_rsyslog - Debian's rsyslogd in the foreground on a socket of its own,
# $tmp/log.sock (not /dev/log), writing mail.* to $tmp/mail.log, without rate
# limiting; stopped with $pids. As root it runs in a network namespace of
# its own whose net.unix.max_dgram_qlen is 512, the value systemd's
# 50-default.conf gives every Debian host (the kernel's default is 10, which
# hosts without systemd, like this one, keep); the host's sysctl is untouched.
bench_rsyslog() {
	cat > "$tmp/rsyslog.conf" <<CONF
global(workDirectory="$tmp")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="$tmp/log.sock" RateLimit.Interval="0")
mail.* action(type="omfile" file="$tmp/mail.log")
CONF
	if [ "$(id -u)" -eq 0 ]; then
		unshare -n sh -c 'sysctl -qw net.unix.max_dgram_qlen=512 &&
		    exec /usr/sbin/rsyslogd -n -f "$1/rsyslog.conf" -i "$1/rsyslog.pid"' sh "$tmp" \
		    2> "$tmp/rsyslog.err" &
	else
		echo "(not root: rsyslogd's socket queues the kernel's default of 10 datagrams)"
		/usr/sbin/rsyslogd -n -f "$tmp/rsyslog.conf" -i "$tmp/rsyslog.pid" 2> "$tmp/rsyslog.err" &
	fi
	pids="$pids $!"
	wait_for 30 test -S "$tmp/log.sock" || { echo "rsyslogd did not start:" >&2; cat "$tmp/rsyslog.err" >&2; exit 1; }
}

# bench_syslog_daemon NAME - rsyslogd (bench_rsyslog), and a second
# rcptguard-NAME started with -s (foreground, syslog: as under systemd) on
# $tmp/NAME-syslog.sock, its config $tmp/rg.conf with that socket and the
# syslog socket of rsyslogd.
bench_syslog_daemon() {
	bench_rsyslog
	sed "s|unix:$tmp/[a-z]*\.sock|unix:$tmp/$1-syslog.sock|" "$tmp/rg.conf" > "$tmp/syslog.conf"
	printf '[general]\nsyslog_socket = %s/log.sock\n' "$tmp" >> "$tmp/syslog.conf"
	"$B/$1/rcptguard-$1" -s -c "$tmp/syslog.conf" 2> "$tmp/$1-syslog.err" &
	pids="$pids $!"
	wait_for 60 test -S "$tmp/$1-syslog.sock" || { cat "$tmp/$1-syslog.err" >&2; exit 1; }
	echo
}

# bench_syslog_rounds CONNS REF FILE_SOCKET SYSLOG_SOCKET LOAD... - ROUNDS
# rounds of reference, the daemon logging with -f to a file, and the daemon
# logging through syslog, interleaved; three table rows, then the ratio of
# syslog to -f (median of the per-round ratios), and whether every decision
# of the syslog rounds reached rsyslog's file.
bench_syslog_rounds() {
	conns=$1 ref=$2 fsock=$3 ssock=$4
	shift 4
	client=$1
	shift
	: > "$tmp/sref"
	: > "$tmp/sf"
	: > "$tmp/ss"
	before=$(grep -c 'action=' "$tmp/mail.log" 2>/dev/null || true)
	r=0
	while [ $r -lt "$rounds" ]; do
		"$client" load "$ref" "$conns" "$@" >> "$tmp/sref"
		"$client" load "$fsock" "$conns" "$@" >> "$tmp/sf"
		"$client" load "$ssock" "$conns" "$@" >> "$tmp/ss"
		r=$((r + 1))
	done
	report "cache hit, -f, log to a file" "$conns" "$tmp/sref" "$tmp/sf"
	report "cache hit, syslog (rsyslog)" "$conns" "$tmp/sref" "$tmp/ss"
	ratio=$(paste -d' ' "$tmp/sf" "$tmp/ss" |
	    sed -n 's/.* req_per_s=\([0-9.]*\) .* req_per_s=\([0-9.]*\) .*/\1 \2/p' |
	    awk '{ print $2 / $1 }' | sort -n |
	    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
	echo
	echo "syslog against -f: $ratio (median of the per-round ratios)"
	# Every decision is one line: the syslog rounds' count must all arrive.
	want=$(sed -n 's/.* [a-z]*=\([0-9]*\) errors=.*/\1/p' "$tmp/ss" | awk '{ s += $1 } END { print s }')
	want=$((want + ${before:-0}))
	wait_for 60 sh -c "[ \$(grep -c 'action=' '$tmp/mail.log') -ge $want ]" || true
	echo "decision lines in rsyslog's file: $(grep -c 'action=' "$tmp/mail.log") of $want sent"
	if grep -q 'lost while syslog' "$tmp/mail.log"; then
		echo "warning: $(grep 'lost while syslog' "$tmp/mail.log" | tail -n 1)"
	fi
}
