"""The one-line change: the same scikit-learn program with scikit-learn's GaussianMixture or gmmc's.

    python drop_in.py                  # runs both, each in its own process, on the same data:
                                       # prints both times and how many labels agree
    python drop_in.py --impl sklearn   # one run of the program below
    python drop_in.py --impl gmmc

The program is ordinary scikit-learn code; the import is the only difference:

    from sklearn.mixture import GaussianMixture      # --impl sklearn
    from gmmc import GaussianMixture                 # --impl gmmc

Both start from the same initial parameters (weights_init, means_init,
precisions_init), so that they compute the same EM iterations and their labels
can be compared; a random initialisation would differ (gmmc and NumPy draw
different numbers from the same seed). Options: --n-samples, --n-features,
--n-components, --covariance-type, --max-iter, --dtype.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--impl", choices=["sklearn", "gmmc"], help="run one implementation (default: both)")
    p.add_argument("--n-samples", type=int, default=200_000)
    p.add_argument("--n-features", type=int, default=8)
    p.add_argument("--n-components", type=int, default=16)
    p.add_argument("--covariance-type", default="full", choices=["full", "tied", "diag", "spherical"])
    p.add_argument("--max-iter", type=int, default=100)
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--labels-out", help="save the predicted labels (.npy)")
    return p.parse_args(argv)


def make_data(args):
    """Blobs, and a fixed starting point: equal weights, means at random samples, the data's precision."""
    from sklearn.datasets import make_blobs
    X, _ = make_blobs(n_samples=args.n_samples, n_features=args.n_features, centers=args.n_components,
                      cluster_std=2.0, random_state=0)
    X = X.astype(args.dtype)
    k = args.n_components
    rs = np.random.RandomState(1)
    means = X[rs.choice(len(X), k, replace=False)].astype(np.float64)
    var = X.var(axis=0).astype(np.float64)
    precisions = {"full": np.array([np.diag(1 / var)] * k), "tied": np.diag(1 / var),
                  "diag": np.array([1 / var] * k), "spherical": np.full(k, 1 / var.mean())}[args.covariance_type]
    return X, dict(weights_init=np.full(k, 1.0 / k), means_init=means, precisions_init=precisions)


def run_one(args):
    if args.impl == "gmmc":
        from gmmc import GaussianMixture                  # <- the one-line change
    else:
        from sklearn.mixture import GaussianMixture

    X, start = make_data(args)
    gmm = GaussianMixture(n_components=args.n_components, covariance_type=args.covariance_type,
                          max_iter=args.max_iter, **start)
    t0 = time.perf_counter()
    gmm.fit(X)
    t1 = time.perf_counter()
    labels = gmm.predict(X)
    t2 = time.perf_counter()
    if args.labels_out:
        np.save(args.labels_out, labels)
    report = {"impl": args.impl, "fit_s": t1 - t0, "predict_s": t2 - t1, "n_iter": gmm.n_iter_,
              "converged": gmm.converged_, "lower_bound": float(gmm.lower_bound_)}
    stats = getattr(gmm, "fit_stats_", None)  # gmmc only: device and the time spent compiling kernels
    if stats:
        report.update(device=stats["device"], compile_s=stats["compile_ms"] / 1e3)
    print(json.dumps(report))


def run_both(args):
    here = os.path.abspath(__file__)
    reports, labels = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for impl in ["sklearn", "gmmc"]:
            out = os.path.join(tmp, impl + ".npy")
            argv = [sys.executable, here, "--impl", impl, "--labels-out", out, "--n-samples", str(args.n_samples),
                    "--n-features", str(args.n_features), "--n-components", str(args.n_components),
                    "--covariance-type", args.covariance_type, "--max-iter", str(args.max_iter),
                    "--dtype", args.dtype]
            done = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True)
            reports[impl] = json.loads(done.stdout.strip().splitlines()[-1])
            labels[impl] = np.load(out)
    print(f"data: {args.n_samples} x {args.n_features} {args.dtype}, {args.n_components} components, "
          f"covariance_type={args.covariance_type!r}")
    for impl, r in reports.items():
        extra = f", device {r['device']}, of which compiling {r['compile_s']:.3f} s" if "device" in r else ""
        print(f"{impl:>8}: fit {r['fit_s']:8.3f} s ({r['n_iter']} iterations, lower bound {r['lower_bound']:.6f}"
              f"{extra}), predict {r['predict_s']:.3f} s")
    agree = np.mean(labels["sklearn"] == labels["gmmc"])
    print(f"labels agree on {100 * agree:.3f} % of the samples; fit speed-up {reports['sklearn']['fit_s'] / reports['gmmc']['fit_s']:.1f}x")
    return 0 if agree >= 0.999 else 1


def main(argv=None):
    args = parse_args(argv)
    if args.impl:
        run_one(args)
        return 0
    return run_both(args)


if __name__ == "__main__":
    sys.exit(main())
