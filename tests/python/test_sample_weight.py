"""GaussianMixture.fit(X, sample_weight=...): integer weights give the model
of the rows repeated (every covariance type, k-means and k-means++
initialisations), weights of 1 the unweighted model bit for bit, and bad
weights scikit-learn's errors (shape, NaN, infinity, negative) or gmmc's
(all zero). Fresh data from the session's printed seed (GMMC_TEST_SEED).

Tolerance, as tests/weights/test_weights.c derives it: T iterations of
float64 sums over the n repeated rows in another order, 2 (n-1) u each,
amplified by the covariances' condition number kappa; T the EM iterations
plus at most 300 of the k-means initialisation."""
import numpy as np
import pytest

from gmmc import GaussianMixture

COVS = ["full", "diag", "spherical", "tied"]
# tol=0 and 10 iterations: the comparisons want a fixed iteration count, not convergence
pytestmark = pytest.mark.filterwarnings("ignore:Initialization 1 did not converge")


def data(seed):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(0, 1, (80, 2)), rng.normal(5, 1.5, (80, 2)), rng.normal([0, 6], 0.7, (80, 2))])
    w = rng.integers(0, 4, len(X))
    return X, w


def kappa(gm):
    c = gm.covariances_
    if gm.covariance_type == "full":
        return max(np.linalg.cond(m) for m in c)
    if gm.covariance_type == "tied":
        return np.linalg.cond(c)
    if gm.covariance_type == "diag":
        return float(np.max(c.max(axis=1) / c.min(axis=1)))
    return 1.0


def gm(cov, init, **kw):
    return GaussianMixture(3, covariance_type=cov, init_params=init, random_state=5, tol=0, max_iter=10,
                           device="cpu", **kw)


@pytest.mark.parametrize("cov", COVS)
@pytest.mark.parametrize("init", ["kmeans", "k-means++"])
def test_integer_weights_are_repeated_rows(seed, cov, init):
    X, w = data(seed)
    Xr = np.repeat(X, w, axis=0)
    a = gm(cov, init).fit(X, sample_weight=w)
    b = gm(cov, init).fit(Xr)
    T = 10 + (300 if init == "kmeans" else 0)
    tol = T * 2 * (len(Xr) - 1) * 2.0**-53 * kappa(b)
    assert a.n_iter_ == b.n_iter_
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        x, y = getattr(a, attr), getattr(b, attr)
        assert np.max(np.abs(x - y)) <= tol * np.max(np.abs(y)), (attr, seed)
    assert abs(a.lower_bound_ - b.lower_bound_) <= tol * abs(b.lower_bound_)


@pytest.mark.parametrize("cov", COVS)
@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random", "random_from_data"])
def test_ones_are_no_weights(seed, cov, init):
    X, _ = data(seed)
    a = gm(cov, init).fit(X, sample_weight=np.ones(len(X)))
    b = gm(cov, init).fit(X)
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bound_"]:
        assert np.array_equal(getattr(a, attr), getattr(b, attr)), attr
    # a scalar is every sample's weight; fit_predict takes them too
    c = gm(cov, init).fit(X, sample_weight=1.0)
    assert np.array_equal(c.means_, b.means_)
    assert np.array_equal(gm(cov, init).fit_predict(X, sample_weight=np.ones(len(X))), b.predict(X))


@pytest.mark.parametrize("bad, message", [
    (np.ones(5), r"sample_weight.shape == \(5,\), expected \(240,\)!"),
    (np.ones((240, 1)), "Sample weights must be 1D array or scalar"),
    (np.where(np.arange(240) == 7, np.nan, 1.0), "NaN"),
    (np.where(np.arange(240) == 7, np.inf, 1.0), "infinity"),
    (np.where(np.arange(240) == 7, -1.0, 1.0), "Negative values in data passed to `sample_weight`"),
    (np.zeros(240), "sample_weight contains only zeros"),
    (0.0, "sample_weight contains only zeros"),
])
def test_bad_weights(seed, bad, message):
    X, _ = data(seed)
    with pytest.raises(ValueError, match=message):
        gm("full", "kmeans").fit(X, sample_weight=bad)


def test_fewer_positive_weights_than_components(seed):
    X, _ = data(seed)
    w = np.zeros(len(X))
    w[:2] = 1
    with pytest.raises(ValueError, match="expected at least n_components = 3 events of positive weight, got 2"):
        gm("full", "kmeans").fit(X, sample_weight=w)
