"""gmmc_fit_options built from an estimator's settings.

The estimator validates its parameters with scikit-learn's messages first
(_params.py); gmmc's setters check again, and a refusal there is reported with
gmmc's own message. The options object also keeps the ctypes callbacks it was
given alive for as long as the C side may call them.
"""
import ctypes
import weakref

import numpy as np

from . import _capi, _loader
from ._errors import GmmcValueError


class FitOptions:
    """Owns one gmmc_fit_options."""

    def __init__(self):
        self.lib = _loader.load()
        c = self.lib.cdll
        ptr = ctypes.c_void_p()
        if c.gmmc_fit_options_create(ctypes.byref(ptr)) != _capi.OK:
            raise MemoryError("gmmc_fit_options_create failed")
        self.ptr = ptr
        self._keep = []  # callbacks and the like, alive as long as the options
        self._finalizer = weakref.finalize(self, c.gmmc_fit_options_destroy, ptr)

    def _set(self, what, *args):
        fn = getattr(self.lib.cdll, "gmmc_fit_options_set_" + what)
        if fn(self.ptr, *args) != _capi.OK:
            message = self.lib.cdll.gmmc_fit_options_error(self.ptr)
            raise GmmcValueError(message.decode("utf-8", "replace") if message else f"bad {what}",
                                 "GMMC_ERR_INVALID_ARGUMENT")
        return self

    def n_components(self, n):
        return self._set("n_components", int(n))

    def covariance_type(self, name):
        return self._set("covariance_type", name.encode())

    def spec(self, name, text):
        return self._set("spec", name.encode(), text.encode())

    def tol(self, tol):
        return self._set("tol", float(tol))

    def reg_covar(self, reg):
        return self._set("reg_covar", float(reg))

    def max_iter(self, n):
        return self._set("max_iter", int(n))

    def n_init(self, n):
        return self._set("n_init", int(n))

    def init(self, method):
        return self._set("init", _capi.INIT[method])

    def seed(self, seed):
        return self._set("seed", int(seed))

    def dtype(self, gmmc_dtype):
        return self._set("dtype", gmmc_dtype)

    def precision(self, name):
        """'float32', '3xtf32', 'tf32' or 'float64-stats' (gmmc_fit_options_set_precision; it refuses anything else with
        its message)."""
        return self._set("precision", name.encode())

    def init_param(self, name, values):
        """Initial values of a parameter ('weights', 'means', 'precisions', ...), as float64."""
        v = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        self._keep.append(v)
        return self._set("init_param", name.encode(), v.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), v.size)

    def sample_weight(self, w):
        """Per-event weights, float64, one per row of the data fitted (the C side keeps a copy)."""
        v = np.ascontiguousarray(w, dtype=np.float64).reshape(-1)
        return self._set("sample_weight", v.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), v.size)

    def progress(self, fn):
        """fn(init, iter, lower_bound, change, seconds) after every EM iteration."""
        cb = _capi.PROGRESS_FN(lambda user, init, it, lb, change, seconds: fn(init, it, lb, change, seconds))
        self._keep.append(cb)
        return self._set("progress", cb, None)

    def warm_start(self, model):
        """Start from a model's parameters (the model must outlive the fit)."""
        self._keep.append(model)
        return self._set("warm_start", model.ptr if model is not None else None)
