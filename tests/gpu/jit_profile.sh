#!/bin/sh
# Where the JIT time goes, per program, on this machine's GPU:
#   tests/gpu/jit_profile.sh N D M [gmmc]
# Four fits of a random float32 mixture (full covariance, --max-iter 1) with
# GMMC_PROFILE=1 and a fresh cache: every variant compiled and tuned; a
# second fit (only the chosen variants lowered, their kernels from the
# cache); the chosen variants compiled cold (cubins removed, choices kept);
# cached after that. Prints gmmc's "profile:" lines for each.
set -eu
n=$1 d=$2 m=$3 gmmc=${4:-gmmc}
dir=$(mktemp -d)
here=$(cd "$(dirname "$0")/../bench" && pwd)
python3 -c "
import sys, numpy as np; sys.path.insert(0, '$here'); import bench
np.save('$dir/x.npy', bench.make_data($n, $d, $m, np.random.default_rng()))"
# CUDA_CACHE_DISABLE: no help from the driver's own PTX cache either
export GMMC_CACHE_DIR="$dir/cache" GMMC_PROFILE=1 CUDA_CACHE_DISABLE=1
for run in "all variants" "second fit" "tuned, cold" "cached tuned set"; do
  [ "$run" = "tuned, cold" ] && rm -f "$dir"/cache/*.cubin
  echo "--- N=$n D=$d M=$m: $run"
  "$gmmc" fit "$dir/x.npy" -k "$m" --max-iter 1 --tol 0 --dtype float32 -v 2>&1 |
    grep -E "profile: (cuda|.*yaml)|compile [0-9.]+ ms" || true
done
rm -rf "$dir"
