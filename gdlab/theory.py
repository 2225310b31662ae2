r"""The convergence bounds of gradient descent that the chapters check.

Gradient descent :math:`x_{k+1} = x_k - \alpha\nabla f(x_k)` on an L-smooth function
(Nesterov 2004, §2.1; Bottou, Curtis & Nocedal 2018):

* convex, :math:`\alpha = 1/L`:
  :math:`f(x_k)-f^\star \le \dfrac{L\|x_0-x^\star\|^2}{2k}` (:func:`gd_convex_bound`);
* :math:`\mu`-strongly convex, :math:`\alpha=1/L`:
  :math:`\|x_k-x^\star\|^2 \le (1-\mu/L)^k\|x_0-x^\star\|^2`, and at any
  :math:`0<\alpha<2/L` the factor :math:`\max(|1-\alpha\mu|,|1-\alpha L|)^{2k}`, which at
  :math:`\alpha = 2/(\mu+L)` is :math:`\big(\tfrac{\kappa-1}{\kappa+1}\big)^{2k}`
  (:func:`gd_strongly_convex_bound`, :func:`gd_contraction`, :func:`gd_rate`);
* non-convex, :math:`\alpha=1/L`:
  :math:`\min_{i<k}\|\nabla f(x_i)\|^2 \le \dfrac{2L(f(x_0)-f^\star)}{k}` (:func:`gd_nonconvex_bound`).

Heavy-ball momentum :math:`x_{k+1} = x_k - \alpha\nabla f(x_k) + \beta(x_k - x_{k-1})` on a quadratic
{cite}`polyak1964some`: along an eigenvector with eigenvalue :math:`\lambda` the error pair
:math:`(e_k, e_{k-1})` is multiplied by the 2x2 matrix :func:`heavy_ball_matrix`, whose
:func:`spectral_radius` is the asymptotic factor per step; :func:`heavy_ball_rate` takes the worst
eigenvalue and :func:`heavy_ball_tuning` gives the optimal pair
:math:`\alpha = \big(2/(\sqrt L+\sqrt\mu)\big)^2`, :math:`\beta = \big(\tfrac{\sqrt\kappa-1}{\sqrt\kappa+1}\big)^2`.

Acceleration ({cite}`nesterov1983method`; {cite}`nesterov2004introductory`, §2.1–2.2): Nesterov's
method at step :math:`1/L` on a convex L-smooth function has
:math:`f(x_k)-f^\star \le \dfrac{2L\|x_0-x^\star\|^2}{(k+1)^2}`
(:func:`nesterov_convex_bound`), and no first-order method can beat
:math:`\dfrac{3L\|x_0-x^\star\|^2}{32(k+1)^2}` for :math:`k \le (d-1)/2`
(:func:`first_order_lower_bound`, attained by :class:`gdlab.problems.NesterovWorstCase`).
:func:`nesterov_momentum` is the schedule :math:`\beta_k = (t_k-1)/t_{k+1}` of the convex method; with a
constant momentum, :func:`nesterov_tuning`, :func:`nesterov_matrix` and :func:`nesterov_spectral_radius` are the
strongly convex tuning and the 2x2 iteration on a quadratic.

SGD on a :math:`\mu`-strongly convex function with gradient noise of variance :math:`\sigma^2`
({cite}`robbins1951stochastic`; {cite}`bottou2018optimization`, §4.2): the noise ball of a constant step
(:func:`sgd_noise_ball`, :func:`sgd_constant_step_bound`), the :math:`O(1/k)` bound of steps :math:`a/(k+b)`
(:func:`sgd_decreasing_step_bound`) and its limiting constant (:func:`sgd_asymptotic_constant`), and the exact
mean squared distance on a quadratic (:func:`sgd_quadratic_error`).

Every bound accepts an integer or an array of iteration counts ``k`` and returns a float
or an array of the same shape. Where a bound says nothing at ``k = 0`` it returns ``inf``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["gd_convex_bound", "gd_strongly_convex_bound", "gd_nonconvex_bound", "gd_rate",
           "gd_contraction", "gd_decrease_coefficient",
           "HeavyBallTuning", "heavy_ball_tuning", "heavy_ball_matrix", "spectral_radius", "heavy_ball_rate",
           "heavy_ball_max_step",
           "nesterov_convex_bound", "first_order_lower_bound",
           "nesterov_momentum", "NesterovTuning", "nesterov_tuning", "nesterov_matrix", "nesterov_spectral_radius",
           "sgd_noise_ball", "sgd_constant_step_bound", "sgd_decreasing_step_bound", "sgd_asymptotic_constant",
           "sgd_quadratic_error", "sgd_quadratic_zscores"]


def _pos(name: str, v) -> float:
    v = float(v)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive finite number, got {name}={v}")
    return v


def _nonneg(name: str, v) -> float:
    v = float(v)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a non-negative finite number, got {name}={v}")
    return v


def _steps(k) -> np.ndarray:
    ka = np.asarray(k)
    if not np.issubdtype(ka.dtype, np.number) or np.any(ka < 0) or np.any(ka != np.floor(ka)):
        raise ValueError(f"k must be a non-negative integer or an array of them, got k={k!r}")
    return ka.astype(float)


def _out(v: np.ndarray):
    return float(v) if np.ndim(v) == 0 else v


def _over_k(num: float, ka: np.ndarray):
    with np.errstate(divide="ignore"):
        return _out(np.where(ka > 0, num / np.maximum(ka, 1.0), np.inf))


def gd_convex_bound(k, L: float, r0_sq: float):
    r""":math:`f(x_k)-f^\star \le L\|x_0-x^\star\|^2/(2k)` for convex L-smooth f at :math:`\alpha=1/L`.

    ``r0_sq`` is :math:`\|x_0-x^\star\|^2`. Returns ``inf`` at ``k = 0``.
    """
    L, r0_sq, ka = _pos("L", L), _nonneg("r0_sq", r0_sq), _steps(k)
    return _over_k(L * r0_sq / 2.0, ka)


def gd_contraction(alpha: float, L: float, mu: float) -> float:
    r"""Per-step contraction of the distance, :math:`\max(|1-\alpha\mu|, |1-\alpha L|)`.

    For :math:`\mu`-strongly convex, L-smooth f and :math:`0<\alpha<2/L`,
    :math:`\|x_{k+1}-x^\star\| \le q\,\|x_k-x^\star\|` with this :math:`q<1`; it is smallest,
    :math:`(\kappa-1)/(\kappa+1)`, at :math:`\alpha = 2/(\mu+L)`.
    """
    L, mu, alpha = _pos("L", L), _pos("mu", mu), _pos("alpha", alpha)
    if mu > L:
        raise ValueError(f"mu must not exceed L, got mu={mu}, L={L}")
    if alpha >= 2.0 / L:
        raise ValueError(f"alpha must be below 2/L = {2.0 / L:g} for gradient descent to contract, got alpha={alpha}")
    return max(abs(1.0 - alpha * mu), abs(1.0 - alpha * L))


def gd_strongly_convex_bound(k, L: float, mu: float, r0_sq: float, alpha: float | None = None):
    r"""Bound on :math:`\|x_k-x^\star\|^2` for :math:`\mu`-strongly convex, L-smooth f.

    With ``alpha=None`` (that is, :math:`\alpha = 1/L`) it is the classical
    :math:`(1-\mu/L)^k\,\|x_0-x^\star\|^2`. With an explicit step :math:`0<\alpha<2/L` it is
    :math:`q^{2k}\|x_0-x^\star\|^2` with :math:`q` from :func:`gd_contraction`; at
    :math:`\alpha = 2/(\mu+L)` this is :math:`\big(\tfrac{\kappa-1}{\kappa+1}\big)^{2k}\|x_0-x^\star\|^2`.
    (At :math:`\alpha = 1/L` the explicit form, :math:`(1-\mu/L)^{2k}`, is the sharper of the two.)
    """
    L, mu, r0_sq, ka = _pos("L", L), _pos("mu", mu), _nonneg("r0_sq", r0_sq), _steps(k)
    if mu > L:
        raise ValueError(f"mu must not exceed L, got mu={mu}, L={L}")
    if alpha is None:
        return _out(r0_sq * (1.0 - mu / L) ** ka)
    q = gd_contraction(alpha, L, mu)
    return _out(r0_sq * q ** (2.0 * ka))


def gd_nonconvex_bound(k, L: float, gap0: float):
    r""":math:`\min_{i<k}\|\nabla f(x_i)\|^2 \le 2L(f(x_0)-f^\star)/k` for L-smooth f at :math:`\alpha=1/L`.

    ``gap0`` is :math:`f(x_0)-f^\star` (any lower bound :math:`f^\star` of f works). Returns
    ``inf`` at ``k = 0``.
    """
    L, gap0, ka = _pos("L", L), _nonneg("gap0", gap0), _steps(k)
    return _over_k(2.0 * L * gap0, ka)


def gd_rate(kappa: float) -> float:
    r"""The optimal contraction factor of gradient descent, :math:`(\kappa-1)/(\kappa+1)`, :math:`\kappa\ge 1`."""
    kappa = float(kappa)
    if not (math.isfinite(kappa) and kappa >= 1):
        raise ValueError(f"kappa must be a finite number >= 1, got kappa={kappa}")
    return (kappa - 1.0) / (kappa + 1.0)


def gd_decrease_coefficient(alpha: float, L: float) -> float:
    r"""The descent-lemma coefficient :math:`c = \alpha(1-\alpha L/2)` in
    :math:`f(x_{k+1}) \le f(x_k) - c\,\|\nabla f(x_k)\|^2`; positive exactly when :math:`0<\alpha<2/L`,
    largest, :math:`1/(2L)`, at :math:`\alpha = 1/L`.
    """
    alpha, L = _pos("alpha", alpha), _pos("L", L)
    return alpha * (1.0 - alpha * L / 2.0)


# --- heavy-ball momentum on quadratics ---------------------------------------------------------
class HeavyBallTuning(NamedTuple):
    r"""Polyak's optimal heavy-ball pair for curvatures in :math:`[\mu, L]` and the rate it attains."""

    alpha: float
    beta: float
    rate: float


