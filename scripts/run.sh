#!/bin/sh
# run.sh - build rcptguard and run it on the embedded default: built-in
# configuration, state under ./var in this checkout.
#
# rcptguard-policyd and rcptguard-milter do not exist yet. Until they do,
# this builds everything and runs `rcptguard cache stats` on the local
# state directory, which creates the LMDB verdict cache there; `rcptguard
# check` then verifies addresses against the real network (port 25 out).
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
mkdir -p var/lib/rcptguard

rg="$top/_build/run/cli/rcptguard"
echo "==> rcptguard $("$rg" -V | head -n 1 | cut -d' ' -f2), state in $top/var/lib/rcptguard"
"$rg" -n
echo "==> rcptguard cache stats"
"$rg" cache stats
cat <<TXT

The verdict cache is ready. Try:
  $rg check --json postmaster@example.org
  $rg cache put ghost@example.org undeliverable no_mailbox
  $rg cache get --json ghost@example.org
  $rg cache list

rcptguard-policyd and rcptguard-milter, the Postfix-facing daemons, are not
built yet; once they are, this command starts both on local sockets and
prints the main.cf lines that plug them into Postfix.
TXT
