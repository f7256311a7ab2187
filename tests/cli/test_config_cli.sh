#!/bin/sh
# test_config_cli.sh - `rcptguard -n` and `rcptguard config`.
. "$top_srcdir/tests/cli/tap.sh"

RG="$top_builddir/cli/rcptguard"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf '[cache]\nttl_undeliverable = 7d\n' > "$tmp/good.conf"
out=$("$RG" -c "$tmp/good.conf" -n); rc=$?
is "-n with a good file exits 0" "$rc" 0
like "-n names the file" "$out" "configuration OK: $tmp/good.conf"

printf '[cache]\nttl_undeliverable = 7d\nttl_risky = forever\n' > "$tmp/bad.conf"
err=$("$RG" -c "$tmp/bad.conf" -n 2>&1); rc=$?
is "-n with a bad value exits 4" "$rc" 4
like "the error names file and line" "$err" "$tmp/bad.conf:3: ttl_risky: \"forever\" is not a duration"

printf '[cache]\nttl_undeliverable = 7d\nno_such_key = 1\n' > "$tmp/unknown.conf"
err=$("$RG" -c "$tmp/unknown.conf" -n 2>&1); rc=$?
is "-n with an unknown key exits 4" "$rc" 4
like "unknown key named with its line" "$err" "unknown.conf:3: unknown key \"no_such_key\""

err=$("$RG" -c "$tmp/absent.conf" -n 2>&1); rc=$?
is "-c with a missing file exits 4" "$rc" 4

out=$("$RG" -c "$tmp/good.conf" config)
like "config prints the value in force" "$out" '^ttl_undeliverable = 7d$'
like "config prints defaults of other keys" "$out" '^ttl_deliverable = 31d$'
out=$("$RG" -c "$tmp/good.conf" config --defaults)
like "config --defaults ignores the file" "$out" '^ttl_undeliverable = 3d$'

# [redis]: a password is never printed; a server name to resolve is refused.
printf '[redis]\nserver = unix:/run/redis.sock\nuser = rg\npassword = hunter2-secret\ntimeout = 50ms\n' \
    > "$tmp/redis.conf"
out=$("$RG" -c "$tmp/redis.conf" config)
like "config says the password is set" "$out" '^password = \(set, not shown\)$'
is "and never prints it" "$(printf '%s\n' "$out" | grep -c hunter2)" 0
like "milliseconds are printed as such" "$out" '^timeout = 50ms$'
printf '[redis]\nserver = redis.example:6379\n' > "$tmp/redisname.conf"
err=$("$RG" -c "$tmp/redisname.conf" -n 2>&1); rc=$?
is "-n with a Redis server given by name exits 4" "$rc" 4
like "and says why" "$err" 'an address, not a name'

# The reply rules are part of the configuration: -n checks them, an error
# names the file and the line, and the shipped file passes.
{ printf 'rule stage=rcpt code=550 -> undeliverable/no_mailbox\n'
  printf 'rule code=5xx -> gone/forever\n'; } > "$tmp/rules"
printf '[lists]\nreply_rules_file = %s/rules\n' "$tmp" > "$tmp/rules.conf"
err=$("$RG" -c "$tmp/rules.conf" -n 2>&1); rc=$?
is "-n with a bad reply rule exits 4" "$rc" 4
like "the rule error names file and line" "$err" "$tmp/rules:2: not a class: \"gone\""
printf 'rule stage=mail code=550 -> undeliverable/no_mailbox\n' > "$tmp/rules"
err=$("$RG" -c "$tmp/rules.conf" -n 2>&1); rc=$?
is "-n refuses a rule that rejects at MAIL FROM" "$rc" 4
like "and says why" "$err" "rules:1: an undeliverable outcome needs stage=rcpt"
printf '[lists]\nreply_rules_file = %s/conf/reply_rules\n' "$top_srcdir" > "$tmp/rules.conf"
out=$("$RG" -c "$tmp/rules.conf" -n); rc=$?
is "the shipped reply rules pass -n" "$rc" 0

# The shipped sample configuration is itself valid.
out=$("$RG" -c "$top_builddir/conf/rcptguard.conf" -n); rc=$?
is "conf/rcptguard.conf passes -n" "$rc" 0

tap_done
