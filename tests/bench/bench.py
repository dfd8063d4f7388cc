#!/usr/bin/env python3
"""Time per EM iteration: gmmc against a PyTorch float32 EM written after
scikit-learn's math (cuBLAS GEMMs, TF32 off), scikit-learn on the host, and
the flop floor from the measured float32 GEMM ceiling. Run on a GPU host
(tests/gpu/run.sh does); writes bench_table.txt and bench.json to --out.

  bench.py --gmmc PATH/TO/gmmc [--out DIR] [--grid quick|full] [--types full,diag]

Per point: random float32 events from a mixture (fresh seed, printed), the
same data for every contender. gmmc: `gmmc fit -v --tol 0` per-iteration wall
times (each iteration ends with a device-to-host read of the lower bound, so
its time includes all the GPU work); median of iterations 3..max. PyTorch:
CUDA events around one E+M step, median of 5 after 2 warm-ups. scikit-learn:
(time of fit with max_iter=1+k) - (time with max_iter=1), divided by k.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

GRID_FULL = [(10**5, 19, 16), (10**6, 24, 100), (10**6, 32, 128), (2 * 10**5, 64, 64), (4 * 10**6, 16, 32),
             (10**4, 8, 8)]
GRID_QUICK = [(10**5, 19, 16), (10**4, 8, 8)]


def make_data(n, d, m, rng, dtype=np.float32):
    centers = rng.uniform(-10, 10, size=(m, d))
    labels = rng.integers(0, m, size=n)
    mix = rng.normal(scale=0.3, size=(m, d, d))
    z = rng.standard_normal(size=(n, d))
    x = centers[labels] + z
    for k in range(m):  # per component: mix[labels] would be n*d*d doubles (131 GB at 10^6 x 128)
        rows = labels == k
        x[rows] += z[rows] @ mix[k]
    return np.ascontiguousarray(x, dtype=dtype)


def gmmc_iteration_ms(gmmc, path, m, cov, iters, backend="auto", out=None, precision=None):
    """Both contenders start from gmmc's k-means initialisation (seed 0): with
    -o and --max-iter 0 gmmc writes it, and torch_em reads it."""
    cmd = [gmmc, "fit", path, "-k", str(m), "--covariance-type", cov, "--tol", "0", "--max-iter", str(iters),
           "--init", "kmeans", "--seed", "0", "--dtype", "float32", "--backend", backend, "-v"]
    if precision:
        cmd += ["--precision", precision]
    if out:
        cmd += ["-o", out]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        raise RuntimeError(f"gmmc failed: {p.stderr.strip()}")
    times = [float(x) for x in re.findall(r"^\s+\d+\s+\S+\s+\S+\s+([0-9.]+)ms$", p.stdout, re.M)]
    compile_ms = re.search(r"compile ([0-9.]+) ms", p.stdout)
    steady = times[2:] if len(times) > 3 else times
    return float(np.median(steady)), (float(compile_ms.group(1)) if compile_ms else None), wall, p.stdout


def drop_cubins():
    """Removes the compiled kernels from gmmc's disk cache, keeping the
    autotuner's choice tables."""
    d = os.environ.get("GMMC_CACHE_DIR")
    for f in os.listdir(d) if d and os.path.isdir(d) else []:
        if f.endswith(".cubin"):
            os.remove(os.path.join(d, f))


def read_model(path):
    """The parameters of a gmmc model file (YAML)."""
    import yaml
    with open(path) as f:
        doc = yaml.safe_load(f)
    return {k: np.array(v["values"], dtype=np.float64).reshape(v["shape"]) for k, v in doc["params"].items()}


