#!/bin/sh
# install-deps.sh - install the Debian 12 packages that rcptguard's build and tests need.
#
# Idempotent: packages already present are left alone, and nothing is started.
# Service start-up is blocked for the duration of the install (policy-rc.d exit 101),
# so packages that ship daemons never configure or start them on this host; the
# tests start their own instances with their own configuration.
set -eu

PKGS="
build-essential autoconf automake libtool pkg-config
liblmdb-dev lmdb-utils
libinih-dev libidn2-dev libjansson-dev
libevent-dev libc-ares-dev libssl-dev libsystemd-dev
libcmocka-dev libmilter-dev miltertest
libhiredis-dev redis-server
python3 valgrind
clang libclang-rt-14-dev
iproute2 dnsmasq-base postfix postgrey swaks openssl systemd
debhelper dpkg-dev lintian debootstrap systemd-container prometheus rsyslog
"

if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi

missing=
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi

echo "install-deps: installing:$missing"

# Block service start-up while installing; remove our blocker afterwards only if
# we created it.
created_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	created_policy=1
fi
cleanup() {
	if [ -n "$created_policy" ]; then
		$SUDO rm -f /usr/sbin/policy-rc.d
	fi
}
trap cleanup EXIT INT TERM

# Postfix, when a later part of the suite needs it, must not configure itself.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
