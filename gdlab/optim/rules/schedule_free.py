r"""Schedule-free AdamW (Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky 2024).

Three sequences: $z$ (the base AdamW-like steps), $x$ (a weighted average of the
$z$'s, the point to evaluate) and $y = (1-\beta_1)z + \beta_1 x$ (where gradients are
taken). During training the parameters hold $y$; `eval_mode()` switches them to $x$
and `train_mode()` back, as the authors' `optimizer.eval()` / `optimizer.train()` do:

```python
opt = gdlab.optim.ScheduleFreeAdamW(model.parameters(), lr=2.5e-3, warmup_steps=100)
model.train(); train_mode(opt)
...  # training steps
model.eval(); eval_mode(opt)     # parameters now hold x: evaluate or save here
```
"""

from __future__ import annotations

import math

from ..base import Context, Rule, check_betas, check_eps, check_lr, check_nonneg


class ScheduleFreeAdamW(Rule):
    r"""Schedule-free AdamW (Defazio et al. 2024, Alg. 1, in the form of the authors' reference code).

    With $\gamma_t = \eta\cdot\min(1, t/T_{\text{warmup}})\cdot\sqrt{1-\beta_2^t}$, weights
    $w_t = t^{\,r}\,(\max_{i\le t}\gamma_i)^{p}$ (`r`, `weight_lr_power` = p) and
    $c_t = w_t/\sum_{i\le t} w_i$:

    $$
    \begin{aligned}
    v_t &\leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\qquad g_t = \nabla f(y_{t-1}) \\
    d_t &= g_t/(\sqrt{v_t} + \epsilon) + \lambda y_{t-1} \\
    z_t &= z_{t-1} - \gamma_t d_t \\
    x_t &= (1-c_t)\,x_{t-1} + c_t z_t \\
    y_t &= (1-\beta_1) z_t + \beta_1 x_t
    \end{aligned}
    $$

    ($x_0 = y_0 = z_0$). The code stores only $y$ (in the parameters) and $z$, and
    updates $y$ in place by $y \leftarrow (1-c_t)y + c_t z_{t-1} + \gamma_t(\beta_1(1-c_t) - 1)d_t$,
    which is the same recursion. $x = (y - (1-\beta_1)z)/\beta_1$ is recovered by `eval_mode()`.
    The bias correction sits in $\gamma_t$ and $\epsilon$ is added to the raw $\sqrt{v_t}$
    (reference code; the paper's pseudo-code agrees). The decay is evaluated at $y$ and multiplied by $\gamma_t$.

    `pytorch_optimizer.ScheduleFreeAdamW` instead divides $v$ by $1-\beta_2^t$ and keeps $\sqrt{1-\beta_2^t}$ out
    of its rate $\gamma'_t = \eta\min(1, t/T_{\text{warmup}})$. That changes three things, and the two agree only
    when all three vanish, `weight_lr_power=0`, `eps=0` and `weight_decay=0`: the averaging weights (their
    $\max\gamma'$ replaces $\max\gamma$); the ε, since
    $\gamma_t\,g/(\sqrt{v}+\epsilon) = \gamma'_t\,g/(\sqrt{\hat v} + \epsilon/\sqrt{1-\beta_2^t})$ makes
    this ε act as a larger one, $\epsilon/\sqrt{1-\beta_2^t}$, in their form (with ε = 1e-8 the runs differ by
    about 1e-8); and the decay, $\gamma'_t\lambda y$ there against $\gamma_t\lambda y$ here, a factor
    $\sqrt{1-\beta_2^t}$ apart (early steps decay far less here).

    Buffers: `z`, `exp_avg_sq`: 8 bytes/param in fp32 (as Adam), plus two
    scalars (`lr_max`, `weight_sum`).
    """

    name = "ScheduleFreeAdamW"
    defaults = dict(lr=2.5e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, warmup_steps=0, r=0.0,
                    weight_lr_power=2.0, maximize=False)
    buffers = ("z", "exp_avg_sq")
    convention = ("Defazio et al. 2024 reference code: parameters hold y during training; γ_t includes warmup "
                  "and √(1−β₂ᵗ); ε on the raw √v; c_t = w_t/Σw with w_t = tʳ·max γ^p; decay at y.")
    cite = "defazio2024road"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_eps(hp)
        check_betas(hp)
        check_nonneg(hp, "weight_decay", "weight_decay")
        check_nonneg(hp, "r")
        check_nonneg(hp, "weight_lr_power")
        w = hp.get("warmup_steps")
        if w is not None and not (isinstance(w, int) and not isinstance(w, bool) and w >= 0):
            raise ValueError(f"Invalid warmup_steps value: warmup_steps={w} (expected an integer >= 0)")
        b = hp.get("betas")
        if b is not None and isinstance(b, (tuple, list)) and b[0] == 0.0:
            raise ValueError(f"Invalid beta parameter at index 0: betas[0]={b[0]} (schedule-free needs betas[0] > 0)")

    def init_state(self, ops, p, hp):
        return {"z": ops.clone([p])[0], "exp_avg_sq": ops.zeros_like(p), "lr_max": -1.0, "weight_sum": 0.0}

    def update(self, ctx: Context) -> None:
        ops, hp = ctx.ops, ctx.group
        if not hp.get("train_mode", True):
            raise RuntimeError("ScheduleFreeAdamW.step() called in eval mode: call train_mode(optimizer) first")
        b1, b2 = hp["betas"]
        lrs, ckps = [], []
        for s, t in zip(ctx.states, ctx.steps):
            warm = t / hp["warmup_steps"] if t < hp["warmup_steps"] else 1.0
            lr = hp["lr"] * warm * math.sqrt(1.0 - b2 ** t)             # γ_t
            s["lr_max"] = max(lr, s["lr_max"])
            w = (t ** hp["r"]) * (s["lr_max"] ** hp["weight_lr_power"])
            s["weight_sum"] += w
            lrs.append(lr)
            ckps.append(w / s["weight_sum"] if s["weight_sum"] != 0.0 else 0.0)
        v, z, y = ctx.buffer("exp_avg_sq"), ctx.buffer("z"), ctx.params
        ops.mul_(v, b2)
        ops.addcmul_(v, ctx.grads, ctx.grads, 1.0 - b2)                 # v ← β₂v + (1−β₂)g²
        den = ops.sqrt(v)
        ops.add_(den, hp["eps"])
        d = ops.div(ctx.grads, den)                                      # d = g/(√v + ε) + λy
        if hp["weight_decay"] != 0.0:
            ops.add_(d, y, alpha=hp["weight_decay"])
        ops.lerp_(y, z, ckps)                                            # y ← (1−c)y + c z
        ops.add_(y, d, alpha=[lr * (b1 * (1.0 - c) - 1.0) for lr, c in zip(lrs, ckps)])
        ops.add_(z, d, alpha=[-lr for lr in lrs])                        # z ← z − γ d
        ctx.record("ckp", ckps)


