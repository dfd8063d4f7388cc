"""The whole scikit-learn surface of gmmc.GaussianMixture, side by side with scikit-learn's.

Where results are compared with scikit-learn, both start from the same initial
parameters (conftest.initial_params), so that EM runs the same iterations in
both; random initialisations use different generators in gmmc and NumPy.
"""
import copy
import io
import pickle
import re
from contextlib import redirect_stdout

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import SKLEARN_12, initial_params, needs_sklearn_12
from gmmc import GaussianMixture

TYPES = ["full", "tied", "diag", "spherical"]


def pair(X, k=4, cov="full", dtype="float64", **kw):
    """The same model fitted by scikit-learn and by gmmc, from the same start."""
    args = dict(n_components=k, covariance_type=cov, **initial_params(X, k, cov), **kw)
    return SkGaussianMixture(**args).fit(X), GaussianMixture(device="cpu", dtype=dtype, **args).fit(X)


# ---- constructor and parameters ------------------------------------------------------------------------
def test_constructor_defaults_are_sklearns():
    sk = SkGaussianMixture().get_params()
    ours = GaussianMixture().get_params()
    extras = {"device": "auto", "spec": None, "dtype": None, "precision": "float32"}
    assert {k: v for k, v in ours.items() if k not in extras} == sk
    assert {k: ours[k] for k in extras} == extras


def test_n_components_is_the_only_positional_parameter():
    with pytest.raises(TypeError):
        GaussianMixture(2, "diag")
    assert GaussianMixture(3).n_components == 3


def test_get_set_params_and_clone(blobs):
    gm = GaussianMixture(n_components=4, covariance_type="diag", device="cpu")
    assert gm.set_params(tol=1e-4, max_iter=50) is gm
    assert gm.get_params()["tol"] == 1e-4 and gm.max_iter == 50
    gm.fit(blobs)
    c = clone(gm)
    assert c.get_params() == gm.get_params()
    assert not hasattr(c, "means_")
    assert " ".join(repr(c).split()) == ("GaussianMixture(covariance_type='diag', device='cpu', max_iter=50, "
                                         "n_components=4, tol=0.0001)")
    with pytest.raises(ValueError, match="Invalid parameter"):
        gm.set_params(bogus=1)


def test_grid_search_and_pipeline(blobs):
    grid = GridSearchCV(GaussianMixture(device="cpu", random_state=0),
                        {"n_components": [1, 4], "covariance_type": ["full", "spherical"]}, cv=3)
    grid.fit(blobs)
    assert grid.best_params_["n_components"] == 4
    assert isinstance(grid.best_estimator_, GaussianMixture)
    pipe = make_pipeline(StandardScaler(), GaussianMixture(n_components=4, device="cpu", random_state=0))
    labels = pipe.fit(blobs).predict(blobs)
    assert labels.shape == (len(blobs),) and len(np.unique(labels)) == 4
    assert np.isfinite(pipe.score(blobs))


# ---- fitted attributes and results: same shapes, dtypes and values as scikit-learn -------------------
@pytest.mark.parametrize("cov", TYPES)
def test_attributes_and_methods_match_sklearn(blobs, cov):
    sk, gm = pair(blobs, cov=cov)
    for attr in ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]:
        a, b = getattr(gm, attr), getattr(sk, attr)
        assert isinstance(a, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype == np.float64, attr
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, err_msg=attr)
    assert type(gm.converged_) is bool and gm.converged_ == sk.converged_
    assert type(gm.n_iter_) is int and gm.n_iter_ == sk.n_iter_
    assert type(gm.lower_bound_) is type(sk.lower_bound_) and np.isclose(gm.lower_bound_, sk.lower_bound_,
                                                                         rtol=1e-9)
    assert type(gm.n_features_in_) is int and gm.n_features_in_ == sk.n_features_in_ == 3
    assert not hasattr(gm, "feature_names_in_")

    X = blobs[:100]
    for method in ["predict", "predict_proba", "score_samples"]:
        a, b = getattr(gm, method)(X), getattr(sk, method)(X)
        assert a.shape == b.shape and a.dtype == b.dtype, method
    np.testing.assert_array_equal(gm.predict(X), sk.predict(X))
    np.testing.assert_allclose(gm.predict_proba(X), sk.predict_proba(X), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gm.score_samples(X), sk.score_samples(X), rtol=1e-9)
    for method in ["score", "bic", "aic"]:
        a, b = getattr(gm, method)(X), getattr(sk, method)(X)
        assert type(a) is np.float64 and (type(b) is np.float64 or not SKLEARN_12), method
        assert np.isclose(a, b, rtol=1e-9), method
    assert gm._n_parameters() == sk._n_parameters()


