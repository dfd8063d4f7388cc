#!/bin/sh
# Many fits at once on a GPU host (issue 22, item 4), from tests/gpu/pack.sh's
# binaries (.carry/gpu.tar.xz: gmmc, libgmmc.so, test_fit_many) and the
# checkout's python/ package, in one device call (under 10 minutes on an H100):
#   check:  test_fit_many on the GPU (GMMC_TEST_BACKEND=cuda, float64): each
#           fit of a batch against the fit alone within the tolerance of sums
#           in another order, failures beside successes, n_init side by side
#           against one after another, the refusals;
#   cli:    gmmc fit --many on a directory of 8 .npy files on the GPU;
#   diarization: examples/python/diarization.py on the GPU;
#   bench:  tests/bench/fit_many_bench.py on the GPU: 64 fits of 2*10^4 x 19 x 16
#           full float32 (20 iterations each, tol 0) with fit_many, as 64
#           separate fits, one fit alone, scikit-learn's 64 fits on all host
#           cores (when python3 has scikit-learn), and n_init=10 against
#           n_init=1 at 10^5 x 19 x 16; then the same with GMMC_GRAPHS=0.
# Prints each part's status and the bench tables; logs and bench.json in $OUT.
set -u
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/gmmc-fit-many}; mkdir -p "$out"; work=/tmp/gmmc-fit-many; mkdir -p "$work"
tar -C "$work" -xJf .carry/gpu.tar.xz || { echo "FAIL: no .carry/gpu.tar.xz (run tests/gpu/pack.sh)"; exit 1; }
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_LIBRARY="$work/libgmmc.so" GMMC_CACHE_DIR="$work/cache" \
  PYTHONPATH="$PWD/python" PYTHONDONTWRITEBYTECODE=1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
rc=0
part() { # name, timeout, command... (FIT_MANY_PARTS="check cli ..." runs those only)
  name=$1 limit=$2; shift 2
  case " ${FIT_MANY_PARTS:-check cli diarization bench bench_nographs} " in *" $name "*) ;; *) return ;; esac
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  r=$?
  echo "== $name: rc=$r"
  [ $r -eq 0 ] || { rc=1; tail -n 25 "$out/$name.log"; }
}
part check 200 env GMMC_TEST_BACKEND=cuda test_fit_many
grep -E "FAIL|iterations, lower" "$out/check.log" | head -40
mkdir -p "$work/many" && python3 -c "
import numpy as np
r = np.random.default_rng(0)
for i in range(8):
    c = r.normal(scale=4, size=(16, 19))
    np.save('$work/many/s%d.npy' % i, (c[r.integers(16, size=20000)] + r.normal(size=(20000, 19))).astype(np.float32))
"
part cli 120 gmmc fit --many "$work/many" -k 16 --max-iter 20
tail -n 3 "$out/cli.log"
part diarization 120 python3 examples/python/diarization.py --device cuda
tail -n 1 "$out/diarization.log"
sk=""
python3 -c "import sklearn" 2>/dev/null && sk="--sklearn $(command -v python3)"
# shellcheck disable=SC2086
part bench 420 python3 -W ignore tests/bench/fit_many_bench.py --device cuda --repeat "${FIT_MANY_REPEAT:-3}" $sk --json "$out/bench.json"
cat "$out/bench.log"
part bench_nographs 240 env GMMC_GRAPHS=0 python3 -W ignore tests/bench/fit_many_bench.py --device cuda --repeat 2 \
  --skip separate,sklearn,n_init --json "$out/bench_nographs.json"
cat "$out/bench_nographs.log"
exit $rc