def _mu_L(L, mu) -> tuple[float, float]:
    L, mu = _pos("L", L), _pos("mu", mu)
    if mu > L:
        raise ValueError(f"mu must not exceed L, got mu={mu}, L={L}")
    return L, mu


def heavy_ball_tuning(L: float, mu: float) -> HeavyBallTuning:
    r"""The optimal heavy-ball step and momentum on a quadratic with eigenvalues in :math:`[\mu, L]`:

    .. math:: \alpha = \Big(\frac{2}{\sqrt L+\sqrt\mu}\Big)^2,\qquad
              \beta = \Big(\frac{\sqrt\kappa-1}{\sqrt\kappa+1}\Big)^2,\qquad
              \text{rate} = \sqrt\beta = \frac{\sqrt\kappa-1}{\sqrt\kappa+1},

    with :math:`\kappa = L/\mu`. Returns ``(alpha, beta, rate)`` as a :class:`HeavyBallTuning`;
    the rate is the factor per step on :math:`\|x_k-x^\star\|` (up to a factor polynomial in k).
    """
    L, mu = _mu_L(L, mu)
    sL, sm = math.sqrt(L), math.sqrt(mu)
    rate = (sL - sm) / (sL + sm)
    return HeavyBallTuning((2.0 / (sL + sm)) ** 2, rate * rate, rate)