def test_float32_in_float32_out(blobs):
    """As scikit-learn >= 1.6: the fitted parameters and the scores of float32 data are float32 (gmmc sums
    in float64 either way); float64 data gives float64."""
    X32 = blobs.astype(np.float32)
    sk, gm = pair(X32, dtype=None)
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"]:
        assert getattr(gm, attr).dtype == np.float32
        np.testing.assert_allclose(getattr(gm, attr), getattr(sk, attr), rtol=1e-3, atol=1e-4)
    assert gm.predict_proba(X32).dtype == np.float32 and gm.score_samples(X32).dtype == np.float32
    gm64 = GaussianMixture(4, device="cpu", random_state=0).fit(blobs)
    assert gm64.means_.dtype == np.float64 and gm64.score_samples(blobs).dtype == np.float64
    assert np.mean(gm.predict(X32) == sk.predict(X32)) >= 0.999


def test_arrays_are_read_in_place_or_converted_once(blobs):
    from gmmc._validation import check_array
    X = np.ascontiguousarray(blobs)
    assert check_array(X, "GaussianMixture") is X
    X32 = X.astype(np.float32)
    assert check_array(X32, "GaussianMixture") is X32
    F = np.asfortranarray(X32)
    converted = check_array(F, "GaussianMixture")
    assert converted.dtype == np.float32 and converted.flags.c_contiguous
    assert check_array(X.astype(np.int32), "GaussianMixture").dtype == np.float64
    assert check_array(X.tolist(), "GaussianMixture").dtype == np.float64
    big_endian = X.astype(">f8")
    assert check_array(big_endian, "GaussianMixture").dtype.isnative
    strided = X[::2]
    gm = GaussianMixture(4, device="cpu", random_state=0).fit(X)
    np.testing.assert_array_equal(gm.predict(strided), gm.predict(np.ascontiguousarray(strided)))
    np.testing.assert_array_equal(gm.predict(big_endian), gm.predict(X))


def test_fit_predict_equals_fit_then_predict(blobs):
    a = GaussianMixture(4, device="cpu", random_state=3).fit_predict(blobs)
    gm = GaussianMixture(4, device="cpu", random_state=3).fit(blobs)
    assert a.dtype == np.int64
    np.testing.assert_array_equal(a, gm.predict(blobs))
    sk = SkGaussianMixture(4, random_state=3)
    assert sk.fit_predict(blobs).dtype == a.dtype


def test_fit_returns_self_and_ignores_y(blobs):
    gm = GaussianMixture(2, device="cpu")
    assert gm.fit(blobs, y=np.zeros(len(blobs))) is gm


# ---- sampling ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cov", TYPES)
def test_sample_shapes_and_grouped_labels(blobs, cov):
    sk, gm = pair(blobs, cov=cov, random_state=0)
    X, y = gm.sample(500)
    Xs, ys = sk.sample(500)
    assert X.shape == Xs.shape == (500, 3) and X.dtype == Xs.dtype == np.float64
    assert y.shape == ys.shape and y.dtype == ys.dtype
    assert np.all(np.diff(y) >= 0), "labels grouped by component, in order"
    # each group lies around its component's mean (within 5 standard errors)
    for k in np.unique(y):
        group = X[y == k]
        if len(group) > 30:
            error = 5 * group.std(axis=0) / np.sqrt(len(group))
            assert np.all(np.abs(group.mean(axis=0) - gm.means_[k]) <= error), k
    assert gm.sample()[0].shape == (1, 3)


def test_sample_random_state_semantics(blobs):
    gm = GaussianMixture(4, device="cpu", random_state=5).fit(blobs)
    a, _ = gm.sample(10)
    b, _ = gm.sample(10)
    np.testing.assert_array_equal(a, b)  # an int seed: the same draws on every call, as scikit-learn
    gm.set_params(random_state=np.random.RandomState(1))
    c, _ = gm.sample(10)
    d, _ = gm.sample(10)
    assert not np.array_equal(c, d)  # a RandomState advances
    gm.set_params(random_state=None)
    np.random.seed(0)
    e, _ = gm.sample(10)
    np.random.seed(0)
    f, _ = gm.sample(10)
    np.testing.assert_array_equal(e, f)  # None: NumPy's global generator, so np.random.seed applies


