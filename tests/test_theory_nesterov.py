"""gdlab.theory's Nesterov functions (the nesterov chapter): the schedule, the strongly convex tuning, the 2x2
iteration and its stability edge, each against a computation by hand or by brute force."""

import math

import numpy as np
import pytest

from gdlab import theory


def test_momentum_schedule_follows_the_t_recursion():
    k = np.arange(200)
    beta = theory.nesterov_momentum(k)
    t = [None, 1.0]
    for _ in range(201):
        t.append((1 + math.sqrt(1 + 4 * t[-1] ** 2)) / 2)
    by_hand = np.array([0.0] + [(t[j] - 1) / t[j + 1] for j in range(1, 200)])
    np.testing.assert_allclose(beta, by_hand, rtol=1e-14, atol=0)
    assert beta[0] == beta[1] == 0.0 and theory.nesterov_momentum(2) == pytest.approx((t[2] - 1) / t[3])
    # t_{k+1}^2 - t_{k+1} = t_k^2, and beta_k ~ 1 - 3/k
    tt = np.array(t[1:])
    np.testing.assert_allclose(tt[1:] ** 2 - tt[1:], tt[:-1] ** 2, rtol=1e-12)
    assert abs((1 - beta[199]) * 199 / 3 - 1) < 0.05                         # O(log k / k) corrections


def test_tuning_gives_a_double_root_at_mu():
    L, mu = 4.0, 0.04
    tu = theory.nesterov_tuning(L, mu)
    kappa = L / mu
    assert tu.alpha == 1 / L and tu.beta == pytest.approx((10 - 1) / (10 + 1)) and tu.rate == pytest.approx(0.9)
    T = theory.nesterov_matrix(tu.alpha, tu.beta, mu)
    roots = np.linalg.eigvals(T)
    np.testing.assert_allclose(np.abs(roots), tu.rate, rtol=1e-6)            # a double root (defective: 1e-8 split)
    assert theory.nesterov_spectral_radius(tu.alpha, tu.beta, mu) == pytest.approx(1 - 1 / math.sqrt(kappa), rel=1e-12)
    lam = np.linspace(mu, L, 400)
    assert np.all(theory.nesterov_spectral_radius(tu.alpha, tu.beta, lam) <= tu.rate * (1 + 1e-12))


def test_matrix_moves_the_error_pair_and_the_radius_is_its_eigenvalue():
    rng = np.random.default_rng(0)
    for a, b, lam in [(0.5, 0.3, 1.2), (1.0, 0.9, 0.01), (1.4, 0.5, 1.0), (0.1, 0.0, 3.0)]:
        T = theory.nesterov_matrix(a, b, lam)
        e, e_prev = rng.standard_normal(2)
        y = e + b * (e - e_prev)
        np.testing.assert_allclose(T @ [e, e_prev], [(1 - a * lam) * y, e], rtol=1e-14)
        assert theory.nesterov_spectral_radius(a, b, lam) == pytest.approx(np.abs(np.linalg.eigvals(T)).max(), rel=1e-10)
    with pytest.raises(ValueError, match="scalar"):
        theory.nesterov_matrix(np.array([0.1, 0.2]), 0.5, 1.0)


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.6, 0.95])
def test_stability_edge_is_2_plus_2beta_over_1_plus_2beta(beta):
    edge = (2 + 2 * beta) / (1 + 2 * beta)
    assert theory.nesterov_spectral_radius(edge * (1 - 1e-9), beta) < 1
    assert theory.nesterov_spectral_radius(edge * (1 + 1e-9), beta) > 1
    h = np.linspace(1e-6, edge * (1 - 1e-6), 500)
    assert np.all(theory.nesterov_spectral_radius(h, beta) < 1)


@pytest.mark.parametrize("call, match", [
    (lambda: theory.nesterov_spectral_radius(0.5, 1.0), "beta"),
    (lambda: theory.nesterov_spectral_radius(-0.5, 0.5), "alpha"),
    (lambda: theory.nesterov_spectral_radius(0.5, 0.5, -1.0), "lam"),
    (lambda: theory.nesterov_tuning(1.0, 2.0), "mu"),
    (lambda: theory.nesterov_momentum(-1), "k"),
])
def test_invalid_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
