#!/bin/sh
# One rank of `mpirun -np 2 gmmc fit` fails; every rank must exit non-zero,
# with that rank's message printed, before the time limit (no hang).
# usage: expect_fail.sh MPIEXEC GMMC TEST_MPI_FIT DIR TIMEOUT FAULT PATTERN
#   FAULT: GMMC_TEST_FAIL for the ranks ("1:load", "1:reduce:5"), or "nan":
#   a NaN in rank 1's rows of the data file
set -u
MPIEXEC=$1 GMMC=$2 TOOL=$3 DIR=$4 TIMEOUT=$5 FAULT=$6 PATTERN=$7
fail() { echo "FAIL: $*"; exit 1; }
DATA=$DIR/fail_data.npy
if [ "$FAULT" = nan ]; then
  DATA=$DIR/fail_nan.npy
  "$TOOL" write "$DATA" 14999 || fail "cannot write $DATA"
else
  "$TOOL" write "$DATA" || fail "cannot write $DATA"
  export GMMC_TEST_FAIL="$FAULT"
fi
# each rank reports its own exit status
out=$(${TIMEOUT:+$TIMEOUT 120} "$MPIEXEC" -np 2 sh -c \
  '"$0" fit "$1" -k 3 --backend host --max-iter 20; echo "gmmc exited with $? on rank ${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-?}}"' \
  "$GMMC" "$DATA" 2>&1)
rc=$?
echo "$out"
[ $rc -ne 124 ] || fail "timed out: a rank waits for the failed one"
[ "$(echo "$out" | grep -c 'gmmc exited with 1 on rank')" -eq 2 ] || fail "not every rank exited with status 1"
echo "$out" | grep -Eq "gmmc: error: $PATTERN" || fail "the error message does not match: $PATTERN"
[ "$(echo "$out" | grep -c 'gmmc: error:')" -eq 1 ] || fail "expected the error once (from rank 0)"
echo "PASS"
