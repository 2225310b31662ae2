r"""Online convex optimisation: streams of losses, play on a box, and regret.

In online convex optimisation (Zinkevich 2003) a learner picks :math:`x_t \in \mathcal X`, then
sees a convex loss :math:`f_t` and pays :math:`f_t(x_t)`. Its regret after :math:`T` rounds is

.. math::  R_T = \sum_{t=1}^T f_t(x_t) - \min_{x\in\mathcal X}\sum_{t=1}^T f_t(x).

Here :math:`\mathcal X = \prod_i [a_i, b_i]` is a box, so the Euclidean projection (and the
projection in any diagonal norm, as AdaGrad's analysis uses) is coordinate-wise clipping.

* :class:`OnlineProblem` -- a stream of losses :math:`f_1, f_2, \dots` on a box, with
  ``loss(t, x)``, ``grad(t, x)`` (rounds count from :math:`t = 1`), ``project(x)`` and
  ``best_in_hindsight(rounds)``, the exact best fixed point and its cumulative loss;
* :class:`Reddi` -- Reddi, Kale & Kumar's linear losses on :math:`[-1, 1]`, on which Adam
  drifts to the worst point and AMSGrad does not;
* :class:`SparseLeastSquares` -- a stream of ridge-regularised squared losses on rare and
  common binary features (:func:`sparse_features`), whose best point in hindsight solves a
  linear system;
* :class:`LinearLosses` -- linear losses :math:`c_t^\top x` on a box from a given array of coefficients (an
  adversary written down after simulating the learner), best in hindsight at a vertex;
* :func:`adagrad_regret_bound` -- the right-hand side of diagonal AdaGrad's regret bound at each horizon;
* :func:`play` -- runs any method ``method(x, g, k) -> x_next`` (a ``gdlab.optim.numpy``
  optimizer, for instance) on a stream, projecting after each step, and returns the iterates,
  the losses paid, the gradients seen and the regret (:class:`OnlinePlay`).

.. code-block:: python

    from gdlab import online
    from gdlab.optim import numpy as gnp

    res = online.play(online.Reddi(C=3.0), gnp.Adam(lr=0.5, betas=(0.0, 0.1)), 3000,
                      lr=lambda t: 0.5 / t**0.5)
    res.xs[-1], res.regret[-1] / 3000     # Adam sits at +1 with average regret (2C - 4)/3
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .validation import positive_float, positive_int

__all__ = [
    "OnlineProblem",
    "Reddi",
    "SparseLeastSquares",
    "LinearLosses",
    "adagrad_regret_bound",
    "sparse_features",
    "OnlinePlay",
    "play",
]


_pos_int = positive_int
_pos_float = positive_float


def _probability(name: str, v: Any) -> float:
    x = _pos_float(name, v, allow_zero=True)
    if x > 1:
        raise ValueError(f"Invalid {name}: {name}={v!r} (expected a probability in [0, 1])")
    return x


# --- the problems -----------------------------------------------------------------------
class OnlineProblem:
    r"""A stream of convex losses :math:`f_1, f_2, \dots` on the box :math:`[\text{lower}, \text{upper}]`.

    Subclasses set ``dim``, ``lower``, ``upper`` (arrays of shape ``(dim,)``) and ``horizon``
    (the number of rounds available, or ``None`` for an endless stream), and implement
    ``loss(t, x)``, ``grad(t, x)`` and ``best_in_hindsight(rounds)``.
    """

    name: str = "online problem"
    dim: int
    lower: np.ndarray
    upper: np.ndarray
    horizon: int | None = None

    def loss(self, t: int, x) -> float:  # pragma: no cover - abstract
        """:math:`f_t(x)`, for rounds :math:`t = 1, 2, \\dots`"""
        raise NotImplementedError

    def grad(self, t: int, x) -> np.ndarray:  # pragma: no cover - abstract
        r""":math:`\nabla f_t(x)`."""
        raise NotImplementedError

    def best_in_hindsight(self, rounds) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        r"""For each :math:`T` in ``rounds``: :math:`x_T^\star = \arg\min_{x\in\mathcal X}\sum_{t\le T} f_t(x)`
        (rows of an array ``(len(rounds), dim)``) and :math:`\sum_{t\le T} f_t(x_T^\star)`."""
        raise NotImplementedError

    @property
    def diameter(self) -> float:
        r""":math:`D_\infty = \max_i (b_i - a_i)`, the largest side of the box."""
        return float(np.max(self.upper - self.lower))

    def project(self, x) -> np.ndarray:
        r"""Euclidean projection onto the box: :math:`\Pi(x)_i = \min(\max(x_i, a_i), b_i)`."""
        return np.clip(x, self.lower, self.upper)

    def _round(self, t) -> int:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1:
            raise ValueError(f"Invalid round: t={t!r} (rounds count from t = 1)")
        if self.horizon is not None and t > self.horizon:
            raise ValueError(f"Invalid round: t={t} exceeds the stream's horizon={self.horizon}")
        return int(t)

    def _rounds(self, rounds) -> np.ndarray:
        r = np.atleast_1d(np.asarray(rounds))
        if r.ndim != 1 or r.size == 0 or not np.issubdtype(r.dtype, np.integer) or r.min() < 1:
            raise ValueError(f"Invalid rounds: rounds={rounds!r} (expected integers >= 1)")
        if self.horizon is not None and r.max() > self.horizon:
            raise ValueError(f"Invalid rounds: the largest, {r.max()}, exceeds the stream's horizon={self.horizon}")
        return r.astype(np.int64)

    def _point(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dim,):
            raise ValueError(f"Invalid point: expected shape ({self.dim},), got x.shape={x.shape}")
        return x

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"


class Reddi(OnlineProblem):
    r"""Reddi, Kale & Kumar's online problem (2018, Theorem 1): linear losses on :math:`[-1, 1]`,

    .. math::
        f_t(x) = \begin{cases} C\,x & t \bmod 3 = 1,\\ -x & \text{otherwise,}\end{cases}
        \qquad C > 2 .

    The gradient stream :math:`C, -1, -1, C, -1, -1, \dots` does not depend on :math:`x`. Every
    cycle of three rounds costs :math:`(C-2)\,x`, and the partial sums
    :math:`\sum_{t\le T} g_t` are positive for every :math:`T`, so the best fixed point in
    hindsight is :math:`x^\star = -1` at every horizon, with cumulative loss
    :math:`-\sum_{t\le T} g_t`. A learner that sits at :math:`+1` has average regret
    :math:`(2C-4)/3` per round (``worst_average_regret``). With :math:`\beta_1 = 0` and
    :math:`\beta_2 = 1/(1+C^2)` Adam drifts to :math:`+1`; AMSGrad goes to :math:`-1`.
    """

    horizon = None

    def __init__(self, C: float = 3.0):
        C = _pos_float("C", C)
        if C <= 2:
            raise ValueError(f"Invalid C: C={C!r} (Reddi et al.'s problem needs C > 2)")
        self.C = C
        self.dim = 1
        self.lower, self.upper = np.array([-1.0]), np.array([1.0])
        self.x_star = np.array([-1.0])
        self.name = f"Reddi et al., C = {C:g}"

    @property
    def worst_average_regret(self) -> float:
        r""":math:`(2C-4)/3`: the average regret of the point :math:`x = +1` over whole cycles."""
        return (2.0 * self.C - 4.0) / 3.0

    def gradients(self, T: int) -> np.ndarray:
        r"""The gradient stream :math:`g_1, \dots, g_T` (one number per round)."""
        t = np.arange(1, _pos_int("T", T, minimum=0) + 1)
        return np.where(t % 3 == 1, self.C, -1.0)

    def _coef(self, t: int) -> float:
        return self.C if self._round(t) % 3 == 1 else -1.0

    def loss(self, t: int, x) -> float:
        return float(self._coef(t) * self._point(x)[0])

    def grad(self, t: int, x) -> np.ndarray:
        self._point(x)
        return np.array([self._coef(t)])

    def best_in_hindsight(self, rounds):
        r = self._rounds(rounds)
        G = np.cumsum(self.gradients(int(r.max())))[r - 1]       # sum of the linear coefficients
        points = np.where(G > 0, -1.0, 1.0)[:, None]             # a linear loss is minimised at a vertex
        return points, -np.abs(G)


class LinearLosses(OnlineProblem):
    r"""Linear losses :math:`f_t(x) = c_t^\top x` on a box, for a given array of coefficients (one row per round).

    ``coefs`` has shape ``(horizon, dim)`` (or ``(horizon,)`` for one dimension); ``lower`` and ``upper`` are the
    box's corners (numbers or arrays). A linear loss is minimised at a vertex: the best fixed point after
    :math:`T` rounds has :math:`x_i = a_i` where :math:`C_{T,i} = \sum_{t\le T} c_{t,i} > 0` and :math:`x_i = b_i`
    otherwise, with cumulative loss :math:`\sum_i \min(a_i C_{T,i},\ b_i C_{T,i})`. An adversary that chooses each
    :math:`c_t` from the learner's :math:`x_t` (as in :func:`gdlab.online.play`'s worst cases) is written down by
    simulating the learner first and then passing the coefficients it produced.
    """

    def __init__(self, coefs, lower=-1.0, upper=1.0, name: str | None = None):
        c = np.asarray(coefs, dtype=float)
        if c.ndim == 1:
            c = c[:, None]
        if c.ndim != 2 or c.shape[0] == 0 or not np.all(np.isfinite(c)):
            raise ValueError(f"Invalid coefs: expected a finite array (horizon, dim), got shape {np.shape(coefs)}")
        self.coefs = c
        self.horizon, self.dim = c.shape
        self.lower = np.broadcast_to(np.asarray(lower, dtype=float), (self.dim,)).copy()
        self.upper = np.broadcast_to(np.asarray(upper, dtype=float), (self.dim,)).copy()
        if not np.all(self.lower < self.upper):
            raise ValueError(f"Invalid box: lower={lower!r} must lie below upper={upper!r}")
        self.name = name or f"linear losses (d={self.dim}, {self.horizon} rounds)"

    def loss(self, t: int, x) -> float:
        return float(self.coefs[self._round(t) - 1] @ self._point(x))

    def grad(self, t: int, x) -> np.ndarray:
        self._point(x)
        return self.coefs[self._round(t) - 1].copy()

    def best_in_hindsight(self, rounds):
        r = self._rounds(rounds)
        C = np.cumsum(self.coefs, axis=0)[r - 1]
        points = np.where(C > 0, self.lower, self.upper)
        return points, np.sum(np.minimum(self.lower * C, self.upper * C), axis=1)


def adagrad_regret_bound(grads, diameter: float, lr: float, eps: float = 0.0, rounds=None) -> np.ndarray:
    r"""The right-hand side of diagonal AdaGrad's regret bound (Duchi, Hazan & Singer 2011) after each horizon,

    .. math:: R_K \le \frac{D_\infty^2}{2\eta}\sum_{i=1}^d \big(\epsilon + \sqrt{s_{K,i}}\big)
              + \eta\sum_{i=1}^d \sqrt{s_{K,i}},\qquad s_{K,i} = \sum_{t\le K} g_{t,i}^2,

    for the gradients ``grads`` seen (one row per round), a box whose sides are at most ``diameter``
    (:math:`D_\infty`), the base rate ``lr`` (:math:`\eta`) and ``eps``. The second term is the lemma
    :math:`\sum_t a_t/\sqrt{s_t} \le 2\sqrt{s_K}` times :math:`\eta/2`. ``rounds`` (integers from 1) selects the
    horizons; by default every round.
    """
    g = np.asarray(grads, dtype=float)
    if g.ndim == 1:
        g = g[:, None]
    if g.ndim != 2 or g.shape[0] == 0 or not np.all(np.isfinite(g)):
        raise ValueError(f"Invalid grads: expected a finite array (rounds, dim), got shape {np.shape(grads)}")
    D = _pos_float("diameter", diameter)
    eta = _pos_float("lr", lr)
    eps = _pos_float("eps", eps, allow_zero=True)
    sqrt_s = np.sqrt(np.cumsum(g * g, axis=0)).sum(axis=1)
    bound = D ** 2 / (2.0 * eta) * (sqrt_s + g.shape[1] * eps) + eta * sqrt_s
    if rounds is None:
        return bound
    r = np.atleast_1d(np.asarray(rounds))
    if r.ndim != 1 or not np.issubdtype(r.dtype, np.integer) or r.min() < 1 or r.max() > g.shape[0]:
        raise ValueError(f"Invalid rounds: expected integers in [1, {g.shape[0]}], got {rounds!r}")
    return bound[r - 1]


def sparse_features(n: int, p_common: float = 0.5, p_rare: float = 0.02, d_common: int = 10, d_rare: int = 30,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Binary features, :math:`d_c` common ones and :math:`d_r` rare ones, and a weight vector.

    Feature :math:`j` of each of the ``n`` rows is 1 with probability :math:`p_j`
    (``p_common`` for the first ``d_common`` features, ``p_rare`` for the others), independently.
    The weights are :math:`w_j \sim \mathcal N(0, 0.3^2)` on the common features and
    :math:`\pm 3` (random signs) on the rare ones: rare but informative, as uncommon words in a
    document. Returns ``(X, w, p)`` with ``X`` of shape ``(n, d_common + d_rare)``.
    """
    n = _pos_int("n", n)
    d_common = _pos_int("d_common", d_common, minimum=0)
    d_rare = _pos_int("d_rare", d_rare, minimum=0)
    if d_common + d_rare == 0:
        raise ValueError("Invalid d_common, d_rare: d_common=0 and d_rare=0 (no features)")
    rng = np.random.default_rng(seed)
    p = np.concatenate([np.full(d_common, _probability("p_common", p_common)),
                        np.full(d_rare, _probability("p_rare", p_rare))])
    w = np.concatenate([rng.normal(0.0, 0.3, d_common), 3.0 * rng.choice([-1.0, 1.0], d_rare)])
    X = (rng.random((n, p.size)) < p).astype(float)
    return X, w, p


