"""gdlab.noise: simulations against closed forms (Langevin, SGD's stationary law, escape times, noise scale)."""

import math
import warnings

import numpy as np
import pytest

from gdlab import noise as N
from gdlab import problems as P

BACKENDS = ["numpy", "torch"]


def rel_err(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b))


# ------------------------------------------------------------------------------- Langevin
@pytest.mark.parametrize("backend", BACKENDS)
def test_langevin_on_a_quadratic_has_variance_t_over_a(backend):
    a, T, dt = 2.0, 0.5, 5e-3  # the step's own bias, a dt / 2 = 0.5 %, is well inside the tolerance
    out = N.langevin(N.QuadraticPotential([[a]]), 1.0, T=T, dt=dt, steps=600, n_chains=40000,
                     backend=backend, seed=1)
    assert out.x.shape == (40000, 1) and out.n_nonfinite == 0
    assert out.x.var() == pytest.approx(T / a, rel=0.03)
    assert abs(out.x.mean()) < 4 * math.sqrt(T / a / 40000)


def test_euler_maruyama_variance_has_the_discrete_correction():
    # the discretised chain's exact stationary variance is T / (a (1 - a dt / 2)): 25 % above T/a here
    a, T, dt = 2.0, 0.5, 0.2
    out = N.langevin(N.QuadraticPotential([[a]]), 0.0, T=T, dt=dt, steps=200, n_chains=40000, seed=2)
    assert out.x.var() == pytest.approx(T / (a * (1 - a * dt / 2)), rel=0.03)
    assert out.x.var() > 1.15 * T / a


def test_backends_give_the_same_statistics_on_the_double_well():
    import torch

    threads = torch.get_num_threads()
    well = N.DoubleWellPotential(height=1.0)
    stats = {}
    for backend in BACKENDS:
        out = N.langevin(well, 1.0, T=0.5, dt=5e-3, steps=600, n_chains=30000, backend=backend, seed=3)
        x = out.x[:, 0]
        stats[backend] = (np.mean(x > 0), np.mean(x ** 2), np.mean(x))
        assert out.backend == backend
    (p_np, m2_np, m_np), (p_t, m2_t, m_t) = stats["numpy"], stats["torch"]
    se_p = math.sqrt(2 * p_np * (1 - p_np) / 30000)
    assert abs(p_np - p_t) < 5 * se_p
    assert m2_np == pytest.approx(m2_t, rel=0.02)
    assert abs(m_np - m_t) < 0.03
    assert 0.55 < p_np < 0.95  # chains have started to cross the barrier, but not all
    assert torch.get_num_threads() == threads  # a small run uses one thread, then restores the setting


def test_trace_thinning_and_reproducibility():
    q = N.QuadraticPotential(np.diag([1.0, 3.0]))
    a = N.langevin(q, [1.0, -1.0], T=0.1, dt=0.01, steps=100, n_chains=50, thin=10, trace_chains=5, seed=4)
    b = N.langevin(q, [1.0, -1.0], T=0.1, dt=0.01, steps=100, n_chains=50, seed=4)
    c = N.langevin(q, [1.0, -1.0], T=0.1, dt=0.01, steps=100, n_chains=50, seed=5)
    assert a.trace.shape == (11, 5, 2) and list(a.steps_saved) == list(range(0, 101, 10))
    np.testing.assert_array_equal(a.trace[0], np.tile([1.0, -1.0], (5, 1)))
    np.testing.assert_array_equal(a.trace[-1], a.x[:5])
    np.testing.assert_array_equal(a.x, b.x)
    assert b.trace is None and not np.allclose(b.x, c.x)


def test_non_finite_chains_are_reported():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "overflow", RuntimeWarning)
        warnings.filterwarnings("ignore", "invalid value", RuntimeWarning)
        with pytest.warns(RuntimeWarning, match="non-finite"):
            out = N.langevin(N.QuadraticPotential([[10.0]]), 1.0, T=0.1, dt=0.5, steps=1000, n_chains=20)
    assert out.n_nonfinite == 20


def test_problems_convert_to_potentials():
    well = P.DoubleWell(h=1.5, tilt=0.3)
    pot = N.as_potential(well)
    X = np.linspace(-2, 2, 9)[:, None]
    np.testing.assert_allclose(pot.grad(X)[:, 0], well.grad(X[:, 0]), rtol=1e-13)
    buf = np.empty_like(X)
    Y = X.copy()
    pot.descend_(Y, 0.01, buf)
    np.testing.assert_allclose(Y[:, 0], X[:, 0] - 0.01 * well.grad(X[:, 0]), rtol=1e-13)
    q = P.Quadratic([1.0, 4.0], x_star=[1.0, -1.0], seed=3)
    pq = N.as_potential(q)
    Xq = np.random.default_rng(0).standard_normal((6, 2))
    np.testing.assert_allclose(pq.grad(Xq), np.array([q.grad(x) for x in Xq]), rtol=1e-12)


