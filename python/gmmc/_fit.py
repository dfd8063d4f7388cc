"""Running gmmc_fit for the estimator: one call, or scikit-learn's warm start.

A plain fit is one gmmc_fit call: initialisations, EM loops and the choice of
the best run all happen in C.

Warm start (warm_start=True on a fitted estimator) needs more care, because
scikit-learn measures the change of the first iteration against the previous
fit's lower_bound_, so a warm fit may stop after one iteration; gmmc starts
every fit's change from -inf. The chain below reproduces scikit-learn's
iteration count, convergence flag and parameters exactly with at most three
gmmc_fit calls:

  A: 1 iteration from the previous parameters; converged if
     |lb1 - previous lower_bound_| < tol (or stop at max_iter = 1);
  B: max_iter - 1 iterations from A; gmmc's own test covers iterations 3 and
     on (|lb_k - lb_{k-1}| for k >= 3), which is exactly scikit-learn's;
  only scikit-learn's test at iteration 2, |lb2 - lb1| < tol, is made here;
  when it holds, scikit-learn stops there, so
  C: 1 iteration from A gives its parameters (B went on; its extra work is
     discarded).
"""
import ctypes
import time

from ._data import Data
from ._model import Model


class Outcome:
    """The model a fit produced and scikit-learn's fit results."""

    def __init__(self, model, n_iter, converged, lower_bound, warnings, seconds_in_c, warm_chain=False,
                 lower_bounds=None):
        self.model = model
        # the lower bound after each iteration of the run that was kept (scikit-learn's lower_bounds_)
        self.lower_bounds = list(model.lower_bounds) if lower_bounds is None else lower_bounds
        self.n_iter = n_iter
        self.converged = converged
        self.lower_bound = lower_bound
        self.warnings = warnings  # messages of gmmc's warning handler
        self.seconds_in_c = seconds_in_c  # wall time inside gmmc_fit calls
        self.warm_chain = warm_chain  # convergence was judged here, not by gmmc (see the module docstring)


class _Caller:
    def __init__(self, ctx, data_handle, options):
        self.ctx, self.data, self.options = ctx, data_handle, options
        self.seconds = 0.0
        self.warnings = []

    def fit(self, max_iter, warm_model):
        self.options.max_iter(max_iter)
        if warm_model is not None:
            self.options.n_init(1)
            self.options.warm_start(warm_model)
        out = ctypes.c_void_p()
        t0 = time.perf_counter()
        try:
            self.warnings.extend(self.ctx.call("gmmc_fit", self.data, self.options.ptr, ctypes.byref(out)))
        finally:
            self.seconds += time.perf_counter() - t0
        return Model(out)


def fit(ctx, X, options, max_iter):
    """One gmmc_fit call with these options (initialisation included)."""
    with Data(ctx, X) as data:
        c = _Caller(ctx, data, options)
        m = c.fit(max_iter, None)
    return Outcome(m, m.n_iter, m.converged, m.lower_bound, c.warnings, c.seconds)


def fit_warm(ctx, X, options, previous, previous_lower_bound, max_iter, tol, recorder):
    """scikit-learn's warm-started fit from the model ``previous`` (see the module docstring)."""
    with Data(ctx, X) as data:
        c = _Caller(ctx, data, options)
        if max_iter == 0:
            return Outcome(previous, 0, False, float("-inf"), [], 0.0, True, [])
        if previous_lower_bound == float("-inf"):  # nothing to compare the first iteration with: as gmmc does
            m = c.fit(max_iter, previous)
            return Outcome(m, m.n_iter, m.converged, m.lower_bound, c.warnings, c.seconds)
        recorder.first_prev = previous_lower_bound
        a = c.fit(1, previous)
        lb1 = a.lower_bound
        if abs(lb1 - previous_lower_bound) < tol or max_iter == 1:
            return Outcome(a, 1, abs(lb1 - previous_lower_bound) < tol, lb1, c.warnings, c.seconds, True, [lb1])
        recorder.offset, recorder.first_prev, recorder.hold = 1, lb1, True
        b = c.fit(max_iter - 1, a)
        lbs = b.lower_bounds
        if abs(lbs[0] - lb1) < tol:
            recorder.release(1)
            if b.n_iter == 1:
                final = b
            else:
                recorder.mute = True
                final = c.fit(1, a)
                recorder.mute = False
            return Outcome(final, 2, True, final.lower_bound, c.warnings, c.seconds, True, [lb1, lbs[0]])
        recorder.release(len(lbs))
        return Outcome(b, 1 + b.n_iter, b.converged, b.lower_bound, c.warnings, c.seconds, True, [lb1] + list(lbs))
