"""`pip install ./python` into a fresh virtual environment, then `python -m gmmc --version` from it.

The environment is made with ``python3 -m venv --system-site-packages`` (NumPy
and scikit-learn come from the system, nothing is downloaded: --no-index), and
the package is installed with ``--no-build-isolation`` and GMMC_BUILD_DIR
pointing at the build tree under test, so that the backend copies that
libgmmc.so instead of building a second one. The installed package must load
its own copy of the library (not the build tree's) and train a model.
Without venv or pip on the machine the test reports SKIPPED.
"""
import os
import subprocess
import sys

import pytest

from conftest import PYTHON_DIR


def build_dir():
    d = os.environ.get("GMMC_BUILD_DIR")
    if d:
        return d
    lib = os.environ.get("GMMC_LIBRARY")
    if lib:
        return os.path.dirname(os.path.abspath(lib))
    from gmmc._loader import load
    return os.path.dirname(load().path)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("GMMC_LIBRARY", "PYTHONPATH", "PYTHONHOME")}
    env.update(extra)
    return env


def test_pip_install_into_a_fresh_venv(tmp_path):
    venv = tmp_path / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if made.returncode != 0:
        pytest.skip(f"python3 -m venv is not available: {made.stdout.strip()[-300:]}")
    python = str(venv / "bin" / "python")
    if subprocess.run([python, "-m", "pip", "--version"], stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT).returncode != 0:
        pytest.skip("pip is not available in the virtual environment")

    env = clean_env(GMMC_BUILD_DIR=build_dir(), PIP_DISABLE_PIP_VERSION_CHECK="1")
    install = subprocess.run([python, "-m", "pip", "install", "--no-build-isolation", "--no-index", PYTHON_DIR],
                             env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert install.returncode == 0, install.stdout

    run_env = clean_env()
    version = subprocess.run([python, "-m", "gmmc", "--version"], env=run_env, cwd=str(tmp_path),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert version.returncode == 0, version.stdout
    print(version.stdout)
    lines = version.stdout.splitlines()
    assert lines[0].startswith("gmmc (Python package) ")
    assert lines[1].startswith("libgmmc ") and "installed with the package" in lines[1]
    assert str(venv) in lines[1]
    assert lines[2].startswith("device: ")

    fit = subprocess.run([python, "-c", "import numpy as np, gmmc\n"
                          "X = np.random.RandomState(0).randn(200, 2)\n"
                          "gm = gmmc.GaussianMixture(2, device='cpu', random_state=0).fit(X)\n"
                          "print(gmmc.__file__)\n"
                          "print(gm.predict(X[:5]).tolist())\n"],
                         env=run_env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert fit.returncode == 0, fit.stdout
    assert str(venv) in fit.stdout.splitlines()[0], "the installed package, not the checkout, was imported"