class SparseLeastSquares(OnlineProblem):
    r"""A stream of regularised squared losses on sparse binary features, played on a box.

    .. math::
        f_t(x) = \tfrac12\,(a_t^\top x - b_t)^2 + \tfrac\lambda2\|x\|^2,\qquad
        \nabla f_t(x) = (a_t^\top x - b_t)\,a_t + \lambda x,

    with rows :math:`a_t` from :func:`sparse_features` (``n = horizon``, seeded with ``seed``),
    :math:`b_t = a_t^\top w + \sigma\varepsilon_t` (:math:`\varepsilon_t` standard normal, from the
    generator seeded with ``seed + 1``) and :math:`\mathcal X = [-r, r]^d` (``box`` = r).

    The best fixed point after :math:`T` rounds minimises
    :math:`\tfrac12\|A_T x - b_T\|^2 + \tfrac{\lambda T}{2}\|x\|^2` over the box. Without the box
    it solves :math:`(A_T^\top A_T + T\lambda I)\,x = A_T^\top b_T`; when that solution lies in
    the box it is the answer, otherwise the bounded least-squares problem is solved exactly by
    the active-set method of :func:`scipy.optimize.lsq_linear` (``inside_box`` records which).
    """

    def __init__(self, horizon: int, lam: float = 1e-2, box: float = 5.0, noise: float = 0.5, seed: int = 0,
                 **features):
        self.horizon = _pos_int("horizon", horizon)
        self.lam = _pos_float("lam", lam, allow_zero=True)
        self.box = _pos_float("box", box)
        self.noise = _pos_float("noise", noise, allow_zero=True)
        self.A, self.w, self.freq = sparse_features(self.horizon, seed=seed, **features)
        eps = np.random.default_rng(seed + 1).standard_normal(self.horizon)
        self.b = self.A @ self.w + self.noise * eps
        self.dim = self.A.shape[1]
        self.lower, self.upper = np.full(self.dim, -self.box), np.full(self.dim, self.box)
        self.inside_box: np.ndarray | None = None
        self.name = f"online sparse least squares (d={self.dim}, lam={self.lam:g}, box={self.box:g})"

    def loss(self, t: int, x) -> float:
        i, x = self._round(t) - 1, self._point(x)
        r = self.A[i] @ x - self.b[i]
        return float(0.5 * r * r + 0.5 * self.lam * (x @ x))

    def grad(self, t: int, x) -> np.ndarray:
        i, x = self._round(t) - 1, self._point(x)
        r = self.A[i] @ x - self.b[i]
        return r * self.A[i] + self.lam * x

    def best_in_hindsight(self, rounds):
        from scipy.optimize import lsq_linear

        r = self._rounds(rounds)
        order = np.argsort(r, kind="stable")
        d = self.dim
        AtA, Atb, done = np.zeros((d, d)), np.zeros(d), 0
        points, losses, inside = np.empty((r.size, d)), np.empty(r.size), np.empty(r.size, dtype=bool)
        for j in order:
            T = int(r[j])
            if T > done:                                   # running sums A_T^T A_T, A_T^T b_T
                blk = self.A[done:T]
                AtA += blk.T @ blk
                Atb += blk.T @ self.b[done:T]
                done = T
            x = np.linalg.solve(AtA + T * self.lam * np.eye(d), Atb)
            inside[j] = bool(np.all(np.abs(x) <= self.box))
            if not inside[j]:                              # the box binds: bounded least squares
                M = np.vstack([self.A[:T], math.sqrt(T * self.lam) * np.eye(d)])
                rhs = np.concatenate([self.b[:T], np.zeros(d)])
                x = lsq_linear(M, rhs, bounds=(self.lower, self.upper), method="bvls", tol=1e-12).x
            points[j] = x
            res = self.A[:T] @ x - self.b[:T]
            losses[j] = 0.5 * (res @ res) + 0.5 * self.lam * T * (x @ x)
        self.inside_box = inside
        return points, losses