def test_random_state_reproducible_fits(blobs):
    a = GaussianMixture(4, device="cpu", random_state=11, n_init=2).fit(blobs)
    b = GaussianMixture(4, device="cpu", random_state=11, n_init=2).fit(blobs)
    np.testing.assert_array_equal(a.means_, b.means_)
    rs1, rs2 = np.random.RandomState(4), np.random.RandomState(4)
    c = GaussianMixture(4, device="cpu", random_state=rs1).fit(blobs)
    d = GaussianMixture(4, device="cpu", random_state=rs2).fit(blobs)
    np.testing.assert_array_equal(c.means_, d.means_)


# ---- warm start ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("cov", ["full", "diag"])
def test_warm_start_one_iteration_per_fit_as_sklearn(blobs, cov):
    """make_fixtures.py's pattern: warm_start=True, max_iter=1, one fit per EM iteration."""
    X = blobs + np.random.RandomState(0).randn(*blobs.shape) * 2.0  # overlapping: many iterations
    args = dict(n_components=4, covariance_type=cov, tol=1e-6, max_iter=1, warm_start=True,
                **initial_params(X, 4, cov))
    sk, gm = SkGaussianMixture(**args), GaussianMixture(device="cpu", **args)
    for step in range(12):
        with _warnings_recorded() as ws_sk:
            sk.fit(X)
        with _warnings_recorded() as ws_gm:
            gm.fit(X)
        assert gm.n_iter_ == sk.n_iter_ == 1
        assert gm.converged_ == sk.converged_
        assert np.isclose(gm.lower_bound_, sk.lower_bound_, rtol=1e-9), step
        assert [w.category for w in ws_gm] == [w.category for w in ws_sk]
    np.testing.assert_allclose(gm.means_, sk.means_, rtol=1e-7)


def test_warm_start_stops_where_sklearn_does(blobs):
    """A warm fit compares its first iteration with the previous lower_bound_ (scikit-learn's rule): with tol
    between the first and the second change it stops at iteration 2, below the first at iteration 1."""
    X = blobs + np.random.RandomState(1).randn(*blobs.shape) * 2.0
    base = dict(n_components=4, covariance_type="full", **initial_params(X, 4, "full"))
    probe = SkGaussianMixture(max_iter=1, warm_start=True, tol=0, **base)
    lbs = []
    with _warnings_recorded():
        for _ in range(6):
            lbs.append(probe.fit(X).lower_bound_)
    changes = np.abs(np.diff(lbs))  # changes[2] is the first of a warm fit after 3 iterations
    assert changes[2] > changes[3], "the test needs decreasing changes"
    for tol in [changes[2] * 1.01, (changes[2] + changes[3]) / 2, changes[4] * 0.5, 0.0]:
        results = []
        for Est, extra in ((SkGaussianMixture, {}), (GaussianMixture, {"device": "cpu"})):
            est = Est(max_iter=3, tol=0, warm_start=True, **base, **extra)
            with _warnings_recorded():
                est.fit(X)
                est.set_params(tol=tol, max_iter=20)
                est.fit(X)
            results.append((est.n_iter_, est.converged_, est.lower_bound_, est.means_.copy()))
        (n1, c1, lb1, m1), (n2, c2, lb2, m2) = results
        assert (n2, c2) == (n1, c1), tol
        assert np.isclose(lb2, lb1, rtol=1e-9)
        np.testing.assert_allclose(m2, m1, rtol=1e-7)


def test_warm_start_ignores_n_init_and_continues(blobs):
    gm = GaussianMixture(4, device="cpu", random_state=0, warm_start=True, n_init=3, max_iter=2, tol=0)
    with _warnings_recorded():
        gm.fit(blobs)
        first = gm.lower_bound_
        gm.fit(blobs)
    assert gm.lower_bound_ >= first - 1e-12


# ---- verbose output --------------------------------------------------------------------------------------
def _lines(est, X):
    out = io.StringIO()
    with redirect_stdout(out), _warnings_recorded():
        est.fit(X)
    return out.getvalue().splitlines()


@needs_sklearn_12
@pytest.mark.parametrize("n_init", [1, 2])
def test_verbose_1_prints_sklearns_lines(blobs, n_init):
    X = blobs + np.random.RandomState(2).randn(*blobs.shape) * 2.0
    args = dict(n_components=4, verbose=1, verbose_interval=2, n_init=n_init, tol=1e-5, **initial_params(X, 4, "full"))
    assert _lines(GaussianMixture(device="cpu", **args), X) == _lines(SkGaussianMixture(**args), X)


