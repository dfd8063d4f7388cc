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
#   read:   the same 64 fits (fit_many_bench.py's data) with the joined rounds'
#           one wait for all runs' objectives and statuses against a read per
#           run (GMMC_FIT_MANY_READ=each): every lower bound and parameter
#           equal (relative 1e-12; exact ones counted), both timed, then
#           GMMC_PROFILE's round report of each ("reading objectives");
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
  case " ${FIT_MANY_PARTS:-check read cli diarization bench bench_nographs} " in *" $name "*) ;; *) return ;; esac
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  r=$?
  echo "== $name: rc=$r"
  [ $r -eq 0 ] || { rc=1; tail -n 25 "$out/$name.log"; }
}
part check 200 env GMMC_TEST_BACKEND=cuda test_fit_many
grep -E "FAIL|iterations, lower" "$out/check.log" | head -40
cat >"$work/read_check.py" <<'PY'
import os, sys, time
import numpy as np
sys.path.insert(0, "tests/bench")
from fit_many_bench import make_arrays
import gmmc
arrays = make_arrays(0, 64, 20000, 19, 16)
p = dict(n_components=16, covariance_type="full", tol=0, max_iter=20, random_state=0, device="cuda")
gmmc.fit_many(arrays, **p)  # compiles, tunes, fills the cache: the calls below take the same variants
def fit(read, profile=False):
    for k in ("GMMC_FIT_MANY_READ", "GMMC_PROFILE"):
        os.environ.pop(k, None)
    if read:
        os.environ["GMMC_FIT_MANY_READ"] = read
    if profile:
        os.environ["GMMC_PROFILE"] = "1"
    t0 = time.perf_counter()
    g = gmmc.fit_many(arrays, **p)
    return g, time.perf_counter() - t0
def differ(fa, fb):  # (largest relative difference, values equal, values)
    worst, exact, total = 0.0, 0, 0
    for a, b in zip(fa, fb):
        for x, y in [(a.lower_bounds_, b.lower_bounds_), (a.means_, b.means_), (a.covariances_, b.covariances_),
                     (a.weights_, b.weights_)]:
            x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
            assert x.shape == y.shape
            worst = max(worst, float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-300))))
            exact += int(np.sum(x == y)); total += x.size
    return worst, exact, total
each, t_each = fit("each")
once, t_once = fit(None)
again, t_again = fit(None)
worst, exact, total = differ(once, each)
print(f"read at once against a read per run: {len(once)} fits, {exact} of {total} values equal, "
      f"largest relative difference {worst:.3e}; {t_once:.3f} s against {t_each:.3f} s")
w2, e2, n2 = differ(again, once)
print(f"read at once, twice (the GPU's own run-to-run differences): {e2} of {n2} values equal, largest relative "
      f"difference {w2:.3e}; {t_again:.3f} s")
sys.stdout.flush()
print("GMMC_PROFILE, a read per run:", file=sys.stderr); sys.stderr.flush()
fit("each", profile=True)
print("GMMC_PROFILE, read at once:", file=sys.stderr); sys.stderr.flush()
fit(None, profile=True)
sys.exit(0 if worst <= 1e-12 else 1)
PY
part read 240 python3 -W ignore "$work/read_check.py"
grep -E "^read at once|^GMMC_PROFILE|gmmc profile: fit_many|Error|error" "$out/read.log"
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
