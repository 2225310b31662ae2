"""gdlab.online's additions for the AdaGrad and RMSprop chapter: linear losses on a box (the adversary's problem) and
diagonal AdaGrad's regret bound."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gdlab import online
from gdlab.optim import numpy as gnp


def test_linear_losses_best_vertex_by_brute_force():
    rng = np.random.default_rng(0)
    c = rng.standard_normal((30, 3))
    lo, hi = np.array([-1.0, 0.0, -2.0]), np.array([1.0, 0.5, 3.0])
    prob = online.LinearLosses(c, lo, hi)
    rounds = np.array([1, 5, 30])
    points, losses = prob.best_in_hindsight(rounds)
    for T, x, val in zip(rounds, points, losses):
        vertices = [np.array(v) for v in itertools.product(*zip(lo, hi))]
        brute = min(sum(prob.loss(t, v) for t in range(1, T + 1)) for v in vertices)
        assert math.isclose(val, brute, rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(float(np.sum(c[:T] @ x)), val, rel_tol=1e-12, abs_tol=1e-12)
    np.testing.assert_array_equal(prob.grad(2, np.zeros(3)), c[1])
    assert online.LinearLosses(np.ones(4)).dim == 1


def test_linear_losses_reject_bad_input():
    with pytest.raises(ValueError, match="coefs"):
        online.LinearLosses(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="box"):
        online.LinearLosses(np.ones((3, 1)), 1.0, -1.0)
    with pytest.raises(ValueError, match="horizon"):
        online.LinearLosses(np.ones((3, 1))).loss(4, np.zeros(1))


def test_adagrad_regret_bound_formula_and_rounds():
    g = np.array([[3.0, 0.0], [4.0, 1.0]])
    b = online.adagrad_regret_bound(g, diameter=2.0, lr=0.5, eps=0.1)
    # after round 1: sqrt(s) = (3, 0); after round 2: (5, 1)
    assert np.allclose(b, [4.0 / 1.0 * (3.0 + 0.2) + 0.5 * 3.0, 4.0 * (6.0 + 0.2) + 0.5 * 6.0])
    assert np.allclose(online.adagrad_regret_bound(g, 2.0, 0.5, 0.1, rounds=[2]), b[1:])
    with pytest.raises(ValueError, match="rounds"):
        online.adagrad_regret_bound(g, 2.0, 0.5, rounds=[3])
    with pytest.raises(ValueError, match="diameter"):
        online.adagrad_regret_bound(g, 0.0, 0.5)


@pytest.mark.parametrize("seed", range(5))
def test_adagrad_on_random_linear_losses_stays_below_its_bound(seed):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((500, 4)) * rng.uniform(0.1, 3.0, 4)
    prob = online.LinearLosses(c, -1.0, 1.0)
    for lr in (0.1, 1.0, 10.0):
        res = online.play(prob, gnp.Adagrad(lr=lr, eps=0.0 + 1e-10), 500)
        bound = online.adagrad_regret_bound(res.grads, 2.0, lr, eps=1e-10)
        assert np.all(res.regret <= bound * (1 + 1e-12))


def test_the_sign_adversary_nearly_attains_the_bound():
    D, eta, K = 1.0, 5.0, 3000
    x, s, c = 0.0, 0.0, np.empty(K)
    for t in range(K):
        c[t] = 1.0 if x >= 0 else -1.0
        s += 1.0
        x = min(max(x - eta * c[t] / (math.sqrt(s) + 1e-10), -D / 2), D / 2)
    res = online.play(online.LinearLosses(c, -D / 2, D / 2), gnp.Adagrad(lr=eta), K)
    ratio = res.regret / online.adagrad_regret_bound(res.grads, D, eta, eps=1e-10)
    assert ratio.max() <= 1 and ratio[-1] >= 0.9
