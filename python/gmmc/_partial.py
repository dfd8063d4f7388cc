"""GaussianMixture.partial_fit: stepwise EM over batches (libgmmc's gmmc_online_*, 1.1).

Each call is one step of Cappé and Moulines' online EM in C: the batch's
statistics per unit of weight are blended into running float64 statistics,
s <- (1 - eta_k) s + eta_k s_batch with eta_k = (k + t0)^-alpha (alpha 0.6,
t0 2; the first step takes the batch's whole), and the M-step runs on them
(docs/python.md, "partial_fit").

State: the estimator keeps the handle (its running statistics) in
``_gmmc_online`` beside its parameters, with the parameters it was made for.
The first call initialises from its batch with init_params (or, on an
estimator fitted by fit(), starts from the fitted parameters); later calls
continue. fit() and a change of a parameter (set_params) start over. As in
scikit-learn, warm_start concerns fit() only: partial_fit always continues.
Pickling keeps the parameters but not the running statistics: after
unpickling, partial_fit starts over from the parameters.
"""
import ctypes

import numpy as np

from . import _array_api, _device, _params, _random, _validation
from ._capi import OK
from ._data import Data
from ._errors import GmmcError, GmmcValueError, error_for
from ._model import Model
from ._sample_weight import check_sample_weight

# the parameters a handle depends on; another value of one starts over
_KEYS = ("n_components", "covariance_type", "reg_covar", "init_params", "weights_init", "means_init",
         "precisions_init", "random_state", "device", "spec", "dtype")


def _text(b):
    return b.decode("utf-8", "replace") if b else ""


class Online:
    """Owns one gmmc_online handle of a context."""

    def __init__(self, ctx, options, start, dtype):
        if not ctx.lib.has("gmmc_online_create"):
            raise GmmcError(f"this libgmmc ({ctx.lib.path}, {ctx.lib.version}) has no partial fit: "
                            "gmmc_online_create is missing (libgmmc >= 1.1 has it)")
        self.ctx, self.dtype = ctx, dtype
        self._options = options  # the handle copies them; kept for the callbacks they hold
        self._start = start
        ptr = ctypes.c_void_p()
        ctx.call("gmmc_online_create", options.ptr, start.ptr if start is not None else None, ctypes.byref(ptr))
        self.ptr = ptr
        self._destroy = ctx.lib.cdll.gmmc_online_destroy

    def __del__(self):
        if getattr(self, "ptr", None):
            self._destroy(self.ptr)
            self.ptr = None

    def _call(self, name, *args):
        c = self.ctx.lib.cdll
        with self.ctx._lock:
            status = getattr(c, name)(self.ptr, *args)
            if status != OK:
                raise error_for(status, _text(c.gmmc_last_error(self.ctx.ptr)))

    def partial_fit(self, data, weights):
        if weights is None:
            self._call("gmmc_online_partial_fit", data, None, 0)
        else:
            self._call("gmmc_online_partial_fit", data, weights.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                       weights.size)

    @property
    def steps(self):
        return int(self.ctx.lib.cdll.gmmc_online_steps(self.ptr))

    def model(self):
        out = ctypes.c_void_p()
        self._call("gmmc_online_model", ctypes.byref(out))
        return Model(out)


def _key(est):
    params = est.get_params(deep=False)
    return tuple((k, repr(params.get(k))) for k in _KEYS)


def partial_fit(est, X, sample_weight=None):
    """One step of stepwise EM on the batch X (see the module docstring); returns est.

    X: anything fit() takes, CUDA arrays (read in place on the GPU) included."""
    _params.validate(est)
    owner = type(est).__name__
    online = est.__dict__.get("_gmmc_online")
    key = _key(est)
    if online is not None and est.__dict__.get("_gmmc_online_key") != key:
        online = None
    fitted = hasattr(est, "means_")
    start_fresh = online is None
    where = _array_api.namespace(X)
    dev = _device.wrap(X)
    if dev is None:
        X = _array_api.to_numpy(X)
        Xv = _validation.check_array(X, owner)
        if online is not None and Xv.dtype != online.dtype:
            Xv = Xv.astype(online.dtype)  # every batch in the first one's type, as gmmc requires
    else:
        Xv = _device.check(dev, owner)
        if online is not None and Xv.dtype != online.dtype:
            raise ValueError(f"partial_fit: this batch is a {Xv.dtype} GPU array but the first batch was "
                             f"{online.dtype}; GPU arrays are read in place, not converted: convert it on the "
                             "device first")
    reset = start_fresh and not fitted
    if reset and Xv.shape[0] < est.n_components:
        raise ValueError("Expected n_samples >= n_components but got n_components = "
                         f"{est.n_components}, n_samples = {Xv.shape[0]}")
    if dev is None:
        _validation.check_feature_names(est, X, reset=reset)
    _validation.check_n_features(est, Xv, reset=reset)
    if reset:
        _params.check_initial(est, Xv.shape[1])
    sw = None if sample_weight is None else check_sample_weight(_device.to_host(sample_weight), Xv)
    ctx = est._context()
    if start_fresh:
        start = est._synced_model() if fitted else None
        options = est._options(data_dtype=Xv.dtype).init(est.init_params).seed(_random.seed_from(est.random_state))
        for name, value in (("weights", est.weights_init), ("means", est.means_init),
                            ("precisions", est.precisions_init)):
            if value is not None and not fitted:
                options.init_param(name, _array_api.to_numpy(value))
        online = Online(ctx, options, start, Xv.dtype)
    with Data(ctx, Xv) as handle:
        try:
            online.partial_fit(handle, sw)
        except GmmcValueError as e:
            raise est._data_error(e, Xv) from None
    est.__dict__["_gmmc_online"] = online
    est.__dict__["_gmmc_online_key"] = key
    model = online.model()
    est._set_fitted(model)
    est._keep_dtype(online.dtype)
    est._to_namespace(where)
    est.converged_ = False
    est.n_iter_ = online.steps
    est.lower_bound_ = np.float64(model.lower_bound)
    previous = [] if start_fresh else list(getattr(est, "lower_bounds_", []))
    est.lower_bounds_ = previous + [float(model.lower_bound)]
    return est
