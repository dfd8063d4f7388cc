"""A component that collapses in float32 is fitted as in float64 (issue 23, item 4).

Data: 400 events of N(0, I) in 16 dimensions and 3 far events (coordinates
of N(0, 1000^2)); the initial parameters give the 3 far ones to the second
component, whose M-step covariance then has rank 2: 14 null directions where
only reg_covar (1e-6) keeps it positive definite. float32 products of values
near 10^3 are rounded by about 10^6 * 2^-24 = 0.06, of either sign, so the
float32 statistics leave a direction negative (each of the 14 with odds near
one half); float64 terms keep the rounding near 10^-10, far below reg_covar.
On the GPU gmmc then fits again with float64 statistics (precision
'float64-stats') and says so; on the host every float32 fit forms those
terms in float64 already (docs/limits.md, "float32 on the host"): it fits
at once, without the warning. Either way the model is the one asked for
with precision 'float64-stats'. Fresh data per run (the seed is printed; GMMC_TEST_SEED replays).
GMMC_TEST_DEVICE=cuda runs the gmmc fits on the GPU (tests/gpu/session_check.sh).
"""
import os
import time
import warnings

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from gmmc import GaussianMixture

D = 16
DEVICE = os.environ.get("GMMC_TEST_DEVICE", "cpu")


def collapsing_problem():
    seed = int(os.environ.get("GMMC_TEST_SEED", time.time_ns() % (1 << 31)))
    print(f"test_collapse: seed {seed} (GMMC_TEST_SEED={seed} replays it)")
    rng = np.random.default_rng(seed)
    far = rng.normal(scale=1000.0, size=(3, D))
    x = np.vstack([rng.normal(size=(400, D)), far]).astype(np.float32)
    init = dict(means_init=np.vstack([np.zeros(D), far.mean(axis=0)]),
                precisions_init=np.stack([np.eye(D), np.eye(D) * 1e-6]), weights_init=np.array([0.99, 0.01]))
    return x, init


def fit(x, init, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = GaussianMixture(n_components=2, covariance_type="full", max_iter=3, tol=0, device=DEVICE, **init,
                              **kw).fit(x)
    return est, [str(w.message) for w in caught if "float64 statistics" in str(w.message)]


def test_float32_refits_with_float64_statistics():
    x, init = collapsing_problem()
    est, said = fit(x, init)
    if DEVICE == "cpu":
        assert said == [], said  # nothing to redo: the host's float32 statistics are float64 already
    else:
        assert len(said) == 1 and "not positive definite" in said[0], said
    assert np.isfinite(est.lower_bound_) and np.all(np.isfinite(est.precisions_cholesky_))
    # asked for: no first attempt, no warning, the same model
    asked, said_again = fit(x, init, precision="float64-stats")
    assert said_again == []
    assert asked.lower_bound_ == est.lower_bound_
    np.testing.assert_array_equal(asked.covariances_, est.covariances_)
    # scikit-learn in float64 from the same start. What differs is gmmc's
    # float32 E-step: a far event's x - mu off by 2^-24 of |x - mu| (float64
    # subtraction rounded to float32 on the host) or of |x - mu| + |mu| (mu
    # rounded to float32 first: the GPU's variants), at most `scale`, times the
    # null directions' precision factor 1/sqrt(reg_covar) = 10^3, summed over
    # D features: at most D * 10^3 * 2^-24 * scale off in each of the D
    # columns of y, 0.5 * D * that^2 nats off in its log-density, for each of
    # the 3 far events, over the events' mean
    far = x[-3:].astype(np.float64)
    scale = np.abs(far - far.mean(axis=0)).max() + np.abs(far.mean(axis=0)).max()
    bound = 3 * 0.5 * D * (D * 1e3 * 2.0**-24 * scale) ** 2 / len(x)
    sk = SkGaussianMixture(n_components=2, covariance_type="full", max_iter=3, tol=0, **init).fit(
        x.astype(np.float64))
    assert abs(est.lower_bound_ - sk.lower_bound_) <= bound, (est.lower_bound_, sk.lower_bound_, bound)
    np.testing.assert_allclose(est.weights_, sk.weights_, rtol=1e-6)


def test_float64_stats_is_refused_nowhere_and_float64_data_never_refits():
    x, init = collapsing_problem()
    est, said = fit(x.astype(np.float64), init)
    assert said == [] and np.isfinite(est.lower_bound_)
    with pytest.raises(ValueError):
        GaussianMixture(precision="float65", device=DEVICE).fit(x)
