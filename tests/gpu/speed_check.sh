#!/bin/sh
# A session's GPU timings in one device call (tests/gpu/pack.sh's binaries in
# .carry/gpu.tar.xz, Flash-GMM's kernels in .carry/flash_gmm): parts run one
# after another (they time the GPU), each under its own timeout, logs in $OUT.
#   bench_full   gmmc bench full at 10^6 x 32 x 128 under --precision 3xtf32: each
#                variant's time, the tensor-core ones among them, auto's pick
#   mma_lb       tests/gpu/mma_lb.py: FFMA, 3xtf32, auto and tf32 fits, ms and bounds
#   peers        tests/bench/peers_bench.py: gmmc, Flash-GMM and a PyTorch EM
#   bench_bern   gmmc bench bernoulli at 10^6 x 32 x 64 (issue 20's target point),
#                fusion groups among the alternatives (GMMC_FUSE=1)
#   bench_diag   gmmc bench diag at 10^6 x 32 x 128, fusion groups among them
#   mixtures     tests/bench/mixtures_bench.py: bernoulli, poisson, multinomial
#                against PyTorch at 10^6 x 32 x 64, unfused and with GMMC_FUSE=auto
# SPEED_PARTS="bench_full mma_lb peers bench_bern bench_diag mixtures" chooses the parts.
set -u
cd "$(dirname "$0")/../.." || exit 1
out=${OUT:-/tmp/gmmc-speed}; mkdir -p "$out"; work=/tmp/gmmc-speed; mkdir -p "$work"
tar -C "$work" -xJf .carry/gpu.tar.xz || { echo "FAIL: no .carry/gpu.tar.xz (run tests/gpu/pack.sh)"; exit 1; }
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_CACHE_DIR="$work/cache" PYTHONDONTWRITEBYTECODE=1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
part() { # name, seconds, command...
  name=$1 secs=$2; shift 2
  case " ${SPEED_PARTS:-bench_full mma_lb peers bench_bern bench_diag mixtures} " in *" $name "*) ;; *) return 1 ;; esac
  echo "== $name"
  timeout "$secs" "$@" >"$out/$name.log" 2>&1
  echo "rc=$?"
}
part bench_full 90 gmmc bench full --sizes N=1000000,M=128,D=32 --iters 5 --precision 3xtf32
awk '/^(L|covariances__s0) /{p=1; print; next} p && /^[^ ]/{p=0} p' "$out/bench_full.log" 2>/dev/null | head -40
grep "EM iteration" "$out/bench_full.log" 2>/dev/null
part mma_lb 200 python3 tests/gpu/mma_lb.py "$work/gmmc" --iters 12 --out "$out"
cat "$out/mma_lb.log" 2>/dev/null
part peers 300 python3 -W ignore tests/bench/peers_bench.py --gmmc "$work/gmmc" --flash .carry/flash_gmm --json "$out/peers.json"
cat "$out/peers.log" 2>/dev/null
python3 -c "
import numpy as np; r = np.random.default_rng(1); p = r.uniform(0.05, 0.95, (64, 32))
np.save('$work/bern.npy', (r.random((1000000, 32)) < p[r.integers(64, size=1000000)]).astype(np.uint8))"
part bench_bern 120 env GMMC_FUSE=1 gmmc bench bernoulli "$work/bern.npy" -k 64 --iters 5 && cat "$out/bench_bern.log" | head -80
part bench_diag 120 env GMMC_FUSE=1 gmmc bench diag --sizes N=1000000,M=128,D=32 --iters 5 && cat "$out/bench_diag.log" | head -80
part mixtures 240 sh -c "python3 tests/bench/mixtures_bench.py --gmmc '$work/gmmc' --out '$work' | tail -5; \
  GMMC_FUSE=auto python3 tests/bench/mixtures_bench.py --gmmc '$work/gmmc' --out '$work' | tail -5" &&
  cat "$out/mixtures.log"
