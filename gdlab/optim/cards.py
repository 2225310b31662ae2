r"""The card of every update rule: its update written once in :mod:`gdlab.optim.card`, printed on the Optimizer
reference page and run by ``tests/test_reference_cards.py`` against one step of the rule from the same state.

Each card writes the update as the paper (or torch) does, not as the code computes it: AdamW's card has
:math:`\hat m_t/(\sqrt{\hat v_t}+\epsilon)` where the code computes :math:`\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,
m_t/(\sqrt{v_t}+\epsilon\sqrt{1-\beta_2^t})`, schedule-free AdamW's has the three sequences :math:`z, x, y` where the
code keeps :math:`y` and :math:`z` only. That the two agree, to rounding, at every step of a run, is what the test
shows. The notation is the book's: :math:`\eta` the learning rate, :math:`\lambda` the weight decay, :math:`\beta` a
momentum, :math:`\beta_1, \beta_2` the decays of Adam's moments, :math:`t` the step count.

``CARDS`` maps each rule's name to its card; :func:`card_for` returns it (a rule without a card raises).
The operators a card uses but does not spell out (Newton–Schulz, AdamP's projection, an eigenbasis, 8-bit
quantisation) are defined in its ``where`` text and implemented here from that text, not from the rule.
"""

from __future__ import annotations

import numpy as np

from .card import (Card, Cases, Divides, Eq, Expr, Flag, Fn, Gt, Hadamard, Let, MatPow, Norm, Num, Op, Sqrt, Sym,
                   T, clip, maximum, minimum, rms, sign, slash)

# --- the symbols every card shares --------------------------------------------------------------------------
theta = Sym(r"\theta_{t-1}", "param")
grad = Sym(r"\nabla f(\theta_{t-1})", "grad")
g = Sym("g_t", "grad")
t = Sym("t", "t")
eta = Sym(r"\eta", "hp:lr")
lam = Sym(r"\lambda", "hp:weight_decay")
eps = Sym(r"\epsilon", "hp:eps")
b1 = Sym(r"\beta_1", "hp:betas.0")
b2 = Sym(r"\beta_2", "hp:betas.1")
beta = Sym(r"\beta", "hp:momentum")
half = Num(0.5, r"\tfrac12")


def prev(tex: str, buffer: str) -> Sym:
    """A buffer as it was before the step (a buffer not created yet reads as zeros)."""
    return Sym(tex, f"state:{buffer}")


def coupled_l2() -> Let:
    return Let("g_t", grad + lam * theta)


def adam_moments(gt) -> tuple[Let, Let]:
    m = Let("m_t", b1 * prev("m_{t-1}", "exp_avg") + (1 - b1) * gt, out="state:exp_avg")
    v = Let("v_t", b2 * prev("v_{t-1}", "exp_avg_sq") + (1 - b2) * gt**2, out="state:exp_avg_sq")
    return m, v


def adam_direction(m, v) -> Expr:
    return slash(m, 1 - b1**t) / (Sqrt(slash(v, 1 - b2**t)) + eps)


CARDS: dict[str, Card] = {}


# --- SGD (torch's form) -------------------------------------------------------------------------------------
def _sgd() -> Card:
    gt = coupled_l2()
    tau = Sym(r"\tau", "hp:dampening")
    b = Let("b_t", Cases((gt, Eq(t, 1)), otherwise=beta * prev("b_{t-1}", "momentum_buffer") + (1 - tau) * gt),
            out="state:momentum_buffer")
    d = Let("d_t", Cases((gt, Eq(beta, 0)), (gt + beta * b, Flag("Nesterov", "hp:nesterov")), otherwise=b))
    return Card(gt, b, d, Let(r"\theta_t", theta - eta * d, out="param"),
                where="torch's form (`momentum_form=\"torch\"`, the default): the rate multiplies the whole buffer. "
                      "The Polyak and Sutskever forms and decoupled decay are in the rule's docstring.",
                cases=[dict(hp={}), dict(hp=dict(momentum=0.9, weight_decay=0.01)),
                       dict(hp=dict(momentum=0.9, nesterov=True)), dict(hp=dict(momentum=0.5, dampening=0.1))])


