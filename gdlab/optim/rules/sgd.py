r"""Gradient descent, heavy-ball momentum and Nesterov momentum, in their three common forms."""

from __future__ import annotations

from typing import Literal

from ..base import Context, Rule, check_choice, check_lr, check_nonneg
from ..pieces import apply_update, decoupled_weight_decay, l2_into_gradient, momentum_buffer, velocity

MOMENTUM_FORMS = ("torch", "polyak", "sutskever")
NESTEROV_FORMS = ("torch", "lookahead")


class SGD(Rule):
    r"""Stochastic gradient descent with momentum; torch.optim.SGD's convention by default.

    With $g_t = \nabla f(\theta_{t-1}) + \lambda\theta_{t-1}$ (coupled L2, `weight_decay` λ),
    `momentum` μ, `dampening` τ and learning rate η:

    **momentum_form="torch"** (default, torch.optim.SGD): the rate multiplies the whole buffer,

    $$
    b_t = \mu b_{t-1} + (1-\tau) g_t \ (b_1 = g_1), \qquad
    \theta_t = \theta_{t-1} - \eta\,d_t,\quad d_t = b_t \ \text{or}\ g_t + \mu b_t \ \text{(Nesterov)}.
    $$

    **momentum_form="polyak"** (Polyak 1964, heavy ball written with iterates):

    $$
    \theta_{t} = \theta_{t-1} - \eta g_t + \mu(\theta_{t-1} - \theta_{t-2}),\qquad \theta_{-1} = \theta_0.
    $$

    **momentum_form="sutskever"** (Sutskever et al. 2013, the rate inside the velocity):

    $$
    v_t = \mu v_{t-1} - \eta g_t\ (v_0 = 0), \qquad \theta_t = \theta_{t-1} + v_t.
    $$

    The three produce the same iterates while η is constant ($v_t = -\eta b_t = \theta_t - \theta_{t-1}$).
    After a change of η they differ: torch's form rescales the accumulated buffer by the new rate at
    once, the Polyak and Sutskever forms apply the new rate only to new gradients (the last two agree
    with each other). Dampening is defined for the torch form only.

    **Nesterov** (`nesterov=True`, needs μ > 0 and τ = 0). `nesterov_form="lookahead"` is
    Sutskever's form of Nesterov's method: the gradient is taken at the look-ahead point
    $y_t = \theta_{t-1} + \mu v_{t-1}$ and then $v_t = \mu v_{t-1} - \eta\nabla f(y_t)$,
    $\theta_t = \theta_{t-1} + v_t$ (with weight decay, $\lambda y_t$ is added to that gradient).
    The NumPy face gives the point as `opt.lookahead_point(x)`; the caller evaluates the gradient there
    and passes it to `opt(x, g)`. `nesterov_form="torch"` (default) is the same method
    reparametrised so that the parameters *are* the look-ahead point $\phi_t = \theta_t + \mu v_t$:
    $\phi_t = \phi_{t-1} - \eta(g_t + \mu b_t)$ with the gradient at the parameters, as torch does.
    The torch face reads `p.grad` at the parameters and therefore offers the torch form only.

    **Decoupled weight decay** (`decoupled_weight_decay=True`, Loshchilov & Hutter 2019): the
    gradient is left alone and the parameters shrink before the step, in torch.optim.AdamW's
    convention (the decay multiplied by the current rate, applied to $\theta_{t-1}$):

    $$
    \theta \leftarrow \theta(1-\eta\lambda),\qquad\text{then the step above with } g_t = \nabla f(\theta_{t-1}).
    $$

    Without momentum and at a constant rate this is the coupled L2 step exactly,
    $(1-\eta\lambda)\theta - \eta\nabla f(\theta) = \theta - \eta(\nabla f(\theta) + \lambda\theta)$;
    with momentum the two differ (the decay no longer passes through the buffer), and so they do
    under a learning-rate schedule when momentum is on. The form $\theta \leftarrow (1-\lambda')\theta$
    with no rate is the same method at a constant rate with $\lambda' = \eta\lambda$. The
    default, `False`, is torch.optim.SGD's coupled L2. With Nesterov's look-ahead form the
    decay is applied at the iterate and the gradient is taken at the look-ahead point as usual.

    Buffers: `momentum_buffer` b (torch form), `velocity` v (Sutskever form) or `prev_param`
    $\theta_{t-1}$ (Polyak form), one parameter-sized array each when μ > 0: 4 bytes per fp32
    parameter; none (0 bytes) without momentum.
    """

    name = "SGD"
    positional = ("lr", "momentum", "dampening", "weight_decay", "nesterov")  # as torch.optim.SGD
    defaults = dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False,
                    momentum_form="torch", nesterov_form="torch", decoupled_weight_decay=False)
    hints = dict(momentum_form=Literal[MOMENTUM_FORMS], nesterov_form=Literal[NESTEROV_FORMS])
    buffers = ("momentum_buffer", "velocity", "prev_param")
    convention = ("torch.optim.SGD: the learning rate multiplies the whole buffer, the first step "
                  "sets b = g without dampening, Nesterov uses g + μb (the look-ahead form reparametrised). "
                  "momentum_form='polyak'|'sutskever' put the rate inside the velocity; "
                  "nesterov_form='lookahead' takes the gradient at θ + μv. weight_decay is coupled L2 "
                  "unless decoupled_weight_decay=True (θ ← θ(1 − ηλ) before the step).")
    cite = "robbins1951stochastic"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_nonneg(hp, "momentum")
        check_nonneg(hp, "dampening")
        check_nonneg(hp, "weight_decay", "weight_decay")
        check_choice(hp, "momentum_form", MOMENTUM_FORMS)
        check_choice(hp, "nesterov_form", NESTEROV_FORMS)
        dwd = hp.get("decoupled_weight_decay", False)
        if not isinstance(dwd, bool):
            raise ValueError(f"Invalid decoupled_weight_decay value: decoupled_weight_decay={dwd!r} "
                             "(expected True or False)")
        form = hp.get("momentum_form", "torch")
        if hp.get("nesterov") and (hp.get("momentum", 0.0) <= 0 or hp.get("dampening", 0.0) != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening "
                             f"(got momentum={hp.get('momentum')}, dampening={hp.get('dampening')})")
        if form != "torch" and hp.get("dampening", 0.0) != 0:
            raise ValueError(f"Invalid dampening value: dampening={hp.get('dampening')} "
                             f"(dampening is defined for momentum_form='torch' only, got {form!r})")
        if hp.get("nesterov") and form == "polyak" and hp.get("nesterov_form", "torch") == "torch":
            raise ValueError("Invalid nesterov_form value: nesterov_form='torch' with momentum_form='polyak' "
                             "(Nesterov in iterate form takes the gradient at θ + μ(θ − θ_prev): "
                             "use nesterov_form='lookahead')")

    def validate_face(self, hp: dict, face: str) -> None:
        if face == "torch" and hp.get("nesterov") and hp.get("nesterov_form") == "lookahead":
            raise ValueError("Invalid nesterov_form value: nesterov_form='lookahead' in the torch face, which "
                             "reads p.grad at the parameters; nesterov_form='torch' is the same method with "
                             "the parameters holding the look-ahead point θ + μv")

    def init_state(self, ops, p, hp):
        form = hp.get("momentum_form", "torch")
        if form == "torch" and hp.get("momentum", 0.0) == 0.0:
            return {}  # torch.optim.SGD keeps no buffer without momentum
        # the paper forms keep their buffer even at mu = 0, so that a momentum schedule
        # starting at mu_1 = 0 (Nesterov's convex schedule) updates it from the first step
        key = {"torch": "momentum_buffer", "sutskever": "velocity", "polyak": "prev_param"}
        return {key[form]: None}

    def sparse_update(self, ctx: Context) -> None:
        """The step for sparse gradients (torch face, one tensor at a time): the ordinary update, whose
        operations keep a sparse gradient sparse; the momentum buffer is then sparse too, as in torch.optim.SGD.
        Coupled weight decay would make the gradient dense and is refused; `decoupled_weight_decay=True`, which
        shrinks the parameters instead, is taken."""
        if ctx.group.get("weight_decay", 0.0) != 0.0 and not ctx.group.get("decoupled_weight_decay", False):
            raise RuntimeError("weight_decay option is not compatible with sparse gradients (SGD: use "
                               "decoupled_weight_decay=True, or weight_decay=0 for the sparse parameters' group)")
        self.update(ctx)

    def _lookahead(self, hp: dict) -> bool:
        return bool(hp.get("nesterov")) and hp.get("nesterov_form", "torch") == "lookahead"

    def lookahead_point(self, ops, params, states, hp):
        if not self._lookahead(hp):
            return None
        mu, form = hp["momentum"], hp.get("momentum_form", "torch")
        points = ops.clone(params)
        for y, p, s in zip(points, params, states):
            if form == "torch" and s.get("momentum_buffer") is not None:
                ops.add_([y], [s["momentum_buffer"]], alpha=-hp["lr"] * mu)      # θ − η μ b
            elif form == "sutskever" and s.get("velocity") is not None:
                ops.add_([y], [s["velocity"]], alpha=mu)                          # θ + μ v
            elif form == "polyak" and s.get("prev_param") is not None:
                ops.add_([y], ops.add([p], [s["prev_param"]], alpha=-1.0), alpha=mu)  # θ + μ(θ − θ_prev)
        return points

    def update(self, ctx: Context) -> None:
        hp, ops = ctx.group, ctx.ops
        mu = hp["momentum"]
        lookahead = self._lookahead(hp)
        form = hp.get("momentum_form", "torch")
        decoupled = bool(hp.get("decoupled_weight_decay", False))
        if decoupled:
            g = ctx.grads
            if form != "polyak":                                            # (the Polyak form decays below)
                decoupled_weight_decay(ctx)                                 # θ ← θ(1 − ηλ)
        elif lookahead and hp.get("weight_decay", 0.0) != 0.0:
            y = self.lookahead_point(ops, ctx.params, ctx.states, hp)
            g = ops.add(ctx.grads, y, alpha=hp["weight_decay"])             # g ← ∇f(y) + λy
        else:
            g = l2_into_gradient(ctx, ctx.grads)                            # g ← g + λθ
        if mu == 0.0 and form == "torch":
            apply_update(ctx, g)                                            # θ ← θ − ηg
            return
        nesterov_reparam = bool(hp["nesterov"]) and not lookahead
        if form == "torch":
            buf = momentum_buffer(ctx, g, mu, hp["dampening"])              # b ← μb + (1−τ)g
            d = ops.add(g, buf, alpha=mu) if nesterov_reparam else buf
            apply_update(ctx, d)                                            # θ ← θ − η d
        elif form == "sutskever":
            v = velocity(ctx, g, mu)                                        # v ← μv − ηg
            if nesterov_reparam:
                ops.add_(ctx.params, v, alpha=mu)                           # φ ← φ + μv − ηg
                apply_update(ctx, g)
            else:
                ops.add_(ctx.params, v)                                     # θ ← θ + v
        else:  # polyak
            for s, p in zip(ctx.states, ctx.params):
                if s.get("prev_param") is None:
                    s["prev_param"] = ops.clone([p])[0]
            prev = ctx.buffer("prev_param")
            step = ops.add(ctx.params, prev, alpha=-1.0)                    # θ_{t−1} − θ_{t−2}
            if decoupled:   # θ ← θ(1 − ηλ); θ_prev keeps the decayed point, so that the step stays −ηb
                decoupled_weight_decay(ctx)
            ops.copy_(prev, ctx.params)
            apply_update(ctx, g)                                            # θ ← θ − ηg + μ(θ − θ_prev)
            ops.add_(ctx.params, step, alpha=mu)
