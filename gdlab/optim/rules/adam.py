r"""Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019)."""

from __future__ import annotations

from typing import Literal

from ..base import Context, Rule, check_betas, check_choice, check_eps, check_lr, check_nonneg, is_number
from ..ops import bias_correction
from ..pieces import (adam_moments, adam_ratio, amsgrad_max, amsgrad_max_corrected, apply_ratio,
                      decoupled_weight_decay, l2_into_gradient)

AMSGRAD_FORMS = ("torch", "optax")


class Adam(Rule):
    r"""Adam with torch.optim.Adam's conventions (Kingma & Ba 2015, Algorithm 1).

    $$
    \begin{aligned}
    g_t &\leftarrow \nabla f(\theta_{t-1}) + \lambda\theta_{t-1} \quad\text{(coupled L2)}\\
    m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
    v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
    \hat m_t &= m_t/(1-\beta_1^t),\qquad \hat v_t = v_t/(1-\beta_2^t) \\
    \theta_t &\leftarrow \theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)
    \end{aligned}
    $$

    Options:

    * `eps_inside=True`: the ε-hat form of TF/Keras,
      $\eta\sqrt{1-\beta_2^t}/(1-\beta_1^t)\cdot m_t/(\sqrt{v_t}+\hat\epsilon)$.
    * `amsgrad=True` (Reddi et al. 2018) with `amsgrad_form="torch"` (default): keep
      $v^{\max}_t = \max(v^{\max}_{t-1}, v_t)$ on the *raw* $v$ and use
      $v^{\max}_t/(1-\beta_2^t)$ in place of $\hat v_t$. `amsgrad_form="optax"`: keep
      $\hat v^{\max}_t = \max(\hat v^{\max}_{t-1}, \hat v_t)$ on the bias-corrected moment and use it
      directly. The trajectories differ, because $1-\beta_2^t$ grows with t.
    * `decoupled_weight_decay=True`: AdamW's $\theta \leftarrow \theta(1-\eta\lambda)$ instead of L2.

    Buffers: `exp_avg` m and `exp_avg_sq` v (8 bytes per fp32 parameter), plus `max_exp_avg_sq`
    with AMSGrad (12 bytes).
    """

    name = "Adam"
    positional = ("lr", "betas", "eps", "weight_decay", "amsgrad")  # as torch.optim.Adam
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                    maximize=False, eps_inside=False, amsgrad_form="torch", decoupled_weight_decay=False)
    hints = dict(amsgrad_form=Literal[AMSGRAD_FORMS])
    buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    convention = ("torch.optim.Adam: ε added to √v̂ (Kingma & Ba, Alg. 1); weight_decay is coupled L2 "
                  "added to the gradient; AMSGrad takes the max of the raw v. eps_inside=True gives the TF/Keras ε-hat form.")
    cite = "kingma2015adam"
    decoupled = False
    #: torch.optim.Adam refuses a tensor lr or tensor betas with foreach=True at construction
    foreach_refuses_tensors = True
    tensor_hypers = ("lr", "betas")  # torch.optim.Adam also takes 1-element tensor betas

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_eps(hp)
        check_betas(hp)
        check_nonneg(hp, "weight_decay", "weight_decay")
        check_choice(hp, "amsgrad_form", AMSGRAD_FORMS)

    def init_state(self, ops, p, hp):
        s = {"exp_avg": ops.zeros_like(p), "exp_avg_sq": ops.zeros_like(p)}
        if hp.get("amsgrad"):
            s["max_exp_avg_sq"] = ops.zeros_like(p)
        return s

    def update(self, ctx: Context) -> None:
        hp = ctx.group
        if self.decoupled or hp.get("decoupled_weight_decay", False):
            decoupled_weight_decay(ctx)                       # θ ← θ(1 − ηλ)
            g = ctx.grads
        else:
            g = l2_into_gradient(ctx, ctx.grads)              # g ← g + λθ
        m, v = adam_moments(ctx, g)
        if hp["amsgrad"] and hp.get("amsgrad_form", "torch") == "optax":
            vhat_max = amsgrad_max_corrected(ctx, v)          # v̂max ← max(v̂max, v/(1−β₂ᵗ))
            b1 = hp["betas"][0]
            den = ctx.ops.sqrt(vhat_max)
            ctx.ops.add_(den, hp["eps"])
            apply_ratio(ctx, m, den, [1.0 / (1.0 - b1**t) for t in ctx.steps])  # θ ← θ − η m̂/(√v̂max + ε)
            return
        if hp["amsgrad"]:
            v = amsgrad_max(ctx, v)                           # vmax ← max(vmax, v)
        if not is_number(hp["lr"]) and not hp.get("eps_inside", False):
            # a tensor lr: torch's arithmetic, step size η/(1−β₁ᵗ) in the lr's dtype, √v/√(1−β₂ᵗ) + ε
            b1, b2 = hp["betas"]
            den = ctx.ops.sqrt(v)
            ctx.ops.div_(den, [c ** 0.5 for c in bias_correction(b2, ctx.steps)])
            ctx.ops.add_(den, hp["eps"])
            ctx.ops.addcdiv_(ctx.params, m, den, [-(hp["lr"] / c) for c in bias_correction(b1, ctx.steps)])
            return
        num, den, scale = adam_ratio(ctx, m, v, eps_inside=hp.get("eps_inside", False))
        apply_ratio(ctx, num, den, scale)                     # θ ← θ − η m̂/(√v̂ + ε)


class AdamW(Adam):
    r"""AdamW: Adam's scaling plus decoupled weight decay $\theta \leftarrow \theta(1-\eta\lambda)$.

    $$
    \theta_t = \theta_{t-1}(1-\eta\lambda) - \eta\,\hat m_t/(\sqrt{\hat v_t}+\epsilon),
    $$

    with $\hat m_t, \hat v_t$ as in `Adam` computed from the raw gradient.
    torch.optim.AdamW's convention: the decay is multiplied by the learning rate and applied to
    $\theta_{t-1}$ before the moment update. Loshchilov & Hutter (Algorithm 2) write
    $\theta_t = \theta_{t-1} - \eta_t\big(\alpha\,\hat m_t/(\sqrt{\hat v_t}+\epsilon) + \lambda\theta_{t-1}\big)$
    with a base rate $\alpha$ and a schedule multiplier $\eta_t$ that scales both terms. With
    `lr` $= \alpha\eta_t$ this is the same update at every step of *any* schedule when
    `weight_decay` $= \lambda/\alpha$. (A decay $\theta \leftarrow (1-\lambda')\theta$ with a constant
    $\lambda'$ agrees only while the learning rate is constant, with $\lambda' = \eta\lambda$.) Their
    normalised weight decay sets $\lambda = \lambda_{\rm norm}\sqrt{b/(BT)}$ for batch size $b$,
    $B$ training points and $T$ epochs, that is $\lambda_{\rm norm}/\sqrt{\text{steps}}$.

    The arguments are Adam's, with `weight_decay=1e-2` by default. Buffers: as Adam (8 bytes per fp32
    parameter, 12 with AMSGrad).
    """

    name = "AdamW"
    defaults = dict({k: v for k, v in Adam.defaults.items() if k != "decoupled_weight_decay"}, weight_decay=1e-2)
    convention = ("torch.optim.AdamW: θ ← θ(1 − ηλ) using θ_{t−1}, then Adam's step; the decay is scaled by the "
                  "learning rate (some texts write θ ← θ − λθ without η).")
    cite = "loshchilov2019decoupled"
    decoupled = True
    group_keys = {"decoupled_weight_decay": True}  # as torch.optim.AdamW's param groups
