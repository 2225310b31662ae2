"""gdlab.noise's additions for the chapter on sharp and flat minima and saddles: the first correction to Kramers' law,
first-passage runs with one start and one temperature per chain, the escape-time experiment, the occupancy of a well,
and perturbed gradient descent's termination test (Jin et al. 2017, Algorithm 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdlab import noise as N


def _correction_from_exact(U, T_list, x0, level, far, tau_K):
    """(tau/tau_K - 1)/T at each T, extrapolated to T = 0 by a linear fit in T."""
    y = [(N.mean_first_passage_time(U, T, x0, level, far, n_grid=40001) / tau_K(T) - 1) / T for T in T_list]
    return np.polyfit(T_list, y, 1)[1]


@pytest.mark.parametrize("height,width", [(1.0, 1.0), (2.0, 1.0), (1.5, 0.7)])
def test_kramers_correction_of_the_double_well_is_three_eighths_over_h_and_matches_the_exact_formula(height, width):
    pot = N.DoubleWellPotential(height=height, width=width)
    assert math.isclose(pot.kramers_correction, 3 / (8 * height), rel_tol=1e-12)
    U = lambda x: height * ((x / width) ** 2 - 1) ** 2
    temps = height / np.array([100.0, 200.0, 400.0])
    c = _correction_from_exact(U, temps, -width, width, -3 * width, pot.kramers_time)
    assert math.isclose(c, pot.kramers_correction, rel_tol=2e-3), (c, pot.kramers_correction)


def test_kramers_correction_with_odd_derivatives_matches_the_exact_formula():
    # U = x^2/2 - x^3/3 (well at 0, barrier top at 1, height 1/6) continued past the top, reached at level 1.5
    U = lambda x: 0.5 * x ** 2 - x ** 3 / 3                     # k_a = k_b = 1, third derivative -2, fourth 0
    ka, kb, dU = 1.0, 1.0, 1.0 / 6.0
    c = N.kramers_correction(ka, -kb, third_min=-2.0, fourth_min=0.0, third_barrier=-2.0, fourth_barrier=0.0)
    assert math.isclose(c, 5 * 4 / 24 + 5 * 4 / 24, rel_tol=1e-12)
    temps = dU / np.array([60.0, 120.0, 240.0])
    fit = _correction_from_exact(U, temps, 0.0, 1.5, -4.0, lambda T: N.kramers_time(dU, ka, -kb, T))
    assert math.isclose(fit, c, rel_tol=5e-3), (fit, c)


def test_kramers_correction_rejects_invalid_curvatures():
    with pytest.raises(ValueError, match="curvature_barrier"):
        N.kramers_correction(1.0, 0.0)
    with pytest.raises(ValueError, match="curvature_min"):
        N.kramers_correction(-1.0, 1.0)
    with pytest.raises(ValueError, match="derivatives"):
        N.kramers_correction(1.0, 1.0, third_min=float("nan"))


def test_first_passage_with_one_value_per_chain_equals_the_scalar_run():
    pot = N.DoubleWellPotential(height=1.0)
    kw = dict(dt=0.01, max_steps=20000, n_chains=300, seed=4)
    scalar = N.first_passage(pot, -1.0, 0.5, 0.4, **kw)
    arrays = N.first_passage(pot, np.full(300, -1.0), 0.5, np.full(300, 0.4), **kw)
    np.testing.assert_array_equal(scalar.times, arrays.times)


def test_first_passage_chains_of_different_starts_and_temperatures_are_independent_experiments():
    pot = N.DoubleWellPotential(height=1.0)
    x0 = np.repeat([-1.0, 1.0], 2000)                          # both wells, level at the barrier top
    T = np.where(np.arange(4000) % 2 == 0, 0.35, 0.5)
    fp = N.first_passage(pot, x0, 0.0, T, dt=0.005, max_steps=100000, n_chains=4000, seed=1)
    assert fp.n_censored == 0
    U = lambda x: (x ** 2 - 1) ** 2
    for side, far in ((-1.0, -3.0), (1.0, 3.0)):
        for temp in (0.35, 0.5):
            run = fp.select((x0 == side) & (T == temp))
            exact = N.mean_first_passage_time(U, temp, side, 0.0, far)
            assert abs(run.mean - exact) <= 4 * run.stderr + 0.05 * exact, (side, temp, run.mean, exact)
    with pytest.raises(ValueError, match="one value per chain"):
        N.first_passage(pot, np.zeros(3) - 1, 0.5, 0.4, 0.01, 10, n_chains=5)
    with pytest.raises(ValueError, match="backend='numpy'"):
        N.first_passage(pot, np.zeros(5) - 1, 0.5, 0.4, 0.01, 10, n_chains=5, backend="torch")


def test_mean_ratio_and_stderr():
    a = N.FirstPassage(times=np.array([1.0, 2.0, 3.0, np.inf]), t_max=5.0, backend="numpy")
    b = N.FirstPassage(times=np.array([2.0, 4.0]), t_max=5.0, backend="numpy")
    with pytest.warns(RuntimeWarning, match="had not crossed"):
        r, se = N.mean_ratio(a, b)
    assert math.isclose(r, 2.0 / 3.0)
    assert math.isclose(a.stderr, 1.0 / math.sqrt(3)) and math.isclose(b.stderr, math.sqrt(2.0) / math.sqrt(2))
    assert math.isclose(se, r * math.hypot(a.stderr / 2.0, b.stderr / 3.0))
    assert a.select([0, 1]).times.tolist() == [1.0, 2.0]


def test_escape_times_on_the_double_well():
    pot = N.DoubleWellPotential(height=1.0)
    U = lambda x: (x ** 2 - 1) ** 2
    temps = 1.0 / np.array([2.0, 3.0])
    esc = N.escape_times(pot, U, -1.0, 1.0, -3.0, temps, dt=0.01, n_chains=400, seed=0)
    assert esc.n_censored == 0 and esc.measured.shape == (2,) and esc.correction == pot.kramers_correction
    assert np.all(esc.z(0.05) <= 4)
    assert math.isclose(esc.kramers_prefactor, 2 * math.pi / math.sqrt(8 * 4))
    slope, se = esc.slope()
    assert abs(slope - esc.exact_slope()) <= 4 * se + 0.1
    A, logA_se = esc.prefactor()
    assert abs(math.log(A / esc.kramers_prefactor)) <= 4 * logA_se + esc.remainder(esc.kramers_prefactor) + 0.05
    # the remainder with the right prefactor is the O(T^2) term: smaller than the first correction itself
    assert esc.remainder(esc.kramers_prefactor) < esc.correction * temps.max()
    with pytest.raises(ValueError, match="barrier"):
        N.escape_times(N.CallablePotential(lambda X: 4 * X * (X ** 2 - 1), 1), U, -1.0, 1.0, -3.0, temps, 0.01)


def test_well_occupancy_counts_each_chain_once():
    samples = np.array([[-1.0, -1.0, 1.0, 1.0],
                        [-1.0, 1.0, 1.0, 1.0]])          # 2 saved times, 4 chains: shares 1, 1/2, 0, 0
    occ = N.well_occupancy(samples, 0.0)
    p = 1.5 / 4
    assert math.isclose(occ.fraction, p) and math.isclose(occ.ratio, p / (1 - p))
    se_p = np.std([1.0, 0.5, 0.0, 0.0], ddof=1) / 2
    assert math.isclose(occ.stderr, se_p / (1 - p) ** 2)
    assert N.well_occupancy(samples[..., None], 0.0) == occ
    with pytest.raises(ValueError, match="both wells"):
        N.well_occupancy(np.ones((3, 4)), 0.0)


def _saddle_grad(X):
    return np.stack([X[:, 0], X[:, 1] ** 3 - X[:, 1]], axis=1)


def _saddle_f(X):
    return 0.5 * X[:, 0] ** 2 - 0.5 * X[:, 1] ** 2 + 0.25 * X[:, 1] ** 4


def test_perturbed_gd_stops_at_minima_and_returns_the_point_before_the_kick():
    X0 = np.tile([1.0, 0.0], (200, 1))
    out = N.perturbed_gd(_saddle_grad, X0, 0.1, steps=1000, g_thres=1e-3, t_thres=200, radius=1e-2, f=_saddle_f,
                         f_thres=1e-4, seed=3)
    info = out.info
    assert info["stopped"].all()
    assert np.all(info["first_kick_step"] == 66)                # 0.9^66 is the first power below 1e-3
    # the second kick comes at the minimum, t_thres + 1 steps later, and the test stops the chain t_thres after it
    assert np.all(info["stop_step"] == 66 + 201 + 200) and np.all(info["kicks"] == 2)
    assert np.all(np.abs(np.abs(out.x[:, 1]) - 1) < 1e-3) and np.all(np.linalg.norm(_saddle_grad(out.x), axis=1) <= 1e-3)
    assert np.all(np.linalg.norm(info["first_kick"], axis=1) <= 1e-2)


def test_perturbed_gd_stops_at_once_where_the_kick_cannot_help():
    # a minimum: f never falls by f_thres, so the chain stops t_thres steps after its first kick, at its start
    A = N.QuadraticPotential(np.eye(2))
    f = lambda X: 0.5 * np.sum(X ** 2, axis=1)
    out = N.perturbed_gd(A, np.zeros((10, 2)), 0.5, steps=100, g_thres=1e-3, t_thres=20, radius=0.1, f=f,
                         f_thres=1e-3, seed=0)
    assert out.info["stopped"].all() and np.all(out.info["stop_step"] == 20)
    np.testing.assert_array_equal(out.x, np.zeros((10, 2)))


def test_perturbed_gd_without_f_is_unchanged_and_validates_the_termination_arguments():
    X0 = np.tile([1.0, 0.0], (50, 1))
    # kicked at step 66, tested at 116 (f has fallen: no chain stops); the next kicks come at the minima after 117
    a = N.perturbed_gd(_saddle_grad, X0, 0.1, steps=160, seed=1)
    b = N.perturbed_gd(_saddle_grad, X0, 0.1, steps=160, seed=1, f=_saddle_f, f_thres=0.0)
    assert "stopped" not in a.info and b.info["stopped"].sum() == 0
    np.testing.assert_array_equal(a.x, b.x)
    with pytest.raises(ValueError, match="f_thres"):
        N.perturbed_gd(_saddle_grad, X0, 0.1, steps=3, f=_saddle_f)
    with pytest.raises(ValueError, match="Invalid f"):
        N.perturbed_gd(_saddle_grad, X0, 0.1, steps=3, f_thres=1e-3)
