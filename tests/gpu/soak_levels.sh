#!/bin/sh
# On a many-core machine without LLVM 19 (the device machine's CPUs): the
# host-level part of tools/soak.sh for the two tests CI runs at every level,
# from the binaries tests/gpu/pack.sh made. Every x86-64 level the machine
# runs, and its native CPU; fresh seeds, as many runs at once as it has cores.
#   tests/gpu/soak_levels.sh [STREAM_SEEDS [AGREEMENT_SEEDS]]   (200, 50)
# SOAK_LEVELS="x86-64-v3 native" restricts the levels.
# One line per failure, then runs and failures per test and level.
set -u
cd "$(dirname "$0")/../.."
stream_seeds=${1:-200} agree_seeds=${2:-50}
# a folder of its own: unpacking over binaries that another soak is running
# kills those runs with SIGBUS
work=$(mktemp -d /tmp/gmmc-soak.XXXXXX)
trap 'rm -rf "$work"' EXIT
out=${OUT:-/tmp/gmmc-soak-out}
mkdir -p "$work" "$out"
tar -C "$work" -xJf .carry/gpu.tar.xz || exit 1
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_BACKEND=host
py=""
for p in /usr/bin/python3 python3; do # the first with scikit-learn (make_fixtures.py)
  if [ -z "$py" ] && "$p" -c "import sklearn" 2>/dev/null; then py=$(command -v "$p"); fi
done
[ -n "$py" ] || { echo "soak_levels: no python3 with scikit-learn"; exit 1; }
levels=""
for l in ${SOAK_LEVELS:-x86-64 x86-64-v2 x86-64-v3 x86-64-v4 native}; do
  if GMMC_CACHE=0 GMMC_HOST_CPU=$l gmmc fit examples/data/iris.csv -k 2 --max-iter 1 -o "$work/p.yaml" >/dev/null 2>&1
  then levels="$levels $l"; else echo "level $l: this machine cannot run it"; fi
done
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); levels:$levels; $(nproc) cores"
jobs=$work/jobs
# seeds outermost, so that a run cut short has covered every level alike
fresh() { od -An -N4 -tu4 /dev/urandom | tr -d ' '; }
i=0
while [ $i -lt "$stream_seeds" ] || [ $i -lt "$agree_seeds" ]; do
  for l in $levels; do
    [ $i -lt "$stream_seeds" ] && echo "stream $l $(fresh)"
    [ $i -lt "$agree_seeds" ] && echo "agree $l $(fresh)"
  done
  i=$((i + 1))
done >"$jobs"
# one job: "test level seed" -> "test level seed status"; a failure's log
# is kept under $OUT. Runs of a level share a kernel cache: the first
# compiles, the rest load.
export work out py
# each job pinned to its own core (xargs' slot), so that its thread pool is
# one thread (pool_cpus: the affinity mask) instead of one per core per job
pin=""
command -v taskset >/dev/null && pin=1
export pin
xargs -P "$(nproc)" --process-slot-var=SLOT -L 1 sh -c 'run_one() { d=$work/run-$1-$2-$3; mkdir -p "$d"; export GMMC_CACHE_DIR=$work/cache-$2 GMMC_HOST_CPU=$2 GMMC_TEST_SEED=$3;
  if [ -n "$pin" ]; then taskset -pc "$SLOT" $$ >/dev/null; fi
  if [ "$1" = stream ]; then test_stream >"$d/log" 2>&1; else "$py" tests/em/make_fixtures.py "$d/fx" "$3" >"$d/log" 2>&1 && test_sklearn_agreement "$d/fx" >>"$d/log" 2>&1; fi
  rc=$?; if [ $rc -eq 0 ]; then st=passed; else st="FAILED($rc)"; cp "$d/log" "$out/fail-$1-$2-$3.log"; fi
  echo "$1 $2 $3 $st"; rm -rf "$d"; }; run_one "$@"' sh <"$jobs" >"$out/results.txt"
grep FAILED "$out/results.txt"
awk '{ k = $1 " " $2; n[k]++; if ($4 != "passed") f[k]++ } END { for (k in n) printf "%-28s %4d runs, %d failed\n", k, n[k], f[k] }' \
  "$out/results.txt" | sort | tee "$out/soak_levels.txt"
! grep -q FAILED "$out/results.txt"
