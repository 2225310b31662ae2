r"""Per-coordinate adaptive methods torch.optim also has: Adagrad, RMSprop, NAdam, RAdam."""

from __future__ import annotations

import math

from ..base import Context, Rule, check_betas, check_eps, check_lr, check_nonneg, check_range, value_of
from ..ops import bias_correction
from ..pieces import (accumulate_square, adam_moments, apply_ratio, apply_update, decoupled_weight_decay,
                      ema, ema_square, l2_into_gradient, nadam_mu, radam_rectification, root_plus_eps)


def _weight_decay(ctx: Context) -> list:
    """Decoupled θ ← θ(1 − ηλ) with `decoupled_weight_decay=True`, else coupled g ← g + λθ."""
    if ctx.group.get("decoupled_weight_decay", False):
        decoupled_weight_decay(ctx)
        return ctx.grads
    return l2_into_gradient(ctx, ctx.grads)


class Adagrad(Rule):
    r"""Adagrad (Duchi, Hazan & Singer 2011) with torch.optim.Adagrad's conventions.

    $$
    \begin{aligned}
    g_t &\leftarrow \nabla f(\theta_{t-1}) + \lambda\theta_{t-1},\qquad
    \eta_t = \frac{\eta}{1 + (t-1)\,\delta} \\
    s_t &\leftarrow s_{t-1} + g_t^2 \quad (s_0 = \texttt{initial\_accumulator\_value}) \\
    \theta_t &\leftarrow \theta_{t-1} - \eta_t\, \frac{g_t}{\sqrt{s_t} + \epsilon}
    \end{aligned}
    $$

    with δ = `lr_decay`. ε is added outside the square root, as in torch.

    Buffers: `sum` s (4 bytes per fp32 parameter).
    """

    name = "Adagrad"
    positional = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")  # as torch.optim.Adagrad
    defaults = dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                    maximize=False)
    buffers = ("sum",)
    convention = ("torch.optim.Adagrad: accumulator starts at initial_accumulator_value (0), ε = 1e-10 added "
                  "outside the root, learning rate η/(1 + (t−1)·lr_decay), weight_decay is coupled L2.")
    cite = "duchi2011adaptive"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_nonneg(hp, "lr_decay", "lr_decay")
        check_nonneg(hp, "weight_decay", "weight_decay")
        check_nonneg(hp, "initial_accumulator_value", "initial_accumulator_value")
        check_eps(hp)

    def init_state(self, ops, p, hp):
        return {"sum": ops.full_like(p, hp["initial_accumulator_value"])}

    def sparse_update(self, ctx: Context) -> None:
        """The step for sparse gradients (torch face): only the entries the gradient holds change, as in
        torch.optim.Adagrad: s ← s + g² there, and θ ← θ − η_t g/(√s + ε) on those entries. The accumulator
        stays dense. Weight decay would make the gradient dense and is refused, with torch's RuntimeError."""
        hp = ctx.group
        if hp["weight_decay"] != 0.0:
            raise RuntimeError("weight_decay option is not compatible with sparse gradients (Adagrad)")
        for p, g, s, t in zip(ctx.params, ctx.grads, ctx.states, ctx.steps):
            g = g.coalesce()
            acc = s["sum"]
            acc.add_(g * g)                                                   # s ← s + g² on g's entries
            den = acc.sparse_mask(g)                                          # s on the same entries, same order
            d = g.clone()
            d.values().div_(den.values().sqrt_().add_(hp["eps"]))             # g/(√s + ε) there
            p.add_(d, alpha=-hp["lr"] / (1.0 + (t - 1) * hp["lr_decay"]))     # θ ← θ − η_t g/(√s + ε)

    def update(self, ctx: Context) -> None:
        hp = ctx.group
        g = l2_into_gradient(ctx, ctx.grads)                                  # g ← g + λθ
        s = accumulate_square(ctx, g)                                         # s ← s + g²
        den = root_plus_eps(ctx, s, hp["eps"])                                # √s + ε
        lrs = [hp["lr"] / (1.0 + (t - 1) * hp["lr_decay"]) for t in ctx.steps]
        ctx.ops.addcdiv_(ctx.params, g, den, [-c for c in lrs])               # θ ← θ − η_t g/(√s + ε)


