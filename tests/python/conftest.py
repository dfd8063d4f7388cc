"""Shared setup of the Python package's tests.

The package under test is the checkout's python/ (put first on sys.path), and
the library is the one GMMC_LIBRARY names (CTest points it at the build
tree's libgmmc.so); without it, the package's own search applies. Every fit
uses device='cpu': CI machines have no GPU, and the comparisons with
scikit-learn are made in float64.
"""
import importlib.util
import os
import subprocess
import sys
import time

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON_DIR = os.path.join(REPO, "python")
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

MAKE_FIXTURES = os.path.join(REPO, "tests", "em", "make_fixtures.py")


def sklearn_version():
    try:
        import sklearn
    except ImportError:
        return None
    return sklearn.__version__


SKLEARN_12 = (sklearn_version() or "").startswith("1.2.")
# gmmc reproduces scikit-learn 1.2's messages, verbose lines and result types (Debian's, what CI runs);
# later versions changed some of them, so comparisons of those with the installed one need 1.2
needs_sklearn_12 = pytest.mark.skipif(not SKLEARN_12, reason="gmmc reproduces scikit-learn 1.2's messages and "
                                      f"types; the installed scikit-learn is {sklearn_version()}")


def load_make_fixtures():
    """tests/em/make_fixtures.py as a module (its dataset names and covariance types)."""
    spec = importlib.util.spec_from_file_location("make_fixtures", MAKE_FIXTURES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_seed():
    """The seed of this run's random data: GMMC_TEST_SEED replays a failure."""
    seed = os.environ.get("GMMC_TEST_SEED")
    return int(seed) if seed else time.time_ns() % (1 << 31)


@pytest.fixture(scope="session")
def seed():
    s = run_seed()
    print(f"\nPython tests: seed {s} (replay with GMMC_TEST_SEED={s})")
    return s


@pytest.fixture(scope="session")
def em_fixtures(tmp_path_factory, seed):
    """The EM engine's fixtures (make_fixtures.py), written once per session into a temporary directory."""
    out = tmp_path_factory.mktemp("em_fixtures")
    subprocess.run([sys.executable, MAKE_FIXTURES, str(out), str(seed)], check=True, stdout=subprocess.PIPE)
    return out


@pytest.fixture
def blobs():
    """Four well separated blobs in 3-D (float64), the same in every test."""
    rs = np.random.RandomState(7)
    centers = np.array([[0, 0, 0], [8, 0, 0], [0, 8, 0], [0, 0, 8]], dtype=np.float64)
    X = np.vstack([c + rs.randn(250, 3) for c in centers])
    return X[rs.permutation(len(X))]


def initial_params(X, k, covariance_type):
    """Initial parameters that fix EM's start, so gmmc and scikit-learn run the same iterations:
    the means of k contiguous slices of X sorted by its first column, equal weights, and the
    precision of the whole data set."""
    order = np.argsort(X[:, 0], kind="stable")
    means = np.array([X[idx].mean(axis=0) for idx in np.array_split(order, k)])
    weights = np.full(k, 1.0 / k)
    var = X.var(axis=0) + 1e-3
    prec = {"full": np.array([np.diag(1 / var)] * k), "tied": np.diag(1 / var),
            "diag": np.array([1 / var] * k), "spherical": np.full(k, 1 / var.mean())}[covariance_type]
    return dict(weights_init=weights, means_init=means, precisions_init=prec)