def torch_em(x_np, m, cov, init, reps=5):
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    X = torch.from_numpy(x_np).to(dev)
    n, d = X.shape
    reg = 1e-6
    eye = torch.eye(d, device=dev)
    weights = torch.tensor(init["weights"], dtype=torch.float32, device=dev)
    means = torch.tensor(init["means"], dtype=torch.float32, device=dev)
    prec_chol = torch.tensor(init["precisions_cholesky"], dtype=torch.float32, device=dev)
    # components per batch so that the (batch, n, d) temporaries stay near 2^28 floats
    group = max(1, min(m, (1 << 28) // max(1, n * d)))

    def e_step():
        if cov == "full":
            log_det = torch.log(torch.diagonal(prec_chol, dim1=1, dim2=2)).sum(1)
            log_prob = torch.empty(n, m, device=dev)
            for k0 in range(0, m, group):
                U = prec_chol[k0:k0 + group]
                y = torch.matmul(X, U) - torch.matmul(means[k0:k0 + group, None, :], U)  # (g, n, d)
                log_prob[:, k0:k0 + group] = (y * y).sum(2).T
        else:
            prec = prec_chol ** 2
            log_det = torch.log(prec_chol).sum(1)
            log_prob = ((means ** 2 * prec).sum(1) - 2.0 * X @ (means * prec).T + (X ** 2) @ prec.T)
        wlp = -0.5 * (d * np.log(2 * np.pi) + log_prob) + log_det + torch.log(weights)
        lse = torch.logsumexp(wlp, dim=1)
        return lse.mean(), wlp - lse[:, None]

    def m_step(log_resp):
        nonlocal weights, means, prec_chol
        resp = torch.exp(log_resp)
        nk = resp.sum(0) + 10 * torch.finfo(resp.dtype).eps
        means = (resp.T @ X) / nk[:, None]
        if cov == "full":
            covs = torch.empty(m, d, d, device=dev)
            for k in range(m):
                diff = X - means[k]
                covs[k] = (resp[:, k, None] * diff).T @ diff / nk[k]
            covs += reg * eye
            chol = torch.linalg.cholesky(covs)
            prec_chol = torch.linalg.solve_triangular(chol, eye.expand(m, d, d), upper=False).transpose(1, 2)
        else:
            avg_x2 = (resp.T @ (X * X)) / nk[:, None]
            covs = avg_x2 - 2 * means * ((resp.T @ X) / nk[:, None]) + means ** 2 + reg
            prec_chol = 1.0 / torch.sqrt(covs)
        weights = nk / nk.sum()

    def step():
        lb, log_resp = e_step()
        m_step(log_resp)
        return lb

    return cuda_step_ms(step, reps)[0]


def cuda_step_ms(step, reps=5, warmups=2):
    """The median of reps timings of step() with CUDA events, after warm-ups;
    and step()'s last result."""
    import torch
    for _ in range(warmups):
        step()
    torch.cuda.synchronize()
    times, result = [], None
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        result = step()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return float(np.median(times)), result


def sgemm_tflops():
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn(8192, 8192, device="cuda")
    b = torch.randn(8192, 8192, device="cuda")
    for _ in range(2):
        a @ b
    torch.cuda.synchronize()
    ts = []
    for _ in range(5):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        a @ b
        e1.record()
        torch.cuda.synchronize()
        ts.append(e0.elapsed_time(e1))
    return 2 * 8192 ** 3 / (np.median(ts) * 1e-3) / 1e12


def sklearn_iteration_ms(x, m, cov, k=3):
    """Per-iteration time of scikit-learn (float64, all host cores through its BLAS)."""
    from sklearn.mixture import GaussianMixture
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    x = x.astype(np.float64)
    res = []  # (init is k-means here too; its cost cancels in the difference)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for iters in (1, 1 + k):
            gm = GaussianMixture(n_components=m, covariance_type=cov, tol=0, max_iter=iters, random_state=0)
            t0 = time.time()
            gm.fit(x)
            res.append(time.time() - t0)
    return (res[1] - res[0]) / k * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gmmc", required=True)
    ap.add_argument("--out", default=".")
    ap.add_argument("--grid", default="full")
    ap.add_argument("--types", default="full,diag")
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--sklearn-limit", type=float, default=3e10, help="skip scikit-learn above this N*M*D^2")
    args = ap.parse_args()
    # gmmc's JIT times without the driver's own PTX cache (~/.nv/ComputeCache):
    # with it, a second compile of the same PTX skips ptxas and looks cold
    os.environ["CUDA_CACHE_DISABLE"] = "1"
    seed = int(os.environ.get("GMMC_TEST_SEED", time.time_ns() % (1 << 31)))
    print(f"bench: seed {seed}", flush=True)
    rng = np.random.default_rng(seed)
    grid = GRID_FULL if args.grid == "full" else GRID_QUICK
    peak = sgemm_tflops()
    print(f"float32 GEMM ceiling (8192^3, TF32 off): {peak:.1f} TFLOP/s", flush=True)
    rows = []
    tmp = tempfile.mkdtemp()
    for n, d, m in grid:
        x = make_data(n, d, m, rng)
        path = os.path.join(tmp, f"x_{n}_{d}_{m}.npy")
        np.save(path, x)
        for cov in args.types.split(","):
            row = {"N": n, "D": d, "M": m, "type": cov}
            init = os.path.join(tmp, "init.yaml")
            try:
                # 1st run: compiles every variant and tunes; 2nd: compiles the
                # tuned set only (the cold JIT of the specialization); 3rd: cached.
                # "compile" is what a fit waited for: on the GPU the variants
                # compile in the background once the simple kernels can run
                row["gmmc_ms"], row["compile_all_ms"], _, out = gmmc_iteration_ms(args.gmmc, path, m, cov, args.iters)
                drop_cubins()  # keep the tuned choices, compile their kernels cold
                _, row["compile_ms"], _, _ = gmmc_iteration_ms(args.gmmc, path, m, cov, 0, out=init)
                _, row["compile_cached_ms"], _, _ = gmmc_iteration_ms(args.gmmc, path, m, cov, 0)
            except Exception as e:  # a failure is reported in the table, not hidden
                row["gmmc_error"] = str(e)[:200]
            try:
                row["torch_ms"] = torch_em(x, m, cov, read_model(init))
            except Exception as e:
                row["torch_error"] = str(e)[:200]
            if n * m * d * d <= args.sklearn_limit:
                row["sklearn_ms"] = sklearn_iteration_ms(x, m, cov)
                try:  # gmmc's host backend on the same CPU as scikit-learn
                    row["host_ms"], _, _, _ = gmmc_iteration_ms(args.gmmc, path, m, cov, 6, backend="host")
                except Exception as e:
                    row["host_error"] = str(e)[:200]
            flops = 4.0 * n * m * d * d if cov == "full" else 8.0 * n * m * d
            row["floor_ms"] = flops / (peak * 1e12) * 1e3
            rows.append(row)
            print(json.dumps(row), flush=True)
        os.remove(path)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump({"seed": seed, "sgemm_tflops": peak, "rows": rows}, f, indent=1)
    lines = [f"time per EM iteration, float32 (GEMM ceiling {peak:.1f} TFLOP/s)",
             f"{'N':>8} {'D':>3} {'M':>4} {'type':>5} {'gmmc ms':>9} {'torch ms':>9} {'x torch':>7} "
             f"{'sklearn ms':>10} {'x skl':>7} {'host ms':>8} {'host x skl':>10} {'floor ms':>8} {'% peak':>6} "
             f"{'jit all':>7} {'jit ms':>7} {'cached':>6}"]
    for r in rows:
        g, t, s = r.get("gmmc_ms"), r.get("torch_ms"), r.get("sklearn_ms")
        fmt = lambda v, w, p=2: (f"{v:{w}.{p}f}" if v is not None else f"{'-':>{w}}")
        lines.append(f"{r['N']:>8} {r['D']:>3} {r['M']:>4} {r['type']:>5} {fmt(g, 9)} {fmt(t, 9)} "
                     f"{fmt(t / g if g and t else None, 7, 1)} {fmt(s, 10, 1)} {fmt(s / g if g and s else None, 7, 1)} "
                     f"{fmt(r.get('host_ms'), 8, 1)} {fmt(s / r['host_ms'] if s and r.get('host_ms') else None, 10, 1)} "
                     f"{fmt(r['floor_ms'], 8)} {fmt(100 * r['floor_ms'] / g if g else None, 6, 1)} "
                     f"{fmt(r.get('compile_all_ms'), 7, 1)} {fmt(r.get('compile_ms'), 7, 1)} "
                     f"{fmt(r.get('compile_cached_ms'), 6, 1)}")
        if "gmmc_error" in r:
            lines.append(f"   gmmc error: {r['gmmc_error']}")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(args.out, "bench_table.txt"), "w") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
