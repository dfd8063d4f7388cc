#!/bin/sh
# gmmc fit --precision: float32, 3xtf32, tf32 and float64-stats are accepted
# (on the host 3xtf32 and tf32 change nothing: the same model file), bf16 is refused with its reason and
# anything else with the choices, each exiting non-zero. Fixed data: the
# option's handling, not the fit, is under test.
# Usage: test_precision_option.sh GMMC PYTHON
set -u
gmmc=$1 python=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/gmmc-precision-XXXXXX")
trap 'rm -rf "$dir"' EXIT
fail=0
"$python" -c "
import numpy as np, sys
r = np.random.default_rng(7)
np.save(sys.argv[1] + '/x.npy', np.concatenate([r.normal(0, 1, (200, 3)), r.normal(6, 1, (200, 3))]).astype(np.float32))
" "$dir" || exit 1
for p in float32 3xtf32 tf32 float64-stats; do
  if ! "$gmmc" fit "$dir/x.npy" -k 2 --backend host --precision $p -o "$dir/$p.yaml" > "$dir/out" 2>&1; then
    echo "FAIL: gmmc fit --precision $p:"; cat "$dir/out"; fail=1
  fi
done
for p in 3xtf32 tf32; do
  cmp -s "$dir/float32.yaml" "$dir/$p.yaml" || { echo "FAIL: on the host --precision $p changed the model"; fail=1; }
done
expect_error() { # message, precision
  if "$gmmc" fit "$dir/x.npy" -k 2 --backend host --precision "$2" > "$dir/out" 2>&1; then
    echo "FAIL: gmmc fit --precision $2 succeeded"; fail=1
  elif ! grep -q "$1" "$dir/out"; then
    echo "FAIL: gmmc fit --precision $2 does not say '$1':"; cat "$dir/out"; fail=1
  fi
}
expect_error "precision 'bf16' is not available yet" bf16
expect_error "precision: expected float32, 3xtf32, tf32 or float64-stats, got 'fp8'" fp8
[ $fail -eq 0 ] && echo "ok: --precision float32, 3xtf32, tf32 and float64-stats accepted, bf16 and fp8 refused"
exit $fail