def _hb_args(alpha, beta, lam):
    a, b, lm = (np.asarray(v, dtype=float) for v in (alpha, beta, lam))
    if not (np.all(np.isfinite(a)) and np.all(a > 0)):
        raise ValueError(f"alpha must be positive and finite, got alpha={alpha!r}")
    if not (np.all(np.isfinite(b)) and np.all(b >= 0) and np.all(b < 1)):
        raise ValueError(f"beta must lie in [0, 1), got beta={beta!r}")
    if not (np.all(np.isfinite(lm)) and np.all(lm >= 0)):
        raise ValueError(f"lam must be non-negative and finite, got lam={lam!r}")
    return a, b, lm


def heavy_ball_matrix(alpha: float, beta: float, lam: float) -> np.ndarray:
    r"""The 2x2 iteration matrix of the heavy ball along an eigenvector with eigenvalue :math:`\lambda`:

    .. math:: \begin{pmatrix} e_{k+1} \\ e_k \end{pmatrix} =
              \underbrace{\begin{pmatrix} 1+\beta-\alpha\lambda & -\beta \\ 1 & 0 \end{pmatrix}}_{T}
              \begin{pmatrix} e_k \\ e_{k-1} \end{pmatrix},

    where :math:`e_k` is the error's coordinate on that eigenvector. Scalars only.
    """
    if np.ndim(alpha) or np.ndim(beta) or np.ndim(lam):
        raise ValueError("heavy_ball_matrix takes scalar alpha, beta and lam; use spectral_radius for arrays")
    a, b, lm = (float(v) for v in _hb_args(alpha, beta, lam))
    return np.array([[1.0 + b - a * lm, -b], [1.0, 0.0]])


