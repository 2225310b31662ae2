r"""Gradient clipping: by global norm, by value, and adaptive (unit-wise) clipping.

Two faces with the same equations:

* torch, in place on ``p.grad`` like ``torch.nn.utils``: :func:`clip_grad_norm_`,
  :func:`clip_grad_value_`, :func:`adaptive_clip_grad_` (torch is imported when called);
* NumPy, returning new arrays, for the chapters: :func:`global_norm`, :func:`clip_by_global_norm`,
  :func:`clip_by_value`, :func:`adaptive_clip`. A gradient is one array or a list of arrays.

Clipping by global norm rescales every gradient by the same factor,

.. math:: g \leftarrow g\cdot\min\Bigl(1, \frac{c}{\lVert g\rVert_p + 10^{-6}}\Bigr),\qquad
          \lVert g\rVert_p = \Bigl\lVert\bigl(\lVert g^{(1)}\rVert_p, \dots, \lVert g^{(m)}\rVert_p\bigr)\Bigr\rVert_p,

over the tensors :math:`g^{(1)},\dots,g^{(m)}`, so the direction is kept. The :math:`10^{-6}` is
torch's: a clipped gradient ends slightly *below* :math:`c`. Clipping by value,
:math:`g_j \leftarrow \max(-c, \min(c, g_j))`, acts entry by entry and changes the direction.

Adaptive gradient clipping (AGC) {cite}`brock2021high` clips each *unit* relative to the size
of its weights:

.. math:: G_i \leftarrow \begin{cases}
          \lambda\,\dfrac{\max(\lVert W_i\rVert, \varepsilon)}{\lVert G_i\rVert}\,G_i &
          \text{if } \dfrac{\lVert G_i\rVert}{\max(\lVert W_i\rVert, \varepsilon)} > \lambda \\
          G_i & \text{otherwise,}\end{cases}

with Frobenius norms, :math:`\lambda = 0.01` and :math:`\varepsilon = 10^{-3}` by default. Layout: a
unit is a slice along dimension 0 (a row), which for torch's ``Linear`` weights
``(out_features, in_features)`` and ``Conv`` weights ``(out_channels, in_channels, kh, kw)``
is one output unit with all its fan-in. Tensors with at most one dimension (biases, gains,
scalars) form a single unit, their whole norm, as in the NFNets reference code. (JAX/Haiku
stores ``Linear`` weights as ``(in, out)``: transpose before comparing with code written for it.)

A non-finite gradient norm is never clipped silently: with ``error_if_nonfinite=True`` it
raises ``RuntimeError`` (as torch does); otherwise a ``RuntimeWarning`` reports it and the
gradients are scaled as torch would scale them (making them non-finite too).
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

__all__ = [
    "clip_grad_norm_", "clip_grad_value_", "adaptive_clip_grad_",
    "global_norm", "clip_by_global_norm", "clip_by_value", "adaptive_clip", "unitwise_norm",
]

_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_'s guard in c / (norm + 1e-6)


def _check_norm_type(norm_type) -> float:
    p = float(norm_type)
    if not (p > 0 or math.isinf(p)) or math.isnan(p) or p == -math.inf:
        raise ValueError(f"norm_type must be positive or inf, got norm_type={norm_type!r}")
    return p


def _check_nonneg(name: str, value) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value) and value >= 0
    if not ok:
        raise ValueError(f"{name} must be a non-negative number, got {name}={value!r}")
    return float(value)


def _check_pos(name: str, value) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise ValueError(f"{name} must be a positive finite number, got {name}={value!r}")
    return float(value)


def _nonfinite(norm_type: float, error: bool) -> None:
    msg = (f"The total norm of order {norm_type} of the gradients is non-finite, so it cannot be "
           "clipped. Set error_if_nonfinite=False to scale the gradients by the non-finite norm anyway.")
    if error:
        raise RuntimeError(msg)
    warnings.warn("non-finite gradient norm: the clipped gradients are non-finite", RuntimeWarning, stacklevel=3)


# --- torch ---------------------------------------------------------------------------------
def _grads(parameters):
    import torch

    params = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
    return params, [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False):
    r"""Rescale the gradients in place so that their global :math:`p`-norm is at most ``max_norm``.

    :math:`g \leftarrow g\min(1, c/(\lVert g\rVert_p + 10^{-6}))`; returns the norm *before*
    clipping, a tensor, as ``torch.nn.utils.clip_grad_norm_`` does (same values).
    """
    import torch

    max_norm = _check_nonneg("max_norm", max_norm)
    p = _check_norm_type(norm_type)
    _, grads = _grads(parameters)
    if not grads:
        return torch.tensor(0.0)
    norms = [torch.linalg.vector_norm(g, p) for g in grads]
    total = torch.linalg.vector_norm(torch.stack(norms), p)
    if not bool(torch.isfinite(total)):
        _nonfinite(p, error_if_nonfinite)
    coef = torch.clamp(max_norm / (total + _EPS), max=1.0)
    with torch.no_grad():
        for g in grads:
            g.mul_(coef.to(g.dtype))
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    r"""Clamp every gradient entry to :math:`[-c, c]` in place."""
    import torch

    c = _check_nonneg("clip_value", clip_value)
    _, grads = _grads(parameters)
    with torch.no_grad():
        for g in grads:
            g.clamp_(min=-c, max=c)


def _torch_unitwise_norm(x):
    import torch

    if x.ndim <= 1:
        return torch.linalg.vector_norm(x)
    return torch.linalg.vector_norm(x, dim=tuple(range(1, x.ndim)), keepdim=True)


def adaptive_clip_grad_(parameters, clipping: float = 0.01, eps: float = 1e-3) -> float:
    r"""Adaptive gradient clipping in place (see the module docstring for the equation and the
    layout). Returns the fraction of units that were clipped."""
    import torch

    lam = _check_pos("clipping", clipping)
    eps = _check_nonneg("eps", eps)
    params, _ = _grads(parameters)
    clipped = total = 0
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            w_norm = torch.clamp(_torch_unitwise_norm(p.detach()), min=eps)
            g_norm = _torch_unitwise_norm(p.grad)
            if not bool(torch.isfinite(g_norm).all()):
                warnings.warn("adaptive_clip_grad_: non-finite gradient norm; that unit is left as it is",
                              RuntimeWarning, stacklevel=2)
            max_norm = lam * w_norm
            trigger = (g_norm > max_norm) & torch.isfinite(g_norm)
            factor = torch.where(trigger, max_norm / torch.clamp(g_norm, min=1e-6), torch.ones_like(g_norm))
            p.grad.mul_(factor.to(p.grad.dtype))
            clipped += int(trigger.sum())
            total += trigger.numel()
    return clipped / total if total else 0.0


# --- NumPy ---------------------------------------------------------------------------------
def _as_list(grads):
    single = isinstance(grads, np.ndarray) or np.isscalar(grads)
    arrs = [np.asarray(grads, dtype=np.float64)] if single else [np.asarray(g, dtype=np.float64) for g in grads]
    return arrs, single


def _out(arrs, single):
    return arrs[0] if single else arrs


def global_norm(grads, norm_type: float = 2.0) -> float:
    r""":math:`\lVert(\lVert g^{(1)}\rVert_p, \dots, \lVert g^{(m)}\rVert_p)\rVert_p`, the norm of all entries together."""
    p = _check_norm_type(norm_type)
    arrs, _ = _as_list(grads)
    if not arrs:
        return 0.0
    if math.isinf(p):
        return float(max(np.max(np.abs(a)) if a.size else 0.0 for a in arrs))
    norms = np.array([np.sum(np.abs(a) ** p) ** (1.0 / p) for a in arrs])
    return float(np.sum(norms ** p) ** (1.0 / p))


def clip_by_global_norm(grads, max_norm: float, norm_type: float = 2.0, eps: float = _EPS,
                        error_if_nonfinite: bool = False):
    r"""Return ``(clipped, norm)``: :math:`g\min(1, c/(\lVert g\rVert_p + \epsilon))` and the norm before
    clipping. ``eps`` defaults to torch's :math:`10^{-6}`; ``eps=0`` gives the textbook
    :math:`g\min(1, c/\lVert g\rVert)` (and exactly ``max_norm`` after clipping)."""
    max_norm = _check_nonneg("max_norm", max_norm)
    eps = _check_nonneg("eps", eps)
    arrs, single = _as_list(grads)
    total = global_norm(arrs, norm_type)
    if not math.isfinite(total):
        _nonfinite(_check_norm_type(norm_type), error_if_nonfinite)
    with np.errstate(invalid="ignore", divide="ignore"):
        coef = min(1.0, max_norm / (total + eps)) if total + eps > 0 else 1.0
        if math.isnan(total):
            coef = math.nan
    return _out([a * coef for a in arrs], single), total


def clip_by_value(grads, clip_value: float):
    r"""Entry-wise :math:`\max(-c, \min(c, g_j))`."""
    c = _check_nonneg("clip_value", clip_value)
    arrs, single = _as_list(grads)
    return _out([np.clip(a, -c, c) for a in arrs], single)


def unitwise_norm(x) -> np.ndarray:
    """Norm of each unit: over all axes but 0 (kept, for broadcasting); the whole norm for ndim <= 1."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim <= 1:
        return np.asarray(np.sqrt(np.sum(x * x)))
    return np.sqrt(np.sum(x * x, axis=tuple(range(1, x.ndim)), keepdims=True))


