"""GaussianMixture.partial_fit: stepwise EM over batches (libgmmc's gmmc_online_*).

- stream: batches of a stream in shuffled passes; the held-out score of the
  final estimator is within 1e-2 per sample of fit()'s on all of it;
- state: the first call initialises from its batch, later calls continue
  (n_iter_ counts the steps), fit() starts over, partial_fit after fit()
  continues from the fitted parameters, warm_start changes nothing here,
  set_params starts over, weighted batches step, float32 batches after
  float64 ones are converted;
- errors: another feature count, a first batch smaller than n_components,
  bad sample weights, non-float data.

Fresh data from the session's printed seed (GMMC_TEST_SEED)."""
import numpy as np
import pytest

from gmmc import GaussianMixture


def stream_data(seed, n=12000, d=3):
    rng = np.random.default_rng(seed)
    # well apart (10 and more between centers, spreads up to 1.5), so that fit() and partial_fit climb to
    # the same optimum; from their own initialisations on overlapping clusters either may end on another
    centers = 10 * np.eye(3, d) + rng.normal(0, 1, (3, d))
    labels = rng.integers(0, 3, n)
    X = centers[labels] + rng.normal(0, 1, (n, d)) * rng.uniform(0.5, 1.5, (3, d))[labels]
    return X[: n - 3000], X[n - 3000:]


@pytest.mark.parametrize("cov", ["full", "diag", "spherical", "tied"])
def test_stream_score(seed, cov):
    X, test = stream_data(seed)
    batch = GaussianMixture(3, covariance_type=cov, random_state=0, device="cpu").fit(X)
    gm = GaussianMixture(3, covariance_type=cov, random_state=0, device="cpu")
    rng = np.random.default_rng(seed + 1)
    batches = np.array_split(X, len(X) // 300)
    for _ in range(3):
        for i in rng.permutation(len(batches)):
            gm.partial_fit(batches[i])
    assert gm.n_iter_ == 3 * len(batches)
    assert not gm.converged_
    sb, so = batch.score(test), gm.score(test)
    print(f"{cov}: held-out score batch {sb:.6f}, partial {so:.6f}, difference {abs(sb - so):.2e}")
    assert abs(sb - so) <= 1e-2


def test_state(seed):
    X, _ = stream_data(seed)
    gm = GaussianMixture(3, random_state=0, device="cpu")
    gm.partial_fit(X[:500])
    assert gm.n_iter_ == 1 and gm.means_.shape == (3, 3) and len(gm.lower_bounds_) == 1
    gm.partial_fit(X[500:1000])
    assert gm.n_iter_ == 2 and len(gm.lower_bounds_) == 2
    # fit() starts over; partial_fit then continues from the fitted parameters
    gm.fit(X)
    fitted = gm.means_.copy()
    gm.partial_fit(X[:1000])
    assert gm.n_iter_ == 1
    assert np.max(np.abs(gm.means_ - fitted)) < 1.0  # one step from the fit on a part of its data
    # warm_start concerns fit() only
    gm2 = GaussianMixture(3, random_state=0, device="cpu", warm_start=True)
    gm3 = GaussianMixture(3, random_state=0, device="cpu")
    for b in (X[:500], X[500:1000]):
        gm2.partial_fit(b)
        gm3.partial_fit(b)
    np.testing.assert_array_equal(gm2.means_, gm3.means_)
    # set_params starts over
    gm3.set_params(reg_covar=1e-4)
    gm3.partial_fit(X[1000:1500])
    assert gm3.n_iter_ == 1
    # weights and another float type
    w = np.random.default_rng(seed).integers(0, 3, 500).astype(float)
    w[0] = 1
    gm3.partial_fit(X[:500], sample_weight=w)
    gm3.partial_fit(X[500:1000].astype(np.float32))
    assert gm3.n_iter_ == 3


def test_pickle_keeps_parameters(seed):
    import pickle
    X, _ = stream_data(seed)
    gm = GaussianMixture(2, random_state=0, device="cpu")
    gm.partial_fit(X[:400])
    gm2 = pickle.loads(pickle.dumps(gm))
    np.testing.assert_array_equal(gm.means_, gm2.means_)
    gm2.partial_fit(X[400:800])  # starts its statistics over from the parameters
    assert gm2.n_iter_ == 1


def test_errors(seed):
    X, _ = stream_data(seed)
    gm = GaussianMixture(3, random_state=0, device="cpu")
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        gm.partial_fit(X[:2])
    gm.partial_fit(X[:100])
    with pytest.raises(ValueError, match="3 features"):
        gm.partial_fit(X[:100, :2])
    with pytest.raises(ValueError):
        gm.partial_fit(X[:100], sample_weight=np.ones(99))
    with pytest.raises(ValueError):
        gm.partial_fit(X[:100], sample_weight=-np.ones(100))
    with pytest.raises(ValueError, match="only zeros"):
        gm.partial_fit(X[:100], sample_weight=np.zeros(100))
    with pytest.raises((ValueError, TypeError)):
        gm.partial_fit(np.array([["a", "b", "c"]] * 10))
    bad = X[:100].copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gm.partial_fit(bad)
    assert gm.n_iter_ == 1  # refusals make no step
