r"""Layer-wise rules: LARS (You et al. 2017), LAMB (You et al. 2020) and AdamP (Heo et al. 2021).

Each rescales or projects the update of a whole tensor ("layer") using the norm of that tensor,
so these rules treat each parameter tensor as a unit, never coordinate by coordinate.
"""

from __future__ import annotations

import math

from ..base import Context, Rule, check_betas, check_eps, check_lr, check_nonneg, check_unit, is_number
from ..pieces import adam_moments, adam_ratio, apply_update


def _trust_ratio(w_norm: float, u_norm: float, clip: float | None = None) -> float:
    r"""$\varphi(\lVert x\rVert)/\lVert u\rVert$, and 1 when either norm is 0."""
    num = (min(w_norm, clip) if clip is not None else w_norm) if is_number(w_norm) else (
        w_norm.clamp(max=clip) if clip is not None else w_norm)
    return _ratio_or_one(num, u_norm, w_norm != 0.0, u_norm != 0.0)


def _traced(x) -> bool:
    """``x`` is a torch tensor inside a ``torch.compile`` trace (not a NumPy array, not an eager step)."""
    if not hasattr(x, "dim"):
        return False
    import torch

    return torch.compiler.is_compiling()


def _ratio_or_one(num, den, *conditions):
    """``num / den`` where every condition holds, else 1. On numbers (the eager step) a branch; on 0-d tensors (a
    compiled or differentiable step, whose norms stay tensors) a ``where`` on their values, so that the compiled
    step is one graph (a branch on a tensor's value would end it), with the same numbers."""
    if all(is_number(c) for c in (num, den, *conditions)):
        return num / den if all(conditions) else 1.0
    import torch

    ok = conditions[0]
    for c in conditions[1:]:
        ok = ok & c
    den = torch.where(ok, den, torch.ones_like(den))  # (no 0/0 computed, even in the branch not taken)
    return torch.where(ok, num / den, torch.ones_like(den))


class LAMB(Rule):
    r"""LAMB (You et al. 2020, Alg. 2): Adam's direction, rescaled per tensor to the tensor's norm.

    $$
    \begin{aligned}
    m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
    v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
    r_t &= \frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon},\qquad
    u_t = r_t + \lambda\theta_{t-1} \\
    \theta_t &\leftarrow \theta_{t-1} - \eta\,\frac{\varphi(\lVert\theta_{t-1}\rVert)}{\lVert u_t\rVert}\,u_t
    \end{aligned}
    $$

    per parameter tensor, with $\varphi(z) = z$ (the paper), or $\varphi(z) = \min(z, c)$
    with `trust_clip=c`. The trust ratio is 1 when $\lVert\theta\rVert = 0$ or
    $\lVert u\rVert = 0$. Each step records the ratios (`stats["trust_ratio"]` with
    `track_stats=True`).

    Where libraries differ: NVIDIA's and `pytorch_optimizer.Lamb` clamp $\lVert\theta\rVert$
    at 10 (`trust_clip=10` here); `pytorch_optimizer.Lamb` (4.1) computes the ratio on the
    uncorrected $m/(\sqrt{v}+\epsilon)$ and then multiplies the step by $1/(1-\beta_1^t)$, so
    its early steps are larger by that factor (10× at $t = 1$); it also applies the decay to
    $\theta$ outside the trust ratio and divides by $\lVert u\rVert + \epsilon$; timm's `Lamb` skips the ratio when
    $\lambda = 0$ unless `always_adapt=True` (`always_adapt=False` here gives that).

    Buffers: `exp_avg`, `exp_avg_sq`: 8 bytes/param in fp32.
    """

    name = "LAMB"
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01, trust_clip=None,
                    always_adapt=True, maximize=False)
    hints = dict(trust_clip=float | None)
    buffers = ("exp_avg", "exp_avg_sq")
    convention = ("You et al. 2020, Alg. 2: ε on the bias-corrected √v̂, decay inside u = r + λθ, "
                  "trust ratio ‖θ‖/‖u‖ per tensor (1 when a norm is 0), no clamp unless trust_clip is set.")
    cite = "you2020large"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_eps(hp)
        check_betas(hp)
        check_nonneg(hp, "weight_decay", "weight_decay")
        clip = hp.get("trust_clip")
        if clip is not None and not (math.isfinite(clip) and clip > 0):
            raise ValueError(f"Invalid trust_clip value: trust_clip={clip} (expected None or > 0)")

    def init_state(self, ops, p, hp):
        return {"exp_avg": ops.zeros_like(p), "exp_avg_sq": ops.zeros_like(p)}

    def update(self, ctx: Context) -> None:
        ops, hp = ctx.ops, ctx.group
        wd = hp["weight_decay"]
        m, v = adam_moments(ctx, ctx.grads)
        num, den, scale = adam_ratio(ctx, m, v)
        u = ops.mul_(ops.div(num, den), scale)              # r = m̂/(√v̂ + ε), scaled in place
        if wd != 0.0:
            ops.add_(u, ctx.params, alpha=wd)               # u = r + λθ
        if hp["always_adapt"] or wd != 0.0:
            ratios = [_trust_ratio(w, n, hp["trust_clip"])
                      for w, n in zip(ops.norms(ctx.params), ops.norms(u))]
        else:
            ratios = [1.0] * len(u)
        ctx.record("trust_ratio", ratios)
        ops.mul_(u, ratios)                                 # φ(‖θ‖)/‖u‖ · u, in place on the new list
        apply_update(ctx, u)                                # θ ← θ − η φ(‖θ‖)/‖u‖ · u


