"""gdlab.runner, gdlab.theory and gdlab.plot, on cases solved by hand."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gdlab import plot, runner, theory  # noqa: E402
from gdlab import problems as P  # noqa: E402
from gdlab.optim import numpy as gnp  # noqa: E402


def gd(alpha):
    return lambda x, g, k: x - alpha * g


# ------------------------------------------------------------------------------------------- runner
@pytest.mark.parametrize("lam, alpha", [(4.0, 0.1), (4.0, 0.4), (2.0, 0.75)])
def test_trace_of_gd_on_a_1d_quadratic_solved_by_hand(lam, alpha):
    # f(x) = lam/2 (x - 3)^2 + 1:  x_k - 3 = (1 - alpha lam)^k (x_0 - 3)
    p = P.Quadratic([lam], x_star=[3.0], f_star=1.0)
    x0, K = 5.0, 12
    tr = runner.run(p, gnp.SGD(lr=alpha), x0=[x0], steps=K)
    k = np.arange(K + 1)
    e = (1 - alpha * lam) ** k * (x0 - 3.0)
    assert tr.xs.shape == (K + 1, 1) and not tr.diverged and tr.steps == K
    np.testing.assert_allclose(tr.xs[:, 0], 3.0 + e, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(tr.fs, 1.0 + 0.5 * lam * e**2, rtol=1e-13)
    np.testing.assert_allclose(tr.f_gap, 0.5 * lam * e**2, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(tr.dist_sq, e**2, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(tr.grad_norms, lam * np.abs(e), rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(tr.lrs, np.full(K, alpha))
    np.testing.assert_allclose(tr.min_grad_sq(), np.minimum.accumulate((lam * e) ** 2), rtol=1e-12)


def test_plain_function_method_and_step_index():
    p = P.Quadratic([1.0])
    seen = []

    def method(x, g, k):
        seen.append(k)
        return x - 0.5 * g

    tr = runner.run(p, method, x0=[2.0], steps=4)
    assert seen == [0, 1, 2, 3] and tr.lrs is None
    np.testing.assert_allclose(tr.xs[:, 0], 2.0 * 0.5 ** np.arange(5))
    assert runner.run(p, method, steps=0).xs.shape == (1, 1)


def test_oracle_feeds_the_method_but_true_gradients_are_recorded():
    p = P.Quadratic([2.0])
    tr = runner.run(p, gd(0.25), x0=[1.0], steps=3, oracle=lambda x, k: np.array([1.0]))
    np.testing.assert_allclose(tr.xs[:, 0], [1.0, 0.75, 0.5, 0.25])
    np.testing.assert_allclose(tr.grad_norms, 2.0 * tr.xs[:, 0])


def test_divergence_is_detected_and_nothing_non_finite_is_recorded():
    p = P.Quadratic([1.0, 10.0])
    tr = runner.run(p, gnp.SGD(lr=0.25), steps=10_000)  # alpha > 2/L = 0.2
    assert tr.diverged and tr.steps < 10_000 and "exceeded" in tr.reason
    assert np.all(np.isfinite(tr.xs)) and np.all(np.isfinite(tr.fs))
    assert len(tr.lrs) == tr.steps and len(tr.fs) == tr.steps + 1
    # |1 - 0.25 * 10| = 1.5: the error grows by 1.5 per step along the steep direction
    assert tr.dist_sq[-1] / tr.dist_sq[-2] == pytest.approx(1.5**2, rel=1e-6)
    ok = runner.run(p, gnp.SGD(lr=0.19), steps=200)
    assert not ok.diverged and ok.reason == ""


def test_non_finite_step_is_reported():
    p = P.Quadratic([1.0])
    tr = runner.run(p, lambda x, g, k: x - g if k < 2 else x * np.nan, x0=[1.0], steps=10)
    assert tr.diverged and "non-finite" in tr.reason and tr.steps == 2
    assert np.all(np.isfinite(tr.xs))


@pytest.mark.parametrize("kwargs, word", [
    (dict(steps=-1), "steps"),
    (dict(steps=2.5), "steps"),
    (dict(x0=[0.0, 1.0]), "x0"),
    (dict(x0=[np.inf]), "x0"),
    (dict(blowup=0.5), "blowup"),
])
def test_runner_validates_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        runner.run(P.Quadratic([1.0]), gd(0.1), **kwargs)


# ------------------------------------------------------------------------------------------- theory
def test_bounds_on_cases_solved_by_hand():
    assert theory.gd_convex_bound(4, L=2.0, r0_sq=3.0) == pytest.approx(0.75)
    assert theory.gd_convex_bound(0, L=2.0, r0_sq=3.0) == math.inf
    np.testing.assert_allclose(theory.gd_convex_bound(np.array([1, 2, 3]), 6.0, 1.0), [3.0, 1.5, 1.0])
    # L = 4, mu = 1: alpha = 1/L gives (3/4)^k; alpha = 2/5 gives (3/5)^(2k)
    assert theory.gd_strongly_convex_bound(2, 4.0, 1.0, 2.0) == pytest.approx(2 * 0.5625)
    assert theory.gd_strongly_convex_bound(1, 4.0, 1.0, 1.0, alpha=0.4) == pytest.approx(0.36)
    assert theory.gd_strongly_convex_bound(3, 4.0, 1.0, 1.0, alpha=0.1) == pytest.approx(0.9**6)
    assert theory.gd_contraction(0.4, 4.0, 1.0) == pytest.approx(0.6) == theory.gd_rate(4.0)
    assert theory.gd_contraction(0.45, 4.0, 1.0) == pytest.approx(0.8)
    assert theory.gd_nonconvex_bound(5, L=3.0, gap0=2.5) == pytest.approx(3.0)
    assert theory.gd_rate(1.0) == 0.0 and theory.gd_rate(9.0) == pytest.approx(0.8)
    assert theory.gd_decrease_coefficient(0.25, 2.0) == pytest.approx(0.1875)
    assert theory.gd_decrease_coefficient(1.0, 2.0) == 0.0


@pytest.mark.parametrize("call, word", [
    (lambda: theory.gd_convex_bound(3, L=0.0, r0_sq=1.0), "L"),
    (lambda: theory.gd_convex_bound(-1, L=1.0, r0_sq=1.0), "k"),
    (lambda: theory.gd_convex_bound(1.5, L=1.0, r0_sq=1.0), "k"),
    (lambda: theory.gd_convex_bound(1, L=1.0, r0_sq=-1.0), "r0_sq"),
    (lambda: theory.gd_strongly_convex_bound(1, L=1.0, mu=2.0, r0_sq=1.0), "mu"),
    (lambda: theory.gd_strongly_convex_bound(1, L=1.0, mu=0.0, r0_sq=1.0), "mu"),
    (lambda: theory.gd_strongly_convex_bound(1, L=1.0, mu=0.5, r0_sq=1.0, alpha=2.0), "alpha"),
    (lambda: theory.gd_nonconvex_bound(1, L=1.0, gap0=float("nan")), "gap0"),
    (lambda: theory.gd_rate(0.5), "kappa"),
    (lambda: theory.gd_contraction(-0.1, 1.0, 0.5), "alpha"),
])
def test_theory_validates_arguments(call, word):
    with pytest.raises(ValueError, match=word):
        call()


def test_bounds_hold_at_every_step_and_the_optimal_factor_is_attained():
    q = P.Quadratic.with_condition(6, L=10.0, mu=0.5, seed=1)
    K = 150
    k = np.arange(K + 1)
    r0 = float(np.sum((q.x0 - q.x_star) ** 2))
    tr = runner.run(q, gd(1 / q.L), steps=K)
    assert np.all(tr.f_gap <= theory.gd_convex_bound(k, q.L, r0) * (1 + 1e-12))
    assert np.all(tr.dist_sq <= theory.gd_strongly_convex_bound(k, q.L, q.mu, r0) * (1 + 1e-12))
    gap0 = tr.f_gap[0]
    assert np.all(tr.min_grad_sq()[:-1] <= theory.gd_nonconvex_bound(k[1:], q.L, gap0))
    a = 2 / (q.mu + q.L)
    tr2 = runner.run(q, gd(a), steps=K)
    bound = theory.gd_strongly_convex_bound(k, q.L, q.mu, r0, alpha=a)
    assert np.all(tr2.dist_sq <= bound * (1 + 1e-9))
    # the extreme eigenvectors both contract by exactly (kappa-1)/(kappa+1): the bound is tight
    ratio = (tr2.dist_sq[-1] / tr2.dist_sq[-2]) ** 0.5
    assert ratio == pytest.approx(theory.gd_rate(q.kappa), rel=1e-6)


# --------------------------------------------------------------------------------------------- plot
def test_plots_return_axes_with_the_curves_drawn():
    q = P.Quadratic.with_condition(2, L=5.0, mu=1.0)
    tr = runner.run(q, gd(0.2), steps=20)
    ax = plot.contours(q, {"GD": tr})
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert "GD" in labels and ax.collections  # the path and the level sets
    path = [ln for ln in ax.get_lines() if ln.get_label() == "GD"][0]
    np.testing.assert_allclose(path.get_xydata(), tr.xs)
    k = np.arange(21)
    ax2 = plot.convergence({"GD": tr.f_gap}, {"GD": theory.gd_convex_bound(k, q.L, 2.0), "other": k + 1.0})
    lines = {ln.get_label(): ln for ln in ax2.get_lines()}
    assert lines["GD (bound)"].get_linestyle() == "--"
    assert lines["GD (bound)"].get_color() == lines["GD"].get_color() != lines["other"].get_color()
    assert ax2.get_yscale() == "log"
    with pytest.raises(ValueError, match="dim"):
        plot.contours(P.Quadratic([1.0, 2.0, 3.0]), {})
    plt.close("all")


# ---------------------------------------------------------------------------- heavy ball, acceleration
def test_heavy_ball_tuning_solved_by_hand():
    # L = 25, mu = 1: alpha = (2/(5+1))^2 = 1/9, beta = ((5-1)/(5+1))^2 = 4/9, rate 2/3
    t = theory.heavy_ball_tuning(25.0, 1.0)
    assert t.alpha == pytest.approx(1 / 9, rel=1e-15) and t.beta == pytest.approx(4 / 9, rel=1e-15)
    assert t.rate == pytest.approx(2 / 3, rel=1e-15)
    alpha, beta, rate = theory.heavy_ball_tuning(4.0, 4.0)  # kappa = 1: one step, no momentum
    assert (alpha, beta, rate) == (0.25, 0.0, 0.0)
    # at the optimum both extreme eigenvalues sit on the circle |z| = sqrt(beta)
    for lam in (1.0, 25.0):
        assert theory.spectral_radius(t.alpha, t.beta, lam) == pytest.approx(2 / 3, rel=1e-7)
    assert theory.heavy_ball_rate(t.alpha, t.beta, 25.0, 1.0) == pytest.approx(t.rate, rel=1e-7)


def test_heavy_ball_matrix_moves_the_error_pair():
    # one step of the heavy ball on f = lam/2 x^2 from (x_k, x_{k-1}) = (1, 3):
    # x_{k+1} = x_k - a lam x_k + b (x_k - x_{k-1})
    a, b, lam = 0.3, 0.6, 2.0
    T = theory.heavy_ball_matrix(a, b, lam)
    np.testing.assert_array_equal(T, [[1 + b - a * lam, -b], [1.0, 0.0]])
    np.testing.assert_allclose(T @ [1.0, 3.0], [1.0 - 0.6 + 0.6 * (1.0 - 3.0), 1.0], rtol=1e-15)
    with pytest.raises(ValueError, match="scalar"):
        theory.heavy_ball_matrix(np.array([0.1, 0.2]), b, lam)


@pytest.mark.parametrize("alpha, beta, lam", [(0.3, 0.5, 1.0), (3.5, 0.9, 1.0), (2.2, 0.0, 1.0), (0.01, 0.5, 1.0),
                                              (0.1, 0.81, 0.1), (0.05, 0.3, 60.0), (1.0, 0.0, 0.0)])
def test_spectral_radius_is_that_of_the_matrix(alpha, beta, lam):
    # (0.1, 0.81, 0.1) is critical damping, a double root: eigvals then carries errors of order sqrt(eps)
    expected = np.abs(np.linalg.eigvals(theory.heavy_ball_matrix(alpha, beta, lam))).max()
    assert theory.spectral_radius(alpha, beta, lam) == pytest.approx(expected, rel=1e-7)
    if lam > 0:  # with lam = 1 the first argument is h itself
        assert theory.spectral_radius(alpha * lam, beta) == pytest.approx(expected, rel=1e-7)


def test_spectral_radius_regimes_and_stability_edge():
    beta = np.array([0.0, 0.25, 0.5, 0.9])
    edge = 2 + 2 * beta
    assert np.all(theory.spectral_radius(0.999 * edge, beta) < 1)
    assert np.all(theory.spectral_radius(1.001 * edge, beta) > 1)
    # between (1 - sqrt b)^2 and (1 + sqrt b)^2 the roots are complex with modulus sqrt(b)
    h = np.linspace((1 - 0.5) ** 2, (1 + 0.5) ** 2, 7)[1:-1]
    np.testing.assert_allclose(theory.spectral_radius(h, 0.25), 0.5, rtol=1e-12)
    # broadcasting: a grid of steps against a column of momenta
    R = theory.spectral_radius(np.linspace(0.1, 3, 5), beta[:, None])
    assert R.shape == (4, 5)
    # the worst eigenvalue of [mu, L] is an extreme one
    lam = np.linspace(0.2, 5.0, 201)
    for a, b in [(0.3, 0.4), (0.7, 0.1), (0.05, 0.9)]:
        brute = theory.spectral_radius(a, b, lam).max()
        assert theory.heavy_ball_rate(a, b, 5.0, 0.2) == pytest.approx(brute, rel=1e-12)


def test_heavy_ball_rate_is_measured_on_a_quadratic():
    q = P.Quadratic.with_condition(8, L=1.0, mu=0.01, seed=2)
    a, b, rate = theory.heavy_ball_tuning(q.L, q.mu)
    tr = runner.run(q, gnp.SGD(lr=a, momentum=b, momentum_form="polyak"), steps=600)
    measured = (tr.dist_sq[600] / tr.dist_sq[300]) ** (1 / 600)
    assert measured == pytest.approx(rate, rel=0.02)
    gd_rate = (runner.run(q, gnp.SGD(lr=2 / (q.L + q.mu)), steps=600).dist_sq[[300, 600]])
    assert measured < (gd_rate[1] / gd_rate[0]) ** (1 / 600)


def test_nesterov_bound_and_the_lower_bound_by_hand():
    assert theory.nesterov_convex_bound(0, L=2.0, r0_sq=3.0) == pytest.approx(12.0)
    np.testing.assert_allclose(theory.nesterov_convex_bound(np.array([1, 3]), 2.0, 3.0), [3.0, 0.75])
    assert theory.first_order_lower_bound(1, L=4.0, r0_sq=8.0) == pytest.approx(3 * 4 * 8 / (32 * 4))
    np.testing.assert_allclose(theory.first_order_lower_bound(np.arange(3), 1.0, 1.0, dim=5),
                               3 / (32 * np.arange(1, 4) ** 2.0))
    # the ratio of the two is 64/3 at every k
    k = np.arange(50)
    np.testing.assert_allclose(theory.nesterov_convex_bound(k, 1.0, 1.0) / theory.first_order_lower_bound(k, 1.0, 1.0),
                               64 / 3, rtol=1e-14)


@pytest.mark.parametrize("call, word", [
    (lambda: theory.heavy_ball_tuning(1.0, 2.0), "mu"),
    (lambda: theory.heavy_ball_tuning(0.0, 0.0), "L"),
    (lambda: theory.spectral_radius(0.1, 1.0), "beta"),
    (lambda: theory.spectral_radius(-0.1, 0.5), "alpha"),
    (lambda: theory.spectral_radius(0.1, 0.5, lam=float("nan")), "lam"),
    (lambda: theory.heavy_ball_rate(0.1, 0.5, L=1.0, mu=3.0), "mu"),
    (lambda: theory.nesterov_convex_bound(2, L=-1.0, r0_sq=1.0), "L"),
    (lambda: theory.first_order_lower_bound(3, 1.0, 1.0, dim=6), "dim=6"),
    (lambda: theory.first_order_lower_bound(1, 1.0, 1.0, dim=0), "dim"),
])
def test_acceleration_theory_validates_arguments(call, word):
    with pytest.raises(ValueError, match=word):
        call()


# ------------------------------------------------------------------------------------ scheduled runs
def test_scheduled_method_follows_the_schedule():
    from gdlab import schedules as S
    p = P.Quadratic([1.0, 3.0], seed=0)
    sched = S.StepDecay(lr=0.3, step_size=4, gamma=0.5)
    m = runner.scheduled(gnp.SGD(lr=99.0, momentum=0.5), sched)
    tr = runner.run(p, m, steps=12)
    np.testing.assert_array_equal(tr.lrs, [sched(k) for k in range(12)])
    # the same iterates as setting lr by hand before every step
    opt, x, xs = gnp.SGD(lr=0.0, momentum=0.5), p.x0.copy(), [p.x0.copy()]
    for k in range(12):
        opt.lr = sched(k)
        x = opt(x, p.grad(x))
        xs.append(x)
    np.testing.assert_allclose(tr.xs, np.array(xs), rtol=1e-14, atol=1e-15)
    # a second run starts from fresh optimizer state
    np.testing.assert_array_equal(runner.run(p, m, steps=12).xs, tr.xs)


@pytest.mark.parametrize("bad, word", [(lambda k: float("nan"), "lr=nan"), (lambda k: -0.1, "lr=-0.1")])
def test_scheduled_rejects_bad_step_sizes(bad, word):
    m = runner.scheduled(gnp.SGD(lr=0.1), bad)
    with pytest.raises(ValueError, match=word):
        runner.run(P.Quadratic([1.0]), m, steps=3)
    with pytest.raises(ValueError, match="schedule"):
        runner.scheduled(gnp.SGD(lr=0.1), 0.1)
    with pytest.raises(ValueError, match="optimizer"):
        runner.scheduled(lambda x, g, k: x, lambda k: 0.1)


def test_runner_uses_values_a_method_already_has():
    p = P.Quadratic([1.0, 4.0], seed=1)
    calls = {"f": 0, "grad": 0}
    f0, g0 = p.f, p.grad

    class Counted:
        dim, f_star, x_star, x0 = p.dim, p.f_star, p.x_star, p.x0

        def f(self, x):
            calls["f"] += 1
            return f0(x)

        def grad(self, x):
            calls["grad"] += 1
            return g0(x)

    class Remembers:  # a gradient step that evaluates f and grad at the point it returns
        def values_at(self, x):
            return (f0(self.x), g0(self.x)) if np.array_equal(x, self.x) else None

        def __call__(self, x, g, k):
            self.x = x - 0.2 * g
            return self.x

    tr = runner.run(Counted(), Remembers(), steps=5)
    assert calls == {"f": 1, "grad": 1}  # only at x_0
    ref = runner.run(p, gd(0.2), steps=5)
    np.testing.assert_array_equal(tr.fs, ref.fs)
    np.testing.assert_array_equal(tr.grad_norms, ref.grad_norms)
