#!/usr/bin/env python3
"""BayesianGaussianMixture: gmmc (the bayesian_* specs) against scikit-learn's
class, ms per variational iteration (issue 20, docs/performance.md).

N events x D features x M components (default 10^5 x 19 x 16, full
covariances, the Dirichlet process prior), data drawn from M Gaussian blobs.
scikit-learn: (time of a fit of LONG iterations - time of a fit of SHORT) /
(LONG - SHORT), tol 0, init_params='random' with one random_state (the same
initialisation in both fits, so that its cost cancels), float64, on the
host's cores (its BLAS threads). gmmc: the median of the per-iteration times
of iterations 3 to LONG of a fit (tol 0; fit_stats_['iteration_seconds']),
after a first fit that compiles and tunes; float64 and float32 kernels on
--device (cpu or cuda); beside it, gmmc's GaussianMixture (EM) measured the
same way, the reference for what the variational terms cost.

  bayesian_bench.py [--device cpu|cuda] [--n 100000] [--d 19] [--m 16]
                    [--covariance-type full] [--skip-sklearn] [--long 20]
Needs the checkout's python/ (found from this file) and GMMC_LIBRARY or an
installed libgmmc; NumPy; scikit-learn unless --skip-sklearn.
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

SHORT = 2


def make_data(n, d, m, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-10, 10, size=(m, d))
    comp = rng.integers(0, m, size=n)
    return centers[comp] + rng.normal(size=(n, d))


def sklearn_ms(X, m, cov, long):
    from sklearn.mixture import BayesianGaussianMixture
    times = {}
    for iters in (SHORT, long):
        est = BayesianGaussianMixture(n_components=m, covariance_type=cov, tol=0.0, max_iter=iters,
                                      init_params="random", random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            est.fit(X)
            times[iters] = time.perf_counter() - t0
    import sklearn
    return 1e3 * (times[long] - times[SHORT]) / (long - SHORT), sklearn.__version__


def gmmc_ms(X, m, cov, long, device, dtype, cls="BayesianGaussianMixture"):
    import gmmc
    Xd = np.ascontiguousarray(X, dtype=dtype)
    kw = dict(n_components=m, covariance_type=cov, tol=0.0, init_params="random", random_state=0, device=device,
              dtype=dtype)
    est_class = getattr(gmmc, cls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est_class(max_iter=3, **kw).fit(Xd)  # compiles, tunes, fills the kernel cache
        est = est_class(max_iter=long, **kw).fit(Xd)
    it = est.fit_stats_["iteration_seconds"][2:]
    return 1e3 * float(np.median(it)), est.fit_stats_["device"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--d", type=int, default=19)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--covariance-type", default="full")
    ap.add_argument("--long", type=int, default=20)
    ap.add_argument("--skip-sklearn", action="store_true")
    a = ap.parse_args()
    X = make_data(a.n, a.d, a.m)
    print(f"bayesian_bench: N={a.n} D={a.d} M={a.m} {a.covariance_type}, {os.cpu_count()} host cores")
    rows = []
    for dtype in ("float64", "float32"):
        ms, dev = gmmc_ms(X, a.m, a.covariance_type, a.long, a.device, dtype)
        rows.append((f"gmmc {dtype}", dev, ms))
        ref, _ = gmmc_ms(X, a.m, a.covariance_type, a.long, a.device, dtype, "GaussianMixture")
        print(f"  gmmc {dtype:8s} {dev}: {ms:9.3f} ms/iteration (GaussianMixture's EM in the same run: "
              f"{ref:.3f})", flush=True)
    if not a.skip_sklearn:
        try:
            ms, version = sklearn_ms(X, a.m, a.covariance_type, a.long)
        except ImportError:
            print("  scikit-learn: not installed (skipped)")
        else:
            print(f"  scikit-learn {version} float64, host: {ms:9.3f} ms/iteration")
            for name, dev, g in rows:
                print(f"  {name}: {ms / g:.1f}x scikit-learn")


if __name__ == "__main__":
    main()
