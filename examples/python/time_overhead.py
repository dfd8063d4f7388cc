"""Time gmmc.GaussianMixture.fit against scikit-learn, and measure the Python layer's overhead per EM iteration.

    python time_overhead.py                       # the GPU: 10^6 x 32 float32, 128 components (full)
                                                  # the host (no GPU): 10^5 x 16, 32 components
    python time_overhead.py --n-samples 1000000 --n-features 32 --n-components 128 --device cuda
    python time_overhead.py --skip-sklearn        # gmmc only

Both implementations get the same data and the same fixed start
(weights_init / means_init / precisions_init, init_params='random_from_data'
so that no k-means runs) and tol=0, so that each fit runs exactly the given
number of EM iterations.

How the overhead is measured (docs/python.md explains it too):
  T_fit     wall time of GaussianMixture.fit(X), after a warm-up fit on the
            same estimator (the kernels are compiled and cached by then;
            compile time left is subtracted anyway)
  T_iter    sum of the per-iteration seconds libgmmc itself measures and
            reports through the progress callback (E-step + M-step + reading
            the lower bound, per iteration)
  T_c       wall time inside the gmmc_fit call (measured around the ctypes call)
  T_compile compile time during the timed fit (gmmc_context_compile_stats)
  overhead per iteration, upper bound = (T_fit - T_iter - T_compile) / n_iter:
            everything that is not an EM iteration, divided over the iterations:
            Python glue, but also C work done once per fit (initialisation,
            data transfer to the GPU, reading the parameters back)
  Python glue outside C = T_fit - T_c, and inside C the progress callback,
            whose cost per call is measured separately (a ctypes callback
            round trip into the same Python recorder gmmc uses)
  glue per iteration = (T_fit - T_c) / n_iter + callback cost.
scikit-learn's time per iteration is the difference of two fits with
different max_iter (its fixed costs: the initial M-step and the final E-step
of fit, cancel out), divided by the difference of the iteration counts; by
default it is timed on the first 10^5 samples and scaled linearly to all of
them (--sklearn-samples 0 times all: minutes per iteration at 10^6 x 32 x 128).
"""
import argparse
import ctypes
import json
import sys
import time
import warnings

import numpy as np

try:
    from sklearn.exceptions import ConvergenceWarning
except ImportError:  # gmmc's own, when scikit-learn is absent
    from gmmc._compat import ConvergenceWarning


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-samples", type=int)
    p.add_argument("--n-features", type=int)
    p.add_argument("--n-components", type=int)
    p.add_argument("--covariance-type", default="full", choices=["full", "tied", "diag", "spherical"])
    p.add_argument("--max-iter", type=int, default=20, help="EM iterations of the timed gmmc fit (tol=0)")
    p.add_argument("--repeat", type=int, default=3, help="timed gmmc fits (the median is reported)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--skip-sklearn", action="store_true")
    p.add_argument("--sklearn-iters", type=int, default=2,
                   help="scikit-learn per-iteration time from fits of 1 and 1 + this many iterations")
    p.add_argument("--sklearn-samples", type=int, default=100_000,
                   help="time scikit-learn on at most this many samples and scale linearly to all of them "
                        "(its cost per iteration is linear in the samples; at 10^6 x 32 x 128 one iteration "
                        "takes minutes); 0: all samples")
    p.add_argument("--json", help="also write the results to this file")
    return p.parse_args(argv)


def sizes(args, on_gpu):
    default = (1_000_000, 32, 128) if on_gpu else (100_000, 16, 32)
    n = args.n_samples or default[0]
    d = args.n_features or default[1]
    k = args.n_components or default[2]
    return n, d, k


def make_data(n, d, k, dtype, covariance_type):
    """k Gaussian clusters in d dimensions; the fixed start: equal weights, k samples as means, the data's precision."""
    rs = np.random.RandomState(0)
    centers = rs.uniform(-10, 10, size=(k, d)).astype(dtype)
    X = rs.standard_normal((n, d)).astype(dtype)
    X += centers[rs.randint(k, size=n)]
    means = X[rs.choice(n, k, replace=False)].astype(np.float64)
    var = X.var(axis=0, dtype=np.float64)
    precisions = {"full": np.array([np.diag(1 / var)] * k), "tied": np.diag(1 / var),
                  "diag": np.array([1 / var] * k), "spherical": np.full(k, 1 / var.mean())}[covariance_type]
    start = dict(weights_init=np.full(k, 1.0 / k), means_init=means, precisions_init=precisions,
                 init_params="random_from_data", tol=0.0)
    return X, start


def callback_cost(calls=20000):
    """Seconds per progress callback: a ctypes round trip into the recorder gmmc.GaussianMixture installs."""
    from gmmc import _capi
    from gmmc._progress import Recorder
    recorder = Recorder()
    cb = _capi.PROGRESS_FN(lambda user, init, it, lb, change, seconds: recorder(init, it, lb, change, seconds))
    through_c = _capi.PROGRESS_FN(ctypes.cast(cb, ctypes.c_void_p).value)
    t0 = time.perf_counter()
    for i in range(calls):
        through_c(None, 1, i + 2, -1.0, 0.5, 0.001)
    return (time.perf_counter() - t0) / calls


