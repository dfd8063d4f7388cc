#!/bin/sh
# libgmmc's binary interface as libabigail sees it (abidw, from the
# library's DWARF, limited to the public headers' types) against the one
# committed in include/gmmc/libgmmc.abi: any difference fails (abidiff's
# report says which function or type changed and how). Skipped, and says so,
# without abigail-tools.
#   abidiff.sh SOURCE_DIR LIBGMMC_SO
set -u
src=$1 lib=$2
command -v abidw >/dev/null && command -v abidiff >/dev/null || { echo "skipped: abigail-tools is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
abidw --headers-dir "$src/include/gmmc" --drop-private-types --no-corpus-path --no-show-locs --no-comp-dir-path "$lib" >"$tmp/now.abi" || { echo "FAIL: abidw"; exit 1; }
abidiff "$src/include/gmmc/libgmmc.abi" "$tmp/now.abi" >"$tmp/diff" 2>&1
rc=$?
cat "$tmp/diff"
if [ $rc -ne 0 ]; then
  echo "FAIL: the library's ABI differs from include/gmmc/libgmmc.abi (abidiff exit $rc); if that is meant:"
  echo "  abidw --headers-dir include/gmmc --drop-private-types --no-corpus-path --no-show-locs --no-comp-dir-path BUILD/libgmmc.so > include/gmmc/libgmmc.abi"
  echo "and say in the commit whether programs built against the old one still work (else a new SOVERSION)"
  exit 1
fi
echo "ok: the ABI is include/gmmc/libgmmc.abi's"
