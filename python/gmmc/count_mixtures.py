"""gmmc.BernoulliMixture, PoissonMixture, MultinomialMixture: EM mixtures of
binary features, counts and bag-of-words rows, with scikit-learn's interface.

Each trains one of the shipped specs (dsl/specs/bernoulli.yaml, poisson.yaml,
multinomial.yaml) by gmmc_fit; predict, predict_proba, score_samples and
score are libgmmc's inference calls on a model rebuilt from the fitted
attributes (which are the truth, as in GaussianMixture: assign rates_ and the
predictions follow). scikit-learn has no such classes; the parameters and
attribute names follow GaussianMixture's (n_components, tol, max_iter,
n_init, init_params, random_state, weights_, converged_, n_iter_,
lower_bound_), the model's own parameter is probabilities_ (Bernoulli,
multinomial) or rates_ (Poisson), shape (n_components, n_features).
"""
import ctypes
import time
import warnings

import numpy as np

from . import _fit, _random, _validation
from ._compat import BaseEstimator, ConvergenceWarning, DensityMixin, NotFittedError, convergence_message
from ._context import Context
from ._data import Data
from ._model import Model
from ._options import FitOptions
from ._params import DEVICES, INIT_PARAMS, _fail, _int_at_least, _is_real, _options, _real_at_least_zero
from ._sample_weight import check_sample_weight


