#!/bin/sh
# On a GPU host (tests/gpu/run.sh runs it, with the binaries of
# tests/gpu/pack.sh on PATH, or a build's tests/em/em_mixture_bernoulli):
# the Bernoulli, Poisson and multinomial mixtures, and poisson_prior (a spec
# of once statements, tests/em/poisson_prior.yaml, beside the binary), fitted
# on the GPU in float64 against the float64 EM of tests/em/test_mixtures.c,
# the last two also streamed in chunks of 500 events; each on
# fresh data (seed printed; GMMC_TEST_SEED replays), every code variant
# checked against the simple one while tuning. Without a GPU every model
# reports skipped and the script exits 77.
set -u
bin=$(command -v test_mixtures || echo build/tests/em/em_mixture_bernoulli)
dir=$(mktemp -d "${TMPDIR:-/tmp}/gmmc-mixtures-XXXXXX")
trap 'rm -rf "$dir"' EXIT
fail=0 skipped=0
run() {
  GMMC_TEST_BACKEND=cuda GMMC_VERIFY_VARIANTS=1 "$@"
  rc=$?
  if [ $rc -eq 77 ]; then skipped=$((skipped + 1)); elif [ $rc -ne 0 ]; then fail=1; fi
}
for m in bernoulli poisson multinomial poisson_prior; do run "$bin" $m "$dir"; done
for m in multinomial poisson_prior; do run env GMMC_CHUNK_EVENTS=500 "$bin" $m "$dir"; done
[ $fail -ne 0 ] && exit 1
[ $skipped -eq 6 ] && exit 77
exit 0
