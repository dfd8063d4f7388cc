#!/bin/sh
# On a GPU host, with the binaries of tests/gpu/pack.sh: fusion groups fused
# against unfused (GMMC_FUSE, docs/performance.md), the scikit-learn
# agreement with every sequence fused, the GPU tests, CUDA graphs on and off.
set -u
out=${OUT:-/tmp/gmmc-fuse-out}; mkdir -p "$out"; work=/tmp/gmmc-fuse; mkdir -p "$work"
tar -C "$work" -xJf .carry/gpu.tar.xz
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_CACHE_DIR="$work/cache"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
echo "== test_gpu"; GMMC_VERIFY_VARIANTS=1 timeout 200 test_gpu > "$out/test_gpu.log" 2>&1; echo "rc=$?"; tail -4 "$out/test_gpu.log"
python3 tests/em/make_fixtures.py "$work/fx" > "$out/fx.log" 2>&1
for f in 0 1; do
  echo "== agreement GMMC_FUSE=$f"; GMMC_FUSE=$f GMMC_TEST_BACKEND=cuda timeout 150 test_sklearn_agreement "$work/fx" > "$out/agree$f.log" 2>&1
  echo "rc=$?"; tail -1 "$out/agree$f.log"
done
echo "== fused (new) against unfused (base)"
timeout 200 python3 tests/bench/compare.py --base "$work/gmmc" --new "$work/gmmc" --base-env GMMC_FUSE=0 \
  --new-env GMMC_FUSE=1 --grid "${GRID:-full}" --rounds 1 --iters 12 --out "$out" 2>&1 | tail -14
echo "== graphs"
sh tests/gpu/graphs.sh 100000 19 16 full "$work/gmmc" 2>&1 | tail -5
sh tests/gpu/graphs.sh 10000 8 8 full "$work/gmmc" 2>&1 | tail -5
