#!/usr/bin/env python3
"""Fails when a Catch2 TEST_CASE name holds a ';' or starts with '-'.

catch_discover_tests registers each test with ctest by name, and CMake splits a name at ';'
into two tests whose filters match nothing: Catch then runs no test and reports success, so
the test silently never runs in CI. (Commas are escaped by the discovery and are fine.)
A name starting with '-' reaches the test binary as an unknown option and the test fails.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
case = re.compile(r'TEST_CASE\(((?:\s*"(?:[^"\\]|\\.)*")+)')
bad = []
for path in sorted(root.glob("tests/**/*.cc")):
    for m in case.finditer(path.read_text()):
        name = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
        if ";" in name or name.startswith("-"):
            bad.append(f"{path.relative_to(root)}: {name}")
if bad:
    print("test names with ';' never run under ctest (use ',' instead), and names starting with")
    print("'-' are read as options:")
    print("\n".join(bad))
    sys.exit(1)
print("test names ok")
