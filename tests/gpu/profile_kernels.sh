#!/bin/sh
# Nsight Compute on the hot kernels of one grid point (where ncu can read
# the counters):  tests/gpu/profile_kernels.sh N D M REGEX [gmmc]
# Fits a random float32 mixture once to tune and cache, then profiles the
# kernels whose names match REGEX in a second, tuned fit (clocks left alone).
set -eu
n=$1 d=$2 m=$3 re=$4 gmmc=${5:-gmmc}
dir=$(mktemp -d)
here=$(cd "$(dirname "$0")/../bench" && pwd)
python3 -c "
import sys, numpy as np; sys.path.insert(0, '$here'); import bench
np.save('$dir/x.npy', bench.make_data($n, $d, $m, np.random.default_rng()))"
export GMMC_CACHE_DIR="$dir/cache"
"$gmmc" fit "$dir/x.npy" -k "$m" --max-iter 2 --tol 0 --dtype float32 >/dev/null
ncu --clock-control none -k "regex:$re" -c 4 --section SpeedOfLight --section Occupancy \
  --section LaunchStats --section WarpStateStats --section ComputeWorkloadAnalysis \
  --section MemoryWorkloadAnalysis \
  "$gmmc" fit "$dir/x.npy" -k "$m" --max-iter 2 --tol 0 --dtype float32 2>&1 |
  grep -vE "^==PROF==|^ *-+ *-+" || true
rm -rf "$dir"