def spectral_radius(alpha, beta, lam=1.0):
    r"""Spectral radius of :func:`heavy_ball_matrix`: the largest modulus of the roots of

    .. math:: z^2 - (1+\beta-h)\,z + \beta = 0,\qquad h = \alpha\lambda .

    The roots are complex, of modulus :math:`\sqrt\beta`, when :math:`(1-\sqrt\beta)^2 < h < (1+\sqrt\beta)^2`,
    and the radius is below 1 exactly when :math:`0 < h < 2+2\beta`. Broadcasts over arrays;
    with the default ``lam=1`` the first argument is :math:`h` itself.
    """
    a, b, lm = _hb_args(alpha, beta, lam)
    c = 1.0 + b - a * lm
    disc = np.sqrt((c * c - 4.0 * b).astype(complex))
    r = np.maximum(np.abs((c + disc) / 2.0), np.abs((c - disc) / 2.0))
    return _out(r)


def heavy_ball_rate(alpha, beta, L: float, mu: float):
    r"""The worst spectral radius over the eigenvalues :math:`\lambda\in[\mu, L]` of a quadratic,
    :math:`\max\big(\rho(\alpha\mu,\beta), \rho(\alpha L,\beta)\big)`.

    For fixed :math:`\beta`, :math:`\rho(h,\beta)` falls on :math:`h\le(1-\sqrt\beta)^2`, equals
    :math:`\sqrt\beta` in between and rises on :math:`h\ge(1+\sqrt\beta)^2`, so the two extreme
    eigenvalues decide. Broadcasts over ``alpha`` and ``beta``.
    """
    L, mu = _mu_L(L, mu)
    return _out(np.maximum(spectral_radius(alpha, beta, mu), spectral_radius(alpha, beta, L)))


def heavy_ball_max_step(beta, L: float = 1.0):
    r"""The stability edge of the heavy ball on a quadratic with largest eigenvalue :math:`L`: both roots of
    :math:`z^2 - (1+\beta-\alpha\lambda)z + \beta` lie inside the unit circle for every :math:`\lambda\in(0, L]`
    exactly when

    .. math:: 0 < \alpha < \frac{2 + 2\beta}{L},

    gradient descent's :math:`2/L` at :math:`\beta = 0`. Broadcasts over ``beta`` (in :math:`[0, 1)`).
    """
    b = np.asarray(beta, dtype=float)
    if not (np.all(np.isfinite(b)) and np.all(b >= 0) and np.all(b < 1)):
        raise ValueError(f"beta must lie in [0, 1), got beta={beta!r}")
    return _out((2.0 + 2.0 * b) / _pos("L", L))


