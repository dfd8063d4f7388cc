#!/bin/sh
# Where the JIT time goes, per program, on this machine's GPU:
#   tests/gpu/jit_profile.sh N D M [gmmc]
# Five fits of a random float32 mixture (full covariance, --max-iter 1) with
# GMMC_PROFILE=1 and a fresh cache: every variant compiled and tuned; a
# second fit (only the chosen variants lowered, their kernels from the
# cache, which then compiles the tuned set into one module); the chosen
# variants compiled cold (cubins and bundles removed, choices kept); cached
# after that (per kernel, making the bundle again); and from the bundle. Prints gmmc's "profile:" lines for each. Then the
# cache hit in fresh processes against warm ones (jit_rounds, when built by
# pack.sh), and what loading many modules costs against one module
# (module_load_probe, built here when gcc and cuda.h are at hand).
set -eu
n=$1 d=$2 m=$3 gmmc=${4:-gmmc}
dir=$(mktemp -d)
here=$(cd "$(dirname "$0")/../bench" && pwd)
python3 -c "
import sys, numpy as np; sys.path.insert(0, '$here'); import bench
np.save('$dir/x.npy', bench.make_data($n, $d, $m, np.random.default_rng()))"
# CUDA_CACHE_DISABLE: no help from the driver's own PTX cache either
export GMMC_CACHE_DIR="$dir/cache" GMMC_PROFILE=1 CUDA_CACHE_DISABLE=1
for run in "all variants" "second fit" "tuned, cold" "cached tuned set" "cached tuned set, one module"; do
  [ "$run" = "tuned, cold" ] && rm -f "$dir"/cache/*.cubin "$dir"/cache/*.bundle
  echo "--- N=$n D=$d M=$m: $run"
  "$gmmc" fit "$dir/x.npy" -k "$m" --max-iter 1 --tol 0 --dtype float32 -v 2>&1 |
    grep -E "profile: (cuda|.*yaml)|compile [0-9.]+ ms" || true
done
if command -v jit_rounds >/dev/null; then
  echo "--- N=$n D=$d M=$m: cache hits, four contexts in one process"
  jit_rounds "$n" "$d" "$m" 4 2>&1 | grep -E "^round|profile: (cuda|.*yaml)"
fi
cuda_inc=${CUDA_HOME:-/usr/local/cuda}/include
if command -v gcc >/dev/null && [ -f "$cuda_inc/cuda.h" ] &&
  gcc -O2 -std=gnu11 -I"$cuda_inc" "$(dirname "$0")/module_load_probe.c" -o "$dir/probe" -l:libcuda.so.1; then
  echo "--- modules: the cached cubins one by one, against every kernel of the program in one module"
  "$gmmc" compile full --sizes "M=$m,D=$d" --emit ptx -o "$dir/all.ptx"
  "$dir/probe" "$dir/all.ptx" "$dir"/cache/*.cubin
fi
rm -rf "$dir"