# ------------------------------------------------------------------------------- SGD's stationary law
A2 = np.array([[2.0, 0.8], [0.8, 1.0]])
C2 = np.array([[1.0, -0.3], [-0.3, 0.5]])


def test_discrete_lyapunov_solves_its_equation_and_matches_simulation():
    lr, S = 0.2, 4
    sigma = N.sgd_stationary_covariance(A2, C2, lr, batch_size=S)
    J = np.eye(2) - lr * A2
    resid = sigma - (J @ sigma @ J.T + lr ** 2 * C2 / S)
    assert np.abs(resid).max() < 1e-10 * np.abs(sigma).max()
    out = N.simulate_sgd_noise(A2, C2, lr, steps=150, batch_size=S, n_chains=40000, seed=6)
    assert rel_err(out.cov, sigma) < 0.04
    # and the simulation sees the exact law, not the first-order one (4 % apart here, in trace)
    first = N.sgd_stationary_covariance(A2, C2, lr, batch_size=S, method="first_order")
    assert abs(np.trace(out.cov) / np.trace(sigma) - 1) < abs(np.trace(first) / np.trace(sigma) - 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_dimensional_closed_forms(backend):
    a, c, lr, S = 3.0, 2.0, 0.3, 2
    exact = N.sgd_stationary_covariance([[a]], c, lr, batch_size=S)[0, 0]
    first = N.sgd_stationary_covariance([[a]], c, lr, batch_size=S, method="first_order")[0, 0]
    assert exact == pytest.approx(lr * c / (S * a * (2 - lr * a)), rel=1e-12)
    assert first == pytest.approx(lr * c / (2 * S * a), rel=1e-12)
    out = N.simulate_sgd_noise([[a]], c, lr, steps=60, batch_size=S, n_chains=40000, backend=backend, seed=7)
    assert out.x.var() == pytest.approx(exact, rel=0.03)


def test_continuous_lyapunov_is_the_first_order_limit():
    gaps = []
    for lr in (0.1, 0.01, 0.001):
        first = N.sgd_stationary_covariance(A2, C2, lr, method="first_order")
        assert np.abs(A2 @ first + first @ A2 - lr * C2).max() < 1e-12
        exact = N.sgd_stationary_covariance(A2, C2, lr)
        gaps.append(rel_err(exact, first))
    # the gap is O(lr): it shrinks tenfold with each tenfold smaller step
    assert gaps[0] > 0.02
    for g_big, g_small in zip(gaps, gaps[1:]):
        assert 0.07 < g_small / g_big < 0.13


@pytest.mark.parametrize("kw, match", [
    (dict(lr=1.2), "lr=1.2"),  # eta * lambda_max = 2.76 > 2: unstable
    (dict(lr=-0.1), "lr=-0.1"),
    (dict(lr=0.1, batch_size=0), "batch_size=0"),
    (dict(lr=0.1, method="euler"), "method='euler'"),
])
def test_stationary_covariance_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        N.sgd_stationary_covariance(A2, C2, **kw)


def test_first_order_needs_positive_definite_a():
    with pytest.raises(ValueError, match="positive definite"):
        N.sgd_stationary_covariance(np.diag([1.0, -0.5]), np.eye(2), 0.1, method="first_order")


# ------------------------------------------------------------------------------- SGLD
@pytest.mark.parametrize("kw, match", [
    (dict(a=0.1, gamma=0.5), "gamma=0.5"),
    (dict(a=0.1, gamma=1.2), "gamma=1.2"),
    (dict(a=0.0), "a=0.0"),
    (dict(a=0.1, b=-1.0), "b=-1.0"),
])
def test_sgld_schedule_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        N.SGLDSchedule(**kw)


def test_sgld_schedule_values():
    sch = N.SGLDSchedule(a=0.3, b=5.0, gamma=1.0)
    assert sch(1) == pytest.approx(0.3 / 6) and sch(10) == pytest.approx(0.3 / 15)
    t = np.arange(1, 10001)
    eps = N.SGLDSchedule(a=1.0, b=0.0, gamma=0.55)(1) * t ** -0.55
    assert eps.sum() > 50 * eps[:10].sum() / 10 and np.sum(eps ** 2) < 10  # sum diverges, squares converge


def test_sgld_samples_a_gaussian_posterior():
    m, s2 = 1.5, 0.04
    sch = N.SGLDSchedule(a=0.02, b=10.0, gamma=0.55)
    out = N.sgld(lambda th: -(th - m) / s2, 0.0, sch, steps=1500, n_chains=20000, seed=8)
    assert out.x.mean() == pytest.approx(m, abs=0.01)
    assert out.x.var() == pytest.approx(s2, rel=0.05)


# ------------------------------------------------------------------------------- escape from a well
def test_first_passage_matches_the_exact_mean_and_needs_the_bridge():
    well = N.DoubleWellPotential(height=1.0)
    T = 0.5
    exact = N.mean_first_passage_time(well.value, T, x0=1.0, level=0.0, far=4.0)
    kw = dict(T=T, dt=1e-2, max_steps=15000, n_chains=4000, seed=9)
    fp = N.first_passage(well, 1.0, 0.0, **kw)
    assert fp.n_censored == 0
    assert fp.mean == pytest.approx(exact, rel=0.05)
    naive = N.first_passage(well, 1.0, 0.0, bridge=False, **kw).mean
    assert naive > 1.06 * exact  # looking only at step ends misses crossings of the barrier top


def test_exact_passage_time_tends_to_kramers():
    well = N.DoubleWellPotential(height=1.0)
    ratios = []
    for barrier_over_t in (3.0, 6.0, 10.0):
        T = 1.0 / barrier_over_t
        exact = N.mean_first_passage_time(well.value, T, x0=1.0, level=-1.0, far=3.0, n_grid=100001)
        ratios.append(exact / well.kramers_time(T))
    assert ratios[0] > ratios[1] > ratios[2] > 1.0
    assert ratios[-1] < 1.06 and ratios[0] > 1.1


def test_passage_time_quadrature_against_a_closed_form():
    # U = 0 on [level, far] with reflection at far: tau(x0) = (x0 - l)(2 far - x0 - l) / (2 T)
    T, lo, x0, far = 0.7, 0.0, 1.0, 3.0
    tau = N.mean_first_passage_time(lambda x: np.zeros_like(x), T, x0, lo, far)
    assert tau == pytest.approx((x0 - lo) * (2 * far - x0 - lo) / (2 * T), rel=1e-6)
    mirrored = N.mean_first_passage_time(lambda x: np.zeros_like(x), T, -x0, -lo, -far)
    assert mirrored == pytest.approx(tau, rel=1e-9)


# ------------------------------------------------------------------------------- noise scale
@pytest.fixture(scope="module")
def ls():
    return P.LeastSquares.random(n=4000, d=5, seed=0, noise=1.0)


def test_direct_noise_scale_from_per_example_gradients(ls):
    x = 0.5 * ls.x_star
    ns = N.gradient_noise_scale(ls, x)
    g = ls.grad_examples(x)
    G = ls.grad(x)
    assert ns.g2 == pytest.approx(G @ G, rel=1e-12)
    assert ns.tr_sigma == pytest.approx(np.trace(np.cov(g, rowvar=False, ddof=0)), rel=1e-10)
    # E|G_B - G|^2 / |G|^2 = B_simple / B for batches drawn with replacement
    rng = np.random.default_rng(0)
    B = 16
    err = [np.sum((ls.grad_batch(x, rng.integers(0, ls.n, B)) - G) ** 2) for _ in range(3000)]
    assert np.mean(err) / (G @ G) == pytest.approx(ns.b_simple / B, rel=0.08)


def test_two_batch_estimator_agrees_with_the_direct_one(ls):
    x = 0.5 * ls.x_star
    direct = N.gradient_noise_scale(ls, x)
    est = N.noise_scale_two_batch(ls, x, b_small=4, b_big=64, repeats=2000, seed=1)
    assert est.b_simple == pytest.approx(direct.b_simple, rel=0.1)
    assert est.tr_sigma == pytest.approx(direct.tr_sigma, rel=0.1)
    assert est.g2 == pytest.approx(direct.g2, rel=0.1)


def test_two_batch_formulas_invert_the_expected_norms():
    g2, tr = 0.7, 12.0
    for bs, bb in [(1, 2), (8, 128), (32, 33)]:
        est = N.two_batch_estimate(g2 + tr / bs, g2 + tr / bb, bs, bb)
        assert est.g2 == pytest.approx(g2, rel=1e-10) and est.tr_sigma == pytest.approx(tr, rel=1e-10)
    with pytest.raises(ValueError, match="b_big=8"):
        N.two_batch_estimate(1.0, 1.0, 8, 8)


# ------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("call, match", [
    (lambda: N.langevin(N.DoubleWellPotential(), 0.0, T=0.1, dt=0.01, steps=10, backend="jax"), "backend='jax'"),
    (lambda: N.langevin(N.DoubleWellPotential(), 0.0, T=-0.1, dt=0.01, steps=10), "T=-0.1"),
    (lambda: N.langevin(N.DoubleWellPotential(), 0.0, T=0.1, dt=0.0, steps=10), "dt=0.0"),
    (lambda: N.langevin(N.DoubleWellPotential(), 0.0, T=0.1, dt=0.01, steps=10, n_chains=0), "n_chains=0"),
    (lambda: N.langevin(N.DoubleWellPotential(), 0.0, T=0.1, dt=0.01, steps=10, thin=0), "thin=0"),
    (lambda: N.langevin(N.DoubleWellPotential(), [0.0, 1.0], T=0.1, dt=0.01, steps=10, n_chains=3), "x0"),
    (lambda: N.DoubleWellPotential(height=-1.0), "height=-1.0"),
    (lambda: N.QuadraticPotential([[1.0, 2.0], [0.0, 1.0]]), "symmetric"),
    (lambda: N.first_passage(N.DoubleWellPotential(), 1.0, 1.0, 0.5, 0.01, 10), "level=1.0"),
    (lambda: N.mean_first_passage_time(np.square, 0.5, x0=1.0, level=0.0, far=0.5), "far=0.5"),
    (lambda: N.sgld(lambda th: -th, 0.0, 0.1, steps=10), "schedule"),
])
def test_invalid_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------ perturbed gradient descent
def _strict_saddle_grad(X):
    """f(x, y) = x^2/2 - y^2/2 + y^4/4: a strict saddle at 0, minima at (0, +-1)."""
    return np.stack([X[:, 0], X[:, 1] ** 3 - X[:, 1]], axis=1)


