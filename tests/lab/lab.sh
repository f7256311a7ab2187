# lab.sh - a lab of real mail servers in a network namespace, for the tests.
#
# Source it, call lab_up, run commands with lab_exec, and lab_down runs on
# exit whatever happens. Everything listens on loopback addresses inside
# the namespace (127.0.0.x on its own lo); nothing leaves it.
#
#   127.0.0.1      dnsmasq serving the .test zone (the namespace's resolver)
#   127.0.0.1:5300 a scripted resolver: SERVFAIL (servfail.test), a wildcard MX (wild.test)
#   127.0.0.10     Postfix "honest": known mailboxes, 550 5.1.1 for the rest
#   127.0.0.11     Postfix "catch-all": accepts every address of its domain
#   127.0.0.12     Postfix "tls": demands STARTTLS (self-signed certificate)
#   127.0.0.13     Postfix "grey": greylists through postgrey (2 s delay)
#   127.0.0.14     Postfix "limit": smtpd_recipient_limit = 2 (452 4.5.3 for the 3rd)
#   127.0.0.15     Postfix "noutf8": smtputf8_enable = no (no SMTPUTF8 offered)
#   127.0.0.16     Postfix "anvil": two recipients per client per 5 s (450 4.7.1 past it)
#   127.0.0.1:10023 postgrey
#   127.0.0.20-29, .31-35  scripted servers (smtpd.py), one behaviour each;
#                  .24 the tarpit, also the MX of every name under wild.test
#   127.0.0.2, .3  source addresses of the prober
#   127.0.0.9      nothing: a dead MX (backup.test's first, unreachable.test's only)
#   127.0.0.40     Postfix "front" of the end-to-end tests (started by them)
#   127.0.0.30     Postfix's smtp-sink, for the benchmarks (started by them)

LAB_DIR=
LAB_NS=
LAB_PF_DIRS=

lab_log() { printf '# lab: %s\n' "$*"; }

