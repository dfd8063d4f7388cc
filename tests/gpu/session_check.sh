#!/bin/sh
# A session's GPU correctness check in one device call (tests/gpu/pack.sh's
# binaries in .carry/gpu.tar.xz). The parts are independent and check
# results, not times, so they share the GPU and run side by side (each under
# its own timeout, about 5 minutes in all on an H100):
#   test_gpu     every code variant against the simple one (GMMC_VERIFY_VARIANTS=1)
#   agreement    scikit-learn agreement on the GPU, variants verified
#   weights      sample weights against repeated rows
#   mixtures     Bernoulli/Poisson/multinomial against their float64 EM
#   fit_many     many fits at once against each fit alone, n_init side by side
#   collapse     a float32 fit whose covariance fails to factor, redone with
#                float64 statistics (tests/python/test_collapse.py on the GPU)
#   bayes64/32   BayesianGaussianMixture against scikit-learn 1.2's fixtures
#                (.carry/bayesian_fixtures, else made here), float64 1e-6
#                relative, float32 1e-4 scaled (docs/dsl.md)
#   faults_warm  the CUDA driver's fault injection, kernel cache filled
#                (when .carry/gpu_faults.tar.xz is there: tests/gpu/faults.sh),
#                after the others, alone
# Prints one line per part (rc and the log's last line); logs in $OUT.
set -u
cd "$(dirname "$0")/../.." || exit 1
out=${OUT:-/tmp/gmmc-session}; mkdir -p "$out"; work=/tmp/gmmc-session; mkdir -p "$work"
tar -C "$work" -xJf .carry/gpu.tar.xz || { echo "FAIL: no .carry/gpu.tar.xz (run tests/gpu/pack.sh)"; exit 1; }
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_LIBRARY="$work/libgmmc.so" \
  PYTHONPATH="$PWD/python" PYTHONDONTWRITEBYTECODE=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
part() { # name, seconds, command... (in the background, its own kernel cache)
  name=$1 secs=$2; shift 2
  (GMMC_CACHE_DIR="$work/cache-$name" timeout "$secs" "$@" >"$out/$name.log" 2>&1; echo $? >"$out/$name.rc") &
}
python3 tests/em/make_fixtures.py "$work/fx" >"$out/fx.log" 2>&1
fx=.carry/bayesian_fixtures
[ -d "$fx" ] || { fx="$work/bfx"; python3 tests/em/make_bayesian_fixtures.py "$fx" >"$out/bfx.log" 2>&1; }
part test_gpu 300 env GMMC_VERIFY_VARIANTS=1 test_gpu
part agreement 300 env GMMC_TEST_BACKEND=cuda GMMC_VERIFY_VARIANTS=1 test_sklearn_agreement "$work/fx"
part weights 300 env GMMC_TEST_BACKEND=cuda GMMC_VERIFY_VARIANTS=1 test_weights
part mixtures 300 sh tests/gpu/mixtures.sh
part fit_many 300 env GMMC_TEST_BACKEND=cuda test_fit_many
part bayes64 300 python3 tests/gpu/bayesian_check.py "$fx" cuda float64 1e-6 rel
part bayes32 300 python3 tests/gpu/bayesian_check.py "$fx" cuda float32 1e-4 scaled
part collapse 200 env GMMC_TEST_DEVICE=cuda python3 -m pytest -q -p no:cacheprovider -s tests/python/test_collapse.py
wait
# alone: it checks that the device's free memory comes back, which the
# other parts' allocations would disturb (14 false failures side by side)
[ -f .carry/gpu_faults.tar.xz ] && part faults_warm 300 sh tests/gpu/faults.sh warm && wait
rc=0
for f in "$out"/*.rc; do
  name=$(basename "$f" .rc) r=$(cat "$f")
  echo "== $name: rc=$r $(tail -n 1 "$out/$name.log")"
  [ "$r" -eq 0 ] || rc=1
done
[ -f "$out/faults_warm.log" ] && grep -E "driver calls|passes|FAIL" "$out/faults_warm.log" | head -20
grep -h "FAIL" "$out"/test_gpu.log "$out"/agreement.log "$out"/fit_many.log 2>/dev/null | head -30
exit $rc