# --- acceleration and the lower bound ----------------------------------------------------------
def nesterov_convex_bound(k, L: float, r0_sq: float):
    r""":math:`f(x_k)-f^\star \le \dfrac{2L\|x_0-x^\star\|^2}{(k+1)^2}` for Nesterov's method at step
    :math:`1/L` with momentum :math:`\beta_k = (t_k-1)/t_{k+1}` on a convex L-smooth f.

    ``r0_sq`` is :math:`\|x_0-x^\star\|^2`; defined for every :math:`k\ge 0`.
    """
    L, r0_sq, ka = _pos("L", L), _nonneg("r0_sq", r0_sq), _steps(k)
    return _out(2.0 * L * r0_sq / (ka + 1.0) ** 2)


def first_order_lower_bound(k, L: float, r0_sq: float, dim: int | None = None):
    r"""Nesterov's lower bound (Introductory Lectures, Thm 2.1.7): for any method whose iterates
    lie in :math:`x_0 + \mathrm{span}\{\nabla f(x_0),\dots,\nabla f(x_{k-1})\}` there is a convex
    L-smooth f on :math:`\mathbb{R}^d` with

    .. math:: f(x_k) - f^\star \ge \frac{3L\|x_0-x^\star\|^2}{32(k+1)^2},\qquad k \le \frac{d-1}{2}.

    With ``dim`` given, a ``k`` outside that range raises ``ValueError`` (the bound says nothing
    there: in :math:`d` dimensions conjugate gradients solves a quadratic in :math:`d` steps).
    """
    L, r0_sq, ka = _pos("L", L), _nonneg("r0_sq", r0_sq), _steps(k)
    if dim is not None:
        if isinstance(dim, bool) or int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be a positive integer, got dim={dim!r}")
        if np.any(2 * ka + 1 > dim):
            raise ValueError(f"the lower bound needs 2k + 1 <= dim, got k up to {int(np.max(ka))} with dim={dim}")
    return _out(3.0 * L * r0_sq / (32.0 * (ka + 1.0) ** 2))


def nesterov_momentum(k):
    r"""The momentum of Nesterov's method on convex functions, :math:`\beta_k = (t_k - 1)/t_{k+1}`, with

    .. math:: t_1 = 1,\qquad t_{k+1} = \frac{1 + \sqrt{1 + 4t_k^2}}{2},

    and :math:`\beta_0 = 0` (the first step, from :math:`x_{-1} = x_0`, has no momentum to apply); so
    :math:`\beta_0 = \beta_1 = 0`, :math:`\beta_2 = (t_2 - 1)/t_3 \approx 0.28`, and :math:`\beta_k \approx 1 - 3/k`.
    The method is :math:`y_k = x_k + \beta_k(x_k - x_{k-1})`, :math:`x_{k+1} = y_k - \nabla f(y_k)/L`
    ({cite}`nesterov1983method`, in the notation of {cite}`beck2009fast`); with it
    :func:`nesterov_convex_bound` holds. Accepts an integer or an array of them.
    """
    ka = _steps(k).astype(int)
    n = int(np.max(ka)) + 2 if ka.size else 2
    t = np.ones(n + 1)
    for j in range(1, n):
        t[j + 1] = (1.0 + math.sqrt(1.0 + 4.0 * t[j] * t[j])) / 2.0
    beta = np.where(ka > 0, (t[ka] - 1.0) / t[ka + 1], 0.0)
    return _out(beta)


class NesterovTuning(NamedTuple):
    alpha: float
    beta: float
    rate: float


def nesterov_tuning(L: float, mu: float) -> NesterovTuning:
    r"""Nesterov's constant-momentum tuning for a :math:`\mu`-strongly convex, L-smooth f:

    .. math:: \alpha = \frac1L,\qquad \beta = \frac{\sqrt\kappa-1}{\sqrt\kappa+1},\qquad
              \text{rate} = 1 - \frac{1}{\sqrt\kappa},

    with :math:`\kappa = L/\mu`. On a quadratic the error along the eigenvector of :math:`\mu` has a double root
    of modulus ``rate`` (:func:`nesterov_spectral_radius`), every other eigenvalue a smaller one, so
    :math:`\|x_k - x^\star\| \le C(k+1)\,\text{rate}^k\|x_0 - x^\star\|`.
    """
    L, mu = _mu_L(L, mu)
    s = math.sqrt(L / mu)
    return NesterovTuning(1.0 / L, (s - 1.0) / (s + 1.0), 1.0 - 1.0 / s)