lab_down() {
	set +e
	for d in $LAB_PF_DIRS; do
		ip netns exec "$LAB_NS" postfix -c "$d" stop >/dev/null 2>&1
	done
	if [ -n "$LAB_NS" ] && ip netns list | grep -qw "$LAB_NS"; then
		for pid in $(ip netns pids "$LAB_NS" 2>/dev/null); do
			kill "$pid" 2>/dev/null
		done
		sleep 0.3
		for pid in $(ip netns pids "$LAB_NS" 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null
		done
		ip netns del "$LAB_NS"
	fi
	[ -n "$LAB_NS" ] && rm -rf "/etc/netns/$LAB_NS"
	[ -n "$LAB_DIR" ] && [ -z "${LAB_KEEP:-}" ] && rm -rf "$LAB_DIR"
}

lab_exec() { ip netns exec "$LAB_NS" "$@"; }

# lab_postfix NAME IP DOMAINS MAPLINES... - a Postfix instance with virtual
# mailboxes. Extra main.cf lines come from $LAB_PF_EXTRA.
lab_postfix() {
	name=$1 ip=$2 domains=$3
	shift 3
	d="$LAB_DIR/postfix-$name"
	mkdir -p "$d/queue" "$d/data" "$d/mail"
	chown postfix:postfix "$d/data" "$d/mail"
	: > "$d/vmailbox"
	for line in "$@"; do
		printf '%s\n' "$line" >> "$d/vmailbox"
	done
	cat > "$d/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.$name.test
mydestination =
inet_interfaces = $ip
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
virtual_mailbox_domains = $domains
virtual_mailbox_maps = texthash:$d/vmailbox
virtual_mailbox_base = $d/mail
virtual_uid_maps = static:$(id -u postfix)
virtual_gid_maps = static:$(id -g postfix)
maillog_file = $d/maillog
maillog_file_prefixes = $d
smtpd_banner = \$myhostname ESMTP
alias_maps =
alias_database =
biff = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
${LAB_PF_EXTRA:-}
CF
	# No chroot: the instance lives in a temporary directory.
	sed -E 's/^([a-z][^ \t]*[ \t]+(inet|unix|unix-dgram|fifo|pass)[ \t]+[^ \t]+[ \t]+[^ \t]+[ \t]+)y/\1n/' \
	    /usr/share/postfix/master.cf.dist > "$d/master.cf"
	lab_exec ip addr add "$ip/8" dev lo 2>/dev/null || true
	if ! lab_exec postfix -c "$d" start >/dev/null 2>&1; then
		lab_log "postfix $name failed to start"
		cat "$d/maillog" 2>/dev/null
		return 1
	fi
	LAB_PF_DIRS="$LAB_PF_DIRS $d"
}

# lab_up_or_bail - lab_up; without root or the lab's tools the suite is
# skipped (a failure with RG_REQUIRE_LAB=1); a failed start is a "Bail out!".
lab_up_or_bail() {
	[ "$(id -u)" -eq 0 ] || tap_skip_all "the lab needs root for network namespaces"
	tap_need ip dnsmasq postfix postgrey swaks postcat
	if ! lab_up; then
		echo "Bail out! the lab did not start"
		exit 1
	fi
}

# lab_rg_conf GREYLIST_DELAY DNS_TIMEOUT - $LAB_DIR/rg.conf: the state
# under the lab, no user to drop to, and lab_probe_conf's sections.
lab_rg_conf() {
	mkdir -p "$LAB_DIR/state"
	{
		printf '[general]\nstate_dir = %s/state\nuser =\n' "$LAB_DIR"
		lab_probe_conf "$1" "$2"
	} > "$LAB_DIR/rg.conf"
}

# lab_probe_conf GREYLIST_DELAY DNS_TIMEOUT - the [probe], [limits], [dns]
# and [lists] sections that point a prober at the lab (its source
# addresses, its networks allowed, short timeouts).
lab_probe_conf() {
	cat <<CONF
[probe]
helo_name = probe.lab.test
mail_from = postmaster@probe.lab.test
source_addresses = 127.0.0.2, 127.0.0.3
probe_allow_networks = 127.0.0.0/8
connect_timeout = 2s
greeting_timeout = 4s
command_timeout = 4s
session_timeout = 15s
greylist_retry_delay = $1
greylist_max_retries = 3
[limits]
domain_rate = 600
domain_burst = 100
[dns]
dns_timeout = $2
dns_tries = 1
[lists]
providers_file = $top_srcdir/conf/providers.conf
disposable_domains_file = $top_srcdir/conf/disposable_domains
role_accounts_file = $top_srcdir/conf/role_accounts
reply_rules_file = $top_srcdir/conf/reply_rules
CONF
}

# lab_listens IP PORT - something accepts connections there now.
lab_listens() {
	lab_exec /usr/bin/python3 -c "import socket,sys; socket.create_connection(('$1', $2), 0.5)" \
	    2>/dev/null
}

# lab_wait_port IP PORT - until something listens (bounded: 60 s).
lab_wait_port() {
	wait_for 60 lab_listens "$1" "$2" && return 0
	lab_log "nothing listens on $1:$2"
	return 1
}

lab_up() {
	LAB_DIR=$(mktemp -d /tmp/rg-lab-XXXXXX)
	chmod 755 "$LAB_DIR"
	LAB_NS="rglab$$"
	trap lab_down EXIT
	trap 'exit 130' INT TERM
	ip netns add "$LAB_NS" || return 1
	lab_exec ip link set lo up
	for i in 2 3 9 10 11 12 13 14 15 16 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35; do
		lab_exec ip addr add "127.0.0.$i/8" dev lo 2>/dev/null || true
	done
	mkdir -p "/etc/netns/$LAB_NS"
	echo "nameserver 127.0.0.1" > "/etc/netns/$LAB_NS/resolv.conf"

	cat > "$LAB_DIR/dnsmasq.conf" <<DNS
no-resolv
no-hosts
no-poll
log-queries
local-ttl=300
listen-address=127.0.0.1
bind-interfaces
port=53
local=/test/
server=/servfail.test/127.0.0.1#5300
mx-host=honest.test,mx.honest.test,10
host-record=mx.honest.test,127.0.0.10
mx-host=catchall.test,mx.catchall.test,10
host-record=mx.catchall.test,127.0.0.11
mx-host=tls.test,mx.tls.test,10
host-record=mx.tls.test,127.0.0.12
mx-host=sink.test,mx.sink.test,10
host-record=mx.sink.test,127.0.0.30
mx-host=grey.test,mx.grey.test,10
host-record=mx.grey.test,127.0.0.13
mx-host=yahoo.test,mta5.am0.yahoodns.net,10
host-record=mta5.am0.yahoodns.net,127.0.0.10
mx-host=msft.test,eur.olc.protection.outlook.com,10
host-record=eur.olc.protection.outlook.com,127.0.0.10
dns-rr=nullmx.test,15,000000
host-record=implicit.test,127.0.0.10
mx-host=backup.test,mx1.backup.test,10
mx-host=backup.test,mx2.backup.test,20
host-record=mx1.backup.test,127.0.0.9
host-record=mx2.backup.test,127.0.0.10
mx-host=forbidden.test,mx.forbidden.test,10
host-record=mx.forbidden.test,192.0.2.25
mx-host=nohost.test,mx.nohost.test,10
mx-host=s252.test,mx.s252.test,10
host-record=mx.s252.test,127.0.0.20
mx-host=full.test,mx.full.test,10
host-record=mx.full.test,127.0.0.21
mx-host=dnsbl.test,mx.dnsbl.test,10
host-record=mx.dnsbl.test,127.0.0.22
mx-host=ehlo502.test,mx.ehlo502.test,10
host-record=mx.ehlo502.test,127.0.0.23
mx-host=tarpit.test,mx.tarpit.test,10
host-record=mx.tarpit.test,127.0.0.24
server=/wild.test/127.0.0.1#5300
mx-host=slow.test,mx.slow.test,10
host-record=mx.slow.test,127.0.0.25
mx-host=multiline.test,mx.multiline.test,10
host-record=mx.multiline.test,127.0.0.26
mx-host=throttle.test,mx.throttle.test,10
host-record=mx.throttle.test,127.0.0.27
mx-host=hangup.test,mx.hangup.test,10
host-record=mx.hangup.test,127.0.0.28
mx-host=unreachable.test,mx.unreachable.test,10
host-record=mx.unreachable.test,127.0.0.9
mx-host=limit.test,mx.limit.test,10
host-record=mx.limit.test,127.0.0.14
mx-host=noutf8.test,mx.noutf8.test,10
host-record=mx.noutf8.test,127.0.0.15
mx-host=anvil.test,mx.anvil.test,10
host-record=mx.anvil.test,127.0.0.16
mx-host=ratelimit.test,mx.ratelimit.test,10
mx-host=ratelimit2.test,mx.ratelimit.test,10
host-record=mx.ratelimit.test,127.0.0.29
mx-host=m365.test,m365-test.mail.protection.outlook.com,10
host-record=m365-test.mail.protection.outlook.com,127.0.0.31
mx-host=greet421.test,mx.greet421.test,10
host-record=mx.greet421.test,127.0.0.32
mx-host=mailgrey.test,mx.mailgrey.test,10
host-record=mx.mailgrey.test,127.0.0.33
mx-host=dropfirst.test,mx.dropfirst.test,10
host-record=mx.dropfirst.test,127.0.0.34
mx-host=verify450.test,mx.verify450.test,10
host-record=mx.verify450.test,127.0.0.35
DNS
	# LAB_DNS_EXTRA: more dnsmasq lines (the benchmarks' thousands of domains).
	if [ -n "${LAB_DNS_EXTRA:-}" ]; then cat "$LAB_DNS_EXTRA" >> "$LAB_DIR/dnsmasq.conf"; fi
	lab_exec dnsmasq --keep-in-foreground --conf-file="$LAB_DIR/dnsmasq.conf" \
	    --pid-file="$LAB_DIR/dnsmasq.pid" --log-facility="$LAB_DIR/dnsmasq.log" \
	    --user=root >/dev/null 2>&1 &
	lab_exec /usr/bin/python3 "$LAB_TOOLS/dns_scripted.py" 127.0.0.1 5300 >/dev/null 2>&1 &
	mkdir -p "$LAB_DIR/record"
	lab_exec /usr/bin/python3 "$LAB_TOOLS/smtpd.py" --record "$LAB_DIR/record" \
	    127.0.0.20:rcpt252 127.0.0.21:full552 127.0.0.22:dnsbl 127.0.0.23:ehlo502 \
	    127.0.0.24:tarpit 127.0.0.25:slowgreet 127.0.0.26:multiline \
	    127.0.0.27:421after2 127.0.0.28:hangup 127.0.0.29:421rate \
	    127.0.0.31:m365 127.0.0.32:greet421once 127.0.0.33:mail451once \
	    127.0.0.34:dropfirst 127.0.0.35:verify450 >/dev/null 2>&1 &

	lab_postfix honest 127.0.0.10 "honest.test implicit.test backup.test yahoo.test msft.test" \
	    "alice@honest.test x" "bob@honest.test x" "postmaster@honest.test x" \
	    "carol@implicit.test x" "dave@backup.test x" "frank@msft.test x" \
	    "anyone@yahoo.test x" || return 1
	lab_postfix catchall 127.0.0.11 "catchall.test" "@catchall.test x" || return 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mx.tls.test" \
	    -keyout "$LAB_DIR/tls.key" -out "$LAB_DIR/tls.crt" >/dev/null 2>&1 || return 1
	LAB_PF_EXTRA="smtpd_tls_cert_file = $LAB_DIR/tls.crt
smtpd_tls_key_file = $LAB_DIR/tls.key
smtpd_tls_security_level = encrypt
smtpd_tls_loglevel = 1"
	lab_postfix tls 127.0.0.12 "tls.test" "erin@tls.test x" || return 1
	mkdir -p "$LAB_DIR/postgrey"
	chown postgrey "$LAB_DIR/postgrey"
	lab_exec postgrey --inet=127.0.0.1:10023 --delay=2 --dbdir="$LAB_DIR/postgrey" \
	    --pidfile="$LAB_DIR/postgrey/postgrey.pid" --auto-whitelist-clients=0 \
	    --greylist-text="Greylisted, please try again later" \
	    > "$LAB_DIR/postgrey.log" 2>&1 &
	lab_wait_port 127.0.0.1 10023 || return 1
	LAB_PF_EXTRA="smtpd_recipient_restrictions = reject_unauth_destination, check_policy_service inet:127.0.0.1:10023"
	lab_postfix grey 127.0.0.13 "grey.test" "gina@grey.test x" "hank@grey.test x" \
	    "ivan@grey.test x" "judy@grey.test x" || return 1
	LAB_PF_EXTRA="smtpd_recipient_limit = 2"
	lab_postfix limit 127.0.0.14 "limit.test" "l1@limit.test x" "l2@limit.test x" \
	    "l3@limit.test x" "l4@limit.test x" "l5@limit.test x" || return 1
	LAB_PF_EXTRA="smtputf8_enable = no"
	lab_postfix noutf8 127.0.0.15 "noutf8.test" "plain@noutf8.test x" || return 1
	LAB_PF_EXTRA="smtpd_client_recipient_rate_limit = 2
anvil_rate_time_unit = 5s"
	lab_postfix anvil 127.0.0.16 "anvil.test" "v1@anvil.test x" "v2@anvil.test x" \
	    "v3@anvil.test x" "v4@anvil.test x" || return 1
	LAB_PF_EXTRA=

	lab_wait_port 127.0.0.1 53 && lab_wait_port 127.0.0.10 25 && lab_wait_port 127.0.0.11 25 &&
	    lab_wait_port 127.0.0.12 25 && lab_wait_port 127.0.0.13 25 &&
	    lab_wait_port 127.0.0.14 25 && lab_wait_port 127.0.0.15 25 &&
	    lab_wait_port 127.0.0.16 25 &&
	    lab_wait_port 127.0.0.20 25
}
