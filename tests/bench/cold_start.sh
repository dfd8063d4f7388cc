#!/bin/bash
# Cold starts of the host backend, two builds side by side:
#   tests/bench/cold_start.sh BASE_GMMC NEW_GMMC [ROUNDS]
# For each point, a cold fit (GMMC_CACHE=0) with each build, alternating:
# the "code generation" of the mixture and the k-means programs as
# GMMC_PROFILE prints it (the time until a program's first launch), the
# wall time of the whole command, and whether the two model files are the
# same bytes. Data: bench.py's mixture, float32, in a scratch folder.
set -eu
[ $# -ge 2 ] || { echo "usage: tests/bench/cold_start.sh BASE_GMMC NEW_GMMC [ROUNDS]" >&2; exit 2; }
base=$1 new=$2 rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 -c "
import sys, numpy as np; sys.path.insert(0, '$here'); import bench
for n, d, m in ((100000, 19, 16), (10000, 8, 8)):
    np.save('$dir/x_%d_%d_%d.npy' % (n, d, m), bench.make_data(n, d, m, np.random.default_rng(1)).astype(np.float32))"
for round in $(seq 1 "$rounds"); do
  for pt in "100000 19 16 full" "100000 19 16 diag" "10000 8 8 full"; do
    set -- $pt
    line="round $round: $1x$2x$3 $4:"
    for b in base new; do
      bin=$base
      [ $b = new ] && bin=$new
      t0=$(date +%s.%N)
      out=$(GMMC_CACHE=0 GMMC_PROFILE=1 "$bin" fit "$dir/x_$1_$2_$3.npy" -k "$3" --covariance-type "$4" --backend host \
        -o "$dir/model_$b.yaml" 2>&1)
      t1=$(date +%s.%N)
      gen=$(echo "$out" | sed -n 's/.*code generation \([0-9.]*\) ms.*/\1/p' | tr '\n' '+' | sed 's/+$//')
      line="$line $b first launch after [$gen] ms, wall $(echo "$t1 - $t0" | bc) s;"
    done
    cmp -s "$dir/model_base.yaml" "$dir/model_new.yaml" && line="$line same model" || line="$line MODELS DIFFER"
    echo "$line"
  done
done
