#!/bin/sh
# `auto` against the fastest variant, unit by unit, at every point of the
# benchmark grid: gmmc bench's first fit tunes and caches the choice `auto`
# runs (its own measurements); the bench then times every variant again on
# the real buffers, and "ratio" = auto's time / the fastest's, both from
# that second measurement (a fresh cache per point):
#   tests/gpu/auto_check.sh [full|diag] [gmmc]
set -eu
cov=${1:-full} gmmc=${2:-gmmc}
here=$(cd "$(dirname "$0")" && pwd)
for s in N=100000,D=19,M=16 N=1000000,D=24,M=100 N=1000000,D=32,M=128 N=200000,D=64,M=64 \
         N=4000000,D=16,M=32 N=10000,D=8,M=8; do
  echo "--- $cov $s"
  GMMC_CACHE_DIR=$(mktemp -d) "$gmmc" bench "$cov" --sizes "$s" --iters 5 | awk -f "$here/auto_vs_best.awk"
done