class RMSprop(Rule):
    r"""RMSprop (Tieleman & Hinton 2012; centered form Graves 2013) with torch.optim.RMSprop's conventions.

    $$
    \begin{aligned}
    g_t &\leftarrow \nabla f(\theta_{t-1}) + \lambda\theta_{t-1} \\
    v_t &\leftarrow \alpha v_{t-1} + (1-\alpha) g_t^2 \\
    \bar g_t &\leftarrow \alpha \bar g_{t-1} + (1-\alpha) g_t \quad\text{(centered only)} \\
    d_t &= \sqrt{v_t - \bar g_t^2} + \epsilon \ \text{(centered)} \quad\text{or}\quad \sqrt{v_t} + \epsilon \\
    b_t &\leftarrow \mu b_{t-1} + g_t / d_t,\qquad \theta_t \leftarrow \theta_{t-1} - \eta b_t
    \quad\text{(momentum } \mu > 0\text{)} \\
    \theta_t &\leftarrow \theta_{t-1} - \eta g_t/d_t \quad\text{(no momentum)}
    \end{aligned}
    $$

    ε is added outside the square root, as in torch; `eps_inside=True` gives
    $d_t = \sqrt{v_t + \epsilon}$ (the form of some TF versions and of Graves 2013).

    Buffers: `square_avg` v (4 bytes per fp32 parameter), plus `grad_avg` (centered) and
    `momentum_buffer` (momentum > 0): up to 12 bytes.
    """

    name = "RMSprop"
    positional = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")  # as torch.optim.RMSprop
    defaults = dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                    maximize=False, eps_inside=False)
    buffers = ("square_avg", "grad_avg", "momentum_buffer")
    convention = ("torch.optim.RMSprop: ε added outside the square root, centered form subtracts the squared "
                  "running mean, momentum accumulates g/(√v + ε) and the rate multiplies the buffer.")
    cite = "tieleman2012rmsprop"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_eps(hp)
        check_nonneg(hp, "momentum")
        check_nonneg(hp, "weight_decay", "weight_decay")
        check_range(hp, "alpha", 0.0, 1.0)

    def init_state(self, ops, p, hp):
        s = {"square_avg": ops.zeros_like(p)}
        if hp.get("momentum", 0.0) > 0:
            s["momentum_buffer"] = ops.zeros_like(p)
        if hp.get("centered"):
            s["grad_avg"] = ops.zeros_like(p)
        return s

    def update(self, ctx: Context) -> None:
        hp, ops = ctx.group, ctx.ops
        alpha, eps, inside = hp["alpha"], hp["eps"], hp.get("eps_inside", False)
        g = l2_into_gradient(ctx, ctx.grads)                                  # g ← g + λθ
        v = ema_square(ctx, g, alpha, "square_avg")                           # v ← αv + (1−α)g²
        if hp["centered"]:
            for s, p in zip(ctx.states, ctx.params):
                s.setdefault("grad_avg", ops.zeros_like(p))
            gbar = ema(ctx, g, alpha, "grad_avg")                             # ḡ ← αḡ + (1−α)g
            var = ops.clone(v)
            ops.addcmul_(var, gbar, gbar, -1.0)                               # v − ḡ²
            den = root_plus_eps(ctx, var, eps, inside)
        else:
            den = root_plus_eps(ctx, v, eps, inside)                          # √v + ε
        if hp["momentum"] > 0:
            for s, p in zip(ctx.states, ctx.params):
                s.setdefault("momentum_buffer", ops.zeros_like(p))
            buf = ctx.buffer("momentum_buffer")
            ops.mul_(buf, hp["momentum"])
            ops.addcdiv_(buf, g, den, 1.0)                                    # b ← μb + g/d
            apply_update(ctx, buf)                                            # θ ← θ − ηb
        else:
            apply_ratio(ctx, g, den, 1.0)                                     # θ ← θ − η g/d


