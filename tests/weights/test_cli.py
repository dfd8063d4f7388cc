#!/usr/bin/env python3
"""gmmc fit --sample-weight: integer weights (.npy float64, float32 (N, 1),
.csv) give the model of the rows repeated, and every bad weights file is
refused with its position (the row, both lengths, the shape).

  test_cli.py GMMC WORKDIR

Fresh data; the seed is printed and GMMC_TEST_SEED=N replays it. Tolerance
(as tests/weights/test_weights.c derives it): T iterations of float64 sums
over n events in another order, 2 (n-1) u each, amplified by the condition
number kappa of the covariances: T * 2 (n-1) u * kappa, T the EM iterations
plus the k-means initialisation's at most 300."""
import os
import re
import subprocess
import sys
import time

import numpy as np

gmmc, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
seed = int(os.environ.get("GMMC_TEST_SEED") or time.time_ns() % 1000000007)
print(f"test_cli.py: seed {seed} (GMMC_TEST_SEED={seed} replays it)")
rng = np.random.default_rng(seed)
failures = 0


def path(name):
    return os.path.join(work, name)


def run(*args):
    r = subprocess.run([gmmc, "fit", *args, "--backend", "host", "--no-cache"], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


X = np.concatenate([rng.normal(0, 1, (150, 3)), rng.normal(4, 1.5, (150, 3))])
w = rng.integers(0, 4, len(X)).astype(np.float64)
np.save(path("X.npy"), X)
np.save(path("Xr.npy"), np.repeat(X, w.astype(int), axis=0))
np.save(path("w.npy"), w)
np.save(path("w32.npy"), w.astype(np.float32).reshape(-1, 1))
np.savetxt(path("w.csv"), w)

rc, out, err = run(path("Xr.npy"), "-k", "2", "-o", path("rep.yaml"))
check(rc == 0, f"repeated rows: {err}")
rep = open(path("rep.yaml")).read()


def param(text, name):
    m = re.search(r"\n  " + name + r":\n    shape: \[.*?\]\n    values: \[(.*?)\]", text, re.S)
    return np.array([float(v) for v in m.group(1).replace("\n", " ").split(",")])


def kappa(text):
    return max(np.linalg.cond(c) for c in param(text, "covariances").reshape(2, 3, 3))


for f in ["w.npy", "w32.npy", "w.csv"]:
    rc, out, err = run(path("X.npy"), "-k", "2", "--sample-weight", path(f), "-o", path("wt.yaml"))
    check(rc == 0, f"{f}: {err}")
    check("per unit of weight" in out, f"{f}: the lower bound is not called per unit of weight: {out}")
    if rc:
        continue
    wt = open(path("wt.yaml")).read()
    n_iter = int(re.search(r"n_iter: (\d+)", wt).group(1))
    tol = (n_iter + 300) * 2 * (len(np.repeat(X, w.astype(int), axis=0)) - 1) * 2.0**-53 * kappa(rep)
    worst = 0.0  # relative to each array's largest magnitude, as test_weights.c
    for name in ["weights", "means", "covariances", "precisions_cholesky"]:
        a, b = param(wt, name), param(rep, name)
        worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
    lb = [float(re.search(r"\nlower_bound: (.*)", t).group(1)) for t in (wt, rep)]
    worst = max(worst, abs(lb[0] - lb[1]) / abs(lb[1]))
    print(f"  {f}: lower bound and parameters within {worst:.1e} of the repeated rows' (allowed {tol:.1e})")
    check(worst <= tol, f"{f}: model differs by {worst:.2e} > {tol:.2e}")

bad = {"neg": (-1.0, "row 8: the weight -1 is negative"), "nan": (np.nan, "row 8: the weight nan is not a number"),
       "inf": (np.inf, "row 8: the weight inf is infinite")}
for name, (v, want) in bad.items():
    b = w.copy()
    b[7] = v
    np.save(path(f"w_{name}.npy"), b)
    rc, out, err = run(path("X.npy"), "-k", "2", "--sample-weight", path(f"w_{name}.npy"))
    check(rc == 1 and want in err, f"{name}: rc {rc}, {err!r} lacks {want!r}")
np.save(path("w_short.npy"), w[:-1])
np.save(path("w_wide.npy"), np.ones((len(X), 2)))
np.save(path("w_zero.npy"), np.zeros(len(X)))
open(path("w.txt"), "w").write("1\n")
cases = [("w_short.npy", "299 weights for the 300 rows of the data"),
         ("w_wide.npy", "shape (N,) or (N, 1), found 2 columns"),
         ("w_zero.npy", "all 300 weights are 0"),
         ("w.txt", "expected a .npy or .csv file"),
         ("missing.npy", "cannot open")]
for f, want in cases:
    rc, out, err = run(path("X.npy"), "-k", "2", "--sample-weight", path(f))
    check(rc == 1 and want in err, f"{f}: rc {rc}, {err!r} lacks {want!r}")
print("test_cli.py:", f"{failures} failures (seed {seed})" if failures else "ok")
sys.exit(1 if failures else 0)
