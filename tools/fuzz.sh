#!/bin/sh
# Builds the libFuzzer targets (tests/fuzz) and runs each for a bounded time;
# fails if any of them finds a crash, a leak, undefined behaviour, a broken
# property, a timeout (an input taking over 10 s) or an out-of-memory.
#
#   tools/fuzz.sh [SECONDS [TARGET...]]
#
# SECONDS per target (default 60); TARGETs among spec npy csv model (default
# all, one after the other). The build is build-fuzz (clang-19, GMMC_FUZZ=ON:
# ASan + UBSan + libFuzzer coverage); the corpus each run grows is kept in
# build-fuzz/corpus/TARGET and seeded from the committed seeds
# (tests/fuzz/corpus/TARGET, tests/robust/regressions/TARGET and, for specs,
# dsl/specs, tests/robust/specs and tests/front/bad). A finding is written to
# build-fuzz/findings/TARGET/; to keep it as a regression test, copy it into
# tests/robust/regressions/TARGET/ (replayed by ctest: robust_replay_TARGET).
# Environment: CC (default clang-19), GMMC_FUZZ_BUILD (default build-fuzz),
# FUZZ_JOBS (targets run at once; default 1).
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-spec npy csv model}
build=${GMMC_FUZZ_BUILD:-build-fuzz}
cc=${CC:-clang-19}
jobs=${FUZZ_JOBS:-1}

if ! command -v "$cc" >/dev/null 2>&1; then
  echo "fuzz.sh: $cc not found (libFuzzer needs clang; apt-get install clang-19 libclang-rt-19-dev)" >&2
  exit 2
fi
cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DGMMC_FUZZ=ON -DGMMC_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
for t in $targets; do
  cmake --build "$build" -j "$(nproc)" --target "fuzz_$t" >/dev/null
done

# leaks are findings; UBSan stops at the first report with a stack
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export GMMC_CACHE=0

max_len() {
  case $1 in
    spec) echo 8192 ;;
    model) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

run_one() {
  t=$1
  corpus="$build/corpus/$t"
  findings="$build/findings/$t"
  mkdir -p "$corpus" "$findings"
  seeds=""
  candidates="tests/fuzz/corpus/$t tests/robust/regressions/$t"
  [ "$t" = spec ] && candidates="$candidates dsl/specs tests/robust/specs tests/front/bad"
  for d in $candidates; do
    [ -d "$d" ] && seeds="$seeds $d"
  done
  log="$build/fuzz-$t.log"
  echo "fuzz.sh: $t for ${secs}s (log: $log)"
  # shellcheck disable=SC2086  # $seeds is a list of directories
  if "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -max_len="$(max_len "$t")" -dict="tests/fuzz/dict/$t.dict" -artifact_prefix="$findings/" \
      -print_final_stats=1 "$corpus" $seeds >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz.sh: $t: ${runs:-?} executions, corpus $(ls "$corpus" | wc -l) inputs, no finding"
    return 0
  fi
  echo "fuzz.sh: $t: FINDING (the end of $log follows; the input is in $findings/)" >&2
  tail -n 60 "$log" >&2
  return 1
}

status=0
if [ "$jobs" -le 1 ]; then
  for t in $targets; do run_one "$t" || status=1; done
else
  pids=""
  for t in $targets; do
    run_one "$t" &
    pids="$pids $!"
    while [ "$(jobs -p | wc -l)" -ge "$jobs" ]; do sleep 1; done
  done
  for p in $pids; do wait "$p" || status=1; done
fi
[ $status -eq 0 ] && echo "fuzz.sh: no findings" || echo "fuzz.sh: findings above; see docs/robustness.md" >&2
exit $status
