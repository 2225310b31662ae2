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
           "nesterov_convex_bound", "first_order_lower_bound"]


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
