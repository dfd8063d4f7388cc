#!/usr/bin/env python3
"""libgmmc's binary interface, checked against the one committed.

The public headers' declarations (every prototype, typedef, enum and
#define of include/gmmc/gmmc.h and gmmc_mpi.h, comments dropped, whitespace
normalized, one per line) must equal include/gmmc/abi.txt, and the
library must export exactly the functions declared there (those of
gmmc_mpi.h only when it was built with MPI), each at the version node
runtime/api/exports.map names it in (GMMC_1.1 and later list their
functions by name), GMMC_1.0 for the rest. A change to the interface is
then a change to abi.txt too, made on purpose: a removed or changed line
breaks programs built against the old one (raise the SOVERSION); an added
one does not.

  abi_check.py SOURCE_DIR LIBGMMC_SO          check (exit 1 on a difference)
  abi_check.py SOURCE_DIR --update            rewrite abi.txt from the headers
"""
import re
import subprocess
import sys

HEADERS = ["include/gmmc/gmmc.h", "include/gmmc/gmmc_mpi.h"]



VERSION_NODE = "GMMC_1.0"


def version_nodes(path):
    """The functions exports.map lists by name, with their node."""
    text = re.sub(r"/\*.*?\*/", " ", open(path).read(), flags=re.S)
    nodes = {}
    for node, body in re.findall(r"(GMMC_[0-9.]+)\s*\{(.*?)\}", text, flags=re.S):
        for name in re.findall(r"\b(gmmc_\w+)\s*;", body):
            nodes[name] = node
    return nodes

def declarations(path):
    text = open(path).read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    out, rest = [], []
    cplusplus = False  # inside #ifdef __cplusplus: extern "C" { and its }
    for line in text.split("\n"):
        s = line.strip()
        if s.startswith("#"):
            cplusplus = s.startswith("#ifdef __cplusplus")
            if s.startswith("#define") and "GMMC_" in s and not re.match(r"#define GMMC_\w*_H$", s):
                out.append(" ".join(s.split()))
        elif not cplusplus:
            rest.append(s)
    body = " ".join(rest)
    depth, cur = 0, ""
    for ch in body:
        cur += ch
        depth += ch == "{"
        depth -= ch == "}"
        if ch == ";" and depth == 0:
            decl = " ".join(cur.split())
            decl = re.sub(r"\s*([(),*;{}])\s*", r"\1", decl)
            if "gmmc" in decl and not decl.startswith("extern \"C\""):
                out.append(decl)
            cur = ""
    return out


def functions(decls):
    names = set()
    for d in decls:
        if d.startswith("typedef") or d.startswith("#define"):
            continue
        m = re.search(r"\b(gmmc_\w+)\(", d)
        if m:
            names.add(m.group(1))
    return names


def main():
    src = sys.argv[1]
    decls = {h: declarations(f"{src}/{h}") for h in HEADERS}
    lines = [f"{h.split('/')[-1]}: {d}" for h in HEADERS for d in decls[h]]
    abi = f"{src}/include/gmmc/abi.txt"
    if sys.argv[2] == "--update":
        with open(abi, "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"abi_check: wrote {len(lines)} declarations to {abi}")
        return 0
    want = open(abi).read().split("\n")[:-1]
    bad = 0
    for line in sorted(set(want) - set(lines)):
        print(f"abi_check: removed or changed (breaks programs built against it): {line}")
        bad = 1
    for line in sorted(set(lines) - set(want)):
        print(f"abi_check: added or changed: {line}")
        bad = 1
    nm = subprocess.run(["nm", "-D", "--defined-only", sys.argv[2]], capture_output=True, text=True, check=True)
    symbols = [f.split()[-1] for f in nm.stdout.splitlines() if f.split() and f.split()[-1].startswith("gmmc_")]
    # every function at version node GMMC_1.0 but those a later 1.x added,
    # each at its own node (runtime/api/exports.map)
    exported = set()
    nodes = version_nodes(f"{src}/runtime/api/exports.map")
    for sym in symbols:
        name, _, node = sym.partition("@@")
        want_node = nodes.get(name, VERSION_NODE)
        if node != want_node:
            print(f"abi_check: {sys.argv[2]} exports {name} at version node '{node}', not {want_node}")
            bad = 1
        exported.add(name)
    base, mpi = functions(decls[HEADERS[0]]), functions(decls[HEADERS[1]])
    declared = base | (mpi if exported & mpi else set())
    for name in sorted(exported - declared):
        print(f"abi_check: {sys.argv[2]} exports {name}, which no public header declares")
        bad = 1
    for name in sorted(declared - exported):
        print(f"abi_check: {name} is declared but {sys.argv[2]} does not export it")
        bad = 1
    if bad:
        print("abi_check: the interface differs from include/gmmc/abi.txt; if that is meant, run "
              "tools/abi_check.py . --update and say in the commit whether old binaries still work")
        return 1
    print(f"abi_check: {len(lines)} declarations as committed, {len(exported)} functions exported as declared")
    return 0


if __name__ == "__main__":
    sys.exit(main())
