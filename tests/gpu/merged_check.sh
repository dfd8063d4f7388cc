#!/bin/sh
# On a GPU host: the runs of units (compiler/merge_runs.h: small units
# merged into one-block kernels, variants_merged.c; independent units
# stacked, variants_stacked.c) against the build before them, at the
# launch-bound sizes, in one device call; logs in $OUT.
#   .carry/gpu.tar.xz       the build under test (tests/gpu/pack.sh)
#   .carry/gpu_base.tar.xz  the build to compare with (an earlier pack)
# Prints gmmc bench's EM iteration of both builds, alternating, twice each
# (CUDA graphs on, as fits run), the run units' alternatives as bench times
# them, and the launches per iteration of a fit (GMMC_PROFILE's counts of a
# 30- and a 20-iteration fit) with its final lower bound under both builds.
#   MERGED_POINTS="full:10000x8x8 ..." chooses the points (spec:NxDxM).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/gpu/two_builds.sh
unpack_builds base merged || exit 1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
points=${MERGED_POINTS:-full:10000x8x8 full:100000x19x16 diag:10000x8x8 diag:100000x19x16 kmeans:10000x8x8}
bench() { # build spec N D M iters
  LD_LIBRARY_PATH=/tmp/gmmc-$1 GMMC_CACHE_DIR=/tmp/gmmc-$1/cache timeout 120 /tmp/gmmc-$1/gmmc bench "$2" \
    --sizes "N=$3,M=$5,D=$4" --iters "$6" >"$out/bench_$1_$2_$3_$4_$5.log" 2>&1
  sed -n 's/^EM iteration: \([0-9.]*\) ms with the automatic choice.*/\1/p' "$out/bench_$1_$2_$3_$4_$5.log"
}
for pt in $points; do
  spec=${pt%%:*} size=${pt#*:}
  n=${size%%x*} rest=${size#*x} d=${rest%%x*} m=${rest#*x}
  iters=200
  [ "$n" -ge 100000 ] && iters=50
  line="$spec N=$n D=$d M=$m, ms per EM iteration (gmmc bench, $iters iterations):"
  for round in 1 2; do
    for b in base new; do line="$line $b $(bench $b "$spec" "$n" "$d" "$m" $iters)"; done
  done
  echo "$line"
  grep -E "^run[0-9]|^ +merged|^ +stacked|^ +unfused" "$out/bench_new_${spec}_${n}_${d}_${m}.log" | head -30
done
# kernel launches per iteration (graphs off: each kernel its own launch) and
# the lower bound, both builds (full and diag at 10^4.8.8)
python3 -c "
import numpy as np
rng = np.random.default_rng(1)
c = rng.normal(0, 4, (8, 8))
np.save('/tmp/gmmc-merged-x.npy', (c[rng.integers(0, 8, 10000)] + rng.normal(0, 1, (10000, 8))).astype(np.float32))"
for cov in full diag; do
  for b in base new; do
    for it in 20 30; do
      LD_LIBRARY_PATH=/tmp/gmmc-$b GMMC_CACHE_DIR=/tmp/gmmc-$b/cache GMMC_PROFILE=1 GMMC_GRAPHS=0 /tmp/gmmc-$b/gmmc fit \
        /tmp/gmmc-merged-x.npy -k 8 --covariance-type $cov --tol 0 --max-iter $it --init kmeans --seed 0 \
        --dtype float32 -v >"$out/fit_${b}_${cov}_$it.log" 2>"$out/fit_${b}_${cov}_$it.err"
    done
    l20=$(sed -n 's/.*cuda: \([0-9]*\) kernel launches, \([0-9]*\) graph launches.*/\1 \2/p' "$out/fit_${b}_${cov}_20.err")
    l30=$(sed -n 's/.*cuda: \([0-9]*\) kernel launches, \([0-9]*\) graph launches.*/\1 \2/p' "$out/fit_${b}_${cov}_30.err")
    lb=$(grep -E "^ +30 " "$out/fit_${b}_${cov}_30.log" | awk '{print $2}')
    echo "$cov 10^4.8.8 $b: launches (kernel, graph) after 20 iterations: $l20, after 30: $l30; lower bound at 30: $lb"
  done
done
