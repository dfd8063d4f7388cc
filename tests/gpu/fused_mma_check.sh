#!/bin/sh
# On a GPU host, with the binaries of tests/gpu/pack.sh: the fused kernels
# on the tensor cores (compiler/variants_fused_mma.c), under --precision
# 3xtf32, in one device call; logs in $OUT.
#   bench    gmmc bench diag (and kmeans) at 10^6·32·128 with GMMC_FUSE=auto:
#            every group alternative's ms a run beside the unfused units';
#   ncu      Nsight Compute on the fused kernels at 10^6·32·128 (not by default);
#   lb       the same fits (same data, same k-means start) with every
#            sequence unfused (GMMC_FUSE=0), fused (=1) and as the autotuner
#            picks (=auto): per-iteration lower bounds against the unfused
#            fit's, ms per iteration (median of iterations 3..);
#   profile  GMMC_PROFILE=1 per-kernel times of the fused fit at 10^6·32·128;
#   agree    scikit-learn agreement with every sequence fused (float32: the
#            FFMA fused kernels; the tensor-core ones need 3xtf32);
#   peers    with .carry/flash_gmm: tests/bench/peers_bench.py at 10^6·32·128
#            diag under GMMC_FUSE=auto, gmmc's default and 3xtf32 beside
#            Flash-GMM and the PyTorch EM.
#   FMMA_PARTS="lb profile agree peers" chooses the parts; FMMA_POINTS the
#   lb part's NxDxM:model points.
set -u
cd "$(dirname "$0")/../.." || exit 1
out=${OUT:-/tmp/gmmc-fmma-out}; mkdir -p "$out"; work=/tmp/gmmc-fmma; mkdir -p "$work"
tar -C "$work" -xJf .carry/gpu.tar.xz || { echo "FAIL: no .carry/gpu.tar.xz (run tests/gpu/pack.sh)"; exit 1; }
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_CACHE_DIR="$work/cache" PYTHONDONTWRITEBYTECODE=1
parts=${FMMA_PARTS:-bench lb profile agree peers}
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
has() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }
if has bench; then
  for spec in diag kmeans; do
    echo "== GMMC_FUSE=auto gmmc bench $spec --sizes N=1000000,M=128,D=32 --precision 3xtf32"
    GMMC_FUSE=auto timeout 150 gmmc bench $spec --sizes N=1000000,M=128,D=32 --iters 3 --precision 3xtf32 \
      > "$out/bench_$spec.log" 2>&1; echo "rc=$?"
    sed -n '/^unit/,$p' "$out/bench_$spec.log" | grep -vE " (simple|pruned)" | head -45
  done
fi
if has ncu; then
  ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  [ -n "$ncu" ] && GMMC_FUSE=1 timeout 200 "$ncu" --kernel-name "regex:fusedmma3xtf32_[0-9x]*_g[0-9]*$" --launch-count 3 \
    --clock-control none --section SpeedOfLight --section WarpStateStats --section LaunchStats --section Occupancy \
    gmmc bench diag --sizes N=1000000,M=128,D=32 --iters 1 --precision 3xtf32 > "$out/ncu.txt" 2>&1
  grep -E "fusedmma|Duration|Compute \(SM\) Throughput|Memory Throughput|Stall|Achieved Occupancy|Registers|Warp Cycles|Issue Slots" \
    "$out/ncu.txt" | head -60
fi
if has lb; then
  echo "== fused against unfused, --precision 3xtf32 (lower bounds relative to the unfused fit's; ms per iteration)"
  python3 - "$work" "$out" ${FMMA_POINTS:-1000000x32x128:gmm_diag 100000x19x16:gmm_diag 200000x64x64:gmm_diag 1000000x32x128:kmeans} <<'EOF'
import os, re, subprocess, sys, numpy as np
work, out, points = sys.argv[1], sys.argv[2], sys.argv[3:]
seed = int.from_bytes(os.urandom(4), "little")
print("seed", seed)
rng = np.random.default_rng(seed)
def fit(path, m, model, env):
    e = dict(os.environ, **env)
    cmd = ["gmmc", "fit", path, "-k", str(m), "--model", model, "--tol", "0", "--max-iter", "14", "--seed", "0",
           "--precision", "3xtf32", "-v"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=300)
    if p.returncode:
        return None, None, p.stderr.strip()[-300:]
    rows = re.findall(r"^\s+(\d+)\s+(\S+)\s+\S+\s+([0-9.]+)ms$", p.stdout, re.M)
    lb = [float(r[1]) for r in rows]
    ms = [float(r[2]) for r in rows]
    return lb, float(np.median(ms[2:])) if len(ms) > 3 else None, p.stdout
