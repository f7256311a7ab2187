#!/bin/sh
# test_container.sh DEB - the package installed in a booted Debian 12.
#
# A Debian 12 tree (debootstrap minbase with systemd, from the configured
# mirror, cached in RG_ROOTFS_CACHE between runs) gets the package's
# dependencies, Postfix (preseeded "No configuration"), swaks and
# miltertest while it is a plain chroot; then it boots under
# systemd-nspawn with a network of its own (loopback only: nothing leaves
# it), and the test, through nsenter:
#   - installs DEB with apt and finds both units active and ready;
#   - asks the policy server (its protocol over /dev/tcp) and the milter
#     (miltertest) one question each;
#   - puts Postfix in front with check_policy_service, then with
#     smtpd_milters, and reads the RCPT answer swaks gets;
#   - finds both daemons' decisions in the journal (their syslog client,
#     /dev/log, facility mail), enables metrics_listen, reloads, reads
#     /metrics of both and `rcptguard stats --json`;
#   - enables rcptguard-learn, which reads a mail.log of root:adm 0640 and
#     learns its bounces, so the policy server refuses the address;
#   - reloads (a good and a refused file), kills a daemon with SIGKILL and
#     sees systemd restart it, runs systemd-analyze security on the units;
#   - removes the package (the state stays), then purges it (it goes).
# The container is stopped and its tree removed whatever happens.
. "$top_srcdir/tests/cli/tap.sh"
tap_need debootstrap systemd-nspawn nsenter
[ "$(id -u)" -eq 0 ] || tap_skip_all "needs root"
DEB=$1
[ -f "$DEB" ] || tap_skip_all "no package given"
CACHE=${RG_ROOTFS_CACHE:-/var/cache/rcptguard-test/bookworm}
MIRROR=${RG_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
W=$(mktemp -d /var/tmp/rg-ct-XXXXXX)
R=$W/root
NSPAWN=
cleanup() {
	if [ -n "$NSPAWN" ] && kill -0 "$NSPAWN" 2>/dev/null; then
		kill -TERM "$NSPAWN" 2>/dev/null	# nspawn asks the container's systemd to power off
		_i=0
		while kill -0 "$NSPAWN" 2>/dev/null && [ $_i -lt 300 ]; do sleep 0.1; _i=$((_i + 1)); done
		kill -KILL "$NSPAWN" 2>/dev/null
	fi
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the tree: debootstrap once, then a copy per run ---
if [ ! -x "$CACHE/lib/systemd/systemd" ]; then
	rm -rf "$CACHE.new"
	mkdir -p "$(dirname "$CACHE")"
	debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$CACHE.new" \
	    "$MIRROR" > "$W/debootstrap.log" 2>&1 || { tail -n 20 "$W/debootstrap.log" | sed 's/^/# /'; }
	[ -x "$CACHE.new/lib/systemd/systemd" ] && mv "$CACHE.new" "$CACHE"
fi
check "a Debian 12 tree with systemd ($CACHE)" test -x "$CACHE/lib/systemd/systemd"
cp -a "$CACHE" "$R"

# In the chroot: the package's dependencies, Postfix without configuration,
# swaks and miltertest; services blocked from starting meanwhile.
deps=$(dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/ //g' | grep -v '^$' | tr '\n' ' ')
cp "$DEB" "$R/root/"
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
chroot "$R" /bin/sh -c "
	echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $deps postfix swaks miltertest \
	    procps >/dev/null" > "$W/chroot.log" 2>&1
rc=$?
[ $rc -eq 0 ] || tail -n 20 "$W/chroot.log" | sed 's/^/# /'
is "dependencies, Postfix, swaks and miltertest in the tree" "$rc" 0
rm -f "$R/usr/sbin/policy-rc.d"
echo rgtest > "$R/etc/hostname"
printf '127.0.0.1 localhost rgtest rgtest.example\n' > "$R/etc/hosts"

# --- boot ---
systemd-nspawn -D "$R" --register=no --keep-unit --private-network -b -q \
    > "$W/console.log" 2>&1 < /dev/null &
NSPAWN=$!
leader() { pgrep -P "$NSPAWN" 2>/dev/null | head -n 1; }
wait_for 60 sh -c "pgrep -P $NSPAWN >/dev/null"
LEADER=$(leader)
check "the container boots (nspawn $NSPAWN, init $LEADER)" test -n "$LEADER"
# cx CMD - run CMD in the container (all its namespaces, its root).
cx() { nsenter -t "$LEADER" -a /bin/bash -c "$*"; }	# bash: /dev/tcp
booted() { st=$(cx systemctl is-system-running 2>/dev/null); [ "$st" = running ] || [ "$st" = degraded ]; }
check "systemd in the container reaches running" wait_for 180 booted
[ "$(cx systemctl is-system-running 2>/dev/null)" = running ] ||
    cx systemctl --failed --no-legend 2>&1 | sed 's/^/# failed unit: /'

# --- install ---
cx "DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/$(basename "$DEB")" > "$W/install.log" 2>&1
rc=$?
sed 's/^/# install: /' "$W/install.log" | grep -iv '^# install: \(reading\|building\|selecting\|preparing\|unpacking\|setting up\|processing\|get:\|fetched\)' | head -n 30
is "apt install ./rcptguard_*.deb: exit 0" "$rc" 0
check "nothing alarming in the install output" sh -c "! grep -Eqi 'error|warning|fail' '$W/install.log'"
for u in rcptguard-policyd rcptguard-milter; do
	active() { [ "$(cx systemctl is-active "$1" 2>/dev/null)" = active ]; }
	check "$u is active" wait_for 60 active "$u"
	is "$u is enabled" "$(cx systemctl is-enabled $u 2>/dev/null)" enabled
	like "$u reported ready (Type=notify)" "$(cx systemctl show -p StatusText $u)" 'StatusText=serving'
done
is "the system user exists" "$(cx getent passwd rcptguard | cut -d: -f1)" rcptguard
is "the state directory: rcptguard, 0750" "$(cx "stat -c '%U %a' /var/lib/rcptguard")" "rcptguard 750"
is "the chroot socket directory: rcptguard:postfix, 2750" \
    "$(cx "stat -c '%U:%G %a' /var/spool/postfix/rcptguard")" "rcptguard:postfix 2750"
is "the configuration is a conffile" \
    "$(cx "dpkg-query -W -f='\${Conffiles}' rcptguard | grep -c /etc/rcptguard/rcptguard.conf")" 1
like "the daemons run as rcptguard" "$(cx ps -o user= -C rcptguard-policyd)" '^rcptguard'

# --- one question each ---
policy_ask() {
	cx "exec 3<>/dev/tcp/127.0.0.1/10040 && printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=$1\n\n' >&3 && read -r l <&3 && echo \"\$l\""
}
like "the policy server answers (bad syntax, no DNS needed)" "$(policy_ask 'bad@@x')" '^action=550 5\.1\.3 '
cat > "$R/root/ask.lua" <<'LUA'
local conn = mt.connect("inet:10041@127.0.0.1", 50, 0.1)
assert(conn ~= nil, "no connection")
assert(mt.negotiate(conn, nil, nil, nil) == nil)
assert(mt.conninfo(conn, "client.example", "192.0.2.7") == nil)
assert(mt.macro(conn, SMFIC_MAIL, "i", "QID0001") == nil)
assert(mt.mailfrom(conn, "<a@example.com>") == nil)
assert(mt.rcptto(conn, "<bad..dots@example.org>") == nil)
if mt.getreply(conn) == SMFIR_REPLYCODE then print("milter: rejected") else print("milter: passed") end
mt.disconnect(conn)
LUA
is "the milter answers (bad syntax rejected)" "$(cx miltertest -s /root/ask.lua 2>&1 | tail -n 1)" "milter: rejected"

# --- behind Postfix ---
cx rcptguard cache put ghost@dead.example undeliverable no_mailbox > /dev/null
cx "cat > /etc/postfix/main.cf" <<'CF'
myhostname = rgtest.example
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
compatibility_level = 3.6
smtpd_recipient_restrictions = check_policy_service { inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO }, permit_mynetworks, reject
CF
cx "newaliases 2>/dev/null; systemctl restart postfix" > /dev/null 2>&1
pf_up() { cx "exec 3<>/dev/tcp/127.0.0.1/25" 2>/dev/null; }
check "Postfix listens in the container" wait_for 60 pf_up
# swaks_rcpt ADDR - the server's answer to RCPT TO:<ADDR>, as swaks shows it.
swaks_rcpt() { cx "swaks --server 127.0.0.1 --from a@example.com --to $1 --quit-after RCPT 2>&1" | grep -A1 -- '-> RCPT TO' | tail -n 1; }
like "Postfix with check_policy_service: a dead mailbox is refused at RCPT" \
    "$(swaks_rcpt ghost@dead.example)" '550 5\.1\.1 .*no_mailbox'
cx "postconf -e 'smtpd_recipient_restrictions = permit_mynetworks, reject' \
    'smtpd_milters = inet:127.0.0.1:10041' 'milter_default_action = accept' && postfix reload" > /dev/null 2>&1
like "Postfix with smtpd_milters: a dead mailbox is refused at RCPT" \
    "$(swaks_rcpt ghost@dead.example)" '550 5\.1\.1 .*no_mailbox'

# --- logging through the journal's /dev/log, metrics, stats ---
logged() { cx "journalctl -u $1 --no-pager -o cat 2>/dev/null" | grep -q 'action=reject.*rcpt=<ghost@dead.example>'; }
check "the policy server's decision reached the journal through /dev/log" wait_for 60 logged rcptguard-policyd
check "the milter's decision reached the journal too" wait_for 60 logged rcptguard-milter
like "as facility mail (SYSLOG_FACILITY=2)" \
    "$(cx "journalctl SYSLOG_IDENTIFIER=rcptguard-policyd -o verbose --no-pager -n 5" | grep -m1 SYSLOG_FACILITY=)" 'SYSLOG_FACILITY=2'
cx "printf '[policyd]\nmetrics_listen = inet:127.0.0.1:10042\n[milter]\nmetrics_listen = inet:127.0.0.1:10043\n' >> /etc/rcptguard/rcptguard.conf"
cx systemctl reload rcptguard-policyd rcptguard-milter > /dev/null 2>&1
metrics_get() { cx "exec 3<>/dev/tcp/127.0.0.1/$1 && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3"; }
like "the policy server serves /metrics after the reload" "$(metrics_get 10042)" \
    'rcptguard_decisions_total\{frontend="policyd",action="reject"\} [1-9]'
like "so does the milter, from its engine loop" "$(metrics_get 10043)" \
    'rcptguard_decisions_total\{frontend="milter",action="reject"\} [1-9]'
like "rcptguard stats reads both" "$(cx rcptguard stats --json)" \
    '"policyd": *\{"endpoint": *"inet:127.0.0.1:10042", *"up": *true.*"milter": *\{"endpoint": *"inet:127.0.0.1:10043", *"up": *true'

# --- rcptguard-learn: Postfix's log, read as group adm, into the cache ---
is "rcptguard-learn is installed, not enabled" "$(cx systemctl is-enabled rcptguard-learn 2>&1)" disabled
bounce_line() {
	printf '%s mx1 postfix/smtp[77]: %s: to=<%s>, relay=mx.gone.example[93.184.216.40]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx.gone.example[93.184.216.40] said: 550 5.1.1 <%s>: Recipient address rejected: User unknown (in reply to RCPT TO command))\n' \
	    "$(date '+%b %e %H:%M:%S')" "$1" "$2" "$2"
}
cx "install -m 0640 -o root -g adm /dev/null /var/log/mail.log"
cx "printf '%s\\n' '$(bounce_line 4AB3C2D1E0 first@gone.example)' >> /var/log/mail.log"
cx systemctl enable --now rcptguard-learn > /dev/null 2>&1
check "rcptguard-learn is active" wait_for 60 active rcptguard-learn
learned() { cx "rcptguard cache get --json $1" | grep -q '"class":"undeliverable".*"source":"delivery"'; }
check "it learned the bounce in mail.log (root:adm 0640)" wait_for 60 learned first@gone.example
cx "printf '%s\\n' '$(bounce_line 4AB3C2D1E1 second@gone.example)' >> /var/log/mail.log"
check "and a line appended later" wait_for 60 learned second@gone.example
like "the policy server refuses the learned address" "$(policy_ask second@gone.example)" '^action=550 5\.1\.1 '
sc=$(cx systemd-analyze security --no-pager rcptguard-learn 2>&1 | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
check "rcptguard-learn: systemd-analyze security in the booted system: $sc <= 1.5" \
    awk -v s="${sc:-99}" 'BEGIN { exit !(s <= 1.5) }'
cx systemctl disable --now rcptguard-learn > /dev/null 2>&1

# --- reload, kill -9, security ---
r=$(cx systemctl reload rcptguard-policyd 2>&1)
is "systemctl reload rcptguard-policyd: done" "$?" 0
cx "cp /etc/rcptguard/rcptguard.conf /root/good.conf && echo 'bogus_key = 1' >> /etc/rcptguard/rcptguard.conf"
r=$(cx systemctl reload rcptguard-milter 2>&1)
rc=$?
check "a refused file fails systemctl reload ($r)" test "$rc" -ne 0
like "the journal says why" "$(cx journalctl -u rcptguard-milter --no-pager -n 20 2>&1)" 'bogus_key'
is "the milter still runs its old configuration" "$(cx systemctl is-active rcptguard-milter)" active
cx "cp /root/good.conf /etc/rcptguard/rcptguard.conf"
pid1=$(cx systemctl show -p MainPID --value rcptguard-policyd)
cx kill -9 "$pid1"
restarted() { p=$(cx systemctl show -p MainPID --value rcptguard-policyd); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$pid1" ] && [ "$(cx systemctl is-active rcptguard-policyd)" = active ]; }
check "kill -9: systemd restarts the policy server" wait_for 60 restarted
like "and it serves again" "$(policy_ask 'bad@@x')" '^action=550 5\.1\.3 '
for u in rcptguard-policyd rcptguard-milter; do
	sc=$(cx systemd-analyze security --no-pager $u 2>&1 | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	check "$u: systemd-analyze security in the booted system: $sc <= 1.5" \
	    awk -v s="${sc:-99}" 'BEGIN { exit !(s <= 1.5) }'
done

# --- upgrade: the cache, the local configuration and the services stay ---
UP=$(ls "$(dirname "$DEB")"/upgrade/rcptguard_*.deb 2>/dev/null | head -n 1)
if [ -n "$UP" ]; then
	cp "$UP" "$R/root/"
	cx "echo '# a local change, kept on upgrade' >> /etc/rcptguard/rcptguard.conf"
	before=$(cx systemctl show -p MainPID --value rcptguard-milter)
	cx "DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/$(basename "$UP")" > "$W/upgrade.log" 2>&1
	is "apt install of a later version: exit 0" "$?" 0
	like "the new version is installed" "$(cx "dpkg-query -W -f='\${Version}' rcptguard")" 'upgrade1$'
	after=$(cx systemctl show -p MainPID --value rcptguard-milter)
	check "the milter was restarted ($before -> $after)" test "$before" != "$after"
	for u in rcptguard-policyd rcptguard-milter; do
		check "$u is active after the upgrade" wait_for 60 active "$u"
	done
	like "the cache kept its verdicts" "$(cx rcptguard cache get ghost@dead.example)" \
	    '^ghost@dead\.example undeliverable no_mailbox'
	like "the local configuration is kept" "$(cx tail -n 1 /etc/rcptguard/rcptguard.conf)" 'kept on upgrade'
	like "Postfix is answered after the upgrade" "$(swaks_rcpt ghost@dead.example)" '550 5\.1\.1 .*no_mailbox'
else
	tap_not_ok "no upgrade package next to $DEB"
fi

# --- remove, purge ---
cx "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q rcptguard" > "$W/remove.log" 2>&1
is "apt remove: exit 0" "$?" 0
is "after remove the services are gone" "$(cx systemctl is-active rcptguard-policyd)" inactive
check "after remove the state stays" cx test -f /var/lib/rcptguard/cache.lmdb
cx "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q rcptguard" > "$W/purge.log" 2>&1
is "apt purge: exit 0" "$?" 0
check "after purge the state is gone" cx "! test -e /var/lib/rcptguard"
check "after purge the configuration is gone" cx "! test -e /etc/rcptguard/rcptguard.conf"

tap_done
