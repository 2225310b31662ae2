r"""Sign-based rules: signSGD / Signum (Bernstein et al. 2018) and Lion (Chen et al. 2023).

Both move every coordinate by exactly $\pm\eta$ (or 0), whatever the size of its gradient.
"""

from __future__ import annotations

from ..base import Context, Rule, check_betas, check_lr, check_nonneg, check_unit
from ..pieces import apply_update, decoupled_weight_decay


class SignSGD(Rule):
    r"""signSGD and Signum (Bernstein, Wang, Azizzadenesheli & Anandkumar 2018, Alg. 1 and 3).

    $$
    \begin{aligned}
    m_t &\leftarrow \beta m_{t-1} + (1-\beta) g_t \qquad (m_0 = 0;\ \beta = 0 \text{ gives } m_t = g_t)\\
    \theta_t &\leftarrow \theta_{t-1} - \eta\,\bigl(\operatorname{sign}(m_t) + \lambda\theta_{t-1}\bigr)
    \end{aligned}
    $$

    `momentum = 0` is signSGD, `momentum > 0` is Signum. The decay is decoupled and scaled by
    $\eta$, as in Signum's algorithm box. `sign(0) = 0`: a coordinate with a zero
    (averaged) gradient does not move.

    A complex parameter is updated as its real view, the tensor of its (real, imaginary) pairs, as torch.optim
    treats complex parameters: the sign is taken of the real and of the imaginary part separately,
    $\operatorname{sign}(\mathrm{Re}\,z) + i\,\operatorname{sign}(\mathrm{Im}\,z)$, so that every real coordinate
    moves by exactly η. (`torch.sgn`, $z/|z|$, the unit complex number of z's phase, would move each entry by η in
    modulus instead, a step √2 shorter along the diagonals; gdlab does not use it.)

    Buffers: `momentum_buffer` (only when
    `momentum > 0`): 4 bytes/param in fp32, 0 for signSGD.
    """

    name = "SignSGD"
    defaults = dict(lr=1e-3, momentum=0.0, weight_decay=0.0, maximize=False)
    buffers = ("momentum_buffer",)
    convention = ("Bernstein et al. 2018: the momentum is an EMA m = βm + (1−β)g (so its scale never matters "
                  "under the sign); decoupled decay θ ← θ − ηλθ; for a complex parameter the sign of the real and "
                  "of the imaginary part, not torch.sgn.")
    cite = "bernstein2018signsgd"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_unit(hp, "momentum")
        check_nonneg(hp, "weight_decay", "weight_decay")

    def init_state(self, ops, p, hp):
        return {"momentum_buffer": ops.zeros_like(p)} if hp.get("momentum", 0.0) > 0.0 else {}

    def update(self, ctx: Context) -> None:
        ops, beta = ctx.ops, ctx.group["momentum"]
        if beta > 0.0:
            m = ctx.buffer("momentum_buffer")
            ops.lerp_(m, ctx.grads, 1.0 - beta)        # m ← βm + (1−β)g
            d = ops.sign(m)
        else:
            d = ops.sign(ctx.grads)
        decoupled_weight_decay(ctx)                     # θ ← θ(1 − ηλ)
        apply_update(ctx, d)                            # θ ← θ − η sign(m)


class Lion(Rule):
    r"""Lion, "EvoLved Sign Momentum" (Chen et al. 2023, Alg. 2).

    $$
    \begin{aligned}
    c_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\
    \theta_t &\leftarrow \theta_{t-1} - \eta\,\bigl(\operatorname{sign}(c_t) + \lambda\theta_{t-1}\bigr) \\
    m_t &\leftarrow \beta_2 m_{t-1} + (1-\beta_2) g_t
    \end{aligned}
    $$

    The direction interpolates with $\beta_1$ but the stored momentum decays with the larger
    $\beta_2$. The decay is the paper's: decoupled and multiplied by $\eta$ (so the
    paper's advice of a 3–10× smaller $\eta$ and a 3–10× larger $\lambda$ than AdamW keeps
    $\eta\lambda$ about the same). `pytorch_optimizer.Lion` (default `fixed_decay=False`)
    and the authors' code follow the same convention; `fixed_decay=True` there drops $\eta$
    from the decay.

    A complex parameter is updated as its real view, the tensor of its (real, imaginary) pairs, as torch.optim
    treats complex parameters: the sign is taken of the real and of the imaginary part separately,
    $\operatorname{sign}(\mathrm{Re}\,z) + i\,\operatorname{sign}(\mathrm{Im}\,z)$, so that every real coordinate
    moves by exactly η. (`torch.sgn`, $z/|z|$, the unit complex number of z's phase, would move each entry by η in
    modulus instead, a step √2 shorter along the diagonals; gdlab does not use it.)

    Buffers: `exp_avg`: 4 bytes/param
    in fp32 (Adam keeps 8). A fused fp32 step moves about 20 bytes/param.
    """

    name = "Lion"
    defaults = dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False)
    buffers = ("exp_avg",)
    convention = ("Chen et al. 2023, Alg. 2: θ ← θ − η(sign(c) + λθ), c = β₁m + (1−β₁)g, then m ← β₂m + (1−β₂)g; "
                  "the decay is scaled by η; for a complex parameter the sign of the real and of the imaginary "
                  "part, not torch.sgn.")
    cite = "chen2023symbolic"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_betas(hp)
        check_nonneg(hp, "weight_decay", "weight_decay")

    def init_state(self, ops, p, hp):
        return {"exp_avg": ops.zeros_like(p)}

    def update(self, ctx: Context) -> None:
        ops = ctx.ops
        b1, b2 = ctx.group["betas"]
        m = ctx.buffer("exp_avg")
        c = ops.lerp(m, ctx.grads, 1.0 - b1)            # c ← β₁m + (1−β₁)g
        ops.sign_(c)
        decoupled_weight_decay(ctx)                     # θ ← θ(1 − ηλ)
        apply_update(ctx, c)                            # θ ← θ − η sign(c)
        ops.lerp_(m, ctx.grads, 1.0 - b2)               # m ← β₂m + (1−β₂)g
