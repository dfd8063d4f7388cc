#!/bin/sh
# gmmc fit --model: every new shipped model trains on its integer or boolean
# .npy (the Bayesian ones on float data, reporting their own lower bound); a Gaussian one refuses integers with the loader's message; an unknown
# name lists the known ones; --model with --spec or --covariance-type is an
# error. Fresh random data (seed printed; GMMC_TEST_SEED=S replays a run).
# Usage: test_model_option.sh GMMC PYTHON SPECS_DIR
set -u
gmmc=$1 python=$2 specs=$3
dir=$(mktemp -d "${TMPDIR:-/tmp}/gmmc-model-XXXXXX")
trap 'rm -rf "$dir"' EXIT
fail=0
seed=${GMMC_TEST_SEED:-$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')}
echo "test_model_option: seed $seed (GMMC_TEST_SEED=$seed replays this run)"
"$python" -c "
import numpy as np, sys
r = np.random.default_rng(int(sys.argv[2]))
np.save(sys.argv[1] + '/counts.npy', r.poisson(3, (300, 4)).astype(np.int16))
np.save(sys.argv[1] + '/binary.npy', r.uniform(size=(300, 5)) < 0.3)
np.save(sys.argv[1] + '/real.npy', np.vstack([r.normal(c, 1.0, (100, 3)) for c in (-4, 0, 4)]))
" "$dir" "$seed" || exit 1

expect_ok() { # model data
  if ! "$gmmc" fit "$dir/$2" --model "$1" -k 2 --backend host -o "$dir/$1.yaml" > "$dir/out" 2>&1; then
    echo "FAIL: gmmc fit --model $1 $2:"; cat "$dir/out"; fail=1
  elif ! grep -q "^spec_name: $1\$" "$dir/$1.yaml"; then
    echo "FAIL: the model file of --model $1 names another spec"; fail=1
  fi
}
expect_error() { # message, then the arguments of gmmc fit
  want=$1; shift
  if "$gmmc" fit "$@" > "$dir/out" 2>&1; then
    echo "FAIL: gmmc fit $* succeeded; expected: $want"; fail=1
  elif ! grep -qF -- "$want" "$dir/out"; then
    echo "FAIL: gmmc fit $*: expected '$want', got:"; cat "$dir/out"; fail=1
  fi
}

expect_ok poisson counts.npy
expect_ok multinomial counts.npy
expect_ok bernoulli binary.npy
for cov in full diag spherical tied; do
  expect_ok bayesian_$cov real.npy
  # the lower bound is the spec's own (the variational bound), not a mean log-likelihood
  grep -q "lower bound .* (the spec's lower_bound output)" "$dir/out" ||
    { echo "FAIL: gmmc fit --model bayesian_$cov does not report the spec's lower bound:"; cat "$dir/out"; fail=1; }
done
# the Dirichlet distribution prior and a weight concentration prior, as scalars
if ! "$gmmc" fit "$dir/real.npy" --model bayesian_full -k 4 --backend host --set dirichlet_process=0 \
    --set weight_concentration_prior=0.01 -o "$dir/dd.yaml" > "$dir/out" 2>&1 ||
  ! grep -q "^  dirichlet_process: 0.0$" "$dir/dd.yaml"; then
  echo "FAIL: gmmc fit --model bayesian_full --set dirichlet_process=0:"; cat "$dir/out"; fail=1
fi
expect_error "the spec bayesian_full has no scalar 'dirichlet_proces'" "$dir/real.npy" --model bayesian_full -k 2 \
  --backend host --set dirichlet_proces=0
expect_error "$dir/counts.npy: byte 20: dtype '<i2' is not supported (expected '<f4' float32 or '<f8' float64)" \
  "$dir/counts.npy" --model gmm_diag -k 2 --backend host
expect_error "$dir/counts.npy: byte 20: dtype '<i2' is not supported (expected '<f4' float32 or '<f8' float64)" \
  "$dir/counts.npy" -k 2 --backend host
expect_error "but the spec bernoulli declares data 'X' binary (0 or 1)" "$dir/counts.npy" --model bernoulli -k 2 \
  --backend host
expect_error "--model: unknown model 'poison' (the shipped models are gmm_full, gmm_diag, gmm_spherical, gmm_tied, kmeans, bernoulli, poisson, multinomial, bayesian_full, bayesian_diag, bayesian_spherical, bayesian_tied; --spec FILE trains a spec of your own)" \
  "$dir/counts.npy" --model poison
expect_error "--model poisson and --spec $specs/poisson.yaml both name the model to train: give one" \
  "$dir/counts.npy" --model poisson --spec "$specs/poisson.yaml"
expect_error "--model poisson and --covariance-type diag both name the model to train" \
  "$dir/counts.npy" --model poisson --covariance-type diag
[ $fail = 0 ] && echo "test_model_option: passed" || echo "FAILED (GMMC_TEST_SEED=$seed replays this run)"
exit $fail
