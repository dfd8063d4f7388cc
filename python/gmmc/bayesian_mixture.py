"""gmmc.BayesianGaussianMixture: scikit-learn's BayesianGaussianMixture, trained by gmmc.

Variational inference is the shipped specs dsl/specs/bayesian_{full,diag,
spherical,tied}.yaml: the E-step, the M-step, the priors computed from the
data (mean_prior_, covariance_prior_) and the lower bound run in gmmc's
generated kernels (gmmc_fit); this file is glue, as gaussian_mixture.py is.
It maps scikit-learn's constructor parameters to the spec's scalars
(weight_concentration_prior_type to dirichlet_process 1/0, None to the 0
that stands for scikit-learn's data-dependent default) and to initial
parameters (a given mean_prior or covariance_prior, kept by the M-step when
mean_prior_given / covariance_prior_given is 1), and the model's parameters
back to scikit-learn's attributes: weight_concentration_ is the pair
(weight_concentration, weight_concentration_b) for the Dirichlet process, the
array weight_concentration for the Dirichlet distribution.

Fitted attributes are the truth for inference, as in GaussianMixture: they
are written into the gmmc model before each predict/score call. sample()
draws in NumPy with scikit-learn's own sequence of draws (its RandomState
calls), so a given random_state gives scikit-learn's samples.
"""
import ctypes
import time
import warnings

import numpy as np

from . import _fit, _params, _random, _validation
from ._compat import BaseEstimator, ConvergenceWarning, DensityMixin, NotFittedError, convergence_message
from ._context import Context
from ._data import Data, gmmc_dtype
from ._errors import GmmcValueError
from ._model import Model
from ._options import FitOptions
from ._precisions import precisions_from_cholesky
from ._progress import Printer, Recorder

PRIOR_TYPES = ("dirichlet_distribution", "dirichlet_process")  # scikit-learn's message lists them so

# scikit-learn attribute <- gmmc model parameter (weight_concentration_ is assembled from two parameters)
_MODEL_ATTRS = (("weights_", "weights"), ("mean_precision_", "mean_precision"), ("means_", "means"),
                ("degrees_of_freedom_", "degrees_of_freedom"), ("covariances_", "covariances"),
                ("precisions_cholesky_", "precisions_cholesky"), ("mean_prior_", "mean_prior"),
                ("covariance_prior_", "covariance_prior"))


