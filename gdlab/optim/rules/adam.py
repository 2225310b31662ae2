r"""Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019)."""

from __future__ import annotations

from ..base import Context, Rule, check_betas, check_eps, check_lr, check_nonneg
from ..pieces import (adam_moments, adam_ratio, amsgrad_max, apply_ratio, decoupled_weight_decay,
                      l2_into_gradient)


class Adam(Rule):
    r"""Adam with torch.optim.Adam's conventions.

    .. math::
        g_t &\leftarrow \nabla f(\theta_{t-1}) + \lambda\theta_{t-1} \quad\text{(coupled L2)}\\
        m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
        v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
        \hat m_t &= m_t/(1-\beta_1^t),\qquad \hat v_t = v_t/(1-\beta_2^t) \\
        \theta_t &\leftarrow \theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    ``eps_inside=True`` selects the ε-hat form :math:`\eta\sqrt{1-\beta_2^t}/(1-\beta_1^t)\cdot m_t/(\sqrt{v_t}+\hat\epsilon)`
    used by TF/Keras. ``amsgrad=True`` keeps :math:`v_{\max} = \max(v_{\max}, v_t)` on the raw :math:`v`
    (torch's form) and uses it in place of :math:`v_t`.
    """

    name = "Adam"
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                    maximize=False, eps_inside=False)
    buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    convention = ("torch.optim.Adam: ε added to √v̂ (Kingma & Ba, Alg. 1); weight_decay is coupled L2 "
                  "added to the gradient; AMSGrad takes the max of the raw v. eps_inside=True gives the TF/Keras ε-hat form.")
    equation = (r"m_t = \beta_1 m_{t-1} + (1-\beta_1)g_t,\ v_t = \beta_2 v_{t-1} + (1-\beta_2)g_t^2,\ "
                r"\theta_t = \theta_{t-1} - \eta\,\frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)}+\epsilon}")
    cite = "kingma2015adam"
    decoupled = False

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_eps(hp)
        check_betas(hp)
        check_nonneg(hp, "weight_decay", "weight_decay")

    def init_state(self, ops, p, hp):
        s = {"exp_avg": ops.zeros_like(p), "exp_avg_sq": ops.zeros_like(p)}
        if hp.get("amsgrad"):
            s["max_exp_avg_sq"] = ops.zeros_like(p)
        return s

    def update(self, ctx: Context) -> None:
        if self.decoupled:
            decoupled_weight_decay(ctx)                       # θ ← θ(1 − ηλ)
            g = ctx.grads
        else:
            g = l2_into_gradient(ctx, ctx.grads)              # g ← g + λθ
        m, v = adam_moments(ctx, g)
        if ctx.group["amsgrad"]:
            v = amsgrad_max(ctx, v)
        num, den, scale = adam_ratio(ctx, m, v, eps_inside=ctx.group.get("eps_inside", False))
        apply_ratio(ctx, num, den, scale)                     # θ ← θ − η m̂/(√v̂ + ε)


class AdamW(Adam):
    r"""AdamW: Adam's scaling plus decoupled weight decay :math:`\theta \leftarrow \theta(1-\eta\lambda)`.

    torch.optim.AdamW's convention: the decay is multiplied by the learning rate and applied to
    :math:`\theta_{t-1}` before the moment update. Loshchilov & Hutter write the decay with its own
    schedule multiplier :math:`\eta_t`; with a constant schedule the two agree up to the choice of λ.
    """

    name = "AdamW"
    defaults = dict(Adam.defaults, weight_decay=1e-2)
    convention = ("torch.optim.AdamW: θ ← θ(1 − ηλ) using θ_{t−1}, then Adam's step; the decay is scaled by the "
                  "learning rate (some texts write θ ← θ − λθ without η).")
    equation = r"\theta_t = \theta_{t-1}(1-\eta\lambda) - \eta\,\hat m_t/(\sqrt{\hat v_t}+\epsilon)"
    cite = "loshchilov2019decoupled"
    decoupled = True
