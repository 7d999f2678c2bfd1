#!/usr/bin/env python3
"""Writes a copy of include/mmrt.h as an older caller saw it: every struct that begins with
`size_t size` (params, results, model info) loses its last field. tests/abi/old_caller.c is built
against it and run against the current library (tests/CMakeLists.txt). Standard library only.

    abi_old_header.py IN OUT
"""
import re
import sys

src = open(sys.argv[1], encoding="utf-8").read()
out, n = [], 0
for block in re.split(r"(typedef struct \w+ \{\n.*?\n\} \w+;)", src, flags=re.S):
    m = re.match(r"typedef struct (\w+) \{\n(.*)\n\} (\w+);$", block, flags=re.S)
    if m and re.match(r"\s*size_t size;", m.group(2)):
        # the members: each starts on a line with a type at the struct's indentation
        lines = m.group(2).split("\n")
        starts = [i for i, l in enumerate(lines) if re.match(r"    [A-Za-z_]", l)]
        body = "\n".join(lines[: starts[-1]])
        block = "typedef struct %s {\n%s\n} %s;" % (m.group(1), body, m.group(3))
        n += 1
    out.append(block)
if n < 5:
    sys.exit("abi_old_header.py: found %d size-prefixed structs in %s, expected at least 5" % (n, sys.argv[1]))
open(sys.argv[2], "w", encoding="utf-8").write("".join(out))
