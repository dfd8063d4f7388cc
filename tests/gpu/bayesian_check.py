#!/usr/bin/env python3
"""gmmc's BayesianGaussianMixture specs against scikit-learn 1.2's fixtures on
one device and float type: over the 30 iterations of each case, the largest
difference of the lower bounds relative to each iteration's bound (rel, the
float64 test's measure) and relative to the run's largest bound in magnitude
(scaled: a bound that passes near 0, as iris's do, makes rel meaningless in
float32, where the error is a fraction of the terms' size, not of their sum;
docs/dsl.md derives it). Per case and overall.

Usage: bayesian_check.py FIXTURES DEVICE DTYPE [LIMIT [MEASURE]]
  FIXTURES  a directory of tests/em/make_bayesian_fixtures.py's .npz files
  DEVICE    cpu or cuda;  DTYPE  float32 or float64
  LIMIT     fail (exit 1) when a case's difference exceeds it (default: none)
  MEASURE   the difference LIMIT bounds: scaled (default) or rel
The package is the checkout's python/ with the library GMMC_LIBRARY names.
gmmc starts from the parameters scikit-learn's _initialize made from each
fixture's responsibilities and runs the same iterations (tol = 0), as
tests/python/test_bayesian.py does on the host in float64.
"""
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import gmmc  # noqa: E402
from gmmc import _fit  # noqa: E402

PARAMS = ["weight_concentration", "weight_concentration_b", "weights", "mean_precision", "means",
          "degrees_of_freedom", "covariances", "precisions_cholesky", "mean_prior", "covariance_prior"]


def run_case(path, device, dtype):
    f = dict(np.load(path))
    cov = os.path.basename(path).split("_")[1]
    k, dp, reg, max_iter = f["settings"]
    est = gmmc.BayesianGaussianMixture(n_components=int(k), covariance_type=cov, reg_covar=reg, device=device,
                                       dtype=dtype, weight_concentration_prior_type="dirichlet_process" if dp
                                       else "dirichlet_distribution")
    X = np.ascontiguousarray(f["X"], dtype=dtype)
    o = est._options(data_dtype=X.dtype).tol(0.0).n_init(1).init("random").seed(1)
    for name in PARAMS:
        o.init_param(name, f["init_" + name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _fit.fit(est._context(), X, o, int(max_iter)).model
    lbs, ref = np.asarray(model.lower_bounds), f["ref_lower_bounds"]
    if lbs.shape != ref.shape:
        return float("inf"), float("inf"), est._context().device
    diff = np.abs(lbs - ref)
    return float(np.max(diff / np.abs(ref))), float(np.max(diff) / np.max(np.abs(ref))), est._context().device


def main():
    where, device, dtype = sys.argv[1], sys.argv[2], sys.argv[3]
    limit = float(sys.argv[4]) if len(sys.argv) > 4 else None
    measure = sys.argv[5] if len(sys.argv) > 5 else "scaled"
    if measure not in ("scaled", "rel"):
        sys.exit(f"bayesian_check: MEASURE is scaled or rel, not {measure!r}")
    worst_rel, worst, fails, dev = 0.0, 0.0, 0, ""
    for name in sorted(os.listdir(where)):
        if not name.endswith(".npz"):
            continue
        rel, scaled, dev = run_case(os.path.join(where, name), device, dtype)
        bad = limit is not None and not (scaled if measure == "scaled" else rel) <= limit
        fails += bad
        worst_rel, worst = max(worst_rel, rel), max(worst, scaled)
        print(f"  {name[:-4]:26s} {dtype}: lower bounds within {rel:.2e} relative, {scaled:.2e} scaled"
              f"{'  FAIL' if bad else ''}")
    print(f"bayesian_check: {dev}, {dtype}: max relative lower-bound difference {worst_rel:.2e}, scaled {worst:.2e}"
          + (f" (limit {limit:g} {measure}): {'FAIL' if fails else 'ok'}" if limit is not None else ""))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
