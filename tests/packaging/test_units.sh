#!/bin/sh
# test_units.sh - the systemd units of packaging/systemd: systemd's own
# offline analysis scores each at most 1.5 (the package's promise), they
# start the daemons with -s under Type=notify and reload through
# `rcptguard reload`, and they keep the hardening the score is made of.
. "$top_srcdir/tests/cli/tap.sh"
tap_need systemd-analyze
U="$top_srcdir/packaging/systemd"

for unit in rcptguard-policyd rcptguard-milter; do
	out=$(systemd-analyze security --offline=true --no-pager "$U/$unit.service" 2>&1)
	score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	check "$unit: systemd-analyze security gives a score ($score)" test -n "$score"
	check "$unit: exposure $score <= 1.5" awk -v s="${score:-99}" 'BEGIN { exit !(s <= 1.5) }'
	like "$unit: Type=notify" "$(cat "$U/$unit.service")" '^Type=notify$'
	prog=${unit#rcptguard-}
	like "$unit: ExecReload waits for the reload" "$(cat "$U/$unit.service")" \
	    "^ExecReload=/usr/bin/rcptguard -c /etc/rcptguard/rcptguard.conf reload $prog \\\$MAINPID\$"
	like "$unit: started with -s (foreground, syslog)" "$(cat "$U/$unit.service")" \
	    "^ExecStart=/usr/sbin/$unit -s "
	like "$unit: starts before Postfix" "$(cat "$U/$unit.service")" '^Before=postfix.service$'
	like "$unit: an empty capability bounding set" "$(cat "$U/$unit.service")" '^CapabilityBoundingSet=$'
done

# rcptguard-learn: the same hardening score; a plain service that follows the log.
L="$U/rcptguard-learn.service"
out=$(systemd-analyze security --offline=true --no-pager "$L" 2>&1)
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
check "rcptguard-learn: exposure ${score:-none} <= 1.5" awk -v s="${score:-99}" 'BEGIN { exit !(s <= 1.5) }'
like "rcptguard-learn: runs learn --follow" "$(cat "$L")" \
    '^ExecStart=/usr/bin/rcptguard -c /etc/rcptguard/rcptguard.conf learn --follow$'
like "rcptguard-learn: reads the log as group adm" "$(cat "$L")" '^SupplementaryGroups=adm$'
like "rcptguard-learn: an empty capability bounding set" "$(cat "$L")" '^CapabilityBoundingSet=$'

tap_done
