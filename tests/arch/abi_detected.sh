#!/bin/sh
# abi_check.py must fail, naming the line, on a header whose prototype
# changed (a parameter added), on one that lost a function, and on a
# function exported at another version node than runtime/api/exports.map
# gives it, against the committed include/gmmc/abi.txt and the real library.
set -u
py=$1 src=$2 lib=$3
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/include/gmmc" "$root/tools" "$root/runtime/api"
cp "$src/runtime/api/exports.map" "$root/runtime/api/"
cp "$src/include/gmmc/gmmc.h" "$src/include/gmmc/gmmc_mpi.h" "$src/include/gmmc/abi.txt" "$root/include/gmmc/"
cp "$src/tools/abi_check.py" "$root/tools/"
"$py" "$root/tools/abi_check.py" "$root" "$lib" >/dev/null || { echo "FAIL: the unchanged copy does not pass"; exit 1; }
sed -i 's/^void gmmc_context_destroy(gmmc_context \*ctx);/void gmmc_context_destroy(gmmc_context *ctx, int flags);/' \
  "$root/include/gmmc/gmmc.h"
out=$("$py" "$root/tools/abi_check.py" "$root" "$lib")
rc=$?
echo "$out"
[ $rc -eq 1 ] || { echo "FAIL: exit $rc on a changed prototype, expected 1"; exit 1; }
echo "$out" | grep -q "removed or changed (breaks programs built against it): gmmc.h: void gmmc_context_destroy(gmmc_context\*ctx);" ||
  { echo "FAIL: the changed prototype is not named"; exit 1; }
sed -i '/gmmc_context_destroy/d' "$root/include/gmmc/gmmc.h"
out=$("$py" "$root/tools/abi_check.py" "$root" "$lib")
[ $? -eq 1 ] && echo "$out" | grep -q "exports gmmc_context_destroy, which no public header declares" ||
  { echo "$out"; echo "FAIL: a function exported but no longer declared is not named"; exit 1; }
# a 1.1 function the map no longer names in its node: the library's node is not the one expected
cp "$src/include/gmmc/gmmc.h" "$root/include/gmmc/"
sed -i '/^GMMC_1.1 {/,/^} GMMC_1.0;/d' "$root/runtime/api/exports.map"
out=$("$py" "$root/tools/abi_check.py" "$root" "$lib")
[ $? -eq 1 ] && echo "$out" | grep -q "exports gmmc_fit_options_set_precision at version node 'GMMC_1.1', not GMMC_1.0" ||
  { echo "$out"; echo "FAIL: a function at another version node than the map's is not named"; exit 1; }
echo "ok: abi_check.py names a changed prototype, an undeclared export and a wrong version node"