# --- Adam, AdamW ----------------------------------------------------------------------------------------------
def _adam() -> Card:
    gt = coupled_l2()
    m, v = adam_moments(gt)
    return Card(gt, m, v, Let(r"\theta_t", theta - eta * adam_direction(m, v), out="param"),
                where="ε is added to the bias-corrected $\\sqrt{\\hat v_t}$; `weight_decay` is coupled L2. AMSGrad "
                      "and the ε-hat form are options described in the rule's docstring.",
                cases=[dict(hp={}), dict(hp=dict(weight_decay=0.01, betas=(0.8, 0.99), eps=1e-3))])


def _adamw() -> Card:
    m, v = adam_moments(g)
    return Card(m, v, Let(r"\theta_t", theta * (1 - eta * lam) - eta * adam_direction(m, v), out="param"),
                where="The decay multiplies $\\theta_{t-1}$ and is scaled by the learning rate (torch.optim.AdamW).",
                cases=[dict(hp={}), dict(hp=dict(weight_decay=0.1, eps=1e-3))])


# --- Adagrad, RMSprop ----------------------------------------------------------------------------------------
def _adagrad() -> Card:
    gt = coupled_l2()
    s = Let("s_t", prev("s_{t-1}", "sum") + gt**2, out="state:sum")
    delta = Sym(r"\delta", "hp:lr_decay")
    rate = Let(r"\eta_t", eta / (1 + (t - 1) * delta))
    return Card(gt, s, rate, Let(r"\theta_t", theta - rate * (gt / (Sqrt(s) + eps)), out="param"),
                where="$s_0$ is `initial_accumulator_value`; ε is added outside the root.",
                cases=[dict(hp={}), dict(hp=dict(lr_decay=0.1, weight_decay=0.01, initial_accumulator_value=0.1))])


def _rmsprop() -> Card:
    gt = coupled_l2()
    alpha = Sym(r"\alpha", "hp:alpha")
    v = Let("v_t", alpha * prev("v_{t-1}", "square_avg") + (1 - alpha) * gt**2, out="state:square_avg")
    gbar = Let(r"\bar g_t", alpha * prev(r"\bar g_{t-1}", "grad_avg") + (1 - alpha) * gt, out="state:grad_avg")
    centered = Flag("centered", "hp:centered")
    d = Let("d_t", Cases((Sqrt(v - gbar**2) + eps, centered), otherwise=Sqrt(v) + eps))
    b = Let("b_t", beta * prev("b_{t-1}", "momentum_buffer") + gt / d, out="state:momentum_buffer")
    step = Let(r"\theta_t", Cases((theta - eta * b, Gt(beta, 0)), otherwise=theta - eta * (gt / d)), out="param")
    return Card(gt, v, gbar, d, b, step,
                where="$\\bar g_t$ is kept only when centered, $b_t$ only with momentum $\\beta > 0$; ε is added "
                      "outside the root (`eps_inside=True` puts it inside, see the docstring).",
                cases=[dict(hp={}), dict(hp=dict(centered=True, weight_decay=0.01)), dict(hp=dict(momentum=0.9)),
                       dict(hp=dict(momentum=0.9, centered=True, alpha=0.9))])


# --- NAdam, RAdam --------------------------------------------------------------------------------------------
def _nadam() -> Card:
    gt = coupled_l2()
    psi = Sym(r"\psi", "hp:momentum_decay")
    bt = Let(r"\beta_{1,t}", b1 * (1 - half * Num(0.96) ** (t * psi)))
    bt1 = Let(r"\beta_{1,t+1}", b1 * (1 - half * Num(0.96) ** ((t + 1) * psi)))
    pi = Let(r"\Pi_t", prev(r"\Pi_{t-1}", "mu_product") * bt, out="state:mu_product")
    m, v = adam_moments(gt)
    d = Let("d_t", Sqrt(slash(v, 1 - b2**t)) + eps)
    step = theta - eta * ((1 - bt) / (1 - pi)) * (gt / d) - eta * (bt1 / (1 - pi * bt1)) * (m / d)
    return Card(gt, bt, bt1, pi, m, v, d, Let(r"\theta_t", step, out="param"),
                where="torch's momentum schedule (Dozat's $\\mu_t$ is $\\beta_{1,t}$ here), $\\Pi_0 = 1$; coupled L2.",
                cases=[dict(hp={}), dict(hp=dict(weight_decay=0.01, momentum_decay=0.04))])


