#!/usr/bin/env python3
"""gmmc against IBM's Flash-GMM and a PyTorch EM on one GPU, in one run
(issues 23 and 24): ms per EM iteration, float32 data, every contender from
gmmc's k-means start (seed 0) on the same events (fresh seed, printed).

  gmmc       `gmmc fit -v --tol 0`: the median of iterations 3.. (each ends
             with a device-to-host read of the lower bound, so it holds all
             of the iteration's GPU work); auto variants, float32
  flash      Flash-GMM's H100 E-step kernel (BF16 operands; diag:
             flash_gmm_diag_h100, full: flash_gmm_full_h100) and an M-step in
             PyTorch from its sufficient statistics, CUDA events around one
             E+M step, median of 5 after 2 warm-ups (its autotuning)
  torch      tests/bench/bench.py's PyTorch EM (cuBLAS, TF32 off)

Flash-GMM's kernels are Apache-2.0 Python + Triton; the project never commits
them: copy them (../shared/peers/flash_gmm on the development machine) into an
ignored folder of the checkout, carry it to the GPU host, and name it here.

  peers_bench.py --gmmc PATH/gmmc --flash DIR [--points 100000x19x16:full,...]
                 [--iters 8] [--json FILE]
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

POINTS = ("100000x19x16:full,10000x8x8:full,1000000x32x128:diag,1000000x32x128:full,200000x64x64:full,"
          "1000000x24x100:full,1000000x128x1024:diag")


def flash_em_ms(flash_dir, x_np, m, cov, init, reps=5):
    """Flash-GMM's E-step + a PyTorch M-step (its sufficient statistics are
    the uncentered second moment for full, moments about the old means for
    diag), CUDA events around one step."""
    import torch
    sys.path.insert(0, flash_dir)
    dev = torch.device("cuda")
    X = torch.from_numpy(x_np).to(dev)
    n, d = X.shape
    reg = 1e-6
    eye = torch.eye(d, device=dev)
    st = {"log_pi": torch.log(torch.tensor(init["weights"], dtype=torch.float32, device=dev)),
          "mu": torch.tensor(init["means"], dtype=torch.float32, device=dev)}
    pc = torch.tensor(init["precisions_cholesky"], dtype=torch.float32, device=dev)
    if cov == "full":
        from flash_gmm_full_h100 import flash_gmm_estep_full
        st["prec_chol"] = pc  # F with F F^T = precision, triangular: all the kernel needs
    else:
        from flash_gmm_diag_h100 import flash_gmm_estep_diag
        st["log_sigma_sq"] = -2.0 * torch.log(pc)

    def step():
        if cov == "full":
            logz, nk, mu_acc, sig_outer = flash_gmm_estep_full(X, st["mu"], st["prec_chol"], st["log_pi"])
            nk = nk + 10 * torch.finfo(torch.float32).eps
            mu = mu_acc / nk[:, None]
            covs = sig_outer / nk[:, None, None] - mu[:, :, None] * mu[:, None, :] + reg * eye
            chol = torch.linalg.cholesky(covs)
            st["prec_chol"] = torch.linalg.solve_triangular(chol, eye.expand(m, d, d), upper=False).transpose(1, 2)
        else:
            logz, nk, mu_acc, sig_acc = flash_gmm_estep_diag(X, st["mu"], st["log_sigma_sq"], st["log_pi"])
            nk = nk + 10 * torch.finfo(torch.float32).eps
            mu = mu_acc / nk[:, None]
            var = sig_acc / nk[:, None] - (mu - st["mu"]) ** 2 + reg
            st["log_sigma_sq"] = torch.log(var)
        st["mu"] = mu
        st["log_pi"] = torch.log(nk / nk.sum())
        return logz.mean()

    ms, lb = bench.cuda_step_ms(step, reps)
    if not math.isfinite(float(lb)):
        raise RuntimeError(f"Flash-GMM's mean log-likelihood is {float(lb)}")
    return ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gmmc", required=True)
    ap.add_argument("--flash", required=True, help="a folder with Flash-GMM's flash_gmm_*_h100.py")
    ap.add_argument("--points", default=POINTS)
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--json", default=None)
    ap.add_argument("--also-precision", default=None,
                    help="one more gmmc column under this --precision (3xtf32, tf32), same start")
    a = ap.parse_args()
    seed = int(os.environ.get("GMMC_TEST_SEED", time.time_ns() % (1 << 31)))
    print(f"peers_bench: seed {seed}", flush=True)
    rng = np.random.default_rng(seed)
    tmp = tempfile.mkdtemp(prefix="gmmc-peers-")
    rows = []
    print(f"{'N':>8} {'D':>4} {'M':>5} {'cov':>5} {'gmmc':>9} {'flash':>9} {'torch':>9} {'x flash':>8} {'x torch':>8}",
          flush=True)
    for p in a.points.split(","):
        size, cov = p.split(":")
        n, d, m = (int(v) for v in size.split("x"))
        row = {"N": n, "D": d, "M": m, "cov": cov}
        x = bench.make_data(n, d, m, rng)
        path, init_path = os.path.join(tmp, "x.npy"), os.path.join(tmp, "init.yaml")
        np.save(path, x)
        try:
            bench.gmmc_iteration_ms(a.gmmc, path, m, cov, 0, out=init_path)  # the shared start
            init = bench.read_model(init_path)
            row["gmmc_ms"] = bench.gmmc_iteration_ms(a.gmmc, path, m, cov, a.iters)[0]
        except Exception as e:  # a failure is reported in the table, not hidden
            row["gmmc_error"] = str(e)[:200]
            init = None
        if a.also_precision and init is not None:
            try:
                row["gmmc_" + a.also_precision + "_ms"] = bench.gmmc_iteration_ms(
                    a.gmmc, path, m, cov, a.iters, precision=a.also_precision)[0]
            except Exception as e:
                row["gmmc_" + a.also_precision + "_error"] = str(e)[:200]
        for name, fn in (("flash", lambda: flash_em_ms(a.flash, x, m, cov, init)),
                         ("torch", lambda: bench.torch_em(x, m, cov, init))):
            try:
                row[name + "_ms"] = fn() if init is not None else None
            except Exception as e:
                row[name + "_error"] = str(e)[:200]
        os.remove(path)
        g, f, t = row.get("gmmc_ms"), row.get("flash_ms"), row.get("torch_ms")
        fmt = lambda v, w=9, q=3: f"{v:{w}.{q}f}" if v is not None else f"{'-':>{w}}"
        print(f"{n:>8} {d:>4} {m:>5} {cov:>5} {fmt(g)} {fmt(f)} {fmt(t)} {fmt(f / g if g and f else None, 8, 2)} "
              f"{fmt(t / g if g and t else None, 8, 2)}", flush=True)
        if a.also_precision:
            q = row.get("gmmc_" + a.also_precision + "_ms")
            print(f"{'':>8} {'':>4} {'':>5} {'':>5} {fmt(q)} {'':>9} {'':>9} {fmt(f / q if q and f else None, 8, 2)} "
                  f"{fmt(t / q if q and t else None, 8, 2)}   (gmmc --precision {a.also_precision})", flush=True)
        for k in ("gmmc_error", "flash_error", "torch_error", "gmmc_" + str(a.also_precision) + "_error"):
            if k in row:
                print(f"   {k}: {row[k]}", flush=True)
        rows.append(row)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"seed": seed, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
