"""gmmc.GaussianMixture: scikit-learn's GaussianMixture, trained by gmmc.

The class is glue only. Every computation on the data or the parameters (the
initialisations, EM, predict, predict_proba, score_samples, score, bic, aic,
sample) is one call of libgmmc's public API; this file validates arguments
with scikit-learn's messages, converts between NumPy arrays and gmmc handles,
and keeps scikit-learn's attributes. The one formula evaluated in Python is
precisions_ = U Uᵀ from precisions_cholesky_ (see _precisions.py).

Fitted parameters are plain float64 arrays, as in scikit-learn, and they are
the truth: before each inference call they are written into the gmmc model,
so that a user who assigns means_ (or builds a mixture by hand, without fit)
gets predictions from those values, as scikit-learn would give.
"""
import ctypes
import time
import warnings

import numpy as np

from . import _array_api, _device, _fit, _params, _partial, _random, _validation
from ._compat import (BaseEstimator, ConvergenceWarning, DensityMixin, NotFittedError, convergence_message,
                      ill_defined_message)
from ._context import Context
from ._data import Data, gmmc_dtype
from ._errors import GmmcValueError
from ._model import Model
from ._options import FitOptions
from ._precisions import (cholesky_from_covariances, cholesky_from_precisions, covariance_kind,
                          estimate_parameters, precisions_from_cholesky)
from ._progress import Printer, Recorder
from ._sample_weight import check_sample_weight

# scikit-learn attribute <- gmmc model parameter; these are what the model is rebuilt from
# the fitted arrays, kept in the data's type and the input's array namespace
_FITTED_ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")
_MODEL_ATTRS = (("weights_", "weights"), ("means_", "means"), ("covariances_", "covariances"),
                ("precisions_cholesky_", "precisions_cholesky"))


