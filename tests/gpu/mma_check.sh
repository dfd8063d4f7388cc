#!/bin/sh
# On a GPU host, with the binaries of tests/gpu/pack.sh: the tensor-core
# E-step (issue 24) in one device call of under 8 minutes, logs in $OUT.
#   1. test_gpu with GMMC_VERIFY_VARIANTS=1: every variant of the default
#      precision against the simple one on the device (the tensor-core ones
#      only under --precision 3xtf32 or tf32: items 3 and 4);
#   2. scikit-learn agreement on the GPU (20 fixtures);
#   3. gmmc bench at 10^6 x 32 x 128 under --precision 3xtf32: each E-step
#      variant's time, the mma ones among them, and what auto picks;
#   4. tests/gpu/mma_lb.py at 10^6·32·128, 2·10^5·64·64, 10^6·24·100 (full,
#      float32): ms per iteration and the per-iteration lower bounds' largest
#      relative difference for FFMA only, mma-3xtf32 forced, auto and
#      mma-tf32 forced (--precision tf32), and far-from-origin data.
set -u
out=${OUT:-/tmp/gmmc-mma-out}; mkdir -p "$out"; work=/tmp/gmmc-mma; mkdir -p "$work"
tar -C "$work" -xJf .carry/gpu.tar.xz
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_CACHE_DIR="$work/cache"
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
echo "== test_gpu (GMMC_VERIFY_VARIANTS=1)"
GMMC_VERIFY_VARIANTS=1 timeout 200 test_gpu > "$out/test_gpu.log" 2>&1; echo "rc=$?"; tail -4 "$out/test_gpu.log"
grep -i "mma" "$out/test_gpu.log" | head -5
echo "== scikit-learn agreement on the GPU"
python3 tests/em/make_fixtures.py "$work/fx" > "$out/fx.log" 2>&1
GMMC_TEST_BACKEND=cuda timeout 90 test_sklearn_agreement "$work/fx" > "$out/agree.log" 2>&1; echo "rc=$?"
tail -1 "$out/agree.log"
echo "== gmmc bench full 10^6 x 32 x 128 (the E-step's variants)"
timeout 60 gmmc bench full --sizes N=1000000,M=128,D=32 --iters 5 --precision 3xtf32 > "$out/bench.log" 2>&1; echo "rc=$?"
awk '/^(L|covariances__s0) /{p=1; print; next} p && /^[^ ]/{p=0} p' "$out/bench.log" | head -40; grep "EM iteration" "$out/bench.log"
echo "== FFMA against tensor cores, ms per iteration and lower bounds"
timeout 150 python3 tests/gpu/mma_lb.py "$work/gmmc" --iters 12 --out "$out" 2>&1 | tee "$out/mma_lb.txt"
echo "== ptxas resource use of the mma kernels (sm_90)"
timeout 30 gmmc compile full --sizes M=128,D=32 --emit ptx -o "$work/full.ptx" && command -v ptxas >/dev/null &&
  ptxas -arch=sm_90 -v "$work/full.ptx" -o /dev/null 2>&1 | grep -A2 "for gmm_full_L_mma\|for gmm_full_covariances__s0_scattermma" | grep -E "for|Used" |
  tee "$out/ptxas.txt"
