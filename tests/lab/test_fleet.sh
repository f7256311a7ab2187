#!/bin/sh
# test_fleet.sh - a fleet of three rcptguard-policyd instances (separate
# state directories, source addresses and instance names) sharing one real
# redis-server, in the lab. What one probes the others answer without a
# probe; a burst of concurrent misses for one address makes one probe; the
# fleet as a whole keeps a domain's rate; a greylisted address is retried by
# the host that met the greylisting only; Redis killed in the middle of a
# load run, restarted empty, answering only errors, or answering nothing
# never makes a wrong or failed answer, nor does one declaring a reply of
# two billion elements; records spoiled in Redis are refused and counted. RCPTs and sessions are counted in the lab Postfix's own log.
# Needs root (the lab).
. "$top_srcdir/tests/cli/tap.sh"
LAB_TOOLS="$top_srcdir/tests/lab"
. "$LAB_TOOLS/lab.sh"

RG="$top_builddir/cli/rcptguard"
PD="$top_builddir/policyd/rcptguard-policyd"
PY=${PYTHON3:-/usr/bin/python3}
FT="$LAB_TOOLS/fleet_tool.py"
export FLEET_AUTH="tool tool-secret"	# fleet_tool.py's own ACL user
REDIS_PORT=6390

tap_need redis-server
lab_up_or_bail
HONEST="$LAB_DIR/postfix-honest/maillog"
GREY="$LAB_DIR/postfix-grey/maillog"

# conf NAME N SERVER [EXTRA] - the config of instance NAME: policyd on
# 127.0.0.1:1005N, metrics on 1006N, probes from 127.0.0.(3+N).
conf() {
	mkdir -p "$LAB_DIR/state-$1"
	{
		printf '[general]\nstate_dir = %s/state-%s\nuser =\n' "$LAB_DIR" "$1"
		lab_probe_conf 10s 2s | sed -e "s/^source_addresses = .*/source_addresses = 127.0.0.$((3 + $2))/" \
		    -e "s/^domain_rate = .*/domain_rate = ${RATE:-600}/" \
		    -e "s/^domain_burst = .*/domain_burst = ${BURST:-100}/" \
		    -e "s/^greylist_max_retries = .*/&\nmax_rcpt_per_session = ${RCPTS:-50}/"
		printf '[policyd]\nlisten = inet:127.0.0.1:1005%s\nmetrics_listen = inet:127.0.0.1:1006%s\n' "$2" "$2"
		printf '[policy]\nwait_budget = 3s\n[redis]\nserver = %s\ninstance = %s\n' "$3" "$1"
		printf 'user = rg\npassword = lab-secret\n'
	} > "$LAB_DIR/$1.conf"
}

# start NAME N - the instance's policy server, logging to NAME.log.
start() {
	lab_exec "$PD" -f -c "$LAB_DIR/$1.conf" >> "$LAB_DIR/$1.log" 2>&1 &
	lab_wait_port 127.0.0.1 "1005$2" || tap_not_ok "instance $1 listens" "$(tail -n 5 "$LAB_DIR/$1.log")"
}

# stop NAME - SIGTERM to the instance's policy server, and wait until it is gone.
running() { pgrep -f -- "-c $LAB_DIR/$1.conf" >/dev/null; }
stopped() { ! running "$1"; }
stop() {
	pkill -TERM -f -- "-c $LAB_DIR/$1.conf"
	wait_for 30 stopped "$1" || tap_not_ok "instance $1 stops"
}

fleet_up() {
	for i in 1 2 3; do
		set -- a b c
		eval "n=\${$i}"
		conf "$n" "$i" "127.0.0.1:$REDIS_PORT"
		start "$n" "$i"
	done
}

fleet_down() { stop a; stop b; stop c; }

redis_up() {
	rm -f "$LAB_DIR/redis.pid"
	# The fleet logs in as an ACL user with exactly the rights docs/fleet.md
	# gives it; the test's own tool as another; the default user is off.
	lab_exec redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
	    --pidfile "$LAB_DIR/redis.pid" --logfile "$LAB_DIR/redis.log" \
	    --user default off \
	    --user rg on '>lab-secret' '~rcptguard:*' '&rcptguard:changed' +@connection +get +set \
	    +mget +del +eval +publish +subscribe +hmget +hset +pexpire +select \
	    --user tool on '>tool-secret' '~*' '&*' +@all \
	    >/dev/null 2>&1 &
	lab_wait_port 127.0.0.1 "$REDIS_PORT" && wait_for 30 test -s "$LAB_DIR/redis.pid"
}
redis_gone() { ! kill -0 "$1" 2>/dev/null; }

