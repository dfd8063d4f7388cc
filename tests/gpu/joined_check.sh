#!/bin/sh
# On a GPU host: a fit's iteration joined with the reads of its outcome
# (runtime/fit/em_joined.c) against the build before it, in one device call;
# logs in $OUT.
#   .carry/gpu.tar.xz       the build under test (tests/gpu/pack.sh)
#   .carry/gpu_prev.tar.xz  the build to compare with (an earlier pack)
# First the GPU tests of the build under test (test_gpu and the scikit-learn
# agreement with every variant checked, weights, many fits, streaming, the
# other mixtures), then tests/bench/compare.py: ms per fit iteration, both
# builds on the same data, alternating (JOINED_GRID, default quick).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/gpu/two_builds.sh
unpack_builds prev joined || exit 1
w=/tmp/gmmc-new
rc=0
run() { # name, timeout, command...
  name=$1 limit=$2
  shift 2
  PATH="$w:$PATH" LD_LIBRARY_PATH=$w GMMC_CACHE_DIR=$w/cache timeout "$limit" "$@" >"$out/$name.log" 2>&1
  r=$?
  echo "== $name: rc=$r"
  [ $r -eq 0 ] || rc=1
  tail -n 3 "$out/$name.log"
}
run test_gpu 200 env GMMC_VERIFY_VARIANTS=1 test_gpu
run fixtures 60 python3 tests/em/make_fixtures.py $w/fx
run agreement 120 env GMMC_TEST_BACKEND=cuda GMMC_VERIFY_VARIANTS=1 test_sklearn_agreement $w/fx
run weights 120 env GMMC_TEST_BACKEND=cuda test_weights
run fit_many 200 env GMMC_TEST_BACKEND=cuda test_fit_many
run stream 200 env GMMC_TEST_BACKEND=cuda test_stream
run mixtures 120 sh tests/gpu/mixtures.sh
timeout 240 python3 tests/bench/compare.py --base /tmp/gmmc-prev/gw --new /tmp/gmmc-new/gw --grid "${JOINED_GRID:-quick}" \
  --types full,diag --rounds 3 --iters 30 --out "$out" 2>&1 | tail -8
exit $rc
