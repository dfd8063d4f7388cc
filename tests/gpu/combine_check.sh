#!/bin/sh
# On a GPU host: gmmc bench's EM iteration of two builds at the small
# points, alternating, twice each, then test_gpu (every variant verified)
# and test_weights on the build under test. One device call, ~30 s warm.
#   .carry/gpu.tar.xz       the build under test (tests/gpu/pack.sh)
#   .carry/gpu_base.tar.xz  the build to compare with (an earlier pack)
set -u
cd "$(dirname "$0")/../.." || exit 1
for b in base new; do
  mkdir -p /tmp/gmmc-cc-$b
  f=.carry/gpu.tar.xz
  [ $b = base ] && f=.carry/gpu_base.tar.xz
  tar -C /tmp/gmmc-cc-$b -xJf $f || { echo "FAIL: no $f"; exit 1; }
done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for pt in full,10000,8,8 full,100000,16,19 diag,10000,8,8 diag,100000,16,19 kmeans,10000,8,8; do
  s=${pt%%,*} r=${pt#*,}
  n=${r%%,*} r=${r#*,}
  m=${r%%,*} d=${r#*,}
  for round in 1 2; do
    for b in base new; do
      w=/tmp/gmmc-cc-$b
      echo "$s $b N=$n M=$m D=$d: $(LD_LIBRARY_PATH=$w GMMC_CACHE_DIR=$w/cache timeout 60 $w/gmmc bench "$s" \
        --sizes "N=$n,M=$m,D=$d" --iters 100 2>&1 | grep 'EM iteration')"
    done
  done
done
w=/tmp/gmmc-cc-new
LD_LIBRARY_PATH=$w GMMC_CACHE_DIR=$w/cache-test GMMC_VERIFY_VARIANTS=1 timeout 150 $w/test_gpu 2>&1 | tail -1
LD_LIBRARY_PATH=$w GMMC_CACHE_DIR=$w/cache-test GMMC_TEST_BACKEND=cuda timeout 60 $w/test_weights 2>&1 | tail -1
