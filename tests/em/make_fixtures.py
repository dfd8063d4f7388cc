#!/usr/bin/env python3
"""Fixtures for the EM agreement tests: data sets and scikit-learn's
GaussianMixture run from given initial parameters, iteration by iteration.

For every data set and covariance type, writes into OUT/<dataset>_<type>/:
  X.npy                    the events (float64)
  init_weights.npy, init_means.npy, init_precisions.npy
                           the initial parameters (scikit-learn's own k-means
                           initialisation), given to both implementations
  ref_lower_bounds.npy     the lower bound after every EM iteration
  ref_weights.npy, ref_means.npy, ref_covariances.npy,
  ref_precisions_cholesky.npy   the fitted parameters
  ref_predict.npy          predict(X)
  ref_scores.npy           [score(X), bic(X), aic(X)]
  settings.npy             [tol, reg_covar, max_iter]

Usage: make_fixtures.py OUT [SEED]   (the seed defaults to the clock; it is
printed so that a failure can be replayed with GMMC_TEST_SEED=SEED).
Everything but X is stored flat as float64: what gmmc's data reader takes.
"""
import os
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits, load_iris, make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

TYPES = ["full", "diag", "spherical", "tied"]


def datasets(seed):
    rs = np.random.RandomState(seed)
    sets = {}
    X, _ = make_blobs(n_samples=2000, centers=4, n_features=3, cluster_std=0.8, center_box=(-20, 20),
                      random_state=rs.randint(1 << 30))
    sets["separated"] = (X, 4)
    X, _ = make_blobs(n_samples=3000, centers=3, n_features=2, cluster_std=3.0, center_box=(-5, 5),
                      random_state=rs.randint(1 << 30))
    sets["overlapping"] = (X, 3)
    X, _ = make_blobs(n_samples=1500, centers=3, n_features=2, random_state=rs.randint(1 << 30))
    sets["anisotropic"] = (X @ np.array([[0.6, -0.6], [-0.4, 0.8]]), 3)
    sets["iris"] = (load_iris().data, 3)
    digits = load_digits().data
    sets["digits"] = (digits[rs.permutation(len(digits))[:900]], 5)
    return sets


def precisions_of(gm):
    pc = gm.precisions_cholesky_
    if gm.covariance_type == "full":
        return np.einsum("kij,klj->kil", pc, pc)
    if gm.covariance_type == "tied":
        return pc @ pc.T
    return pc ** 2


def run(X, k, cov, seed, tol=1e-6, reg=1e-6, max_iter=300):
    """scikit-learn's own initialisation (k-means; max_iter=0 keeps it), then
    its EM one iteration per call (warm_start=True, max_iter=1): the lower
    bound of every iteration, through the public API only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        init = GaussianMixture(n_components=k, covariance_type=cov, reg_covar=reg, random_state=seed,
                               max_iter=0).fit(X)
        w0, m0, p0 = init.weights_.copy(), init.means_.copy(), precisions_of(init)
        gm = GaussianMixture(n_components=k, covariance_type=cov, tol=tol, reg_covar=reg, max_iter=1,
                             warm_start=True, weights_init=w0, means_init=m0, precisions_init=p0)
        lbs = []
        for _ in range(max_iter):
            gm.fit(X)
            lbs.append(gm.lower_bound_)
            if len(lbs) > 1 and abs(lbs[-1] - lbs[-2]) < tol:
                break
        # one fit from the same start must stop at the same place
        check = GaussianMixture(n_components=k, covariance_type=cov, tol=tol, reg_covar=reg, max_iter=max_iter,
                                weights_init=w0, means_init=m0, precisions_init=p0).fit(X)
    assert check.n_iter_ == len(lbs) and abs(check.lower_bound_ - lbs[-1]) <= 1e-12 * abs(lbs[-1]), \
        (cov, check.n_iter_, len(lbs))
    return (w0, m0, p0), gm, np.array(lbs), (tol, reg, max_iter)


def main():
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else int(os.environ.get("GMMC_TEST_SEED", time.time_ns() % (1 << 31)))
    print(f"make_fixtures: seed {seed} (replay with GMMC_TEST_SEED={seed})")
    for name, (X, k) in datasets(seed).items():
        X = np.ascontiguousarray(X, dtype=np.float64)
        for cov in TYPES:
            (w0, m0, p0), gm, lbs, settings = run(X, k, cov, seed)
            d = os.path.join(out, f"{name}_{cov}")
            os.makedirs(d, exist_ok=True)
            np.save(os.path.join(d, "X.npy"), X)
            flat = {"init_weights": w0, "init_means": m0, "init_precisions": p0, "ref_lower_bounds": lbs,
                    "ref_weights": gm.weights_, "ref_means": gm.means_, "ref_covariances": gm.covariances_,
                    "ref_precisions_cholesky": gm.precisions_cholesky_, "ref_predict": gm.predict(X),
                    "ref_scores": [gm.score(X), gm.bic(X), gm.aic(X)], "settings": settings}
            for key, value in flat.items():
                np.save(os.path.join(d, key + ".npy"), np.asarray(value, dtype=np.float64).reshape(-1))
            print(f"  {name}_{cov}: {X.shape[0]}x{X.shape[1]}, {k} components, {len(lbs)} iterations, "
                  f"lower bound {lbs[-1]:.6f}")


if __name__ == "__main__":
    main()