class LARS(Rule):
    r"""LARS (You, Gitman & Ginsburg 2017, Alg. 1): momentum SGD with a layer-wise local rate.

    $$
    \begin{aligned}
    \lambda^l &= \eta_{tc}\,\frac{\lVert w^l\rVert}{\lVert g^l\rVert + \beta\lVert w^l\rVert} \\
    v^l &\leftarrow m\,v^l + \gamma\,\lambda^l\,(g^l + \beta w^l) \\
    w^l &\leftarrow w^l - v^l
    \end{aligned}
    $$

    for each parameter tensor $l$, with global rate $\gamma$ (`lr`), trust coefficient
    $\eta_{tc}$ (`trust_coefficient=1e-3`), momentum $m$ and weight decay $\beta$.
    The local rate is 1 when $\lVert w\rVert = 0$ or the denominator is 0 (the convention of
    NVIDIA's LARC and of `pytorch_optimizer.LARS`). With `exclude_1d=True` tensors with at most one
    dimension (biases, normalisation scales) get $\lambda^l = 1$ and no decay, as is common
    practice (not part of the paper). The rate $\gamma$ sits inside the velocity, as in the paper:
    after a change of `lr` this differs from torch.optim.SGD's form, which multiplies the whole buffer.
    Each step records the local rates (`stats["trust_ratio"]`).

    Buffers: `momentum_buffer`: 4 bytes/param in fp32.
    """

    name = "LARS"
    defaults = dict(lr=0.1, momentum=0.9, weight_decay=5e-4, trust_coefficient=1e-3, exclude_1d=False,
                    maximize=False)
    buffers = ("momentum_buffer",)
    convention = ("You et al. 2017, Alg. 1: local rate η_tc‖w‖/(‖g‖ + β‖w‖) (1 when a norm is 0), "
                  "v ← mv + γ·local·(g + βw), w ← w − v; the global rate is inside the velocity.")
    cite = "you2017large"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_unit(hp, "momentum")
        check_nonneg(hp, "weight_decay", "weight_decay")
        tc = hp.get("trust_coefficient")
        if tc is not None and not (math.isfinite(tc) and tc > 0):
            raise ValueError(f"Invalid trust_coefficient value: trust_coefficient={tc} (expected > 0)")

    def init_state(self, ops, p, hp):
        return {"momentum_buffer": ops.zeros_like(p)}

    def update(self, ctx: Context) -> None:
        ops, hp = ctx.ops, ctx.group
        beta, lr = hp["weight_decay"], hp["lr"]
        local, decay = [], []
        for p, w, g in zip(ctx.params, ops.norms(ctx.params), ops.norms(ctx.grads)):
            if hp["exclude_1d"] and p.ndim <= 1:
                local.append(1.0)
                decay.append(0.0)
                continue
            den = g + beta * w
            local.append(_ratio_or_one(hp["trust_coefficient"] * w, den, w > 0.0, den > 0.0))
            decay.append(beta)
        ctx.record("trust_ratio", local)
        if any(decay):
            uniform = all(c == decay[0] for c in decay)
            d = ops.add(ctx.grads, ctx.params, alpha=decay[0] if uniform else decay)  # g + βw (a new list)
            ops.mul_(d, [lr * c for c in local])            # γλˡ(g + βw), in place on the new list
        else:
            d = ops.mul(ctx.grads, [lr * c for c in local])
        v = ctx.buffer("momentum_buffer")
        ops.mul_(v, hp["momentum"])
        ops.add_(v, d)                                      # v ← mv + γλˡ(g + βw)
        ops.add_(ctx.params, v, alpha=-1.0)                 # w ← w − v


