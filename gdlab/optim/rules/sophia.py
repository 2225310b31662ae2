r"""Sophia (Liu, Li, Hall, Liang & Ma 2023): clipped, diagonally preconditioned momentum.

The rule itself only needs a diagonal Hessian estimate $\hat h$ now and then. Two
estimators are provided for the torch face (torch is imported only when they are called):

* `hutchinson()` -- $\hat h = u\odot(\nabla^2 L\,u)$, $u\sim\mathcal N(0, I)$,
  one Hessian-vector product by double backpropagation; unbiased for $\operatorname{diag}\nabla^2 L$;
* `gauss_newton_bartlett()` -- $\hat h = B\cdot\hat g\odot\hat g$, where $\hat g$ is the
  gradient of the mean loss on labels *sampled from the model's own softmax* (no extra forward).

Training loop (an estimate every `update_period` = k steps, as in the paper's Alg. 3):

```python
opt = gdlab.optim.Sophia(model.parameters(), lr=1e-4)
k = opt.defaults["update_period"]
for t, (x, y) in enumerate(loader):
    opt.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    if t % k == 0:
        gauss_newton_bartlett(opt, logits)   # keeps the graph for the backward below
    loss.backward()
    opt.step()                               # folds the pending estimate into h, then steps

# with Hutchinson's estimator instead, which also writes p.grad:
#   if t % k == 0: hutchinson(opt, loss)
#   else:          loss.backward()
```

On the NumPy face the estimate is passed with the step: `opt(x, g, k, hessian=h_hat)`.
"""

from __future__ import annotations

import math

import numpy as np

from ..base import Context, Rule, check_betas, check_eps, check_lr, check_nonneg
from ..pieces import apply_update, decoupled_weight_decay

_PENDING = "hessian_estimate"


class Sophia(Rule):
    r"""Sophia (Liu et al. 2023, Alg. 3).

    $$
    \begin{aligned}
    m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\
    h_t &\leftarrow \beta_2 h_{t-k} + (1-\beta_2)\hat h_t \quad\text{when an estimate } \hat h_t
    \text{ is given} \\
    &\qquad \text{(every } k \text{ steps), else } h_t = h_{t-1} \\
    \theta_t &\leftarrow \theta_{t-1}(1-\eta\lambda) \\
    \theta_t &\leftarrow \theta_t - \eta\,\operatorname{clip}\Bigl(\frac{m_t}{\max(\gamma h_t, \epsilon)}, 1\Bigr)
    \end{aligned}
    $$

    with $\operatorname{clip}(z, 1) = \max(\min(z, 1), -1)$ per coordinate. Where the curvature
    estimate is small or negative the step is $\pm\eta$ (sign momentum); where it is large the
    step is a Newton-like $\eta\,m/(\gamma h)$.

    The authors' code writes the same step as $\operatorname{sign}(m)\min(|m|/(\rho B h + 10^{-15}), 1)$,
    with $\gamma = \rho B$ folding in the batch size $B$; `gamma` here is the paper's
    $\gamma$ and must include $B$ if the estimates do not. `pytorch_optimizer.SophiaH` uses
    Hutchinson's estimate internally and a different clipping form.

    `update_period` is read by the training loop (see the module's example), not by the step.
    Buffers: `exp_avg`, `hessian`: 8 bytes/param in fp32. Torch face: an estimate is handed to
    the optimizer by storing it in `optimizer.state[p]["hessian_estimate"]` (what `hutchinson()`
    and `gauss_newton_bartlett()` do); the next `step()` folds it into $h$ and clears it.
    """

    name = "Sophia"
    defaults = dict(lr=1e-4, betas=(0.965, 0.99), gamma=0.01, eps=1e-12, weight_decay=0.1, update_period=10,
                    maximize=False)
    buffers = ("exp_avg", "hessian")
    convention = ("Liu et al. 2023, Alg. 3: decoupled decay θ(1 − ηλ), step η·clip(m/max(γh, ε), 1); "
                  "h is an EMA of the estimates, updated only when one is supplied.")
    cite = "liu2023sophia"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_eps(hp)
        check_betas(hp)
        check_nonneg(hp, "weight_decay", "weight_decay")
        g = hp.get("gamma")
        if g is not None and not (math.isfinite(g) and g > 0):
            raise ValueError(f"Invalid gamma value: gamma={g} (expected > 0)")
        k = hp.get("update_period")
        if k is not None and not (isinstance(k, int) and k >= 1):
            raise ValueError(f"Invalid update_period value: update_period={k} (expected an integer >= 1)")

    def init_state(self, ops, p, hp):
        return {"exp_avg": ops.zeros_like(p), "hessian": ops.zeros_like(p)}  # (+ _PENDING while one waits)

    def update(self, ctx: Context) -> None:
        ops, hp = ctx.ops, ctx.group
        b1, b2 = hp["betas"]
        given = ctx.extras.get("hessian")
        if given is not None:                               # NumPy face: the estimate comes with the step
            given = list(given) if isinstance(given, (list, tuple)) else [given]
            if len(given) != len(ctx.params):
                raise ValueError(f"hessian: expected {len(ctx.params)} estimates, got {len(given)}")
            for s, e in zip(ctx.states, given):
                s[_PENDING] = e
        fresh = [i for i, s in enumerate(ctx.states) if s.get(_PENDING) is not None]
        if fresh:                                           # h ← β₂h + (1−β₂)ĥ where an estimate is pending
            hs = [ctx.states[i]["hessian"] for i in fresh]
            est = [ctx.states[i][_PENDING] for i in fresh]
            if ops.name == "numpy":
                est = [np.asarray(e, dtype=h.dtype).reshape(h.shape) for e, h in zip(est, hs)]
            ops.lerp_(hs, est, 1.0 - b2)
            for i in fresh:
                del ctx.states[i][_PENDING]  # consumed: the state holds tensors only, as torch.optim's does
        m = ctx.buffer("exp_avg")
        ops.lerp_(m, ctx.grads, 1.0 - b1)                   # m ← β₁m + (1−β₁)g
        decoupled_weight_decay(ctx)                         # θ ← θ(1 − ηλ)
        den = ops.mul(ctx.buffer("hessian"), hp["gamma"])
        ops.clamp_min_(den, hp["eps"])                      # max(γh, ε)
        r = ops.div(m, den)
        ops.mul_(r, -1.0)                                   # clip(r, 1) = −max(−max(r, −1), −1)
        ops.clamp_min_(r, -1.0)
        ops.mul_(r, -1.0)
        ops.clamp_min_(r, -1.0)
        apply_update(ctx, r)                                # θ ← θ − η clip(m/max(γh, ε), 1)


