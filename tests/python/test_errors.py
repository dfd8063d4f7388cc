"""Misuse gives the errors and warnings scikit-learn gives: same exception class, same message.

Each case runs the same call on scikit-learn's GaussianMixture and on gmmc's
and compares what is raised. The only message compared loosely is that of a
bad covariance_type or init_params, where scikit-learn lists the allowed
strings in set order, which changes from one process to the next.
"""
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.utils._param_validation import InvalidParameterError

from conftest import SKLEARN_12, initial_params, needs_sklearn_12
from gmmc import GaussianMixture

X = np.random.RandomState(0).randn(20, 2)


def raised(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - any exception is what is compared
        return e
    return None


def same_error(make_call):
    """make_call(Estimator) -> callable; both raise the same class and message (scikit-learn 1.2's)."""
    if not SKLEARN_12:
        pytest.skip("gmmc reproduces scikit-learn 1.2's messages; another version is installed")
    ours = raised(make_call(lambda **kw: GaussianMixture(device="cpu", **kw)))
    theirs = raised(make_call(SkGaussianMixture))
    assert theirs is not None and ours is not None, (theirs, ours)
    assert type(theirs) in type(ours).__mro__, (type(ours), type(theirs))
    return str(ours), str(theirs)


PARAMETER_CASES = [
    dict(n_components=0), dict(n_components=1.5), dict(tol=-1), dict(tol="a"), dict(reg_covar=-1),
    dict(max_iter=-1), dict(n_init=0), dict(random_state=-1), dict(random_state="a"), dict(warm_start="x"),
    dict(verbose=-1), dict(verbose_interval=0),
]


@pytest.mark.parametrize("kw", PARAMETER_CASES, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_bad_parameters(kw):
    ours, theirs = same_error(lambda E: lambda: E(**kw).fit(X))
    assert ours == theirs


@pytest.mark.parametrize("name,value", [("covariance_type", "bad"), ("init_params", "x")])
def test_bad_string_options(name, value):
    ours, theirs = same_error(lambda E: lambda: E(**{name: value}).fit(X))
    prefix = theirs.split("{")[0]
    assert ours.startswith(prefix) and ours.endswith(f"}}. Got {value!r} instead.")
    assert sorted(theirs.split("{")[1].split("}")[0].split(", ")) == sorted(ours.split("{")[1].split("}")[0].split(", "))


def test_gmmc_parameters_are_validated_the_same_way():
    for kw, match in [(dict(device="tpu"), "The 'device' parameter of GaussianMixture must be a str among"),
                      (dict(dtype="int8"), "The 'dtype' parameter of GaussianMixture must be None, 'float32'"),
                      (dict(spec=3), "The 'spec' parameter of GaussianMixture must be None"),
                      (dict(precision="fp16"), "The 'precision' parameter of GaussianMixture must be a str among")]:
        with pytest.raises(InvalidParameterError, match=match):
            GaussianMixture(**kw).fit(X)
    # bf16 is a known name that gmmc refuses with its reason
    with pytest.raises(ValueError, match="precision 'bf16' is not available yet"):
        GaussianMixture(precision="bf16").fit(X)
    # tf32 is accepted (it changes nothing on the host or for float64 data)
    assert GaussianMixture(precision="tf32", max_iter=2).fit(X).n_iter_ >= 1
    with pytest.raises(ValueError, match="spec: no file"):
        GaussianMixture(spec="/nonexistent/spec.yaml").fit(X)


INITIAL_CASES = [
    dict(n_components=2, weights_init=[0.5, 0.6]), dict(n_components=2, weights_init=[0.5]),
    dict(n_components=2, weights_init=[1.5, -0.5]), dict(n_components=2, means_init=np.zeros((3, 2))),
    dict(n_components=2, precisions_init=np.ones((2, 2))),
    dict(n_components=2, covariance_type="diag", precisions_init=np.ones(2)),
]


@pytest.mark.parametrize("kw", INITIAL_CASES, ids=range(len(INITIAL_CASES)))
def test_bad_initial_parameters(kw):
    ours, theirs = same_error(lambda E: lambda: E(**kw).fit(X))
    assert ours == theirs


def test_bad_precisions_values_are_refused():
    """Positivity and positive definiteness of precisions_init, with scikit-learn's words."""
    for kw, words in [(dict(covariance_type="spherical", precisions_init=-np.ones(2)),
                       "'spherical precision' should be positive"),
                      (dict(precisions_init=np.array([np.eye(2), -np.eye(2)])),
                       "'full precision' should be symmetric, positive-definite")]:
        with pytest.raises(ValueError, match=words):
            GaussianMixture(n_components=2, device="cpu", **kw).fit(X)
        with pytest.raises(ValueError):
            SkGaussianMixture(n_components=2, **kw).fit(X)


BAD_X = {
    "one sample": X[:1], "1-D": X[:, 0], "3-D": np.zeros((3, 2, 2)), "no features": np.zeros((5, 0)),
    "NaN": np.array([[np.nan, 1], [1, 2], [3, 4]]), "infinity": np.array([[np.inf, 1], [1, 2], [3, 4]]),
    "strings": np.array([["a", "b"], ["c", "d"]]),
}


@pytest.mark.parametrize("what", list(BAD_X))
def test_bad_X_at_fit(what):
    ours, theirs = same_error(lambda E: lambda: E().fit(BAD_X[what]))
    assert ours == theirs


def test_sparse_X():
    import scipy.sparse
    ours, theirs = same_error(lambda E: lambda: E().fit(scipy.sparse.csr_matrix(X)))
    assert ours == theirs


def test_too_few_samples():
    ours, theirs = same_error(lambda E: lambda: E(n_components=30).fit(X))
    assert ours == theirs == "Expected n_samples >= n_components but got n_components = 30, n_samples = 20"


@pytest.mark.parametrize("what", ["wrong n_features", "NaN", "1-D"])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score", "bic", "aic"])
def test_bad_X_after_fit(what, method):
    bad = {"wrong n_features": np.zeros((2, 3)), "NaN": np.array([[np.nan, 1.0]]), "1-D": X[:, 0]}[what]

    def call(E):
        est = E(n_components=2, **initial_params(X, 2, "full")).fit(X)
        return lambda: getattr(est, method)(bad)
    ours, theirs = same_error(call)
    assert ours == theirs
    if what == "wrong n_features":
        assert ours == "X has 3 features, but GaussianMixture is expecting 2 features as input."


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score", "bic", "aic", "sample"])
def test_not_fitted(method):
    def call(E):
        est = E()
        return (lambda: est.sample(2)) if method == "sample" else (lambda: getattr(est, method)(X))
    ours, theirs = same_error(call)
    assert ours == theirs
    assert isinstance(raised(call(GaussianMixture)), NotFittedError)


def test_sample_needs_one_sample():
    ours, theirs = same_error(lambda E: lambda: E(n_components=1).fit(X).sample(0))
    assert ours.startswith("Invalid value for 'n_samples': 0 .") and theirs.startswith("Invalid value for 'n_samples'")


@needs_sklearn_12
def test_convergence_warning():
    for E in (SkGaussianMixture, lambda **kw: GaussianMixture(device="cpu", **kw)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            E(n_components=3, max_iter=1, random_state=0).fit(X)
        assert [(w.category, str(w.message)) for w in caught] == [
            (ConvergenceWarning, "Initialization 1 did not converge. Try different init parameters, or increase "
                                 "max_iter, tol or check for degenerate data.")]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            E(n_components=3, max_iter=0, random_state=0).fit(X)  # max_iter=0: initialisation only, no warning
        assert caught == []


def test_ill_defined_covariance_is_an_error_not_nan():
    Xd = np.vstack([np.zeros((10, 2)), np.ones((10, 2))])  # collapsed components
    with pytest.raises(ValueError, match="reg_covar"):
        GaussianMixture(n_components=2, reg_covar=0, device="cpu", random_state=0).fit(Xd)