class _CountMixture(DensityMixin, BaseEstimator):
    """What the three classes share; a subclass names its spec, parameter, guard scalar and data check."""

    _spec = None  # the shipped spec
    _param = None  # (attribute, gmmc parameter)
    _guard = None  # the spec's scalar that keeps log 0 away (the constructor parameter of the same name)

    def __init__(self, n_components=1, *, tol=1e-3, max_iter=100, n_init=1, init_params="kmeans",
                 random_state=None, device="auto"):
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.device = device

    # ---- validation --------------------------------------------------------------------------
    def _validate_params(self):
        owner = type(self).__name__
        _int_at_least("n_components", self.n_components, 1, owner)
        _real_at_least_zero("tol", self.tol, owner)
        _int_at_least("max_iter", self.max_iter, 0, owner)
        _int_at_least("n_init", self.n_init, 1, owner)
        _options("init_params", self.init_params, INIT_PARAMS, owner)
        rs = self.random_state
        if not (rs is None or isinstance(rs, np.random.RandomState) or
                (isinstance(rs, (int, np.integer)) and not isinstance(rs, bool) and 0 <= rs <= 2**32 - 1)):
            _fail("random_state", "an int in the range [0, 4294967295], an instance of "
                  "'numpy.random.mtrand.RandomState' or None", rs, owner)
        _options("device", self.device, DEVICES, owner)
        g = getattr(self, self._guard)
        if not (_is_real(g) and g >= 0 and np.isfinite(g)):
            _fail(self._guard, "a float in the range [0.0, inf)", g, owner)

    def _check_values(self, X):
        """ValueError unless X holds what the model describes (a subclass's rule)."""
        raise NotImplementedError

    def _data(self, X, reset, min_samples=1):
        """X as float64 for gmmc, checked: finite, then the model's values (scikit-learn's messages first)."""
        owner = type(self).__name__
        _validation.check_feature_names(self, X, reset=reset)
        Xv = _validation.check_array(X, owner, ensure_min_samples=min_samples)
        if not np.isfinite(Xv).all():
            raise _validation.nonfinite_error(Xv, owner)
        Xv = np.ascontiguousarray(Xv, dtype=np.float64)
        self._check_values(Xv)
        _validation.check_n_features(self, Xv, reset=reset)
        return Xv

    # ---- gmmc objects ----------------------------------------------------------------------------
    def _context(self):
        ctx = self.__dict__.get("_gmmc_context")
        if ctx is None or ctx.requested != self.device:
            ctx = Context(self.device)
            self.__dict__["_gmmc_context"] = ctx
        return ctx

    def _options(self, n_components=None):
        o = FitOptions().n_components(self.n_components if n_components is None else n_components)
        o.covariance_type(self._spec)  # a shipped spec by its name
        o._set("scalar", self._guard.encode(), float(getattr(self, self._guard)))
        return o

    def _synced_model(self):
        """The gmmc model holding the current weights_ and the model's parameter."""
        attr, name = self._param
        if not (hasattr(self, "weights_") and hasattr(self, attr)):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                                 "appropriate arguments before using this estimator.")
        values = {"weights": np.asarray(self.weights_, dtype=np.float64),
                  name: np.asarray(getattr(self, attr), dtype=np.float64)}
        ctx = self._context()
        model = self.__dict__.get("_gmmc_model")
        if model is None or any(model.param_shape(n) != v.shape for n, v in values.items()):
            n_components, n_features = values[name].shape
            model = Model.create(ctx, self._options(n_components), n_features)
            self.__dict__["_gmmc_model"] = model
        for n, v in values.items():
            model.set_param(ctx, n, v)
        return model

    # ---- fit ---------------------------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM (gmmc_fit); returns self. y is ignored.

        sample_weight: None, a number or an array of shape (n_samples,), finite and >= 0: a sample of
        weight k counts as k copies of it."""
        t0 = time.perf_counter()
        self._validate_params()
        Xv = self._data(X, reset=True, min_samples=2)
        if Xv.shape[0] < self.n_components:
            raise ValueError("Expected n_samples >= n_components but got n_components = "
                             f"{self.n_components}, n_samples = {Xv.shape[0]}")
        sw = None if sample_weight is None else check_sample_weight(sample_weight, Xv)
        ctx = self._context()
        o = self._options().tol(self.tol).n_init(self.n_init).init(self.init_params)
        o.seed(_random.seed_from(self.random_state))
        if sw is not None:
            o.sample_weight(sw)
        outcome = _fit.fit(ctx, Xv, o, self.max_iter)
        model = outcome.model
        self.__dict__["_gmmc_model"] = model
        attr, name = self._param
        self.weights_ = model.param("weights")
        setattr(self, attr, model.param(name))
        self.converged_ = bool(outcome.converged)
        self.n_iter_ = int(outcome.n_iter)
        self.lower_bound_ = np.float64(outcome.lower_bound)
        self.lower_bounds_ = [float(v) for v in outcome.lower_bounds]
        for message in outcome.warnings:
            if "did not converge" in message:
                warnings.warn(convergence_message(self.n_init), ConvergenceWarning, stacklevel=2)
            else:
                warnings.warn("gmmc: " + message, UserWarning, stacklevel=2)
        self.fit_stats_ = {"device": ctx.device, "seconds_fit": time.perf_counter() - t0,
                           "seconds_in_c": outcome.seconds_in_c}
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """fit(X) then the labels of X."""
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    # ---- inference -----------------------------------------------------------------------------------
    def predict(self, X):
        """The most probable component of each sample (int64)."""
        self._synced_model()
        Xv = self._data(X, reset=False)
        labels = np.empty(Xv.shape[0], dtype=np.int32)
        self._call(Xv, "gmmc_predict", _ptr(labels, ctypes.c_int32), labels.size)
        return labels.astype(np.int64)

    def predict_proba(self, X):
        """Posterior probability of each component, shape (n_samples, n_components)."""
        self._synced_model()
        Xv = self._data(X, reset=False)
        proba = np.empty((Xv.shape[0], np.shape(self.weights_)[0]), dtype=np.float64)
        self._call(Xv, "gmmc_predict_proba", _ptr(proba), proba.size)
        return proba

    def score_samples(self, X):
        """Log-likelihood of each sample under the model (its normalising constants included)."""
        self._synced_model()
        Xv = self._data(X, reset=False)
        out = np.empty(Xv.shape[0], dtype=np.float64)
        self._call(Xv, "gmmc_score_samples", _ptr(out), out.size)
        return out

    def score(self, X, y=None):
        """Mean per-sample log-likelihood of X."""
        self._synced_model()
        Xv = self._data(X, reset=False)
        out = np.zeros(1, dtype=np.float64)
        self._call(Xv, "gmmc_score", _ptr(out))
        return np.float64(out[0])

    def bic(self, X):
        """Bayesian information criterion on X (lower is better)."""
        return self._criterion(X, "gmmc_bic")

    def aic(self, X):
        """Akaike information criterion on X (lower is better)."""
        return self._criterion(X, "gmmc_aic")

    def _criterion(self, X, call):
        self._synced_model()
        Xv = self._data(X, reset=False)
        out = np.zeros(1, dtype=np.float64)
        self._call(Xv, call, _ptr(out))
        return np.float64(out[0])

    def _call(self, Xv, call, *out):
        model = self._synced_model()
        ctx = self._context()
        with Data(ctx, Xv) as data:
            ctx.call(call, model.ptr, data, *out)

    def _draw_components(self, n_samples):
        """scikit-learn's sample: the number of draws of each component, and a generator."""
        if not (hasattr(self, "weights_")):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                                 "appropriate arguments before using this estimator.")
        if n_samples < 1:
            raise ValueError("Invalid value for 'n_samples': %d . The sampling requires at least one sample."
                             % n_samples)
        rng = np.random.default_rng(_random.seed_from(self.random_state))
        w = np.asarray(self.weights_, dtype=np.float64)
        counts = rng.multinomial(int(n_samples), w / w.sum())
        labels = np.repeat(np.arange(len(w)), counts)
        return rng, counts, labels

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_gmmc_context", None)
        state.pop("_gmmc_model", None)
        return state