def _cosine_rows(x, y, eps: float):
    r"""Row-wise $|\langle x_i, y_i\rangle| / (\max(\lVert x_i\rVert,\epsilon)\max(\lVert y_i\rVert,\epsilon))$."""
    nx = (x * x).sum(axis=1) ** 0.5
    ny = (y * y).sum(axis=1) ** 0.5
    return abs((x * y).sum(axis=1)) / (nx.clip(eps, None) * ny.clip(eps, None))


def adamp_projection(p, grad, update, delta: float, eps: float):
    r"""AdamP's projection (Heo et al. 2021, Alg. 1–2) for one tensor with `ndim > 1`.

    For the channel view (one row per output channel, $p$ reshaped to $(d_0, -1)$) and
    then the layer view (one row), if $\max_i |\cos(g_i, p_i)| < \delta/\sqrt{n}$ ($n$ the
    row length), the weight is judged scale-invariant and the radial part is removed,

    $$
    u_i \leftarrow u_i - \langle \hat p_i, u_i\rangle\,\hat p_i,\qquad
    \hat p_i = p_i/(\lVert p_i\rVert + \epsilon);
    $$

    returns `(update, projected)`. The first view that passes is used, as in the authors' code.
    Inside a compiled step (``torch.compile``) both views are computed and the result chosen with ``where`` on
    the tests' values, so that the step stays one graph (``projected`` is then a 0-d boolean tensor).
    """
    if _traced(p):
        import torch

        out, done = update, None
        for rows in (1, p.shape[0]):  # the layer view first: the channel view, where it passes, overrides it
            pv = p.reshape(rows, -1)
            passes = _cosine_rows(grad.reshape(rows, -1), pv, eps).max() < delta / math.sqrt(pv.shape[1])
            pn = pv / (((pv * pv).sum(axis=1) ** 0.5) + eps).reshape(rows, 1)
            uv = update.reshape(rows, -1)
            radial = (pn * uv).sum(axis=1).reshape(rows, 1)
            out = torch.where(passes, (uv - pn * radial).reshape(p.shape), out)
            done = passes if done is None else done | passes
        return out, done
    for rows in (p.shape[0], 1):
        pv = p.reshape(rows, -1)
        if float(_cosine_rows(grad.reshape(rows, -1), pv, eps).max()) < delta / math.sqrt(pv.shape[1]):
            pn = pv / (((pv * pv).sum(axis=1) ** 0.5) + eps).reshape(rows, 1)
            uv = update.reshape(rows, -1)
            radial = (pn * uv).sum(axis=1).reshape(rows, 1)
            return (uv - pn * radial).reshape(p.shape), True
    return update, False


