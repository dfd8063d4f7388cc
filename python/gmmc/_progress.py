"""What gmmc's progress callback reports, recorded, and printed as scikit-learn's verbose output.

gmmc calls back after every EM iteration with (initialisation, iteration,
lower bound, change, seconds of that iteration measured in C). The recorder
keeps these (they are how the Python overhead per iteration is measured, see
docs/python.md); the printer writes scikit-learn's lines from them:

    Initialization 0
      Iteration 10	 time lapse 0.01234s	 ll change 0.00123
    Initialization converged: True	 time lapse 0.05678s	 ll -1.23456

scikit-learn prints "Initialization k" before initialising; gmmc reports
nothing until the first iteration is done, so the line comes then, and the
"converged" line of an initialisation when the next one starts or the fit
ends. The text is the same; only when each line appears differs. As in
scikit-learn, "converged" is true from the first initialisation that
converged on.
"""
import time


class Iteration:
    __slots__ = ("init", "iter", "lower_bound", "change", "seconds", "wall")

    def __init__(self, init, it, lower_bound, change, seconds, wall):
        self.init, self.iter, self.lower_bound, self.change = init, it, lower_bound, change
        self.seconds, self.wall = seconds, wall


class Printer:
    """scikit-learn's _print_verbose_msg_* for verbose >= 1."""

    def __init__(self, verbose, interval, tol, n_init, max_iter, write=print):
        self.verbose, self.interval, self.tol = int(verbose), interval, tol
        self.n_init, self.max_iter, self.write = n_init, max_iter, write
        self.init = None
        self.converged = False
        self.init_start = self.iter_prev = time.time()
        self.last_lb = None

    def _begin(self, init):
        self.write("Initialization %d" % init)
        self.iter_prev = self.init_start

    def _end(self):
        if self.verbose == 1:
            self.write("Initialization converged: %s" % self.converged)
        else:
            now = time.time()
            self.write("Initialization converged: %s\t time lapse %.5fs\t ll %.5f"
                       % (self.converged, now - self.init_start, self.last_lb))
        self.init_start = time.time()

    def iteration(self, it):
        if it.init != self.init:
            if self.init is not None:
                self._end()
            self.init = it.init
            self._begin(it.init - 1)
        self.last_lb = it.lower_bound
        if abs(it.change) < self.tol:
            self.converged = True
        if it.iter % self.interval == 0:
            if self.verbose == 1:
                self.write("  Iteration %d" % it.iter)
            else:
                now = time.time()
                self.write("  Iteration %d\t time lapse %.5fs\t ll change %.5f"
                           % (it.iter, now - self.iter_prev, it.change))
                self.iter_prev = now

    def finish(self):
        if self.max_iter == 0:  # scikit-learn announces each initialisation and nothing else
            for k in range(self.n_init):
                self.write("Initialization %d" % k)
        elif self.init is not None:
            self._end()


class Recorder:
    """Collects the iterations of one or more gmmc_fit calls, feeding a Printer if there is one."""

    def __init__(self, printer=None):
        self.iterations = []
        self.printer = printer
        self.offset = 0  # iteration numbers of a continued fit (warm start) follow the earlier ones
        self.first_prev = None  # lower bound the first iteration's change is measured from (warm start)
        self.hold = False  # keep iterations back from the printer (see release)
        self.mute = False  # record nothing (a warm-start iteration computed twice)
        self._held = []

    def __call__(self, init, it, lower_bound, change, seconds):
        if self.mute:
            return
        if it == 1 and self.first_prev is not None:
            change = lower_bound - self.first_prev
        rec = Iteration(init, it + self.offset, lower_bound, change, seconds, time.perf_counter())
        self.iterations.append(rec)
        if self.printer is not None:
            if self.hold:
                self._held.append(rec)
            else:
                self.printer.iteration(rec)

    def release(self, keep):
        """Prints the first ``keep`` held iterations and drops the others."""
        if self.printer is not None:
            for rec in self._held[:keep]:
                self.printer.iteration(rec)
        self._held = []
        self.hold = False

    def seconds_in_iterations(self):
        return sum(r.seconds for r in self.iterations)
