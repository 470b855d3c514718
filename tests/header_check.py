#!/usr/bin/env python3
"""The public header compiles on its own, without the project's flags (no
_GNU_SOURCE, no <uv.h>): as C99 with -pedantic-errors and as C++11.
Usage: header_check.py INCLUDE_DIR TEST_HEADER_C CC [CXX]"""
import subprocess
import sys

inc, src, cc = sys.argv[1:4]
cxx = sys.argv[4] if len(sys.argv) > 4 else ""
warn = ["-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I", inc]
runs = [[cc, "-std=c99", "-pedantic-errors"] + warn + [src]]
if cxx:
    runs.append([cxx, "-x", "c++", "-std=c++11", "-pedantic-errors"] + warn +
                [src])
else:
    print("no C++ compiler found: the C++ half is skipped")
for cmd in runs:
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("%s\n%s" % (" ".join(cmd), p.stderr))
    print("ok:", " ".join(cmd))
