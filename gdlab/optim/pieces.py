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

    With ``lr_scaled=False`` the decay is :math:`\theta \leftarrow \theta(1-\lambda)`, tied neither to the
    learning rate nor to its schedule. (Loshchilov & Hutter's Algorithm 2 multiplies λ by the schedule multiplier
    :math:`\eta_t` but not by the base rate :math:`\alpha`: that is the default form with ``lr`` :math:`= \alpha\eta_t`
    and λ divided by :math:`\alpha`.)
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
    bufs = [s.get(name) for s in ctx.states]
    if any(b is None for b in bufs):  # some parameters take their first step: b_1 = g
        old_i = [i for i, b in enumerate(bufs) if b is not None]
        for i, b in enumerate(bufs):
            if b is None:
                bufs[i] = ctx.states[i][name] = ops.clone([grads[i]])[0]
        if old_i:
            old = [bufs[i] for i in old_i]
            ops.mul_(old, momentum)
            ops.add_(old, [grads[i] for i in old_i], alpha=1.0 - dampening)
        return bufs
    ops.mul_(bufs, momentum)
    ops.add_(bufs, grads, alpha=1.0 - dampening)
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



def amsgrad_max_corrected(ctx: Context, v: list, betas=None, name: str = "max_exp_avg_sq") -> list:
    r"""AMSGrad as in optax: :math:`\hat v_{\max} \leftarrow \max(\hat v_{\max}, v/(1-\beta_2^t))`.

    The maximum is taken of the *bias-corrected* second moment, so the buffer already holds
    :math:`\hat v` and needs no further correction.
    """
    _, b2 = ctx.group["betas"] if betas is None else betas
    vhat = ctx.ops.div(v, bias_correction(b2, ctx.steps))
    vmax = ctx.buffer(name)
    ctx.ops.maximum_(vmax, vhat)
    return vmax


# --- momentum with the learning rate inside --------------------------------------------------
def velocity(ctx: Context, grads: list, momentum: float, lr: float | None = None,
             name: str = "velocity") -> list:
    r"""Sutskever et al. (2013): :math:`v \leftarrow \mu v - \eta g` (:math:`v_0 = 0`).

    The learning rate enters the velocity, so a change of :math:`\eta` affects only the
    gradients taken after it (torch's buffer is multiplied by the *current* rate instead).
    """
    lr = ctx.group["lr"] if lr is None else lr
    ops = ctx.ops
    for s, g in zip(ctx.states, grads):
        if s.get(name) is None:
            s[name] = ops.zeros_like(g)
    v = ctx.buffer(name)
    ops.mul_(v, momentum)
    ops.add_(v, grads, alpha=-lr)
    return v


# --- second moments ----------------------------------------------------------------------------
def accumulate_square(ctx: Context, grads: list, name: str = "sum") -> list:
    r"""Adagrad's accumulator (Duchi et al. 2011): :math:`s \leftarrow s + g^2`."""
    s = ctx.buffer(name)
    ctx.ops.addcmul_(s, grads, grads, 1.0)
    return s


def ema_square(ctx: Context, grads: list, beta: float, name: str = "square_avg") -> list:
    r"""Exponential average of squares: :math:`v \leftarrow \beta v + (1-\beta) g^2`."""
    v = ctx.buffer(name)
    ctx.ops.mul_(v, beta)
    ctx.ops.addcmul_(v, grads, grads, 1.0 - beta)
    return v


def ema(ctx: Context, grads: list, beta: float, name: str) -> list:
    r"""Exponential average: :math:`m \leftarrow \beta m + (1-\beta) g`."""
    m = ctx.buffer(name)
    ctx.ops.lerp_(m, grads, 1.0 - beta)
    return m


def root_plus_eps(ctx: Context, v: list, eps: float, inside: bool = False) -> list:
    r""":math:`\sqrt{v} + \epsilon` (a new list), or :math:`\sqrt{v + \epsilon}` with ``inside=True``."""
    ops = ctx.ops
    if inside:
        den = ops.add(v, eps)
        return ops.sqrt_(den)
    den = ops.sqrt(v)
    return ops.add_(den, eps)


# --- NAdam's momentum schedule ---------------------------------------------------------------
def nadam_mu(beta1: float, t: int, momentum_decay: float) -> float:
    r"""Dozat's momentum schedule as in torch: :math:`\mu_t = \beta_1(1 - \tfrac12\, 0.96^{t\psi})`."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))


# --- RAdam's rectification ---------------------------------------------------------------------
def radam_rectification(beta2: float, t: int, threshold: float = 5.0) -> tuple[float, float | None]:
    r"""RAdam (Liu et al. 2020): the length of the approximated SMA and the rectification.

    .. math::
        \rho_\infty = \frac{2}{1-\beta_2} - 1,\qquad
        \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t},\qquad
        r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}

    Returns ``(rho_t, r_t)`` with ``r_t = None`` when :math:`\rho_t \le` ``threshold``
    (torch uses 5, the paper 4): the step is then un-adapted momentum SGD.
    """
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    c2 = 1.0 - beta2**t
    rho_t = rho_inf - 2.0 * t * beta2**t / c2
    if rho_t <= threshold:
        return rho_t, None
    r = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)) ** 0.5
    return rho_t, r


# --- Adafactor's factored second moment ----------------------------------------------------
def factored_second_moment(ctx: Context, grads: list, decay: list[float], eps1: float,
                           eps_inside: bool = False) -> list:
    r"""Adafactor's estimate of :math:`\mathbb E[g^2]` (Shazeer & Stern 2018), one array per parameter.

    For a tensor with at least two dimensions, with :math:`\hat\beta_{2t} = 1 - \text{decay}`,

    .. math::
        R &\leftarrow \hat\beta_{2t} R + (1-\hat\beta_{2t})\,\mathrm{mean}_{\text{cols}}(g^2),\qquad
        C \leftarrow \hat\beta_{2t} C + (1-\hat\beta_{2t})\,\mathrm{mean}_{\text{rows}}(g^2) \\
        \hat V &= R\,C / \max(\mathrm{mean}(R), \epsilon_1)

    (R is a column of row means, C a row of column means, over the last two dimensions; with
    sums instead of means, as the paper writes it, :math:`\hat V` is the same).
    A tensor with fewer than two dimensions keeps the full :math:`V \leftarrow \hat\beta_{2t} V + (1-\hat\beta_{2t}) g^2`.
    With ``eps_inside=True`` (the paper's Algorithms 4-5), :math:`g^2 + \epsilon_1` replaces :math:`g^2`
    and the mean of R is not clamped. Buffers ``row_var``/``col_var`` or ``variance``; returns new arrays.
    """
    ops = ctx.ops
    out = []
    for s, g, w in zip(ctx.states, grads, decay):
        g2 = g * g
        if eps_inside:
            g2 = g2 + eps1
        if "variance" in s:
            v = s["variance"]
            ops.lerp_([v], [g2], w)
            out.append(ops.clone([v])[0])
        else:
            r, c = s["row_var"], s["col_var"]
            if eps_inside:
                ops.lerp_([r], [ops.mean(g2, -1)], w)
                ops.lerp_([c], [ops.mean(g2, -2)], w)
                out.append(ops.matmul(r, c) / ops.mean(r, -2))
            else:
                ops.lerp_([r], [ops.mean_sq(g, -1)], w)
                ops.lerp_([c], [ops.mean_sq(g, -2)], w)
                out.append(ops.matmul(r, c) / ops.clamp_min_([ops.mean(r, -2)], eps1)[0])
    return out