def _nag_args(alpha, beta, lam):
    a, b, lm = (np.asarray(v, dtype=float) for v in (alpha, beta, lam))
    if not (np.all(np.isfinite(a)) and np.all(a > 0)):
        raise ValueError(f"alpha must be positive and finite, got alpha={alpha!r}")
    if not (np.all(np.isfinite(b)) and np.all(b >= 0) and np.all(b < 1)):
        raise ValueError(f"beta must lie in [0, 1), got beta={beta!r}")
    if not (np.all(np.isfinite(lm)) and np.all(lm >= 0)):
        raise ValueError(f"lam must be non-negative and finite, got lam={lam!r}")
    return a, b, lm


def nesterov_matrix(alpha: float, beta: float, lam: float) -> np.ndarray:
    r"""The 2x2 iteration matrix of Nesterov's method with constant momentum :math:`\beta` and step
    :math:`\alpha` along an eigenvector with eigenvalue :math:`\lambda` (:math:`h = \alpha\lambda`):

    .. math:: \begin{pmatrix} e_{k+1} \\ e_k \end{pmatrix} =
              \begin{pmatrix} (1+\beta)(1-h) & -\beta(1-h) \\ 1 & 0 \end{pmatrix}
              \begin{pmatrix} e_k \\ e_{k-1} \end{pmatrix},

    since :math:`e_{k+1} = (1-h)\,y_k` with :math:`y_k = (1+\beta)e_k - \beta e_{k-1}`: the look-ahead multiplies
    the momentum term by :math:`1-h` too, where the heavy ball (:func:`heavy_ball_matrix`) does not. Scalars only.
    """
    if np.ndim(alpha) or np.ndim(beta) or np.ndim(lam):
        raise ValueError("nesterov_matrix takes scalar alpha, beta and lam; use nesterov_spectral_radius for arrays")
    a, b, lm = (float(v) for v in _nag_args(alpha, beta, lam))
    h = a * lm
    return np.array([[(1.0 + b) * (1.0 - h), -b * (1.0 - h)], [1.0, 0.0]])


def nesterov_spectral_radius(alpha, beta, lam=1.0):
    r"""Spectral radius of :func:`nesterov_matrix`: the largest modulus of the roots of

    .. math:: z^2 - (1+\beta)(1-h)\,z + \beta(1-h) = 0,\qquad h = \alpha\lambda .

    Broadcasts over arrays; with the default ``lam=1`` the first argument is :math:`h` itself. Below 1 exactly
    when :math:`0 < h < (2+2\beta)/(1+2\beta)`, which falls from gradient descent's 2 at :math:`\beta = 0` to
    :math:`4/3` as :math:`\beta \to 1` (the heavy ball's limit is :math:`2 + 2\beta`).
    """
    a, b, lm = _nag_args(alpha, beta, lam)
    one_h = 1.0 - a * lm
    c = (1.0 + b) * one_h
    disc = np.sqrt((c * c - 4.0 * b * one_h).astype(complex))
    return _out(np.maximum(np.abs((c + disc) / 2.0), np.abs((c - disc) / 2.0)))


# --- SGD on a strongly convex function ----------------------------------------------------------
def sgd_noise_ball(alpha, mu: float, sigma2: float):
    r"""The noise term of constant-step SGD on a :math:`\mu`-strongly convex, L-smooth f with gradient noise of
    variance at most :math:`\sigma^2`, at :math:`0 < \alpha \le 2/(\mu+L)`:

    .. math:: \frac{\alpha\sigma^2}{\mu(2 - \alpha\mu)} \;\approx\; \frac{\alpha\sigma^2}{2\mu}\ \ (\alpha\mu \ll 1),

    the limit of :func:`sgd_constant_step_bound`. It is the stationary :math:`\mathbb E x^2` of SGD on
    :math:`f(x) = \mu x^2/2` with noise of variance :math:`\sigma^2`, so the constant cannot be improved.
    Broadcasts over ``alpha``.
    """
    a = np.asarray(alpha, dtype=float)
    mu, sigma2 = _pos("mu", mu), _nonneg("sigma2", sigma2)
    if not (np.all(np.isfinite(a)) and np.all(a > 0) and np.all(a * mu < 2)):
        raise ValueError(f"alpha must lie in (0, 2/mu), got alpha={alpha!r} with mu={mu}")
    return _out(a * sigma2 / (mu * (2.0 - a * mu)))


