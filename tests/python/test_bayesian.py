"""gmmc.BayesianGaussianMixture against scikit-learn 1.2 from the same start.

The fixtures (tests/em/make_bayesian_fixtures.py, made afresh with the printed
seed) hold scikit-learn's variational inference from fixed initial
responsibilities: the parameters its _initialize made from them, the lower
bound after each of 30 iterations and the parameters after the last. gmmc
(the shipped specs bayesian_*, host backend, float64) starts from those
initial parameters (given as initial parameters, which replace the
initialisation's) and runs the same 30 iterations (tol = 0).

Tolerances (docs/dsl.md, "BayesianGaussianMixture", derives them):
  lower bounds, every iteration: 1e-6 relative (the issue's);
  parameters after 30 iterations: 1e-6 relative per element, floored at 1e-6
  of the array's largest magnitude;
  predict: equal on at least 99.9 % of the events; score_samples 1e-6 relative.
"""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from conftest import REPO

import gmmc
from gmmc import _fit

MAKE = os.path.join(REPO, "tests", "em", "make_bayesian_fixtures.py")
TYPES = ["full", "diag", "spherical", "tied"]
CASES = [f"{d}_{t}_{p}" for d in ("blobs", "overlapping", "iris") for t in TYPES for p in ("dp", "dd")]
PARAMS = ["weight_concentration", "weight_concentration_b", "weights", "mean_precision", "means",
          "degrees_of_freedom", "covariances", "precisions_cholesky", "mean_prior", "covariance_prior"]
LB_TOL = 1e-6
PARAM_TOL = 1e-6


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory, seed):
    out = tmp_path_factory.mktemp("bayesian_fixtures")
    subprocess.run([sys.executable, MAKE, str(out), str(seed)], check=True, stdout=subprocess.PIPE)
    return out


def array_diff(a, ref, floor):
    a, ref = np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(ref, dtype=np.float64).reshape(-1)
    assert a.shape == ref.shape
    scale = np.maximum(np.abs(ref), floor * np.abs(ref).max())
    return float(np.max(np.abs(a - ref) / np.where(scale > 0, scale, 1.0)))