def _radam() -> Card:
    gt = coupled_l2()
    m, v = adam_moments(gt)
    m_hat = Let(r"\hat m_t", m / (1 - b1**t))
    rho_inf = Let(r"\rho_\infty", 2 / (1 - b2) - 1)
    rho = Let(r"\rho_t", rho_inf - 2 * t * b2**t / (1 - b2**t))
    r = Let("r_t", Sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)))
    thr = Sym(r"\rho_{\mathrm{thr}}", "hp:rect_threshold")
    step = Cases((theta - eta * r * m_hat * (Sqrt(1 - b2**t) / (Sqrt(v) + eps)), Gt(rho, thr)),
                 otherwise=theta - eta * m_hat)
    return Card(gt, m, v, m_hat, rho_inf, rho, r, Let(r"\theta_t", step, out="param"),
                where="torch's threshold $\\rho_{\\mathrm{thr}} = 5$ (the paper's is 4, `rect_threshold=4.0`); "
                      "ε is added to the raw $\\sqrt{v_t}$; $r_t$ is defined where $\\rho_t > 4$.",
                cases=[dict(hp={}, steps=12), dict(hp=dict(rect_threshold=4.0, weight_decay=0.01), steps=12)])


# --- LAMB, LARS, AdamP ---------------------------------------------------------------------------------------
def _lamb() -> Card:
    m, v = adam_moments(g)
    u = Let("u_t", adam_direction(m, v) + lam * theta)
    return Card(m, v, u, Let(r"\theta_t", theta - eta * (Norm(theta) / Norm(u)) * u, out="param"),
                where="per tensor; the trust ratio $\\lVert\\theta\\rVert/\\lVert u\\rVert$ is 1 when a norm is 0, "
                      "and `trust_clip=c` replaces $\\lVert\\theta\\rVert$ by $\\min(\\lVert\\theta\\rVert, c)$.",
                cases=[dict(hp={}), dict(hp=dict(weight_decay=0.1, eps=1e-3))])


def _lars() -> Card:
    tc = Sym(r"\eta_{tc}", "hp:trust_coefficient")
    local = Let(r"\eta_\ell", tc * Norm(theta) / (Norm(g) + lam * Norm(theta)))
    v = Let("v_t", beta * prev("v_{t-1}", "momentum_buffer") + eta * local * (g + lam * theta),
            out="state:momentum_buffer")
    return Card(local, v, Let(r"\theta_t", theta - v, out="param"),
                where="per tensor (You et al. write $\\gamma$ for the global rate $\\eta$ and $w$ for $\\theta$); the "
                      "local rate $\\eta_\\ell$ is 1 when a norm is 0.",
                cases=[dict(hp={}), dict(hp=dict(momentum=0.5, weight_decay=0.01, trust_coefficient=0.01))])


def _adamp_view(p, gr, upd, delta, e):
    """AdamP's projection, from its definition: the first view (channels, then the whole layer) in which the
    gradient is nearly orthogonal to the weight removes the weight's direction from the update."""
    for n_rows in (p.shape[0], 1):
        P, G, U = p.reshape(n_rows, -1), gr.reshape(n_rows, -1), upd.reshape(n_rows, -1)
        cos = [abs(float(a @ b)) / (max(np.linalg.norm(a), e) * max(np.linalg.norm(b), e)) for a, b in zip(G, P)]
        if max(cos) < delta / np.sqrt(P.shape[1]):
            out = np.array([u - (w / (np.linalg.norm(w) + e)) * float((w / (np.linalg.norm(w) + e)) @ u)
                            for w, u in zip(P, U)])
            return out.reshape(p.shape), True
    return upd, False


class _Condition(Expr):
    prec = 1

    def __init__(self, tex, f, *args):
        self._tex, self.f, self.args = tex, f, list(args)

    def tex(self):
        return self._tex

    def ev(self, env):
        return self.f(*(a.ev(env) for a in self.args))


def _orthogonal_grad(p, rng):
    """A gradient orthogonal to every row of the weight: the case where AdamP projects."""
    G = rng.standard_normal(p.shape).reshape(p.shape[0], -1)
    P = p.reshape(p.shape[0], -1)
    G -= (np.sum(G * P, axis=1) / np.sum(P * P, axis=1))[:, None] * P
    return G.reshape(p.shape)


