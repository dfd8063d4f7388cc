#!/usr/bin/env python3
"""gmmc fit --many DIR: one model per .npy file of the directory, each the
model `gmmc fit FILE` writes with the same options (the same text but the
comment lines, bit for bit: the host backend); a file that fails (too few
events, not a .npy of floats) named with its error beside the others,
which are written, exit code 1; the refusals (no such directory, no .npy,
-o not a directory, DATA with --many, --sample-weight with --many).

  test_cli.py GMMC WORKDIR

Fresh data; the seed is printed and GMMC_TEST_SEED=N replays it."""
import os
import shutil
import subprocess
import sys
import time

import numpy as np

gmmc, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(os.path.join(work, "in"))
os.makedirs(os.path.join(work, "out"))
seed = int(os.environ.get("GMMC_TEST_SEED") or time.time_ns() % 1000000007)
print(f"test_cli.py: seed {seed} (GMMC_TEST_SEED={seed} replays it)")
rng = np.random.default_rng(seed)
failures = 0


def path(*names):
    return os.path.join(work, *names)


def run(*args):
    r = subprocess.run([gmmc, "fit", *args, "--backend", "host", "--no-cache"], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def body(p):
    return [line for line in open(p).read().splitlines() if not line.startswith("#")]


sizes = {"a": 300, "b": 120, "c": 450, "d": 2}  # d: fewer events than components
for name, n in sizes.items():
    centers = rng.normal(scale=5, size=(3, 4))
    X = centers[rng.integers(3, size=n)] + rng.normal(size=(n, 4))
    np.save(path("in", name + ".npy"), X.astype(np.float32 if name == "b" else np.float64))
np.save(path("in", "e.npy"), np.array(["not", "floats"]))
open(path("in", "notes.txt"), "w").write("not data\n")

opts = ["-k", "3", "--seed", str(seed % 1000), "--n-init", "2"]
rc, out, err = run("--many", path("in"), "-o", path("out"), *opts)
print(out, err)
check(rc == 1, f"a failed file: exit code {rc}")
check("d.npy: failed: expected n_samples >= n_components" in err, f"the failure of d.npy: {err}")
check("e.npy: failed:" in err, f"the failure of e.npy: {err}")
check("5 files, 3 models written, 2 failed" in out, f"the summary: {out}")
for name in ("a", "b", "c"):
    m = path("out", name + ".yaml")
    check(os.path.exists(m), f"{m} not written")
    rc1, _, err1 = run(path("in", name + ".npy"), "-o", path(name + "_alone.yaml"), *opts)
    check(rc1 == 0, f"{name} alone: {err1}")
    if os.path.exists(m) and rc1 == 0:
        check(body(m) == body(path(name + "_alone.yaml")), f"{name}: the --many model differs from the fit alone")
check(not os.path.exists(path("out", "d.yaml")) and not os.path.exists(path("out", "notes.yaml")), "extra models")

# without -o the models go next to the data; every file fine: exit 0
os.remove(path("in", "d.npy"))
os.remove(path("in", "e.npy"))
rc, out, err = run("--many", path("in"), *opts)
check(rc == 0 and os.path.exists(path("in", "a.yaml")), f"all fine, models beside the data: {rc} {err}")

for args, want in ((["--many", path("nowhere")], "cannot read the directory"),
                   (["--many", path("out")], "no .npy file in the directory"),
                   (["--many", path("in"), "-o", path("in", "a.npy")], "names an existing directory"),
                   (["--many", path("in"), path("in", "a.npy")], "no DATA argument"),
                   (["--many", path("in"), "--sample-weight", path("in", "a.npy")], "--many: not with --sample-weight")):
    rc, out, err = run(*args, "-k", "2")
    check(rc != 0 and want in err, f"{args}: exit {rc}, '{want}' not in: {err}")

print("test_cli.py:", "ok" if not failures else f"{failures} failures (seed {seed})")
sys.exit(1 if failures else 0)
