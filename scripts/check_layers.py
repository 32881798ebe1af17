#!/usr/bin/env python3
"""Folder layers run one way.

Builds the folder-level include graph of edge/, control/ and shared/ (a file's folder is the
directory it sits in; an #include "x/y/z.h" points at x/y) and fails on:
  - any cycle between folders (a folder never includes one that includes it, directly or not);
  - shared/ including edge/ or control/ (shared code knows neither process);
  - edge/ and control/ including each other (the processes meet only through shared/).
Run by CTest (label "unit"), so CI runs it. Prints every offending include with file:line.
"""
import os
import re
import sys

ROOTS = ("edge", "control", "shared")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def folder_of(path):
    return os.path.dirname(path) or "."


def scan(repo):
    edges = {}  # (from_folder, to_folder) -> first "file:line" seen
    for root in ROOTS:
        for dirpath, _, files in os.walk(os.path.join(repo, root)):
            for name in sorted(files):
                if not name.endswith((".h", ".cc", ".c", ".hpp", ".cpp")):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, repo)
                with open(full, encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m or not m.group(1).startswith(tuple(r + "/" for r in ROOTS)):
                            continue
                        src, dst = folder_of(rel), folder_of(m.group(1))
                        if src != dst:
                            edges.setdefault((src, dst), f"{rel}:{lineno}")
    return edges


def cycles(edges):
    """Strongly connected components with more than one folder (Tarjan)."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    edges = scan(repo)
    problems = []
    for (a, b), where in sorted(edges.items()):
        top_a, top_b = a.split("/")[0], b.split("/")[0]
        if top_a == "shared" and top_b != "shared":
            problems.append(f"{where}: shared/ includes {b} (shared code knows neither process)")
        if {top_a, top_b} == {"edge", "control"}:
            problems.append(f"{where}: {a} includes {b} (edge and control meet only in shared/)")
    for comp in cycles(edges):
        members = set(comp)
        problems.append("folder cycle: " + " <-> ".join(comp))
        for (a, b), where in sorted(edges.items()):
            if a in members and b in members:
                problems.append(f"    {where}: {a} -> {b}")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"layers ok: {len(edges)} folder dependencies, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