def _adamp() -> Card:
    m, v = adam_moments(g)
    delta = Sym(r"\delta", "hp:delta")
    kappa = Sym(r"\kappa", "hp:wd_ratio")
    p = Let("p_t", m / (Sqrt(slash(v, 1 - b2**t)) + eps))
    q = Let("q_t", Op(r"\Pi_\theta", lambda w, gr, u, d, e: _adamp_view(w, gr, u, d, e)[0], theta, g, p, delta, eps))
    projects = _Condition(r"\Pi_\theta \text{ projects}", lambda w, gr, u, d, e: _adamp_view(w, gr, u, d, e)[1],
                          theta, g, p, delta, eps)
    lam_t = Let(r"\lambda'", Cases((lam * kappa, projects), otherwise=lam))
    step = theta * (1 - eta * lam_t) - eta / (1 - b1**t) * q
    return Card(m, v, p, q, lam_t, Let(r"\theta_t", step, out="param"),
                where="For a tensor with more than one dimension, $\\Pi_\\theta$ looks at the rows of $\\theta$ (one per "
                      "output channel), then at the whole tensor as one row: in the first view where "
                      "$\\max_i|\\cos(g_i, \\theta_i)| < \\delta/\\sqrt n$ ($n$ the row length) it removes from each row "
                      "of $p_t$ its component along $\\theta_i/(\\lVert\\theta_i\\rVert+\\epsilon)$, and then the decay "
                      "is $\\lambda' = \\kappa\\lambda$ (`wd_ratio`); otherwise $p_t$ is left alone.",
                cases=[dict(hp=dict(weight_decay=0.1), shape=(6, 4)),
                       dict(hp=dict(weight_decay=0.1), shape=(6, 4), grad_fn=_orthogonal_grad)])


# --- Muon ----------------------------------------------------------------------------------------------------
MUON_NS = (3.4445, -4.7750, 2.0315)


def _ns5(U):
    a, b, c = MUON_NS
    X = U.T if U.shape[0] > U.shape[1] else U
    X = X / (np.linalg.norm(X) + 1e-7)
    for _ in range(5):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if U.shape[0] > U.shape[1] else X


def _muon() -> Card:
    B = Let("B_t", beta * prev("B_{t-1}", "momentum_buffer") + (1 - beta) * g, out="state:momentum_buffer")
    U = Let("U_t", Cases(((1 - beta) * g + beta * B, Flag("Nesterov", "hp:nesterov")), otherwise=B))
    m = Sym("m", lambda inp: float(inp.param.shape[0]))
    n = Sym("n", lambda inp: float(inp.param.shape[1]))
    rms = Flag("adjust_lr_fn matches AdamW RMS", lambda inp: inp.hp.get("adjust_lr_fn") == "match_rms_adamw")
    s = Let("s", Cases((0.2 * Sqrt(maximum(m, n)), rms), otherwise=Sqrt(maximum(1, m / n))))
    step = theta * (1 - eta * lam) - eta * s * Op(r"\mathrm{NS}_5", _ns5, U)
    return Card(B, U, s, Let(r"\theta_t", step, out="param"),
                where="For an $m\\times n$ matrix. $\\mathrm{NS}_5(U)$: on the wide orientation ($U^\\top$ if $m > n$), "
                      "$X_0 = U/(\\lVert U\\rVert + 10^{-7})$ and five times $X \\leftarrow aX + (bXX^\\top + "
                      "c(XX^\\top)^2)X$ with $(a, b, c) = (3.4445, -4.7750, 2.0315)$ (`ns_coefficients`, `ns_steps=5`, "
                      "`eps` $= 10^{-7}$), in the parameter's dtype: torch.optim.Muon runs the same iteration in "
                      "bfloat16 and divides by $\\max(\\lVert U\\rVert, \\epsilon)$, so the two agree to bfloat16's "
                      "rounding, about $2^{-8}$ relative.",
                cases=[dict(hp={}, shape=(8, 5), tol=(2048, 500)), dict(hp=dict(weight_decay=0.1, nesterov=False),
                                                                       shape=(4, 7), tol=(2048, 500)),
                       dict(hp=dict(adjust_lr_fn="match_rms_adamw"), shape=(4, 7), tol=(2048, 500))])


