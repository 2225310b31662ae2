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
