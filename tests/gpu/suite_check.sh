#!/bin/sh
# On a GPU host, with the binaries of tests/gpu/pack.sh: scikit-learn's own
# tests of GaussianMixture against the drop-in fitting on the GPU (the
# default and float32 configurations; tests/python/sklearn_suite.py).
set -u
out=${OUT:-/tmp/gmmc-suite-out}; mkdir -p "$out"; work=/tmp/gmmc-suite; mkdir -p "$work"
tar -C "$work" -xJf .carry/gpu.tar.xz
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_CACHE_DIR="$work/cache"
PYTHONPATH="$(pwd)/python" GMMC_LIBRARY="$work/libgmmc.so" timeout 300 python3 tests/python/sklearn_suite.py \
  --configs "${CONFIGS:-default,float32}" --check > "$out/suite.log" 2>&1
echo "rc=$?"; grep -v "(allowed)" "$out/suite.log" | tail -12
