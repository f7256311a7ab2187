#!/bin/sh
# test_deb.sh - the Debian package from a clean copy of the tracked tree:
# dpkg-buildpackage -us -uc -b builds it, lintian finds no error (its
# warnings are listed), and the .deb holds the daemons, the command line,
# the units, the conffiles and the maintainer scripts.
# Run by scripts/test.sh as a stage of its own (it builds the whole tree),
# which then installs the package in a booted container (test_container.sh).
. "$top_srcdir/tests/cli/tap.sh"
tap_need dpkg-buildpackage dh lintian git
W=$(mktemp -d /tmp/rg-deb-XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir "$W/rcptguard"
# What a clean clone holds: the tracked files (the symlink debian -> packaging/debian too).
git -C "$top_srcdir" ls-files -z | (cd "$top_srcdir" && tar --null -T - -cf -) |
    tar -C "$W/rcptguard" -xf -
(cd "$W/rcptguard" && dpkg-buildpackage -us -uc -b) > "$W/build.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then tail -n 40 "$W/build.log" | sed 's/^/# /'; fi
is "dpkg-buildpackage -us -uc -b: exit 0" "$rc" 0
deb=$(ls "$W"/rcptguard_*.deb 2>/dev/null | head -n 1)
check "one binary package, rcptguard_*.deb" test -n "$deb"
# RG_DEB_OUT: where to leave it for the install test, with a second build
# of a later version (only the changelog differs) for the upgrade.
if [ -n "${RG_DEB_OUT:-}" ] && [ -n "$deb" ]; then
	mkdir -p "$RG_DEB_OUT/upgrade" && cp "$deb" "$RG_DEB_OUT/"
	ver=$(dpkg-deb -f "$deb" Version)
	{
		printf 'rcptguard (%s+upgrade1) unstable; urgency=medium\n\n' "$ver"
		printf '  * A later version, built by the tests to check upgrades.\n\n'
		printf ' -- rcptguard developers <rcptguard-devel@lists.rcptguard.invalid>  %s\n\n' \
		    "$(date -R)"
		cat "$W/rcptguard/debian/changelog"
	} > "$W/changelog.new"
	mv "$W/changelog.new" "$W/rcptguard/debian/changelog"
	(cd "$W/rcptguard" && dpkg-buildpackage -us -uc -b) > "$W/build2.log" 2>&1
	is "the upgrade's build: exit 0" "$?" 0
	cp "$W"/rcptguard_*+upgrade1_*.deb "$RG_DEB_OUT/upgrade/" 2>/dev/null
	check "the upgrade's package, version $ver+upgrade1" sh -c "ls '$RG_DEB_OUT'/upgrade/rcptguard_*+upgrade1_*.deb"
fi

lintian --tag-display-limit 0 -I -E --pedantic "$W"/rcptguard_*.changes > "$W/lintian.log" 2>&1
sed 's/^/# lintian: /' "$W/lintian.log"
is "lintian: no error" "$(grep -c '^E:' "$W/lintian.log")" 0

contents=$(dpkg-deb -c "$deb" 2>/dev/null | awk '{ print $6 }')
for f in ./usr/sbin/rcptguard-policyd ./usr/sbin/rcptguard-milter ./usr/bin/rcptguard \
    ./lib/systemd/system/rcptguard-policyd.service ./lib/systemd/system/rcptguard-milter.service \
    ./lib/systemd/system/rcptguard-learn.service ./etc/rcptguard/rcptguard.conf ./etc/rcptguard/providers.conf ./etc/rcptguard/reply_rules \
    ./usr/share/man/man8/rcptguard-policyd.8.gz ./usr/share/man/man5/rcptguard.conf.5.gz \
    ./usr/share/doc/rcptguard/README.Debian ./usr/share/doc/rcptguard/examples/postfix-policyd.cf; do
	like "the package holds $f" "$contents" "^$(printf '%s' "$f" | sed 's/\./\\./g')\$"
done
mkdir "$W/ctl"
dpkg-deb -e "$deb" "$W/ctl"
like "rcptguard.conf is a conffile" "$(cat "$W/ctl/conffiles")" '^/etc/rcptguard/rcptguard.conf$'
like "the lists are conffiles" "$(cat "$W/ctl/conffiles")" '^/etc/rcptguard/role_accounts$'
like "postinst makes the system user" "$(cat "$W/ctl/postinst")" 'adduser --system --group'
for unit in rcptguard-policyd rcptguard-milter; do
	like "postinst enables $unit" "$(cat "$W/ctl/postinst")" "deb-systemd-helper enable '$unit.service'"
	like "postinst starts $unit" "$(cat "$W/ctl/postinst")" \
	    "deb-systemd-invoke \\\$_dh_action '$unit.service'"
done
like "rcptguard-learn is installed, not enabled" "$(cat "$W/ctl/postinst")" \
    "deb-systemd-helper update-state 'rcptguard-learn.service'"
like "postrm purges the state" "$(cat "$W/ctl/postrm")" 'rm -rf /var/lib/rcptguard'
like "it depends on adduser" "$(dpkg-deb -f "$deb" Depends)" 'adduser'

tap_done
