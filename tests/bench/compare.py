#!/usr/bin/env python3
"""Per-iteration time of two gmmc builds on the same data and the same GPU:
the regression check of a refactor (docs/performance.md). Each point's data
is drawn once (fresh seed, printed) and both builds fit it `--rounds` times,
alternating, each with its own kernel cache (so neither reuses the other's
tuning); a round's figure is the mean of iterations 3..max without their
fastest and slowest fifth (gmmc fit -v prints 10 us steps: a mean over many
iterations resolves below that); the build's figure is the best of its
rounds.

  compare.py --base PATH/TO/gmmc --new PATH/TO/gmmc [--grid quick|full] [--types full,diag]
             [--rounds 3] [--iters 8] [--out DIR]

Prints a table (ms per iteration, new / base) and writes compare.json.
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
import bench  # noqa: E402  (same folder)


def iteration_ms(gmmc, path, m, cov, iters, env=None):
    cmd = [gmmc, "fit", path, "-k", str(m), "--covariance-type", cov, "--tol", "0", "--max-iter", str(iters),
           "--init", "kmeans", "--seed", "0", "--dtype", "float32", "-v"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"gmmc failed: {p.stderr.strip()}")
    times = sorted(float(x) for x in re.findall(r"^\s+\d+\s+\S+\s+\S+\s+([0-9.]+)ms$", p.stdout, re.M)[2:])
    cut = len(times) // 5
    kept = times[cut:len(times) - cut] or times
    return sum(kept) / len(kept)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--grid", default="full")
    ap.add_argument("--types", default="full,diag")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--out", default=".")
    ap.add_argument("--base-env", default="", help="NAME=VALUE,... set for the base runs only (e.g. GMMC_FUSE=0)")
    ap.add_argument("--new-env", default="", help="NAME=VALUE,... set for the new runs only")
    a = ap.parse_args()
    extra = {name: dict(kv.split("=", 1) for kv in getattr(a, name + "_env").split(",") if kv)
             for name in ("base", "new")}
    grid = bench.GRID_FULL if a.grid == "full" else bench.GRID_QUICK
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"compare.py: seed {seed}", flush=True)
    rng = np.random.default_rng(seed)
    tmp = tempfile.mkdtemp(prefix="gmmc-compare-")
    caches = {"base": os.path.join(tmp, "cache-base"), "new": os.path.join(tmp, "cache-new")}
    rows = []
    for n, d, m in grid:
        x = bench.make_data(n, d, m, rng)
        path = os.path.join(tmp, "x.npy")
        np.save(path, x)
        for cov in a.types.split(","):
            best = {}
            for _ in range(a.rounds):
                for name in ("base", "new"):
                    env = dict(os.environ, GMMC_CACHE_DIR=caches[name], **extra[name])
                    ms = iteration_ms(getattr(a, name), path, m, cov, a.iters, env)
                    best[name] = min(best.get(name, float("inf")), ms)
            ratio = best["new"] / best["base"]
            rows.append({"N": n, "D": d, "M": m, "cov": cov, "base_ms": best["base"], "new_ms": best["new"],
                         "ratio": ratio})
            print(f"N={n:>8} D={d:>3} M={m:>4} {cov:5}  base {best['base']:9.3f} ms  new {best['new']:9.3f} ms"
                  f"  new/base {ratio:6.3f}", flush=True)
    worst = max(r["ratio"] for r in rows)
    print(f"compare.py: worst new/base {worst:.3f} over {len(rows)} points")
    with open(os.path.join(a.out, "compare.json"), "w") as f:
        json.dump({"seed": seed, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
