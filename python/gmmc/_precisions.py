"""precisions_ from precisions_cholesky_, as scikit-learn derives it.

gmmc's specs keep the Cholesky factor U of each precision matrix (U Uᵀ = Σ⁻¹,
U upper triangular) and, for diagonal and spherical models, 1/sqrt(variance).
scikit-learn also exposes the precisions themselves; forming them is one
product per component, which NumPy does here as glue: it is not part of EM
and gmmc never reads precisions_.
"""
import numpy as np


def precisions_from_cholesky(precisions_cholesky, covariance_type):
    pc = np.asarray(precisions_cholesky, dtype=np.float64)
    if covariance_type == "full":
        return np.matmul(pc, np.swapaxes(pc, -1, -2))
    if covariance_type == "tied":
        return pc @ pc.T
    return pc ** 2


def covariance_kind(covariance_type, spec_given, precisions_cholesky, n_components, n_features):
    """The covariance type of a fitted model: the parameter's, or for a user's spec, by shape (None if unknown)."""
    if not spec_given:
        return covariance_type
    shape = np.shape(precisions_cholesky)
    if len(shape) == 3:
        return "full"
    if len(shape) == 1:
        return "spherical"
    if len(shape) == 2:
        if shape == (n_features, n_features) and (n_components != n_features or covariance_type == "tied"):
            return "tied"
        return "diag"
    return None
