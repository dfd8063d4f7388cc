"""scikit-learn's base classes and exception types, or stand-ins when it is absent.

With scikit-learn importable, GaussianMixture derives from its BaseEstimator
and DensityMixin and raises its NotFittedError, InvalidParameterError and
ConvergenceWarning, so that clone(), GridSearchCV, pipelines and ``except``
clauses written for scikit-learn work unchanged. Without it, minimal
equivalents keep the same behaviour (get_params/set_params from the
constructor's signature, the same exception bases), so gmmc does not need
scikit-learn to run.
"""
import inspect

try:
    from sklearn.base import BaseEstimator, DensityMixin
    from sklearn.exceptions import ConvergenceWarning, NotFittedError
    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    HAVE_SKLEARN = False

try:
    from sklearn.utils._param_validation import InvalidParameterError
except ImportError:
    class InvalidParameterError(ValueError, TypeError):
        """A constructor parameter has a bad type or value (scikit-learn's InvalidParameterError)."""

if not HAVE_SKLEARN:
    class NotFittedError(ValueError, AttributeError):
        """The estimator is used before fit (scikit-learn's NotFittedError)."""

    class ConvergenceWarning(UserWarning):
        """EM stopped at max_iter before the lower bound settled (scikit-learn's ConvergenceWarning)."""

    class BaseEstimator:
        """get_params/set_params from the constructor's keyword arguments, as scikit-learn's."""

        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values()
                          if p.name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep=True):
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for key, value in params.items():
                if key not in valid:
                    raise ValueError(f"Invalid parameter {key!r} for estimator {self}. "
                                     f"Valid parameters are: {valid!r}.")
                setattr(self, key, value)
            return self

        def __repr__(self):
            defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
            def is_default(k, v):
                d = defaults.get(k)
                return v is d or (isinstance(v, (bool, int, float, str)) and type(v) is type(d) and v == d)
            changed = [f"{k}={v!r}" for k, v in self.get_params().items() if not is_default(k, v)]
            return f"{type(self).__name__}({', '.join(changed)})"

    class DensityMixin:
        """Marks a density estimator (scikit-learn's DensityMixin)."""
        _estimator_type = "DensityEstimator"


def _sklearn_base_source():
    """The text of the installed scikit-learn's mixture base class ("" without it)."""
    try:
        import sklearn.mixture._base as base
        with open(base.__file__, encoding="utf-8") as f:
            return f.read()
    except (ImportError, OSError, AttributeError):
        return ""


_CONVERGENCE = None


def convergence_message(n_init):
    """The installed scikit-learn's words when the best initialisation did not converge: 1.9 and later
    name the best one; older versions numbered the initialisation."""
    global _CONVERGENCE
    if _CONVERGENCE is None:
        _CONVERGENCE = "Best performing initialization did not converge" in _sklearn_base_source()
    if _CONVERGENCE:
        return ("Best performing initialization did not converge. Try different init parameters, or increase "
                "max_iter, tol, or check for degenerate data.")
    return ("Initialization %d did not converge. Try different init parameters, or increase max_iter, "
            "tol or check for degenerate data." % n_init)


_ILL_DEFINED = None


def ill_defined_message():
    """The installed scikit-learn's ValueError text when a covariance is not positive definite."""
    global _ILL_DEFINED
    if _ILL_DEFINED is None:
        _ILL_DEFINED = ("Fitting the mixture model failed because some components have ill-defined empirical "
                        "covariance (for instance caused by singleton or collapsed samples). Try to decrease the "
                        "number of components, or increase reg_covar.")
        try:
            import numpy as np
            from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky
            _compute_precision_cholesky(np.zeros((1, 1, 1)), "full")
        except ValueError as e:
            _ILL_DEFINED = str(e)
        except Exception:  # an older or newer private helper: keep the text above
            pass
    return _ILL_DEFINED