# --- schedule-free AdamW -------------------------------------------------------------------------------------
def _schedule_free() -> Card:
    y = Sym(r"y_{t-1}", "param")
    z_prev = prev("z_{t-1}", "z")
    x_prev = Let(r"x_{t-1}", (y - (1 - b1) * z_prev) / b1)
    tw = Sym(r"T_{\mathrm{w}}", "hp:warmup_steps")
    gamma = Let(r"\gamma_t", eta * minimum(1, slash(t, tw)) * Sqrt(1 - b2**t))
    ell = Let(r"\ell_t", maximum(prev(r"\ell_{t-1}", "lr_max"), gamma), out="state:lr_max")
    r = Sym("r", "hp:r")
    pw = Sym("p", "hp:weight_lr_power")
    w = Let("w_t", t**r * ell**pw)
    W = Let("W_t", prev("W_{t-1}", "weight_sum") + w, out="state:weight_sum")
    c = Let("c_t", w / W)
    v = Let("v_t", b2 * prev("v_{t-1}", "exp_avg_sq") + (1 - b2) * g**2, out="state:exp_avg_sq")
    z = Let("z_t", z_prev - gamma * (g / (Sqrt(v) + eps) + lam * y), out="state:z")
    x = Let("x_t", (1 - c) * x_prev + c * z)
    return Card(x_prev, gamma, ell, w, W, c, v, z, x, Let("y_t", (1 - b1) * z + b1 * x, out="param"),
                where="The parameters hold $y$ during training; $g_t$ is the gradient at $y_{t-1}$; "
                      "$x = (y - (1-\\beta_1)z)/\\beta_1$ is the point to evaluate (`eval_mode`). $\\ell_0 = -1$, "
                      "$W_0 = 0$; without warm-up ($T_{\\mathrm w} = 0$) the factor $\\min(1, t/T_{\\mathrm w})$ is 1.",
                cases=[dict(hp={}), dict(hp=dict(warmup_steps=5, weight_decay=0.1, r=1.0, lr=0.1))])


# --- Shampoo, SOAP -------------------------------------------------------------------------------------------
def _shampoo() -> Card:
    L = Let("L_t", prev("L_{t-1}", "stat_0") + g @ T(g), out="state:stat_0")
    R = Let("R_t", prev("R_{t-1}", "stat_1") + T(g) @ g, out="state:stat_1")
    step = theta - eta * (MatPow(L, -0.25, "-1/4") @ g @ MatPow(R, -0.25, "-1/4"))
    return Card(L, R, Let(r"\theta_t", step, out="param"),
                where="For a matrix, with $L_0 = \\epsilon I$, $R_0 = \\epsilon I$ and the roots recomputed at every "
                      "step (`update_freq=1`); an order-$k$ tensor uses $-1/(2k)$ per mode and a vector diagonal "
                      "AdaGrad (see the docstring). The powers clamp the eigenvalues below at $\\epsilon$, which "
                      "$L_t, R_t \\succeq \\epsilon I$ makes a no-op in exact arithmetic and which keeps a float32 "
                      "statistic of rank-one gradients (rounded to eigenvalues below $\\epsilon$) from giving NaN.",
                cases=[dict(hp={}, shape=(6, 4), tol=(4096, 100)), dict(hp=dict(lr=0.01), shape=(3, 5), tol=(4096, 100))])


