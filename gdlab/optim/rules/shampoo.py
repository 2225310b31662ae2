r"""Shampoo (Gupta, Koren & Singer 2018) and SOAP (Vyas et al. 2024): Kronecker-factored preconditioners.

For a matrix parameter $W\in\mathbb R^{m\times n}$ both keep a left statistic
$L\in\mathbb R^{m\times m}$ built from $GG^\top$ and a right one $R\in\mathbb R^{n\times n}$
built from $G^\top G$; $L\otimes R$ stands in for the full $mn\times mn$ second
moment. The matrix functions are in `gdlab.optim.matrix`.
"""

from __future__ import annotations

import math

from ..base import Context, Rule, check_betas, check_eps, check_lr, check_nonneg
from ..matrix import eigenbasis, inverse_root, mode_product, unfold
from ..pieces import apply_update


def _check_positive(hp: dict, name: str, integer: bool = False) -> None:
    v = hp.get(name)
    if v is None:
        return
    ok = (isinstance(v, int) and not isinstance(v, bool) and v >= 1) if integer else (math.isfinite(v) and v > 0)
    if not ok:
        raise ValueError(f"Invalid {name} value: {name}={v} (expected {'an integer >= 1' if integer else '> 0'})")


class Shampoo(Rule):
    r"""Shampoo (Gupta, Koren & Singer 2018, Alg. 1 and 2).

    For a matrix $W$ with gradient $G$:

    $$
    \begin{aligned}
    L_t &= L_{t-1} + G_tG_t^\top,\qquad R_t = R_{t-1} + G_t^\top G_t,\qquad L_0 = \epsilon I_m,\ R_0 = \epsilon I_n \\
    W_t &= W_{t-1} - \eta\,L_t^{-1/4}\,G_t\,R_t^{-1/4}.
    \end{aligned}
    $$

    For an order-$k$ tensor, one statistic per mode, $H^{(i)}_t = H^{(i)}_{t-1} + G_{(i)}G_{(i)}^\top$
    ($G_{(i)}$ the mode-$i$ unfolding), and
    $W_t = W_{t-1} - \eta\,G_t\times_1 (H^{(1)}_t)^{-1/2k}\cdots\times_k (H^{(k)}_t)^{-1/2k}$;
    $k = 2$ gives the matrix case. Vectors (biases) get the diagonal AdaGrad-like form
    $h_t = h_{t-1} + g_t^2$ ($h_0 = \epsilon$), $w_t = w_{t-1} - \eta\,g_t/\sqrt{h_t}$;
    the paper's order-1 case would be full-matrix AdaGrad, $O(d^2)$ memory.

    `exponent_override=p` uses $H^{-1/p}$ for every factor instead of $-1/(2k)$.
    The paper's $-1/(2k)$ ($-1/4$ for matrices) is also the default of google-research's
    `scalable_shampoo` and of `pytorch_optimizer.Shampoo`; both offer an override
    (`exponent_override`, `inverse_exponent_override`), and $p = 2$, an inverse *square* root of each
    factor, is what recovers Newton's step on a Kronecker-factored quadratic (the chapter *Beyond Adam*).
    `update_freq=f` recomputes the inverse roots only at steps $1, 1+f, 1+2f, \dots$ (the statistics
    are updated every step).
    Roots are computed by eigendecomposition in the parameter's dtype, with the eigenvalues clamped below at ε
    (the paper's regulariser: $H_0 = \epsilon I$ makes every statistic $\succeq \epsilon I$ in exact arithmetic,
    so the clamp changes nothing there). In float32 it matters: a rank-one gradient (one example, or a
    least-squares layer fed one input) gives $H = \epsilon I + gg^\top$, whose entries near $\lVert g\rVert^2$
    are rounded to $2^{-24}\lVert g\rVert^2$, far above ε, so the float32 statistic has eigenvalues below ε and
    even negative ones; unclamped, their $-1/(2k)$ power is NaN, and the next step's `linalg.eigh` fails on it.
    A complex parameter is updated as its real view (one more mode of size 2).

    Buffers per $m\times n$ matrix: two statistics
    and two roots, $2(m^2 + n^2)$ numbers ($8(m^2+n^2)$ bytes in fp32); vectors: one
    accumulator (4 bytes/param).
    """

    name = "Shampoo"
    defaults = dict(lr=0.1, eps=1e-4, update_freq=1, exponent_override=None, maximize=False)
    hints = dict(exponent_override=float | None)
    buffers = ("stat_i", "root_i", "sum_sq")
    convention = ("Gupta et al. 2018: sums (no EMA) from εI, roots −1/(2k) for order-k tensors (−1/4 for "
                  "matrices, also scalable_shampoo's and pytorch_optimizer's default); vectors use diagonal AdaGrad; "
                  "exponent_override=2 gives −1/2; eigenvalues clamped below at ε before the root.")
    cite = "gupta2018shampoo"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_eps(hp)
        _check_positive(hp, "update_freq", integer=True)
        _check_positive(hp, "exponent_override")

    def init_state(self, ops, p, hp):
        eps = hp["eps"]
        if p.ndim <= 1:
            return {"sum_sq": ops.full_like(p, eps)}
        s = {}
        for i, d in enumerate(p.shape):
            s[f"stat_{i}"] = ops.eye_like(d, p) * eps
            s[f"root_{i}"] = ops.eye_like(d, p)
        return s

    def update(self, ctx: Context) -> None:
        ops, hp = ctx.ops, ctx.group
        vec = [i for i, p in enumerate(ctx.params) if p.ndim <= 1]
        if vec:                                            # diagonal AdaGrad for vectors
            acc = [ctx.states[i]["sum_sq"] for i in vec]
            gs = [ctx.grads[i] for i in vec]
            ops.addcmul_(acc, gs, gs)                      # h ← h + g²
            ops.addcdiv_([ctx.params[i] for i in vec], gs, ops.sqrt(acc), -hp["lr"])
        for i, (p, g, s, t) in enumerate(zip(ctx.params, ctx.grads, ctx.states, ctx.steps)):
            if p.ndim <= 1:
                continue
            k = p.ndim
            root = hp["exponent_override"] or 2 * k
            refresh = (t - 1) % hp["update_freq"] == 0
            d = g
            for mode in range(k):
                gm = unfold(ops, g, mode)
                stat = s[f"stat_{mode}"]
                ops.add_([stat], [ops.matmul(gm, ops.transpose(gm))])       # H ← H + G₍ᵢ₎G₍ᵢ₎ᵀ
                if refresh:
                    ops.copy_([s[f"root_{mode}"]], [inverse_root(ops, stat, root, floor=hp["eps"])])  # H ≥ εI
                d = mode_product(ops, d, s[f"root_{mode}"], mode)           # G ×ᵢ H^{-1/2k}
            ops.add_([p], [d], alpha=-hp["lr"])                             # W ← W − η · preconditioned G