def sgd_constant_step_bound(k, alpha: float, mu: float, sigma2: float, r0_sq: float):
    r""":math:`\mathbb E\|x_k - x^\star\|^2 \le (1-\alpha\mu)^{2k}\|x_0 - x^\star\|^2 + \dfrac{\alpha\sigma^2}{\mu(2-\alpha\mu)}`
    for constant-step SGD at :math:`0 < \alpha \le 2/(\mu+L)` (:func:`sgd_noise_ball` is the second term)."""
    ka, r0_sq = _steps(k), _nonneg("r0_sq", r0_sq)
    ball = sgd_noise_ball(alpha, mu, sigma2)
    return _out(r0_sq * (1.0 - float(alpha) * mu) ** (2.0 * ka) + ball)


def sgd_decreasing_step_bound(k, a: float, b: float, mu: float, sigma2: float, r0_sq: float):
    r""":math:`\mathbb E\|x_k - x^\star\|^2 \le \nu/(k+b)` for SGD with steps :math:`\alpha_k = a/(k+b)` on a
    :math:`\mu`-strongly convex, L-smooth f with noise variance at most :math:`\sigma^2`, where

    .. math:: \nu = \max\Big(\frac{a^2\sigma^2}{2a\mu - 1 - (a\mu)^2/b},\ b\,\|x_0 - x^\star\|^2\Big),

    provided :math:`b \ge a(\mu+L)/2` (every step at most :math:`2/(\mu+L)`, which the caller ensures) and
    :math:`2a\mu - 1 - (a\mu)^2/b > 0`, which needs :math:`a\mu > 1/2`. As :math:`b` grows the first term tends
    to :func:`sgd_asymptotic_constant`.
    """
    a, b, mu = _pos("a", a), _pos("b", b), _pos("mu", mu)
    sigma2, r0_sq, ka = _nonneg("sigma2", sigma2), _nonneg("r0_sq", r0_sq), _steps(k)
    c = a * mu
    margin = 2.0 * c - 1.0 - c * c / b
    if not margin > 0:
        raise ValueError(f"the bound needs 2 a mu - 1 - (a mu)^2 / b > 0, got a mu = {c:g}, b = {b:g}")
    nu = max(a * a * sigma2 / margin, b * r0_sq)
    return _out(nu / (ka + b))


def sgd_asymptotic_constant(a: float, mu, sigma2: float):
    r"""The limit of :math:`k\,\mathbb E x_k^2` for SGD with steps :math:`a/(k+b)` on :math:`f(x) = \mu x^2/2`
    with noise of variance :math:`\sigma^2`, when :math:`a\mu > 1/2`:

    .. math:: \lim_{k\to\infty} k\,\mathbb E x_k^2 = \frac{a^2\sigma^2}{2a\mu - 1},

    whatever :math:`b` and :math:`x_0`. On a quadratic with noise of covariance :math:`vI` it holds along each
    eigenvector, with :math:`\sigma^2 = v` and :math:`\mu` replaced by the eigenvalue (``mu`` broadcasts).
    """
    a, sigma2 = _pos("a", a), _nonneg("sigma2", sigma2)
    m = np.asarray(mu, dtype=float)
    if not (np.all(np.isfinite(m)) and np.all(2.0 * a * m > 1.0)):
        raise ValueError(f"the limit needs a mu > 1/2, got a={a:g}, mu={mu!r}")
    return _out(a * a * sigma2 / (2.0 * a * m - 1.0))