@needs_sklearn_12
def test_verbose_2_prints_sklearns_lines_with_times(blobs):
    X = blobs + np.random.RandomState(3).randn(*blobs.shape) * 2.0
    args = dict(n_components=4, verbose=2, verbose_interval=3, tol=1e-5, **initial_params(X, 4, "full"))
    ours, theirs = _lines(GaussianMixture(device="cpu", **args), X), _lines(SkGaussianMixture(**args), X)
    assert len(ours) == len(theirs)
    number = r"-?(?:\d+\.\d+|inf)"
    iteration = re.compile(rf"  Iteration (\d+)\t time lapse (\d+\.\d{{5}})s\t ll change ({number})$")
    end = re.compile(rf"Initialization converged: (True|False)\t time lapse (\d+\.\d{{5}})s\t ll ({number})$")
    for a, b in zip(ours, theirs):
        for pattern in (iteration, end):
            ma, mb = pattern.match(a), pattern.match(b)
            if mb:
                assert ma, (a, b)
                assert ma.group(1) == mb.group(1)
                assert np.isclose(float(ma.group(3)), float(mb.group(3)), rtol=1e-4, atol=2e-5)
                break
        else:
            assert a == b


@needs_sklearn_12
def test_verbose_max_iter_0(blobs):
    # no precisions_init: scikit-learn 1.2 fails with max_iter=0 and precisions_init (no covariances_)
    args = dict(n_components=2, verbose=1, max_iter=0, n_init=2, random_state=0)
    assert _lines(GaussianMixture(device="cpu", **args), blobs) == _lines(SkGaussianMixture(**args), blobs)


# ---- parameters assigned by hand, pickling, copies ----------------------------------------------------------
@pytest.mark.parametrize("cov", TYPES)
def test_parameters_assigned_by_hand(blobs, cov):
    """scikit-learn reads its attributes at every call: assigned means_ (after or without fit) count."""
    sk, gm = pair(blobs, cov=cov)
    shifted = sk.means_ + 1.0
    sk.means_, gm.means_ = shifted, shifted.copy()
    np.testing.assert_allclose(gm.score_samples(blobs), sk.score_samples(blobs), rtol=1e-9)
    fresh_sk, fresh_gm = SkGaussianMixture(4, covariance_type=cov), GaussianMixture(4, covariance_type=cov,
                                                                                   device="cpu")
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        setattr(fresh_sk, attr, getattr(sk, attr))
        setattr(fresh_gm, attr, getattr(sk, attr))
    np.testing.assert_array_equal(fresh_gm.predict(blobs), fresh_sk.predict(blobs))
    np.testing.assert_allclose(fresh_gm.score(blobs), fresh_sk.score(blobs), rtol=1e-9)
    assert fresh_gm.sample(5)[0].shape == (5, 3)


@pytest.mark.parametrize("cov", TYPES)
def test_pickle_round_trip(blobs, cov):
    gm = GaussianMixture(4, covariance_type=cov, device="cpu", random_state=0).fit(blobs)
    data = pickle.dumps(gm)
    back = pickle.loads(data)
    assert back.get_params() == gm.get_params()
    for attr in ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_", "converged_",
                 "n_iter_", "lower_bound_", "n_features_in_"]:
        np.testing.assert_array_equal(getattr(back, attr), getattr(gm, attr), err_msg=attr)
    np.testing.assert_array_equal(back.predict(blobs), gm.predict(blobs))
    assert back.score(blobs) == gm.score(blobs)
    assert b"gmmc_model" in data  # through the model file text
    c = copy.deepcopy(gm)
    np.testing.assert_array_equal(c.predict_proba(blobs), gm.predict_proba(blobs))
    unfitted = pickle.loads(pickle.dumps(GaussianMixture(3, tol=0.5)))
    assert unfitted.get_params()["tol"] == 0.5 and not hasattr(unfitted, "means_")


def test_pickle_keeps_assigned_parameters(blobs):
    gm = GaussianMixture(4, device="cpu", random_state=0).fit(blobs)
    gm.means_ = gm.means_ + 0.25
    back = pickle.loads(pickle.dumps(gm))
    np.testing.assert_array_equal(back.means_, gm.means_)
    np.testing.assert_array_equal(back.score_samples(blobs), gm.score_samples(blobs))


# ---- feature names (DataFrame-like input) ----------------------------------------------------------------
class Frame:
    """The two things scikit-learn looks at in a DataFrame: columns and __array__ (pandas is not needed)."""

    def __init__(self, values, columns):
        self.values, self.columns = np.asarray(values), list(columns)

    def __array__(self, dtype=None):
        return self.values if dtype is None else self.values.astype(dtype)