def _soap() -> Card:
    bs = Sym(r"\beta_s", lambda inp: inp.hp["betas"][1] if inp.hp["shampoo_beta"] is None else inp.hp["shampoo_beta"])
    f = Sym("f", "hp:precondition_frequency")
    M = Let("M_t", b1 * prev("M_{t-1}", "exp_avg") + (1 - b1) * g, out="state:exp_avg")
    L = Let("L_t", bs * prev("L_{t-1}", "left") + (1 - bs) * (g @ T(g)), out="state:left")
    R = Let("R_t", bs * prev("R_{t-1}", "right") + (1 - bs) * (T(g) @ g), out="state:right")
    eigvecs = lambda A: np.linalg.eigh(A)[1]  # noqa: E731
    QL = Let("Q_{L,t}", Cases((Op(r"\operatorname{eigvecs}", eigvecs, L), Divides(t - 1, f)),
                              otherwise=prev("Q_{L,t-1}", "q_left")))
    QR = Let("Q_{R,t}", Cases((Op(r"\operatorname{eigvecs}", eigvecs, R), Divides(t - 1, f)),
                              otherwise=prev("Q_{R,t-1}", "q_right")))
    Gr = Let("G'_t", T(QL) @ g @ QR)
    V = Let("V_t", b2 * prev("V_{t-1}", "exp_avg_sq") + (1 - b2) * Hadamard(Gr, Gr), out="state:exp_avg_sq")
    N = Let("N_t", QL @ ((T(QL) @ M @ QR) / (Sqrt(V) + eps)) @ T(QR))
    step = (theta - eta * (Sqrt(1 - b2**t) / (1 - b1**t)) * N) * (1 - eta * lam)
    return Card(M, L, R, QL, QR, Gr, V, N, Let(r"\theta_t", step, out="param"),
                where="For a matrix; $\\beta_s$ is `shampoo_beta` ($\\beta_2$ by default), the eigenbases (columns in "
                      "ascending order of the eigenvalues) are refreshed at steps $1, 1+f, 1+2f, \\dots$, and the "
                      "decay comes after the step.",
                cases=[dict(hp={}, shape=(5, 5), steps=14, tol=(4096, 100)),
                       dict(hp=dict(precondition_frequency=3, weight_decay=0.1, betas=(0.9, 0.99)), shape=(4, 4),
                            steps=8, tol=(4096, 100))])


# --- signSGD, Lion ---------------------------------------------------------------------------------------------
def _signsgd() -> Card:
    m = Let("m_t", beta * prev("m_{t-1}", "momentum_buffer") + (1 - beta) * g, out="state:momentum_buffer")
    return Card(m, Let(r"\theta_t", theta - eta * (sign(m) + lam * theta), out="param"),
                where="$\\beta$ is `momentum`: $\\beta = 0$ (the default) is signSGD, $m_t = g_t$; $\\beta > 0$ is Signum.",
                cases=[dict(hp={}), dict(hp=dict(momentum=0.9, weight_decay=0.1))])


def _lion() -> Card:
    c = Let("c_t", b1 * prev("m_{t-1}", "exp_avg") + (1 - b1) * g)
    step = Let(r"\theta_t", theta - eta * (sign(c) + lam * theta), out="param")
    m = Let("m_t", b2 * prev("m_{t-1}", "exp_avg") + (1 - b2) * g, out="state:exp_avg")
    return Card(c, step, m, where="The direction mixes with $\\beta_1$, the buffer keeps its memory with $\\beta_2$.",
                cases=[dict(hp={}), dict(hp=dict(weight_decay=0.1, betas=(0.5, 0.9)))])


# --- Sophia --------------------------------------------------------------------------------------------------
def _sophia_extras(step: int, rng):
    return {"hessian": rng.standard_normal(5 * 3).reshape(5, 3)} if step % 3 == 1 else {}


def _sophia() -> Card:
    h_hat = Sym(r"\hat h_t", "extra:hessian")
    given = _Condition(r"\text{an estimate } \hat h_t \text{ is given}", lambda e: e is not None, h_hat)
    h = Let("h_t", Cases((b2 * prev("h_{t-1}", "hessian") + (1 - b2) * h_hat, given),
                         otherwise=prev("h_{t-1}", "hessian")), out="state:hessian")
    m = Let("m_t", b1 * prev("m_{t-1}", "exp_avg") + (1 - b1) * g, out="state:exp_avg")
    gamma = Sym(r"\gamma", "hp:gamma")
    step = theta * (1 - eta * lam) - eta * clip(m / maximum(gamma * h, eps), 1)
    return Card(h, m, Let(r"\theta_t", step, out="param"),
                where="$\\operatorname{clip}(z, 1) = \\max(\\min(z, 1), -1)$ per coordinate; an estimate "
                      "$\\hat h_t$ (Hutchinson's or Gauss–Newton–Bartlett's) comes every `update_period` steps.",
                cases=[dict(hp=dict(lr=0.1, gamma=0.5), extras=_sophia_extras),
                       dict(hp=dict(lr=0.1, gamma=0.01, weight_decay=0.0), extras=_sophia_extras)])


