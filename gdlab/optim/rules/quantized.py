r"""Adam with 8-bit block-wise quantised moments (Dettmers, Lewis, Shleifer & Zettlemoyer 2022)."""

from __future__ import annotations

import math

from ..base import Context, Rule, check_betas, check_eps, check_lr, check_nonneg
from ..ops import bias_correction
from .. import quantize as Q

#: values updated at once: the fp32 copies of m and v that a step decodes exist for this many values at a time
CHUNK_BLOCKS = 32


def _numel(p) -> int:
    return int(p.numel()) if hasattr(p, "numel") and callable(p.numel) else int(p.size)


class Adam8bit(Rule):
    r"""Adam whose moments are stored in 8 bits, block-wise (Dettmers et al. 2022, 8-bit optimizers).

    Each step decodes $m$ and $v$, takes Adam's step in float32 and encodes them again:

    $$
    \begin{aligned}
    m &\leftarrow \beta_1 \operatorname{dq}(m^{(8)}) + (1-\beta_1) g,\qquad
    v \leftarrow \beta_2 \operatorname{dq}(v^{(8)}) + (1-\beta_2) g^2 \\
    \theta &\leftarrow \theta - \eta\,\frac{m/(1-\beta_1^t)}{\sqrt{v/(1-\beta_2^t)}+\epsilon} \\
    m^{(8)} &\leftarrow \operatorname{q}(m),\quad v^{(8)} \leftarrow \operatorname{q}(v)
    \end{aligned}
    $$

    where $\operatorname{q}$ cuts a tensor into blocks of `block_size` values, keeps each block's largest
    magnitude $a$ in float32 and each value as the index of the nearest entry of the dynamic tree map to
    $x/a$ (`gdlab.optim.quantize`: signed for $m$, unsigned for $v$), and
    $\operatorname{dq}$ multiplies the map's entry back by $a$. The update is Adam's
    (`Adam`, torch's ε convention) applied to the decoded moments; the
    quantisation error enters only through the moments carried to the next step.

    A tensor with fewer than `min_8bit_size` values keeps float32 moments (`exp_avg`, `exp_avg_sq`), as
    bitsandbytes does (its default is 4096): for a bias vector the scales would cost more than they save.
    The default block is the paper's 2048 values; bitsandbytes' optimizers use 256.

    `weight_decay` is coupled L2, as Adam's; `decoupled_weight_decay=True` gives AdamW's decay.

    Buffers, for a tensor of $n \ge$ `min_8bit_size` values: `exp_avg_q` and `exp_avg_sq_q`
    ($n$ uint8 codes each) and `exp_avg_absmax`, `exp_avg_sq_absmax` (one float32 per block each):
    $2n + 8\lceil n/B\rceil$ bytes, about 2 bytes per parameter (2.004 with $B = 2048$) instead of
    Adam's 8. Smaller tensors keep 8 bytes per parameter. The step decodes at most
    `CHUNK_BLOCKS` blocks at a time, so its temporaries stay bounded whatever the tensor's size.
    """

    name = "Adam8bit"
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False,
                    decoupled_weight_decay=False, block_size=Q.BLOCK_SIZE, min_8bit_size=4096)
    buffers = ("exp_avg_q", "exp_avg_absmax", "exp_avg_sq_q", "exp_avg_sq_absmax", "exp_avg", "exp_avg_sq")
    convention = ("Dettmers et al. 2022: m and v kept as uint8 codes of the dynamic tree map (signed for m, "
                  "unsigned for v) with one float32 absmax per block of 2048 values; decoded, updated as "
                  "torch.optim.Adam, encoded again each step; tensors under 4096 values keep float32 moments.")
    equation = (r"m_t = \beta_1 \operatorname{dq}(m_{t-1}) + (1-\beta_1)g_t,\ "
                r"v_t = \beta_2 \operatorname{dq}(v_{t-1}) + (1-\beta_2)g_t^2,\ "
                r"\theta_t = \theta_{t-1} - \eta\,\frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)}+\epsilon},\ "
                r"m_t, v_t \leftarrow \operatorname{q}_{8}(m_t), \operatorname{q}_{8}(v_t)")
    cite = "dettmers2022optimizers"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_eps(hp)
        check_betas(hp)
        check_nonneg(hp, "weight_decay", "weight_decay")
        for name in ("block_size", "min_8bit_size"):
            v = hp.get(name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "block_size" else 0):
                raise ValueError(f"Invalid {name} value: {name}={v!r} (expected a positive whole number)")

    def init_state(self, ops, p, hp):
        n = _numel(p)
        if n < hp["min_8bit_size"]:
            return {"exp_avg": ops.zeros_like(p), "exp_avg_sq": ops.zeros_like(p)}
        nb = Q.n_blocks(n, hp["block_size"])
        if ops.name == "numpy":
            import numpy as np

            u8, f32 = (lambda k: np.zeros(k, dtype=np.uint8)), (lambda k: np.zeros(k, dtype=np.float32))
        else:
            torch = ops.torch
            u8 = lambda k: torch.zeros(k, dtype=torch.uint8, device=p.device)  # noqa: E731
            f32 = lambda k: torch.zeros(k, dtype=torch.float32, device=p.device)  # noqa: E731
        # zero codes with zero scales decode to m = v = 0, whatever value code 0 stands for
        return {"exp_avg_q": u8(n), "exp_avg_absmax": f32(nb), "exp_avg_sq_q": u8(n), "exp_avg_sq_absmax": f32(nb)}

    def update(self, ctx: Context) -> None:
        hp = ctx.group
        ops = ctx.ops
        b1, b2 = hp["betas"]
        eps, lr, bs = hp["eps"], hp["lr"], hp["block_size"]
        if hp.get("decoupled_weight_decay", False):
            from ..pieces import decoupled_weight_decay

            decoupled_weight_decay(ctx)                       # θ ← θ(1 − ηλ)
            grads = ctx.grads
        else:
            from ..pieces import l2_into_gradient

            grads = l2_into_gradient(ctx, ctx.grads)          # g ← g + λθ
        c1 = bias_correction(b1, ctx.steps)
        c2 = bias_correction(b2, ctx.steps)
        maps = {}  # the signed and unsigned maps, made once per step on the parameters' device
        for p, g, st, k1, k2 in zip(ctx.params, grads, ctx.states, c1, c2):
            step = -lr * math.sqrt(k2) / k1                   # η √c₂ / c₁, torch's form of m̂/(√v̂ + ε)
            eps_hat = eps * math.sqrt(k2)
            if "exp_avg" in st:                               # a small tensor: float32 moments, plain Adam
                m, v = st["exp_avg"], st["exp_avg_sq"]
                ops.lerp_([m], [g], 1.0 - b1)
                ops.mul_([v], b2)
                ops.addcmul_([v], [g], [g], 1.0 - b2)
                den = ops.sqrt([v])
                ops.add_(den, eps_hat)
                ops.addcdiv_([p], [m], den, step)
                continue
            if ops.name == "torch" and p.device.type == "meta":
                continue  # shapes without values (memory.predict's probe): the state already has its final size
            key = getattr(p, "device", None)
            if key not in maps:
                maps[key] = (Q.tables(ops.name, True, p), Q.tables(ops.name, False, p))
            self._update_quantized(ops, p, g, st, b1, b2, step, eps_hat, bs, *maps[key])

    @staticmethod
    def _update_quantized(ops, p, g, st, b1, b2, step, eps_hat, bs, signed_map, unsigned_map):
        xp = ops.name
        n = _numel(p)
        contiguous = p.is_contiguous() if xp == "torch" else p.flags.c_contiguous
        pf = p.reshape(-1) if contiguous else ops.clone([p])[0].reshape(-1)  # a view of p, or a copy written back
        gf = g.reshape(-1)
        if xp == "torch":
            work = ops.torch.float32 if p.dtype in (ops.torch.bfloat16, ops.torch.float16) else p.dtype
            for k in ("exp_avg_absmax", "exp_avg_sq_absmax"):
                if st[k].dtype != ops.torch.float32:
                    # torch's load_state_dict casts floating state to the parameter's dtype: the scales were
                    # float32 values, so casting back is exact and the run continues as it would have
                    st[k] = st[k].float()
        else:
            work = p.dtype
        chunk = CHUNK_BLOCKS * bs
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            blo, bhi = lo // bs, -(-hi // bs)
            qm, am = st["exp_avg_q"][lo:hi], st["exp_avg_absmax"][blo:bhi]
            qv, av = st["exp_avg_sq_q"][lo:hi], st["exp_avg_sq_absmax"][blo:bhi]
            m = Q.dequantize(xp, qm, am, (hi - lo,), work, signed=True, block_size=bs, table=signed_map)
            v = Q.dequantize(xp, qv, av, (hi - lo,), work, signed=False, block_size=bs, table=unsigned_map)
            gc = gf[lo:hi]
            if xp == "torch" and gc.dtype != work:
                gc = gc.to(work)
            ops.lerp_([m], [gc], 1.0 - b1)                    # m ← β₁m + (1−β₁)g
            ops.mul_([v], b2)
            ops.addcmul_([v], [gc], [gc], 1.0 - b2)           # v ← β₂v + (1−β₂)g²
            den = ops.sqrt([v])
            ops.add_(den, eps_hat)
            if xp == "torch" and p.dtype != work:
                upd = m / den[0] * step
                pf[lo:hi] += upd.to(p.dtype)
            else:
                ops.addcdiv_([pf[lo:hi]], [m], den, step)     # θ ← θ − η m̂/(√v̂ + ε)
            Q.quantize(xp, m, qm, am, signed=True, block_size=bs, table=signed_map)     # m⁽⁸⁾ ← q(m)
            Q.quantize(xp, v, qv, av, signed=False, block_size=bs, table=unsigned_map)  # v⁽⁸⁾ ← q(v)
        if not contiguous:
            ops.copy_([p], [pf.reshape(p.shape)])
