"""GPU arrays read in place (issue 22, item 3), on a GPU host with PyTorch.

  python3 tests/gpu/device_arrays.py same      a CUDA tensor and the same data as NumPy give the same model
  python3 tests/gpu/device_arrays.py rss       a 10^7 x 32 float32 CUDA tensor trains with peak host RSS
                                               below the tensor's size (run in a fresh process)

Prints one line per check and "FAIL ..." for each failure; exits 1 on any.
Run by tests/gpu/device_arrays.sh (libgmmc from tests/gpu/pack.sh's
binaries, the package from python/)."""
import resource
import sys
import time

import numpy as np
import torch

from gmmc import GaussianMixture

failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    failures += not ok


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def mixture(n, d, m, seed, dtype):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 5, (m, d))
    labels = rng.integers(0, m, n)
    return (centers[labels] + rng.normal(0, 1, (n, d))).astype(dtype)


def same():
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}", flush=True)
    for dtype, order in ((np.float32, "C"), (np.float32, "F"), (np.float64, "C")):
        X = mixture(100_000, 8, 4, 1, dtype)
        t = torch.from_numpy(X).cuda()
        if order == "F":
            t = t.t().contiguous().t()  # column-major on the device: gathered there, not on the host
            assert t.stride() == (1, X.shape[0])
        name = f"{np.dtype(dtype).name} {order} order"
        kw = dict(n_components=4, covariance_type="full", random_state=0, device="cuda", tol=1e-4)
        GaussianMixture(**kw).fit(X)  # the first fit tunes the variants; both compared fits then run the chosen ones
        a = GaussianMixture(**kw).fit(X)
        t0 = time.perf_counter()
        b = GaussianMixture(**kw).fit(t)
        secs = time.perf_counter() - t0
        worst = max(rel(getattr(b, p), getattr(a, p)) for p in ("weights_", "means_", "covariances_"))
        bits = all(np.array_equal(getattr(b, p), getattr(a, p)) for p in ("weights_", "means_", "covariances_"))
        print(f"     {name}: fit {secs:.2f} s; n_iter {a.n_iter_} / {b.n_iter_}; lower bound {a.lower_bound_:.9f} / "
              f"{b.lower_bound_:.9f}; parameters within {worst:.1e} (bit for bit: {bits})", flush=True)
        check(a.n_iter_ == b.n_iter_ and worst <= 1e-4, f"{name}: the tensor's model is the NumPy array's")
        check(isinstance(b.means_, np.ndarray), f"{name}: fitted attributes are NumPy arrays")
        for method in ("predict", "predict_proba", "score_samples"):
            ra, rb = getattr(a, method)(X), getattr(a, method)(t)
            ok = isinstance(rb, np.ndarray) and (np.array_equal(ra, rb) if method == "predict" else rel(rb, ra) <= 1e-5)
            check(ok, f"{name}: {method} of the tensor equals the NumPy array's (NumPy out)")
        pa = GaussianMixture(**kw)
        pb = GaussianMixture(**kw)
        for i in range(10):
            pa.partial_fit(X[i * 10_000:(i + 1) * 10_000])
            pb.partial_fit(t[i * 10_000:(i + 1) * 10_000])
        check(rel(pb.means_, pa.means_) <= 1e-4, f"{name}: partial_fit over tensor batches = over NumPy batches")
    # refusals on the GPU: another GPU's dtype, an int tensor
    gm = GaussianMixture(2, device="cuda", dtype="float32")
    try:
        gm.fit(torch.zeros((100, 3), dtype=torch.float64, device="cuda"))
        check(False, "a float64 tensor for float32 kernels is refused")
    except ValueError as e:
        check("never converted" in str(e), f"a float64 tensor for float32 kernels is refused: {e}")
    try:
        gm.fit(torch.zeros((100, 3), dtype=torch.int32, device="cuda"))
        check(False, "an int32 tensor is refused")
    except TypeError as e:
        check("float32 or float64" in str(e), f"an int32 tensor is refused: {e}")


def rss():
    n, d, m = 10_000_000, 32, 16
    torch.cuda.init()
    g = torch.Generator(device="cuda").manual_seed(0)
    centers = 5 * torch.randn(m, d, device="cuda", generator=g)
    labels = torch.randint(0, m, (n,), device="cuda", generator=g)
    X = centers[labels] + torch.randn(n, d, device="cuda", generator=g)
    del labels
    torch.cuda.synchronize()
    tensor_bytes = X.element_size() * X.numel()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    gm = GaussianMixture(m, covariance_type="full", random_state=0, device="cuda", max_iter=10, tol=0)
    t0 = time.perf_counter()
    gm.fit(X)
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"     {n} x {d} float32 CUDA tensor: {tensor_bytes / 2**20:.0f} MiB; peak host RSS before the fit "
          f"{before / 2**20:.0f} MiB (Python, PyTorch, the CUDA context), after {peak / 2**20:.0f} MiB "
          f"(+{(peak - before) / 2**20:.0f} MiB during the fit: libgmmc, LLVM, the kernels); fit {secs:.1f} s, "
          f"{gm.n_iter_} iterations, lower bound {gm.lower_bound_:.4f}", flush=True)
    check(peak < tensor_bytes, "peak host RSS below the tensor's size")
    print(f"     the fit added {(peak - before) / tensor_bytes:.1%} of the tensor's size to the peak host RSS",
          flush=True)
    s = gm.score_samples(X[:1000])
    check(isinstance(s, np.ndarray) and np.all(np.isfinite(s)), "score_samples of a tensor slice: finite NumPy")


if __name__ == "__main__":
    {"same": same, "rss": rss}[sys.argv[1]]()
    sys.exit(1 if failures else 0)