def test_perturbed_gd_leaves_a_strict_saddle_that_gradient_descent_converges_to():
    X0 = np.tile([1.0, 0.0], (400, 1))
    plain = X0.copy()
    for _ in range(300):
        plain = plain - 0.1 * _strict_saddle_grad(plain)
    assert np.all(plain[:, 1] == 0.0) and np.abs(plain).max() < 1e-12    # stuck at the saddle
    out = N.perturbed_gd(_strict_saddle_grad, X0, 0.1, steps=300, seed=0)
    assert out.n_nonfinite == 0 and np.all(out.info["kicks"] >= 1)
    assert np.all(np.abs(np.abs(out.x[:, 1]) - 1) < 0.05) and np.all(np.abs(out.x[:, 0]) < 0.05)
    assert abs(np.mean(out.x[:, 1] > 0) - 0.5) < 4 * math.sqrt(0.25 / 400)   # both minima, by symmetry


def test_perturbed_gd_kicks_at_most_once_per_t_thres_plus_one_steps():
    # on a quadratic whose gradient never exceeds g_thres near the minimum, a chain started there is
    # kicked at k = 0, t_thres + 1, 2 (t_thres + 1), ...: 4 kicks in 200 steps for t_thres = 50
    out = N.perturbed_gd(N.QuadraticPotential(np.eye(2)), np.zeros((30, 2)), 0.5, steps=200, g_thres=1.0,
                         t_thres=50, radius=1e-2, seed=1, thin=1)
    np.testing.assert_array_equal(out.info["kicks"], 4)
    assert np.abs(out.trace).max() <= 1e-2 + 1e-15            # the descent undoes every kick
    assert out.trace.shape == (201, 30, 2) and out.steps_saved[-1] == 200