def test_feature_names(blobs):
    gm = GaussianMixture(2, device="cpu", random_state=0).fit(Frame(blobs, ["a", "b", "c"]))
    np.testing.assert_array_equal(gm.feature_names_in_, ["a", "b", "c"])
    assert gm.feature_names_in_.dtype == object
    gm.predict(Frame(blobs, ["a", "b", "c"]))
    with pytest.warns(UserWarning, match="X does not have valid feature names, but GaussianMixture was fitted"):
        gm.predict(blobs)
    with pytest.raises(ValueError, match="The feature names should match those that were passed during fit"):
        gm.predict(Frame(blobs, ["a", "b", "z"]))
    gm.fit(blobs)
    assert not hasattr(gm, "feature_names_in_")
    with pytest.warns(UserWarning, match="X has feature names, but GaussianMixture was fitted without"):
        gm.predict(Frame(blobs, ["a", "b", "c"]))


# ---- extras ------------------------------------------------------------------------------------------------
def test_fit_stats_and_dtype_option(blobs):
    gm = GaussianMixture(4, device="cpu", dtype="float32", random_state=0).fit(blobs)
    s = gm.fit_stats_
    assert s["device"].startswith("host")
    assert s["iterations_run"] >= gm.n_iter_ and len(s["iteration_seconds"]) == s["iterations_run"]
    assert 0 < s["seconds_in_iterations"] <= s["seconds_in_c"] <= s["seconds_fit"]
    ref = GaussianMixture(4, device="cpu", dtype="float64", random_state=0).fit(blobs)
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-3, atol=1e-3)


def test_user_spec(blobs, tmp_path):
    import gmmc
    text = open(gmmc_spec_path("gmm_diag.yaml")).read()
    path = tmp_path / "my_diag.yaml"
    path.write_text(text)
    by_path = GaussianMixture(4, spec=str(path), device="cpu", random_state=0).fit(blobs)
    by_text = GaussianMixture(4, spec=text, device="cpu", random_state=0).fit(blobs)
    shipped = GaussianMixture(4, covariance_type="diag", device="cpu", random_state=0).fit(blobs)
    np.testing.assert_array_equal(by_path.means_, shipped.means_)
    np.testing.assert_array_equal(by_text.predict(blobs), shipped.predict(blobs))
    np.testing.assert_allclose(by_path.precisions_, shipped.precisions_)
    with pytest.raises(gmmc.SpecError) as e:
        GaussianMixture(2, spec=text.replace("logsumexp(m,", "logsumexp(q,"), device="cpu").fit(blobs)
    assert "spec:" in str(e.value) and isinstance(e.value, ValueError)


def test_device_cuda_without_gpu_is_a_clear_error(blobs):
    import gmmc
    if gmmc.library_info()["device"].startswith("host") is False:
        pytest.skip("a GPU is present")
    with pytest.raises(gmmc.DeviceError):
        GaussianMixture(2, device="cuda").fit(blobs)


def test_python_m_gmmc_version():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "gmmc", "--version"], check=True, stdout=subprocess.PIPE,
                         text=True, cwd=gmmc_python_dir()).stdout
    assert re.match(r"gmmc \(Python package\) \d+\.\d+\.\d+\nlibgmmc \d+\.\d+\.\d+ \(.+\)\ndevice: \S", out), out


def test_versions_agree():
    import os
    import gmmc
    from gmmc._loader import load
    assert load().version == gmmc.__version__
    cmake = open(os.path.join(os.path.dirname(gmmc_python_dir()), "CMakeLists.txt")).read()
    assert re.search(r"project\(gmmc VERSION " + re.escape(gmmc.__version__), cmake)


def gmmc_python_dir():
    import os
    import gmmc
    return os.path.dirname(os.path.dirname(gmmc.__file__))


def gmmc_spec_path(name):
    import os
    return os.path.join(os.path.dirname(gmmc_python_dir()), "dsl", "specs", name)


class _warnings_recorded:
    """warnings.catch_warnings(record=True) with every warning kept."""

    def __enter__(self):
        import warnings
        self._cm = warnings.catch_warnings(record=True)
        caught = self._cm.__enter__()
        warnings.simplefilter("always")
        return caught

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def test_sklearn_version_is_the_reference():
    assert sklearn.__version__.startswith("1.")


def test_sklearn_check_estimator():
    """scikit-learn's own estimator checks (its API contract), the GMM-relevant ones included."""
    import warnings
    from sklearn.utils.estimator_checks import check_estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(GaussianMixture(device="cpu"))


def test_complex_data_is_refused():
    ours = pytest.raises(ValueError, GaussianMixture(device="cpu").fit, np.ones((4, 2), dtype=complex))
    assert str(ours.value).startswith("Complex data not supported")
