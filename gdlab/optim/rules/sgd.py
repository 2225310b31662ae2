r"""Gradient descent, heavy-ball momentum and Nesterov momentum."""

from __future__ import annotations

from ..base import Context, Rule, check_lr, check_nonneg
from ..pieces import apply_update, l2_into_gradient, momentum_buffer


class SGD(Rule):
    r"""Stochastic gradient descent with torch.optim.SGD's momentum convention.

    .. math::
        g_t &\leftarrow \nabla f(\theta_{t-1}) + \lambda\theta_{t-1} \\
        b_t &\leftarrow \mu b_{t-1} + (1-\tau) g_t \quad (b_1 = g_1) \\
        d_t &\leftarrow g_t + \mu b_t \ \text{(Nesterov)} \quad\text{or}\quad b_t \\
        \theta_t &\leftarrow \theta_{t-1} - \eta\, d_t
    """

    name = "SGD"
    defaults = dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False)
    buffers = ("momentum_buffer",)
    convention = ("torch.optim.SGD: the learning rate multiplies the whole buffer, the first step "
                  "sets b = g without dampening, Nesterov uses g + μb.")
    equation = (r"b_t = \mu b_{t-1} + (1-\tau) g_t,\ b_1 = g_1;\quad "
                r"\theta_t = \theta_{t-1} - \eta\,(g_t + \mu b_t \text{ if Nesterov else } b_t)")
    cite = "robbins1951stochastic"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_nonneg(hp, "momentum")
        check_nonneg(hp, "dampening")
        check_nonneg(hp, "weight_decay", "weight_decay")
        if hp.get("nesterov") and (hp.get("momentum", 0.0) <= 0 or hp.get("dampening", 0.0) != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening "
                             f"(got momentum={hp.get('momentum')}, dampening={hp.get('dampening')})")

    def init_state(self, ops, p, hp):
        return {"momentum_buffer": None} if hp.get("momentum", 0.0) != 0.0 else {}

    def update(self, ctx: Context) -> None:
        hp = ctx.group
        g = l2_into_gradient(ctx, ctx.grads)
        mu = hp["momentum"]
        if mu != 0.0:
            buf = momentum_buffer(ctx, g, mu, hp["dampening"])
            d = ctx.ops.add(g, buf, alpha=mu) if hp["nesterov"] else buf
        else:
            d = g
        apply_update(ctx, d)
