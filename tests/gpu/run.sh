#!/bin/sh
# On a GPU host: unpacks the binaries tests/gpu/pack.sh made (or builds them
# when LLVM 19 is installed), runs the GPU tests, the scikit-learn agreement
# on the GPU and the benchmark, and prints a short table last.
#   tests/gpu/run.sh [bench-args...]
# Logs go to $OUT (the device tool's output folder) or /tmp/gmmc-gpu-out.
set -u
bench_args="$*"
cd "$(dirname "$0")/../.."
root=$(pwd)
out=${OUT:-/tmp/gmmc-gpu-out}
work=/tmp/gmmc-gpu
mkdir -p "$out" "$work"
if [ -f .carry/gpu.tar.xz ]; then
  tar -C "$work" -xJf .carry/gpu.tar.xz
elif command -v llvm-config-19 >/dev/null; then
  tests/gpu/pack.sh && tar -C "$work" -xJf .carry/gpu.tar.xz
else
  echo "run.sh: no .carry/gpu.tar.xz and no LLVM 19 to build one (run tests/gpu/pack.sh first)"; exit 1
fi
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_CACHE_DIR="$work/cache"
py=$(command -v python3)
results=""
record() { results="$results$(printf '%-44s %s' "$1" "$2")\n"; }
step() { # name, command...
  name=$1; shift
  echo "=== $name: $*"
  if "$@" >"$out/$name.log" 2>&1; then st=passed; else rc=$?; [ $rc -eq 77 ] && st=skipped || st="FAILED ($rc)"; fi
  tail -n 40 "$out/$name.log"
  record "$name" "$st"
}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"
gmmc --version
step cli_fit_iris gmmc fit examples/data/iris.csv -k 3 -v
grep -q "NVIDIA" "$out/cli_fit_iris.log" && record "fit picks the GPU by itself" yes || record "fit picks the GPU by itself" NO
# every code variant is checked against the simple one while tuning
step test_gpu env GMMC_VERIFY_VARIANTS=1 test_gpu
step sklearn_fixtures "$py" tests/em/make_fixtures.py "$work/fx"
step sklearn_agreement_gpu env GMMC_TEST_BACKEND=cuda GMMC_VERIFY_VARIANTS=1 test_sklearn_agreement "$work/fx"
# sample weights: integer weights against the rows repeated, float64 on the GPU
step weights_gpu env GMMC_TEST_BACKEND=cuda GMMC_VERIFY_VARIANTS=1 test_weights
step mixtures_gpu sh tests/gpu/mixtures.sh
if [ -f tests/bench/bench.py ]; then
  # shellcheck disable=SC2086
  step bench "$py" tests/bench/bench.py --gmmc "$work/gmmc" --out "$out" $bench_args
fi
# every variant's time per iteration at the headline point, the choice marked
step variants_full_N1e6_M128_D32 gmmc bench full --sizes N=1000000,M=128,D=32 --iters 5
echo
echo "==================== summary ===================="
cat "$out/gpu.txt"
printf "$results"
[ -f "$out/bench_table.txt" ] && cat "$out/bench_table.txt"
exit 0
