"""gmmc.fit_many: many GaussianMixture fits in one gmmc_fit_many call.

Each array gets its own estimator, made with the same parameters, checked
and given its options exactly as GaussianMixture.fit does; then one C call
trains them all side by side (each fit stopping on its own), and each
estimator receives its fitted attributes as fit would set them. The result
of each fit is the estimator's fit(X) result (bit for bit on the host).
"""
import contextlib
import ctypes
import time

from ._context import Context
from ._data import Data
from ._errors import GmmcError, error_for
from ._fit import Outcome
from ._model import Model


def fit_many(arrays, sample_weights=None, *, errors="raise", estimator=None, **params):
    """Fits one GaussianMixture per array of ``arrays`` in one gmmc_fit_many call; returns the list of
    fitted estimators, in order.

    params: GaussianMixture's parameters (n_components, covariance_type, max_iter, n_init, random_state,
    device, dtype, ...), the same for every fit (random_state: an int gives every fit that seed, as
    GaussianMixture(random_state=int).fit would). sample_weights: None or one entry per array (None or
    the array's weights). errors: 'raise' (default) raises the first failed fit's error, naming the
    fit; 'none' puts None in the place of a failed fit (its error in ``gmmc.fit_many.last_errors``).
    estimator: the class to instantiate (default GaussianMixture; a subclass of it).
    The arrays may differ in rows, not in columns' meaning; n_components may exceed no array's rows.
    See docs/python.md, "Many fits at once"."""
    from .gaussian_mixture import GaussianMixture

    cls = GaussianMixture if estimator is None else estimator
    arrays = list(arrays)
    if not arrays:
        raise ValueError("fit_many needs at least one array")
    if sample_weights is None:
        sample_weights = [None] * len(arrays)
    else:
        sample_weights = list(sample_weights)
        if len(sample_weights) != len(arrays):
            raise ValueError(f"fit_many: {len(sample_weights)} sample_weights for {len(arrays)} arrays")
    if errors not in ("raise", "none"):
        raise ValueError(f"fit_many: errors must be 'raise' or 'none', got {errors!r}")
    estimators = [cls(**params) for _ in arrays]
    if estimators[0].warm_start:
        raise ValueError("fit_many: warm_start=True has nothing to start from (fresh estimators)")
    ctx = Context(estimators[0].device)
    states = []
    for i, (est, X, w) in enumerate(zip(estimators, arrays, sample_weights)):
        try:
            states.append(est._begin_fit(X, w, ctx))
        except (ValueError, TypeError) as e:
            raise type(e)(f"fit_many: array {i}: {e}") from None
    for est, st in zip(estimators, states):
        st.options.max_iter(est.max_iter)  # as _fit.fit sets it
    n = len(arrays)
    lib = ctx.lib
    if not lib.has("gmmc_fit_many"):
        raise GmmcError(f"this libgmmc ({lib.path}, {lib.version}) has no gmmc_fit_many (libgmmc >= 1.2 has it)")
    models = (ctypes.c_void_p * n)()
    statuses = (ctypes.c_int * n)()
    warnings_seen = []
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        handles = (ctypes.c_void_p * n)(*[stack.enter_context(Data(ctx, st.Xv)).value for st in states])
        opts = (ctypes.c_void_p * n)(*[st.options.ptr.value for st in states])
        try:
            warnings_seen = ctx.call("gmmc_fit_many", n, handles, opts, models, statuses)
        except GmmcError:
            pass  # per fit below (a refused call sets every status)
        messages = [lib.cdll.gmmc_fit_many_error(ctx.ptr, i) for i in range(n)]
    seconds = time.perf_counter() - t0
    fit_many.last_errors = [None] * n
    out = []
    for i, (est, st) in enumerate(zip(estimators, states)):
        if statuses[i] != 0:
            m = messages[i].decode("utf-8", "replace") if messages[i] else None
            err = est._data_error(error_for(statuses[i], m), st.Xv)
            fit_many.last_errors[i] = err
            if errors == "raise":
                for j in range(n):  # the others' models are freed here
                    if models[j]:
                        Model(ctypes.c_void_p(models[j]))
                if isinstance(err, GmmcError):
                    raise error_for(statuses[i], f"fit_many: fit {i}: {err}") from None
                raise type(err)(f"fit_many: fit {i}: {err}") from None
            out.append(None)
            continue
        model = Model(ctypes.c_void_p(models[i]))
        models[i] = None
        # the unconverged warning, per fit (the context's handler cannot say which fit gave it)
        warns = [w for w in warnings_seen if "did not converge" not in w]
        if not model.converged and est.max_iter > 0:
            warns.append("the best initialisation did not converge")
        outcome = Outcome(model, model.n_iter, model.converged, model.lower_bound, warns, seconds)
        out.append(est._end_fit(st, outcome))
    return out


fit_many.last_errors = []
