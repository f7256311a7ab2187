#!/bin/sh
# run-verify-bench.sh - `rcptguard verify` on whole lists, in the lab (as
# root: a network namespace).
#
# The lab of tests/lab, Postfix's smtp-sink as the MX of DOMAINS domains
# d0.sink.test ... (dnsmasq MX records), and a list of ADDRESSES distinct
# addresses spread over them as real lists are: a few domains hold most
# addresses (Zipf, s = 1, fixed seed) and the rest a handful each, in
# random order. Limits are opened wide (the machinery is measured, not the
# politeness of the defaults). Measured, each with its reference from the
# same run:
#   1. cold: 100,000 new addresses, then the whole list, each against an
#      empty cache, every address probed; peak RSS of both, and its parts.
#      Reference: the probe benchmark's sessions per second at the same
#      concurrency (bench_probe sessions, 64 in flight: rg_smtp, and the
#      minimal client), measured before and after.
#   2. cached: the same list again, every address a fresh cache hit.
#      Reference: raw LMDB gets of bench_cache (the floor of a lookup).
#   3. memory: peak RSS of a cached run of the first 100,000 lines and of
#      BIG_LINES lines (the list repeated), which must be the same.
#   4. resume: a cold run of RESUME_N addresses killed (SIGKILL) half-way,
#      then --resume; counts the probes the resumed run made against the
#      addresses the killed one had not verified, and compares the output
#      with a clean run's.
# usage: run-verify-bench.sh [ADDRESSES] [DOMAINS] [BIG_LINES] [RESUME_N]
# (BENCH_PARTS="1 2 3 4" in the environment picks the parts; 2 needs 1.)
set -eu
cd "$(dirname "$0")/.."
n=${1:-1000000}
ndom=${2:-10000}
big=${3:-10000000}
rn=${4:-200000}

BENCH_TARGETS="cli/rcptguard"
. bench/bench_lib.sh

dns=$(mktemp /tmp/rg-vbench-dns-XXXXXX)
awk -v n="$ndom" 'BEGIN { for (i = 0; i < n; i++) printf "mx-host=d%d.sink.test,mx.sink.test,10\n", i }' > "$dns"
LAB_DNS_EXTRA=$dns
bench_sink_lab verify.conf
rm -f "$dns"
conf=$LAB_DIR/verify.conf
RG="$B/cli/rcptguard"

# gen FILE N - N distinct addresses over the domains, Zipf, shuffled.
gen() {
	/usr/bin/python3 - "$1" "$2" "$ndom" <<'PY'
import random, sys
path, n, ndom = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(20261204)
doms = rnd.choices(range(ndom), weights=[1.0 / (i + 1) for i in range(ndom)], k=n)
count = [0] * ndom
with open(path, "w") as f:
    for d in doms:
        f.write("u%d@d%d.sink.test\n" % (count[d], d))
        count[d] += 1
PY
}

# measure NAME CONF ARGS... - run verify in the lab under a wrapper that
# prints wall time, CPU, peak RSS (ru_maxrss) and the peaks of its two
# parts, sampled 20 times a second: anonymous memory (the process's own)
# and file pages (the cache file mapped, shared with the daemons and held
# by the page cache); the line goes to $LAB_DIR/NAME.m, the summary JSON
# to $LAB_DIR/NAME.sum.
measure() {
	name=$1 c=$2
	shift 2
	lab_exec /usr/bin/python3 -c '
import resource, subprocess, sys, time
t = time.time()
p = subprocess.Popen(sys.argv[2:], stderr=subprocess.DEVNULL)
anon = filek = 0
while p.poll() is None:
    try:
        for l in open("/proc/%d/status" % p.pid):
            if l.startswith("RssAnon:"): anon = max(anon, int(l.split()[1]))
            if l.startswith("RssFile:"): filek = max(filek, int(l.split()[1]))
    except OSError:
        pass
    time.sleep(0.05)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("rc=%d wall_s=%.2f cpu_s=%.2f maxrss_kb=%d anon_kb=%d file_kb=%d\n" % (
    p.returncode, time.time() - t, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, anon, filek))
' "$LAB_DIR/$name.m" "$RG" -c "$c" verify --progress none \
	    --summary "$LAB_DIR/$name.sum" "$@"
}

# field NAME KEY - KEY=value from NAME.m, or KEY from NAME.sum.
field() {
	if [ -f "$LAB_DIR/$1.m" ] && grep -q " $2=\|^$2=" "$LAB_DIR/$1.m"; then
		sed -n "s/.*\<$2=\([0-9.]*\).*/\1/p" "$LAB_DIR/$1.m"
	else
		/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
		    "$LAB_DIR/$1.sum" "$2"
	fi
}

