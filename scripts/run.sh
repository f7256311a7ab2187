#!/bin/sh
# run.sh - build rcptguard and run it on the embedded default: the built-in
# configuration, state under ./var in this checkout.
#
# Starts rcptguard-policyd on its default socket (inet:127.0.0.1:10040) and
# rcptguard-milter on its own (inet:10041@127.0.0.1), sharing the LMDB
# verdict cache under ./var/lib/rcptguard; checks that each answers, and
# prints the main.cf lines that plug them into Postfix. Running it again
# restarts both.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

./scripts/install-deps.sh
./scripts/bootstrap.sh

# Paths compiled in: the configuration (./etc/rcptguard/rcptguard.conf, the
# sample with every key commented out, so the built-in defaults apply) and
# the state directory (./var/lib/rcptguard) both live inside this checkout.
mkdir -p _build/run
(
	cd _build/run
	if [ ! -f Makefile ]; then
		"$top/configure" -q --prefix="$top/_build/run/inst" \
		    --localstatedir="$top/var" --sysconfdir="$top/etc"
	fi
	make -s -j"$(nproc 2>/dev/null || echo 2)"
	# Installs the programs under _build/run/inst and the commented sample
	# configuration and the list files under ./etc/rcptguard.
	make -s install >/dev/null
)
mkdir -p var/lib/rcptguard var/log

inst="$top/_build/run/inst"
rg="$inst/bin/rcptguard"
policyd="$inst/sbin/rcptguard-policyd"
milter="$inst/sbin/rcptguard-milter"
echo "==> rcptguard $("$rg" -V | head -n 1 | cut -d' ' -f2), state in $top/var/lib/rcptguard"
"$rg" -n
"$policyd" -n
"$milter" -n

# The daemons drop from root to the user "rcptguard" (the built-in default of
# [general] user); create it as a system user when it is missing.
if [ "$(id -u)" -eq 0 ] && ! getent passwd rcptguard >/dev/null; then
	echo "==> creating the system user rcptguard"
	adduser --system --group --no-create-home --home /nonexistent rcptguard >/dev/null 2>&1 ||
	    { echo "cannot create the user rcptguard" >&2; exit 1; }
fi

# start NAME BINARY PORT - stop the daemon of an earlier run of this script,
# start it in the foreground with its log under ./var/log, and wait until its
# port answers. Sets pid.
start() {
	if pkill -TERM -f "^$2" 2>/dev/null; then
		for _ in $(seq 1 50); do
			pgrep -f "^$2" >/dev/null || break
			sleep 0.1
		done
	fi
	log="$top/var/log/$1.log"
	echo "==> starting $1 (log: $log)"
	nohup "$2" -f >> "$log" 2>&1 &
	pid=$!
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		if /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $3), 0.2)" \
		    2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "$1 did not start:" >&2
	tail -n 20 "$log" >&2
	exit 1
}
start rcptguard-policyd "$policyd" 10040
policyd_pid=$pid
start rcptguard-milter "$milter" 10041
milter_pid=$pid

# One request, as Postfix sends it, for an address that fails the syntax check
# (answered without the network).
echo "==> asking it about <bad..address@example.org>:"
/usr/bin/python3 - <<'PY'
import socket
s = socket.create_connection(("127.0.0.1", 10040), 5)
s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\nqueue_id=DEMO1\n"
          b"sender=alice@example.com\nclient_address=127.0.0.1\n"
          b"recipient=bad..address@example.org\n\n")
buf = b""
while not buf.endswith(b"\n\n"):
    chunk = s.recv(4096)
    if not chunk:
        break
    buf += chunk
print("    " + buf.decode().strip())
PY

# The same address through the milter, as Postfix speaks to it.
echo "==> asking rcptguard-milter about <bad..address@example.org>:"
/usr/bin/python3 - <<'PY'
import socket, struct

def pkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data

def recv(s):
    head = b""
    while len(head) < 4:
        head += s.recv(4 - len(head))
    (n,) = struct.unpack(">I", head)
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    return body[:1], body[1:]

s = socket.create_connection(("127.0.0.1", 10041), 5)
s.sendall(pkt(b"O", struct.pack(">III", 6, 0x1FF, 0x1FFFFF)))
recv(s)
s.sendall(pkt(b"C", b"client.example\0" + b"4" + struct.pack(">H", 25) + b"127.0.0.1\0"))
recv(s)
s.sendall(pkt(b"D", b"Mi\0DEMO2\0") + pkt(b"M", b"<alice@example.com>\0"))
recv(s)
s.sendall(pkt(b"R", b"<bad..address@example.org>\0"))
cmd, data = recv(s)
s.sendall(pkt(b"Q"))
print("    " + (data.rstrip(b"\0").decode() if cmd == b"y" else "continue"))
PY

cat <<TXT

rcptguard-policyd is running (pid $policyd_pid) on inet:127.0.0.1:10040 and
rcptguard-milter (pid $milter_pid) on inet:10041@127.0.0.1, sharing the
verdict cache in $top/var/lib/rcptguard.
Stop them with: kill $policyd_pid $milter_pid

To plug one of them into Postfix (either; both would verify twice), add to
/etc/postfix/main.cf and run "postfix reload":

  the policy server, asked at RCPT TO:
    smtpd_recipient_restrictions =
        check_policy_service { inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO }

  or the milter (rcptguard.conf's inet:10041@127.0.0.1 is Postfix's inet:127.0.0.1:10041):
    smtpd_milters = inet:127.0.0.1:10041
    milter_default_action = accept
    milter_protocol = 6

(Keep any restrictions you already have before check_policy_service. The
same lines, with unix-socket variants for a chrooted smtpd, are in
$top/etc/rcptguard/postfix-policyd.cf and postfix-milter.cf; Sendmail's
INPUT_MAIL_FILTER line is in sendmail-milter.mc.)

The configuration is $top/etc/rcptguard/rcptguard.conf: every key is there,
commented out at its default; after editing it,
  $rg reload policyd $policyd_pid
  $rg reload milter $milter_pid
reload each and wait for its answer (a refused file is reported, and the
running configuration stays); "kill -HUP $policyd_pid $milter_pid" does the same
without waiting.

The command line shares the cache:
  $rg check --json postmaster@example.org
  $rg cache list
  $rg cache stats

Metrics for Prometheus, and a live view: set in that file
  [policyd]
  metrics_listen = inet:127.0.0.1:10042
  [milter]
  metrics_listen = inet:127.0.0.1:10043
reload both as above, then
  $rg stats
  $rg stats --watch
TXT