class NAdam(Rule):
    r"""NAdam (Dozat 2016) with torch.optim.NAdam's momentum schedule.

    With $\mu_t = \beta_1\bigl(1 - \tfrac12\,0.96^{t\psi}\bigr)$ (ψ = `momentum_decay`) and
    $\Pi_t = \prod_{i\le t}\mu_i$:

    $$
    \begin{aligned}
    m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
    d_t &= \sqrt{v_t/(1-\beta_2^t)} + \epsilon \\
    \theta_t &\leftarrow \theta_{t-1} -
      \eta\,\frac{1-\mu_t}{1-\Pi_t}\,\frac{g_t}{d_t} -
      \eta\,\frac{\mu_{t+1}}{1-\Pi_t\mu_{t+1}}\,\frac{m_t}{d_t}
    \end{aligned}
    $$

    `weight_decay` λ is coupled L2 ($g_t \leftarrow g_t + \lambda\theta_{t-1}$), or, with
    `decoupled_weight_decay=True`, $\theta \leftarrow \theta(1-\eta\lambda)$ first (NAdamW).

    Buffers: `exp_avg`, `exp_avg_sq` (8 bytes per fp32 parameter) and the scalar `mu_product` Π_t.
    The torch face keeps Π_t as torch does, in a 0-dim tensor of the default dtype (float32 unless
    `torch.set_default_dtype(torch.float64)`), rounded there after every step and read in double precision;
    the NumPy face keeps it as a Python float.
    """

    name = "NAdam"
    positional = ("lr", "betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay")  # as torch.optim.NAdam
    defaults = dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                    decoupled_weight_decay=False, maximize=False)
    buffers = ("exp_avg", "exp_avg_sq", "mu_product")
    convention = ("torch.optim.NAdam: Dozat's schedule μ_t = β₁(1 − ½·0.96^{tψ}), ψ = 4e-3; ε added to √v̂; "
                  "coupled L2 unless decoupled_weight_decay=True.")
    cite = "dozat2016incorporating"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_eps(hp)
        check_betas(hp)
        check_nonneg(hp, "weight_decay", "weight_decay")
        check_nonneg(hp, "momentum_decay", "momentum_decay")

    def init_state(self, ops, p, hp):
        return {"exp_avg": ops.zeros_like(p), "exp_avg_sq": ops.zeros_like(p), "mu_product": ops.scalar(1.0, p)}

    def update(self, ctx: Context) -> None:
        hp, ops = ctx.group, ctx.ops
        b1, b2 = hp["betas"]
        psi, lr = hp["momentum_decay"], hp["lr"]
        g = _weight_decay(ctx)
        mus = [nadam_mu(b1, t, psi) for t in ctx.steps]                       # μ_t
        mus_next = [nadam_mu(b1, t + 1, psi) for t in ctx.steps]              # μ_{t+1}
        for s, mu in zip(ctx.states, mus):
            s["mu_product"] = s["mu_product"] * mu                            # Π_t
        prods = [ops.to_float(s["mu_product"]) for s in ctx.states]  # its value, in double precision, as torch
        m, v = adam_moments(ctx, g)
        den = ops.div(v, bias_correction(b2, ctx.steps))
        ops.sqrt_(den)
        ops.add_(den, hp["eps"])                                              # √v̂ + ε
        ops.addcdiv_(ctx.params, g, den, [-lr * (1.0 - mu) / (1.0 - pr) for mu, pr in zip(mus, prods)])
        ops.addcdiv_(ctx.params, m, den,
                     [-lr * mn / (1.0 - pr * mn) for mn, pr in zip(mus_next, prods)])
        ctx.record_per_param("mu_t", mus)