def fit_from(f, cov, device="cpu", dtype=None):
    """gmmc from the fixture's initial parameters, for its iterations: the fitted model."""
    k, dp, reg, max_iter = f["settings"]
    est = gmmc.BayesianGaussianMixture(n_components=int(k), covariance_type=cov, reg_covar=reg,
                                       weight_concentration_prior_type="dirichlet_process" if dp else
                                       "dirichlet_distribution", device=device, dtype=dtype)
    X = f["X"] if dtype is None else f["X"].astype(dtype)
    o = est._options(data_dtype=X.dtype).tol(0.0).n_init(1).init("random").seed(1)
    for name in PARAMS:
        o.init_param(name, f["init_" + name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _fit.fit(est._context(), X, o, int(max_iter)).model, est



@pytest.mark.parametrize("case", CASES)
def test_bayesian_agreement(fixtures, case):
    f = dict(np.load(os.path.join(fixtures, case + ".npz")))
    model, est = fit_from(f, case.split("_")[1])
    ref = f["ref_lower_bounds"]
    lbs = np.asarray(model.lower_bounds)
    assert lbs.shape == ref.shape, (lbs.shape, ref.shape)
    worst = float(np.max(np.abs(lbs - ref) / np.abs(ref)))
    print(f"{case}: lower bounds within {worst:.2e} relative (iteration 1 {lbs[0]:.9f}, "
          f"{len(ref)} {lbs[-1]:.9f})")
    assert worst <= LB_TOL, (case, worst, lbs, ref)
    for name in PARAMS:
        d = array_diff(model.param(name), f["ref_" + name], PARAM_TOL)
        assert d <= PARAM_TOL, (case, name, d)
    est._set_fitted(model)
    pred = est.predict(f["X"])
    assert np.mean(pred == f["ref_predict"]) >= 0.999, case
    s = est.score_samples(f["X"])
    assert np.max(np.abs(s - f["ref_score_samples"]) / np.abs(f["ref_score_samples"]).max()) <= 1e-6, case


# ---- the drop-in: what scikit-learn's class offers, against scikit-learn itself -------------------------------
from sklearn.datasets import make_blobs  # noqa: E402
from sklearn.mixture import BayesianGaussianMixture as SkBGM  # noqa: E402

PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]
USER_COV = {"full": np.diag([2.0, 1.0, 3.0]), "tied": np.diag([2.0, 1.0, 3.0]), "diag": np.array([2.0, 1.0, 3.0]),
            "spherical": 2.0}


@pytest.fixture(scope="module")
def data(seed):
    X, _ = make_blobs(n_samples=600, centers=3, n_features=3, random_state=seed % 1000)
    return X


def sk_run(X, kw, resp):
    """scikit-learn's public fit, its initialisation replaced by resp."""
    a = SkBGM(**kw)
    a._initialize_parameters = lambda X_, random_state: a._initialize(X_, resp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return a.fit(X)


@pytest.mark.parametrize("cov", TYPES)
@pytest.mark.parametrize("prior", PRIOR_TYPES)
def test_user_priors(data, seed, cov, prior):
    """Every prior given (mean_prior and covariance_prior as initial parameters the M-step keeps, the others as
    scalars): the lower bounds of 20 iterations from the same start within 1e-6 relative."""
    kw = dict(n_components=4, covariance_type=cov, weight_concentration_prior_type=prior, weight_concentration_prior=0.1,
              mean_precision_prior=0.5, mean_prior=np.array([1.0, 2.0, 3.0]), degrees_of_freedom_prior=5.0,
              covariance_prior=USER_COV[cov], max_iter=20, tol=0.0)
    resp = np.random.RandomState(seed).dirichlet(np.full(4, 0.5), size=len(data))
    ref = sk_run(data, kw, resp)
    start = SkBGM(**kw)
    start._check_parameters(data)
    start._initialize(data, resp)
    dp = prior == "dirichlet_process"
    wa, wb = start.weight_concentration_ if dp else (start.weight_concentration_, np.zeros(4))
    start._set_parameters(start._get_parameters())
    f = {"settings": np.array([4, dp, 1e-6, 20]), "X": data,
         "init_weight_concentration": wa, "init_weight_concentration_b": wb, "init_weights": start.weights_,
         "init_mean_precision": start.mean_precision_, "init_means": start.means_,
         "init_degrees_of_freedom": start.degrees_of_freedom_, "init_covariances": start.covariances_,
         "init_precisions_cholesky": start.precisions_cholesky_, "init_mean_prior": kw["mean_prior"],
         "init_covariance_prior": np.asarray(USER_COV[cov])}
    est = gmmc.BayesianGaussianMixture(device="cpu", **kw)
    k, dpv, reg, max_iter = f["settings"]
    o = est._options(data_dtype=data.dtype).tol(0.0).n_init(1).init("random").seed(1)
    for name in PARAMS:
        o.init_param(name, f["init_" + name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _fit.fit(est._context(), data, o, 20).model
    assert abs(model.lower_bound - ref.lower_bound_) <= LB_TOL * abs(ref.lower_bound_), (model.lower_bound,
                                                                                         ref.lower_bound_)
    # and the class's own fit keeps the given priors
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = gmmc.BayesianGaussianMixture(device="cpu", random_state=0, **kw).fit(data)
    assert np.array_equal(fitted.mean_prior_, kw["mean_prior"])
    assert np.array_equal(np.asarray(fitted.covariance_prior_), np.asarray(USER_COV[cov]))


@pytest.mark.parametrize("cov", TYPES)
@pytest.mark.parametrize("prior", PRIOR_TYPES)
def test_attributes_as_sklearn(data, cov, prior):
    """The fitted attributes have scikit-learn's types and shapes (weight_concentration_ a pair of arrays for the
    Dirichlet process, an array for the distribution), and inference on scikit-learn's fitted parameters gives
    scikit-learn's predict, predict_proba, score_samples, score and samples."""
    kw = dict(n_components=4, covariance_type=cov, weight_concentration_prior_type=prior, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = SkBGM(**kw).fit(data)
        b = gmmc.BayesianGaussianMixture(device="cpu", **kw).fit(data)
    attrs = ["weights_", "weight_concentration_prior_", "weight_concentration_", "mean_precision_prior_",
             "mean_precision_", "mean_prior_", "means_", "degrees_of_freedom_prior_", "degrees_of_freedom_",
             "covariance_prior_", "covariances_", "precisions_", "precisions_cholesky_", "converged_", "n_iter_",
             "lower_bound_", "n_features_in_"]
    for attr in attrs:
        va, vb = getattr(a, attr), getattr(b, attr)
        if isinstance(va, tuple):
            assert isinstance(vb, tuple) and len(vb) == len(va), attr
            assert all(np.shape(x) == np.shape(y) for x, y in zip(va, vb)), attr
        else:
            assert type(vb) is type(va) or (np.isscalar(va) and np.isscalar(vb)), (attr, type(va), type(vb))
            assert np.shape(va) == np.shape(vb), (attr, np.shape(va), np.shape(vb))
    # the same fitted parameters: the same inference (tolerances of float64 evaluation orders)
    b._set_parameters(a._get_parameters())
    for attr in ("mean_prior_", "covariance_prior_"):
        setattr(b, attr, getattr(a, attr))
    assert np.allclose(b.weights_, a.weights_, rtol=1e-12, atol=0)
    assert np.array_equal(b.predict(data), a.predict(data))
    assert np.allclose(b.predict_proba(data), a.predict_proba(data), rtol=1e-9, atol=1e-12)
    assert np.allclose(b.score_samples(data), a.score_samples(data), rtol=1e-10, atol=0)
    assert abs(b.score(data) - a.score(data)) <= 1e-10 * abs(a.score(data))
    xa, ya = a.sample(25)
    xb, yb = b.sample(25)
    assert np.array_equal(ya, yb) and np.allclose(xa, xb, rtol=1e-12, atol=1e-12)


def test_fit_predict_pickle_warm_start(data):
    import pickle
    est = gmmc.BayesianGaussianMixture(n_components=4, random_state=0, device="cpu", max_iter=200)
    labels = est.fit_predict(data)
    assert np.array_equal(labels, est.predict(data))
    assert np.allclose(est.predict_proba(data).sum(axis=1), 1.0)
    again = pickle.loads(pickle.dumps(est))
    assert np.array_equal(again.predict(data), labels)
    # warm start continues from the fitted state: 5 iterations, then 5 more, are one fit of 10 (tol 0)
    kw = dict(n_components=4, random_state=0, device="cpu", tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = gmmc.BayesianGaussianMixture(max_iter=10, **kw).fit(data)
        warm = gmmc.BayesianGaussianMixture(max_iter=5, warm_start=True, **kw).fit(data)
        first = warm.lower_bound_
        warm.fit(data)
    assert warm.n_iter_ == 5 and whole.n_iter_ == 10
    assert abs(warm.lower_bound_ - whole.lower_bound_) <= 1e-12 * abs(whole.lower_bound_), (warm.lower_bound_,
                                                                                            whole.lower_bound_)
    assert abs(whole.lower_bounds_[4] - first) <= 1e-12 * abs(first)
    assert np.allclose(warm.means_, whole.means_, rtol=1e-10, atol=0)


def test_refusals(data):
    with pytest.raises(ValueError, match=r"The parameter 'degrees_of_freedom_prior' should be greater than 2, "
                                         r"but got 1\.000\."):
        gmmc.BayesianGaussianMixture(degrees_of_freedom_prior=1.0, device="cpu").fit(data)
    with pytest.raises(ValueError, match=r"The 'weight_concentration_prior_type' parameter of BayesianGaussianMixture "
                                         r"must be a str among \{'dirichlet_distribution', 'dirichlet_process'\}\. "
                                         r"Got 'dirichlet' instead\."):
        gmmc.BayesianGaussianMixture(weight_concentration_prior_type="dirichlet", device="cpu").fit(data)
    with pytest.raises(ValueError, match=r"The 'mean_precision_prior' parameter of BayesianGaussianMixture must be "
                                         r"None or a float in the range \(0\.0, inf\)\. Got 0\.0 instead\."):
        gmmc.BayesianGaussianMixture(mean_precision_prior=0.0, device="cpu").fit(data)
    with pytest.raises(ValueError, match="The parameter 'means' should have the shape of"):
        gmmc.BayesianGaussianMixture(mean_prior=np.zeros(2), device="cpu").fit(data)
    with pytest.raises(ValueError, match="'full precision' should be symmetric, positive-definite"):
        gmmc.BayesianGaussianMixture(covariance_prior=-np.eye(3), device="cpu").fit(data)
    with pytest.raises(ValueError, match="'diag precision' should be positive"):
        gmmc.BayesianGaussianMixture(covariance_type="diag", covariance_prior=np.zeros(3), device="cpu").fit(data)
    with pytest.raises(ValueError, match="The 'covariance_prior' parameter of BayesianGaussianMixture must be"):
        gmmc.BayesianGaussianMixture(covariance_type="spherical", covariance_prior=-1.0, device="cpu").fit(data)
    with pytest.raises(Exception, match="not fitted"):
        gmmc.BayesianGaussianMixture(device="cpu").predict(data)
