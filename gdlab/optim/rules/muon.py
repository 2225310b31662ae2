r"""Muon (Jordan et al. 2024): momentum, then orthogonalise the update of each weight matrix."""

from __future__ import annotations

import math

from ..base import Context, Rule, check_lr, check_nonneg, check_unit
from ..matrix import MUON_COEFFICIENTS, newton_schulz
from ..pieces import apply_update, decoupled_weight_decay


class Muon(Rule):
    r"""Muon, "MomentUm Orthogonalized by Newton–Schulz" (Jordan et al. 2024).

    For a weight matrix :math:`W\in\mathbb R^{m\times n}`:

    .. math::
        B_t &\leftarrow \beta B_{t-1} + (1-\beta) G_t \\
        U_t &= (1-\beta) G_t + \beta B_t \ \text{(Nesterov, default)}\quad\text{or}\quad U_t = B_t \\
        O_t &= \mathrm{NS}_5(U_t) \approx U V^\top \text{ for } U_t = U\Sigma V^\top \\
        W_t &\leftarrow W_{t-1}(1-\eta\lambda) - \eta\,\sqrt{\max(1, m/n)}\;O_t

    where :math:`\mathrm{NS}_5` is five quintic Newton–Schulz steps with
    :math:`(a, b, c) = (3.4445, -4.7750, 2.0315)` on :math:`U_t/\lVert U_t\rVert_F`
    (:func:`gdlab.optim.matrix.newton_schulz`). Because :math:`U_t` is normalised first, the scale of
    the momentum does not matter: the older form :math:`B \leftarrow \beta B + G`, :math:`U = G + \beta B` gives
    the same step. The singular values of :math:`O_t` come out near 1, not exactly 1: five steps map every
    singular value between 1% and 100% of :math:`\lVert U_t\rVert_F` into [0.68, 1.14].
    The decay is decoupled and scaled by :math:`\eta` (as in the authors' later code; off by default).

    Only 2-D parameters: Muon is meant for the hidden weight matrices. Biases, gains, embeddings and
    the output layer belong in a second optimizer (e.g. ``gdlab.optim.AdamW``) with their own param
    group list; a parameter of another shape raises ``ValueError`` at its first step. Reshape
    convolution kernels to 2-D yourself if you want Muon on them.
    ``pytorch_optimizer.Muon`` uses the same momentum, coefficients and scale but runs the
    iteration in bfloat16 and clamps :math:`\lVert U\rVert_F` below at :math:`10^{-7}` instead of adding it.

    Defaults: ``lr=0.02, momentum=0.95, nesterov=True, ns_steps=5, weight_decay=0``.
    Buffers: ``momentum_buffer``: 4 bytes/param in fp32; each step also makes :math:`m\times m` Gram
    matrices (:math:`m = \min` of the two sides).
    """

    name = "Muon"
    defaults = dict(lr=0.02, momentum=0.95, nesterov=True, ns_steps=5, weight_decay=0.0, maximize=False)
    buffers = ("momentum_buffer",)
    convention = ("Jordan et al. 2024: EMA momentum, Nesterov U = (1−β)G + βB, 5 Newton–Schulz steps on "
                  "U/‖U‖_F with (3.4445, −4.7750, 2.0315), scale √max(1, rows/cols); 2-D parameters only.")
    cite = "jordan2024muon"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_unit(hp, "momentum")
        check_nonneg(hp, "weight_decay", "weight_decay")
        k = hp.get("ns_steps")
        if k is not None and not (isinstance(k, int) and not isinstance(k, bool) and k >= 1):
            raise ValueError(f"Invalid ns_steps value: ns_steps={k} (expected an integer >= 1)")

    def init_state(self, ops, p, hp):
        if p.ndim != 2:
            raise ValueError(
                f"Muon only updates 2-D weight matrices; got a parameter of shape {tuple(p.shape)}. "
                "Put biases, gains, embeddings and the output layer in a second optimizer "
                "(e.g. gdlab.optim.AdamW) and pass Muon only the hidden weight matrices.")
        return {"momentum_buffer": ops.zeros_like(p)}

    def update(self, ctx: Context) -> None:
        ops, hp = ctx.ops, ctx.group
        mu = hp["momentum"]
        b = ctx.buffer("momentum_buffer")
        ops.lerp_(b, ctx.grads, 1.0 - mu)                  # B ← βB + (1−β)G
        if hp["nesterov"]:
            u = ops.clone(ctx.grads)
            ops.lerp_(u, b, mu)                            # U = (1−β)G + βB
        else:
            u = b
        o = [newton_schulz(ops, x, steps=hp["ns_steps"], coefficients=MUON_COEFFICIENTS) for x in u]
        scale = [math.sqrt(max(1.0, p.shape[0] / p.shape[1])) for p in ctx.params]
        decoupled_weight_decay(ctx)                        # W ← W(1 − ηλ)
        apply_update(ctx, o, scale=scale)                  # W ← W − η √max(1, m/n) NS(U)
