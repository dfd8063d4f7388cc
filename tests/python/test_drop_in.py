"""The drop-in promise: a scikit-learn program, with only its import changed, gives the same labels.

examples/python/gmm_covariances.py is written as a scikit-learn example
(iris and blobs, four covariance types). It runs twice, each in its own
Python process: as written, and with the line
``from sklearn.mixture import GaussianMixture`` replaced by
``from gmmc import GaussianMixture`` - the only change. The labels of every
model must agree on at least 99.9 % of the points, and the printed report
must be the same.

Why the two runs can be compared at all: the example gives weights_init,
means_init and precisions_init (from the training labels), so neither run
depends on a random initialisation (gmmc and NumPy draw different random
numbers from the same seed); from the same start, EM computes the same
iterations in both. GMMC_BACKEND=host keeps gmmc on the CPU in float64 on a
GPU machine too, where the default would be float32 kernels.
"""
import os
import subprocess
import sys

import numpy as np

from conftest import PYTHON_DIR, REPO

EXAMPLE = os.path.join(REPO, "examples", "python", "gmm_covariances.py")
SKLEARN_IMPORT = "from sklearn.mixture import GaussianMixture"
GMMC_IMPORT = "from gmmc import GaussianMixture"


def run(script, out, tmp_path):
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""),
               GMMC_BACKEND="host")
    done = subprocess.run([sys.executable, str(script), str(out)], env=env, cwd=str(tmp_path), check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return done.stdout, done.stderr


def test_one_line_change_gives_the_same_labels(tmp_path):
    lines = open(EXAMPLE).read().splitlines(keepends=True)
    assert [line.rstrip("\n") for line in lines].count(SKLEARN_IMPORT) == 1
    changed = "".join(GMMC_IMPORT + "\n" if line.rstrip("\n") == SKLEARN_IMPORT else line for line in lines)
    assert sum(a != b for a, b in zip(lines, changed.splitlines(keepends=True))) == 1
    gmmc_script = tmp_path / "gmm_covariances_gmmc.py"
    gmmc_script.write_text(changed)

    sk_out, sk_err = run(EXAMPLE, tmp_path / "sklearn.npz", tmp_path)
    gm_out, gm_err = run(gmmc_script, tmp_path / "gmmc.npz", tmp_path)
    assert "Warning" not in gm_err, gm_err

    sk, gm = np.load(tmp_path / "sklearn.npz"), np.load(tmp_path / "gmmc.npz")
    assert sorted(sk.files) == sorted(gm.files) and len(sk.files) == 12
    for name in sk.files:
        assert gm[name].dtype == sk[name].dtype and gm[name].shape == sk[name].shape, name
        agree = np.mean(gm[name] == sk[name])
        assert agree >= 0.999, f"{name}: labels agree on {100 * agree:.3f} %"
    assert gm_out == sk_out
