#!/bin/sh
# On a GPU host: the build under test (.carry/gpu.tar.xz, tests/gpu/pack.sh)
# against an earlier one (.carry/gpu_base.tar.xz) where the scatters' staging
# and the stacked runs matter: gmmc bench's EM iteration of both, alternating,
# twice each, with the new build's runs and scatter alternatives as bench
# times them; test_gpu with every variant checked on the device
# (GMMC_VERIFY_VARIANTS=1); the kernels of a 10^5.19.16 full fit
# (kernel_times.sh); Nsight Compute's view of its scatter and E-step.
set -u
cd "$(dirname "$0")/../.." || exit 1
OUT=${OUT:-/tmp/o}; export OUT
. tests/gpu/two_builds.sh
unpack_builds base q || exit 1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for pt in full:10000:8:8 diag:10000:8:8 full:100000:19:16 diag:100000:19:16 full:1000000:32:128 full:200000:64:64; do
  IFS=: read s n d m <<X
$pt
X
  it=100; [ $n -ge 1000000 ] && it=10; [ $n -eq 200000 ] && it=20
  line="$s N=$n D=$d M=$m:"
  for round in 1 2; do
    for b in base new; do
      w=/tmp/gmmc-$b
      LD_LIBRARY_PATH=$w GMMC_CACHE_DIR=$w/cache timeout 100 $w/gmmc bench "$s" --sizes "N=$n,M=$m,D=$d" --iters $it >$out/b_${b}_${s}_${n}.log 2>&1
      line="$line $b $(sed -n 's/^EM iteration: \([0-9.]*\) ms with the automatic choice.*/\1/p' $out/b_${b}_${s}_${n}.log)"
    done
  done
  echo "$line"
  grep -E "^run[0-9]|^ +stacked|^ +unfused|scatter|^covariances" $out/b_new_${s}_${n}.log | head -12
done
# the tensor-core scatters (asked for): both builds at 10^6.32.128 under 3xtf32
for b in base new; do
  w=/tmp/gmmc-$b
  LD_LIBRARY_PATH=$w GMMC_CACHE_DIR=$w/cache timeout 120 $w/gmmc bench full --sizes "N=1000000,M=128,D=32" --iters 10 \
    --precision 3xtf32 >$out/b_${b}_3x.log 2>&1
  echo "full 10^6.32.128 3xtf32 $b: $(sed -n 's/^EM iteration: \([0-9.]*\) ms with the automatic choice.*/\1/p' $out/b_${b}_3x.log)"
done
grep -E "scatter|^covariances" $out/b_new_3x.log | head -14
w=/tmp/gmmc-new
LD_LIBRARY_PATH=$w GMMC_CACHE_DIR=$w/cache-test GMMC_VERIFY_VARIANTS=1 timeout 150 $w/test_gpu 2>&1 | tail -3
export LD_LIBRARY_PATH=$w
timeout 90 sh tests/gpu/kernel_times.sh $w/gmmc 100000x19x16 2>&1 | tail -25
# what limits the chosen scatter at 10^5.19.16, one launch (the cache from a first fit: no tuning launches)
d=$(mktemp -d)
python3 -c "
import sys, numpy as np; sys.path.insert(0, 'tests/bench'); import bench
np.save('$d/x.npy', bench.make_data(100000, 19, 16, np.random.default_rng(5)))"
export GMMC_CACHE_DIR=$d/c
$w/gmmc fit $d/x.npy -k 16 --max-iter 3 --tol 0 --dtype float32 >/dev/null 2>&1
timeout 100 ncu --clock-control none -k 'regex:scatterwide|_L_' --launch-skip 2 --launch-count 2 \
  --section SpeedOfLight --section Occupancy --section WarpStateStats --section MemoryWorkloadAnalysis --section LaunchStats \
  $w/gmmc fit $d/x.npy -k 16 --max-iter 6 --tol 0 --dtype float32 2>&1 | grep -E "gmm_full|Duration|Throughput|Registers|Achieved Occupancy|Theoretical Occupancy|Stall|Warp Cycles Per Issued|Issued Warp|Block Limit|DRAM|Mem Busy|Max Bandwidth|Grid Size|Waves" | head -60