# --- play -------------------------------------------------------------------------------
@dataclass
class OnlinePlay:
    r"""What :func:`play` records.

    ``xs``: the iterates, shape ``(T+1, dim)``; ``xs[t-1]`` is the point :math:`x_t` played in
    round :math:`t` and ``xs[T]`` the point after the last round. ``losses``: :math:`f_t(x_t)`,
    shape ``(T,)``. ``grads``: :math:`\nabla f_t(x_t)`, shape ``(T, dim)``. ``rounds``: the
    horizons :math:`T'` at which the regret was computed; ``best_points`` and ``best_losses``:
    the best fixed point in hindsight and its cumulative loss at each of them; ``regret``:
    :math:`R_{T'} = \sum_{t\le T'} f_t(x_t) - \sum_{t\le T'} f_t(x^\star_{T'})`.
    ``diverged`` is ``True`` when a non-finite value stopped the run (``reason`` says where);
    the unplayed rounds hold NaN.
    """

    xs: np.ndarray
    losses: np.ndarray
    grads: np.ndarray
    rounds: np.ndarray
    best_points: np.ndarray
    best_losses: np.ndarray
    regret: np.ndarray
    diverged: bool = False
    reason: str = ""

    @property
    def average_regret(self) -> np.ndarray:
        r""":math:`R_{T'}/T'` at each of ``rounds``."""
        return self.regret / self.rounds

    @property
    def x(self) -> np.ndarray:
        """The last iterate."""
        return self.xs[-1]


