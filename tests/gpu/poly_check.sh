#!/bin/sh
# On a GPU host, with the binaries of tests/gpu/pack.sh: the polynomial sums
# on the tensor cores (compiler/variants_mma_poly.c) in one device call of
# under 8 minutes, logs in $OUT.
#   1. GMMC_VERIFY_VARIANTS=1 fits (every variant against the simple one on
#      the device) under --precision 3xtf32: diag in strips (20011·150·64),
#      diag at the seed's size (10^5·19·16), k-means;
#   2. gmmc bench diag at 10^6·32·128 and 10^6·128·1024 under 3xtf32 and
#      tf32: each E-step variant's time and what auto picks;
#   3. tests/gpu/mma_lb.py --cov diag: FFMA against the poly forms from one
#      start, lower bounds and ms per iteration, and far-from-origin data;
#   4. with .carry/flash_gmm: tests/bench/peers_bench.py at 10^6·32·128 and
#      10^6·128·1024 diag, gmmc's default and --precision 3xtf32 beside
#      Flash-GMM and the PyTorch EM.
#   POLY_PARTS="verify bench lb peers" chooses the parts.
set -u
cd "$(dirname "$0")/../.." || exit 1
out=${OUT:-/tmp/gmmc-poly-out}; mkdir -p "$out"; work=/tmp/gmmc-poly; mkdir -p "$work"
tar -C "$work" -xJf .carry/gpu.tar.xz || { echo "FAIL: no .carry/gpu.tar.xz (run tests/gpu/pack.sh)"; exit 1; }
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_CACHE_DIR="$work/cache" PYTHONDONTWRITEBYTECODE=1
parts=${POLY_PARTS:-verify bench lb peers}
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
has() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }
if has verify; then
  echo "== GMMC_VERIFY_VARIANTS=1 fits, tensor-core precisions"
  python3 - "$work" <<'EOF'
import sys, numpy as np
rng = np.random.default_rng(int.from_bytes(__import__("os").urandom(4), "little"))
w = sys.argv[1]
for n, d, m in ((20011, 150, 64), (100003, 19, 16)):
    c = rng.normal(0, 4, (m, d))
    x = c[rng.integers(0, m, n)] + rng.normal(0, 1, (n, d)) * rng.uniform(0.5, 2, (m, d))[rng.integers(0, m, n)]
    np.save(f"{w}/x_{n}_{d}.npy", x.astype(np.float32))
EOF
  # (not tf32: the check's 1e-4 is float32's; codegen_variants holds tf32 to its own bound)
  for run in "20011_150 64 gmm_diag 3xtf32" "100003_19 16 gmm_diag 3xtf32" "100003_19 16 kmeans 3xtf32"; do
    set -- $run
    GMMC_VERIFY_VARIANTS=1 timeout 120 gmmc fit "$work/x_$1.npy" -k "$2" --model "$3" --precision "$4" \
      --max-iter 5 --tol 0 -v > "$out/verify_$1_$3_$4.log" 2>&1
    echo "verify $1 M=$2 $3 $4: rc=$? $(grep -ci "disagree\|FAIL" "$out/verify_$1_$3_$4.log") disagreements; $(tail -n 1 "$out/verify_$1_$3_$4.log")"
  done
fi
if has bench; then
  for sz in ${POLY_SIZES:-N=1000000,M=128,D=32 N=1000000,M=1024,D=128}; do
    for pr in ${POLY_PRECISIONS:-3xtf32 tf32}; do
      echo "== gmmc bench diag $sz --precision $pr"
      log="$out/bench_$(echo "$sz" | tr -c "0-9a-zA-Z\n" _)_$pr.log"
      timeout 120 gmmc bench diag --sizes "$sz" --iters 3 --precision "$pr" > "$log" 2>&1; echo "rc=$?"
      awk '/^(L|means__s0|covariances__s0) /{p=1; print; next} p && /^[^ ]/{p=0} p' "$log" | head -40
      grep "EM iteration" "$log"
    done
  done
fi
if has lb; then
  echo "== FFMA against the poly forms (diag), ms per iteration and lower bounds"
  timeout 200 python3 tests/gpu/mma_lb.py "$work/gmmc" --cov diag --points 1000000x32x128,200000x64x64 --iters 12 \
    --out "$out" 2>&1 | tee "$out/mma_lb_diag.txt"
fi
if has peers && [ -d .carry/flash_gmm ]; then
  echo "== peers (Flash-GMM, PyTorch EM), gmmc default and 3xtf32"
  timeout 240 python3 tests/bench/peers_bench.py --gmmc "$work/gmmc" --flash .carry/flash_gmm \
    --points 1000000x32x128:diag,1000000x128x1024:diag --also-precision 3xtf32 --json "$out/peers.json" 2>&1 |
    tee "$out/peers.txt"
fi
echo "== ptxas resource use (sm_90)"
timeout 60 gmmc compile diag --sizes M=1024,D=128 --precision 3xtf32 --emit ptx -o "$work/diag.ptx" &&
  command -v ptxas >/dev/null && ptxas -arch=sm_90 -v "$work/diag.ptx" -o /dev/null 2>&1 |
  grep -A2 "for gmm_diag_L_mmapoly" | grep -E "for|Used" | tee "$out/ptxas.txt"
