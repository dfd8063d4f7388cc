#!/bin/sh
# A spec with once statements (tests/em/poisson_prior.yaml: a statistic of
# the data, the mean count of each feature, read by the M-step; a per-event
# once tensor read by the E-step) under mpirun: each rank computes its own
# events' per-event constants, and the statistic is all-reduced, so that 3
# ranks give the model of one process (test_mpi_fit compare: lower bounds
# within 1e-8, parameters within 1e-6). Streamed in chunks too.
# usage: once_fit.sh MPIEXEC GMMC TEST_MPI_FIT WRITER SPEC DIR [TIMEOUT]
set -u
MPIEXEC=$1 GMMC=$2 TOOL=$3 WRITER=$4 SPEC=$5 DIR=$6 TIMEOUT=${7:-}
LIMIT=${TIMEOUT:+$TIMEOUT 240}
fail() { echo "FAIL: $*"; exit 1; }
mkdir -p "$DIR/once" || fail "cannot make $DIR/once"
# the count data of the poisson test (its seed printed; GMMC_TEST_SEED replays)
"$WRITER" poisson "$DIR/once" | head -1
DATA=$DIR/once/mixture_poisson.npy
[ -f "$DATA" ] || fail "no data written"
ARGS="-k 3 --spec $SPEC --max-iter 15 --tol 0 --backend host --seed 5 --dtype float64"
"$GMMC" fit "$DATA" $ARGS -o "$DIR/once/one.yaml" > /dev/null || fail "gmmc fit without mpirun"
$LIMIT "$MPIEXEC" -np 3 "$GMMC" fit "$DATA" $ARGS -o "$DIR/once/three.yaml" > /dev/null || fail "mpirun -np 3 gmmc fit"
"$TOOL" compare "$DIR/once/one.yaml" "$DIR/once/three.yaml" || fail "3 ranks and one process differ"
GMMC_CHUNK_EVENTS=256 $LIMIT "$MPIEXEC" -np 2 "$GMMC" fit "$DATA" $ARGS -o "$DIR/once/two_streamed.yaml" > /dev/null ||
  fail "mpirun -np 2 gmmc fit, streamed"
"$TOOL" compare "$DIR/once/one.yaml" "$DIR/once/two_streamed.yaml" || fail "2 ranks streamed and one process differ"
echo "PASS"
