"""gmmc for Python: scikit-learn's GaussianMixture, trained by gmmc's generated EM kernels.

    from gmmc import GaussianMixture      # instead of: from sklearn.mixture import GaussianMixture

The package is ctypes glue over libgmmc.so (see _loader.py for how the library
is found, and docs/python.md). Nothing is loaded until first use, so importing
gmmc is cheap and an import error names the library search.
"""
from ._errors import CompileError, DeviceError, GmmcError, GmmcIOError, GmmcMemoryError, GmmcValueError, SpecError
from ._version import __version__
from .gaussian_mixture import GaussianMixture
from .count_mixtures import BernoulliMixture, MultinomialMixture, PoissonMixture
from .bayesian_mixture import BayesianGaussianMixture
from ._many import fit_many

__all__ = ["GaussianMixture", "BayesianGaussianMixture", "BernoulliMixture", "PoissonMixture", "MultinomialMixture",
           "GmmcError", "GmmcValueError", "SpecError", "DeviceError", "CompileError", "GmmcIOError", "GmmcMemoryError",
           "library_info", "fit_many", "__version__"]


def library_info(device="auto"):
    """Where libgmmc was found, its version, and the device a context for ``device`` gets.

    Returns a dict: version, path, origin (why that copy), device, note (why
    'auto' fell back to the host, or None)."""
    from ._context import Context
    from ._loader import load
    lib = load()
    info = {"version": lib.version, "path": lib.path, "origin": lib.origin, "device": None, "note": None}
    ctx = Context(device)
    info["device"], info["note"] = ctx.device, ctx.note
    ctx.close()
    return info
