#!/usr/bin/env python3
"""The host backend against scikit-learn as users install it: NumPy and
scikit-learn from PyPI in a virtual environment (OpenBLAS, with its own
kernel choice: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from that
command's environment), on the same data, in the same run, with the same
run's GEMM rate (NumPy's matmul, float32 and float64) as the CPU's ceiling.

  host_bench.py --gmmc PATH/TO/gmmc [--venv DIR] [--grid quick|full|NxDxM,...]
                [--types full,diag] [--dtypes float32,float64] [--iters 10]
                [--fuse 0,1]

Per point: random events from a mixture (fresh seed, printed). gmmc: `gmmc
fit --backend host -v --tol 0` per-iteration times, median of iterations
3..max (tuning and compiling are in the first fit, not in these). scikit-
learn: (best of 3 fits with max_iter=1+k) - (best of 3 with max_iter=1), over k
(10), the k-means initialisation cancelling. --fuse 0,1 times gmmc once per
GMMC_FUSE value (unfused, fused: compiler/fuse.h) against the same
scikit-learn time, a row each. Flops per iteration: 4 N M D^2 for full
covariance (the E-step's and the M-step's products, as dense GEMMs would do
them), 8 N M D for diag. Debian's python3-sklearn runs on the reference
BLAS: it is no peer for speed and is not used here.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (same folder: its mixture data)

GRID_FULL = [(10**5, 19, 16), (10**4, 8, 8), (10**5, 32, 64), (10**6, 16, 8)]
GRID_QUICK = [(10**5, 19, 16), (10**4, 8, 8)]

CHILD = r'''
import json, sys, time, warnings
import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.exceptions import ConvergenceWarning
job = json.loads(sys.argv[1])
out = {}
if job["what"] == "gemm":
    for dt in ("float32", "float64"):
        a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(dt)
        a @ a
        best = 1e9
        for _ in range(5):
            t0 = time.perf_counter(); a @ a; best = min(best, time.perf_counter() - t0)
        out[dt] = 2 * 2048**3 / best / 1e9
else:
    x = np.load(job["path"]).astype(job["dtype"])
    best = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            for iters in (1, 1 + job["k"]):
                gm = GaussianMixture(n_components=job["m"], covariance_type=job["cov"], tol=0, max_iter=iters,
                                     random_state=0)
                t0 = time.perf_counter(); gm.fit(x); t = time.perf_counter() - t0
                best[iters] = min(best.get(iters, 1e9), t)
    out["ms"] = (best[1 + job["k"]] - best[1]) / job["k"] * 1e3
print(json.dumps(out))
'''


def ensure_venv(path):
    py = os.path.join(path, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "numpy", "scikit-learn"], check=True)
    return py


def child(py, job):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    p = subprocess.run([py, "-c", CHILD, json.dumps(job)], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip())
    return json.loads(p.stdout)


def gmmc_ms(gmmc, path, m, cov, dtype, iters, fuse=None):
    cmd = [gmmc, "fit", path, "-k", str(m), "--covariance-type", cov, "--tol", "0", "--max-iter", str(iters),
           "--init", "kmeans", "--seed", "0", "--dtype", dtype, "--backend", "host", "-v"]
    env = dict(os.environ, GMMC_FUSE=fuse) if fuse is not None else None
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"gmmc failed: {p.stderr.strip()}")
    times = [float(x) for x in re.findall(r"^\s+\d+\s+\S+\s+\S+\s+([0-9.]+)ms$", p.stdout, re.M)]
    steady = sorted(times[2:] if len(times) > 3 else times)
    return steady[len(steady) // 2]


def grid_points(grid):
    """The named grids, or points of one's own: 100000x32x64,10000x8x8 (N x D x M)."""
    if grid in ("full", "quick"):
        return GRID_FULL if grid == "full" else GRID_QUICK
    try:
        return [tuple(int(v) for v in p.split("x")) for p in grid.split(",")]
    except ValueError:
        sys.exit(f"host_bench.py: --grid '{grid}': expected quick, full or points like 100000x32x64")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gmmc", required=True)
    ap.add_argument("--venv", default=os.path.join(tempfile.gettempdir(), "gmmc-bench-venv"))
    ap.add_argument("--grid", default="quick")
    ap.add_argument("--types", default="full,diag")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--out", default=".")
    ap.add_argument("--fuse", default="", help="GMMC_FUSE values to time gmmc with, e.g. 0,1 (default: as set)")
    a = ap.parse_args()
    py = ensure_venv(a.venv)
    versions = subprocess.run([py, "-c", "import numpy, sklearn; print(numpy.__version__, sklearn.__version__)"],
                              capture_output=True, text=True).stdout.split()
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"host_bench.py: seed {seed}; NumPy {versions[0]} and scikit-learn {versions[1]} from PyPI ({a.venv})",
          flush=True)
    rng = np.random.default_rng(seed)
    gemm = child(py, {"what": "gemm"})
    print(f"GEMM (NumPy matmul 2048^3): float32 {gemm['float32']:.1f} GFLOP/s, float64 {gemm['float64']:.1f} GFLOP/s",
          flush=True)
    tmp = tempfile.mkdtemp(prefix="gmmc-host-bench-")
    rows = []
    fuses = a.fuse.split(",") if a.fuse else [None]
    print(f"{'N':>8} {'D':>3} {'M':>4} {'cov':5} {'dtype':8} {'sklearn ms':>11} {'gmmc ms':>9} {'x skl':>7}"
          f" {'gmmc GF/s':>10} {'% GEMM':>7}" + (" fuse" if a.fuse else ""), flush=True)
    for n, d, m in grid_points(a.grid):
        x = bench.make_data(n, d, m, rng, dtype=np.float64)
        for dtype in a.dtypes.split(","):
            path = os.path.join(tmp, f"x_{dtype}.npy")
            np.save(path, x.astype(dtype))
            for cov in a.types.split(","):
                try:
                    skl = child(py, {"what": "sklearn", "path": path, "m": m, "cov": cov, "dtype": dtype,
                                     "k": 10})["ms"]
                except RuntimeError as e:  # its fit failed on this data: say so, time gmmc anyway
                    skl = None
                    print(f"scikit-learn failed at {n}x{d}x{m} {cov} {dtype}: {str(e).splitlines()[-1]}", flush=True)
                for fuse in fuses:
                    g = gmmc_ms(a.gmmc, path, m, cov, dtype, a.iters, fuse)
                    flops = 4.0 * n * m * d * d if cov in ("full", "tied") else 8.0 * n * m * d
                    rate = flops / (g * 1e-3) / 1e9
                    frac = 100 * rate / gemm[dtype]
                    rows.append({"N": n, "D": d, "M": m, "cov": cov, "dtype": dtype, "sklearn_ms": skl, "gmmc_ms": g,
                                 "x_sklearn": skl / g if skl else None, "gflops": rate, "pct_gemm": frac,
                                 "gemm_gflops": gemm[dtype], "fuse": fuse})
                    sk = f"{skl:11.1f} {g:9.2f} {skl / g:7.1f}" if skl else f"{'failed':>11} {g:9.2f} {'-':>7}"
                    print(f"{n:>8} {d:>3} {m:>4} {cov:5} {dtype:8} {sk} {rate:10.1f} {frac:7.1f}"
                          + (f" {fuse}" if fuse is not None else ""), flush=True)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "host_bench.json"), "w") as f:
        json.dump({"seed": seed, "numpy": versions[0], "sklearn": versions[1], "gemm": gemm, "rows": rows}, f,
                  indent=1)


if __name__ == "__main__":
    main()