class SOAP(Rule):
    r"""SOAP, "Shampoo with Adam in the Preconditioner's eigenbasis" (Vyas et al. 2024, Alg. 1).

    For a matrix $W$ (other shapes of order $\ge 2$ are viewed as $(d_0, -1)$):

    $$
    \begin{aligned}
    L_t &= \beta_s L_{t-1} + (1-\beta_s) G_tG_t^\top,\qquad R_t = \beta_s R_{t-1} + (1-\beta_s) G_t^\top G_t \\
    Q_L, Q_R &\leftarrow \text{eigenvectors of } L_t, R_t \quad\text{at steps } 1, 1+f, 1+2f,\dots \\
    G'_t &= Q_L^\top G_t Q_R,\qquad M_t = \beta_1 M_{t-1} + (1-\beta_1) G_t,\qquad
    V_t = \beta_2 V_{t-1} + (1-\beta_2)\,G'^{\,2}_t \\
    N_t &= Q_L\,\frac{Q_L^\top M_t Q_R}{\sqrt{V_t} + \epsilon}\,Q_R^\top \\
    W_t &= W_{t-1} - \eta\,\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,N_t - \eta\lambda W_{t-1}'
    \end{aligned}
    $$

    i.e. Adam run in the rotating eigenbasis of Shampoo's factors: $M$ is kept in the original
    coordinates and rotated at each step, $V$ lives in the rotated coordinates and is not
    re-rotated when the basis changes (as in the paper). The decay is decoupled and applied after the
    step, $W \leftarrow W(1-\eta\lambda)$, and $\epsilon$ is added to the raw $\sqrt V$,
    both as in the authors' code. Vectors (1-D) run plain Adam in that form.

    State for an $m\times n$ matrix: $M$ and $V$ ($2mn$ numbers), the factors
    $L, R$ and their eigenbases $Q_L, Q_R$ ($2(m^2+n^2)$ numbers), i.e.
    $8 + 8(m^2+n^2)/(mn)$ bytes per parameter in fp32; vectors: 8 bytes per parameter, as Adam.

    Differences from the authors' code: the basis is always refreshed by a full eigendecomposition
    (they use one step of power iteration with QR after the first), the first step updates the weights
    (theirs only initialises the statistics), and no dimension merging or size cap is applied.
    `pytorch_optimizer.SOAP` follows the authors' code. When a factor is rank-deficient (an
    $m\times n$ gradient at the first refresh makes $GG^\top$ or $G^\top G$ singular) and
    its null space has dimension 2 or more, the eigenbasis there is not unique, and any two
    implementations (or two LAPACK builds) can take different SOAP steps from the same history.

    `shampoo_beta=None` means $\beta_s = \beta_2$. Buffers per $m\times n$ matrix:
    $M, V$ ($2mn$), $L, R, Q_L, Q_R$ ($2m^2 + 2n^2$).
    """

    name = "SOAP"
    defaults = dict(lr=3e-3, betas=(0.95, 0.95), shampoo_beta=None, eps=1e-8, weight_decay=0.01,
                    precondition_frequency=10, maximize=False)
    hints = dict(shampoo_beta=float | None)
    buffers = ("exp_avg", "exp_avg_sq", "left", "right", "q_left", "q_right")
    convention = ("Vyas et al. 2024: Adam in the eigenbasis of EMA'd Shampoo factors, basis refreshed every "
                  "precondition_frequency steps by eigh, ε on the raw √V, decay θ(1 − ηλ) after the step.")
    cite = "vyas2024soap"

    def validate(self, hp: dict) -> None:
        check_lr(hp)
        check_eps(hp)
        check_betas(hp)
        check_nonneg(hp, "weight_decay", "weight_decay")
        sb = hp.get("shampoo_beta")
        if sb is not None and not (0.0 <= sb < 1.0):
            raise ValueError(f"Invalid shampoo_beta value: shampoo_beta={sb} (expected None or in [0, 1))")
        _check_positive(hp, "precondition_frequency", integer=True)

    def init_state(self, ops, p, hp):
        s = {"exp_avg": ops.zeros_like(p), "exp_avg_sq": ops.zeros_like(p)}
        if p.ndim >= 2:
            m, n = p.shape[0], p.reshape(p.shape[0], -1).shape[1]
            s["left"] = ops.eye_like(m, p) * 0.0
            s["right"] = ops.eye_like(n, p) * 0.0
            s["q_left"] = ops.eye_like(m, p)
            s["q_right"] = ops.eye_like(n, p)
        return s

    def update(self, ctx: Context) -> None:
        ops, hp = ctx.ops, ctx.group
        b1, b2 = hp["betas"]
        bs = b2 if hp["shampoo_beta"] is None else hp["shampoo_beta"]
        steps = []
        for p, g, s, t in zip(ctx.params, ctx.grads, ctx.states, ctx.steps):
            m_buf, v_buf = s["exp_avg"], s["exp_avg_sq"]
            ops.lerp_([m_buf], [g], 1.0 - b1)                          # M ← β₁M + (1−β₁)G
            if p.ndim < 2:
                ops.mul_([v_buf], b2)
                ops.addcmul_([v_buf], [g], [g], 1.0 - b2)
                steps.append(m_buf / (v_buf ** 0.5 + hp["eps"]))
                continue
            g2 = g.reshape(g.shape[0], -1)
            left, right = s["left"], s["right"]
            ops.lerp_([left], [ops.matmul(g2, ops.transpose(g2))], 1.0 - bs)
            ops.lerp_([right], [ops.matmul(ops.transpose(g2), g2)], 1.0 - bs)
            if (t - 1) % hp["precondition_frequency"] == 0:
                ops.copy_([s["q_left"], s["q_right"]], [eigenbasis(ops, left), eigenbasis(ops, right)])
            ql, qr = s["q_left"], s["q_right"]
            rot = ops.matmul(ops.transpose(ql), ops.matmul(g2, qr))      # G' = Q_Lᵀ G Q_R
            v2 = v_buf.reshape(rot.shape)
            ops.mul_([v2], b2)
            ops.addcmul_([v2], [rot], [rot], 1.0 - b2)                  # V ← β₂V + (1−β₂)G'²
            ops.copy_([v_buf], [v2.reshape(v_buf.shape)])
            m_rot = ops.matmul(ops.transpose(ql), ops.matmul(m_buf.reshape(rot.shape), qr))
            n_rot = m_rot / (v2 ** 0.5 + hp["eps"])
            steps.append(ops.matmul(ql, ops.matmul(n_rot, ops.transpose(qr))).reshape(p.shape))
        scale = [math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t) for t in ctx.steps]
        apply_update(ctx, steps, scale=scale)
        if hp["weight_decay"] != 0.0:
            ops.mul_(ctx.params, 1.0 - hp["lr"] * hp["weight_decay"])  # θ ← θ(1 − ηλ), after the step
