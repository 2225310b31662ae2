r"""Test problems with known constants.

Every problem is a function :math:`f:\mathbb{R}^d\to\mathbb{R}` with its value ``f(x)``,
gradient ``grad(x)`` and, where it is cheap, Hessian ``hess(x)``, together with the
constants the theory needs:

* ``L`` -- a smoothness constant, :math:`\|\nabla f(x)-\nabla f(y)\|\le L\|x-y\|`
  (exact for quadratics and least squares, an upper bound elsewhere);
* ``mu`` -- a strong-convexity constant, :math:`f(y)\ge f(x)+\nabla f(x)^\top(y-x)+\tfrac{\mu}{2}\|y-x\|^2`
  (``None`` for a non-convex problem);
* ``x_star`` and ``f_star`` -- a minimiser and the minimum value;
* ``x0`` -- the default starting point; ``dim`` and ``name``.

:class:`FiniteSum` problems are means :math:`f(x)=\frac1n\sum_{i=1}^n f_i(x)` and add
``n``, ``f_batch(x, idx)`` and ``grad_batch(x, idx)`` (means over the examples ``idx``)
and ``grad_examples(x, idx)`` (one gradient :math:`\nabla f_i(x)` per row).

Values accept a batch of points: ``f(X)`` with ``X`` of shape ``(..., dim)`` returns shape
``(...)``, which is what contour plots need. Gradients and Hessians take one point.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit

__all__ = ["Problem", "FiniteSum", "Quadratic", "LeastSquares", "LogisticRegression",
           "logistic_digits", "Rosenbrock", "DoubleWell", "NesterovWorstCase", "HuberWorstCase", "LinearRecurrence"]


def _design(X, y) -> tuple[np.ndarray, np.ndarray]:
    """A data set (X, y) as float arrays: X non-empty (n, d), y of shape (n,)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must be a non-empty 2-D array (n, d), got X.shape={X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got y.shape={y.shape}")
    return X, y


def _positive(name: str, value) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {name}={value}")
    return value


class Problem:
    """A differentiable objective with the constants the convergence theory uses."""

    name: str = "problem"
    dim: int
    L: float
    mu: float | None
    x_star: np.ndarray | None
    f_star: float | None
    x0: np.ndarray
    #: whether f is convex (a non-convex problem has ``mu = None``)
    convex: bool = True

    def f(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def grad(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def hess(self, x):
        raise NotImplementedError(f"{type(self).__name__} has no Hessian")

    @property
    def kappa(self) -> float:
        r"""The condition number :math:`\kappa = L/\mu` (infinite when :math:`\mu = 0`)."""
        if self.mu is None:
            raise ValueError(f"{self.name} is not strongly convex: mu=None, so kappa is undefined")
        return self.L / self.mu if self.mu > 0 else math.inf

    def _point(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dim,):
            raise ValueError(f"{self.name}: expected a point of shape ({self.dim},), got x.shape={x.shape}")
        return x

    def _points(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise ValueError(f"{self.name}: expected points of shape (..., {self.dim}), got x.shape={x.shape}")
        return x

    def __repr__(self) -> str:
        mu = "None" if self.mu is None else f"{self.mu:.4g}"
        return f"<{type(self).__name__} {self.name!r} dim={self.dim} L={self.L:.4g} mu={mu}>"


class FiniteSum(Problem):
    r"""A mean :math:`f(x) = \frac1n\sum_{i=1}^n f_i(x)` of per-example losses.

    Subclasses implement ``_losses(X, idx)`` (per-example values, shape ``(..., len(idx))``)
    and ``_grad_rows(x, idx)`` (rows :math:`\nabla f_i(x)`, shape ``(len(idx), dim)``).
    """

    n: int

    def _idx(self, idx) -> np.ndarray:
        if idx is None:
            return np.arange(self.n)
        idx = np.asarray(idx)
        if idx.ndim == 0:
            idx = idx.reshape(1)
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"idx must be a non-empty 1-D array of integers, got idx={idx!r}")
        if idx.min() < 0 or idx.max() >= self.n:
            raise ValueError(f"idx must lie in [0, n) with n={self.n}, got values in [{idx.min()}, {idx.max()}]")
        return idx

    def f(self, x):
        r""":math:`f(x) = \frac1n\sum_i f_i(x)`; accepts points of shape ``(..., dim)``."""
        v = self._losses(self._points(x), np.arange(self.n)).mean(axis=-1)
        return float(v) if np.ndim(v) == 0 else v

    def grad(self, x) -> np.ndarray:
        return self.grad_batch(x, None)

    def f_batch(self, x, idx) -> float:
        r"""Mean loss over the examples ``idx``: :math:`\frac{1}{|B|}\sum_{i\in B} f_i(x)`."""
        return float(self._losses(self._point(x), self._idx(idx)).mean())

    def grad_batch(self, x, idx) -> np.ndarray:
        r"""Mean gradient over the examples ``idx``: :math:`\frac{1}{|B|}\sum_{i\in B}\nabla f_i(x)`."""
        return self._grad_rows(self._point(x), self._idx(idx)).mean(axis=0)

    def grad_examples(self, x, idx=None) -> np.ndarray:
        r"""Per-example gradients :math:`\nabla f_i(x)`, one row per index in ``idx`` (all when ``None``)."""
        return self._grad_rows(self._point(x), self._idx(idx))


# --------------------------------------------------------------------------------------
class Quadratic(Problem):
    r"""A quadratic with a prescribed spectrum.

    .. math::
        f(x) = \tfrac12 (x-x^\star)^\top A (x-x^\star) + f^\star,\qquad
        A = Q\,\mathrm{diag}(\lambda_1,\dots,\lambda_d)\,Q^\top,

    with :math:`Q` a random orthogonal matrix drawn from ``seed``. Then
    :math:`\nabla f(x) = A(x-x^\star)`, :math:`\nabla^2 f = A`, :math:`L=\max_i\lambda_i` and
    :math:`\mu=\min_i\lambda_i` exactly. Eigenvalues must be non-negative with a positive
    maximum (a zero eigenvalue gives a convex, not strongly convex, problem with ``mu = 0``).
    The default start is :math:`x_0 = x^\star + Q\mathbf 1`, which puts a unit of error on
    every eigenvector.
    """

    def __init__(self, eigenvalues, x_star=None, f_star: float = 0.0, seed: int = 0, name: str | None = None):
        eig = np.atleast_1d(np.asarray(eigenvalues, dtype=float))
        if eig.ndim != 1 or eig.size == 0:
            raise ValueError(f"eigenvalues must be a non-empty 1-D sequence, got shape {eig.shape}")
        if not np.all(np.isfinite(eig)) or np.any(eig < 0):
            raise ValueError(f"eigenvalues must be finite and non-negative, got eigenvalues={eig.tolist()}")
        if eig.max() <= 0:
            raise ValueError(f"at least one eigenvalue must be positive, got eigenvalues={eig.tolist()}")
        self.dim = d = eig.size
        self.eigenvalues = eig
        rng = np.random.default_rng(seed)
        if d == 1:
            Q = np.ones((1, 1))
        else:
            Q, R = np.linalg.qr(rng.standard_normal((d, d)))
            Q = Q * np.sign(np.diag(R))  # Haar-distributed orthogonal matrix
        self.Q = Q
        self.A = (Q * eig) @ Q.T
        self.A = 0.5 * (self.A + self.A.T)
        self.x_star = np.zeros(d) if x_star is None else np.asarray(x_star, dtype=float).copy()
        if self.x_star.shape != (d,):
            raise ValueError(f"x_star must have shape ({d},) to match the eigenvalues, got {self.x_star.shape}")
        if not math.isfinite(float(f_star)):
            raise ValueError(f"f_star must be finite, got f_star={f_star}")
        self.f_star = float(f_star)
        self.L = float(eig.max())
        self.mu = float(eig.min())
        self.x0 = self.x_star + Q @ np.ones(d)
        self.name = name or f"quadratic (d={d}, L={self.L:g}, mu={self.mu:g})"

    @classmethod
    def with_condition(cls, dim: int, L: float, mu: float, seed: int = 0, **kw) -> "Quadratic":
        r"""A ``dim``-dimensional quadratic with eigenvalues evenly spaced in :math:`[\mu, L]`."""
        if int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be a positive integer, got dim={dim}")
        L = _positive("L", L)
        mu = _positive("mu", mu)
        if mu > L:
            raise ValueError(f"mu must not exceed L, got mu={mu}, L={L}")
        if dim == 1 and mu != L:
            raise ValueError(f"a 1-D quadratic has a single eigenvalue: need mu == L, got mu={mu}, L={L}")
        return cls(np.linspace(mu, L, int(dim)), seed=seed, **kw)

    @classmethod
    def rotated(cls, eigenvalues, angle: float, x0=None, **kw) -> "Quadratic":
        r"""A 2-D quadratic whose eigenvectors are the axes turned by ``angle`` (radians):
        :math:`Q = \begin{pmatrix}\cos\theta & -\sin\theta\\ \sin\theta & \cos\theta\end{pmatrix}`, so that
        ``angle=0`` is axis-aligned (a diagonal :math:`A`) and the first eigenvalue lies along
        :math:`(\cos\theta, \sin\theta)`. ``x0`` is the start (default :math:`x^\star + Q\mathbf 1`)."""
        eig = np.asarray(eigenvalues, dtype=float)
        if eig.shape != (2,):
            raise ValueError(f"eigenvalues must be two numbers for a rotated quadratic, got shape {eig.shape}")
        theta = float(angle)
        if not math.isfinite(theta):
            raise ValueError(f"angle must be finite, got angle={angle}")
        q = cls(eig, **kw)
        c, s = math.cos(theta), math.sin(theta)
        q.Q = np.array([[c, -s], [s, c]])
        q.A = (q.Q * eig) @ q.Q.T
        q.A = 0.5 * (q.A + q.A.T)
        q.x0 = q.x_star + (q.Q @ np.ones(2) if x0 is None else np.asarray(x0, dtype=float) - q.x_star)
        if q.x0.shape != (2,):
            raise ValueError(f"x0 must have shape (2,), got {np.shape(x0)}")
        return q

    def f(self, x):
        r""":math:`\tfrac12 (x-x^\star)^\top A(x-x^\star) + f^\star`; accepts ``(..., dim)``."""
        e = self._points(x) - self.x_star
        v = 0.5 * np.einsum("...i,ij,...j->...", e, self.A, e) + self.f_star
        return float(v) if np.ndim(v) == 0 else v

    def grad(self, x) -> np.ndarray:
        r""":math:`A(x-x^\star)`."""
        return self.A @ (self._point(x) - self.x_star)

    def hess(self, x) -> np.ndarray:
        r""":math:`A`."""
        self._point(x)
        return self.A.copy()


# --------------------------------------------------------------------------------------
class LeastSquares(FiniteSum):
    r"""Linear least squares as a finite sum.

    .. math::
        f(w) = \frac{1}{2n}\|Xw-y\|^2 = \frac1n\sum_{i=1}^n \tfrac12 (x_i^\top w - y_i)^2,\qquad
        \nabla f(w) = \tfrac1n X^\top(Xw-y),\qquad \nabla^2 f = \tfrac1n X^\top X.

    ``L`` and ``mu`` are the largest and smallest eigenvalues of :math:`X^\top X/n` (``mu = 0``
    when :math:`X` has a null space); ``x_star`` is the minimum-norm least-squares solution.
    The default start is :math:`w_0 = 0`.
    """

    def __init__(self, X, y, name: str | None = None):
        X, y = _design(X, y)
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
            raise ValueError("X and y must be finite")
        self.X, self.y = X, y
        self.n, self.dim = X.shape
        self.H = X.T @ X / self.n
        eig = np.linalg.eigvalsh(self.H)
        self.L = float(eig[-1])
        if self.L <= 0:
            raise ValueError("X is zero: the problem has L = 0")
        self.mu = float(max(eig[0], 0.0)) if eig[0] > 1e-12 * self.L else 0.0
        self.x_star = np.linalg.lstsq(X, y, rcond=None)[0]
        self.f_star = float(self.f(self.x_star))
        self.x0 = np.zeros(self.dim)
        self.name = name or f"least squares (n={self.n}, d={self.dim})"

    @classmethod
    def random(cls, n: int, d: int, seed: int = 0, noise: float = 0.1, **kw) -> "LeastSquares":
        r"""Gaussian design :math:`X_{ij}\sim N(0,1)`, :math:`y = Xw_{\rm true} + \sigma\varepsilon`."""
        if int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer, got n={n}")
        if int(d) != d or d < 1:
            raise ValueError(f"d must be a positive integer, got d={d}")
        if not (math.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a non-negative finite number, got noise={noise}")
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((int(n), int(d)))
        w_true = rng.standard_normal(int(d))
        y = X @ w_true + noise * rng.standard_normal(int(n))
        return cls(X, y, **kw)

    def _losses(self, W, idx):
        r = W @ self.X[idx].T - self.y[idx]
        return 0.5 * r**2

    def _grad_rows(self, w, idx):
        r = self.X[idx] @ w - self.y[idx]
        return r[:, None] * self.X[idx]

    def grad_batch(self, x, idx) -> np.ndarray:
        idx = self._idx(idx)
        Xb = self.X[idx]
        return Xb.T @ (Xb @ self._point(x) - self.y[idx]) / idx.size

    def hess(self, x) -> np.ndarray:
        r""":math:`X^\top X/n`."""
        self._point(x)
        return self.H.copy()


# --------------------------------------------------------------------------------------
class LogisticRegression(FiniteSum):
    r"""L2-regularised logistic regression with labels in {0, 1}.

    .. math::
        f(w) = \frac1n\sum_{i=1}^n \Big[\log\big(1+e^{x_i^\top w}\big) - y_i x_i^\top w\Big]
               + \frac\lambda2\|w\|^2,\qquad
        \nabla f(w) = \tfrac1n X^\top(\sigma(Xw)-y) + \lambda w,

    :math:`\nabla^2 f(w) = \tfrac1n X^\top D X + \lambda I` with
    :math:`D=\mathrm{diag}(\sigma(1-\sigma))\preceq \tfrac14 I`. Hence
    :math:`\mu=\lambda` and :math:`L=\lambda+\|X\|_2^2/(4n)` (an upper bound).
    Each example's loss :math:`f_i` carries the whole regulariser, so the mean of the
    :math:`f_i` is :math:`f`. ``x_star`` is found by Newton's method to a gradient norm of
    about 1e-13; ``f_star = f(x_star)``. The default start is :math:`w_0 = 0`.
    """

    def __init__(self, X, y, lam: float, name: str | None = None):
        X, y = _design(X, y)
        if not np.all((y == 0) | (y == 1)):
            raise ValueError(f"labels y must be 0 or 1, got values {np.unique(y)[:5].tolist()}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X must be finite")
        self.lam = _positive("lam", lam)
        self.X, self.y = X, y
        self.n, self.dim = X.shape
        self.mu = self.lam
        self.L = float(self.lam + np.linalg.norm(X, 2) ** 2 / (4 * self.n))
        self.x0 = np.zeros(self.dim)
        self.x_star = self._newton()
        self.f_star = float(self.f(self.x_star))
        self.name = name or f"logistic regression (n={self.n}, d={self.dim}, lam={self.lam:g})"

    def _newton(self, tol: float = 1e-13, max_iter: int = 100) -> np.ndarray:
        """Damped Newton's method (backtracking on f) from w = 0."""
        w = np.zeros(self.dim)
        fw = self.f(w)
        for _ in range(max_iter):
            g = self.grad(w)
            if np.linalg.norm(g) <= tol * max(1.0, self.L):
                return w
            step = np.linalg.solve(self.hess(w), g)
            t = 1.0
            while t > 1e-10:
                w_new = w - t * step
                f_new = self.f(w_new)
                if f_new <= fw - 0.25 * t * (g @ step) or np.linalg.norm(self.grad(w_new)) < np.linalg.norm(g):
                    break
                t *= 0.5
            w, fw = w_new, f_new
        if np.linalg.norm(self.grad(w)) > 1e-8:
            raise RuntimeError(f"Newton's method did not converge: gradient norm {np.linalg.norm(self.grad(w)):.3e}")
        return w

    def _losses(self, W, idx):
        z = W @ self.X[idx].T
        reg = 0.5 * self.lam * np.sum(W * W, axis=-1)
        return np.logaddexp(0.0, z) - self.y[idx] * z + reg[..., None]

    def _grad_rows(self, w, idx):
        s = expit(self.X[idx] @ w) - self.y[idx]
        return s[:, None] * self.X[idx] + self.lam * w

    def grad_batch(self, x, idx) -> np.ndarray:
        idx = self._idx(idx)
        w = self._point(x)
        Xb = self.X[idx]
        return Xb.T @ (expit(Xb @ w) - self.y[idx]) / idx.size + self.lam * w

    def hess(self, x) -> np.ndarray:
        r""":math:`\tfrac1n X^\top \mathrm{diag}(\sigma_i(1-\sigma_i)) X + \lambda I`."""
        s = expit(self.X @ self._point(x))
        return (self.X.T * (s * (1 - s))) @ self.X / self.n + self.lam * np.eye(self.dim)


def logistic_digits(lam: float = 1e-2, digits=(0, 1)) -> LogisticRegression:
    r"""Logistic regression separating two classes of scikit-learn's 8x8 digits.

    Pixels are scaled to [0, 1] and a constant feature 1 is appended (the intercept, which
    is regularised like every weight), so ``dim = 65``. Label 1 means ``digits[1]``.
    """
    from .data import digits as load_digits

    if len(digits) != 2 or digits[0] == digits[1]:
        raise ValueError(f"digits must be two different classes, got digits={digits!r}")
    X, y = load_digits(classes=digits)
    X = np.hstack([X, np.ones((X.shape[0], 1))])
    return LogisticRegression(X, (y == digits[1]).astype(float), lam,
                              name=f"logistic regression on digits {digits[0]} vs {digits[1]} (lam={lam:g})")


# --------------------------------------------------------------------------------------
class Rosenbrock(Problem):
    r"""Rosenbrock's banana, a non-convex function with a curved valley.

    .. math::
        f(x, y) = (a-x)^2 + b\,(y-x^2)^2,\qquad x^\star = (a, a^2),\ f^\star = 0.

    It is not globally L-smooth: ``L`` bounds :math:`\|\nabla^2 f\|_2` on the box
    ``box = ((x_lo, x_hi), (y_lo, y_hi))`` only, and holds for iterates that stay in it.
    ``mu = None``. The default start is :math:`(-1.2, 1)`.
    """

    convex = False

    def __init__(self, a: float = 1.0, b: float = 100.0, box=((-1.5, 1.5), (-0.5, 2.5))):
        self.a = float(a)
        if not math.isfinite(self.a):
            raise ValueError(f"a must be finite, got a={a}")
        self.b = _positive("b", b)
        (xl, xh), (yl, yh) = box
        if not (xl < xh and yl < yh):
            raise ValueError(f"box must be ((x_lo, x_hi), (y_lo, y_hi)) with lo < hi, got box={box}")
        self.box = ((float(xl), float(xh)), (float(yl), float(yh)))
        self.dim = 2
        self.x_star = np.array([self.a, self.a**2])
        self.f_star = 0.0
        self.mu = None
        self.x0 = np.array([-1.2, 1.0])
        self.L = self._box_L()
        self.name = f"Rosenbrock (a={self.a:g}, b={self.b:g})"

    def _box_L(self) -> float:
        # H = [[2 - 4b y + 12 b x^2, -4 b x], [-4 b x, 2b]]. The largest eigenvalue grows with
        # H11 and |H12|, so it peaks at max |x| and min y; the most negative eigenvalue is at
        # least min(H11, H22) - |H12| (Gershgorin).
        (xl, xh), (yl, yh) = self.box
        b = self.b
        X = max(abs(xl), abs(xh))
        h11, h12, h22 = 2 - 4 * b * yl + 12 * b * X**2, 4 * b * X, 2 * b
        lam_max = 0.5 * (h11 + h22) + math.hypot(0.5 * (h11 - h22), h12)
        x_min_abs = 0.0 if xl <= 0 <= xh else min(abs(xl), abs(xh))
        h11_low = 2 - 4 * b * yh + 12 * b * x_min_abs**2
        neg = -(min(h11_low, h22) - h12)
        return float(max(lam_max, neg))

    def in_box(self, x) -> np.ndarray:
        """Whether the points ``x`` (shape ``(..., 2)``) lie in the box where ``L`` holds."""
        x = self._points(x)
        (xl, xh), (yl, yh) = self.box
        return (x[..., 0] >= xl) & (x[..., 0] <= xh) & (x[..., 1] >= yl) & (x[..., 1] <= yh)

    def f(self, x):
        r""":math:`(a-x)^2 + b(y-x^2)^2`; accepts ``(..., 2)``."""
        p = self._points(x)
        u, v = p[..., 0], p[..., 1]
        val = (self.a - u) ** 2 + self.b * (v - u**2) ** 2
        return float(val) if np.ndim(val) == 0 else val

    def grad(self, x) -> np.ndarray:
        r""":math:`\big(-2(a-x) - 4bx(y-x^2),\ 2b(y-x^2)\big)`."""
        u, v = self._point(x)
        r = v - u**2
        return np.array([-2 * (self.a - u) - 4 * self.b * u * r, 2 * self.b * r])

    def hess(self, x) -> np.ndarray:
        u, v = self._point(x)
        return np.array([[2 - 4 * self.b * v + 12 * self.b * u**2, -4 * self.b * u],
                         [-4 * self.b * u, 2 * self.b]])


# --------------------------------------------------------------------------------------
class DoubleWell(Problem):
    r"""A one-dimensional double well, vectorised over many points.

    .. math::
        f(x) = h\,(x^2-1)^2 + c\,x,\qquad f'(x) = 4h\,x(x^2-1) + c,\qquad f''(x) = 12h\,x^2 - 4h.

    With tilt :math:`c = 0` the minima are :math:`\pm 1` and the barrier between them has
    height :math:`h`; a tilt :math:`c>0` lowers the left well. ``x_star`` is the global minimiser
    (the left one when :math:`c = 0`), ``f_star`` its value, ``mu = None``. ``L`` bounds
    :math:`|f''|` on :math:`|x|\le R` (``radius``): :math:`L = \max(12hR^2-4h,\ 4h)`.

    ``f``, ``grad`` and ``hess_diag`` act **elementwise** on an array of positions of any
    shape (each entry a separate point, e.g. :math:`10^6` chains); a single point of shape
    ``(1,)`` gives a float value and a gradient of shape ``(1,)``.
    """

    convex = False

    def __init__(self, h: float = 1.0, tilt: float = 0.0, radius: float = 2.0):
        self.h = _positive("h", h)
        self.tilt = float(tilt)
        if not math.isfinite(self.tilt):
            raise ValueError(f"tilt must be finite, got tilt={tilt}")
        self.radius = _positive("radius", radius)
        self.dim = 1
        self.mu = None
        self.L = float(max(12 * self.h * self.radius**2 - 4 * self.h, 4 * self.h))
        # stationary points: 4h x^3 - 4h x + c = 0
        roots = np.roots([4 * self.h, 0.0, -4 * self.h, self.tilt])
        real = np.sort(roots[np.abs(roots.imag) < 1e-9].real)
        real = np.array([self._polish(r) for r in real])
        self.stationary_points = real
        minima = real[12 * self.h * real**2 - 4 * self.h > 0]
        self.minima = minima
        self.maxima = real[12 * self.h * real**2 - 4 * self.h < 0]
        vals = self._value(minima)
        i = int(np.argmin(vals))
        self.x_star = np.array([minima[i]])
        self.f_star = float(vals[i])
        self.x0 = np.array([-1.5])
        self.name = f"double well (h={self.h:g}, tilt={self.tilt:g})"

    def _polish(self, r: float) -> float:
        for _ in range(50):  # Newton on f' to full precision
            d2 = 12 * self.h * r * r - 4 * self.h
            if d2 == 0:
                break
            r = r - (4 * self.h * r * (r * r - 1) + self.tilt) / d2
        return float(r)

    def _value(self, x):
        return self.h * (x * x - 1.0) ** 2 + self.tilt * x

    def barrier(self) -> float:
        r"""Height of the barrier seen from the global minimum: :math:`f(x_{\max}) - f^\star`."""
        if self.maxima.size == 0:
            raise ValueError(f"the tilt c={self.tilt} leaves a single well: there is no barrier")
        return float(self._value(self.maxima[0]) - self.f_star)

    def f(self, x):
        r""":math:`h(x^2-1)^2 + c x`, elementwise."""
        x = np.asarray(x, dtype=float)
        v = self._value(x)
        return float(v.reshape(())) if v.shape in ((), (1,)) else v

    def grad(self, x):
        r""":math:`4h x(x^2-1) + c`, elementwise (same shape as ``x``)."""
        x = np.asarray(x, dtype=float)
        return 4 * self.h * x * (x * x - 1.0) + self.tilt

    def hess_diag(self, x):
        r""":math:`f''(x) = 12h x^2 - 4h`, elementwise."""
        x = np.asarray(x, dtype=float)
        return 12 * self.h * x * x - 4 * self.h

    def hess(self, x) -> np.ndarray:
        """The 1x1 Hessian at a single point of shape ``(1,)``."""
        return self.hess_diag(self._point(x)).reshape(1, 1)


# --------------------------------------------------------------------------------------
class NesterovWorstCase(Problem):
    r"""Nesterov's worst function for first-order methods (Introductory Lectures 2004, §2.1.2).

    .. math::
        f_m(x) = \frac L4\Big(\tfrac12 x^\top A_m x - x_1\Big),\qquad
        x^\top A_m x = x_1^2 + \sum_{i=1}^{m-1}(x_i - x_{i+1})^2 + x_m^2,

    where :math:`A_m` is the tridiagonal matrix :math:`(-1, 2, -1)` on the leading :math:`m\times m`
    block of :math:`\mathbb{R}^{d\times d}` and zero elsewhere (``m`` defaults to ``dim``). Then
    :math:`\nabla f_m(x) = \tfrac L4(A_m x - e_1)`, :math:`\nabla^2 f_m = \tfrac L4 A_m` (the
    attribute ``A``, built on first use) and, in closed form,

    .. math::
        x^\star_i = 1 - \frac{i}{m+1}\ (i\le m),\quad x^\star_i = 0\ (i>m),\qquad
        f^\star = \frac L8\Big(\frac{1}{m+1} - 1\Big),\qquad \|x^\star\|^2 \le \frac{m+1}{3}.

    For :math:`m<d` the minimisers form an affine set and ``x_star`` is its point nearest the
    start :math:`x_0 = 0`. ``L`` is the constant given (the largest eigenvalue,
    :math:`\tfrac L4(2+2\cos\tfrac{\pi}{m+1})`, is just below it); ``mu`` is the smallest eigenvalue,
    :math:`\tfrac L4(2-2\cos\tfrac{\pi}{m+1})` when :math:`m = d` and 0 otherwise. A method whose
    iterates stay in the span of the gradients seen so far has :math:`x_k` zero beyond coordinate
    :math:`k`, hence for :math:`m = 2k+1` the lower bound of
    :func:`gdlab.theory.first_order_lower_bound`.
    """

    def __init__(self, dim: int, L: float = 1.0, m: int | None = None):
        if isinstance(dim, bool) or int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be a positive integer, got dim={dim!r}")
        self.dim = int(dim)
        m = self.dim if m is None else m
        if isinstance(m, bool) or int(m) != m or not 1 <= m <= self.dim:
            raise ValueError(f"m must be an integer in [1, dim={self.dim}], got m={m!r}")
        self.m = int(m)
        self.L = _positive("L", L)
        theta = math.pi / (self.m + 1)
        self.mu = self.L / 4 * (2 - 2 * math.cos(theta)) if self.m == self.dim else 0.0
        i = np.arange(1, self.dim + 1)
        self.x_star = np.where(i <= self.m, 1.0 - i / (self.m + 1), 0.0)
        self.f_star = self.L / 8 * (1.0 / (self.m + 1) - 1.0)
        self.x0 = np.zeros(self.dim)
        self._A = None
        self.name = f"Nesterov's worst function (d={self.dim}, m={self.m}, L={self.L:g})"

    @property
    def A(self) -> np.ndarray:
        r"""The Hessian :math:`\tfrac L4 A_m` as a dense ``(dim, dim)`` array."""
        if self._A is None:
            m = self.m
            A = np.zeros((self.dim, self.dim))
            A[:m, :m] = 2 * np.eye(m) - np.eye(m, k=1) - np.eye(m, k=-1)
            self._A = self.L / 4 * A
        return self._A

    def f(self, x):
        r""":math:`\tfrac L4\big(\tfrac12 x^\top A_m x - x_1\big)`; accepts ``(..., dim)``."""
        z = self._points(x)[..., : self.m]
        quad = z[..., 0] ** 2 + np.sum(np.diff(z, axis=-1) ** 2, axis=-1) + z[..., -1] ** 2
        v = self.L / 4 * (0.5 * quad - z[..., 0])
        return float(v) if np.ndim(v) == 0 else v

    def grad(self, x) -> np.ndarray:
        r""":math:`\tfrac L4(A_m x - e_1)`, without forming :math:`A_m`."""
        x = self._point(x)
        z = x[: self.m]
        Az = 2 * z
        Az[1:] -= z[:-1]
        Az[:-1] -= z[1:]
        Az[0] -= 1.0
        g = np.zeros(self.dim)
        g[: self.m] = self.L / 4 * Az
        return g

    def hess(self, x) -> np.ndarray:
        r""":math:`\tfrac L4 A_m`."""
        self._point(x)
        return self.A.copy()


class HuberWorstCase(Problem):
    r"""The convex L-smooth function on which gradient descent at step :math:`1/L` is slowest after ``horizon`` steps
    (Drori & Teboulle 2014, Thm 3.1): a Huber function in one dimension,

    .. math::
        f(x) = \begin{cases} \dfrac{L}{2}x^2, & |x| \le \tau,\\[4pt]
        L\tau|x| - \dfrac{L\tau^2}{2}, & |x| > \tau, \end{cases}\qquad
        \tau = \frac{R}{2N+1},

    started at :math:`x_0 = R` (so :math:`\|x_0-x^\star\| = R`, :math:`x^\star = 0`, :math:`f^\star = 0`). Each
    of the first :math:`N` steps moves by exactly :math:`\tau` along the linear part, so
    :math:`x_N = R(N+1)/(2N+1)` and

    .. math:: f(x_N) - f^\star = \frac{L R^2}{4N+2},

    which is the exact worst case of gradient descent at step :math:`1/L` over all convex L-smooth functions. It is
    :math:`2N/(4N+2)`, just under half, of the classical bound :math:`LR^2/(2N)`
    (:func:`gdlab.theory.gd_convex_bound`).
    """

    mu = 0.0

    def __init__(self, horizon: int, L: float = 1.0, R: float = 1.0):
        if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got horizon={horizon!r}")
        self.horizon = int(horizon)
        self.L = _positive("L", L)
        self.R = _positive("R", R)
        self.tau = self.R / (2 * self.horizon + 1)
        self.dim = 1
        self.x_star = np.zeros(1)
        self.f_star = 0.0
        self.x0 = np.array([self.R])
        self.name = f"Huber worst case (N={self.horizon}, L={self.L:g}, R={self.R:g})"

    def f(self, x):
        r"""The Huber function; accepts ``(..., 1)``."""
        a = np.abs(self._points(x)[..., 0])
        v = np.where(a <= self.tau, 0.5 * self.L * a * a, self.L * self.tau * a - 0.5 * self.L * self.tau**2)
        return float(v) if np.ndim(v) == 0 else v

    def grad(self, x) -> np.ndarray:
        r""":math:`Lx` inside :math:`|x|\le\tau`, :math:`L\tau\,\mathrm{sign}(x)` outside."""
        x = self._point(x)
        return np.where(np.abs(x) <= self.tau, self.L * x, self.L * self.tau * np.sign(x))

    def worst_gap(self) -> float:
        r"""The exact worst-case gap :math:`LR^2/(4N+2)` after ``horizon`` steps."""
        return self.L * self.R**2 / (4 * self.horizon + 2)


# --------------------------------------------------------------------------------------
class LinearRecurrence(Problem):
    r"""A cliff: the loss of a linear recurrence unrolled for T steps, as in a recurrent network.

    .. math::
        h_0 = 1,\quad h_t = w\,h_{t-1} + b \ \Rightarrow\ h_T = w^T + b\sum_{j=0}^{T-1} w^j,\qquad
        f(w, b) = \tfrac12\,(h_T - y)^2,

    .. math::
        \nabla f = (h_T - y)\Big(T w^{T-1} + b\sum_{j=1}^{T-1} j\,w^{j-1},\ \sum_{j=0}^{T-1} w^j\Big).

    For :math:`|w| < 1` the function is gentle; beyond, :math:`h_T` grows like :math:`w^T` and
    :math:`f` like :math:`w^{2T}`: a wall whose gradient throws gradient descent far away
    {cite}`pascanu2013difficulty`. It is non-convex with no global smoothness constant
    (``L = inf``, ``mu = None``). Its minimum :math:`f^\star = 0` is attained on the curve
    :math:`b = (y - w^T)/\sum_j w^j` (:meth:`b_on_minimum`), so there is no single minimiser
    (``x_star = None``). The default start is :math:`(w, b) = (0.9, 0.1)`; ``y`` is ``target``.
    Overflow beyond the wall gives ``inf`` (with NumPy's overflow warning), which
    :func:`gdlab.runner.run` reports as a divergence.
    """

    convex = False

    def __init__(self, T: int = 20, target: float = 3.0, x0=(0.9, 0.1)):
        if isinstance(T, bool) or int(T) != T or T < 1:
            raise ValueError(f"T must be a positive integer, got T={T!r}")
        self.T = int(T)
        self.target = float(target)
        if not math.isfinite(self.target):
            raise ValueError(f"target must be finite, got target={target}")
        self.dim = 2
        self.L = math.inf
        self.mu = None
        self.x_star = None
        self.f_star = 0.0
        self.x0 = np.array(x0, dtype=float)
        if self.x0.shape != (2,) or not np.all(np.isfinite(self.x0)):
            raise ValueError(f"x0 must be a finite pair (w, b), got x0={x0!r}")
        self.name = f"linear recurrence (T={self.T}, target={self.target:g})"

    def h_T(self, x):
        r""":math:`h_T = w^T + b\sum_{j<T} w^j`; accepts ``(..., 2)``."""
        p = self._points(x)
        w, b = p[..., 0], p[..., 1]
        powers = w[..., None] ** np.arange(self.T)
        return w**self.T + b * powers.sum(axis=-1)

    def f(self, x):
        r""":math:`\tfrac12(h_T - y)^2`; accepts ``(..., 2)``."""
        v = 0.5 * (self.h_T(x) - self.target) ** 2
        return float(v) if np.ndim(v) == 0 else v

    def grad(self, x) -> np.ndarray:
        w, b = self._point(x)
        j = np.arange(self.T)
        powers = w**j
        dh_dw = self.T * w ** (self.T - 1) + b * np.sum(j[1:] * powers[:-1])
        r = w**self.T + b * powers.sum() - self.target
        return r * np.array([dh_dw, powers.sum()])

    def b_on_minimum(self, w):
        r"""The bias that puts :math:`(w, b)` on the minimum, :math:`b = (y - w^T)/\sum_{j<T} w^j`."""
        w = np.asarray(w, dtype=float)
        s = np.sum(w[..., None] ** np.arange(self.T), axis=-1)
        if np.any(s == 0):
            raise ValueError(f"no bias reaches the target where sum_j w^j = 0 (w={w!r})")
        b = (self.target - w**self.T) / s
        return float(b) if np.ndim(b) == 0 else b