def sgd_quadratic_error(eigenvalues, lrs, noise_var: float, e0, variance: bool = False):
    r"""The exact :math:`e_k = \mathbb E\|x_k - x^\star\|^2`, :math:`k = 0, \dots, K`, of SGD with steps ``lrs``
    (:math:`\alpha_0, \dots, \alpha_{K-1}`) on a quadratic with the given ``eigenvalues`` and gradient noise of mean
    zero and covariance :math:`vI`, :math:`v` = ``noise_var`` (:math:`\sigma^2/d` for a noise of total variance
    :math:`\sigma^2`), from the start whose coordinates in the eigenbasis are ``e0``: along each eigenvector,

    .. math:: e_{k+1,i} = (1 - \alpha_k\lambda_i)^2\, e_{k,i} + \alpha_k^2 v,\qquad e_k = \textstyle\sum_i e_{k,i},

    the lemma of the SGD chapter with equality. The coordinate :math:`z_i` of :math:`x_k - x^\star` has mean
    :math:`m_i = \prod_{j<k}(1-\alpha_j\lambda_i)\,e_{0,i}` and a noise variance :math:`u_i` with
    :math:`e_{k,i} = m_i^2 + u_i`. With ``variance=True`` the function also returns
    :math:`\operatorname{Var}\|x_k - x^\star\|^2 = \sum_i (2u_i^2 + 4m_i^2u_i)`, exact when the noise is Gaussian (the
    coordinates are then independent Gaussians), as a second array.
    """
    lam = np.atleast_1d(np.asarray(eigenvalues, dtype=float))
    a = np.asarray(lrs, dtype=float).ravel()
    mean = np.atleast_1d(np.asarray(e0, dtype=float)).copy()
    s2 = _nonneg("noise_var", noise_var)
    if mean.shape != lam.shape or not (np.all(np.isfinite(lam)) and np.all(np.isfinite(mean))):
        raise ValueError(f"e0 must have one finite entry per eigenvalue, got shapes {mean.shape} and {lam.shape}")
    if not (np.all(np.isfinite(a)) and np.all(a >= 0)):
        raise ValueError("lrs must be finite and non-negative")
    v = np.zeros_like(lam)
    out, var = np.empty(a.size + 1), np.empty(a.size + 1)
    out[0], var[0] = float(mean @ mean), 0.0
    for k, ak in enumerate(a):
        mean = (1.0 - ak * lam) * mean
        v = (1.0 - ak * lam) ** 2 * v + ak * ak * s2
        out[k + 1] = float(mean @ mean + v.sum())
        var[k + 1] = float(np.sum(2.0 * v * v + 4.0 * mean * mean * v))
    return (out, var) if variance else out


def sgd_quadratic_zscores(measured, n_chains: int, eigenvalues, lrs, noise_var: float, e0) -> np.ndarray:
    r""":math:`|\bar e_k - e_k| / \sqrt{\operatorname{Var}\|x_k - x^\star\|^2 / n}` at every step: how many standard
    errors separate ``measured``, a mean of :math:`\|x_k - x^\star\|^2` over ``n_chains`` independent chains of SGD
    with Gaussian noise, from the exact value of :func:`sgd_quadratic_error`, with the exact variance (so that a
    skewed sample does not shrink its own standard error). 0 where the variance is 0 and the two agree to rounding,
    ``inf`` where it is 0 and they do not.
    """
    e, var = sgd_quadratic_error(eigenvalues, lrs, noise_var, e0, variance=True)
    m = np.asarray(measured, dtype=float)
    if m.shape != e.shape:
        raise ValueError(f"measured must have one entry per step (shape {e.shape}), got shape {m.shape}")
    n = int(n_chains)
    if n < 1:
        raise ValueError(f"n_chains must be a positive integer, got n_chains={n_chains!r}")
    diff = np.abs(m - e)
    se = np.sqrt(var / n)
    tiny = 1e-12 * max(float(np.max(np.abs(e))), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, diff / np.where(se > 0, se, 1.0), np.where(diff <= tiny, 0.0, np.inf))
