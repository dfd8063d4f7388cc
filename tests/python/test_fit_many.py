"""gmmc.fit_many: each fit of the batch against GaussianMixture(**params).fit(X) alone, bit for bit on the
host (the same C fits, side by side); sample weights, float32, n_init; a failing fit beside others, with
errors='raise' and errors='none'; the refusals. Fresh data; the seed is printed (GMMC_TEST_SEED replays)."""
import os

import numpy as np
import pytest

import gmmc
from gmmc import GaussianMixture

SEED = int(os.environ.get("GMMC_TEST_SEED") or np.random.SeedSequence().entropy % 1000000007)
print(f"test_fit_many: seed {SEED} (GMMC_TEST_SEED={SEED} replays it)")


def blobs(rng, n, d, k):
    centers = rng.normal(scale=5, size=(k, d))
    return centers[rng.integers(k, size=n)] + rng.normal(size=(n, d))


def same(a, b):
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr), err_msg=attr)
    assert a.n_iter_ == b.n_iter_ and a.converged_ == b.converged_
    assert a.lower_bound_ == b.lower_bound_
    assert a.lower_bounds_ == b.lower_bounds_


@pytest.mark.parametrize("cov", ["full", "diag"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_each_fit_is_the_fit_alone(cov, dtype):
    rng = np.random.default_rng(SEED)
    arrays = [blobs(rng, n, 4, 3).astype(dtype) for n in (120, 300, 77, 500, 210)]
    params = dict(n_components=3, covariance_type=cov, random_state=SEED % 1000, device="cpu", max_iter=50)
    fitted = gmmc.fit_many(arrays, **params)
    assert len(fitted) == len(arrays)
    iters = set()
    for X, g in zip(arrays, fitted):
        assert isinstance(g, GaussianMixture)
        same(g, GaussianMixture(**params).fit(X))
        iters.add(g.n_iter_)
        assert g.means_.dtype == dtype
    np.testing.assert_array_equal(fitted[0].predict(arrays[0]), GaussianMixture(**params).fit(arrays[0]).predict(
        arrays[0]))


def test_max_iter_reached():
    """Fits stopped by max_iter (2) before converging: n_iter_, converged_ and the warning as fit's."""
    rng = np.random.default_rng(SEED + 3)
    arrays = [blobs(rng, n, 5, 6) for n in (400, 250)]
    params = dict(n_components=6, max_iter=2, tol=0, random_state=1, device="cpu")
    with pytest.warns(gmmc._compat.ConvergenceWarning):
        fitted = gmmc.fit_many(arrays, **params)
    for X, g in zip(arrays, fitted):
        assert g.n_iter_ == 2 and not g.converged_
        with pytest.warns(gmmc._compat.ConvergenceWarning):
            alone = GaussianMixture(**params).fit(X)
        same(g, alone)


def test_weights_and_n_init():
    rng = np.random.default_rng(SEED + 1)
    arrays = [blobs(rng, n, 3, 4) for n in (200, 350)]
    weights = [rng.uniform(0.1, 3, size=200), None]
    params = dict(n_components=4, n_init=3, init_params="k-means++", random_state=7, device="cpu")
    fitted = gmmc.fit_many(arrays, sample_weights=weights, **params)
    for X, w, g in zip(arrays, weights, fitted):
        same(g, GaussianMixture(**params).fit(X, sample_weight=w))


def test_a_failing_fit_beside_others():
    rng = np.random.default_rng(SEED + 2)
    good = [blobs(rng, 200, 3, 2), blobs(rng, 150, 3, 2)]
    bad = blobs(rng, 200, 3, 2)
    bad[:, 1] = 2.5  # a constant column without regularisation: no covariance is positive definite
    params = dict(n_components=2, reg_covar=0.0, random_state=3, device="cpu")
    with pytest.raises(ValueError, match="fit_many: fit 1: .*ill-defined empirical covariance"):
        gmmc.fit_many([good[0], bad, good[1]], **params)
    out = gmmc.fit_many([good[0], bad, good[1]], errors="none", **params)
    assert out[1] is None and isinstance(gmmc.fit_many.last_errors[1], ValueError)
    assert gmmc.fit_many.last_errors[0] is None
    same(out[0], GaussianMixture(**params).fit(good[0]))
    same(out[2], GaussianMixture(**params).fit(good[1]))


def test_refusals():
    X = np.random.default_rng(SEED).normal(size=(50, 2))
    with pytest.raises(ValueError, match="at least one array"):
        gmmc.fit_many([], n_components=2, device="cpu")
    with pytest.raises(ValueError, match="2 sample_weights for 1 arrays"):
        gmmc.fit_many([X], sample_weights=[None, None], device="cpu")
    with pytest.raises(ValueError, match="errors must be"):
        gmmc.fit_many([X], errors="ignore", device="cpu")
    with pytest.raises(ValueError, match="array 1: Expected n_samples >= n_components"):
        gmmc.fit_many([X, X[:2]], n_components=3, device="cpu")
    with pytest.raises(ValueError, match="n_components"):  # scikit-learn's parameter validation
        gmmc.fit_many([X], n_components=0, device="cpu")
    with pytest.raises(ValueError, match="warm_start"):
        gmmc.fit_many([X], warm_start=True, device="cpu")
