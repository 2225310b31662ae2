"""The statistical checks of book/stochastic/sharp-flat-saddles.ipynb, over 20 seeds.

Each test repeats one of the chapter's statistical checks with the chapter's own gdlab calls and parameters for the
seeds 0-19 (the chapter uses one of them), and requires that every seed passes with margin: the statistic uses at most
MARGIN of the chapter's tolerance. The tests that carry a discretisation allowance also check that the average
deviation over the 20 seeds lies inside it, so that the allowance is not hiding a larger bias.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from gdlab import noise, problems

SEEDS = range(20)
MARGIN = 0.9                     # a seed passes with margin if it uses at most 90% of a tolerance


# --- the chapter's problems ---------------------------------------------------------------------------------------
def U_asym(x):
    return (x ** 2 - 1) ** 2 * (1 + 0.8 * np.tanh(x))


def dU_asym(x):
    t = np.tanh(x)
    return 4 * x * (x ** 2 - 1) * (1 + 0.8 * t) + 0.8 * (x ** 2 - 1) ** 2 * (1 - t ** 2)


def _curvature(x, h=1e-5):
    return (dU_asym(x + h) - dU_asym(x - h)) / (2 * h)


B_TOP = optimize.brentq(dU_asym, -0.9, 0.9)
BARRIER = U_asym(B_TOP) - U_asym(-1.0)
K_F, K_S = _curvature(-1.0), _curvature(1.0)
T_OCC = BARRIER / 3
DT_OCC = 0.0075


def saddle_f(X):
    X = np.asarray(X, dtype=float)
    return 0.5 * X[..., 0] ** 2 - 0.5 * X[..., 1] ** 2 + 0.25 * X[..., 1] ** 4


def saddle_grad(X):
    X = np.asarray(X, dtype=float)
    return np.stack([X[..., 0], X[..., 1] ** 3 - X[..., 1]], axis=-1)


# --- Kramers' law, measured (cell 6) ------------------------------------------------------------------------------
def test_kramers_checks_hold_for_20_seeds():
    well = problems.DoubleWell(h=2.0)
    pot = noise.as_potential(well)
    dU, dt, bias = well.barrier(), 0.005, 0.03
    temps = dU / np.array([2.0, 2.5, 3.0, 3.5])
    A_theory = 2 * np.pi / np.sqrt(16.0 * 8.0)
    used, devs = [], []
    for seed in SEEDS:
        esc = noise.escape_times(pot, well.f, x0=-1.0, level=1.0, far=-3.0, temps=temps, dt=dt, n_chains=600, seed=seed)
        assert esc.n_censored == 0 and 2 * esc.longest.max() <= esc.t_max, seed
        z = esc.z(bias).max() / 4.0
        slope, slope_se = esc.slope()
        slope_exact = esc.exact_slope()
        slope_tol = (4 * slope_se + bias / np.ptp(1 / temps)) / slope_exact
        s = abs(slope / slope_exact - 1) / slope_tol
        assert slope_tol < 0.5, "the rate's tolerance must reject the exponent dU/(2T)"
        A_hat, logA_se = esc.prefactor()
        A_tol = 4 * logA_se + esc.remainder(A_theory) + bias
        a = abs(np.log(A_hat / esc.kramers_prefactor)) / A_tol
        for wrong in (A_theory / 2, 2 * A_theory, A_theory * np.sqrt(2)):
            assert abs(np.log(A_hat / wrong)) > A_tol / MARGIN, (seed, wrong)
        used.append((z, s, a))
        devs.append(esc.measured / esc.exact - 1)
    used = np.array(used)
    print(f"Kramers, worst use of the tolerances over {len(SEEDS)} seeds (z, slope, prefactor): {used.max(axis=0)}; "
          f"mean deviation from the exact formula {np.mean(devs, axis=0)}")
    assert used.max() <= MARGIN, f"worst use of the tolerances (z, slope, prefactor): {used.max(axis=0)}"
    assert np.all(np.abs(np.mean(devs, axis=0)) <= bias), np.mean(devs, axis=0)


# --- occupancy and escape ratio of the flat and sharp wells (cells 11, 13) ----------------------------------------
def test_flat_sharp_checks_hold_for_20_seeds():
    pot = noise.CallablePotential(dU_asym, 1)
    grid = np.linspace(-3, 3, 200_001)
    density = np.exp(-U_asym(grid) / T_OCC)
    exact_ratio = (np.trapezoid(density[grid < B_TOP], grid[grid < B_TOP])
                   / np.trapezoid(density[grid >= B_TOP], grid[grid >= B_TOP]))
    taus = {name: noise.mean_first_passage_time(U_asym, T_OCC, x0, B_TOP, far)
            for name, x0, far in (("flat", -1.0, -3.0), ("sharp", 1.0, 3.0))}
    ratio_exact = taus["flat"] / taus["sharp"]
    starts = np.where(np.arange(1000) % 2 == 0, -1.0, 1.0)[:, None]
    x0s = np.repeat([-1.0, 1.0], 500)
    used, occ_devs, esc_devs = [], [], []
    for seed in SEEDS:
        occ = noise.langevin(pot, starts, T_OCC, DT_OCC, steps=10_000, n_chains=1000, thin=20, seed=seed)
        share = noise.well_occupancy(occ.trace[occ.steps_saved * DT_OCC >= 20][..., 0], B_TOP)
        occ_tol = 4 * share.stderr / exact_ratio + 0.03
        for wrong in (1.0, K_S / K_F):
            assert abs(share.ratio / wrong - 1) > occ_tol / MARGIN, (seed, wrong)
        fp = noise.first_passage(pot, x0s, B_TOP, T_OCC, dt=DT_OCC, max_steps=int(25 * taus["flat"] / DT_OCC),
                                 n_chains=x0s.size, seed=seed)
        assert fp.n_censored == 0 and 2 * fp.times.max() <= fp.t_max, seed
        ratio, ratio_se = noise.mean_ratio(fp.select(x0s < 0), fp.select(x0s > 0))
        esc_tol = 4 * ratio_se / ratio_exact + 0.04
        for wrong in (1.0, K_S / K_F):
            assert abs(ratio / wrong - 1) > esc_tol / MARGIN, (seed, wrong)
        used.append((abs(share.ratio / exact_ratio - 1) / occ_tol, abs(ratio / ratio_exact - 1) / esc_tol))
        occ_devs.append(share.ratio / exact_ratio - 1)
        esc_devs.append(ratio / ratio_exact - 1)
    used = np.array(used)
    print(f"flat/sharp, worst use of the tolerances over {len(SEEDS)} seeds (occupancy, escape ratio): "
          f"{used.max(axis=0)}; mean deviations {np.mean(occ_devs):+.4f}, {np.mean(esc_devs):+.4f}")
    assert used.max() <= MARGIN, f"worst use of the tolerances (occupancy, escape ratio): {used.max(axis=0)}"
    assert abs(np.mean(occ_devs)) <= 0.03 and abs(np.mean(esc_devs)) <= 0.04, (np.mean(occ_devs), np.mean(esc_devs))


# --- perturbed gradient descent and noisy gradients at the saddle (cells 15, 19) ----------------------------------
def test_saddle_checks_hold_for_20_seeds():
    alpha, g_thres, t_thres, radius, f_thres, K = 0.1, 1e-3, 200, 1e-2, 1e-4, 1200
    X0 = np.tile([1.0, 0.0], (500, 1))
    k_kick = int(np.ceil(np.log(g_thres) / np.log(1 - alpha)))
    half = 5 * np.sqrt(0.25 / 500)
    sd = 1 / np.sqrt(12 * 500)
    used = []
    for seed in SEEDS:
        # random starts all reach a minimum
        P = np.random.default_rng(seed).uniform(-1, 1, size=(1000, 2))
        for _ in range(400):
            P = P - alpha * saddle_grad(P)
        dist = np.minimum(np.linalg.norm(P - [0, 1], axis=1), np.linalg.norm(P - [0, -1], axis=1))
        assert dist.max() <= MARGIN * 1e-6, seed
        run = noise.perturbed_gd(saddle_grad, X0, alpha, steps=K, g_thres=g_thres, t_thres=t_thres, radius=radius,
                                 f=saddle_f, f_thres=f_thres, seed=seed, thin=1)
        info, X = run.info, run.x
        assert info["stopped"].all() and 2 * info["stop_step"].max() <= K, seed
        assert np.linalg.norm(saddle_grad(X), axis=1).max() <= g_thres, seed
        assert np.min(np.minimum(1.0, 3 * X[:, 1] ** 2 - 1)) >= 0.5, seed
        assert np.all(info["first_kick_step"] == k_kick), seed
        xi = info["first_kick"]
        u = np.sum(xi ** 2, axis=1) / radius ** 2
        assert u.max() <= 1.0, seed
        N_esc = np.argmax(np.abs(run.trace[:, :, 1]) >= 0.5, axis=0) - k_kick
        y0 = np.abs(xi[:, 1])
        assert np.all(np.log(1 / (2 * y0)) / np.log(1 + alpha) <= N_esc), seed
        assert np.all(N_esc <= 1 + np.log(1 / (2 * y0)) / np.log(1 + 0.75 * alpha)), seed
        noisy = noise.langevin(noise.CallablePotential(saddle_grad, 2), X0, T=1e-4, dt=alpha, steps=600,
                               n_chains=500, seed=seed).x
        row = [abs(u.mean() - 0.5) / (4 * sd)]
        for Y in (X, noisy):
            row.append(np.max(np.maximum(np.abs(np.abs(Y[:, 1]) - 1), np.abs(Y[:, 0]))) / (7 * np.sqrt(1e-4)))
            row.append(abs(np.mean(Y[:, 1] > 0) - 0.5) / half)
        used.append(row)
    used = np.array(used)
    print(f"saddle, worst use of the tolerances over {len(SEEDS)} seeds (kick size, PGD distance, PGD split, "
          f"noisy distance, noisy split): {used.max(axis=0)}")
    assert used.max() <= MARGIN, f"worst use of the tolerances: {used.max(axis=0)}"