# connected NAME... - each instance has said that it shares with the fleet.
connected() {
	for n in "$@"; do
		[ "$(lab_exec "$PY" "$FT" metric "100$(pos "$n")" rcptguard_redis_up)" = 1 ] || return 1
	done
}
pos() { case $1 in a) echo 61 ;; b) echo 62 ;; c) echo 63 ;; *) echo 64 ;; esac; }

ask() { lab_exec "$PY" "$FT" ask "$@" | awk '{print $2}'; }

# rejects ADDRESS [IP] - RCPTs of ADDRESS the honest Postfix refused (from IP).
rejects() {
	grep -F "to=<$1>" "$HONEST" 2>/dev/null | grep -F "${2:-}" | grep -c 'NOQUEUE: reject: RCPT'
}

# sessions LOG IP - probe sessions a lab Postfix saw from IP.
sessions() { grep -c "connect from unknown\[$2\]" "$1" 2>/dev/null; }
some_rejects() { [ "$(rejects "$1")" -ge 1 ]; }

waiting_zero() {
	for p in 10061 10062 10063; do
		[ "$(lab_exec "$PY" "$FT" metric $p rcptguard_lookups_waiting)" = 0 ] || return 1
	done
}

redis_up || tap_not_ok "redis-server starts" "$(tail -n 5 "$LAB_DIR/redis.log")"
fleet_up
wait_for 30 connected a b c
check "the three instances connect to Redis" connected a b c

# 1. A verdict probed by one is answered by the others without a probe.
is "A rejects an unknown mailbox" "$(ask 10051 nobody1@honest.test)" action=550
is "B rejects it too" "$(ask 10052 nobody1@honest.test)" action=550
is "C rejects it too" "$(ask 10053 nobody1@honest.test)" action=550
wait_for 30 some_rejects nobody1@honest.test
is "the honest MX saw one RCPT for it, from A" \
    "$(rejects nobody1@honest.test) $(rejects nobody1@honest.test 127.0.0.4)" "1 1"
s0=$(sessions "$HONEST" 127.0.0.5)
is "A accepts a real mailbox" "$(ask 10051 alice@honest.test)" action=DUNNO
is "B and C accept it" "$(ask 10052 alice@honest.test) $(ask 10053 alice@honest.test)" \
    "action=DUNNO action=DUNNO"
is "B made no probe session for it" "$(sessions "$HONEST" 127.0.0.5)" "$s0"
like_file "B's log says the answer came from the fleet" "$LAB_DIR/b.log" \
    'rcpt=<alice@honest.test> class=deliverable reason=accepted .*source=shared'
like "B keeps the verdict locally, as probed by A" \
    "$(lab_exec "$RG" -c "$LAB_DIR/b.conf" cache get --json alice@honest.test 2>/dev/null)" \
    '"class":"deliverable".*"source":"probe"'
like "the key and its TTL in Redis" \
    "$(lab_exec "$PY" "$FT" redis $REDIS_PORT PTTL rcptguard:v:alice@honest.test)" '^[0-9]{7,}$'

# An admin's override reaches the whole fleet, hosts holding a copy of
# their own included, and so does its removal.
is "B accepts a real mailbox" "$(ask 10052 bob@honest.test)" action=DUNNO
is "C holds B's verdict" "$(ask 10053 bob@honest.test)" action=DUNNO
lab_exec "$RG" -c "$LAB_DIR/a.conf" cache put bob@honest.test undeliverable no_mailbox \
    >/dev/null 2>"$LAB_DIR/put.err"
c_rejects_bob() { [ "$(ask 10053 bob@honest.test)" = action=550 ]; }
wait_for 30 c_rejects_bob
check "an admin's verdict put on A replaces the copy C held" c_rejects_bob
is "and B's" "$(ask 10052 bob@honest.test)" action=550
like_file "C says where it came from" "$LAB_DIR/c.log" \
    'rcpt=<bob@honest.test> class=undeliverable reason=no_mailbox .*source=shared'
lab_exec "$RG" -c "$LAB_DIR/c.conf" cache del bob@honest.test >/dev/null 2>&1
is "cache del on C removes it from Redis" \
    "$(lab_exec "$PY" "$FT" redis $REDIS_PORT EXISTS rcptguard:v:bob@honest.test)" 0
b_accepts_bob() { [ "$(ask 10052 bob@honest.test)" = action=DUNNO ]; }
wait_for 30 b_accepts_bob
check "and from B, which probes it again" b_accepts_bob

