#!/bin/sh
# CUDA graphs off and on, on this machine's GPU (docs/architecture.md,
# "Graphs"):
#   tests/gpu/graphs.sh N D M [covariance type] [gmmc]
# Fits one random float32 mixture (k-means initialisation, --tol 0) with
# GMMC_GRAPHS=0 and 1, twice each, alternately, after one fit that compiles
# and tunes (the timed fits start from the cache). Prints the median of
# iterations 3.. of a 30-iteration fit, its final lower bound (the same
# kernels run either way) and the launches per EM iteration: GMMC_PROFILE's
# counts of a 30- and a 20-iteration fit, their difference over 10.
set -eu
n=$1 d=$2 m=$3 cov=${4:-full} gmmc=${5:-gmmc}
dir=$(mktemp -d)
here=$(cd "$(dirname "$0")/../bench" && pwd)
python3 -c "
import sys, numpy as np; sys.path.insert(0, '$here'); import bench
np.save('$dir/x.npy', bench.make_data($n, $d, $m, np.random.default_rng(1)))"
export GMMC_CACHE_DIR="$dir/cache" GMMC_PROFILE=1
fit() { # GMMC_GRAPHS, iterations
  GMMC_GRAPHS=$1 "$gmmc" fit "$dir/x.npy" -k "$m" --covariance-type "$cov" --tol 0 --max-iter "$2" --init kmeans \
    --seed 0 --dtype float32 -v >"$dir/out" 2>"$dir/err"
}
count() { sed -n "s/.*cuda: \([0-9]*\) kernel launches, \([0-9]*\) graph launches.*/\1 \2/p" "$dir/err"; }
fit 1 1
echo "N=$n D=$d M=$m $cov, $(grep -o 'NVIDIA[^)]*)' "$dir/out" | head -n 1)"
for _ in 1 2; do
  for g in 0 1; do
    fit "$g" 20
    short=$(count)
    fit "$g" 30
    long=$(count)
    ms=$(awk '$NF ~ /^[0-9.]+ms$/ && $1 ~ /^[0-9]+$/ && $1 >= 3 {sub("ms", "", $NF); print $NF}' "$dir/out" |
      sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    lb=$(sed -n 's/.*lower bound \([-0-9.e+]*\).*/\1/p' "$dir/out" | tail -n 1)
    per=$(echo "$short $long" | awk '{printf "%.1f kernel launches + %.1f graph launches", ($3 - $1) / 10, ($4 - $2) / 10}')
    echo "GMMC_GRAPHS=$g: $ms ms per iteration; lower bound $lb; per iteration $per; $(grep -o 'cuda: [0-9]* kernel launches.*' "$dir/err")"
  done
done
rm -rf "$dir"
