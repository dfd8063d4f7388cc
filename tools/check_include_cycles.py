#!/usr/bin/env python3
"""Fails when the folders of gmmc's library and tool include each other in a
cycle (docs/architecture.md: a folder per responsibility, dependencies one
way). Reads the #include "..." lines of every .c and .h below the given
folders, resolves each the way the build does (the including file's folder,
then the project root, then include/), and reports every cycle between
folders with one include line per edge. A file's folder is the directory it
sits in: every subfolder (runtime/exec, runtime/fit, ...) is a folder of its
own, checked against its siblings and its parent alike.

  tools/check_include_cycles.py [ROOT]      (default: this checkout)
"""
import os
import re
import sys

FOLDERS = ("dsl", "compiler", "runtime", "cli", "include")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def resolve(root, src, name):
    for base in (os.path.dirname(src), root, os.path.join(root, "include")):
        path = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(path):
            return os.path.relpath(path, root)
    return None  # a generated header (version.h) or a system one


def edges(root):
    """{(from_folder, to_folder): 'file:line: #include ...'} between folders."""
    found = {}
    for top in FOLDERS:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                src = os.path.join(dirpath, f)
                with open(src, encoding="utf-8", errors="replace") as fh:
                    for n, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        target = m and resolve(root, src, m.group(1))
                        if not target:
                            continue
                        a = os.path.dirname(os.path.relpath(src, root))
                        b = os.path.dirname(target)
                        if a != b and (a, b) not in found:
                            found[(a, b)] = f"{os.path.relpath(src, root)}:{n}: {line.strip()}"
    return found


def cycles(graph):
    """Each elementary cycle once, found by depth-first search from every node."""
    out, seen = [], set()
    def walk(start, node, path):
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                key = frozenset(zip(path, path[1:] + [start]))
                if key not in seen:
                    seen.add(key)
                    out.append(path + [start])
            elif nxt not in path and nxt > start:
                walk(start, nxt, path + [nxt])
    for n in sorted(graph):
        walk(n, n, [n])
    return out


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    found = edges(root)
    graph = {}
    for a, b in found:
        graph.setdefault(a, set()).add(b)
    bad = cycles(graph)
    for c in bad:
        print("include cycle between folders: " + " -> ".join(c))
        for a, b in zip(c, c[1:]):
            print(f"  {found[(a, b)]}")
    print(f"check_include_cycles: {len(graph)} folders, {len(found)} dependencies, {len(bad)} cycles")
    for a in sorted(graph):
        print(f"  {a} -> {', '.join(sorted(graph[a]))}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
