"""gdlab.stochastic: oracles are unbiased, seeded, sample as documented, and plug into the runner."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from gdlab import problems as P
from gdlab import runner
from gdlab import stochastic as S
from gdlab.optim import numpy as gnp


@pytest.fixture(scope="module")
def ls():
    return P.LeastSquares.random(n=60, d=3, seed=1, noise=0.5)


def mean_and_se(draws):
    d = np.asarray(draws)
    return d.mean(axis=0), d.std(axis=0, ddof=1) / np.sqrt(len(d))


# ---------------------------------------------------------------------------------- unbiasedness
@pytest.mark.parametrize("replace, batch", [(True, 1), (True, 5), (False, 7)])
def test_minibatch_oracle_is_unbiased(ls, replace, batch):
    x = np.array([0.3, -1.0, 2.0])
    oracle = S.MinibatchOracle(ls, batch_size=batch, replace=replace, seed=3)
    draws = [oracle(x) for _ in range(3000)]
    mean, se = mean_and_se(draws)
    z = np.abs(mean - ls.grad(x)) / se
    assert np.all(z < 4.5), z
    assert oracle.examples_seen == 3000 * batch and oracle.calls == 3000
    # the spread is the mini-batch spread, not zero: an oracle returning the full gradient would fail
    assert np.all(se > 1e-3)


def test_minibatch_variance_shrinks_like_one_over_b(ls):
    x = np.zeros(3)
    var = {}
    for b in (1, 8):
        o = S.MinibatchOracle(ls, batch_size=b, replace=True, seed=0)
        d = np.array([o(x) for _ in range(4000)])
        var[b] = np.sum(d.var(axis=0))
    assert var[1] / var[8] == pytest.approx(8.0, rel=0.15)


def test_gaussian_oracle_mean_and_covariance():
    q = P.Quadratic([1.0, 3.0], seed=2)
    C = np.array([[2.0, 0.6], [0.6, 1.0]])
    o = S.GaussianOracle(q, C, batch_size=4, seed=5)
    x = np.array([1.0, -2.0])
    d = np.array([o(x) for _ in range(20000)])
    mean, se = mean_and_se(d)
    assert np.all(np.abs(mean - q.grad(x)) / se < 4.5)
    emp = np.cov(d, rowvar=False)
    assert np.linalg.norm(emp - C / 4) / np.linalg.norm(C / 4) < 0.05
    # a scalar and a diagonal give sigma^2 I and diag(c)
    np.testing.assert_array_equal(S.GaussianOracle(q, 2.0).cov, 2.0 * np.eye(2))
    np.testing.assert_array_equal(S.GaussianOracle(q, [1.0, 4.0]).cov, np.diag([1.0, 4.0]))


def test_gaussian_oracle_with_singular_covariance():
    q = P.Quadratic([1.0, 2.0], seed=0)
    C = np.array([[1.0, 1.0], [1.0, 1.0]])  # rank one: noise only along (1, 1)
    o = S.GaussianOracle(q, C, seed=1)
    d = np.array([o(np.zeros(2)) for _ in range(500)])
    np.testing.assert_allclose(d[:, 0], d[:, 1], atol=1e-12)
    assert d[:, 0].std() > 0.5


# ---------------------------------------------------------------------------------- sampling
def test_without_replacement_visits_every_example_once_per_epoch(ls):
    n, B = ls.n, 7
    o = S.MinibatchOracle(ls, batch_size=B, replace=False, seed=11)
    stream = []
    x = np.zeros(3)
    while len(stream) < 3 * n:
        o(x)
        assert o.last_indices.size == B
        stream.extend(o.last_indices.tolist())
    epochs = [stream[e * n:(e + 1) * n] for e in range(3)]
    for ep in epochs:
        assert sorted(ep) == list(range(n))
    assert epochs[0] != epochs[1] != epochs[2]  # reshuffled every epoch
    assert len(stream) == 182 and o.epoch == 3  # 26 batches of 7; the fourth permutation has begun


def test_with_replacement_repeats_and_stays_in_range(ls):
    o = S.MinibatchOracle(ls, batch_size=ls.n, replace=True, seed=0)
    o(np.zeros(3))
    idx = o.last_indices
    assert idx.min() >= 0 and idx.max() < ls.n
    assert np.unique(idx).size < ls.n  # n draws with replacement almost surely repeat


def test_seeded_and_reset_reproduce(ls):
    x = np.array([1.0, 0.0, -1.0])
    a = S.MinibatchOracle(ls, 4, replace=False, seed=7)
    b = S.MinibatchOracle(ls, 4, replace=False, seed=7)
    c = S.MinibatchOracle(ls, 4, replace=False, seed=8)
    da = [a(x) for _ in range(30)]
    db = [b(x) for _ in range(30)]
    dc = [c(x) for _ in range(30)]
    np.testing.assert_array_equal(da, db)
    assert not np.allclose(da, dc)
    a.reset()
    np.testing.assert_array_equal([a(x) for _ in range(30)], da)


def test_gradient_accumulation_equals_one_large_batch(ls):
    x = np.array([0.5, 0.5, -0.2])
    micro = S.MinibatchOracle(ls, batch_size=6, replace=False, seed=2)
    acc = S.AccumulatedOracle(micro, steps=4)
    for _ in range(5):  # crosses epoch boundaries (n = 60, 24 examples per accumulated step)
        g = acc(x)
        assert acc.last_indices.size == 24
        np.testing.assert_allclose(g, ls.grad_batch(x, acc.last_indices), rtol=1e-12, atol=1e-14)
    assert acc.examples_seen == 5 * 24


# ---------------------------------------------------------------------------------- methods and the runner
def test_full_batch_without_replacement_is_gradient_descent(ls):
    oracle = S.MinibatchOracle(ls, batch_size=ls.n, replace=False, seed=0)
    tr_sgd = runner.run(ls, S.sgd(oracle, 0.1), steps=40)
    tr_gd = runner.run(ls, gnp.SGD(lr=0.1), steps=40)
    np.testing.assert_allclose(tr_sgd.xs, tr_gd.xs, rtol=1e-12, atol=1e-14)


def test_sgd_schedule_is_recorded_and_matches_the_runners_oracle_path(ls):
    sched = lambda t: 0.2 / t  # noqa: E731
    m = S.sgd(S.MinibatchOracle(ls, 3, seed=4), sched)
    tr = runner.run(ls, m, steps=25)
    np.testing.assert_allclose(tr.lrs, 0.2 / np.arange(1, 26))
    # the same draws through the runner's oracle argument and a NumPy optimizer at constant lr
    tr1 = runner.run(ls, S.sgd(S.MinibatchOracle(ls, 3, seed=4), 0.05), steps=25)
    tr2 = runner.run(ls, gnp.SGD(lr=0.05), steps=25, oracle=S.MinibatchOracle(ls, 3, seed=4))
    tr3 = runner.run(ls, S.with_oracle(gnp.SGD(lr=0.05), S.MinibatchOracle(ls, 3, seed=4)), steps=25)
    np.testing.assert_allclose(tr1.xs, tr2.xs, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tr1.xs, tr3.xs, rtol=1e-12, atol=1e-14)
    assert not np.allclose(tr1.xs, runner.run(ls, gnp.SGD(lr=0.05), steps=25).xs)  # really stochastic


def test_polyak_average():
    xs = np.arange(12.0).reshape(6, 2)
    avg = S.polyak_average(xs)
    np.testing.assert_allclose(avg[3], xs[:4].mean(axis=0))
    avg_b = S.polyak_average(xs, burn_in=2)
    np.testing.assert_array_equal(avg_b[:2], xs[:2])
    np.testing.assert_allclose(avg_b[5], xs[2:].mean(axis=0))


# ---------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("make, match", [
    (lambda p, q: S.MinibatchOracle(p, batch_size=0), "batch_size=0"),
    (lambda p, q: S.MinibatchOracle(p, batch_size=2.5), "batch_size=2.5"),
    (lambda p, q: S.MinibatchOracle(p, batch_size=True), "batch_size=True"),
    (lambda p, q: S.MinibatchOracle(p, batch_size=61, replace=False), "batch_size=61"),
    (lambda p, q: S.MinibatchOracle(q, batch_size=2), "finite-sum"),
    (lambda p, q: S.GaussianOracle(q, -1.0), "cov=-1.0"),
    (lambda p, q: S.GaussianOracle(q, [1.0, -2.0]), "diagonal"),
    (lambda p, q: S.GaussianOracle(q, np.eye(3)), "2x2"),
    (lambda p, q: S.GaussianOracle(q, [[1.0, 0.5], [0.0, 1.0]]), "not symmetric"),
    (lambda p, q: S.GaussianOracle(q, [[1.0, 2.0], [2.0, 1.0]]), "positive semi-definite"),
    (lambda p, q: S.GaussianOracle(q, 1.0, batch_size=-3), "batch_size=-3"),
    (lambda p, q: S.AccumulatedOracle(S.MinibatchOracle(p), steps=0), "steps=0"),
    (lambda p, q: S.sgd(S.MinibatchOracle(p), -0.1), "lr=-0.1"),
    (lambda p, q: S.sgd(S.MinibatchOracle(p), float("nan")), "lr=nan"),
    (lambda p, q: S.polyak_average(np.zeros((3, 2)), burn_in=3), "burn_in=3"),
])
def test_invalid_arguments_raise_value_error(ls, make, match):
    q = P.Quadratic([1.0, 2.0])
    with pytest.raises(ValueError, match=match):
        make(ls, q)


def test_schedule_validated_at_every_step(ls):
    m = S.sgd(S.MinibatchOracle(ls, 2), lambda t: 0.1 if t < 3 else -0.1)
    x = np.zeros(3)
    m(x), m(x)
    with pytest.raises(ValueError, match="t=3"):
        m(x)


class _Blowup:
    dim = 2

    def grad(self, x):
        return np.array([np.inf, 0.0])


def test_non_finite_gradient_is_reported():
    o = S.GaussianOracle(_Blowup(), 1.0, seed=0)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        g = o(np.zeros(2))
    assert not np.all(np.isfinite(g))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        S.GaussianOracle(P.Quadratic([1.0, 2.0]), 1.0)(np.zeros(2))  # finite: no warning


def test_importing_the_numpy_modules_does_not_import_torch():
    code = "import sys, gdlab.stochastic, gdlab.noise; assert 'torch' not in sys.modules, 'torch imported'"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# -------------------------------------------------------------------------------- many chains
class _Generic:
    """A finite sum that only offers n, dim and grad_batch: sgd_chains must go chain by chain."""

    def __init__(self, problem):
        self.problem, self.n, self.dim = problem, problem.n, problem.dim

    def grad_batch(self, x, idx):
        return self.problem.grad_batch(x, idx)


@pytest.mark.parametrize("kind", ["least squares", "logistic", "generic"])
def test_one_sgd_chain_follows_the_minibatch_oracle(ls, kind):
    lr = 0.05
    if kind == "logistic":
        rng = np.random.default_rng(0)
        X = rng.standard_normal((80, 3))
        prob = P.LogisticRegression(X, (X @ [1.0, -2.0, 0.5] > 0).astype(float), lam=0.1)
    else:
        prob = ls
    target = _Generic(prob) if kind == "generic" else prob
    path = S.sgd_chains(target, prob.x0[None, :], lr, steps=60, batch_size=4, seed=7)
    ref = runner.run(prob, S.sgd(S.MinibatchOracle(prob, batch_size=4, seed=7), lr), steps=60)
    assert path.shape == (61, 1, prob.dim)
    np.testing.assert_allclose(path[:, 0], ref.xs, rtol=1e-12, atol=1e-14)


def test_sgd_chains_schedule_counts_steps_from_one_like_sgd(ls):
    sched = lambda t: 0.1 / t  # noqa: E731
    path = S.sgd_chains(ls, ls.x0[None, :], sched, steps=30, batch_size=2, seed=3, thin=3)
    ref = runner.run(ls, S.sgd(S.MinibatchOracle(ls, batch_size=2, seed=3), sched), steps=30)
    assert path.shape == (11, 1, ls.dim)
    np.testing.assert_allclose(path[:, 0], ref.xs[::3], rtol=1e-12, atol=1e-14)


def test_sgd_chains_column_of_step_sizes_and_independent_chains(ls):
    W0 = np.tile(ls.x0 + 1.0, (4, 1))
    path = S.sgd_chains(ls, W0, np.array([0.0, 0.05, 0.05, 0.1]), steps=50, seed=0)
    np.testing.assert_array_equal(path[-1, 0], W0[0])                  # a zero step never moves
    assert np.abs(path[-1, 1] - path[-1, 2]).max() > 1e-6              # same step, own mini-batches
    # chains are independent: many chains started at x* spread like the one-chain stationary law
    many = S.sgd_chains(ls, np.tile(ls.x_star, (3000, 1)), 0.02, steps=300, seed=1)
    m, se = mean_and_se(many[-1])
    assert np.all(np.abs(m - ls.x_star) < 5 * se)


@pytest.mark.parametrize("kw, match", [
    (dict(W0=np.zeros(3)), "W0"), (dict(W0=np.zeros((2, 4))), "W0"), (dict(lr=-0.1), "lr=-0.1"),
    (dict(lr=np.array([0.1, 0.2, 0.3])), "3 entries for 2 chains"), (dict(batch_size=0), "batch_size=0"),
    (dict(thin=0), "thin=0"), (dict(steps=-1), "steps=-1"), (dict(lr=lambda t: float("nan")), "lr"),
])
def test_sgd_chains_rejects_invalid_arguments(ls, kw, match):
    args = dict(W0=np.zeros((2, 3)), lr=0.1, steps=3) | kw
    with pytest.raises(ValueError, match=match):
        S.sgd_chains(ls, args.pop("W0"), args.pop("lr"), **args)


def test_sgd_chains_reports_non_finite_chains(ls):
    with np.errstate(over="ignore", invalid="ignore"), pytest.warns(RuntimeWarning, match="non-finite"):
        S.sgd_chains(ls, np.zeros((3, 3)), 50.0, steps=400, seed=0)


# -------------------------------------------------------------------------------- Hutchinson
def test_hutchinson_diagonal_is_unbiased():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    H = Q @ np.diag([0.1, 0.5, 1.0, 2.0, 5.0, -3.0]) @ Q.T           # indefinite: the identity still holds
    for dist in ("gaussian", "rademacher"):
        est = S.hutchinson_diagonal(lambda u: H @ u, 6, rng=1, samples=20000, distribution=dist)
        m, se = mean_and_se(est)
        z = (m - np.diag(H)) / se
        assert est.shape == (20000, 6) and np.abs(z).max() < 5, dist
    D = np.diag([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(S.hutchinson_diagonal(lambda u: D @ u, 3, 4, distribution="rademacher"),
                                  np.diag(D))                         # exact for a diagonal H


def test_hutchinson_diagonal_uses_the_generator_as_documented():
    H = np.array([[2.0, 1.0], [1.0, 3.0]])
    u = np.random.default_rng(5).standard_normal(2)
    np.testing.assert_array_equal(S.hutchinson_diagonal(lambda v: H @ v, 2, np.random.default_rng(5)), u * (H @ u))


@pytest.mark.parametrize("kw, match", [
    (dict(dim=0), "dim=0"), (dict(distribution="uniform"), "distribution='uniform'"),
    (dict(samples=0), "samples=0"), (dict(hvp=lambda u: np.zeros(3)), "shape"), (dict(hvp=3), "hvp=3"),
])
def test_hutchinson_diagonal_rejects_invalid_arguments(kw, match):
    args = dict(hvp=lambda u: 2 * u, dim=2) | kw
    with pytest.raises(ValueError, match=match):
        S.hutchinson_diagonal(args.pop("hvp"), args.pop("dim"), **args)