def test_perturbed_gd_kicks_are_uniform_in_the_ball():
    d, r, n = 3, 0.2, 20000
    flat = N.CallablePotential(lambda X: np.zeros_like(X), d)
    out = N.perturbed_gd(flat, np.zeros((n, d)), 1.0, steps=1, radius=r, seed=2)
    norms = np.linalg.norm(out.x, axis=1)
    assert norms.max() <= r * (1 + 1e-12)
    u = (norms / r) ** d                                     # uniform on [0, 1] for a uniform draw in the ball
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / n)
    assert np.all(np.abs(out.x.mean(axis=0)) < 4 * r / math.sqrt(n))


@pytest.mark.parametrize("kw, match", [
    (dict(lr=0.0), "lr=0.0"), (dict(radius=-1.0), "radius=-1.0"), (dict(t_thres=-1), "t_thres=-1"),
    (dict(steps=1.5), "steps=1.5"), (dict(g_thres=float("nan")), "g_thres=nan"),
])
def test_perturbed_gd_rejects_invalid_arguments(kw, match):
    args = dict(lr=0.1, steps=5) | kw
    with pytest.raises(ValueError, match=match):
        N.perturbed_gd(_strict_saddle_grad, np.zeros((2, 2)), **args)


def test_perturbed_gd_reports_non_finite_chains():
    with np.errstate(over="ignore", invalid="ignore"), pytest.warns(RuntimeWarning, match="non-finite"):
        out = N.perturbed_gd(N.QuadraticPotential([[1.0]]), np.ones((5, 1)), 3.0, steps=2000)
    assert out.n_nonfinite == 5