# 2. 100 concurrent misses of one new address across the three: one probe.
specs=
for i in $(seq 1 100); do specs="$specs 1005$((i % 3 + 1)):crowd1@honest.test"; done
# shellcheck disable=SC2086
out=$(lab_exec "$PY" "$FT" burst $specs)
is "100 answers" "$(printf '%s\n' "$out" | grep -c 'crowd1@honest.test')" 100
is "each one a reject or, while the probe runs, a deferral" \
    "$(printf '%s\n' "$out" | grep -Evc 'action=(550|DEFER_IF_PERMIT)')" 0
like "most wait for the verdict within their budget" \
    "$(printf '%s\n' "$out" | grep -c 'action=550')" '^(9[0-9]|100)$'
wait_for 30 some_rejects crowd1@honest.test
wait_for 30 waiting_zero
is "exactly one RCPT of it reached the MX" "$(rejects crowd1@honest.test)" 1

# 3. Greylisting: the host that met it retries it, and only that host.
# A's budget (3 s) ends long before its retry (10 s); B and C are asked then.
is "A is greylisted" "$(ask 10051 gina@grey.test)" action=DEFER_IF_PERMIT
out=$(lab_exec "$PY" "$FT" burst 10052:gina@grey.test 10053:gina@grey.test)
is "B and C defer it without a probe of their own" \
    "$(printf '%s\n' "$out" | grep -c 'action=DEFER_IF_PERMIT')" 2
deliverable_b() { [ "$(ask 10052 gina@grey.test)" = action=DUNNO ]; }
wait_for 60 deliverable_b
check "after A's retry, B accepts it from the fleet" deliverable_b
is "the grey MX saw sessions from A only" \
    "$(sessions "$GREY" 127.0.0.5) $(sessions "$GREY" 127.0.0.6)" "0 0"
like "A made the first probe and the retry" "$(sessions "$GREY" 127.0.0.4)" '^[2-9]$'

# 4. Records spoiled in Redis are refused, counted and never misread.
for how in truncated future foreign; do
	lab_exec "$PY" "$FT" spoil $REDIS_PORT rcptguard:v:alice@honest.test \
	    "rcptguard:v:spoil-$how@honest.test" "$how" >/dev/null
done
bad0=$(lab_exec "$PY" "$FT" metric 10062 rcptguard_shared_lookups_total 'result="bad"')
is "B probes a spoiled truncated record's address itself" "$(ask 10052 spoil-truncated@honest.test)" action=550
is "... a record of an unknown version" "$(ask 10052 spoil-future@honest.test)" action=550
is "... a foreign value" "$(ask 10052 spoil-foreign@honest.test)" action=550
is "the three are counted as bad" \
    "$(($(lab_exec "$PY" "$FT" metric 10062 rcptguard_shared_lookups_total 'result="bad"') - bad0))" 3

# 5. Redis killed in the middle of a load run, then restarted empty.
mkdir -p "$LAB_DIR/load"
lab_exec "$PY" "$FT" load "$LAB_DIR/load" 10051,10052,10053 &
LOAD=$!
count_at_least() { [ "$(cat "$LAB_DIR/load/count" 2>/dev/null || echo 0)" -ge "$1" ]; }
wait_for 60 count_at_least 200
rpid=$(cat "$LAB_DIR/redis.pid")
kill -KILL "$rpid"
wait_for 30 redis_gone "$rpid"
check "redis-server is killed" redis_gone "$rpid"
c0=$(cat "$LAB_DIR/load/count")
wait_for 60 count_at_least $((c0 + 400))
touch "$LAB_DIR/load/stop"
wait "$LOAD"
like "under load, with Redis killed: no wrong and no failed answer" \
    "$(cat "$LAB_DIR/load/result")" "answers=[0-9]+ wrong=0 failed=0"
like "the load went on past the kill" "$(cat "$LAB_DIR/load/result")" "answers=([6-9][0-9][0-9]|[0-9]{4,}) "
like_file "A logged the loss" "$LAB_DIR/a.log" 'redis: 127.0.0.1: .*goes on with its local cache'
is "and only once" "$(grep -c 'goes on with its local cache' "$LAB_DIR/a.log")" 1
is "B verifies alone meanwhile" "$(ask 10052 alone1@honest.test)" action=550
wait_for 30 some_rejects alone1@honest.test
is "with a probe of its own" "$(rejects alone1@honest.test 127.0.0.5)" 1
is "C answers a cached address meanwhile" "$(ask 10053 alice@honest.test)" action=DUNNO
redis_up
wait_for 60 connected a b c
check "all three reconnect to the restarted, empty Redis" connected a b c
like_file "A says sharing resumes" "$LAB_DIR/a.log" 'redis: connected again after'
is "A probes a new address" "$(ask 10051 after1@honest.test)" action=550
is "B answers it without a probe" "$(ask 10052 after1@honest.test)" action=550
wait_for 30 some_rejects after1@honest.test
is "one RCPT for it" "$(rejects after1@honest.test)" 1

