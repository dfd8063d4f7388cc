#!/bin/sh
# Runs every test that draws a seed (ctest label "seeded") over fresh seeds,
# at each CPU level of the host backend, and reports the failing seeds.
#
#   tools/soak.sh [-n SEEDS] [-l "LEVELS"] [-R REGEX] [-E REGEX] [-j JOBS] [BUILD_DIR]
#
#   -n SEEDS   fresh seeds per level (default 50), each printed
#   -l LEVELS  GMMC_HOST_CPU values (default "native"); e.g.
#              "x86-64-v2 x86-64-v3 native". Away from native only the tests
#              labelled host-cpu run: the others do not depend on the level.
#              A level this machine cannot run is reported and left out.
#   -R, -E     ctest's include / exclude regexes over the seeded tests
#   BUILD_DIR  a configured and built tree (default build-test)
#
# Prints one line per failure (level, seed, test) as it happens, then a table
# of tests x levels with the runs and the failing seeds; exits 1 when any
# run failed. Replay a failure with GMMC_TEST_SEED=SEED GMMC_HOST_CPU=LEVEL
# ctest --test-dir BUILD_DIR -R '^TEST$' --output-on-failure.
set -eu
cd "$(dirname "$0")/.."
seeds=50 levels=native include="" exclude="" jobs=$(nproc)
while getopts n:l:R:E:j: opt; do
  case $opt in
  n) seeds=$OPTARG ;;
  l) levels=$OPTARG ;;
  R) include=$OPTARG ;;
  E) exclude=$OPTARG ;;
  j) jobs=$OPTARG ;;
  *) sed -n '2,20s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
build=${1:-build-test}
[ -f "$build/CTestTestfile.cmake" ] || { echo "soak: $build is not a built tree (run tools/test.sh first)" >&2; exit 2; }
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
# the *_v2/_v3 entries pin a level of their own: the soak sets the level
exclude=${exclude:+$exclude|}'_v[0-9]+$'
fresh_seed() { od -An -N4 -tu4 /dev/urandom | tr -d ' '; }
for level in $levels; do
  label=seeded
  [ "$level" = native ] || label=host-cpu
  # can this machine run the level? (a host context refuses what it cannot)
  if ! why=$(GMMC_CACHE=0 GMMC_BACKEND=host GMMC_HOST_CPU=$level "$build/gmmc" fit examples/data/iris.csv \
      -k 2 --max-iter 1 -o "$log/probe.yaml" 2>&1); then
    case $why in *"unknown host CPU"*) echo "soak: $why" >&2; exit 2 ;; esac
    echo "soak: level $level left out: $why" >&2
    continue
  fi
  i=0
  while [ "$i" -lt "$seeds" ]; do
    i=$((i + 1))
    seed=$(fresh_seed)
    out="$log/run.txt"
    GMMC_TEST_SEED=$seed GMMC_HOST_CPU=$level ctest --test-dir "$build" -L "^$label\$" ${include:+-R "$include"} -E "$exclude" -j "$jobs" \
      --output-on-failure >"$out" 2>&1 || true
    grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$out" | sed -E 's/^.*Test +#[0-9]+: ([^ ]+) .*(Passed|Failed|Skipped|Not Run|\*\*\*[A-Za-z]+).*$/\1 \2/' |
      while read -r test status; do
        echo "$level $seed $test $status" >>"$log/results"
        case $status in Passed | *Skipped*) ;; *) echo "FAIL  level $level  seed $seed  $test ($status)" ;; esac
      done
    printf '%s: seed %d of %d (%s) done\n' "$level" "$i" "$seeds" "$seed" >&2
  done
done
[ -s "$log/results" ] || { echo "soak: no test ran" >&2; exit 2; }
echo
echo "soak: $seeds fresh seeds per level; runs (failures) per test and level"
awk '
  { key = $3 SUBSEP $1; runs[key]++; tests[$3]; lv[$1]
    if ($4 ~ /Skipped/) skipped[key]++
    else if ($4 != "Passed") { fails[key]++; seedsof[key] = seedsof[key] " " $2; bad++ } }
  END {
    nl = 0; for (l in lv) order[++nl] = l
    printf "%-28s", "test"; for (i = 1; i <= nl; i++) printf " %-18s", order[i]; printf "\n"
    for (t in tests) {
      printf "%-28s", t
      for (i = 1; i <= nl; i++) {
        k = t SUBSEP order[i]
        if (!(k in runs)) cell = "-"
        else if (skipped[k] == runs[k]) cell = sprintf("%d skipped", runs[k])
        else cell = sprintf("%d (%d)", runs[k], fails[k] + 0)
        printf " %-18s", cell
      }
      printf "\n"
    }
    for (k in seedsof) { split(k, p, SUBSEP); printf "failing seeds of %s at %s:%s\n", p[1], p[2], seedsof[k] }
    printf "failures: %d\n", bad + 0
    exit bad > 0
  }' "$log/results"