class AdamP(Rule):
    r"""AdamP (Heo et al. 2021): Adam whose update loses its radial part on scale-invariant weights.

    $$
    \begin{aligned}
    m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
    p_t &= \frac{m_t}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}\quad
    \Bigl(\text{Nesterov: } \frac{\beta_1 m_t + (1-\beta_1)g_t}{\sqrt{v_t/(1-\beta_2^t)}+\epsilon}\Bigr) \\
    p_t &\leftarrow \Pi_{\theta}(p_t) \text{ if } \max|\cos(g_t, \theta)| < \delta/\sqrt{n} \\
    &\qquad \text{and then } \lambda \leftarrow \lambda\cdot\texttt{wd\_ratio} \\
    \theta_t &\leftarrow \theta_{t-1}(1 - \eta\lambda) - \frac{\eta}{1-\beta_1^t}\,p_t
    \end{aligned}
    $$

    where $\Pi_\theta$ removes the component along $\theta$ per channel or for the whole
    layer (`adamp_projection()`); only tensors with `ndim > 1` are tested. The decay is
    decoupled and scaled by $\eta$, as in the authors' code (`clovaai/AdamP`).
    `pytorch_optimizer.AdamP` adds $\epsilon$ to the raw $\sqrt{v_t}$ (then multiplies by
    $\sqrt{1-\beta_2^t}$); the two agree when $\epsilon = 0$.

    Buffers: `exp_avg`, `exp_avg_sq`: 8 bytes/param in fp32. Records which tensors were projected
    (`stats["projected"]`).
    """

    name = "AdamP"
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, delta=0.1, wd_ratio=0.1,
                    nesterov=False, maximize=False)
    buffers = ("exp_avg", "exp_avg_sq")
    convention = ("Heo et al. 2021 / clovaai code: ε on √v̂, projection tested on the channel then the layer view "
                  "for ndim > 1, decoupled decay η·λ·wd_ratio when projected.")
    cite = "heo2021adamp"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_eps(hp)
        check_betas(hp)
        check_nonneg(hp, "weight_decay", "weight_decay")
        check_nonneg(hp, "delta")
        check_unit(hp, "wd_ratio", closed_top=True)

    def init_state(self, ops, p, hp):
        return {"exp_avg": ops.zeros_like(p), "exp_avg_sq": ops.zeros_like(p)}

    def update(self, ctx: Context) -> None:
        ops, hp = ctx.ops, ctx.group
        b1 = hp["betas"][0]
        m, v = adam_moments(ctx, ctx.grads)
        num, den, scale = adam_ratio(ctx, m, v)             # m̂/(√v̂+ε) = scale · m/den
        if hp["nesterov"]:
            num = ops.mul(m, b1)
            ops.add_(num, ctx.grads, alpha=1.0 - b1)
        upd = ops.div(num, den)
        ratios, projected = [], []
        for i, (p, g) in enumerate(zip(ctx.params, ctx.grads)):
            done = False
            if p.ndim > 1:
                upd[i], done = adamp_projection(p, g, upd[i], hp["delta"], hp["eps"])
            projected.append(done)
            if isinstance(done, bool):
                ratios.append(hp["wd_ratio"] if done else 1.0)
            else:  # (traced: a 0-d boolean tensor; the ratio in the parameter's dtype, as the eager number)
                ratios.append(done.to(p.dtype) * (hp["wd_ratio"] - 1.0) + 1.0)
        ctx.record("projected", projected)
        if hp["weight_decay"] != 0.0:
            ops.mul_(ctx.params, [1.0 - hp["lr"] * hp["weight_decay"] * r for r in ratios])
        apply_update(ctx, upd, scale=scale)