# 6. The fleet keeps a domain's rate: 6 a minute, bursts of 2, one recipient a session.
fleet_down
rm -rf "$LAB_DIR"/state-a "$LAB_DIR"/state-b "$LAB_DIR"/state-c
RATE=6 BURST=2 RCPTS=1 fleet_up
wait_for 30 connected a b c
check "the fleet is up again" connected a b c
# Each session asks one rate<i> recipient: the RCPTs the MX refused count them.
rate_rcpts() { grep -E 'NOQUEUE: reject: RCPT' "$HONEST" | grep -cE 'to=<rate[0-9]+@honest.test>'; }
t0=$(date +%s)
specs=
for i in $(seq 1 30); do specs="$specs 1005$((i % 3 + 1)):rate$i@honest.test"; done
# shellcheck disable=SC2086
lab_exec "$PY" "$FT" burst $specs > "$LAB_DIR/rate.out"
three_sessions() { [ "$(rate_rcpts)" -ge 3 ]; }
wait_for 60 three_sessions
n=$(rate_rcpts)
el=$(($(date +%s) - t0 + 1))
allowed=$((2 + el * 6 / 60 + 1))
if [ "$n" -le "$allowed" ]; then
	tap_ok "the three together made $n sessions in ${el}s; the fleet's bucket allows $allowed"
else
	tap_not_ok "the fleet keeps domain_rate" "$n sessions in ${el}s, more than $allowed" \
	    "Redis commands timed out: $(for p in 10061 10062 10063; do
		lab_exec "$PY" "$FT" metric $p rcptguard_redis_commands_total 'result="timeout"'; done)" \
	    "$(grep -E 'to=<rate[0-9]+@' "$HONEST" | cut -c1-120)"
fi
fleet_down

# 7. A Redis that answers every command with an error, and one that answers nothing.
lab_exec "$PY" "$FT" fakeredis 6391 error >/dev/null 2>&1 &
lab_exec "$PY" "$FT" fakeredis 6392 silent >/dev/null 2>&1 &
lab_wait_port 127.0.0.1 6391 && lab_wait_port 127.0.0.1 6392
conf d 4 127.0.0.1:6391
start d 4
is "with an erring Redis, a new address is probed" "$(ask 10054 err1@honest.test)" action=550
is "and a known one answered" "$(ask 10054 alice@honest.test)" action=DUNNO
like_file "the error is logged" "$LAB_DIR/d.log" 'redis: 127.0.0.1: the handshake was refused: ERR scripted failure'
is "once, however often it reconnects" "$(grep -c 'handshake was refused' "$LAB_DIR/d.log")" 1
is "redis_up says 0" "$(lab_exec "$PY" "$FT" metric 10064 rcptguard_redis_up)" 0
stop d
rm -rf "$LAB_DIR/state-d" "$LAB_DIR/d.log"
conf d 4 127.0.0.1:6392
start d 4
up_d() { [ "$(lab_exec "$PY" "$FT" metric 10064 rcptguard_redis_up)" = 1 ]; }
wait_for 30 up_d
is "with a Redis that answers nothing, a new address is probed" "$(ask 10054 mute1@honest.test)" action=550
mute_n=2
# mute_dropped - one more new address; true once the silent Redis was dropped.
mute_dropped() {
	[ "$(ask 10054 "mute$mute_n@honest.test")" = action=550 ] || mute_bad=$mute_n
	mute_n=$((mute_n + 1))
	grep -q 'it accepts commands but answers none' "$LAB_DIR/d.log"
}
mute_bad=
wait_for 60 mute_dropped
like_file "after a second of silence it is dropped as answering none" "$LAB_DIR/d.log" \
    'it accepts commands but answers none'
is "every address meanwhile answered by its own probe" "$mute_bad" ""
stop d

# 8. A "Redis" that declares a reply of two billion elements: refused before
# anything is allocated for it, and the host goes on alone.
lab_exec "$PY" "$FT" fakeredis 6393 huge >/dev/null 2>&1 &
lab_wait_port 127.0.0.1 6393
rm -rf "$LAB_DIR/state-d" "$LAB_DIR/d.log"
conf d 4 127.0.0.1:6393
start d 4
wait_for 30 up_d
is "with a Redis declaring a huge reply, a new address is probed" "$(ask 10054 huge1@honest.test)" action=550
like_file "the reply is refused and said" "$LAB_DIR/d.log" \
    'redis: 127.0.0.1: it sent a reply larger than any command asks for'
is "the daemon is still there" "$(ask 10054 alice@honest.test)" action=DUNNO
stop d

tap_done