def _switch(optimizer, to_train: bool) -> None:
    import torch

    with torch.no_grad():
        for group in optimizer.param_groups:
            if group.get("train_mode", True) == to_train:
                continue
            b1 = group["betas"][0]
            for p in group["params"]:
                z = optimizer.state[p].get("z")
                if z is not None:                          # y → x: lerp weight 1 − 1/β₁; x → y: 1 − β₁
                    p.lerp_(z, (1.0 - b1) if to_train else (1.0 - 1.0 / b1))
            group["train_mode"] = to_train


def eval_mode(optimizer) -> None:
    r"""Switch the parameters from $y$ to the averaged point $x = (y - (1-\beta_1)z)/\beta_1$."""
    _switch(optimizer, False)


def train_mode(optimizer) -> None:
    r"""Switch the parameters from $x$ back to $y = (1-\beta_1)z + \beta_1 x$."""
    _switch(optimizer, True)


def averaged_point(y, z, beta1: float):
    r"""NumPy face: $x = (y - (1-\beta_1)z)/\beta_1$ from the iterate `y` and the buffer `z`."""
    return (y - (1.0 - beta1) * z) / beta1


class ScheduleFreeTorchMethods:
    """`opt.eval()` / `opt.train()` for the torch face, as in the authors' code."""

    def eval(self):
        eval_mode(self)

    def train(self):
        train_mode(self)


ScheduleFreeAdamW.torch_mixin = ScheduleFreeTorchMethods
