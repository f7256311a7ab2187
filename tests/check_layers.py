#!/usr/bin/env python3
"""check_layers.py - the layering of CONTRIBUTING.md, checked against the
#include lines of lib/ and include/rcptguard/, and the size bound of every
source file. TAP output; one test per rule.

A module includes only headers of lower layers or of its own module; the
module of a file is its name up to the first underscore when that prefix is
a module (cache_sweep.c belongs to cache). No source file holds more than
1,000 lines.
"""
import os
import re
import sys

MAX_LINES = 1000

top = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(__file__), "..")


def layers():
    """The table between the layer markers of CONTRIBUTING.md."""
    text = open(os.path.join(top, "CONTRIBUTING.md"), encoding="utf-8").read()
    m = re.search(r"<!-- layers: begin -->(.*?)<!-- layers: end -->", text, re.S)
    if m is None:
        return None
    table = {}
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].isdigit():
            for mod in cells[1].split():
                table[mod] = int(cells[0])
    return table


def module_of(path, table):
    """The module a file belongs to, or None when it is in no layer."""
    base = os.path.basename(path).rsplit(".", 1)[0]
    if base in table:
        return base
    head = base.split("_", 1)[0]
    return head if head in table else None


def sources(dirs):
    for d in dirs:
        full = os.path.join(top, d)
        for name in sorted(os.listdir(full)):
            if name.endswith((".c", ".h")):
                yield os.path.join(d, name)


def main():
    results = []
    table = layers()
    results.append((table is not None and len(table) > 0,
                    "CONTRIBUTING.md has a table of layers"))
    table = table or {}

    unplaced, bad = [], []
    for path in sources(["lib", "include/rcptguard"]):
        mod = module_of(path, table)
        if mod is None:
            unplaced.append(path)
            continue
        text = open(os.path.join(top, path), encoding="utf-8").read()
        for inc in re.findall(r'^#include "rcptguard/([a-z_]+)\.h"', text, re.M):
            imod = module_of(inc + ".h", table)
            if imod is None:
                bad.append("%s includes %s.h, which is in no layer" % (path, inc))
            elif imod != mod and table[imod] >= table[mod]:
                bad.append("%s (%s, layer %d) includes %s.h (layer %d)" %
                           (path, mod, table[mod], inc, table[imod]))
    results.append((not unplaced, "every lib module is in a layer" +
                    ("" if not unplaced else ": not " + ", ".join(unplaced))))
    results.append((not bad, "every module includes only lower layers" +
                    ("" if not bad else ": " + "; ".join(bad))))

    big = []
    for path in sources(["lib", "include/rcptguard", "cli", "policyd", "milter"]):
        with open(os.path.join(top, path), encoding="utf-8") as f:
            n = sum(1 for _ in f)
        if n > MAX_LINES:
            big.append("%s (%d lines)" % (path, n))
    results.append((not big, "no source file over %d lines" % MAX_LINES +
                    ("" if not big else ": " + ", ".join(big))))

    print("1..%d" % len(results))
    for i, (ok, what) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, what))
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
