#!/bin/sh
# `gmmc fit` alone and `mpirun -np 3 gmmc fit` on the same .npy file give the
# same model (lower bounds within 1e-8, parameters within 1e-6), and under
# mpirun rank 0 alone prints and writes the model; the same with 2 ranks on a
# .csv file (read by rank 0, rows scattered).
# usage: cli_fit.sh MPIEXEC GMMC TEST_MPI_FIT DIR [TIMEOUT]
set -u
MPIEXEC=$1 GMMC=$2 TOOL=$3 DIR=$4 TIMEOUT=${5:-}
LIMIT=${TIMEOUT:+$TIMEOUT 240}
DATA=$DIR/cli_data.npy
fail() { echo "FAIL: $*"; exit 1; }
"$TOOL" write "$DATA" || fail "cannot write $DATA"
ARGS="-k 3 --covariance-type full --max-iter 10 --tol 0 --backend host --seed 5"
rm -f "$DIR/cli_one.yaml" "$DIR/cli_three.yaml"
"$GMMC" fit "$DATA" $ARGS -o "$DIR/cli_one.yaml" || fail "gmmc fit without mpirun"
out=$($LIMIT "$MPIEXEC" -np 3 "$GMMC" fit "$DATA" $ARGS -v -o "$DIR/cli_three.yaml" 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] || fail "mpirun -np 3 gmmc fit exited with $rc"
[ "$(echo "$out" | grep -c '^gmmc fit:')" -eq 1 ] || fail "expected one summary line (rank 0 only)"
[ "$(echo "$out" | grep -c '^init 1')" -eq 1 ] || fail "expected one progress table (rank 0 only)"
echo "$out" | grep -q "20011 events x 4 features.*rank 0 of 3 MPI processes" || fail "the summary does not name all events and 3 ranks"
"$TOOL" compare "$DIR/cli_one.yaml" "$DIR/cli_three.yaml" || fail "the models differ"
# CSV: rank 0 parses it and scatters the rows
CSV=$DIR/cli_data.csv
"$TOOL" write "$CSV" || fail "cannot write $CSV"
"$GMMC" fit "$CSV" $ARGS -o "$DIR/cli_csv_one.yaml" > /dev/null || fail "gmmc fit CSV without mpirun"
$LIMIT "$MPIEXEC" -np 2 "$GMMC" fit "$CSV" $ARGS -o "$DIR/cli_csv_two.yaml" > /dev/null || fail "mpirun -np 2 gmmc fit CSV"
"$TOOL" compare "$DIR/cli_csv_one.yaml" "$DIR/cli_csv_two.yaml" || fail "the CSV models differ"
echo "PASS"