class _FitState:
    """What GaussianMixture._begin_fit prepared for the C call and _end_fit needs after it."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture trained with EM by gmmc (GPU or host), scikit-learn's interface.

    Parameters are scikit-learn 1.2's (see sklearn.mixture.GaussianMixture), plus:

    device : {'auto', 'cpu', 'cuda'}, default='auto'
        Where gmmc trains and predicts: 'auto' takes the GPU when one is usable
        and the host otherwise; 'cuda' fails without a GPU.
    spec : str or path-like, default=None
        A model spec of gmmc's DSL (the path of a file, or its text) to train
        instead of the shipped model of covariance_type.
    dtype : {None, 'float32', 'float64'}, default=None
        Precision of gmmc's kernels. None: the data's, on every backend, as
        scikit-learn (float64 arrays: float64 kernels, also on a GPU; float32
        arrays: float32 kernels with float64 sums). Parameters are float64
        whatever it is.
    precision : {'float32', '3xtf32', 'tf32', 'float64-stats'}, default='float32'
        What float32 kernels on a GPU (compute capability 8.0 or later) may
        trade for speed: 'float32' allows the FFMA kernels only; '3xtf32'
        also the error-compensated 3xTF32 tensor-core ones (float32-accurate
        for well-conditioned covariances, up to 100x float32's error on the
        lower bound for ill-conditioned ones: docs/limits.md); 'tf32' one
        TF32 product instead (10-bit mantissas, faster; docs/limits.md gives
        its error). 'float64-stats' (float32 data, any backend): every sum over
        events of float64 terms, so covariances are as positive definite as
        in a float64 fit (a float32 fit whose covariance fails to factor is
        redone so by itself). 'bf16' is refused: not available yet.

    Attributes are scikit-learn's: weights_, means_, covariances_, precisions_,
    precisions_cholesky_, converged_, n_iter_, lower_bound_, n_features_in_,
    feature_names_in_ (DataFrames with string column names). gmmc adds
    ``fit_stats_``: the device and the time spent in C, in the EM iterations
    and in compiling kernels during the last fit.
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6, max_iter=100, n_init=1,
                 init_params="kmeans", weights_init=None, means_init=None, precisions_init=None, random_state=None,
                 warm_start=False, verbose=0, verbose_interval=10, device="auto", spec=None, dtype=None,
                 precision="float32"):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.device = device
        self.spec = spec
        self.dtype = dtype
        self.precision = precision

    # ---- gmmc objects (not parameters, not pickled) -------------------------------------------
    def _context(self):
        """This estimator's gmmc context, made on first use and kept (compiled kernels are reused)."""
        ctx = self.__dict__.get("_gmmc_context")
        if ctx is None or ctx.requested != self.device:
            ctx = Context(self.device)
            self.__dict__["_gmmc_context"] = ctx
        return ctx

    def _options(self, n_components=None, data_dtype=None):
        """Fit options of the model's form: spec or covariance type, sizes, scalars, precision.

        With dtype=None the kernels take the data's precision on every backend,
        as scikit-learn computes in the input's (float32 in, float32 out)."""
        o = FitOptions().n_components(self.n_components if n_components is None else n_components)
        if self.spec is not None:
            name, text = _params.read_spec(self.spec)
            o.spec(name, text)
        else:
            o.covariance_type(self.covariance_type)
        o.reg_covar(self.reg_covar)
        dt = _params.dtype_of(self.dtype)
        if dt is None and data_dtype is not None:
            dt = np.float32 if data_dtype == np.float32 else np.float64
        if dt is not None:
            o.dtype(gmmc_dtype(dt))
        o.precision(self.precision)
        return o

    def _fit_options(self, seed, printer_recorder, data_dtype):
        o = self._options(data_dtype=data_dtype).tol(self.tol).n_init(self.n_init).init(self.init_params).seed(seed)
        for name, value in (("weights", self.weights_init), ("means", self.means_init),
                            ("precisions", self.precisions_init)):
            if value is not None:
                o.init_param(name, _array_api.to_numpy(value))
        o.progress(printer_recorder)
        return o

    # ---- fit ---------------------------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM (gmmc_fit); returns self. y is ignored.

        sample_weight: None, a number or an array of shape (n_samples,), finite and >= 0, not all 0
        (scikit-learn's validation): a sample of weight k counts as k copies of it, in the statistics,
        the lower bound (the weighted mean log-likelihood per unit of weight) and the initialisation."""
        st = self._begin_fit(X, sample_weight)
        try:
            if st.do_init:
                outcome = _fit.fit(st.ctx, st.Xv, st.options, self.max_iter)
            else:
                outcome = _fit.fit_warm(st.ctx, st.Xv, st.options, st.previous, st.previous_lb, self.max_iter,
                                        self.tol, st.recorder)
        except GmmcValueError as e:
            raise self._data_error(e, st.Xv) from None
        return self._end_fit(st, outcome)

    def _begin_fit(self, X, sample_weight, ctx=None):
        """fit's checks and options before the C call (fit_many's too, with its shared context ctx)."""
        t0 = time.perf_counter()
        where = _array_api.namespace(X, self.weights_init, self.means_init, self.precisions_init)
        dev = _device.wrap(X)  # a CUDA array (PyTorch, CuPy, DLPack): read in place on the GPU
        X = dev if dev is not None else _array_api.to_numpy(X)
        _params.validate(self)
        owner = type(self).__name__
        Xv = _device.check(dev, owner, 2) if dev is not None else _validation.check_array(X, owner,
                                                                                           ensure_min_samples=2)
        if Xv.shape[0] < self.n_components:
            raise ValueError("Expected n_samples >= n_components but got n_components = "
                             f"{self.n_components}, n_samples = {Xv.shape[0]}")
        _params.check_initial(self, Xv.shape[1])
        sw = None if sample_weight is None else check_sample_weight(_device.to_host(sample_weight), Xv)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        previous = None if do_init else self._synced_model()
        previous_lb = float(getattr(self, "lower_bound_", float("-inf")))
        _validation.check_feature_names(self, X, reset=True)
        _validation.check_n_features(self, Xv, reset=True)

        if ctx is None:
            ctx = self._context()
        else:
            self.__dict__["_gmmc_context"] = ctx
        self.__dict__.pop("_gmmc_online", None)  # fit() starts partial_fit's statistics over
        n_init = self.n_init if do_init else 1
        printer = Printer(self.verbose, self.verbose_interval, self.tol, n_init, self.max_iter) if self.verbose \
            else None
        recorder = Recorder(printer)
        options = self._fit_options(_random.seed_from(self.random_state), recorder, Xv.dtype)
        if sw is not None:
            options.sample_weight(sw)
        return _FitState(t0=t0, where=where, Xv=Xv, ctx=ctx, do_init=do_init, previous=previous,
                         previous_lb=previous_lb, printer=printer, recorder=recorder, options=options,
                         before=ctx.compile_stats())

    def _end_fit(self, st, outcome):
        """The fitted attributes from a fit's outcome (fit's and fit_many's)."""
        t0, where, Xv, ctx, printer, recorder, before = st.t0, st.where, st.Xv, st.ctx, st.printer, st.recorder, \
            st.before
        if printer is not None:
            printer.finish()
        self._set_fitted(outcome.model)
        self._keep_dtype(Xv.dtype)
        self._to_namespace(where)
        self.converged_ = bool(outcome.converged)
        self.n_iter_ = int(outcome.n_iter)
        self.lower_bound_ = np.float64(outcome.lower_bound)
        self.lower_bounds_ = [float(v) for v in outcome.lower_bounds]
        self._report_warnings(outcome)
        after = ctx.compile_stats()
        self.fit_stats_ = {
            "device": ctx.device,
            "seconds_fit": time.perf_counter() - t0,
            "seconds_in_c": outcome.seconds_in_c,
            "seconds_in_iterations": recorder.seconds_in_iterations(),
            "iteration_seconds": [r.seconds for r in recorder.iterations],
            "iterations_run": len(recorder.iterations),
            "compiled": after[0] - before[0],
            "cached": after[1] - before[1],
            "compile_ms": after[2] - before[2],
        }
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """One step of stepwise (online) EM on the batch X; returns self. y is ignored.

        The batch's statistics are blended into running float64 statistics with step size
        eta_k = (k + 2)^-0.6 (the first step takes the batch's whole) and the M-step runs on them.
        The first call initialises from its batch with init_params, or continues from the parameters of
        an estimator fitted by fit(); later calls continue (warm_start concerns fit() only, as in
        scikit-learn). fit() and set_params start over. See docs/python.md, "partial_fit"."""
        return _partial.partial_fit(self, X, sample_weight)

    def fit_predict(self, X, y=None, sample_weight=None):
        """fit(X, sample_weight=...) then the labels of X under the fitted model (scikit-learn's final E-step)."""
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    def _report_warnings(self, outcome):
        """gmmc's warnings as Python warnings; "did not converge" is scikit-learn's ConvergenceWarning."""
        sklearn_text = convergence_message(self.n_init if not outcome.warm_chain else 1)
        for message in outcome.warnings:
            if "did not converge" in message:
                if not outcome.warm_chain:  # a warm chain judges convergence itself, below
                    warnings.warn(sklearn_text, ConvergenceWarning, stacklevel=3)
            else:
                warnings.warn("gmmc: " + message, UserWarning, stacklevel=3)
        if outcome.warm_chain and not outcome.converged and self.max_iter > 0:
            warnings.warn(sklearn_text, ConvergenceWarning, stacklevel=3)

    def _set_fitted(self, model):
        """scikit-learn's parameter attributes from a gmmc model (float64 copies)."""
        self.__dict__["_gmmc_model"] = model
        for attr, name in _MODEL_ATTRS:
            value = model.param(name)
            if value is not None:
                setattr(self, attr, value)
        pc = getattr(self, "precisions_cholesky_", None)
        kind = covariance_kind(self.covariance_type, self.spec is not None, pc, model.n_components,
                               model.n_features)
        if pc is not None and kind is not None:
            self.precisions_ = precisions_from_cholesky(pc, kind)

    def _keep_dtype(self, dtype):
        """float32 in, float32 out (scikit-learn >= 1.6): the fitted parameters in X's type (inference then
        uses them as they are, as scikit-learn's float32 model does)."""
        self.__dict__["_out_dtype"] = np.float32 if dtype == np.float32 else np.float64
        if self._out_dtype == np.float32:
            for attr in _FITTED_ARRAYS:
                if hasattr(self, attr):
                    setattr(self, attr, np.asarray(getattr(self, attr)).astype(np.float32))

    def _to_namespace(self, where):
        """The fitted parameters moved to the input's array API namespace and device (None: NumPy's)."""
        self.__dict__["_where"] = where
        if where is not None:
            for attr in _FITTED_ARRAYS:
                if hasattr(self, attr):
                    setattr(self, attr, _array_api.from_numpy(getattr(self, attr), where))

    def _as_out(self, values):
        """A result in the fitted parameters' type, namespace and device."""
        if self.__dict__.get("_out_dtype") == np.float32 and values.dtype == np.float64:
            values = values.astype(np.float32)
        return _array_api.from_numpy(values, self.__dict__.get("_where"))

    # ---- scikit-learn's parameter hooks -------------------------------------------------------
    # For code written against scikit-learn's class (subclasses, tests) that calls them directly;
    # gmmc's own fit does its initialisation and EM in C and does not call them.
    def _get_parameters(self):
        return (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _set_parameters(self, params, xp=None):
        """Sets weights_, means_, covariances_, precisions_cholesky_ and derives precisions_."""
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = params
        self.__dict__.pop("_gmmc_model", None)  # the next inference builds the model from these
        dtype = np.asarray(self.precisions_cholesky_).dtype
        self.precisions_ = precisions_from_cholesky(self.precisions_cholesky_, self.covariance_type).astype(dtype)

    def _initialize(self, X, resp):
        """scikit-learn's initialisation from responsibilities resp (n_samples, n_components): the
        initial parameters given to the constructor where there are some, the M-step's of resp otherwise."""
        n_samples = np.shape(X)[0]
        weights = means = covariances = None
        if resp is not None:
            weights, means, covariances = estimate_parameters(X, resp, self.reg_covar, self.covariance_type)
            if self.weights_init is None:
                weights = weights / n_samples
        self.weights_ = weights if self.weights_init is None else self.weights_init
        self.means_ = means if self.means_init is None else self.means_init
        if self.precisions_init is None:
            self.covariances_ = covariances
            self.precisions_cholesky_ = cholesky_from_covariances(covariances, self.covariance_type)
        else:
            self.precisions_cholesky_ = cholesky_from_precisions(self.precisions_init, self.covariance_type)
        self.__dict__.pop("_gmmc_model", None)
        self._keep_dtype(np.asarray(X).dtype)

    # ---- the model inference uses ------------------------------------------------------------
    def _check_is_fitted(self):
        if not [v for v in vars(self) if v.endswith("_") and not v.startswith("__")]:
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                                 "appropriate arguments before using this estimator.")

    def _synced_model(self, ctx=None):
        """The gmmc model holding the current attribute values (made when there is none, or the shapes changed).

        ctx: the context that reports errors (default: the estimator's own)."""
        model = self.__dict__.get("_gmmc_model")
        values = {name: _array_api.to_numpy(getattr(self, attr)) for attr, name in _MODEL_ATTRS if hasattr(self, attr)}
        if "means" not in values:
            raise NotFittedError(f"This {type(self).__name__} instance has no means_: fit it, or assign weights_, "
                                 "means_, covariances_ and precisions_cholesky_ before using it.")
        ctx = ctx or self._context()
        if model is None or any(model.param_shape(n) != np.shape(v) for n, v in values.items()):
            n_components, n_features = np.shape(values["means"])
            model = Model.create(ctx, self._options(n_components, self.__dict__.get("_out_dtype")), n_features)
            self.__dict__["_gmmc_model"] = model
        for name, value in values.items():
            model.set_param(ctx, name, value)
        return model

    def _data_error(self, error, X):
        """scikit-learn's message for NaN or infinity in X; gmmc's for anything else."""
        if "non-finite" in str(error):
            return _validation.nonfinite_error(X, type(self).__name__)
        if "ill-defined empirical covariance" in str(error):
            return ValueError(ill_defined_message())
        return error

    def _input(self, X):
        """X validated for inference against what was fitted (scikit-learn's _validate_data(reset=False))."""
        self._check_is_fitted()
        dev = _device.wrap(X)
        if dev is not None:  # read in place on the GPU
            _validation.check_n_features(self, _device.check(dev, type(self).__name__), reset=False)
            return dev
        X = _array_api.to_numpy(X)
        _validation.check_feature_names(self, X, reset=False)
        Xv = _validation.check_array(X, type(self).__name__)
        _validation.check_n_features(self, Xv, reset=False)
        return Xv

    def _run(self, Xv, call, *out):
        """One gmmc inference call over validated X, writing into out (an array's pointer and size, or a scalar's
        pointer)."""
        model = self._synced_model()
        ctx = self._context()
        with Data(ctx, Xv) as data:
            try:
                ctx.call(call, model.ptr, data, *out)
            except GmmcValueError as e:
                raise self._data_error(e, Xv) from None

    # ---- inference (scikit-learn's methods) -------------------------------------------------------
    def predict(self, X):
        """Component labels (int64), the most probable component of each sample."""
        Xv = self._input(X)
        labels = np.empty(Xv.shape[0], dtype=np.int32)
        self._run(Xv, "gmmc_predict", _ptr(labels, ctypes.c_int32), labels.size)
        return _array_api.from_numpy(labels.astype(np.int64), self.__dict__.get("_where"))

    def predict_proba(self, X):
        """Posterior probability of each component for each sample, shape (n_samples, n_components)."""
        Xv = self._input(X)
        proba = np.empty((Xv.shape[0], self._n_components_fitted()), dtype=np.float64)
        self._run(Xv, "gmmc_predict_proba", _ptr(proba), proba.size)
        return self._as_out(proba)

    def score_samples(self, X):
        """Log-likelihood of each sample, shape (n_samples,)."""
        Xv = self._input(X)
        out = np.empty(Xv.shape[0], dtype=np.float64)
        self._run(Xv, "gmmc_score_samples", _ptr(out), out.size)
        return self._as_out(out)

    def score(self, X, y=None):
        """Mean per-sample log-likelihood of X."""
        return self._scalar(X, "gmmc_score")

    def bic(self, X):
        """Bayesian information criterion of the model on X (lower is better)."""
        return self._scalar(X, "gmmc_bic")

    def aic(self, X):
        """Akaike information criterion of the model on X (lower is better)."""
        return self._scalar(X, "gmmc_aic")

    def _scalar(self, X, call):
        Xv = self._input(X)
        out = np.zeros(1, dtype=np.float64)
        self._run(Xv, call, _ptr(out))
        return np.float64(out[0])

    def _n_components_fitted(self):
        return int(np.shape(self.weights_)[0]) if hasattr(self, "weights_") else int(self.n_components)

    def _n_parameters(self):
        """Number of free parameters (scikit-learn's private helper, kept for code that calls it)."""
        self._check_is_fitted()
        return int(self._synced_model().n_parameters)

    def sample(self, n_samples=1):
        """n_samples draws from the fitted mixture: (X float64 (n_samples, n_features), y int64 labels),
        grouped by component as scikit-learn does."""
        self._check_is_fitted()
        if n_samples < 1:
            raise ValueError("Invalid value for 'n_samples': %d . The sampling requires at least one sample."
                             % n_samples)
        model = self._synced_model()
        n_features = model.n_features
        X = np.empty((int(n_samples), n_features), dtype=np.float64)
        labels = np.empty(int(n_samples), dtype=np.int32)
        ctx = self._context()
        ctx.call("gmmc_sample", model.ptr, int(n_samples), _random.seed_from(self.random_state), _ptr(X), X.size,
                 _ptr(labels, ctypes.c_int32), labels.size)
        where = self.__dict__.get("_where")
        return _array_api.from_numpy(X, where), _array_api.from_numpy(labels.astype(np.int64), where)

    # ---- pickling: through the model file text --------------------------------------------------
    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state.pop("_gmmc_context", None)
        state.pop("_gmmc_model", None)
        state.pop("_gmmc_online", None)  # partial_fit's running statistics stay with the process
        state.pop("_gmmc_online_key", None)
        present = [attr for attr, _ in _MODEL_ATTRS if attr in state]
        if "means_" in state:
            # a host context: pickling never needs the device (a 'cuda' estimator pickles on a CPU-only machine)
            state["_gmmc_model_yaml"] = self._synced_model(Context("cpu")).to_yaml()
            state["_gmmc_model_attrs"] = present
            for attr in present:
                del state[attr]
        return state

    def __setstate__(self, state):
        state = dict(state)
        text = state.pop("_gmmc_model_yaml", None)
        present = state.pop("_gmmc_model_attrs", [])
        if hasattr(super(), "__setstate__"):
            super().__setstate__(state)
        else:
            self.__dict__.update(state)
        if text is not None:
            model = Model.from_yaml(text)
            self.__dict__["_gmmc_model"] = model
            for attr, name in _MODEL_ATTRS:
                if attr in present:
                    setattr(self, attr, model.param(name))


def _ptr(array, ctype=ctypes.c_double):
    return array.ctypes.data_as(ctypes.POINTER(ctype))
