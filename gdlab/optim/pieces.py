r"""Small named pieces that update rules are composed from.

Each piece is one equation of a paper. A rule reads as the list of its pieces, e.g.

.. code-block:: python

    decoupled_weight_decay(ctx)                  # θ ← θ (1 − η λ)             (Loshchilov & Hutter)
    m, v = adam_moments(ctx, g)                  # m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²
    num, den, scale = adam_ratio(ctx, m, v)      # m̂ / (√v̂ + ε) as (m, √v + ε√(1−β₂ᵗ), √(1−β₂ᵗ)/(1−β₁ᵗ))
    apply_ratio(ctx, num, den, scale)            # θ ← θ − η · scale · num / den

so AdamW is Adam plus one line. Pieces take and return lists (one entry per parameter)
and do their arithmetic through ``ctx.ops``.
"""

from __future__ import annotations

import math

from .base import Context
from .ops import bias_correction


# --- what goes into the gradient ---------------------------------------------------------
def l2_into_gradient(ctx: Context, grads: list, weight_decay: float | None = None) -> list:
    r"""Coupled L2 regularisation: :math:`g \leftarrow g + \lambda\theta` (a new list)."""
    wd = ctx.group.get("weight_decay", 0.0) if weight_decay is None else weight_decay
    if wd == 0.0:
        return grads
    return ctx.ops.add(grads, ctx.params, alpha=wd)


def decoupled_weight_decay(ctx: Context, weight_decay: float | None = None, lr_scaled: bool = True) -> None:
    r"""Decoupled decay (Loshchilov & Hutter 2019): :math:`\theta \leftarrow \theta(1-\eta\lambda)`.

    With ``lr_scaled=False`` the paper's schedule-free form :math:`\theta \leftarrow \theta(1-\lambda)`
    is used instead (the decay is then not tied to the learning rate).
    """
    wd = ctx.group.get("weight_decay", 0.0) if weight_decay is None else weight_decay
    if wd == 0.0:
        return
    factor = 1.0 - (ctx.group["lr"] * wd if lr_scaled else wd)
    ctx.ops.mul_(ctx.params, factor)


# --- momentum ------------------------------------------------------------------------------
def momentum_buffer(ctx: Context, grads: list, momentum: float, dampening: float = 0.0,
                    name: str = "momentum_buffer") -> list:
    r"""torch's heavy-ball buffer: :math:`b \leftarrow \mu b + (1-\tau) g`, and :math:`b_1 = g`.

    The first step copies the gradient without dampening, as torch.optim.SGD does.
    """
    ops = ctx.ops
    bufs = []
    fresh_i, old_i = [], []
    for i, s in enumerate(ctx.states):
        if s.get(name) is None:
            fresh_i.append(i)
        else:
            old_i.append(i)
    for i in fresh_i:
        ctx.states[i][name] = ops.clone([grads[i]])[0]
    if old_i:
        old = [ctx.states[i][name] for i in old_i]
        ops.mul_(old, momentum)
        ops.add_(old, [grads[i] for i in old_i], alpha=1.0 - dampening)
    bufs = [ctx.states[i][name] for i in range(len(ctx.states))]
    return bufs


# --- Adam's moments ------------------------------------------------------------------------
def adam_moments(ctx: Context, grads: list, betas=None, m_name: str = "exp_avg",
                 v_name: str = "exp_avg_sq") -> tuple[list, list]:
    r""":math:`m \leftarrow \beta_1 m + (1-\beta_1) g`, :math:`v \leftarrow \beta_2 v + (1-\beta_2) g^2`."""
    b1, b2 = ctx.group["betas"] if betas is None else betas
    ops = ctx.ops
    m, v = ctx.buffer(m_name), ctx.buffer(v_name)
    ops.lerp_(m, grads, 1.0 - b1)
    ops.mul_(v, b2)
    ops.addcmul_(v, grads, grads, 1.0 - b2)
    return m, v


def adam_ratio(ctx: Context, m: list, v: list, betas=None, eps: float | None = None,
               eps_inside: bool = False) -> tuple[list, list, list[float]]:
    r"""Adam's direction :math:`\hat m/(\sqrt{\hat v}+\epsilon)`, returned unevaluated.

    With :math:`c_1 = 1-\beta_1^t`, :math:`c_2 = 1-\beta_2^t` and
    :math:`\hat m = m/c_1`, :math:`\hat v = v/c_2`,

    .. math::  \frac{\hat m}{\sqrt{\hat v} + \epsilon} = \frac{\sqrt{c_2}}{c_1}\cdot\frac{m}{\sqrt v + \epsilon\sqrt{c_2}},

    so the direction is returned as ``(m, √v + ε√c₂, √c₂/c₁)`` and applied in one fused pass.
    ``eps_inside=True`` gives the "ε-hat" form of TF/Keras and of Kingma & Ba's §2 remark,
    :math:`\frac{\sqrt{c_2}}{c_1} \cdot m/(\sqrt v + \hat\epsilon)`.
    """
    b1, b2 = ctx.group["betas"] if betas is None else betas
    eps = ctx.group["eps"] if eps is None else eps
    c1 = bias_correction(b1, ctx.steps)
    c2 = bias_correction(b2, ctx.steps)
    sc2 = [math.sqrt(c) for c in c2]
    ops = ctx.ops
    den = ops.sqrt(v)
    ops.add_(den, eps if eps_inside else [eps * s for s in sc2])
    scale = [s / c for s, c in zip(sc2, c1)]
    return m, den, scale


def amsgrad_max(ctx: Context, v: list, name: str = "max_exp_avg_sq") -> list:
    r"""AMSGrad (Reddi et al. 2018) as in torch: :math:`v_{\max} \leftarrow \max(v_{\max}, v)` on the raw v."""
    vmax = ctx.buffer(name)
    ctx.ops.maximum_(vmax, v)
    return vmax


# --- applying a direction ------------------------------------------------------------------
def apply_ratio(ctx: Context, num: list, den: list, scale, lr: float | None = None) -> None:
    r""":math:`\theta \leftarrow \theta - \eta\cdot s\cdot \mathrm{num}/\mathrm{den}` in one pass."""
    lr = ctx.group["lr"] if lr is None else lr
    value = [-lr * s for s in scale] if isinstance(scale, (list, tuple)) else -lr * scale
    ctx.ops.addcdiv_(ctx.params, num, den, value)


def apply_update(ctx: Context, update: list, scale=1.0, lr: float | None = None) -> None:
    r""":math:`\theta \leftarrow \theta - \eta\cdot s\cdot u`."""
    lr = ctx.group["lr"] if lr is None else lr
    alpha = [-lr * s for s in scale] if isinstance(scale, (list, tuple)) else -lr * scale
    ctx.ops.add_(ctx.params, update, alpha=alpha)

