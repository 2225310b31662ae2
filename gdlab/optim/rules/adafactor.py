r"""Adafactor (Shazeer & Stern 2018): factored second moments, relative step sizes, update clipping."""

from __future__ import annotations

from typing import Literal

import math

from ..base import Context, Rule, check_choice, check_lr
from ..pieces import factored_second_moment

EPS_FORMS = ("torch", "paper")


class Adafactor(Rule):
    r"""Adafactor with torch.optim.Adafactor's conventions (torch ≥ 2.5); no first moment.

    For a parameter $\theta$ with gradient $g_t$ at step t:

    $$
    \begin{aligned}
    \hat\beta_{2t} &= 1 - t^{c},\qquad \rho_t = \min(\eta, 1/\sqrt t),\qquad
    \alpha_t = \max\bigl(\epsilon_2, \mathrm{RMS}(\theta_{t-1})\bigr)\,\rho_t \\
    \theta &\leftarrow \theta(1 - \eta\lambda) \\
    \hat V_t &= \text{factored estimate of } \mathbb E[g^2]: \\
    &\qquad R_t C_t/\max(\mathrm{mean}\,R_t, \epsilon_1) \text{ for matrices, the full EMA for vectors} \\
    U_t &= g_t / \sqrt{\max(\hat V_t, \epsilon_1^2)},\qquad
    \theta_t \leftarrow \theta - \frac{\alpha_t}{\max\bigl(1, \mathrm{RMS}(U_t)/d\bigr)}\,U_t
    \end{aligned}
    $$

    with $c$ = `beta2_decay` (−0.8), $(\epsilon_1, \epsilon_2)$ = `eps` (ε₁ = None means the
    machine epsilon of the parameter's dtype), d the clipping threshold and λ the (decoupled, lr-scaled)
    `weight_decay`. RMS(x) = ‖x‖/√numel. Tensors with two or more dimensions are factored over their last two.

    `eps_form="paper"` follows Algorithms 4-5 of the paper instead: ε₁ is added to $g_t^2$ inside the
    moving averages (ε₁ = 1e-30 when None) and nothing is clamped.

    Buffers: `row_var` (rows) and `col_var` (columns) for a matrix, i.e. 4(rows + cols) bytes per fp32
    matrix instead of 4·rows·cols; `variance` (4 bytes per parameter) for vectors.
    With `track_stats` the step records `rel_step` ρ_t and `clip` (the divisor max(1, RMS(U)/d)).
    """

    name = "Adafactor"
    positional = ("lr", "beta2_decay", "eps", "d", "weight_decay")  # as torch.optim.Adafactor
    defaults = dict(lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, maximize=False,
                    eps_form="torch")
    hints = dict(eps=tuple[float | None, float], eps_form=Literal[EPS_FORMS])
    buffers = ("row_var", "col_var", "variance")
    convention = ("torch.optim.Adafactor: relative step min(lr, 1/√t) scaled by max(ε₂, RMS(θ)), "
                  "β̂₂ = 1 − t^(−0.8), ε₁ applied as a clamp, row/column means, no first moment, "
                  "update clipping d = 1, decoupled lr-scaled weight decay.")
    cite = "shazeer2018adafactor"
    #: torch.optim.Adafactor refuses complex parameters at the step, with this RuntimeError (factoring a complex
    #: tensor's real view would pair each real part with its imaginary part as a column)
    complex_refusal = "Adafactor does not support complex parameters"

    def validate(self, hp: dict) -> None:
        # torch.optim.Adafactor's wording ("... should be >= 0 but is: v"), then the argument as it was given
        lr = hp.get("lr")
        if not hasattr(lr, "numel") or lr.numel() == 1:
            _at_least(lr, 0.0, "Learning rate", "lr")
        check_lr(hp)  # "Tensor lr must be 1-element", as torch
        _at_most(hp.get("beta2_decay"), 0.0, "beta2_decay", "beta2_decay")
        eps = hp.get("eps")
        if eps is not None:
            if not isinstance(eps, (tuple, list)) or len(eps) != 2:
                raise ValueError(f"Invalid epsilon value: eps={eps!r} (expected a pair (eps1, eps2))")
            if eps[0] is not None:
                _at_least(eps[0], 0.0, "epsilon1", "eps[0]")
            if eps[1] is None:
                raise ValueError("Invalid epsilon value: eps[1]=None (eps2 must be a number)")
            _at_least(eps[1], 0.0, "epsilon2", "eps[1]")
        _at_least(hp.get("d"), 1.0, "Clipping threshold d", "d")
        _at_least(hp.get("weight_decay"), 0.0, "weight_decay", "weight_decay")
        check_choice(hp, "eps_form", EPS_FORMS)

    def init_state(self, ops, p, hp):
        if ops.ndim(p) > 1:
            shape = tuple(p.shape)
            return {"row_var": ops.zeros(shape[:-1] + (1,), p),
                    "col_var": ops.zeros(shape[:-2] + (1, shape[-1]), p)}
        return {"variance": ops.zeros_like(p)}

    def update(self, ctx: Context) -> None:
        hp, ops = ctx.group, ctx.ops
        lr, wd, d = hp["lr"], hp["weight_decay"], hp["d"]
        eps1, eps2 = hp["eps"]
        paper = hp.get("eps_form", "torch") == "paper"
        if eps1 is None:
            eps1 = 1e-30 if paper else ops.finfo_eps(ctx.params[0])
        decay = [t ** hp["beta2_decay"] for t in ctx.steps]                  # 1 − β̂₂ₜ = t^c
        rel = [min(lr, 1.0 / math.sqrt(t)) for t in ctx.steps]                # ρ_t
        alphas = [max(eps2, r) * rho for r, rho in zip(ops.rms(ctx.params), rel)]  # α_t from θ_{t−1}
        if wd != 0.0:
            ops.mul_(ctx.params, 1.0 - lr * wd)                               # θ ← θ(1 − ηλ)
        est = factored_second_moment(ctx, ctx.grads, decay, eps1, eps_inside=paper)
        if not paper:
            ops.clamp_min_(est, eps1 * eps1)
        upd = ops.div(ctx.grads, ops.sqrt_(est))                              # U = g/√V̂
        clips = [max(1.0, r / d) for r in ops.rms(upd)]                       # max(1, RMS(U)/d)
        ops.add_(ctx.params, upd, alpha=[-a / c for a, c in zip(alphas, clips)])
        ctx.record_per_param("rel_step", rel)
        ctx.record("clip", clips)


def _at_least(v, lo: float, what: str, name: str) -> None:
    """torch.optim.Adafactor's check `lo <= v`, with its wording (a NaN fails it too)."""
    if v is None:
        return
    x = float(v) if hasattr(v, "numel") else v
    if not (isinstance(x, (int, float)) and math.isfinite(x) and x >= lo):
        raise ValueError(f"{what} should be >= {lo:g} but is: {v} ({name}={v})")


def _at_most(v, hi: float, what: str, name: str) -> None:
    """torch.optim.Adafactor's check `v <= hi`, with its wording (a NaN fails it too)."""
    if v is None:
        return
    if not (isinstance(v, (int, float)) and math.isfinite(v) and v <= hi):
        raise ValueError(f"{what} should be <= {hi:g} but is: {v} ({name}={v})")
