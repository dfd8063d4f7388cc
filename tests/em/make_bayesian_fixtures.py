#!/usr/bin/env python3
"""Fixtures for the BayesianGaussianMixture agreement tests: scikit-learn's
variational inference from fixed initial responsibilities, iteration by
iteration.

For every data set, covariance type and weight prior type, writes
OUT/<dataset>_<type>_<dp|dd>.npz holding
  X                 the events (float64)
  resp              the initial responsibilities (Dirichlet(0.5) rows)
  init_<name>       the parameters scikit-learn's _initialize(X, resp) makes,
                    under the names of the spec's parameters (weight_concentration,
                    weight_concentration_b, weights, mean_precision, means,
                    degrees_of_freedom, covariances, precisions_cholesky,
                    mean_prior, covariance_prior): the start given to gmmc
  ref_lower_bounds  the lower bound after every iteration (_e_step, _m_step,
                    _compute_lower_bound: scikit-learn's fit loop, tol = 0 so that
                    every run has max_iter iterations)
  ref_<name>        the parameters after the last iteration, same names
  ref_predict, ref_score_samples   predict(X) and score_samples(X) after it
  settings          [n_components, dirichlet_process (1/0), reg_covar, max_iter]

scikit-learn's private steps are called as its fit_predict calls them
(scikit-learn 1.2, sklearn/mixture/_base.py); the run is checked against a
public fit that stops at the same iteration. Usage: make_bayesian_fixtures.py
OUT [SEED] (the seed defaults to the clock and is printed; GMMC_TEST_SEED
replays it).
"""
import os
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_iris, make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

TYPES = ["full", "diag", "spherical", "tied"]
PRIORS = {"dp": "dirichlet_process", "dd": "dirichlet_distribution"}
MAX_ITER = 30
REG = 1e-6


def datasets(seed):
    """(X, n_components): more components than clusters, so that the priors empty some of them."""
    rs = np.random.RandomState(seed)
    sets = {}
    X, _ = make_blobs(n_samples=1200, centers=3, n_features=3, cluster_std=1.0, center_box=(-10, 10),
                      random_state=rs.randint(1 << 30))
    sets["blobs"] = (X, 5)
    X, _ = make_blobs(n_samples=1500, centers=4, n_features=2, cluster_std=2.5, center_box=(-6, 6),
                      random_state=rs.randint(1 << 30))
    sets["overlapping"] = (X, 6)
    sets["iris"] = (load_iris().data, 4)
    return sets


def params_of(b):
    """The fitted state under the spec's parameter names."""
    dp = b.weight_concentration_prior_type == "dirichlet_process"
    wc_a, wc_b = b.weight_concentration_ if dp else (b.weight_concentration_, np.zeros_like(b.weight_concentration_))
    b._set_parameters(b._get_parameters())  # weights_ and precisions_, as fit sets them at its end
    return {"weight_concentration": wc_a, "weight_concentration_b": wc_b, "weights": b.weights_,
            "mean_precision": b.mean_precision_, "means": b.means_, "degrees_of_freedom": b.degrees_of_freedom_,
            "covariances": b.covariances_, "precisions_cholesky": b.precisions_cholesky_,
            "mean_prior": b.mean_prior_, "covariance_prior": b.covariance_prior_}


def run(X, k, cov, prior, rs):
    resp = rs.dirichlet(np.full(k, 0.5), size=X.shape[0])  # leaning to one component or two: EM moves
    b = BayesianGaussianMixture(n_components=k, covariance_type=cov, weight_concentration_prior_type=prior,
                                reg_covar=REG, tol=0.0, max_iter=MAX_ITER)
    b._check_parameters(X)
    b._initialize(X, resp)
    init = params_of(b)
    lbs = []
    for _ in range(MAX_ITER):
        log_prob_norm, log_resp = b._e_step(X)
        b._m_step(X, log_resp)
        lbs.append(b._compute_lower_bound(log_resp, log_prob_norm))
    ref = params_of(b)
    # the same from the public API: a fit whose initialisation is replaced by these responsibilities
    check = BayesianGaussianMixture(n_components=k, covariance_type=cov, weight_concentration_prior_type=prior,
                                    reg_covar=REG, tol=0.0, max_iter=MAX_ITER)
    check._initialize_parameters = lambda X_, random_state: check._initialize(X_, resp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check.fit(X)
    assert check.n_iter_ == MAX_ITER and abs(check.lower_bound_ - lbs[-1]) <= 1e-12 * abs(lbs[-1]), \
        (cov, prior, check.n_iter_, check.lower_bound_, lbs[-1])
    return resp, init, np.array(lbs), ref, b.predict(X), b.score_samples(X)


def main():
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else int(os.environ.get("GMMC_TEST_SEED", time.time_ns() % (1 << 31)))
    print(f"make_bayesian_fixtures: seed {seed} (replay with GMMC_TEST_SEED={seed})")
    os.makedirs(out, exist_ok=True)
    rs = np.random.RandomState(seed)
    for name, (X, k) in datasets(seed).items():
        X = np.ascontiguousarray(X, dtype=np.float64)
        for cov in TYPES:
            for short, prior in PRIORS.items():
                resp, init, lbs, ref, pred, scores = run(X, k, cov, prior, rs)
                arrays = {"X": X, "resp": resp, "ref_lower_bounds": lbs, "ref_predict": pred,
                          "ref_score_samples": scores,
                          "settings": np.array([k, 1.0 if short == "dp" else 0.0, REG, MAX_ITER])}
                arrays.update({"init_" + n: np.asarray(v, dtype=np.float64) for n, v in init.items()})
                arrays.update({"ref_" + n: np.asarray(v, dtype=np.float64) for n, v in ref.items()})
                np.savez(os.path.join(out, f"{name}_{cov}_{short}.npz"), **arrays)
                print(f"  {name}_{cov}_{short}: {X.shape[0]}x{X.shape[1]}, {k} components, "
                      f"lower bound {lbs[0]:.6f} -> {lbs[-1]:.6f}")


if __name__ == "__main__":
    main()
