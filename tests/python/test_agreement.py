"""gmmc.GaussianMixture against scikit-learn on the EM engine's fixtures.

The fixtures (tests/em/make_fixtures.py, made afresh with a printed seed) hold
data sets, scikit-learn's own initial parameters for each, and scikit-learn's
fit from them. Here the same fit goes through the Python package: the initial
parameters as weights_init / means_init / precisions_init, tol, reg_covar and
max_iter from settings.npy, float64 data, device='cpu'. The tolerances are
those of the C agreement test (tests/em/test_sklearn_agreement.c):
parameters within 1e-4 (relative per element, floored at 1e-4 of the array's
largest magnitude), lower_bound_ within 1e-5, n_iter_ equal, predict equal on
at least 99.9 % of the events, score / bic / aic within 1e-6.
"""
import os
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from conftest import load_make_fixtures

_mf = load_make_fixtures()
CASES = [f"{name}_{cov}" for name in _mf.datasets(0) for cov in _mf.TYPES]


def array_diff(a, ref):
    """Largest relative difference per element, with a floor of 1e-4 times the largest |ref| (as the C test)."""
    a, ref = np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(ref, dtype=np.float64).reshape(-1)
    assert a.shape == ref.shape
    scale = np.maximum(np.abs(ref), 1e-4 * np.abs(ref).max())
    return float(np.max(np.abs(a - ref) / np.where(scale > 0, scale, 1.0)))


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def load_case(directory, case):
    d = os.path.join(directory, case)
    f = {name[:-4]: np.load(os.path.join(d, name)) for name in os.listdir(d)}
    cov = case.rsplit("_", 1)[1]
    X = f["X"]
    k = f["init_weights"].size
    dim = X.shape[1]
    shape = {"full": (k, dim, dim), "tied": (dim, dim), "diag": (k, dim), "spherical": (k,)}[cov]
    return cov, X, k, f, f["init_precisions"].reshape(shape)


@pytest.mark.parametrize("case", CASES)
def test_matches_sklearn(em_fixtures, case):
    from gmmc import GaussianMixture

    cov, X, k, f, p0 = load_case(str(em_fixtures), case)
    tol, reg, max_iter = f["settings"]
    gm = GaussianMixture(n_components=k, covariance_type=cov, tol=tol, reg_covar=reg, max_iter=int(max_iter),
                         weights_init=f["init_weights"], means_init=f["init_means"].reshape(k, -1),
                         precisions_init=p0, device="cpu", dtype="float64")
    ref_lbs = f["ref_lower_bounds"]
    # some fixtures stop at max_iter in scikit-learn too: then, and only then, a ConvergenceWarning
    ref_converged = len(ref_lbs) > 1 and abs(ref_lbs[-1] - ref_lbs[-2]) < tol
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm.fit(X)
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(convergence) == (0 if ref_converged else 1), [str(w.message) for w in caught]
    assert gm.n_iter_ == len(ref_lbs), f"{gm.n_iter_} iterations, scikit-learn {len(ref_lbs)}"
    assert gm.converged_ == ref_converged
    assert rel(gm.lower_bound_, ref_lbs[-1]) <= 1e-5
    for attr in ("weights", "means", "covariances", "precisions_cholesky"):
        d = array_diff(getattr(gm, attr + "_"), f["ref_" + attr])
        assert d <= 1e-4, f"{attr}_ differs from scikit-learn by {d:.3g} (relative)"
    # precisions_ is formed in Python from precisions_cholesky_: it must invert covariances_
    prec, covs = gm.precisions_, gm.covariances_
    if cov == "full":
        eye = np.matmul(prec, covs)
        assert np.allclose(eye, np.eye(X.shape[1])[None], atol=1e-6 * np.abs(eye).max())
    elif cov == "tied":
        assert np.allclose(prec @ covs, np.eye(X.shape[1]), atol=1e-6 * np.abs(prec @ covs).max())
    else:
        assert np.allclose(prec * covs, 1.0, rtol=1e-9)

    labels = gm.predict(X)
    agree = np.mean(labels == f["ref_predict"].astype(np.int64))
    assert agree >= 0.999, f"predictions agree on {100 * agree:.3f} % of the events"
    score, bic, aic = f["ref_scores"]
    assert rel(gm.score(X), score) <= 1e-6
    assert rel(gm.bic(X), bic) <= 1e-6
    assert rel(gm.aic(X), aic) <= 1e-6
