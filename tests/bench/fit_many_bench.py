#!/usr/bin/env python3
"""Many fits at once (issue 22, docs/performance.md): the diarization pattern.

  B fits of N events x D features x M components (full covariance, float32, k-means initialisation, every fit
  TOL-free: exactly ITERS EM iterations, so that every variant does the same work):
    fit_many   gmmc.fit_many(arrays)                        one call
    separate   GaussianMixture().fit(X) for each array      B calls, one after another
    one        GaussianMixture().fit(arrays[0])             one fit alone
    sklearn    scikit-learn's GaussianMixture, the B fits on all cores (a process per core, one BLAS thread
               each; --sklearn PYTHON names an interpreter with scikit-learn, run with OPENBLAS_CORETYPE and
               OPENBLAS_L2_SIZE unset)
  and n_init: one fit of N_INIT_EVENTS events with n_init=10 against n_init=1 (same settings), side by side
  (GMMC_FIT_MANY=1) and one after another (GMMC_FIT_MANY=0).

Each gmmc time is the best of --repeat runs after a first run that compiles, tunes and fills the kernel cache.
The data: B fresh Gaussian mixtures (seed --seed). Prints a table; --json FILE writes the numbers.

  fit_many_bench.py [--device auto|cpu|cuda] [--fits 64] [--n 20000] [--d 19] [--m 16] [--iters 20]
                    [--n-init-events 100000] [--sklearn PYTHON] [--repeat 3] [--json FILE]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def make_arrays(seed, fits, n, d, m):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(fits):
        centers = rng.normal(scale=3, size=(m, d))
        scales = rng.uniform(0.5, 1.5, size=(m, d))
        comp = rng.integers(m, size=n)
        out.append((centers[comp] + scales[comp] * rng.normal(size=(n, d))).astype(np.float32))
    return out


def sklearn_worker(args):
    """One scikit-learn fit (in a worker process)."""
    X, m, iters, seed = args
    from sklearn.mixture import GaussianMixture
    g = GaussianMixture(m, covariance_type="full", tol=0, max_iter=iters, random_state=seed)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g.fit(X)
    return g.n_iter_


def sklearn_mode(a):
    """Run under the scikit-learn interpreter: the B fits on every core; prints seconds as JSON."""
    from concurrent.futures import ProcessPoolExecutor
    arrays = make_arrays(a.seed, a.fits, a.n, a.d, a.m)
    cores = len(os.sched_getaffinity(0))
    with ProcessPoolExecutor(cores) as ex:
        # the workers started and scikit-learn imported in each before the clock starts
        list(ex.map(sklearn_worker, [(X[:200], 2, 1, a.seed) for X in arrays[:1] * cores]))
        t0 = time.perf_counter()
        iters = list(ex.map(sklearn_worker, [(X, a.m, a.iters, a.seed) for X in arrays]))
        seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "cores": cores, "n_iter": iters}))


def best(fn, repeat):
    fn()  # compiles, tunes, fills the cache
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--fits", type=int, default=64)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--d", type=int, default=19)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--n-init-events", type=int, default=100000)
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--sklearn", default=None, help="a Python with scikit-learn for its 64 fits (else skipped)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--sklearn-mode", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: separate,sklearn,n_init")
    a = ap.parse_args()
    if a.sklearn_mode:
        return sklearn_mode(a)
    import gmmc
    from gmmc import GaussianMixture
    skip = set(a.skip.split(",")) if a.skip else set()
    arrays = make_arrays(a.seed, a.fits, a.n, a.d, a.m)
    p = dict(n_components=a.m, covariance_type="full", tol=0, max_iter=a.iters, random_state=a.seed,
             device=a.device)
    r = {"fits": a.fits, "n": a.n, "d": a.d, "m": a.m, "iters": a.iters}
    holder = {}

    def many():
        holder["many"] = gmmc.fit_many(arrays, **p)

    r["fit_many"] = best(many, a.repeat)
    r["device"] = holder["many"][0].fit_stats_["device"]
    assert all(g.n_iter_ == a.iters for g in holder["many"])
    r["one"] = best(lambda: GaussianMixture(**p).fit(arrays[0]), a.repeat)
    if "separate" not in skip:
        r["separate"] = best(lambda: [GaussianMixture(**p).fit(X) for X in arrays], max(1, a.repeat // 2))
    if a.sklearn and "sklearn" not in skip:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = "1"
        cmd = [a.sklearn, os.path.abspath(__file__), "--sklearn-mode", "--fits", str(a.fits), "--n", str(a.n), "--d",
               str(a.d), "--m", str(a.m), "--iters", str(a.iters), "--seed", str(a.seed)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode:
            print(out.stderr, file=sys.stderr)
        else:
            s = json.loads(out.stdout.strip().splitlines()[-1])
            r["sklearn"], r["sklearn_cores"] = s["seconds"], s["cores"]
    if "n_init" not in skip:
        X = make_arrays(a.seed + 1, 1, a.n_init_events, a.d, a.m)[0]
        q = dict(p)
        r["n_init_1"] = best(lambda: GaussianMixture(n_init=1, **q).fit(X), a.repeat)
        os.environ["GMMC_FIT_MANY"] = "1"  # side by side (no default yet: docs/api.md)
        r[f"n_init_{a.n_init}"] = best(lambda: GaussianMixture(n_init=a.n_init, **q).fit(X), a.repeat)
        os.environ["GMMC_FIT_MANY"] = "0"  # the initialisations one after another (1.1's loop)
        r[f"n_init_{a.n_init}_serial"] = best(lambda: GaussianMixture(n_init=a.n_init, **q).fit(X), a.repeat)
        del os.environ["GMMC_FIT_MANY"]
    print(f"gmmc fit_many benchmark on {r['device']}: {a.fits} fits of {a.n} x {a.d} x {a.m} full, float32, "
          f"{a.iters} EM iterations each (tol 0)")
    print(f"  fit_many ({a.fits} fits, one call)      {r['fit_many']:9.3f} s   {r['fit_many'] / r['one']:6.2f}x one fit")
    print(f"  one fit alone                      {r['one']:9.3f} s")
    if "separate" in r:
        print(f"  {a.fits} separate fits                  {r['separate']:9.3f} s   "
              f"fit_many {r['separate'] / r['fit_many']:.2f}x faster")
    if "sklearn" in r:
        print(f"  scikit-learn, {a.fits} fits on {r['sklearn_cores']} cores   {r['sklearn']:9.3f} s   "
              f"fit_many {r['sklearn'] / r['fit_many']:.2f}x faster")
    if "n_init_1" in r:
        k = a.n_init
        print(f"  n_init=1 at {a.n_init_events} x {a.d} x {a.m}        {r['n_init_1']:9.3f} s")
        print(f"  n_init={k} side by side              {r[f'n_init_{k}']:9.3f} s   "
              f"{r[f'n_init_{k}'] / r['n_init_1']:.2f}x n_init=1")
        print(f"  n_init={k} one after another         {r[f'n_init_{k}_serial']:9.3f} s   "
              f"{r[f'n_init_{k}_serial'] / r['n_init_1']:.2f}x n_init=1")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)


if __name__ == "__main__":
    main()
