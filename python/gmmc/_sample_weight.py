"""sample_weight for fit: scikit-learn's validation, then gmmc's one rule more.

scikit-learn's own ``_check_sample_weight`` (shape, 1-D, finite, with
``only_non_negative``) when the installed scikit-learn has it, else the same
checks with its messages. Weights that are all zero are refused here: no
event would count (gmmc_fit_options_set_sample_weight refuses them too)."""
import numpy as np


def _fallback(sample_weight, X):
    """scikit-learn 1.2's _check_sample_weight(..., only_non_negative=True) without scikit-learn."""
    n = X.shape[0]
    if np.ndim(sample_weight) == 0 and not isinstance(sample_weight, (list, tuple)):
        return np.full(n, float(sample_weight), dtype=np.float64)
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "fiub":
        w = w.astype(np.float64)
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1:
        raise ValueError("Sample weights must be 1D array or scalar")
    if w.shape != (n,):
        raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n,)}!")
    if np.isnan(w).any():
        raise ValueError("Input sample_weight contains NaN.")
    if np.isinf(w).any():
        raise ValueError("Input sample_weight contains infinity or a value too large for dtype('float64').")
    if (w < 0).any():
        raise ValueError("Negative values in data passed to `sample_weight`")
    return w


def check_sample_weight(sample_weight, X):
    """sample_weight as a C-contiguous float64 array of shape (n_samples,); ValueError as scikit-learn's."""
    try:
        from sklearn.utils.validation import _check_sample_weight
    except ImportError:
        w = _fallback(sample_weight, X)
    else:
        w = _check_sample_weight(sample_weight, X, dtype=np.float64, only_non_negative=True)
    w = np.ascontiguousarray(w, dtype=np.float64)
    if not np.isfinite(w).all():  # a scalar inf passes scikit-learn's check
        raise ValueError("Input sample_weight contains NaN, infinity or a value too large for dtype('float64').")
    if not (w > 0).any():
        raise ValueError("sample_weight contains only zeros: at least one sample must have a positive weight")
    return w
