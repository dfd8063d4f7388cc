#!/usr/bin/env python3
"""The non-Gaussian mixtures (bernoulli, poisson, multinomial) on a GPU:
gmmc against an EM written in PyTorch, in the same run (issue 20, docs/performance.md).

ms per EM iteration at N events x D features x M components, float32 on the
GPU for both. gmmc's figure is the median of the per-iteration times that
`gmmc fit -v` prints for iterations 3 to LONG (tol 0), after a first fit of
SHORT iterations that compiles, tunes and fills the kernel cache.
PyTorch's is the mean of LONG iterations after one warm-up, each iteration the
E-step (one matmul, logsumexp) and the M-step (one matmul), synchronized.

  mixtures_bench.py --gmmc PATH/gmmc [--n 1000000] [--d 32] [--m 64] [--out DIR]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

SHORT, LONG = 5, 25


def make_data(model, n, d, m, rng):
    """Data drawn from a mixture of the model's kind, as the .npy dtype gmmc reads."""
    comp = rng.integers(0, m, size=n)
    if model == "bernoulli":
        p = rng.uniform(0.05, 0.95, size=(m, d))
        return (rng.random((n, d)) < p[comp]).astype(np.uint8)
    if model == "poisson":
        rate = rng.uniform(0.5, 8.0, size=(m, d))
        return rng.poisson(rate[comp]).astype(np.int32)
    p = rng.dirichlet(np.ones(d), size=m)  # multinomial: 50 draws per row
    counts = np.empty((n, d), dtype=np.int32)
    for k in range(m):
        rows = np.nonzero(comp == k)[0]
        counts[rows] = rng.multinomial(50, p[k], size=rows.size)
    return counts


def gmmc_fit_ms(gmmc, path, model, m, iters):
    """The median of the per-iteration times gmmc fit -v prints, iterations
    3 and later (the first runs the stand-ins and tunes), and the output."""
    cmd = [gmmc, "fit", path, "--model", model, "-k", str(m), "--tol", "0", "--max-iter", str(iters), "--seed", "1",
           "-v"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout}{out.stderr}")
    times = [float(t) for i, t in re.findall(r"^ +(\d+) +\S+ +\S+ +([0-9.]+)ms$", out.stdout + out.stderr, re.M)
             if int(i) >= 3]
    if not times:
        sys.exit(f"{' '.join(cmd)}: no per-iteration times in its output:\n{out.stdout}{out.stderr}")
    return float(np.median(times)), out.stdout


def torch_ms(torch, model, x_np, m):
    """ms per iteration of the model's EM in PyTorch (float32, CUDA)."""
    dev = torch.device("cuda")
    x = torch.as_tensor(x_np, dtype=torch.float32, device=dev)
    n, d = x.shape
    g = torch.Generator(device=dev).manual_seed(1)
    r = torch.rand(n, m, device=dev, generator=g)
    r = r / r.sum(1, keepdim=True)
    const = torch.zeros(n, device=dev)
    if model == "poisson":
        const = -torch.lgamma(x + 1).sum(1)
    elif model == "multinomial":
        const = torch.lgamma(x.sum(1) + 1) - torch.lgamma(x + 1).sum(1)
    alpha, reg = 1e-6, 1e-6

    def iteration(r):
        nk = r.sum(0) + 1e-6
        logw = torch.log(nk / nk.sum())
        s = r.T @ x  # M x D sufficient statistics
        if model == "bernoulli":
            p = (s + alpha) / (nk[:, None] + 2 * alpha)
            log_q = torch.log1p(-p)
            ll = x @ (torch.log(p) - log_q).T + log_q.sum(1)
        elif model == "poisson":
            rate = s / nk[:, None] + reg
            ll = x @ torch.log(rate).T - rate.sum(1)
        else:
            p = (s + alpha) / (s.sum(1, keepdim=True) + d * alpha)
            ll = x @ torch.log(p).T
        ll = ll + logw + const[:, None]
        lse = torch.logsumexp(ll, 1, keepdim=True)
        return torch.exp(ll - lse), lse.sum()

    r, _ = iteration(r)  # warm-up
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(LONG):
        r, obj = iteration(r)
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3 / LONG


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gmmc", required=True)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--out", default=tempfile.gettempdir())
    a = ap.parse_args()
    try:
        import torch
        have_torch = torch.cuda.is_available()
    except ImportError:
        have_torch = False
    rng = np.random.default_rng(0)
    rows = []
    for model in ("bernoulli", "poisson", "multinomial"):
        x = make_data(model, a.n, a.d, a.m, rng)
        path = os.path.join(a.out, f"{model}.npy")
        np.save(path, x)
        gmmc_fit_ms(a.gmmc, path, model, a.m, SHORT)  # compiles, tunes and fills the kernel cache
        g, log = gmmc_fit_ms(a.gmmc, path, model, a.m, LONG)
        t = torch_ms(torch, model, x, a.m) if have_torch else float("nan")
        rows.append((model, g, t))
        print(log.strip().splitlines()[0], flush=True)
    print(f"\nN={a.n} D={a.d} M={a.m}, float32, ms per EM iteration")
    print(f"{'model':<12} {'gmmc':>9} {'PyTorch':>9} {'ratio':>7}")
    for model, g, t in rows:
        print(f"{model:<12} {g:9.3f} {t:9.3f} {t / g:7.2f}x")


if __name__ == "__main__":
    main()
