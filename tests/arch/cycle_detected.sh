#!/bin/sh
# check_include_cycles.py must fail on a tree whose folders include each
# other in a cycle (dsl -> compiler -> runtime -> dsl), and name the cycle;
# and on one whose cycle is between two subfolders of one folder
# (runtime/exec -> runtime/fit -> runtime/exec).
set -u
py=$1 check=$2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/dsl" "$root/compiler" "$root/runtime"
printf '#include "../compiler/b.h"\n' >"$root/dsl/a.h"
printf '#include "runtime/c.h"\n' >"$root/compiler/b.h"
printf '#include <stdio.h>\n#include "../dsl/a.h"\n' >"$root/runtime/c.h"
out=$("$py" "$check" "$root")
rc=$?
echo "$out"
[ $rc -eq 1 ] || { echo "FAIL: exit $rc, expected 1"; exit 1; }
echo "$out" | grep -q "include cycle between folders: compiler -> runtime -> dsl -> compiler" ||
  { echo "FAIL: the cycle is not named"; exit 1; }
echo "$out" | grep -q "runtime/c.h:2: #include \"../dsl/a.h\"" || { echo "FAIL: no include line"; exit 1; }

# subfolders: no cycle between the top folders, one between runtime/exec and runtime/fit
sub=$(mktemp -d)
trap 'rm -rf "$root" "$sub"' EXIT
mkdir -p "$sub/dsl" "$sub/runtime/exec" "$sub/runtime/fit"
printf '/* nothing */\n' >"$sub/dsl/util.h"
printf '#include "dsl/util.h"\n#include "runtime/fit/fit.h"\n' >"$sub/runtime/exec/exec.h"
printf '#include "runtime/exec/exec.h"\n' >"$sub/runtime/fit/fit.h"
out=$("$py" "$check" "$sub")
rc=$?
echo "$out"
[ $rc -eq 1 ] || { echo "FAIL: subfolders: exit $rc, expected 1"; exit 1; }
echo "$out" | grep -q "include cycle between folders: runtime/exec -> runtime/fit -> runtime/exec" ||
  { echo "FAIL: the cycle between subfolders is not named"; exit 1; }
echo "$out" | grep -q "runtime/exec/exec.h:2: #include \"runtime/fit/fit.h\"" ||
  { echo "FAIL: subfolders: no include line"; exit 1; }
echo "cycle_detected: passed"