def play(problem: OnlineProblem, method: Callable, T: int, x0=None, lr: Callable[[int], float] | None = None,
         rounds=None, project: bool = True) -> OnlinePlay:
    r"""Play ``method`` for ``T`` rounds of ``problem``: projected online steps.

    For :math:`t = 1, \dots, T`: pay :math:`f_t(x_t)`, take :math:`g_t = \nabla f_t(x_t)` and set

    .. math::  x_{t+1} = \Pi_{\mathcal X}\big(\text{method}(x_t, g_t, t-1)\big),

    where :math:`\Pi_{\mathcal X}` clips to the box (``project=False`` leaves it out). ``method``
    is any callable ``method(x, g, k) -> x_next`` (``k = t - 1``, as :func:`gdlab.runner.run`
    counts), e.g. ``gdlab.optim.numpy.Adagrad(lr=1.0)``. ``lr``, a function of the round
    :math:`t`, sets ``method.lr`` before each step (a schedule such as :math:`\alpha/\sqrt t`).
    ``x0`` defaults to the projection of the origin. The regret is computed exactly at every
    round, or at the rounds listed in ``rounds`` (integers in :math:`[1, T]`). A non-finite
    iterate, loss or gradient stops the run with ``diverged=True`` and a ``RuntimeWarning``.
    """
    if not isinstance(problem, OnlineProblem):
        raise ValueError(f"Invalid problem: problem={problem!r} (expected an OnlineProblem)")
    if not callable(method):
        raise ValueError(f"Invalid method: method={method!r} (expected a callable method(x, g, k))")
    T = _pos_int("T", T)
    if problem.horizon is not None and T > problem.horizon:
        raise ValueError(f"Invalid T: T={T} exceeds the stream's horizon={problem.horizon}")
    if lr is not None:
        if not callable(lr):
            raise ValueError(f"Invalid lr: lr={lr!r} (expected a function of the round t)")
        if not hasattr(method, "lr"):
            raise ValueError(f"Invalid lr: the method {method!r} has no attribute lr to schedule")
    r = np.arange(1, T + 1) if rounds is None else problem._rounds(rounds)
    if r.max() > T:
        raise ValueError(f"Invalid rounds: the largest, {r.max()}, exceeds T={T}")
    x = problem.project(np.zeros(problem.dim)) if x0 is None else np.array(x0, dtype=float)
    if x.shape != (problem.dim,):
        raise ValueError(f"Invalid x0: expected shape ({problem.dim},), got {x.shape}")
    if project:
        x = problem.project(x)
    xs = np.full((T + 1, problem.dim), np.nan)
    losses = np.full(T, np.nan)
    grads = np.full((T, problem.dim), np.nan)
    xs[0] = x
    diverged, reason = False, ""
    for t in range(1, T + 1):
        loss, g = problem.loss(t, x), problem.grad(t, x)
        if not (math.isfinite(loss) and np.all(np.isfinite(g))):
            diverged, reason = True, f"non-finite loss or gradient in round {t}"
            break
        losses[t - 1], grads[t - 1] = loss, g
        if lr is not None:
            a = float(lr(t))
            if not (math.isfinite(a) and a >= 0):
                raise ValueError(f"Invalid lr: lr({t})={a} (expected a finite number >= 0)")
            method.lr = a
        x = np.asarray(method(x, g, t - 1), dtype=float)
        if project:
            x = problem.project(x)
        if not np.all(np.isfinite(x)):
            diverged, reason = True, f"non-finite iterate after round {t}"
            break
        xs[t] = x
    if diverged:
        warnings.warn(f"play on {problem.name}: {reason}; the later rounds are NaN", RuntimeWarning, stacklevel=2)
    best_points, best_losses = problem.best_in_hindsight(r)
    regret = np.cumsum(losses)[r - 1] - best_losses
    return OnlinePlay(xs=xs, losses=losses, grads=grads, rounds=r, best_points=best_points,
                      best_losses=best_losses, regret=regret, diverged=diverged, reason=reason)
