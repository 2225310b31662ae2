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

Every function accepts an integer or an array of iteration counts ``k`` and returns a float
or an array of the same shape. Where a bound says nothing at ``k = 0`` it returns ``inf``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["gd_convex_bound", "gd_strongly_convex_bound", "gd_nonconvex_bound", "gd_rate",
           "gd_contraction", "gd_decrease_coefficient"]


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