def time_gmmc(args, X, start, k):
    import gmmc
    est = gmmc.GaussianMixture(n_components=k, covariance_type=args.covariance_type, max_iter=args.max_iter,
                               device=args.device, dtype=args.dtype, **start)
    warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: no fit converges, by design
    est.set_params(max_iter=1).fit(X)  # warm-up: compiles (or loads) the kernels of this context
    est.set_params(max_iter=args.max_iter)
    runs = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        est.fit(X)
        wall = time.perf_counter() - t0
        s = est.fit_stats_
        runs.append(dict(wall=wall, in_c=s["seconds_in_c"], iterations=s["seconds_in_iterations"],
                         compile=s["compile_ms"] / 1e3, n_iter=est.n_iter_, per_iter=s["iteration_seconds"],
                         device=s["device"]))
    runs.sort(key=lambda r: r["wall"])
    r = runs[len(runs) // 2]
    cb = callback_cost()
    n = r["n_iter"]
    r.update(
        callback=cb,
        iter_mean=r["iterations"] / n,
        iter_median=float(np.median(r["per_iter"])),
        overhead_upper=(r["wall"] - r["iterations"] - r["compile"]) / n,
        glue_outside_c=r["wall"] - r["in_c"],
        glue_per_iter=(r["wall"] - r["in_c"]) / n + cb,
        c_not_iterations=r["in_c"] - r["iterations"] - r["compile"],
    )
    del r["per_iter"]
    return r


def time_sklearn(args, X, start, k):
    from sklearn.mixture import GaussianMixture
    n = len(X)
    m = n if args.sklearn_samples <= 0 else min(n, args.sklearn_samples)
    X = X[:m]  # the rows are in random order: a prefix is a sample
    times = {}
    for iters in (1, 1 + args.sklearn_iters):
        est = GaussianMixture(n_components=k, covariance_type=args.covariance_type, max_iter=iters, **start)
        best = float("inf")
        for _ in range(2 if iters == 1 else 1):  # the shorter fit twice: the first pays for warming caches
            t0 = time.perf_counter()
            est.fit(X)
            best = min(best, time.perf_counter() - t0)
        times[iters] = best
    scale = n / m
    per_iter = (times[1 + args.sklearn_iters] - times[1]) / args.sklearn_iters
    return dict(samples=m, scale=scale, fit_1=times[1] * scale, fit_n=times[1 + args.sklearn_iters] * scale,
                per_iter=per_iter * scale)


def main(argv=None):
    args = parse_args(argv)
    import gmmc
    info = gmmc.library_info(args.device)
    on_gpu = not info["device"].startswith("host")
    n, d, k = sizes(args, on_gpu)
    print(f"gmmc {gmmc.__version__}, libgmmc {info['version']} ({info['path']})")
    print(f"device: {info['device']}")
    print(f"data: {n} x {d} {args.dtype}, {k} components, covariance_type={args.covariance_type!r}, "
          f"{args.max_iter} EM iterations (tol=0)")
    X, start = make_data(n, d, k, np.dtype(args.dtype), args.covariance_type)

    g = time_gmmc(args, X, start, k)
    print(f"gmmc fit (median of {args.repeat}): {g['wall']:.4f} s for {g['n_iter']} iterations")
    print(f"  in gmmc_fit (C)          {g['in_c']:.4f} s")
    print(f"  EM iterations (C)        {g['iterations']:.4f} s  = {1e3 * g['iter_mean']:.3f} ms/iteration "
          f"(median {1e3 * g['iter_median']:.3f} ms)")
    print(f"  compiling                {g['compile']:.4f} s")
    print(f"  C, once per fit          {g['c_not_iterations']:.4f} s  (initialisation, data transfer, parameters)")
    print(f"  Python outside C         {g['glue_outside_c']:.4f} s")
    print(f"  progress callback        {1e6 * g['callback']:.2f} us/iteration")
    print(f"Python overhead per EM iteration: {1e3 * g['glue_per_iter']:.4f} ms (glue only), "
          f"{1e3 * g['overhead_upper']:.4f} ms (upper bound: fit - iterations - compile, per iteration)")
    print(f"  = {100 * g['glue_per_iter'] / g['iter_mean']:.3f} % (glue) and "
          f"{100 * g['overhead_upper'] / g['iter_mean']:.3f} % (upper bound) of an iteration")
    result = {"n_samples": n, "n_features": d, "n_components": k, "dtype": args.dtype, "gmmc": g}

    if not args.skip_sklearn:
        s = time_sklearn(args, X, start, k)
        scaled = f" (timed on {s['samples']} samples, scaled by {s['scale']:g})" if s["scale"] != 1 else ""
        print(f"scikit-learn: fit with 1 iteration {s['fit_1']:.3f} s, with {1 + args.sklearn_iters} "
              f"{s['fit_n']:.3f} s: {1e3 * s['per_iter']:.1f} ms/iteration{scaled}")
        print(f"speed-up per EM iteration: {s['per_iter'] / g['iter_mean']:.1f}x "
              f"(whole fit of {g['n_iter']} iterations: "
              f"{(s['fit_1'] + (g['n_iter'] - 1) * s['per_iter']) / g['wall']:.1f}x)")
        result["sklearn"] = s
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