# --- Adafactor -----------------------------------------------------------------------------------------------
def _adafactor() -> Card:
    eps1 = Sym(r"\epsilon_1", lambda inp: float(np.finfo(np.asarray(inp.param).dtype).eps)
               if inp.hp["eps"][0] is None else inp.hp["eps"][0])
    eps2 = Sym(r"\epsilon_2", "hp:eps.1")
    c = Sym("c", "hp:beta2_decay")
    d = Sym("d", "hp:d")
    rel = Let(r"\eta^{\mathrm{rel}}_t", minimum(eta, 1 / Sqrt(t)))
    alpha = Let(r"\alpha_t", maximum(eps2, rms(theta)) * rel)
    bh = Let(r"\hat\beta_{2,t}", 1 - t**c)
    mean_cols = lambda x: Fn(r"\mathrm{mean}", lambda a: np.mean(a, axis=-1, keepdims=True), x,  # noqa: E731
                             sub=r"_{\mathrm{cols}}")
    mean_rows = lambda x: Fn(r"\mathrm{mean}", lambda a: np.mean(a, axis=-2, keepdims=True), x,  # noqa: E731
                             sub=r"_{\mathrm{rows}}")
    R = Let("R_t", bh * prev("R_{t-1}", "row_var") + (1 - bh) * mean_cols(Hadamard(g, g)), out="state:row_var")
    C = Let("C_t", bh * prev("C_{t-1}", "col_var") + (1 - bh) * mean_rows(Hadamard(g, g)), out="state:col_var")
    mean_all = Fn(r"\mathrm{mean}", lambda a: float(np.mean(a)), R)
    V = Let(r"\hat V_t", (R @ C) / maximum(mean_all, eps1))
    U = Let("U_t", g / Sqrt(maximum(V, eps1**2)))
    step = theta * (1 - eta * lam) - alpha / maximum(1, rms(U) / d) * U
    return Card(rel, alpha, bh, R, C, V, U, Let(r"\theta_t", step, out="param"),
                where="For a matrix: $R_t$ is a column of row means and $C_t$ a row of column means of "
                      "$g_t\\odot g_t$, so $R_tC_t$ is a rank-one matrix; $c$ is `beta2_decay` (−0.8), "
                      "$\\epsilon_1$ the machine epsilon unless given; a vector keeps the full moving average "
                      "(see the docstring).",
                cases=[dict(hp={}, shape=(5, 3)), dict(hp=dict(lr=1.0, weight_decay=0.1), shape=(4, 6)),
                       dict(hp=dict(lr=0.5, d=1.0, beta2_decay=-0.5, eps=(1e-20, 1e-2)), shape=(3, 3))])


# --- Adam with 8-bit moments -----------------------------------------------------------------------------------
def _dequantize(signed):
    def f(codes, absmax, like):
        from . import quantize as Q

        return Q.dequantize("numpy", codes.astype(np.uint8), absmax.astype(np.float32), like.shape, like.dtype,
                            signed=signed, block_size=Q.BLOCK_SIZE).reshape(like.shape)
    return f


def _quantize(signed, part):
    def f(x):
        from . import quantize as Q

        flat = np.ravel(x)
        codes, absmax = np.zeros(flat.size, dtype=np.uint8), np.zeros(Q.n_blocks(flat.size, Q.BLOCK_SIZE), np.float32)
        Q.quantize("numpy", flat.copy(), codes, absmax, signed=signed, block_size=Q.BLOCK_SIZE)
        return codes.astype(float) if part == "codes" else absmax.astype(float)
    return f


def _adam8bit() -> Card:
    gt = coupled_l2()
    dm = Op(r"\operatorname{dq}", _dequantize(True), prev(r"m^{(8)}_{t-1}", "exp_avg_q"),
            prev(r"a^{m}_{t-1}", "exp_avg_absmax"), theta)
    dv = Op(r"\operatorname{dq}", _dequantize(False), prev(r"v^{(8)}_{t-1}", "exp_avg_sq_q"),
            prev(r"a^{v}_{t-1}", "exp_avg_sq_absmax"), theta)
    m = Let("m_t", b1 * dm + (1 - b1) * gt)
    v = Let("v_t", b2 * dv + (1 - b2) * gt**2)
    step = Let(r"\theta_t", theta - eta * adam_direction(m, v), out="param")
    qm = Let(r"(m^{(8)}_t, a^m_t)", Op(r"\operatorname{q}", _quantize(True, "codes"), m), out="state:exp_avg_q")
    qv = Let(r"(v^{(8)}_t, a^v_t)", Op(r"\operatorname{q}", _quantize(False, "codes"), v), out="state:exp_avg_sq_q")
    return Card(gt, m, v, step, qm, qv,
                where="For a tensor of at least `min_8bit_size` values. $\\operatorname{q}$ cuts a tensor into blocks "
                      "of 2,048 values and keeps each block's largest magnitude $a$ and each value as the 8-bit index "
                      "of the nearest entry of the dynamic tree map to $x/a$ (signed for $m$, unsigned for $v$); "
                      "$\\operatorname{dq}$ maps the indices back and multiplies by $a$ (`gdlab.optim.quantize`). "
                      "Smaller tensors keep float32 moments and take Adam's step.",
                cases=[dict(hp={}, shape=(64, 80), steps=4), dict(hp=dict(weight_decay=0.01), shape=(64, 80), steps=3)])


