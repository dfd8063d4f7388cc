#!/bin/sh
set -u
out=${OUT:-/tmp/of}; mkdir -p "$out"; work=/tmp/gmmc-fuse; mkdir -p "$work"
tar -C "$work" -xJf .carry/gpu.tar.xz
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_CACHE_DIR="$work/cache"
echo "== test_gpu"; GMMC_VERIFY_VARIANTS=1 timeout 200 test_gpu > "$out/test_gpu.log" 2>&1; echo "rc=$?"; tail -1 "$out/test_gpu.log"
python3 tests/em/make_fixtures.py "$work/fx" > "$out/fx.log" 2>&1
for f in 0 1; do echo "== agreement GMMC_FUSE=$f"; GMMC_FUSE=$f GMMC_TEST_BACKEND=cuda timeout 150 test_sklearn_agreement "$work/fx" > "$out/agree$f.log" 2>&1; echo "rc=$?"; tail -1 "$out/agree$f.log"; done
echo "== suite"; sh tests/gpu/suite_check.sh 2>&1 | tail -3
echo "== fused vs unfused"; timeout 200 python3 tests/bench/compare.py --base "$work/gmmc" --new "$work/gmmc" --base-env GMMC_FUSE=0 --new-env GMMC_FUSE=1 --grid full --rounds 1 --iters 10 --out "$out" 2>&1 | tail -14
echo "== cache-hit start profile"; python3 -c "
import sys,numpy as np; sys.path.insert(0,'tests/bench'); import bench
np.save('/tmp/x.npy', bench.make_data(100000,19,16,np.random.default_rng(1)))"
gmmc fit /tmp/x.npy -k 16 --max-iter 3 > /dev/null 2>&1
GMMC_PROFILE=1 gmmc fit /tmp/x.npy -k 16 --max-iter 3 -v 2>&1 | grep -iE "profile|compile|load|cache" | head -20
