"""Validation of the constructor parameters, with scikit-learn 1.2's messages.

scikit-learn checks every parameter at fit time (not in __init__, so that
clone and set_params stay cheap) and raises InvalidParameterError, a subclass
of both ValueError and TypeError, with "The 'tol' parameter of
GaussianMixture must be a float in the range [0.0, inf). Got -1 instead."
Programs and tests match these messages, so gmmc produces the same ones; the
extras device, spec, dtype and precision follow the same pattern. Also the shape checks
of weights_init, means_init and precisions_init (scikit-learn's
_check_parameters), which are cheap and must come before any work.
"""
import numbers
import os

import numpy as np

from ._array_api import to_numpy

from ._compat import InvalidParameterError

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
DEVICES = ("auto", "cpu", "cuda")


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _fail(name, expected, value, owner):
    raise InvalidParameterError(f"The {name!r} parameter of {owner} must be {expected}. Got {value!r} instead.")


def _int_at_least(name, value, low, owner):
    if not (_is_int(value) and value >= low):
        _fail(name, f"an int in the range [{low}, inf)", value, owner)


def _real_at_least_zero(name, value, owner):
    if not (_is_real(value) and value >= 0 and not np.isnan(value)):
        _fail(name, "a float in the range [0.0, inf)", value, owner)


def _options(name, value, options, owner):
    if not (isinstance(value, str) and value in options):
        _fail(name, "a str among {" + ", ".join(repr(o) for o in options) + "}", value, owner)


def validate(est):
    """Raises InvalidParameterError for the first bad constructor parameter of est."""
    owner = type(est).__name__
    _int_at_least("n_components", est.n_components, 1, owner)
    _options("covariance_type", est.covariance_type, COVARIANCE_TYPES, owner)
    _real_at_least_zero("tol", est.tol, owner)
    _real_at_least_zero("reg_covar", est.reg_covar, owner)
    _int_at_least("max_iter", est.max_iter, 0, owner)
    _int_at_least("n_init", est.n_init, 1, owner)
    _options("init_params", est.init_params, INIT_PARAMS, owner)
    rs = est.random_state
    if not (rs is None or isinstance(rs, np.random.RandomState) or (_is_int(rs) and 0 <= rs <= 2**32 - 1)):
        _fail("random_state", "an int in the range [0, 4294967295], an instance of "
              "'numpy.random.mtrand.RandomState' or None", rs, owner)
    if not isinstance(est.warm_start, (bool, np.bool_, numbers.Integral)):
        _fail("warm_start", "an instance of 'bool', an instance of 'numpy.bool_' or an instance of 'int'",
              est.warm_start, owner)
    v = est.verbose
    if not (isinstance(v, (bool, np.bool_)) or (_is_int(v) and v >= 0)):
        _fail("verbose", "an int in the range [0, inf), an instance of 'bool' or an instance of 'numpy.bool_'",
              v, owner)
    _int_at_least("verbose_interval", est.verbose_interval, 1, owner)
    _options("device", est.device, DEVICES, owner)
    if not (est.spec is None or isinstance(est.spec, (str, os.PathLike))):
        _fail("spec", "None, a path to a spec file or the text of a spec", est.spec, owner)
    if dtype_of(est.dtype) is False:
        _fail("dtype", "None, 'float32' or 'float64'", est.dtype, owner)
    # 'bf16' passes here: gmmc_fit_options_set_precision refuses it with why
    _options("precision", est.precision, ("float32", "3xtf32", "tf32", "float64-stats", "bf16"), owner)


def dtype_of(dtype):
    """None, np.float32 or np.float64 for the dtype parameter; False if it is not one of these."""
    if dtype is None:
        return None
    try:
        d = np.dtype(dtype)
    except TypeError:
        return False
    return d.type if d in (np.dtype(np.float32), np.dtype(np.float64)) else False


def read_spec(spec):
    """(name, text) of the spec parameter: a file's path, or the text itself."""
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and "\n" not in spec):
        path = os.fspath(spec)
        if not os.path.isfile(path):
            raise ValueError(f"spec: no file {path!r} (give the path of a spec file or the text of a spec)")
        with open(path, encoding="utf-8") as f:
            return path, f.read()
    return "spec", spec


def _check_shape(param, shape, name):
    param = np.array(param)
    if param.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, but got {param.shape}")


def precisions_shape(covariance_type, n_components, n_features):
    return {"full": (n_components, n_features, n_features), "tied": (n_features, n_features),
            "diag": (n_components, n_features), "spherical": (n_components,)}[covariance_type]


def check_initial(est, n_features):
    """scikit-learn's checks of weights_init, means_init and precisions_init (shapes, weight range and sum,
    positivity), with its messages; gmmc checks the precisions again when it factors them."""
    k = est.n_components
    if est.weights_init is not None:
        given = np.asarray(to_numpy(est.weights_init))
        w = given.astype(np.float64)
        _check_shape(w, (k,), "weights")
        if np.any(np.less(w, 0.0)) or np.any(np.greater(w, 1.0)):
            raise ValueError("The parameter 'weights' should be in the range [0, 1], but got max value "
                             f"{np.min(w):.5f}, min value {np.max(w):.5f}")
        # scikit-learn's tolerance by dtype: float32 weights sum to 1 within float32's rounding
        if not np.allclose(np.abs(1.0 - np.sum(w)), 0.0, atol=1e-6 if given.dtype == np.float32 else 1e-8):
            raise ValueError(f"The parameter 'weights' should be normalized, but got sum(weights) = {np.sum(w):.5f}")
    if est.means_init is not None:
        _check_shape(np.asarray(to_numpy(est.means_init), dtype=np.float64), (k, n_features), "means")
    if est.precisions_init is not None and est.spec is None:
        p = np.asarray(to_numpy(est.precisions_init), dtype=np.float64)
        _check_shape(p, precisions_shape(est.covariance_type, k, n_features), f"{est.covariance_type} precision")
        _check_precisions(p, est.covariance_type)


def _check_precisions(p, covariance_type):
    """scikit-learn's checks and words: positive (diag, spherical), symmetric positive-definite (full, tied)."""
    if covariance_type in ("diag", "spherical"):
        if np.any(np.less_equal(p, 0.0)):
            raise ValueError(f"'{covariance_type} precision' should be positive")
        return
    for m in (p if covariance_type == "full" else [p]):
        if not (np.allclose(m, m.T) and np.all(np.linalg.eigvalsh(m) > 0.0)):
            raise ValueError(f"'{covariance_type} precision' should be symmetric, positive-definite")
