"""The functions the sgd-robbins-monro chapter added to gdlab: theory's SGD bounds, constants and exact recursion,
stochastic.sample_mean and noise.window_zscores, each against a computation by hand or a simulation."""

import math

import numpy as np
import pytest

from gdlab import noise, problems, stochastic, theory


def test_noise_ball_is_the_one_dimensional_stationary_value():
    for alpha_mu in (0.01, 0.3, 1.0, 1.9):
        mu, sigma2 = 2.0, 3.0
        a = alpha_mu / mu
        exact = noise.sgd_stationary_covariance([[mu]], sigma2, a)[0, 0]
        assert theory.sgd_noise_ball(a, mu, sigma2) == pytest.approx(exact, rel=1e-12)
    with pytest.raises(ValueError, match="alpha"):
        theory.sgd_noise_ball(1.0, 2.0, 1.0)                               # alpha mu = 2: no stationary law


def test_constant_step_bound_holds_for_the_exact_recursion_and_is_attained_in_one_dimension():
    lam = np.linspace(0.1, 1.0, 10)
    e0 = np.ones(10)
    for a in (0.1, 0.5, 2 / 1.1):
        k = np.arange(301)
        exact = theory.sgd_quadratic_error(lam, np.full(300, a), 0.5, e0)
        assert np.all(exact <= theory.sgd_constant_step_bound(k, a, 0.1, 10 * 0.5, 10.0) * (1 + 1e-12))
    one = theory.sgd_quadratic_error([0.5], np.full(5000, 0.4), 1.0, [0.0])
    assert one[-1] == pytest.approx(theory.sgd_noise_ball(0.4, 0.5, 1.0), rel=1e-10)


@pytest.mark.parametrize("a_mu, b", [(0.6, 10.0), (0.75, 7.5), (2.0, 20.0), (5.0, 60.0)])
def test_decreasing_step_bound_holds_with_a_mu_above_one_half(a_mu, b):
    mu, L, sigma2 = 0.1, 1.0, 2.0
    a = a_mu / mu
    assert b >= a * (mu + L) / 2                                           # every step at most 2/(mu + L)
    lam, e0 = np.linspace(mu, L, 5), np.ones(5)
    K = 5000
    exact = theory.sgd_quadratic_error(lam, a / (np.arange(K) + b), sigma2 / lam.size, e0)
    bound = theory.sgd_decreasing_step_bound(np.arange(K + 1), a, b, mu, sigma2, float(e0 @ e0))
    assert np.all(exact <= bound * (1 + 1e-12))


def test_decreasing_step_bound_refuses_a_mu_at_most_one_half():
    with pytest.raises(ValueError, match="2 a mu - 1"):
        theory.sgd_decreasing_step_bound(10, 4.0, 10.0, 0.1, 1.0, 1.0)     # a mu = 0.4
    with pytest.raises(ValueError, match="a mu > 1/2"):
        theory.sgd_asymptotic_constant(5.0, 0.1, 1.0)                      # a mu = 0.5


@pytest.mark.parametrize("a_mu", [0.6, 1.0, 3.0])
def test_asymptotic_constant_is_the_limit_of_k_e_k(a_mu):
    mu, s2 = 0.2, 0.7
    a = a_mu / mu
    K = 2**15
    e = theory.sgd_quadratic_error([mu], a / (np.arange(K) + a * mu), s2, [1.0])
    limit = theory.sgd_asymptotic_constant(a, mu, s2)
    assert abs(K * e[-1] / limit - 1) < 3 * K ** (1 - 2 * a_mu) + 20 / K  # corrections of order k^(1 - 2 a mu)


def test_exact_mean_and_variance_against_a_simulation():
    rng = np.random.default_rng(0)
    lam, e0, s2 = np.array([0.2, 1.0]), np.array([1.0, -2.0]), 0.3
    lrs = 0.5 / (np.arange(50) + 2.0)
    n = 200_000
    z = np.tile(e0, (n, 1))
    for a in lrs:
        z = z - a * (lam * z + math.sqrt(s2) * rng.standard_normal(z.shape))
    sq = (z**2).sum(axis=1)
    e, var = theory.sgd_quadratic_error(lam, lrs, s2, e0, variance=True)
    assert abs(sq.mean() - e[-1]) < 5 * math.sqrt(var[-1] / n)
    assert sq.var() == pytest.approx(var[-1], rel=0.03)
    zs = theory.sgd_quadratic_zscores(np.r_[e[:-1], sq.mean()], n, lam, lrs, s2, e0)
    assert zs[0] == 0 and np.all(zs[:-1] == 0) and zs[-1] < 5
    assert np.isinf(theory.sgd_quadratic_zscores(e + np.r_[1.0, np.zeros(50)], n, lam, lrs, s2, e0)[0])


def test_sample_mean_gives_the_oracles_own_draws():
    ls = problems.LeastSquares.random(n=50, d=3, seed=1)
    w = np.full(3, 0.2)
    for B in (1, 4):
        fast, slow = stochastic.MinibatchOracle(ls, B, seed=5), stochastic.MinibatchOracle(ls, B, seed=5)
        r = stochastic.sample_mean(fast, w, 300)
        G = np.array([slow(w) for _ in range(300)])
        np.testing.assert_allclose(r.draws, G, rtol=1e-12, atol=1e-14)
        assert (fast.calls, fast.examples_seen) == (slow.calls, slow.examples_seen)
        np.testing.assert_allclose(r.stderr, G.std(axis=0, ddof=1) / math.sqrt(300))
    g = stochastic.GaussianOracle(ls, cov=1.0, seed=2)                    # not a mini-batch: called draws times
    r = stochastic.sample_mean(g, w, 2000)
    assert g.calls == 2000 and np.all(r.z(ls.grad(w)) < 5)
    with pytest.raises(ValueError, match="draws"):
        stochastic.sample_mean(g, w, 1)


def test_window_zscores():
    rng = np.random.default_rng(3)
    S = 1.0 + rng.standard_normal((100, 400))
    z = noise.window_zscores(S, np.ones(100), window=10)
    assert z.shape == (10,) and np.all(z < 5)
    assert np.all(noise.window_zscores(S, np.full(100, 1.5), window=10) > 10)
    with pytest.raises(ValueError, match="window"):
        noise.window_zscores(S, np.ones(100), window=200)
