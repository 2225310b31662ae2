"""The statistical checks of book/stochastic/sgd-robbins-monro.ipynb hold for many seeds, with margin.

Each test repeats one of the chapter's random experiments with the chapter's parameters and gdlab's functions, for
seeds other than the chapter's (which is 0), and asserts that the chapter's check passes for every one of them, with a
margin: the statistic must stay inside a tighter interval than the chapter allows. The numbers the chapter quotes
("all of 20 seeds") are these.
"""

from __future__ import annotations

import numpy as np
import pytest

from gdlab import noise, problems, runner, stochastic, theory

SEEDS = range(20)            # the chapter's seed is 0
Z_MAX = 5.0                  # the chapter's bound on the largest z-score of a run
MARGIN = 4.6                 # what every seed must stay below

LS = problems.LeastSquares.random(n=500, d=5, seed=0, noise=0.5)
L_MAX = float((LS.X ** 2).sum(axis=1).max())
QUAD = problems.Quadratic.with_condition(10, L=1.0, mu=0.1, seed=0)
S2 = 0.5
SIGMA2 = QUAD.dim * S2
LAM = QUAD.eigenvalues
E0 = QUAD.Q.T @ (QUAD.x0 - QUAD.x_star)
K2 = 2000


class SortedShardOracle(stochastic.MinibatchOracle):
    def sample_indices(self):
        low = np.flatnonzero(self.problem.y < np.median(self.problem.y))
        return low[self.rng.integers(0, low.size, size=self.batch_size)]


def test_unbiasedness_test_passes_the_fair_oracle_and_fails_the_biased_one():
    w = np.full(LS.dim, 0.5)
    fair = [stochastic.sample_mean(stochastic.MinibatchOracle(LS, 1, seed=s), w, 12000).z(LS.grad(w)).max() for s in SEEDS]
    shard = [stochastic.sample_mean(SortedShardOracle(LS, 1, seed=s), w, 12000).z(LS.grad(w)).max() for s in SEEDS]
    print(f"largest z, fair oracle: {max(fair):.2f}; smallest largest z, sorted shard: {min(shard):.2f}")
    assert max(fair) < 4.0 - 0.2 and min(shard) > 4.0 + 0.5


def test_minibatch_variance_is_tr_sigma_over_B():
    w = np.full(LS.dim, 0.5)
    tr = noise.gradient_noise_scale(LS, w).tr_sigma
    worst, alt = 0.0, np.inf
    for s in SEEDS:
        for B in (1, 8):
            est = noise.measure_minibatch_error(stochastic.MinibatchOracle(LS, batch_size=B, seed=s), w, draws=4000)
            worst = max(worst, est.z(noise.minibatch_error(tr, B)))
            if B > 1:
                alt = min(alt, est.z(tr), est.z(tr / B**2))
    print(f"largest z against tr Sigma / B: {worst:.2f}; smallest z of the wrong scalings: {alt:.1f}")
    assert worst < 4.0 - 0.2 and alt > 10.0 * 2


def _steps(a_mu):
    a = a_mu / QUAD.mu
    return lambda k: a / (k + a * QUAD.L)


def _run(lrs, n_chains, seed):
    return noise.sgd_schedule_error(QUAD.A, lrs, sigma=np.sqrt(SIGMA2), x0=QUAD.x0, x_star=QUAD.x_star,
                                    n_chains=n_chains, seed=seed)


def _slope(k, y):
    sel = k >= K2 // 10
    return np.polyfit(np.log(k[sel]), np.log(y[sel]), 1)[0]


def test_constant_step_chains_follow_the_exact_recursion_and_stay_under_the_bound():
    worst, ratio = 0.0, 0.0
    k = np.arange(401)
    for c in (1.0, 0.3, 0.1):
        bound = theory.sgd_constant_step_bound(k, c, QUAD.mu, SIGMA2, float(E0 @ E0))
        for s in SEEDS:
            run = _run(np.full(400, c), 500, s)
            worst = max(worst, theory.sgd_quadratic_zscores(run.mean, 500, LAM, np.full(400, c), S2, E0).max())
            ratio = max(ratio, float(np.max(run.mean / bound)))
    print(f"constant steps: largest z {worst:.2f}, largest mean / bound {ratio:.3f}")
    assert worst < MARGIN and ratio < 0.9


