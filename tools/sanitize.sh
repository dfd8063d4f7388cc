#!/bin/sh
# Memory and undefined-behaviour checks (docs/robustness.md).
#
#   tools/sanitize.sh [CTEST_ARGS...]   ASan + UBSan build (build-asan,
#                                        -DGMMC_SANITIZE=ON, with the fault
#                                        injection of -DGMMC_FAULT_INJECTION),
#                                        then the whole ctest suite under it
#   tools/sanitize.sh --valgrind         valgrind memcheck of `gmmc fit`,
#                                        `predict` and `score` on the host
#                                        backend (a normal build,
#                                        build-valgrind): no memory error and
#                                        no definite leak
#   tools/sanitize.sh --thread           ThreadSanitizer build (build-tsan,
#                                        -DGMMC_SANITIZE_THREAD=ON): contexts
#                                        fitting in threads at once and one
#                                        model shared by predicting threads
#                                        (robust_threads), no race report
#                                        (tools/tsan.supp: one inside LLVM)
#
# Environment: CC (default gcc; clang-19 works too), GMMC_ASAN_BUILD,
# GMMC_VALGRIND_BUILD, GMMC_TSAN_BUILD (build directories), JOBS (default nproc).
# Every leak and every UBSan report fails the run (detect_leaks=1,
# halt_on_error=1). tools/lsan.supp suppresses leaks inside LLVM's own
# libraries only (each entry is explained there); nothing of gmmc's.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${JOBS:-$(nproc)}
cc=${CC:-gcc}

if [ "${1:-}" = "--thread" ]; then
  build=${GMMC_TSAN_BUILD:-build-tsan}
  cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DGMMC_SANITIZE_THREAD=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j "$jobs" --target robust_threads >/dev/null
  TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:suppressions=$root/tools/tsan.supp}" \
    ctest --test-dir "$build" --output-on-failure -R '^robust_threads$'
  echo "sanitize.sh: ThreadSanitizer: no race in robust_threads"
  exit 0
fi

if [ "${1:-}" = "--valgrind" ]; then
  shift
  command -v valgrind >/dev/null || { echo "sanitize.sh: valgrind not found (apt-get install valgrind)" >&2; exit 2; }
  build=${GMMC_VALGRIND_BUILD:-build-valgrind}
  cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j "$jobs" --target gmmc_cli robust_make_data >/dev/null
  work=$(mktemp -d "${TMPDIR:-/tmp}/gmmc-valgrind-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  "$build/tests/robust/robust_make_data" "$work/blobs.npy" 20000 8 4 1 >/dev/null
  # vg NAME EXPECTED_STATUS ARGS...: gmmc ARGS under memcheck; 99 means
  # valgrind found a memory error or a definite leak
  vg() {
    name=$1
    want=$2
    shift 2
    log="$work/$name.log"
    echo "sanitize.sh: valgrind gmmc $*"
    start=$(date +%s)
    rc=0
    valgrind --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
      --error-exitcode=99 --track-origins=yes --num-callers=30 "$build/gmmc" "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne "$want" ]; then
      cat "$log" >&2
      echo "sanitize.sh: exit status $rc (expected $want; 99: memory errors or definite leaks): gmmc $*" >&2
      exit 1
    fi
    echo "  $(grep -h 'definitely lost:' "$log" | sed 's/^==[0-9]*== *//'); $(grep -h 'ERROR SUMMARY' "$log" |
      sed 's/^==[0-9]*== *//;s/ (suppressed.*//'); $(($(date +%s) - start)) s"
  }
  # 1. the example data, the kernel cache off: compilation, k-means
  #    initialisation and EM, model file written
  export GMMC_CACHE=0
  vg iris 0 fit examples/data/iris.csv -k 3 --backend host --threads 2 -o "$work/iris.yaml"
  # 2. a larger .npy (20000 x 8, memory-mapped), diagonal covariances, a
  #    fresh kernel cache written
  unset GMMC_CACHE
  export GMMC_CACHE_DIR="$work/cache"
  vg blobs 0 fit "$work/blobs.npy" -k 4 --covariance-type diag --backend host \
    --threads 2 --n-init 2 -o "$work/blobs.yaml"
  # 3. inference from the model file, kernels from that cache
  vg predict 0 predict --proba "$work/blobs.yaml" "$work/blobs.npy" --backend host \
    -o "$work/proba.npy"
  vg score 0 score "$work/iris.yaml" examples/data/iris.csv --backend host
  # 4. many fits at once (gmmc_fit_many, the runs as tasks of the threads,
  #    n_init side by side): a directory of .npy files, one too small (it
  #    fails, exit 1, the others' models written)
  mkdir -p "$work/many"
  for f in a:3000:1 b:2000:2 c:2:3; do
    "$build/tests/robust/robust_make_data" "$work/many/${f%%:*}.npy" "$(echo "$f" | cut -d: -f2)" 4 3 \
      "${f##*:}" >/dev/null
  done
  vg many 1 fit --many "$work/many" -k 3 --backend host --threads 2 --n-init 2
  # 5. an error path: bad data, everything released on the way out
  printf '1,2\n3,nan\n' >"$work/bad.csv"
  vg bad 1 fit "$work/bad.csv" --backend host
  echo "sanitize.sh: valgrind: no memory errors, no definite leaks"
  exit 0
fi

build=${GMMC_ASAN_BUILD:-build-asan}
# with the fault-injection hooks: robust_faults fails every allocation and
# file write of a fit in turn, and LeakSanitizer checks each run's cleanup
cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DGMMC_SANITIZE=ON -DGMMC_FAULT_INJECTION=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs"
base_asan="halt_on_error=1:abort_on_error=1:strict_string_checks=1:check_initialization_order=1"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tools/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
# 1. everything but the MPI and Python tests; the sanitized programs run
#    several times slower: generous per-test limits
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:$base_asan}" \
  ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 1800 -LE 'mpi|python' "$@" || status=1
# 2. MPI: Open MPI's own allocations at MPI_Init are never freed (suppressed
#    by library in tools/lsan.supp); its plugins stay loaded and stacks are
#    unwound fully so that the suppressions see those libraries
OMPI_MCA_mca_base_component_disable_dlclose=1 \
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0:$base_asan}" \
  ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 1800 -L mpi "$@" || status=1
# 3. Python loads the sanitized libgmmc.so: the ASan runtime must be loaded
#    first (LD_PRELOAD); the interpreter keeps its objects to the end, so
#    leaks are not checked here (memory errors and UBSan are)
case $("$cc" --version) in
  *clang*) asan_rt=$("$cc" -print-file-name=libclang_rt.asan-x86_64.so) ;;
  *) asan_rt=$("$cc" -print-file-name=libasan.so) ;;
esac
LD_PRELOAD="$asan_rt" ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:$base_asan}" \
  ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 1800 -L python "$@" || status=1
if [ $status -eq 0 ]; then
  echo "sanitize.sh: the ctest suite passed under ASan + UBSan ($cc)"
else
  echo "sanitize.sh: failures under ASan + UBSan ($cc): see above" >&2
fi
exit $status