class BayesianGaussianMixture(DensityMixin, BaseEstimator):
    """Variational Bayesian Gaussian mixture trained by gmmc (GPU or host), scikit-learn's interface.

    Parameters are scikit-learn 1.2's (see sklearn.mixture.BayesianGaussianMixture), plus:

    device : {'auto', 'cpu', 'cuda'}, default='auto'
        Where gmmc trains and predicts ('auto': the GPU when one is usable, else the host).
    dtype : {None, 'float32', 'float64'}, default=None
        Precision of gmmc's kernels; None: the data's. Parameters are float64 whatever it is.

    Attributes are scikit-learn's: weights_, weight_concentration_prior_, weight_concentration_,
    mean_precision_prior_, mean_precision_, mean_prior_, means_, degrees_of_freedom_prior_,
    degrees_of_freedom_, covariance_prior_, covariances_, precisions_, precisions_cholesky_,
    converged_, n_iter_, lower_bound_, n_features_in_; and gmmc's lower_bounds_ (each iteration's) and
    fit_stats_.
    """

    def __init__(self, *, n_components=1, covariance_type="full", tol=1e-3, reg_covar=1e-6, max_iter=100, n_init=1,
                 init_params="kmeans", weight_concentration_prior_type="dirichlet_process",
                 weight_concentration_prior=None, mean_precision_prior=None, mean_prior=None,
                 degrees_of_freedom_prior=None, covariance_prior=None, random_state=None, warm_start=False,
                 verbose=0, verbose_interval=10, device="auto", dtype=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.device = device
        self.dtype = dtype

    # ---- validation (scikit-learn's messages) ----------------------------------------------------
    def _validate_params(self):
        owner = type(self).__name__
        _params._int_at_least("n_components", self.n_components, 1, owner)
        _params._options("covariance_type", self.covariance_type, _params.COVARIANCE_TYPES, owner)
        _params._real_at_least_zero("tol", self.tol, owner)
        _params._real_at_least_zero("reg_covar", self.reg_covar, owner)
        _params._int_at_least("max_iter", self.max_iter, 0, owner)
        _params._int_at_least("n_init", self.n_init, 1, owner)
        _params._options("init_params", self.init_params, _params.INIT_PARAMS, owner)
        _params._options("weight_concentration_prior_type", self.weight_concentration_prior_type, PRIOR_TYPES, owner)
        for name in ("weight_concentration_prior", "mean_precision_prior", "degrees_of_freedom_prior"):
            v = getattr(self, name)
            if v is not None and not (_params._is_real(v) and v > 0 and np.isfinite(v)):
                _params._fail(name, "None or a float in the range (0.0, inf)", v, owner)
        v = self.covariance_prior
        if self.covariance_type == "spherical" and v is not None and np.ndim(v) == 0 and \
                not (_params._is_real(v) and v > 0 and np.isfinite(v)):
            _params._fail("covariance_prior", "None, an array-like or a float in the range (0.0, inf)", v, owner)
        rs = self.random_state
        if not (rs is None or isinstance(rs, np.random.RandomState) or
                (_params._is_int(rs) and 0 <= rs <= 2**32 - 1)):
            _params._fail("random_state", "an int in the range [0, 4294967295], an instance of "
                          "'numpy.random.mtrand.RandomState' or None", rs, owner)
        _params._int_at_least("verbose", self.verbose, 0, owner)
        _params._int_at_least("verbose_interval", self.verbose_interval, 1, owner)
        _params._options("device", self.device, _params.DEVICES, owner)
        _params.dtype_of(self.dtype)

    def _priors(self, n_features):
        """scikit-learn's _check_parameters: the priors' values (None where the spec computes them from X)."""
        if self.degrees_of_freedom_prior is not None and not self.degrees_of_freedom_prior > n_features - 1.0:
            raise ValueError("The parameter 'degrees_of_freedom_prior' should be greater than %d, but got %.3f."
                             % (n_features - 1, self.degrees_of_freedom_prior))
        mean = cov = None
        if self.mean_prior is not None:
            mean = np.asarray(self.mean_prior, dtype=np.float64)
            if mean.shape != (n_features,):
                raise ValueError("The parameter 'means' should have the shape of %s, but got %s"
                                 % ((n_features,), mean.shape))
        if self.covariance_prior is not None:
            cov = np.asarray(self.covariance_prior, dtype=np.float64)
            kind = self.covariance_type
            shape = {"full": (n_features, n_features), "tied": (n_features, n_features), "diag": (n_features,),
                     "spherical": ()}[kind]
            if cov.shape != shape:
                raise ValueError("The parameter '%s covariance_prior' should have the shape of %s, but got %s"
                                 % (kind, shape, cov.shape))
            if kind in ("full", "tied"):  # scikit-learn's _check_precision_matrix, its message
                if not (np.allclose(cov, cov.T) and np.all(np.linalg.eigvalsh(cov) > 0.0)):
                    raise ValueError(f"'{kind} precision' should be symmetric, positive-definite")
            elif kind == "diag" and np.any(np.less_equal(cov, 0.0)):
                raise ValueError(f"'{kind} precision' should be positive")
        return mean, cov

    # ---- gmmc objects --------------------------------------------------------------------------------
    def _context(self):
        ctx = self.__dict__.get("_gmmc_context")
        if ctx is None or ctx.requested != self.device:
            ctx = Context(self.device)
            self.__dict__["_gmmc_context"] = ctx
        return ctx

    def _options(self, n_components=None, data_dtype=None):
        """Options of the model's form: the shipped spec bayesian_<covariance_type> and its scalars."""
        o = FitOptions().n_components(self.n_components if n_components is None else n_components)
        o.covariance_type("bayesian_" + self.covariance_type)
        o.reg_covar(self.reg_covar)
        scalars = {
            "dirichlet_process": 1.0 if self.weight_concentration_prior_type == "dirichlet_process" else 0.0,
            # 0 stands for scikit-learn's None: the spec takes 1/n_components, n_features
            "weight_concentration_prior": 0.0 if self.weight_concentration_prior is None
            else float(self.weight_concentration_prior),
            "mean_precision_prior": 1.0 if self.mean_precision_prior is None else float(self.mean_precision_prior),
            "degrees_of_freedom_prior": 0.0 if self.degrees_of_freedom_prior is None
            else float(self.degrees_of_freedom_prior),
            "mean_prior_given": 0.0 if self.mean_prior is None else 1.0,
            "covariance_prior_given": 0.0 if self.covariance_prior is None else 1.0,
        }
        for name, value in scalars.items():
            o._set("scalar", name.encode(), value)
        dt = _params.dtype_of(self.dtype)
        if dt is None and data_dtype is not None:
            dt = np.float32 if data_dtype == np.float32 else np.float64
        if dt is not None:
            o.dtype(gmmc_dtype(dt))
        return o

    # ---- fit -------------------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Estimate the variational posterior (gmmc_fit); returns self. y is ignored."""
        t0 = time.perf_counter()
        self._validate_params()
        owner = type(self).__name__
        Xv = _validation.check_array(X, owner, ensure_min_samples=2)
        if Xv.shape[0] < self.n_components:
            raise ValueError("Expected n_samples >= n_components but got n_components = "
                             f"{self.n_components}, n_samples = {Xv.shape[0]}")
        mean_prior, cov_prior = self._priors(Xv.shape[1])
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        previous = None if do_init else self._synced_model()
        previous_lb = float(getattr(self, "lower_bound_", float("-inf")))
        _validation.check_feature_names(self, X, reset=True)
        _validation.check_n_features(self, Xv, reset=True)

        ctx = self._context()
        n_init = self.n_init if do_init else 1
        printer = Printer(self.verbose, self.verbose_interval, self.tol, n_init, self.max_iter) if self.verbose \
            else None
        recorder = Recorder(printer)
        o = self._options(data_dtype=Xv.dtype).tol(self.tol).n_init(self.n_init).init(self.init_params)
        o.seed(_random.seed_from(self.random_state))
        if mean_prior is not None:
            o.init_param("mean_prior", mean_prior)
        if cov_prior is not None:
            o.init_param("covariance_prior", cov_prior)
        o.progress(recorder)
        try:
            if do_init:
                outcome = _fit.fit(ctx, Xv, o, self.max_iter)
            else:
                outcome = _fit.fit_warm(ctx, Xv, o, previous, previous_lb, self.max_iter, self.tol, recorder)
        except GmmcValueError as e:
            if "non-finite" in str(e):
                raise _validation.nonfinite_error(Xv, owner) from None
            raise
        if printer is not None:
            printer.finish()
        self._set_fitted(outcome.model)
        self.converged_ = bool(outcome.converged)
        self.n_iter_ = int(outcome.n_iter)
        self.lower_bound_ = np.float64(outcome.lower_bound)
        self.lower_bounds_ = [float(v) for v in outcome.lower_bounds]
        sklearn_text = convergence_message(self.n_init if not outcome.warm_chain else 1)
        for message in outcome.warnings:
            if "did not converge" in message:
                if not outcome.warm_chain:
                    warnings.warn(sklearn_text, ConvergenceWarning, stacklevel=2)
            else:
                warnings.warn("gmmc: " + message, UserWarning, stacklevel=2)
        if outcome.warm_chain and not outcome.converged and self.max_iter > 0:
            warnings.warn(sklearn_text, ConvergenceWarning, stacklevel=2)
        self.fit_stats_ = {"device": ctx.device, "seconds_fit": time.perf_counter() - t0,
                           "seconds_in_c": outcome.seconds_in_c,
                           "seconds_in_iterations": recorder.seconds_in_iterations(),
                           "iteration_seconds": [r.seconds for r in recorder.iterations]}
        return self

    def fit_predict(self, X, y=None):
        """fit(X) then the labels of X under the fitted model (scikit-learn's final E-step)."""
        return self.fit(X, y).predict(X)

    def _set_fitted(self, model):
        """scikit-learn's attributes from a gmmc model (float64 copies)."""
        self.__dict__["_gmmc_model"] = model
        for attr, name in _MODEL_ATTRS:
            setattr(self, attr, model.param(name))
        a, b = model.param("weight_concentration"), model.param("weight_concentration_b")
        self.weight_concentration_ = (a, b) if self.weight_concentration_prior_type == "dirichlet_process" else a
        if self.covariance_type == "spherical":  # a number, as scikit-learn's (the caller's own when given)
            self.covariance_prior_ = (np.float64(self.covariance_prior_) if self.covariance_prior is None
                                      else self.covariance_prior)
        if self.covariance_type == "tied":
            self.degrees_of_freedom_ = np.float64(self.degrees_of_freedom_)
        n_components, n_features = np.shape(self.means_)
        self.weight_concentration_prior_ = (1.0 / n_components if self.weight_concentration_prior is None
                                            else self.weight_concentration_prior)
        self.mean_precision_prior_ = 1.0 if self.mean_precision_prior is None else self.mean_precision_prior
        self.degrees_of_freedom_prior_ = (n_features if self.degrees_of_freedom_prior is None
                                          else self.degrees_of_freedom_prior)
        self.precisions_ = precisions_from_cholesky(self.precisions_cholesky_, self.covariance_type)

    # ---- scikit-learn's parameter hooks --------------------------------------------------------------
    def _get_parameters(self):
        return (self.weight_concentration_, self.mean_precision_, self.means_, self.degrees_of_freedom_,
                self.covariances_, self.precisions_cholesky_)

    def _set_parameters(self, params):
        """scikit-learn's _set_parameters: the six parameters, then weights_ and precisions_ from them."""
        (self.weight_concentration_, self.mean_precision_, self.means_, self.degrees_of_freedom_,
         self.covariances_, self.precisions_cholesky_) = params
        if self.weight_concentration_prior_type == "dirichlet_process":
            a, b = (np.asarray(v, dtype=np.float64) for v in self.weight_concentration_)
            tmp = b / (a + b)
            w = a / (a + b) * np.hstack((1, np.cumprod(tmp[:-1])))
            self.weights_ = w / np.sum(w)
        else:
            wc = np.asarray(self.weight_concentration_, dtype=np.float64)
            self.weights_ = wc / np.sum(wc)
        self.precisions_ = precisions_from_cholesky(self.precisions_cholesky_, self.covariance_type)
        self.__dict__.pop("_gmmc_model", None)

    # ---- inference -------------------------------------------------------------------------------------
    def _check_is_fitted(self):
        if not hasattr(self, "means_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                                 "appropriate arguments before using this estimator.")

    def _synced_model(self):
        """The gmmc model holding the current attribute values."""
        self._check_is_fitted()
        values = {name: np.asarray(getattr(self, attr), dtype=np.float64)
                  for attr, name in _MODEL_ATTRS if getattr(self, attr, None) is not None}
        wc = self.weight_concentration_
        if self.weight_concentration_prior_type == "dirichlet_process":
            values["weight_concentration"] = np.asarray(wc[0], dtype=np.float64)
            values["weight_concentration_b"] = np.asarray(wc[1], dtype=np.float64)
        else:
            values["weight_concentration"] = np.asarray(wc, dtype=np.float64)
            values["weight_concentration_b"] = np.zeros_like(values["weight_concentration"])
        ctx = self._context()
        model = self.__dict__.get("_gmmc_model")
        if model is None or any(model.param_shape(n) != v.shape for n, v in values.items()):
            n_components, n_features = values["means"].shape
            model = Model.create(ctx, self._options(n_components), n_features)
            self.__dict__["_gmmc_model"] = model
        for name, value in values.items():
            model.set_param(ctx, name, value)
        return model

    def _input(self, X):
        self._check_is_fitted()
        _validation.check_feature_names(self, X, reset=False)
        Xv = _validation.check_array(X, type(self).__name__)
        _validation.check_n_features(self, Xv, reset=False)
        return Xv

    def _run(self, Xv, call, *out):
        model = self._synced_model()
        ctx = self._context()
        with Data(ctx, Xv) as data:
            ctx.call(call, model.ptr, data, *out)

    def predict(self, X):
        """Component labels (int64), the most probable component of each sample."""
        Xv = self._input(X)
        labels = np.empty(Xv.shape[0], dtype=np.int32)
        self._run(Xv, "gmmc_predict", _ptr(labels, ctypes.c_int32), labels.size)
        return labels.astype(np.int64)

    def predict_proba(self, X):
        """Posterior probability of each component for each sample, shape (n_samples, n_components)."""
        Xv = self._input(X)
        proba = np.empty((Xv.shape[0], np.shape(self.means_)[0]), dtype=np.float64)
        self._run(Xv, "gmmc_predict_proba", _ptr(proba), proba.size)
        return proba

    def score_samples(self, X):
        """scikit-learn's score_samples: the log of the sum over components of the weighted (variational)
        probabilities, shape (n_samples,)."""
        Xv = self._input(X)
        out = np.empty(Xv.shape[0], dtype=np.float64)
        self._run(Xv, "gmmc_score_samples", _ptr(out), out.size)
        return out

    def score(self, X, y=None):
        """The mean of score_samples(X)."""
        Xv = self._input(X)
        out = np.zeros(1, dtype=np.float64)
        self._run(Xv, "gmmc_score", _ptr(out))
        return np.float64(out[0])

    def sample(self, n_samples=1):
        """n_samples draws (X float64 (n_samples, n_features), y int64 labels), grouped by component, with
        scikit-learn's sequence of RandomState draws."""
        self._check_is_fitted()
        if n_samples < 1:
            raise ValueError("Invalid value for 'n_samples': %d . The sampling requires at least one sample."
                             % n_samples)
        rs = self.random_state
        rng = rs if isinstance(rs, np.random.RandomState) else (
            np.random.mtrand._rand if rs is None else np.random.RandomState(rs))
        means = np.asarray(self.means_, dtype=np.float64)
        cov = np.asarray(self.covariances_, dtype=np.float64)
        n_features = means.shape[1]
        counts = rng.multinomial(n_samples, np.asarray(self.weights_, dtype=np.float64))
        if self.covariance_type == "full":
            X = np.vstack([rng.multivariate_normal(m, c, int(s)) for m, c, s in zip(means, cov, counts)])
        elif self.covariance_type == "tied":
            X = np.vstack([rng.multivariate_normal(m, cov, int(s)) for m, s in zip(means, counts)])
        else:
            X = np.vstack([m + rng.standard_normal(size=(s, n_features)) * np.sqrt(c)
                           for m, c, s in zip(means, cov, counts)])
        y = np.concatenate([np.full(s, j, dtype=int) for j, s in enumerate(counts)])
        return X, y

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_gmmc_context", None)
        state.pop("_gmmc_model", None)
        return state


def _ptr(array, ctype=ctypes.c_double):
    return array.ctypes.data_as(ctypes.POINTER(ctype))