def adaptive_clip(grads, params, clipping: float = 0.01, eps: float = 1e-3):
    r"""Adaptive gradient clipping; returns ``(clipped, fraction_of_units_clipped)``.

    ``grads`` and ``params`` are matching arrays or lists of arrays (units along axis 0)."""
    lam = _check_pos("clipping", clipping)
    eps = _check_nonneg("eps", eps)
    g_arrs, single = _as_list(grads)
    w_arrs, _ = _as_list(params)
    if len(g_arrs) != len(w_arrs) or any(g.shape != w.shape for g, w in zip(g_arrs, w_arrs)):
        raise ValueError("grads and params must have the same structure and shapes")
    out, clipped, total = [], 0, 0
    for g, w in zip(g_arrs, w_arrs):
        max_norm = lam * np.maximum(unitwise_norm(w), eps)
        g_norm = unitwise_norm(g)
        if not np.all(np.isfinite(g_norm)):
            warnings.warn("adaptive_clip: non-finite gradient norm; that unit is left as it is",
                          RuntimeWarning, stacklevel=2)
        trigger = (g_norm > max_norm) & np.isfinite(g_norm)
        with np.errstate(invalid="ignore", over="ignore"):
            out.append(np.where(trigger, g * (max_norm / np.maximum(g_norm, 1e-6)), g))
        clipped += int(np.sum(trigger))
        total += int(trigger.size)
    return _out(out, single), (clipped / total if total else 0.0)