class RAdam(Rule):
    r"""RAdam (Liu et al. 2020) with torch.optim.RAdam's conventions.

    $$
    \begin{aligned}
    m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
    \hat m_t &= m_t/(1-\beta_1^t) \\
    \rho_\infty &= \frac{2}{1-\beta_2} - 1,\qquad \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t} \\
    r_t &= \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}} \\
    \theta_t &\leftarrow \theta_{t-1} - \eta\, r_t\, \hat m_t\, \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon}
    \quad\text{if } \rho_t > \rho_{\text{thr}} \\
    \theta_t &\leftarrow \theta_{t-1} - \eta\,\hat m_t \quad\text{otherwise.}
    \end{aligned}
    $$

    torch rectifies when $\rho_t > 5$ (the first rectified step is t = 6 for β₂ = 0.999) and adds ε to the
    raw $\sqrt{v_t}$ (the ε-hat form); the paper's Algorithm 2 rectifies when $\rho_t > 4$:
    `rect_threshold=4.0` selects it. `weight_decay` is coupled L2, or decoupled
    ($\theta \leftarrow \theta(1-\eta\lambda)$) with `decoupled_weight_decay=True`.
    With `track_stats` the step records `rho_t` and `rect` ($r_t$, `None` when not rectified).

    Buffers: `exp_avg`, `exp_avg_sq` (8 bytes per fp32 parameter).
    """

    name = "RAdam"
    positional = ("lr", "betas", "eps", "weight_decay", "decoupled_weight_decay")  # as torch.optim.RAdam
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
                    maximize=False, rect_threshold=5.0)
    buffers = ("exp_avg", "exp_avg_sq")
    convention = ("torch.optim.RAdam: rectify when ρ_t > 5 (paper: 4, rect_threshold=4.0), ε added to the raw √v "
                  "(ε-hat form), un-adapted momentum step before the threshold.")
    cite = "liu2020variance"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_eps(hp)
        check_betas(hp)
        check_nonneg(hp, "weight_decay", "weight_decay")
        check_range(hp, "rect_threshold", 4.0, None)

    def init_state(self, ops, p, hp):
        return {"exp_avg": ops.zeros_like(p), "exp_avg_sq": ops.zeros_like(p)}

    def update(self, ctx: Context) -> None:
        hp, ops = ctx.group, ctx.ops
        b1, b2 = hp["betas"]
        g = _weight_decay(ctx)
        m, v = adam_moments(ctx, g)
        rects = [radam_rectification(b2, t, hp["rect_threshold"]) for t in ctx.steps]
        on = [i for i, (_, r) in enumerate(rects) if r is not None]
        off = [i for i, (_, r) in enumerate(rects) if r is None]
        if on:
            params = [ctx.params[i] for i in on]
            den = ops.sqrt([v[i] for i in on])
            ops.add_(den, hp["eps"])                                          # √v + ε
            lr = value_of(hp["lr"])  # a tensor lr by its value: torch's RAdam multiplies it into the update
            scale = [-lr * rects[i][1] * math.sqrt(1.0 - b2 ** ctx.steps[i]) / (1.0 - b1 ** ctx.steps[i])
                     for i in on]
            ops.addcdiv_(params, [m[i] for i in on], den, scale)              # θ ← θ − η r m̂ √c₂/(√v + ε)
        if off:
            params = [ctx.params[i] for i in off]
            ops.add_(params, [m[i] for i in off],
                     alpha=[-value_of(hp["lr"]) / (1.0 - b1 ** ctx.steps[i]) for i in off])  # θ ← θ − η m̂
        ctx.record_per_param("rho_t", [rho for rho, _ in rects])
        ctx.record_per_param("rect", [r for _, r in rects])