class BernoulliMixture(_CountMixture):
    """A mixture of independent Bernoulli distributions over binary features (dsl/specs/bernoulli.yaml).

    alpha : float, default=1e-6
        A pseudo-count in the M-step, p = (sum r x + alpha) / (N_m + 2 alpha), so that a feature that is
        0 or 1 throughout a component keeps log p and log(1 - p) finite.

    Attributes: weights_ (n_components,), probabilities_ (n_components, n_features): P(x_d = 1) in each
    component; converged_, n_iter_, lower_bound_ (mean log-likelihood), lower_bounds_, n_features_in_.
    """

    _spec, _param, _guard = "bernoulli", ("probabilities_", "p"), "alpha"

    def __init__(self, n_components=1, *, tol=1e-3, max_iter=100, n_init=1, init_params="kmeans",
                 random_state=None, alpha=1e-6, device="auto"):
        super().__init__(n_components, tol=tol, max_iter=max_iter, n_init=n_init, init_params=init_params,
                         random_state=random_state, device=device)
        self.alpha = alpha

    def _check_values(self, X):
        bad = (X != 0) & (X != 1)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise ValueError(f"{type(self).__name__} expects binary data (0 or 1); X[{r}, {c}] = {X[r, c]!r}")

    def sample(self, n_samples=1):
        """n_samples draws: (X float64 0/1 (n_samples, n_features), y int64 labels), grouped by component."""
        rng, counts, labels = self._draw_components(n_samples)
        p = np.asarray(self.probabilities_, dtype=np.float64)
        X = (rng.random((labels.size, p.shape[1])) < p[labels]).astype(np.float64)
        return X, labels.astype(np.int64)


class PoissonMixture(_CountMixture):
    """A mixture of independent Poisson distributions over count features (dsl/specs/poisson.yaml).

    reg_rate : float, default=1e-6
        Added to every rate in the M-step, so that a feature that is 0 throughout a component keeps a
        positive rate.

    Attributes: weights_ (n_components,), rates_ (n_components, n_features): the mean count of each
    feature in each component; converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_.
    """

    _spec, _param, _guard = "poisson", ("rates_", "rate"), "reg_rate"

    def __init__(self, n_components=1, *, tol=1e-3, max_iter=100, n_init=1, init_params="kmeans",
                 random_state=None, reg_rate=1e-6, device="auto"):
        super().__init__(n_components, tol=tol, max_iter=max_iter, n_init=n_init, init_params=init_params,
                         random_state=random_state, device=device)
        self.reg_rate = reg_rate

    def _check_values(self, X):
        _check_counts(self, X)

    def sample(self, n_samples=1):
        """n_samples draws: (X float64 counts (n_samples, n_features), y int64 labels), grouped by component."""
        rng, counts, labels = self._draw_components(n_samples)
        lam = np.asarray(self.rates_, dtype=np.float64)
        return rng.poisson(lam[labels]).astype(np.float64), labels.astype(np.int64)


class MultinomialMixture(_CountMixture):
    """A mixture of multinomial distributions over bag-of-words rows (dsl/specs/multinomial.yaml).

    X[n, d] counts word d in document n. The log-likelihood includes each row's multinomial coefficient.

    alpha : float, default=1e-6
        A pseudo-count of every word in every component: p = (sum r x + alpha) / (sum_d sum r x + D alpha).

    Attributes: weights_ (n_components,), probabilities_ (n_components, n_features), each row summing to
    1; converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_. sample(n_samples, n_trials)
    draws rows of n_trials words.
    """

    _spec, _param, _guard = "multinomial", ("probabilities_", "p"), "alpha"

    def __init__(self, n_components=1, *, tol=1e-3, max_iter=100, n_init=1, init_params="kmeans",
                 random_state=None, alpha=1e-6, device="auto"):
        super().__init__(n_components, tol=tol, max_iter=max_iter, n_init=n_init, init_params=init_params,
                         random_state=random_state, device=device)
        self.alpha = alpha

    def _check_values(self, X):
        _check_counts(self, X)

    def sample(self, n_samples=1, n_trials=100):
        """n_samples rows of n_trials words each: (X float64 counts, y int64 labels), grouped by component."""
        if not (isinstance(n_trials, (int, np.integer)) and n_trials >= 0):
            raise ValueError(f"n_trials must be a non-negative int, got {n_trials!r}")
        rng, counts, labels = self._draw_components(n_samples)
        p = np.asarray(self.probabilities_, dtype=np.float64)
        X = np.vstack([rng.multinomial(int(n_trials), p[m] / p[m].sum(), size=c) for m, c in enumerate(counts)])
        return X.astype(np.float64), labels.astype(np.int64)


def _check_counts(est, X):
    bad = (X < 0) | (X != np.floor(X))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{type(est).__name__} expects counts (non-negative integers); X[{r}, {c}] = {X[r, c]!r}")


def _ptr(array, ctype=ctypes.c_double):
    return array.ctypes.data_as(ctypes.POINTER(ctype))