for pt in points:
    size, model = pt.split(":")
    n, d, m = map(int, size.split("x"))
    c = rng.normal(0, 4, (m, d))
    x = (c[rng.integers(0, m, n)] + rng.normal(0, 1, (n, d))).astype(np.float32)
    path = f"{work}/x_{n}_{d}_{m}.npy"
    np.save(path, x)
    res = {}
    for name, env in (("unfused", {"GMMC_FUSE": "0"}), ("fused", {"GMMC_FUSE": "1"}), ("auto", {"GMMC_FUSE": "auto"})):
        lb, ms, log = fit(path, m, model, env)
        open(f"{out}/lb_{n}_{d}_{m}_{model}_{name}.log", "w").write(log or "")
        res[name] = (lb, ms)
        if lb is None:
            print(f"{pt} {name}: FAILED {log}")
    base = res["unfused"][0]
    for name in ("unfused", "fused", "auto"):
        lb, ms = res[name]
        if lb is None or base is None:
            continue
        rel = max(abs(a - b) / max(abs(b), 1e-30) for a, b in zip(lb, base)) if len(lb) == len(base) else float("nan")
        print(f"{pt:24s} {name:8s} {ms if ms else float('nan'):9.3f} ms/iter  lb {lb[-1]:.9g}  max rel diff to unfused {rel:.2e}")
EOF
fi
if has profile; then
  echo "== GMMC_PROFILE=1, fused, 10^6·32·128 diag 3xtf32 (per-kernel ms)"
  x=$(ls "$work"/x_1000000_32_128.npy 2>/dev/null || true)
  if [ -n "$x" ]; then
    GMMC_FUSE=1 GMMC_PROFILE=1 timeout 120 gmmc fit "$x" -k 128 --model gmm_diag --tol 0 --max-iter 8 --seed 0 \
      --precision 3xtf32 -v > "$out/profile_fused.log" 2>&1
    grep -iE "fused|shift|coeff|combine|total|iteration" "$out/profile_fused.log" | head -40
    GMMC_FUSE=0 GMMC_PROFILE=1 timeout 120 gmmc fit "$x" -k 128 --model gmm_diag --tol 0 --max-iter 8 --seed 0 \
      --precision 3xtf32 -v > "$out/profile_unfused.log" 2>&1
    echo "-- unfused"; grep -vE "^\s+[0-9]+\s" "$out/profile_unfused.log" | grep -E "ms" | head -30
  fi
fi
if has agree; then
  python3 tests/em/make_fixtures.py "$work/fx" > "$out/fx.log" 2>&1
  echo "== agreement GMMC_FUSE=1"; GMMC_FUSE=1 GMMC_TEST_BACKEND=cuda timeout 150 test_sklearn_agreement "$work/fx" > "$out/agree1.log" 2>&1
  echo "rc=$?"; tail -1 "$out/agree1.log"
fi
if has peers && [ -d .carry/flash_gmm ]; then
  echo "== peers (Flash-GMM, PyTorch EM), gmmc default and 3xtf32, GMMC_FUSE=auto"
  GMMC_FUSE=auto timeout 200 python3 tests/bench/peers_bench.py --gmmc "$work/gmmc" --flash .carry/flash_gmm \
    --points 1000000x32x128:diag --also-precision 3xtf32 --json "$out/peers.json" 2>&1 | tee "$out/peers.txt"
fi
echo "== ptxas resource use (sm_90), the fused kernels at 10^6·32·128"
timeout 60 gmmc compile diag --sizes M=128,D=32 --precision 3xtf32 --fuse --emit ptx -o "$work/diag.ptx" &&
  command -v ptxas >/dev/null && ptxas -arch=sm_90 -v "$work/diag.ptx" -o /dev/null 2>&1 |
  grep -A2 "function 'gmm_diag_fusedmma3xtf32_[0-9x]*_g[0-9]*'" | grep -E "function|Used|spill" | tee "$out/ptxas.txt"
