#!/bin/sh
# The installed library as a user meets it: `cmake --install` into a fresh
# prefix, examples/c configured against it with find_package(gmmc), built,
# and run on the iris data; then the installed `gmmc` tool fits, predicts and
# scores the same data.
#   test_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gmmc-install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export GMMC_CACHE_DIR="$tmp/cache"
fail() { echo "test_install: FAIL: $*"; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install"; }
cmake -S "$src/examples/c" -B "$tmp/example" -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; fail "find_package(gmmc) from the installed prefix"; }
cmake --build "$tmp/example" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "building examples/c"; }
out=$("$tmp/example/fit_predict" "$src/examples/data/iris.csv" 3) || fail "fit_predict exited with $?"
echo "$out"
echo "$out" | grep -q "^converged after [0-9]* iterations, lower bound -1\.[0-9]*" || fail "no convergence line"
total=$(echo "$out" | sed -n 's/^labels://p' | tr ',' '\n' | awk '{s += $1} END {print s}')
[ "$total" = 150 ] || fail "the labels cover $total events, not 150"
echo "$out" | grep -q "^BIC [0-9.]*$" || fail "no BIC"

gmmc="$tmp/prefix/bin/gmmc"
"$gmmc" --version | grep -q "^gmmc " || fail "gmmc --version"
"$gmmc" fit "$src/examples/data/iris.csv" -k 3 --seed 1 -o "$tmp/model.yaml" >"$tmp/fit.log" ||
  { cat "$tmp/fit.log"; fail "installed gmmc fit"; }
"$gmmc" predict "$tmp/model.yaml" "$src/examples/data/iris.csv" -o "$tmp/labels.txt" || fail "installed gmmc predict"
[ "$(wc -l <"$tmp/labels.txt")" -eq 150 ] || fail "predict wrote $(wc -l <"$tmp/labels.txt") labels"
"$gmmc" score "$tmp/model.yaml" "$src/examples/data/iris.csv" | tee "$tmp/score.txt"
grep -qi "bic" "$tmp/score.txt" || fail "score prints no BIC"
echo "test_install: passed"
