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


def cholesky_from_precisions(precisions, covariance_type):
    """scikit-learn's precisions_cholesky_ from given precisions: the upper factor U (U Uᵀ = P) of each,
    J L J with L the lower Cholesky factor of J P J (J reverses rows and columns) — gmmc's own U."""
    p = np.asarray(precisions, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        flip = p[..., ::-1, ::-1]
        return np.linalg.cholesky(flip)[..., ::-1, ::-1].copy()
    return np.sqrt(p)


def cholesky_from_covariances(covariances, covariance_type):
    """scikit-learn's precisions_cholesky_ from covariances: (L⁻¹)ᵀ for the lower factor L of each, or
    1/sqrt for diagonal and spherical ones."""
    c = np.asarray(covariances, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        lower = np.linalg.cholesky(c)
        eye = np.broadcast_to(np.eye(c.shape[-1]), c.shape)
        return np.swapaxes(np.linalg.solve(lower, eye), -1, -2)
    return 1.0 / np.sqrt(c)


def estimate_parameters(X, resp, reg_covar, covariance_type):
    """scikit-learn's M-step statistics (weights as counts, means, covariances) of X under resp, in NumPy
    float64: the hooks' arithmetic (GaussianMixture._initialize); gmmc's fits compute them in C."""
    X = np.asarray(X, dtype=np.float64)
    resp = np.asarray(resp, dtype=np.float64)
    nk = resp.sum(axis=0) + 10 * np.finfo(resp.dtype).eps
    means = resp.T @ X / nk[:, None]
    if covariance_type == "full":
        cov = np.empty((len(nk), X.shape[1], X.shape[1]))
        for k in range(len(nk)):
            diff = X - means[k]
            cov[k] = (resp[:, k] * diff.T) @ diff / nk[k]
            cov[k].flat[:: X.shape[1] + 1] += reg_covar
    elif covariance_type == "tied":
        cov = (X.T @ X - (nk * means.T) @ means) / nk.sum()
        cov.flat[:: X.shape[1] + 1] += reg_covar
    else:
        avg_x2 = resp.T @ (X * X) / nk[:, None]
        cov = avg_x2 - means**2 + reg_covar
        if covariance_type == "spherical":
            cov = cov.mean(axis=1)
    return nk, means, cov
