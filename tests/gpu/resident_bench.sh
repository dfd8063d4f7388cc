#!/bin/sh
# Streaming on a GPU with the data resident against copying it chunk by
# chunk (GMMC_RESIDENT=0): the same fit, ms per iteration from `gmmc fit -v`.
#   tests/gpu/resident_bench.sh [N] [D] [M] [chunk] [cov]
# With the binaries of tests/gpu/pack.sh on the PATH (run from the checkout).
set -eu
n=${1:-10000000} d=${2:-32} m=${3:-64} chunk=${4:-2000000} cov=${5:-diag}
dir=$(mktemp -d)
python3 -c "
import sys, numpy as np; sys.path.insert(0, 'tests/bench'); import bench
np.save('$dir/x.npy', bench.make_data($n, $d, $m, np.random.default_rng(5)))"
export GMMC_CACHE_DIR="$dir/cache"
for mode in copied resident copied resident; do
  r=1; [ "$mode" = copied ] && r=0
  echo "--- N=$n D=$d M=$m $cov, chunks of $chunk events, data $mode"
  GMMC_RESIDENT=$r gmmc fit "$dir/x.npy" -k "$m" --covariance-type "$cov" --dtype float32 --init random_from_data \
    --max-iter 8 --tol 0 --chunk-events "$chunk" -v 2>&1 | grep -E "^ +[0-9]+ +-?[0-9]|lower bound" || true
done
rm -rf "$dir"