def test_decreasing_steps_chains_follow_the_exact_recursion_and_its_slope():
    k = np.arange(K2 + 1)
    worst, slope_gap = 0.0, 0.0
    schedules = {2.0: _steps(2.0), 0.75: _steps(0.75), 0.2: _steps(0.2),
                 "stall": lambda j: 0.9 * (2.0 / QUAD.mu) * (2.0 / QUAD.mu) / (j + 2.0 / QUAD.mu) ** 2}
    for name, steps in schedules.items():
        lrs = steps(np.arange(K2))
        exact = theory.sgd_quadratic_error(LAM, lrs, S2, E0)
        for s in SEEDS:
            run = _run(lrs, 200, s)
            worst = max(worst, theory.sgd_quadratic_zscores(run.mean, 200, LAM, lrs, S2, E0).max())
            if name != "stall":
                slope_gap = max(slope_gap, abs(_slope(k, run.mean) - _slope(k, exact)))
    print(f"decreasing steps: largest z {worst:.2f}, largest slope difference {slope_gap:.3f}")
    assert worst < MARGIN and slope_gap < 0.15 * 0.8


def test_least_squares_chains_follow_the_exact_second_moment():
    alphas = np.array([0.02, 0.04, 0.08, 0.16, 0.32]) / L_MAX
    chains, steps, thin = 200, 2000, 10
    exact = [noise.sgd_second_moment(LS, a, steps, x0=LS.x_star).trace[thin::thin] for a in alphas]
    worst = 0.0
    for s in SEEDS:
        path = stochastic.sgd_chains(LS, np.tile(LS.x_star, (chains * alphas.size, 1)), np.repeat(alphas, chains)[:, None],
                                     steps=steps, batch_size=1, seed=s, thin=thin)
        sq = ((path[1:] - LS.x_star) ** 2).sum(axis=-1).reshape(-1, alphas.size, chains)
        for j in range(alphas.size):
            worst = max(worst, float(noise.window_zscores(sq[:, j], exact[j], window=10).max()))
    print(f"least squares, B = 1: largest z {worst:.2f}")
    assert worst < MARGIN


def test_averaged_iterate_matches_the_asymptotic_covariance():
    a = 0.25 / L_MAX
    resid = LS.X @ LS.x_star - LS.y
    sigma_star = (LS.X * resid[:, None] ** 2).T @ LS.X / LS.n
    H_inv = np.linalg.inv(LS.H)
    pj = np.trace(H_inv @ sigma_star @ H_inv) / 1001
    ratios, gains = [], []
    for s in SEEDS:
        path = stochastic.sgd_chains(LS, np.tile(LS.x0, (200, 1)), a, steps=2000, batch_size=1, seed=s)
        avg = path[1000:].mean(axis=0)
        ratios.append(((avg - LS.x_star) ** 2).sum(axis=-1).mean() / pj)
        gains.append(((path[-1] - LS.x_star) ** 2).sum(axis=-1).mean() / ((avg - LS.x_star) ** 2).sum(axis=-1).mean())
    print(f"averaged / asymptotic: from {min(ratios):.3f} to {max(ratios):.3f}; last / averaged at least {min(gains):.1f}")
    assert 0.85 < min(ratios) and max(ratios) < 1.15 and min(gains) > 4 * 1.2


def test_a_large_step_diverges_and_one_over_L_max_converges():
    for s in SEEDS:
        big = runner.run(LS, stochastic.sgd(stochastic.MinibatchOracle(LS, batch_size=1, seed=s), 0.5 / LS.L), steps=500)
        safe = runner.run(LS, stochastic.sgd(stochastic.MinibatchOracle(LS, batch_size=1, seed=s), 1 / L_MAX), steps=500)
        assert big.diverged, s
        assert not safe.diverged and safe.f_gap[-1] < 0.05 * safe.f_gap[0], (s, safe.f_gap[-1] / safe.f_gap[0])


@pytest.mark.parametrize("seed", [4])
def test_exercise_check_simulation(seed):
    a, m, z, v = 0.3, 1.0, 2.0, 0.5
    target = a * v / (2 * m - a * (m**2 + z))
    worst = 0.0
    for s in list(SEEDS) + [seed]:
        rng = np.random.default_rng(s)
        x = np.zeros(20000)
        for _ in range(300):
            c = m + np.sqrt(z) * rng.choice([-1.0, 1.0], size=x.size)
            x = x - a * (c * x - np.sqrt(v) * rng.standard_normal(x.size))
        worst = max(worst, abs(np.mean(x**2) - target) / (np.std(x**2, ddof=1) / np.sqrt(x.size)))
    print(f"exercise 1's simulation: largest z {worst:.2f}")
    assert worst < MARGIN