# strip FILE - a digest of verify's JSONL rows without what differs between
# runs (times, where the verdict came from), with the local parts' first
# letter made r (the resume runs use c and r).
strip() {
	sed 's/"\(checked_at\|refresh_at\|expires_at\|elapsed_ms\)":[0-9]*,\{0,1\}//g
	    s/"source":"[a-z]*",\{0,1\}//; s/"\(address\|input\)":"[cru]/"\1":"r/g' "$1" | md5sum | cut -c1-12
}

want() { case " ${BENCH_PARTS:-1 2 3 4} " in *" $1 "*) return 0 ;; esac; return 1; }

rate() { awk -v a="$1" -v t="$2" 'BEGIN { printf "%.0f", a / t }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

gen "$LAB_DIR/list.txt" "$n"
rps=$(sed -n 's/^max_rcpt_per_session = //p' "$conf")
rps=${rps:-20}
echo "addresses=$n domains=$ndom max_rcpt_per_session=$rps"
echo

if want 1; then
echo "== 1. cold: every address new, against smtp-sink (64 sessions at once)"
# fresh STATE - a config like verify.conf with an empty state directory of its own.
fresh() {
	mkdir -p "$LAB_DIR/$1"
	sed "s|^state_dir = .*|state_dir = $LAB_DIR/$1|" "$conf" > "$LAB_DIR/$1.conf"
	echo "$LAB_DIR/$1.conf"
}
# sessions - the probe benchmark's rg_smtp and reference sessions/s, 64 in flight.
sessions() {
	lab_exec "$B/bench/bench_probe" sessions 127.0.0.30 20000 64 1 |
	    sed -n 's/^| rg_smtp | \([0-9]*\) | \([0-9]*\) |.*/\1 \2/p'
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
sed 's/^u/s/' "$LAB_DIR/list.txt" | head -n 100000 > "$LAB_DIR/cold100k.txt"
set -- $(sessions)
s1=$1 r1=$2
measure cold100k "$(fresh state100k)" -o "$LAB_DIR/cold100k.jsonl" "$LAB_DIR/cold100k.txt" || true
measure cold "$conf" -o "$LAB_DIR/cold.jsonl" "$LAB_DIR/list.txt" || true
set -- $(sessions)
s2=$1 r2=$2
sref=$(( (s1 + s2) / 2 ))
rref=$(( (r1 + r2) / 2 ))
echo "probe benchmark, rg_smtp sessions/s: $s1, $s2 (mean $sref); its minimal client: $r1, $r2 (mean $rref)"
echo
echo "| run | addresses/s | ratio to rg_smtp sessions/s | ratio to the minimal client | probes | deliverable | peak RSS MiB | of it anonymous | of it file pages |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
deliv() { /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["classes"]["deliverable"])' "$LAB_DIR/$1.sum"; }
for run in cold100k cold; do
	rows=$(field $run rows)
	r=$(rate "$rows" "$(field $run wall_s)")
	echo "| $run ($rows addresses) | $r | $(ratio "$r" "$sref") | $(ratio "$r" "$rref") | $(field $run probes) | $(deliv $run) | $(mib "$(field $run maxrss_kb)") | $(mib "$(field $run anon_kb)") | $(mib "$(field $run file_kb)") |"
done
echo "cache file after the cold run: $(mib $(( $(stat -c %s "$LAB_DIR/state/cache.lmdb") / 1024 ))) MiB"
fi
if want 2; then
echo
echo "== 2. cached: the same list again"
rawget() {
	lab_exec "$B/bench/bench_cache" 200000 2000000 1 | sed -n 's/^| get (random hit) | [0-9]* | \([0-9]*\) |.*/\1/p'
}
cref1=$(rawget)
measure cached "$conf" -o "$LAB_DIR/cached.jsonl" "$LAB_DIR/list.txt" || true
measure cached2 "$conf" -o /dev/null "$LAB_DIR/list.txt" || true
cref2=$(rawget)
cref=$(( (cref1 + cref2) / 2 ))
c1=$(rate "$n" "$(field cached wall_s)")
c2=$(rate "$n" "$(field cached2 wall_s)")
echo "| run | addresses/s | raw LMDB gets/s | ratio | probes | cache hits | CPU s | peak RSS MiB | of it anonymous |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
echo "| cached, -o FILE | $c1 | $cref ($cref1, $cref2) | $(ratio "$c1" "$cref") | $(field cached probes) | $(field cached cache_hits) | $(field cached cpu_s) | $(mib "$(field cached maxrss_kb)") | $(mib "$(field cached anon_kb)") |"
echo "| cached, -o /dev/null | $c2 | $cref | $(ratio "$c2" "$cref") | $(field cached2 probes) | $(field cached2 cache_hits) | $(field cached2 cpu_s) | $(mib "$(field cached2 maxrss_kb)") | $(mib "$(field cached2 anon_kb)") |"
echo "digest of the cold and the cached run's rows, times and source left out: $(strip "$LAB_DIR/cold.jsonl") $(strip "$LAB_DIR/cached.jsonl")"
fi
if want 3; then
echo
echo "== 3. memory: 100,000 lines against $big lines (cached)"
head -n 100000 "$LAB_DIR/list.txt" > "$LAB_DIR/small.txt"
: > "$LAB_DIR/big.txt"
k=0
while [ "$(wc -l < "$LAB_DIR/big.txt")" -lt "$big" ]; do
	cat "$LAB_DIR/list.txt" >> "$LAB_DIR/big.txt"
	k=$((k + 1))
done
head -n "$big" "$LAB_DIR/big.txt" > "$LAB_DIR/big2.txt" && mv "$LAB_DIR/big2.txt" "$LAB_DIR/big.txt"
measure small "$conf" -o /dev/null "$LAB_DIR/small.txt" || true
measure bigrun "$conf" -o /dev/null "$LAB_DIR/big.txt" || true
rm -f "$LAB_DIR/big.txt"
echo "| lines | peak RSS KiB | of it anonymous KiB | addresses/s | rows | cache hits | duplicates |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
echo "| 100000 | $(field small maxrss_kb) | $(field small anon_kb) | $(rate 100000 "$(field small wall_s)") | $(field small rows) | $(field small cache_hits) | $(field small duplicates) |"
echo "| $big | $(field bigrun maxrss_kb) | $(field bigrun anon_kb) | $(rate "$big" "$(field bigrun wall_s)") | $(field bigrun rows) | $(field bigrun cache_hits) | $(field bigrun duplicates) |"
echo "ratio of peak RSS, $big lines / 100000 lines: $(ratio "$(field bigrun maxrss_kb)" "$(field small maxrss_kb)"); of anonymous memory: $(ratio "$(field bigrun anon_kb)" "$(field small anon_kb)")"
fi
if want 4; then
echo
echo "== 4. resume: $rn new addresses, SIGKILL half-way, then --resume"
# Fresh addresses (another seed of local parts) and a fresh state: every one is probed.
sed -n "1,${rn}p" "$LAB_DIR/list.txt" | sed 's/^u/r/' > "$LAB_DIR/res.txt"
sed 's/^r/c/' "$LAB_DIR/res.txt" > "$LAB_DIR/clean.txt"
measure clean "$conf" -o "$LAB_DIR/clean.jsonl" "$LAB_DIR/clean.txt" || true
# ip netns exec replaces itself with rcptguard: $! is rcptguard.
ip netns exec "$LAB_NS" "$RG" -c "$conf" verify --progress none -o "$LAB_DIR/res.jsonl" \
    "$LAB_DIR/res.txt" 2>/dev/null &
vpid=$!
half=$((rn / 2))
rows_in() { [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ]; }
wait_for 600 rows_in "$LAB_DIR/res.jsonl" "$half" ||
    { echo "the run to kill never reached $half rows" >&2; exit 1; }
kill -KILL "$vpid"
wait "$vpid" 2>/dev/null || true
cached_at_kill=$("$RG" -c "$conf" cache list 2>/dev/null | grep -c '^r' || true)
jfile=$(ls "$LAB_DIR"/state/verify/* 2>/dev/null | head -n 1)
jprobes=$(sed -n 's/^probes \([0-9]*\)$/\1/p' "$jfile")
jrows=$(sed -n 's/^rows \([0-9]*\)$/\1/p' "$jfile")
measure resumed "$conf" --resume -o "$LAB_DIR/res.jsonl" "$LAB_DIR/res.txt" || true
after=$(( $(field resumed probes) - jprobes ))
echo "| run | rows | probes | rows in the journal's last checkpoint | verdicts cached when killed | probes after the resume | of which re-probes |"
echo "|---|---:|---:|---:|---:|---:|---:|"
echo "| clean | $(field clean rows) | $(field clean probes) | | | | |"
echo "| killed, resumed | $(field resumed rows) | | $jrows | $cached_at_kill | $after | $(( after - (rn - cached_at_kill) )) |"
echo "output of the resumed run against the clean run: $(strip "$LAB_DIR/res.jsonl") $(strip "$LAB_DIR/clean.jsonl")"
fi
