"""Input arrays: what scikit-learn accepts and refuses, in the layout gmmc reads.

check_array returns X as a 2-D, C-contiguous, aligned, native-endian float32
or float64 array. An array already in that form is returned as it is (gmmc
then reads the caller's memory, no copy); anything else is converted once:
other dtypes (ints, lists, DataFrames) become float64 as in scikit-learn,
Fortran-ordered or strided float arrays keep their dtype. Errors and warnings
use scikit-learn 1.2's wording. NaN and infinity are not looked for here: gmmc
checks for them anyway (one pass, in C), and ``nonfinite_error`` turns its
refusal into scikit-learn's message.
"""
import warnings

import numpy as np

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _is_sparse(X):
    try:
        import scipy.sparse
    except ImportError:
        return False
    return scipy.sparse.issparse(X)


def feature_names(X):
    """The column names of a DataFrame whose columns are all strings, else None (as scikit-learn)."""
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "__array__"):
        return None
    names = np.asarray(columns, dtype=object)
    if names.ndim != 1 or len(names) == 0 or not all(isinstance(n, str) for n in names):
        return None
    return names


def check_array(X, owner, ensure_min_samples=1):
    """X as gmmc reads it (see the module docstring); ValueError/TypeError as scikit-learn's check_array."""
    if _is_sparse(X):
        raise TypeError("A sparse matrix was passed, but dense data is required. "
                        "Use X.toarray() to convert to a dense numpy array.")
    if not isinstance(X, np.ndarray):
        X = np.asarray(X)
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported\n{X}\n")
    if X.dtype not in _FLOATS:
        X = np.asarray(X, dtype=np.float64)
    if X.ndim == 0:
        raise ValueError(f"Expected 2D array, got scalar array instead:\narray={X}.\n"
                         "Reshape your data either using array.reshape(-1, 1) if your data has a single feature "
                         "or array.reshape(1, -1) if it contains a single sample.")
    if X.ndim == 1:
        raise ValueError(f"Expected 2D array, got 1D array instead:\narray={X}.\n"
                         "Reshape your data either using array.reshape(-1, 1) if your data has a single feature "
                         "or array.reshape(1, -1) if it contains a single sample.")
    if X.ndim > 2:
        raise ValueError(f"Found array with dim {X.ndim}. {owner} expected <= 2.")
    if X.shape[0] < ensure_min_samples:
        raise ValueError(f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) while a minimum of "
                         f"{ensure_min_samples} is required by {owner}.")
    if X.shape[1] < 1:
        raise ValueError(f"Found array with {X.shape[1]} feature(s) (shape={X.shape}) while a minimum of 1 is "
                         f"required by {owner}.")
    if not (X.flags.c_contiguous and X.flags.aligned and X.dtype.isnative):
        X = np.require(X, dtype=X.dtype.newbyteorder("="), requirements=["C", "A"])
    return X


def check_feature_names(est, X, reset):
    """scikit-learn's _check_feature_names: sets feature_names_in_ at fit, compares at predict."""
    names = feature_names(X)
    owner = type(est).__name__
    if reset:
        if names is not None:
            est.feature_names_in_ = names
        elif hasattr(est, "feature_names_in_"):
            del est.feature_names_in_
        return
    fitted = getattr(est, "feature_names_in_", None)
    if fitted is None and names is None:
        return
    if names is not None and fitted is None:
        warnings.warn(f"X has feature names, but {owner} was fitted without feature names")
        return
    if names is None and fitted is not None:
        warnings.warn(f"X does not have valid feature names, but {owner} was fitted with feature names")
        return
    if len(fitted) != len(names) or np.any(fitted != names):
        unexpected = sorted(set(names) - set(fitted))
        missing = sorted(set(fitted) - set(names))
        message = "The feature names should match those that were passed during fit.\n"
        if unexpected:
            message += "Feature names unseen at fit time:\n" + "".join(f"- {n}\n" for n in unexpected)
        if missing:
            message += "Feature names seen at fit time, yet now missing:\n" + "".join(f"- {n}\n" for n in missing)
        if not unexpected and not missing:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message)


def check_n_features(est, X, reset):
    """scikit-learn's _check_n_features: sets n_features_in_ at fit, compares afterwards."""
    n = X.shape[1]
    if reset:
        est.n_features_in_ = n
        return
    expected = getattr(est, "n_features_in_", None)
    if expected is None:
        means = getattr(est, "means_", None)  # parameters assigned by hand, without fit
        expected = np.shape(means)[-1] if means is not None else None
    if expected is not None and n != expected:
        raise ValueError(f"X has {n} features, but {type(est).__name__} is expecting {expected} features as input.")


def nonfinite_error(X, owner):
    """scikit-learn's message for X holding NaN or infinity (called after gmmc refused X)."""
    if np.isnan(X).any():
        return ValueError(
            f"Input X contains NaN.\n{owner} does not accept missing values encoded as NaN natively. For supervised "
            "learning, you might want to consider sklearn.ensemble.HistGradientBoostingClassifier and Regressor "
            "which accept missing values encoded as NaNs natively. Alternatively, it is possible to preprocess the "
            "data, for instance by using an imputer transformer in a pipeline or drop samples with missing values. "
            "See https://scikit-learn.org/stable/modules/impute.html You can find a list of all estimators that "
            "handle NaN values at the following page: "
            "https://scikit-learn.org/stable/modules/impute.html#estimators-that-handle-nan-values")
    return ValueError(f"Input X contains infinity or a value too large for dtype({X.dtype.name!r}).")