# --- the estimators (torch face) --------------------------------------------------------
def _trainable(optimizer):
    return [p for g in optimizer.param_groups for p in g["params"] if p.requires_grad]


def set_hessian_estimate(optimizer, estimates, params=None) -> None:
    r"""Hand diagonal Hessian estimates $\hat h$ (one tensor per parameter) to a torch Sophia.

    `params` defaults to every trainable parameter of the optimizer, in group order. The next
    `step()` folds them into $h$ and clears them.
    """
    from ..ops import TorchOps

    params = _trainable(optimizer) if params is None else list(params)
    if len(params) != len(estimates):
        raise ValueError(f"estimates: expected {len(params)} tensors, got {len(estimates)}")

    ops = TorchOps(foreach=False)
    for p, e in zip(params, estimates):
        state = optimizer.state[p]
        if len(state) == 0:                                 # as the optimizer would at its first step
            state["step"] = 0
            state.update(optimizer.rule.init_state(ops, p, optimizer.defaults))
        state[_PENDING] = e.detach().to(p.dtype)


def hutchinson(optimizer, loss, generator=None, distribution: str = "gaussian", set_grad: bool = True):
    r"""Hutchinson's estimate $\hat h = u\odot(\nabla^2 L\, u)$ for every parameter of `optimizer`.

    $u\sim\mathcal N(0, I)$ (the paper's choice) or Rademacher (`distribution="rademacher"`);
    either way $\mathbb E[u\odot Hu] = \operatorname{diag} H$. One Hessian-vector product:
    $g = \nabla L$ with `create_graph=True`, then $Hu = \nabla(g^\top u)$. The estimates are
    left pending in `optimizer.state[p]["hessian_estimate"]`; with `set_grad=True` the gradient
    just computed is also written to `p.grad` (so no second `loss.backward()` is needed).
    Returns the list of estimates.
    """
    import torch

    if distribution not in ("gaussian", "rademacher"):
        raise ValueError(f"Invalid distribution value: distribution={distribution!r} "
                         "(expected 'gaussian' or 'rademacher')")
    params = _trainable(optimizer)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    us = []
    for p in params:
        if distribution == "gaussian":
            u = torch.randn(p.shape, generator=generator, dtype=p.dtype, device=p.device)
        else:
            u = torch.randint(0, 2, p.shape, generator=generator, device=p.device).to(p.dtype) * 2 - 1
        us.append(u)
    hvs = torch.autograd.grad(grads, params, grad_outputs=us)
    est = [u * hv for u, hv in zip(us, hvs)]
    set_hessian_estimate(optimizer, est, params)
    if set_grad:
        for p, g in zip(params, grads):
            p.grad = g.detach().clone()
    return est


def gauss_newton_bartlett(optimizer, logits, generator=None):
    r"""The Gauss–Newton–Bartlett estimate $\hat h = B\cdot\hat g\odot\hat g$ (Liu et al. 2023, Alg. 2).

    Labels $\hat y_b$ are sampled from $\operatorname{softmax}(\text{logits}_b)$;
    $\hat g = \nabla_\theta\,\frac1B\sum_b \ell(\text{logits}_b, \hat y_b)$ with the cross-entropy
    $\ell$. By Bartlett's identity, $B\,\mathbb E[\hat g\odot\hat g]$ is the diagonal of the
    Gauss–Newton matrix. `logits` has shape `(B, classes)` (or `(..., classes)`, flattened) and
    must still hold its graph; the graph is retained for the caller's own `backward`.
    Returns the list of estimates (also left pending in the optimizer's state).
    """
    import torch
    import torch.nn.functional as F

    flat = logits.reshape(-1, logits.shape[-1])
    with torch.no_grad():
        probs = torch.softmax(flat.detach().double(), dim=-1)
        labels = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    params = _trainable(optimizer)
    loss_hat = F.cross_entropy(flat, labels)
    grads = torch.autograd.grad(loss_hat, params, retain_graph=True, allow_unused=True)
    batch = flat.shape[0]
    est = [batch * g * g if g is not None else torch.zeros_like(p) for p, g in zip(params, grads)]
    set_hessian_estimate(optimizer, est, params)
    return est


class SophiaTorchMethods:
    """Methods for the torch face of Sophia: `opt.hutchinson(loss)`, `opt.gauss_newton_bartlett(logits)`."""

    def hutchinson(self, loss, generator=None, distribution: str = "gaussian", set_grad: bool = True):
        return hutchinson(self, loss, generator, distribution, set_grad)

    def gauss_newton_bartlett(self, logits, generator=None):
        return gauss_newton_bartlett(self, logits, generator)


Sophia.torch_mixin = SophiaTorchMethods
