#!/bin/sh
# embed.sh NAME < FILE > C - FILE as a C string constant NAME (for the
# reply rules compiled into the library: lib/rules_builtin.c).
set -eu
printf '/* Made by scripts/embed.sh from conf/reply_rules: do not edit. */\n'
printf 'extern const char %s[];\n' "$1"
printf 'const char %s[] =\n' "$1"
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/'
printf '\t"";\n'
