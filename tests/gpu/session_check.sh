#!/bin/sh
# A session's GPU check in one device call (tests/gpu/pack.sh's binaries in
# .carry/gpu.tar.xz): every code variant against the simple one, the
# scikit-learn agreement on the GPU, sample weights against repeated rows,
# the Bernoulli/Poisson/multinomial mixtures against their float64 EM, and
# the CUDA driver's fault injection with the kernel cache filled
# (tests/gpu/faults.sh, .carry/gpu_faults.tar.xz). Logs in $OUT.
set -u
out=${OUT:-/tmp/gmmc-session}; mkdir -p "$out"; work=/tmp/gmmc-session; mkdir -p "$work"
tar -C "$work" -xJf .carry/gpu.tar.xz
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_CACHE_DIR="$work/cache"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
run() { # name, seconds, command...
  name=$1 secs=$2; shift 2
  timeout "$secs" "$@" >"$out/$name.log" 2>&1
  echo "== $name: rc=$? $(tail -n 1 "$out/$name.log")"
}
run test_gpu 200 env GMMC_VERIFY_VARIANTS=1 test_gpu
python3 tests/em/make_fixtures.py "$work/fx" >"$out/fx.log" 2>&1
run agreement 150 env GMMC_TEST_BACKEND=cuda GMMC_VERIFY_VARIANTS=1 test_sklearn_agreement "$work/fx"
run weights 150 env GMMC_TEST_BACKEND=cuda GMMC_VERIFY_VARIANTS=1 test_weights
run mixtures 150 sh tests/gpu/mixtures.sh
run faults_warm 200 sh tests/gpu/faults.sh warm
grep -E "driver calls|passes|FAIL" "$out/faults_warm.log" | head -20
