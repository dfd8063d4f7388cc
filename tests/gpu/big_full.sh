#!/bin/sh
# On a GPU host, with the binaries of tests/gpu/pack.sh: Flash-GMM's full
# covariance workload (2e5 events x 128 features, 1024 components), a few
# float64 iterations: the launch shapes stay within the device's grid.
#   tests/gpu/big_full.sh [iterations] [dtype]
set -u
work=/tmp/gmmc-big; mkdir -p "$work"
tar -C "$work" -xJf .carry/gpu.tar.xz
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_CACHE_DIR="$work/cache"
python3 -c "
import sys, numpy as np; sys.path.insert(0, 'tests/bench'); import bench
np.save('$work/x.npy', bench.make_data(200000, 128, 1024, np.random.default_rng(1)))"
timeout 400 gmmc fit "$work/x.npy" -k 1024 --covariance-type full --dtype "${2:-float64}" --max-iter "${1:-2}" --tol 0 -v 2>&1 | tail -8
echo "rc=$?"
