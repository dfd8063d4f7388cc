"""BernoulliMixture, PoissonMixture, MultinomialMixture (python/gmmc/count_mixtures.py)
on the host, float64, fresh data from the session's printed seed (GMMC_TEST_SEED):

- score_samples and predict_proba on new data against the model's formulas
  evaluated here in NumPy from the fitted parameters (math.lgamma for the
  per-event constants, which gmmc computes in its 'once' statements);
- EM's lower bounds never decrease (each step of EM is an ascent: a decrease
  beyond rounding, 1e-12 relative here, is a bug);
- weights of ones give the unweighted model bit for bit (the host sums in a
  fixed order: docs/limits.md), the inputs are validated, sample draws what
  the model describes.

Tolerance of the formula checks: both sides compute the same float64
formulas, gmmc with its own log, exp, lgamma (within 4 ulp) and sums in
another order; each log-likelihood is a sum of D + M terms of magnitude up
to ~100 here, so 1e-11 relative to the magnitude is ~10x above the bound."""
import math

import numpy as np
import pytest

from gmmc import BernoulliMixture, MultinomialMixture, PoissonMixture
from gmmc._compat import InvalidParameterError

pytestmark = pytest.mark.filterwarnings("ignore:Initialization 1 did not converge")
M, D = 3, 5


def draw(kind, rng, n):
    z = rng.integers(0, M, n)
    hi = (np.arange(D)[None, :] % M == np.arange(M)[:, None])
    if kind == "bernoulli":
        p = np.where(hi, 0.85, 0.15)
        return (rng.random((n, D)) < p[z]).astype(np.float64)
    if kind == "poisson":
        lam = np.where(hi, 7.0, 1.0)
        return rng.poisson(lam[z]).astype(np.float64)
    p = np.where(hi, 4.0, 1.0)
    p /= p.sum(1, keepdims=True)
    return np.vstack([rng.multinomial(10 + int(rng.integers(0, 30)), p[k]) for k in z]).astype(np.float64)


def log_joint(kind, est, X):
    """log pi_m + log p(x | m) for every row and component, from the fitted attributes."""
    lg = np.vectorize(math.lgamma)
    w = np.log(est.weights_)
    if kind == "bernoulli":
        p = est.probabilities_
        return w + X @ np.log(p).T + (1 - X) @ np.log1p(-p).T
    if kind == "poisson":
        lam = est.rates_
        return w + X @ np.log(lam).T - lam.sum(1) - lg(X + 1).sum(1, keepdims=True)
    coef = lg(X.sum(1) + 1) - lg(X + 1).sum(1)
    return w + X @ np.log(est.probabilities_).T + coef[:, None]


CLASSES = {"bernoulli": BernoulliMixture, "poisson": PoissonMixture, "multinomial": MultinomialMixture}


@pytest.mark.parametrize("kind", list(CLASSES))
def test_against_formulas(kind, seed):
    rng = np.random.default_rng(seed)
    X, Xnew = draw(kind, rng, 1500), draw(kind, rng, 400)
    est = CLASSES[kind](M, device="cpu", random_state=int(seed % 1000), max_iter=200, tol=1e-9).fit(X)
    lbs = np.array(est.lower_bounds_)
    assert len(lbs) == est.n_iter_
    assert np.all(np.diff(lbs) >= -1e-12 * np.abs(lbs[1:])), f"the lower bound decreased: {lbs}"
    L = log_joint(kind, est, Xnew)
    mx = L.max(1, keepdims=True)
    lse = (mx + np.log(np.exp(L - mx).sum(1, keepdims=True)))[:, 0]
    scale = np.abs(L).max()
    got = est.score_samples(Xnew)
    assert np.max(np.abs(got - lse)) <= 1e-11 * scale, np.max(np.abs(got - lse))
    proba = est.predict_proba(Xnew)
    assert np.max(np.abs(proba - np.exp(L - lse[:, None]))) <= 1e-11 * scale
    assert np.array_equal(est.predict(Xnew), np.argmax(L, 1))
    assert abs(est.score(Xnew) - lse.mean()) <= 1e-11 * scale
    assert est.weights_.shape == (M,) and abs(est.weights_.sum() - 1) < 1e-12
    if kind == "multinomial":
        assert np.allclose(est.probabilities_.sum(1), 1, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", list(CLASSES))
def test_weights_of_ones_and_sample(kind, seed):
    rng = np.random.default_rng(seed + 1)
    X = draw(kind, rng, 600)
    a = CLASSES[kind](M, device="cpu", random_state=3, max_iter=20, tol=0).fit(X)
    b = CLASSES[kind](M, device="cpu", random_state=3, max_iter=20, tol=0).fit(X, sample_weight=np.ones(len(X)))
    attr = "rates_" if kind == "poisson" else "probabilities_"
    assert np.array_equal(getattr(a, attr), getattr(b, attr)) and a.lower_bounds_ == b.lower_bounds_
    S, y = a.sample(50)
    assert S.shape == (50, D) and y.shape == (50,) and np.all(np.diff(y) >= 0)
    if kind == "bernoulli":
        assert set(np.unique(S)) <= {0.0, 1.0}
    else:
        assert np.all(S >= 0) and np.all(S == np.floor(S))


def test_validation():
    with pytest.raises(ValueError, match=r"binary data \(0 or 1\); X\[1, 0\] = 2.0"):
        BernoulliMixture(1, device="cpu").fit([[0, 1], [2, 0], [1, 1]])
    with pytest.raises(ValueError, match=r"counts \(non-negative integers\); X\[0, 1\] = -1.0"):
        PoissonMixture(1, device="cpu").fit([[0, -1], [2, 0]])
    with pytest.raises(ValueError, match=r"counts .*X\[1, 1\] = 0.5"):
        MultinomialMixture(1, device="cpu").fit([[0, 1], [2, 0.5]])
    with pytest.raises(ValueError, match="NaN"):
        PoissonMixture(1, device="cpu").fit([[0, np.nan], [2, 0]])
    with pytest.raises(InvalidParameterError, match="The 'reg_rate' parameter of PoissonMixture"):
        PoissonMixture(1, reg_rate=-1, device="cpu").fit([[0, 1], [2, 0]])
    with pytest.raises(InvalidParameterError, match="The 'n_components' parameter of BernoulliMixture"):
        BernoulliMixture(0, device="cpu").fit([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        PoissonMixture(3, device="cpu").fit([[0, 1], [2, 0]])
    est = PoissonMixture(2, device="cpu", random_state=0).fit([[0, 1], [2, 0], [5, 1], [0, 7]])
    with pytest.raises(ValueError, match="features"):
        est.predict([[1, 2, 3]])
    with pytest.raises(Exception, match="not fitted"):
        PoissonMixture(2, device="cpu").predict([[1, 2]])


def test_clone_pickle_and_assigned_attributes(seed):
    import pickle

    from sklearn.base import clone
    X = draw("poisson", np.random.default_rng(seed + 2), 300)
    est = PoissonMixture(M, reg_rate=0.25, device="cpu", random_state=1).fit(X)
    assert clone(est).get_params() == est.get_params() and est.get_params()["reg_rate"] == 0.25
    back = pickle.loads(pickle.dumps(est))
    assert np.array_equal(back.score_samples(X), est.score_samples(X))
    before = est.score(X)
    est.rates_ = est.rates_ * 2  # the attributes are the truth
    assert est.score(X) < before and est.score(X) == pytest.approx(
        (lambda L: float(np.mean(L.max(1) + np.log(np.exp(L - L.max(1, keepdims=True)).sum(1)))))(
            log_joint("poisson", est, X)), rel=1e-11)
