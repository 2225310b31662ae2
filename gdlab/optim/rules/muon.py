r"""Muon (Jordan et al. 2024): momentum, then orthogonalise the update of each weight matrix."""

from __future__ import annotations

import math
from typing import Literal

from ..base import Context, Rule, check_choice, check_lr, check_unit
from ..matrix import MUON_COEFFICIENTS, newton_schulz, newton_schulz_bf16
from ..pieces import apply_update, decoupled_weight_decay
from .adafactor import _at_least

ADJUST_LR_FNS = ("original", "match_rms_adamw")
#: where the Newton–Schulz iteration runs: the parameter's dtype, or bfloat16 as torch.optim.Muon
NS_FORMS = ("full", "torch")


class Muon(Rule):
    r"""Muon, "MomentUm Orthogonalized by Newton–Schulz" (Jordan et al. 2024).

    For a weight matrix $W\in\mathbb R^{m\times n}$:

    $$
    \begin{aligned}
    B_t &\leftarrow \beta B_{t-1} + (1-\beta) G_t \\
    U_t &= (1-\beta) G_t + \beta B_t \ \text{(Nesterov, default)}\quad\text{or}\quad U_t = B_t \\
    O_t &= \mathrm{NS}_5(U_t) \approx U V^\top \text{ for } U_t = U\Sigma V^\top \\
    W_t &\leftarrow W_{t-1}(1-\eta\lambda) - \eta\,s\;O_t
    \end{aligned}
    $$

    where $\mathrm{NS}_5$ is `ns_steps` (5) quintic Newton–Schulz steps with `ns_coefficients`
    $(a, b, c) = (3.4445, -4.7750, 2.0315)$ on $U_t/(\lVert U_t\rVert_F + \epsilon)$, ε = `eps` (1e-7)
    (`gdlab.optim.matrix.newton_schulz()`), and the scale s is set by `adjust_lr_fn`, as in torch.optim.Muon:
    $s = \sqrt{\max(1, m/n)}$ (Jordan's, `None` or `"original"`, the default) or $s = 0.2\sqrt{\max(m, n)}$
    (`"match_rms_adamw"`, Liu et al. 2025's, which gives the update AdamW's RMS so that AdamW's learning rate
    and decay can be reused). Because $U_t$ is normalised first, the scale of
    the momentum does not matter: the older form $B \leftarrow \beta B + G$, $U = G + \beta B$ gives
    the same step. The singular values of $O_t$ come out near 1, not exactly 1: five steps map every
    singular value between 1% and 100% of $\lVert U_t\rVert_F$ into [0.68, 1.14].
    The decay is decoupled and scaled by $\eta$ (as in the authors' later code).

    The arguments, their order and defaults are torch.optim.Muon's (torch 2.13): `lr=1e-3`,
    `weight_decay=0.1`, `momentum=0.95`, `nesterov=True`, `ns_coefficients`, `eps=1e-7`, `ns_steps=5`,
    `adjust_lr_fn=None`; gdlab adds `maximize` and `ns_form`. (gdlab's Muon before it followed torch had
    `lr=0.02` and `weight_decay=0.0`, Jordan et al.'s values: pass them to get its old runs.) With the default
    `ns_form="full"` the iteration differs from torch's in two ways: it runs in the parameter's dtype, where
    torch (like Jordan's code and pytorch_optimizer) runs it in bfloat16, and ε is added to
    $\lVert U_t\rVert_F$ (Jordan's code) where torch clamps the norm below at ε (the same for any
    $\lVert U_t\rVert_F \gg 10^{-7}$). bfloat16 keeps 8 significant bits, and on small matrices the two
    iterations' outputs differ by up to about 0.1 in spectral norm (measured on random 3×4 to 64×32 matrices),
    so `"full"` is the form to study the iteration with. `ns_form="torch"` runs it as torch.optim.Muon does
    (`gdlab.optim.matrix.newton_schulz_bf16()`): in bfloat16, the norm clamped at ε, torch's own operations in
    torch's order, so a run equals torch's bit for bit on the torch face (the NumPy face rounds float32 results
    to bfloat16 and can differ from torch by a unit in the 8th bit now and then). A complex parameter is
    refused at the step with torch's RuntimeError.

    Only 2-D parameters: Muon is meant for the hidden weight matrices. Biases, gains, embeddings and
    the output layer belong in a second optimizer (e.g. `gdlab.optim.AdamW`) with their own param
    group list; a parameter of another shape raises `ValueError`, naming it, when the torch face is built
    (the NumPy face, which sees its arrays only when it steps, at the first step). Store convolution kernels
    as 2-D parameters yourself if you want Muon on them.
    `pytorch_optimizer.Muon` uses the same momentum, coefficients and scale but runs the
    iteration in bfloat16 and clamps $\lVert U\rVert_F$ below at $10^{-7}$ instead of adding it.

    Buffers: `momentum_buffer`: 4 bytes/param in fp32; each step also makes $m\times m$ Gram
    matrices ($m = \min$ of the two sides).
    """

    name = "Muon"
    positional = ("lr", "weight_decay", "momentum", "nesterov", "ns_coefficients", "eps", "ns_steps",
                  "adjust_lr_fn")  # as torch.optim.Muon
    defaults = dict(lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True, ns_coefficients=MUON_COEFFICIENTS,
                    eps=1e-7, ns_steps=5, adjust_lr_fn=None, maximize=False, ns_form="full")
    hints = dict(ns_coefficients=tuple[float, float, float], adjust_lr_fn=Literal[(*ADJUST_LR_FNS, None)],
                 ns_form=Literal[NS_FORMS])
    buffers = ("momentum_buffer",)
    convention = ("Jordan et al. 2024: EMA momentum, Nesterov U = (1−β)G + βB, 5 Newton–Schulz steps on "
                  "U/(‖U‖_F + ε) with (3.4445, −4.7750, 2.0315), scale √max(1, rows/cols) (adjust_lr_fn=None) "
                  "or 0.2√max(rows, cols) ('match_rms_adamw'); torch.optim.Muon's arguments and defaults "
                  "(lr 1e-3, weight_decay 0.1); the iteration runs in the parameter's dtype (ns_form='full') or, as "
                  "torch's, in bfloat16 (ns_form='torch'); 2-D parameters only.")
    cite = "jordan2024muon"
    #: as torch.optim.Muon, a complex parameter is refused at the step with this RuntimeError
    complex_refusal = "Muon does not support complex parameters"

    def validate(self, hp: dict) -> None:
        # torch.optim.Muon's wording ("... should be >= 0 but is: v"), then the argument as given
        lr = hp.get("lr")
        if not hasattr(lr, "numel") or lr.numel() == 1:
            _at_least(lr, 0.0, "Learning rate", "lr")
        check_lr(hp)  # "Tensor lr must be 1-element", as torch
        _at_least(hp.get("momentum"), 0.0, "momentum", "momentum")
        check_unit(hp, "momentum")  # and below 1: at 1 the buffer never forgets
        _at_least(hp.get("weight_decay"), 0.0, "weight decay", "weight_decay")
        self.torch_refusals(hp)
        coef = hp.get("ns_coefficients")
        if coef is not None and (not isinstance(coef, (tuple, list)) or len(coef) != 3):
            raise ValueError(f"Coefficients must be a tuple of exactly 3 values (ns_coefficients={coef!r})")
        eps = hp.get("eps")
        if eps is not None:
            _at_least(eps, 0.0, "eps", "eps")
        k = hp.get("ns_steps")
        if k is not None and not (isinstance(k, int) and not isinstance(k, bool) and k >= 1):
            raise ValueError(f"Invalid ns_steps value: ns_steps={k} (expected an integer >= 1)")
        if k is not None and k >= 100:
            raise ValueError(f"Number of steps must be less than 100 for computational efficiency (ns_steps={k})")
        check_choice(hp, "ns_form", NS_FORMS)

    @staticmethod
    def torch_refusals(hp: dict) -> None:
        """torch.optim.Muon's refusal of an unknown `adjust_lr_fn`, in its words (asked before the type checks)."""
        fn = hp.get("adjust_lr_fn")
        if isinstance(fn, str) and fn not in ADJUST_LR_FNS:
            raise ValueError(f"Adjust learning rate function {fn} is not supported "
                             f"(adjust_lr_fn={fn!r}: expected None or one of {ADJUST_LR_FNS})")

    def check_param(self, shape, hp):
        if len(shape) == 2:
            return None
        kind = " (a convolution kernel?)" if len(shape) > 2 else ""
        return (f"Muon only supports 2D parameters whereas we found a parameter with size: {tuple(shape)}: this "
                f"parameter has shape {tuple(shape)}{kind}. Muon updates the 2-D weight matrices: give it to "
                "a second optimizer (e.g. gdlab.optim.AdamW), with the biases, gains, embeddings and the output layer.")

    def init_state(self, ops, p, hp):
        problem = self.check_param(tuple(p.shape), hp)
        if problem is not None:
            raise ValueError(problem)
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
        ns = newton_schulz_bf16 if hp.get("ns_form", "full") == "torch" else newton_schulz
        o = [ns(ops, x, steps=hp["ns_steps"], coefficients=tuple(hp["ns_coefficients"]), eps=hp["eps"]) for x in u]
        scale = [adjusted_scale(hp.get("adjust_lr_fn"), p.shape) for p in ctx.params]
        decoupled_weight_decay(ctx)                        # W ← W(1 − ηλ)
        apply_update(ctx, o, scale=scale)                  # W ← W − η s NS(U)


def adjusted_scale(adjust_lr_fn: str | None, shape) -> float:
    r"""The factor s of Muon's step for an m×n matrix: :math:`\sqrt{\max(1, m/n)}` (None, "original") or
    :math:`0.2\sqrt{\max(m, n)}` ("match_rms_adamw")."""
    m, n = shape[0], shape[1]
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(m, n))
    return math.sqrt(max(1.0, m / n))
