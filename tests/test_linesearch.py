"""gdlab.linesearch: each step meets its conditions; strong Wolfe agrees with scipy; adapters."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import line_search, rosen, rosen_der

from gdlab import linesearch as LS
from gdlab.problems import Quadratic
from gdlab.runner import run

RNG = np.random.default_rng(0)
_M = RNG.standard_normal((6, 6))
_A = _M @ _M.T + 0.1 * np.eye(6)
_b = RNG.standard_normal(6)
_X = RNG.standard_normal((40, 5))
_y = (RNG.random(40) < 0.5).astype(float)


def _quad(A, b):
    return (lambda x: 0.5 * x @ A @ x - b @ x), (lambda x: A @ x - b)


def _logistic(w):
    z = _X @ w
    return np.mean(np.logaddexp(0, z) - _y * z) + 0.005 * w @ w


def _logistic_grad(w):
    z = _X @ w
    return _X.T @ (1 / (1 + np.exp(-z)) - _y) / len(_y) + 0.01 * w


def _quartic(x):
    return np.sum(x ** 4) + 0.5 * np.sum(x ** 2) + x[0] * x[1]


def _quartic_grad(x):
    return 4 * x ** 3 + x + np.r_[x[1], x[0], np.zeros(len(x) - 2)]


# (name, f, grad, x): directions are -grad(x)
FUNCTIONS = [
    ("rosenbrock-classic", rosen, rosen_der, np.array([-1.2, 1.0])),
    ("rosenbrock-origin", rosen, rosen_der, np.array([0.0, 0.0])),
    ("rosenbrock-4d", rosen, rosen_der, np.array([-0.5, 1.5, 0.3, 2.0])),
    ("quadratic", *_quad(_A, _b), np.linspace(-1, 1, 6)),
    ("quadratic-stiff", *_quad(100 * _A, _b), np.linspace(1, -2, 6)),
    ("logistic", _logistic, _logistic_grad, np.array([3.0, -2.0, 1.0, 4.0, -1.0])),
    ("quartic", _quartic, _quartic_grad, np.array([1.5, -2.0, 0.7])),
]
IDS = [c[0] for c in FUNCTIONS]


@pytest.mark.parametrize("name,f,grad,x", FUNCTIONS, ids=IDS)
def test_strong_wolfe_matches_scipy_and_meets_its_conditions(name, f, grad, x):
    g = grad(x)
    d = -g
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, fc, gc, *_ = line_search(f, grad, x, d, gfk=g, old_fval=f(x))
    assert ref is not None
    r = LS.wolfe(f, grad, x, d, g, f0=f(x))
    assert r.success and r.step == pytest.approx(ref, rel=1e-5)
    assert (r.nfev, r.ngev) == (fc, gc)  # the same search, trial for trial
    c1, c2, s0 = 1e-4, 0.9, g @ d
    assert f(x + r.step * d) <= f(x) + c1 * r.step * s0
    assert abs(grad(x + r.step * d) @ d) <= c2 * abs(s0)
    np.testing.assert_allclose(r.g_new, grad(x + r.step * d), rtol=1e-14)


@pytest.mark.parametrize("name,f,grad,x", FUNCTIONS, ids=IDS)
@pytest.mark.parametrize("c2", [0.1, 0.5])
def test_wolfe_weak_and_strong_conditions_hold(name, f, grad, x, c2):
    g = grad(x)
    d = -g
    for strong in (False, True):
        for a0 in (1e-4, 1.0, 10.0):
            r = LS.wolfe(f, grad, x, d, g, alpha0=a0, c2=c2, strong=strong, max_iter=60)
            assert r.success
            s = grad(x + r.step * d) @ d
            assert f(x + r.step * d) <= f(x) + 1e-4 * r.step * (g @ d)
            assert (abs(s) <= c2 * abs(g @ d)) if strong else (s >= c2 * (g @ d))


@pytest.mark.parametrize("name,f,grad,x", FUNCTIONS, ids=IDS)
def test_armijo_condition_and_count(name, f, grad, x):
    calls = []

    def fc(z):
        calls.append(1)
        return f(z)

    g = grad(x)
    r = LS.armijo(fc, x, -g, g, f0=f(x), alpha0=1.0, c=1e-4, beta=0.5)
    assert r.nfev == len(calls) and r.ngev == 0
    assert fc(x - r.step * g) <= f(x) - 1e-4 * r.step * (g @ g)
    if r.step < 1.0:  # the previous trial failed: backtracking stopped at the first pass
        assert f(x - 2 * r.step * g) > f(x) - 1e-4 * 2 * r.step * (g @ g)


@pytest.mark.parametrize("kappa", [10.0, 1e3])
@pytest.mark.parametrize("c,beta,alpha0", [(1e-4, 0.5, 1.0), (0.3, 0.8, 5.0), (0.5, 0.1, 0.01)])
def test_armijo_step_lower_bound_on_quadratics(kappa, c, beta, alpha0):
    q = Quadratic.with_condition(8, L=4.0, mu=4.0 / kappa, seed=3)
    x = q.x0
    for _ in range(30):
        g = q.grad(x)
        r = LS.armijo(q.f, x, -g, g, alpha0=alpha0, c=c, beta=beta)
        assert r.step >= min(alpha0, 2 * beta * (1 - c) / q.L) * (1 - 1e-12)
        x = x - r.step * g


def test_exact_step_is_the_formula_and_the_line_minimum():
    q = Quadratic.with_condition(7, L=9.0, mu=0.5, seed=2)
    x = q.x0
    g = q.grad(x)
    r = LS.exact_quadratic(q.A, g)
    assert r.step == pytest.approx((g @ g) / (g @ q.A @ g), rel=1e-12, abs=0)
    assert abs(q.grad(x - r.step * g) @ g) < 1e-12 * (g @ g)  # phi'(alpha*) = 0
    d = np.linspace(-1, 1, 7) - g  # a general descent direction
    assert g @ d < 0
    rd = LS.exact_quadratic(lambda v: q.A @ v, g, d)
    assert rd.step == pytest.approx(-(g @ d) / (d @ q.A @ d), rel=1e-12, abs=0)
    assert (rd.nfev, rd.ngev) == (0, 0)


@pytest.mark.parametrize("call", [
    lambda g: LS.armijo(lambda z: z @ z, np.ones(3), g, 2 * np.ones(3)),
    lambda g: LS.wolfe(lambda z: z @ z, lambda z: 2 * z, np.ones(3), g, 2 * np.ones(3)),
    lambda g: LS.exact_quadratic(np.eye(3), 2 * np.ones(3), g),
], ids=["armijo", "wolfe", "exact"])
def test_non_descent_direction_raises(call):
    for d in (np.ones(3), np.array([1.0, -1.0, 0.0])):  # ascent, orthogonal
        with pytest.raises(ValueError, match="not a descent direction"):
            call(d)


ERRORS = [
    (lambda: LS.armijo(np.sum, np.ones(2), -np.ones(2), np.ones(2), c=1.5), "c"),
    (lambda: LS.armijo(np.sum, np.ones(2), -np.ones(2), np.ones(2), beta=0.0), "beta"),
    (lambda: LS.armijo(np.sum, np.ones(2), -np.ones(2), np.ones(2), alpha0=-1.0), "alpha0"),
    (lambda: LS.wolfe(np.sum, np.ones_like, np.ones(2), -np.ones(2), np.ones(2), c1=0.5, c2=0.4), "c1"),
    (lambda: LS.exact_quadratic(-np.eye(2), np.ones(2)), "curvature"),
    (lambda: LS.polyak(1.0, np.ones(2), f_star=2.0), "f_star"),
    (lambda: LS.polyak(1.0, np.zeros(2), f_star=0.0), "zero gradient"),
    (lambda: LS.BarzilaiBorwein("BB3"), "variant"),
    (lambda: LS.gd_with(object(), "golden"), "search"),
    (lambda: LS.gd_with(object(), "polyak"), "f_star"),
]


@pytest.mark.parametrize("make,arg", ERRORS, ids=[e[1] for e in ERRORS])
def test_invalid_arguments(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


def test_polyak_and_barzilai_borwein_steps():
    q = Quadratic.with_condition(6, L=5.0, mu=0.2, seed=4)
    x = q.x0
    g = q.grad(x)
    assert LS.polyak(q.f(x), g, q.f_star).step == pytest.approx((q.f(x) - q.f_star) / (g @ g), rel=1e-14)
    assert LS.polyak(q.f(x), g, q.f_star, gamma=0.5, max_step=1e-3).step == 1e-3
    for variant in ("BB1", "BB2"):
        bb = LS.BarzilaiBorwein(variant, alpha0=0.1)
        xs, gs = [x], [g]
        assert bb(x, g).step == 0.1
        for _ in range(15):
            x1 = xs[-1] - bb._step * gs[-1]
            g1 = q.grad(x1)
            r = bb(x1, g1)
            s, y = x1 - xs[-1], g1 - gs[-1]
            want = (s @ s) / (s @ y) if variant == "BB1" else (s @ y) / (y @ y)
            assert r.step == pytest.approx(want, rel=1e-14)
            assert 1 / q.L * (1 - 1e-12) <= r.step <= 1 / q.mu * (1 + 1e-12)  # inverse Rayleigh quotients
            xs.append(x1)
            gs.append(g1)


def test_gd_with_exact_search_meets_the_kantorovich_rate():
    q = Quadratic.with_condition(12, L=10.0, mu=0.5, seed=5)
    m = LS.gd_with(q, "exact")
    tr = run(q, m, steps=40)
    rate = ((q.L / q.mu - 1) / (q.L / q.mu + 1)) ** 2
    gap = tr.f_gap
    assert len(m.steps) == 40 and all(1 / q.L <= a <= 1 / q.mu for a in m.steps)
    assert np.all(gap[1:] <= rate * gap[:-1] * (1 + 1e-9) + 1e-300)
    assert gap[-1] < 1e-3 * gap[0]


@pytest.mark.parametrize("search,opts", [("armijo", {}), ("armijo", dict(c=0.3, beta=0.7, alpha0=3.0)),
                                         ("wolfe", {}), ("strong_wolfe", dict(c2=0.5)), ("polyak", {}),
                                         ("bb1", dict(alpha0=0.01)), ("bb2", dict(alpha0=0.01)),
                                         ("exact", {})])
def test_gd_with_every_search_converges_and_records(search, opts):
    q = Quadratic.with_condition(10, L=20.0, mu=1.0, seed=6)
    m = LS.gd_with(q, search, **opts)
    tr = run(q, m, steps=60)
    assert not tr.diverged and tr.f_gap[-1] < 1e-4 * tr.f_gap[0]
    assert len(m.steps) == len(m.nfev) == len(m.ngev) == 60
    if search in ("armijo", "wolfe", "strong_wolfe"):
        assert all(n >= 1 for n in m.nfev)
        assert np.all(np.diff(tr.fs) <= 0)  # sufficient decrease means monotone
    first = list(m.steps)
    run(q, m, steps=60)  # k == 0 clears the records and the state
    assert m.steps == first


def test_gd_with_rosenbrock_wolfe_beats_fixed_step():
    from gdlab.problems import Rosenbrock
    p = Rosenbrock()
    m = LS.gd_with(p, "strong_wolfe", c2=0.1)
    tr = run(p, m, steps=300)
    fixed = run(p, lambda x, g, k: x - g / p.L, steps=300)
    assert tr.f_gap[-1] < fixed.f_gap[-1]
    assert sum(m.nfev) > 300  # the search pays for it in evaluations


def test_runner_records_the_step_a_line_search_took():
    from gdlab import problems, runner
    from gdlab.linesearch import gd_with

    quad = problems.Quadratic.with_condition(5, L=10.0, mu=1.0, seed=3)
    method = gd_with(quad, "exact")
    trace = runner.run(quad, method, steps=12)
    assert trace.lrs is not None and len(trace.lrs) == 12
    np.testing.assert_array_equal(trace.lrs, np.array(method.steps))
    # the exact step on a quadratic lies in [1/L, 1/mu]
    assert np.all(trace.lrs >= 1 / quad.L - 1e-12) and np.all(trace.lrs <= 1 / quad.mu + 1e-12)


def test_polyak_tolerates_rounding_at_the_optimum_but_not_a_wrong_f_star():
    g = np.array([1e-15, 0.0])
    assert LS.polyak(1e-29, g, f_star=8e-29).step == 0.0  # f(x) rounded below f*: step 0
    with pytest.raises(ValueError, match="f_star"):
        LS.polyak(1.0, g, f_star=1.0 + 1e-6)


# ------------------------------------------------------------------- warm start, bracket limit, reuse
def test_warm_armijo_starts_from_growth_times_the_previous_step():
    from gdlab.problems import logistic_digits
    p = logistic_digits(lam=1e-2)
    growth, c, beta, a0 = 2.0, 1e-4, 0.5, 1.0
    m = LS.gd_with(p, "armijo", growth=growth, alpha0=a0, c=c, beta=beta)
    tr = run(p, m, steps=40)
    assert not tr.diverged and all(m.success)
    # replay every search from scratch: the first trial is alpha0, then growth x the previous accepted step
    first = a0
    for k in range(40):
        x, g = tr.xs[k], p.grad(tr.xs[k])
        a, trials = first, 1
        while not p.f(x - a * g) <= p.f(x) - c * a * (g @ g):
            a, trials = a * beta, trials + 1
        assert m.steps[k] == a
        assert m.nfev[k] == trials + (not m.reused_f[k])  # f(x_k) is counted only when it was not known
        first = growth * a
    assert m.reused_f == [False] + [True] * 39  # the accepted trial's value is the next f(x_k)
    # from a cautious first trial 1/L the cold search can never step beyond 1/L; the warm one grows past 2/L
    cold = LS.gd_with(p, "armijo", alpha0=1 / p.L, c=c, beta=beta)
    warm = LS.gd_with(p, "armijo", alpha0=1 / p.L, c=c, beta=beta, growth=growth)
    tr_cold, tr_warm = run(p, cold, steps=40), run(p, warm, steps=40)
    assert max(cold.steps) <= 1 / p.L < 2 / p.L < max(warm.steps)
    assert tr_warm.f_gap[-1] < 1e-2 * tr_cold.f_gap[-1]


@pytest.mark.parametrize("kwargs, word", [
    (dict(search="armijo", growth=0.5), "growth"),
    (dict(search="armijo", growth=float("inf")), "growth"),
    (dict(search="wolfe", growth=2.0), "growth"),
    (dict(search="armijo", growth=2.0, alpha0=0.0), "alpha0"),
])
def test_warm_start_validates(kwargs, word):
    with pytest.raises(ValueError, match=word):
        LS.gd_with(Quadratic([1.0, 2.0]), **kwargs)


@pytest.mark.parametrize("search", ["wolfe", "strong_wolfe"])
def test_wolfe_default_grows_a_tiny_first_trial_on_rosenbrock(search):
    from gdlab.problems import Rosenbrock
    p = Rosenbrock()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a failed search warns: make it an error
        m = LS.gd_with(p, search, alpha0=1e-3 / p.L)
        tr = run(p, m, steps=300)
    assert all(m.success) and tr.f_gap[-1] < 0.1 * tr.f_gap[0]
    assert max(m.nfev) > 20  # some steps needed more than 20 trials: the old limit would have failed
    short = LS.gd_with(p, search, alpha0=1e-3 / p.L, max_iter=20)
    with pytest.warns(RuntimeWarning, match="wolfe"):
        run(p, short, steps=300)
    assert not all(short.success)


def _counting(problem):
    counts = {"f": 0, "grad": 0}

    class Counted:
        dim, L, mu, x_star, f_star, x0 = problem.dim, problem.L, problem.mu, problem.x_star, problem.f_star, problem.x0

        def f(self, x):
            counts["f"] += 1
            return problem.f(x)

        def grad(self, x):
            counts["grad"] += 1
            return problem.grad(x)

    return Counted(), counts


@pytest.mark.parametrize("search, opts", [("strong_wolfe", dict(c2=0.1)), ("wolfe", {}), ("armijo", {}),
                                          ("armijo", dict(growth=2.0)), ("polyak", {}), ("bb1", dict(alpha0=1e-3))])
def test_evaluation_counts_are_the_work_done(search, opts):
    from gdlab.problems import Rosenbrock
    p, counts = _counting(Rosenbrock())
    m = LS.gd_with(p, search, **opts)
    K = 60
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a failed search is counted like any other
        tr = run(p, m, steps=K)
    assert tr.steps == K
    final_known = m.values_at(tr.xs[-1]) is not None  # the runner took f and grad at x_K from the last search
    fresh_g = [not r for r in m.reused_g]
    # every evaluation made, by the runner or by the searches, is in the records once
    assert counts["grad"] == sum(m.ngev) + sum(fresh_g) + (not final_known)
    assert counts["f"] == sum(m.nfev) + 1 + sum(fresh_g[1:]) + (not final_known)  # 1 + ...: the runner's records
    np.testing.assert_array_equal(m.evaluations(), np.array(m.nfev) + np.array(m.ngev) + np.array(fresh_g))
    if search.endswith("wolfe"):
        # after every successful search the next gradient and value come from it, not from a new evaluation
        assert m.reused_g == [False] + m.success[:-1] and m.reused_f == m.reused_g
        assert final_known == m.success[-1] and sum(m.reused_g) >= K // 2
    else:
        assert not any(m.reused_g) and not final_known
        assert m.reused_f == ([False] + [True] * (K - 1) if search == "armijo" else [False] * K)
