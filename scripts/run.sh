#!/bin/sh
# run.sh - build rcptguard and run it on the embedded default: the built-in
# configuration, state under ./var in this checkout.
#
# Starts rcptguard-policyd on its default socket (inet:127.0.0.1:10040) with
# the LMDB verdict cache under ./var/lib/rcptguard, checks that it answers,
# and prints the main.cf lines that plug it into Postfix. Running it again
# restarts the daemon. rcptguard-milter is not built yet.
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
echo "==> rcptguard $("$rg" -V | head -n 1 | cut -d' ' -f2), state in $top/var/lib/rcptguard"
"$rg" -n
"$policyd" -n

# The daemons drop from root to the user "rcptguard" (the built-in default of
# [general] user); create it as a system user when it is missing.
if [ "$(id -u)" -eq 0 ] && ! getent passwd rcptguard >/dev/null; then
	echo "==> creating the system user rcptguard"
	adduser --system --group --no-create-home --home /nonexistent rcptguard >/dev/null 2>&1 ||
	    { echo "cannot create the user rcptguard" >&2; exit 1; }
fi

# A daemon from an earlier run of this script is stopped first.
if pkill -TERM -f "^$policyd" 2>/dev/null; then
	for _ in $(seq 1 50); do
		pgrep -f "^$policyd" >/dev/null || break
		sleep 0.1
	done
fi
log="$top/var/log/rcptguard-policyd.log"
echo "==> starting rcptguard-policyd (log: $log)"
nohup "$policyd" -f >> "$log" 2>&1 &
pid=$!
ready=
for _ in $(seq 1 100); do
	if ! kill -0 "$pid" 2>/dev/null; then
		break
	fi
	if /usr/bin/python3 -c 'import socket; socket.create_connection(("127.0.0.1", 10040), 0.2)' \
	    2>/dev/null; then
		ready=yes
		break
	fi
	sleep 0.1
done
if [ -z "$ready" ]; then
	echo "rcptguard-policyd did not start:" >&2
	tail -n 20 "$log" >&2
	exit 1
fi

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

cat <<TXT

rcptguard-policyd is running (pid $pid) on inet:127.0.0.1:10040, with its
verdict cache in $top/var/lib/rcptguard.
Stop it with: kill $pid

To plug it into Postfix, add to /etc/postfix/main.cf and run "postfix reload":

    smtpd_recipient_restrictions =
        check_policy_service { inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO }

(Keep any restrictions you already have there before it. The same lines, and
a unix-socket variant for a chrooted smtpd, are in
$top/etc/rcptguard/postfix-policyd.cf.)

The configuration is $top/etc/rcptguard/rcptguard.conf: every key is there,
commented out at its default; after editing it, "kill -HUP $pid" reloads it.

The command line shares the cache:
  $rg check --json postmaster@example.org
  $rg cache list
  $rg cache stats

rcptguard-milter (the libmilter filter) is not built yet; once it is, this
command starts it as well and prints its smtpd_milters line.
TXT
