#!/bin/sh
# The host backend's scaling with threads: ms per EM iteration (median of
# iterations 3..max of `gmmc fit --backend host -v`) at 1, 2, 4, ... up to
# the CPUs this process may use, full and diag, float32, on random mixture
# data (docs/performance.md). Needs python3 with NumPy for the data
# (PYTHON=... to choose one).
#   tests/bench/host_scaling.sh GMMC [N D M]     (default 1000000 16 8)
set -eu
gmmc=$1
n=${2:-1000000}
d=${3:-16}
m=${4:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# bench.py's mixture data, float32
"${PYTHON:-python3}" - "$work/x.npy" "$n" "$d" "$m" "$(dirname "$0")" <<'PY'
import os, sys
import numpy as np
path, n, d, m, here = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
sys.path.insert(0, here)
import bench
np.save(path, bench.make_data(n, d, m, np.random.default_rng(int.from_bytes(os.urandom(4), "little"))))
PY
cpus=$(nproc)
printf "%8s %5s %6s %10s %8s\n" N_D_M cov threads ms/iter speedup
for cov in full diag; do
  base=""
  t=1
  while [ "$t" -le "$cpus" ]; do
    ms=$(GMMC_CACHE_DIR="$work/cache" "$gmmc" fit "$work/x.npy" -k "$m" --covariance-type $cov --tol 0 --max-iter 12 \
         --init kmeans --seed 0 --backend host --threads "$t" -v 2>/dev/null |
         awk '/^ +[0-9]+ +[-0-9.e+]+ +[-0-9.e+na]+ +[0-9.]+ms$/ {sub("ms", "", $4); if (++i > 2) print $4}' |
         sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
    [ -z "$base" ] && base=$ms
    printf "%8s %5s %6d %10.2f %8.2f\n" "${n}_${d}_${m}" $cov "$t" "$ms" "$(awk -v a="$base" -v b="$ms" 'BEGIN {print a / b}')"
    t=$((t * 2))
  done
done