_BUILDERS = {"SGD": _sgd, "Adam": _adam, "AdamW": _adamw, "Adagrad": _adagrad, "RMSprop": _rmsprop, "NAdam": _nadam,
             "RAdam": _radam, "LAMB": _lamb, "LARS": _lars, "AdamP": _adamp, "Muon": _muon,
             "ScheduleFreeAdamW": _schedule_free, "Shampoo": _shampoo, "SOAP": _soap, "SignSGD": _signsgd,
             "Lion": _lion, "Sophia": _sophia, "Adafactor": _adafactor, "Adam8bit": _adam8bit}
CARDS = {name: build() for name, build in _BUILDERS.items()}


def card_for(name: str) -> Card:
    """The card of the rule ``name``."""
    if name not in CARDS:
        raise KeyError(f"the rule {name!r} has no card in gdlab/optim/cards.py: write its update there")
    return CARDS[name]


def verify(name: str, seed: int = 0) -> float:
    r"""Run the card of ``name`` against its rule (gdlab's NumPy face), one step at a time from the rule's state.

    For each of the card's cases, the rule takes ``steps`` steps (6 by default) from a random parameter with random
    gradients; before every step the card is evaluated from a copy of the rule's state, and every value it marks
    (``out``) must equal the rule's, after the step, within ``tol`` = (operations, growth) machine epsilons
    (default 256, 1) relative to the size of the numbers involved. A buffer the rule does not keep in a setting
    (SGD's without momentum) is not compared. Raises :class:`gdlab.checks.CheckFailed` on a mismatch; returns the
    largest relative difference seen.
    """
    import copy

    from .. import checks
    from . import numpy as gnp
    from .card import Inputs

    card, worst = card_for(name), 0.0
    for k, spec in enumerate(card.cases):
        rng = np.random.default_rng([seed, k])
        opt = gnp.make(name, **spec["hp"])
        shape = spec.get("shape", (5, 3))
        tol = checks.rounding(*spec.get("tol", (256, 1)), why="one step from the same state")
        x = rng.standard_normal(shape)
        for step in range(1, spec.get("steps", 6) + 1):
            gr = spec["grad_fn"](x, rng) if "grad_fn" in spec else rng.standard_normal(shape)
            extras = spec["extras"](step, rng) if "extras" in spec else {}
            if not opt.states:
                opt.states = [dict(step=0, **opt.rule.init_state(opt.ops, x, opt.group))]
            state = copy.deepcopy(opt.states[0])
            expected = card.run(Inputs(param=x.copy(), grad=gr.copy(), state=state, hp=dict(opt.group),
                                       t=state["step"] + 1, extras=extras))
            x_new = x.copy()
            opt.step_arrays([x_new], [gr], extras or None)
            if "param" not in expected:
                raise checks.CheckFailed(f"{name}: the card has no line marked out='param'")
            size = max(float(np.max(np.abs(x))), float(np.max(np.abs(x_new))))
            for key, value in expected.items():
                got = x_new if key == "param" else opt.states[0].get(key.partition(":")[2])
                if got is None:
                    continue
                scale = max(size, float(np.max(np.abs(np.asarray(value, dtype=float)))), float(np.max(np.abs(got))))
                with checks.quiet():
                    err = checks.close(np.asarray(got, dtype=float), np.asarray(value, dtype=float), tol, scale=scale,
                                       what=f"{name}, case {k} {spec['hp']}, step {step}: {key}")
                worst = max(worst, err)
            x = x_new
    return worst
