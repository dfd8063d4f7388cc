#!/bin/sh
# On a GPU host: every kernel's duration in a tuned fit (Nsight Compute's
# gpu__time_duration, clocks left alone; each kernel alone on the GPU, so
# small kernels read a few microseconds longer than in a graph), summed up
# per kernel name by tests/gpu/kernel_times.py.
#   tests/gpu/kernel_times.sh [gmmc] [NxDxM ...]   (default: 10000x8x8 100000x19x16)
# The first fit tunes and caches; the second, 6 iterations, is profiled.
set -u
gmmc=${1:-gmmc}
[ $# -gt 0 ] && shift
points=${*:-10000x8x8 100000x19x16}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
for pt in $points; do
  n=${pt%%x*} r=${pt#*x} d=${r%%x*} m=${r#*x}
  python3 -c "
import sys, numpy as np; sys.path.insert(0, '$here/../bench'); import bench
np.save('$dir/x.npy', bench.make_data($n, $d, $m, np.random.default_rng(5)))"
  export GMMC_CACHE_DIR="$dir/cache_$pt"
  "$gmmc" fit "$dir/x.npy" -k "$m" --max-iter 3 --tol 0 --dtype float32 >/dev/null 2>&1
  ncu --clock-control none --metrics gpu__time_duration.sum,launch__grid_size,launch__block_size,launch__registers_per_thread \
    --csv "$gmmc" fit "$dir/x.npy" -k "$m" --max-iter 6 --tol 0 --dtype float32 >"$dir/ncu.csv" 2>/dev/null
  echo "== $pt (N x D x M), full covariance, float32"
  python3 "$here/kernel_times.py" "$dir/ncu.csv"
done
rm -rf "$dir"
