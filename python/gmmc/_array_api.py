"""Array API inputs: PyTorch (CPU, CUDA), CuPy, array_api_strict, ... under
scikit-learn's ``array_api_dispatch=True`` (scikit-learn >= 1.8).

gmmc computes every fit and every inference itself: a non-NumPy array is
moved to a NumPy array on the host, gmmc runs on it (on its GPU or the
host, as for NumPy input), and the fitted attributes and results are moved
back to the input's namespace and device. The moves are scikit-learn's own
(``sklearn.utils._array_api``), so that the namespaces and devices are the
ones scikit-learn's tests expect. Without scikit-learn, with an older one, or
with dispatch off, nothing here applies and arrays go through NumPy as
before.
"""
import numpy as np


def _helpers():
    try:
        from sklearn.utils._array_api import get_namespace_and_device, move_to
    except ImportError:
        return None
    return get_namespace_and_device, move_to


def namespace(*arrays):
    """(xp, device) of the non-NumPy array API arrays among ``arrays`` when scikit-learn dispatches, else None."""
    h = _helpers()
    candidates = [a for a in arrays if a is not None and not isinstance(a, (np.ndarray, np.generic, list, tuple,
                                                                              int, float))]
    if h is None or not candidates:
        return None
    try:
        xp, is_array_api, device = h[0](*candidates)
    except (TypeError, ValueError):
        return None
    if not is_array_api or "numpy" in getattr(xp, "__name__", "numpy"):
        return None
    return xp, device


def to_numpy(a):
    """``a`` as a NumPy array on the host (other values unchanged)."""
    h = _helpers()
    if h is None or a is None or isinstance(a, (np.ndarray, np.generic, list, tuple, int, float)):
        return a
    return h[1](a, xp=np, device="cpu")


def from_numpy(a, where):
    """A NumPy array ``a`` moved to ``where`` = (xp, device)."""
    if where is None or a is None:
        return a
    return _helpers()[1](np.asarray(a), xp=where[0], device=where[1])
