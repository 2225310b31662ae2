"""The constants of the step-size chapter's theorems in gdlab.linesearch, against brute force on the instances where
they are exact (book/deterministic/step-size.ipynb checks them there too)."""

import math

import numpy as np
import pytest

from gdlab import linesearch as LS
from gdlab import problems, runner


def scalar(L):
    return problems.Quadratic([L])


@pytest.mark.parametrize("L, c, rho", [(4.0, 1e-4, 0.5), (1.0, 0.3, 0.7), (25.0, 0.6, 0.2)])
def test_armijo_floor_and_count_are_attained_on_the_scalar_quadratic(L, c, rho):
    p = scalar(L)
    x, edge = np.array([1.0]), 2 * (1 - c) / L  # every step <= edge passes, every step above fails
    g = p.grad(x)
    for j in range(6):
        for side in (1 - 1e-3, 1 + 1e-3):
            a0 = side * edge / rho**j
            r = LS.armijo(p.f, x, -g, g, alpha0=a0, c=c, beta=rho)
            assert r.nfev - 1 == LS.armijo_max_trials(L, c, rho, a0)  # nfev counts f(x) too
            assert r.step >= LS.armijo_floor(L, c, rho, a0) * (1 - 1e-15)
    r = LS.armijo(p.f, x, -g, g, alpha0=(1 + 1e-9) * edge, c=c, beta=rho)
    assert r.step == pytest.approx(LS.armijo_floor(L, c, rho, (1 + 1e-9) * edge), rel=1e-8)


@pytest.mark.parametrize("c2", [0.1, 0.5, 0.9])
def test_wolfe_floor_is_the_edge_of_the_curvature_condition(c2):
    L = 3.0
    p, x = scalar(L), np.array([2.0])
    g = p.grad(x)
    floor = LS.wolfe_floor(L, c2)
    slope = lambda a: float(p.grad(x - a * g) @ -g)
    assert slope(floor * (1 + 1e-9)) >= c2 * slope(0.0) > slope(floor * (1 - 1e-9))
    # along another direction the floor scales with |g'd| / ||d||^2
    d = np.array([-0.5])
    assert LS.wolfe_floor(L, c2, slope=float(g @ d), d_sq=float(d @ d)) == pytest.approx((1 - c2) * 12 / L)  # abs(g.d) = 3, d.d = 1/4


def test_exact_search_rate_is_attained_from_the_worst_start():
    q = problems.Quadratic.with_condition(2, L=8.0, mu=0.5, seed=4)
    x0 = q.x_star + q.Q @ (1 / q.eigenvalues)
    tr = runner.run(q, LS.gd_with(q, "exact"), x0=x0, steps=12)
    np.testing.assert_allclose(tr.f_gap[1:] / tr.f_gap[:-1], LS.exact_search_rate(q.L, q.mu), rtol=1e-12)
    assert LS.exact_search_rate(q.L, q.mu) == pytest.approx(((16 - 1) / (16 + 1)) ** 2)


def test_polyak_floor_and_contraction():
    p = scalar(5.0)
    assert LS.polyak(p.f(np.array([3.0])), p.grad(np.array([3.0])), 0.0).step == pytest.approx(LS.polyak_step_floor(5.0))
    q = problems.Quadratic.with_condition(10, L=1.0, mu=0.02, seed=2)
    kap = q.kappa
    e = math.sqrt(kap / (kap + 1)) * q.Q[:, 0] + math.sqrt(1 / (kap + 1)) * q.Q[:, -1]
    tr = runner.run(q, LS.gd_with(q, "polyak"), x0=q.x_star + e, steps=1)
    factor = tr.dist_sq[1] / tr.dist_sq[0]
    assert factor == pytest.approx(1 - 3 * kap / (kap + 1) ** 2, rel=1e-12)  # the worst step on a quadratic
    rng = np.random.default_rng(0)
    for _ in range(200):  # no start does worse (Kantorovich), and the theorem's bound holds with room
        x0 = q.x_star + rng.standard_normal(q.dim) * rng.exponential(size=q.dim)
        tr = runner.run(q, LS.gd_with(q, "polyak"), x0=x0, steps=1)
        assert tr.dist_sq[1] / tr.dist_sq[0] <= factor * (1 + 1e-12) <= LS.polyak_contraction(q.L, q.mu)


@pytest.mark.parametrize("call, name", [
    (lambda: LS.armijo_floor(1.0, c=1.0), "c"),
    (lambda: LS.armijo_max_trials(1.0, beta=1.0), "beta"),
    (lambda: LS.armijo_floor(0.0), "L"),
    (lambda: LS.wolfe_floor(1.0, c2=0.0), "c2"),
    (lambda: LS.wolfe_floor(1.0, slope=-1.0), "d_sq"),
    (lambda: LS.exact_search_rate(1.0, 2.0), "mu"),
    (lambda: LS.polyak_contraction(1.0, 0.0), "mu"),
])
def test_guarantees_refuse_bad_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()
