#!/bin/sh
# bootstrap.sh - generate ./configure when it is missing (a fresh clone).
# Later changes to configure.ac or Makefile.am are picked up by make itself.
set -eu
cd "$(dirname "$0")/.."
if [ ! -x configure ] || [ ! -f build-aux/tap-driver.sh ]; then
	autoreconf -fi >/dev/null
fi
