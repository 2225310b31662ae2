"""Independent float64 NumPy implementations of the rules of gdlab.optim, written from the papers.

Used only by the tests. Each ``*_step`` function takes the parameter arrays, their gradients,
a state dict it owns (created empty by the caller) and the step number t >= 1, and returns the
new parameter arrays. The code is deliberately plain: no shared pieces, no list arithmetic,
formulas spelled out as in the papers' algorithm boxes.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def _init(state, key, shapes, fill=0.0):
    if key not in state:
        state[key] = [np.full(s, fill, dtype=float) for s in shapes]
    return state[key]


# --- Bernstein et al. 2018, Alg. 1 (signSGD) and Alg. 3 (Signum) ----------------------------
def signum_step(xs, gs, state, t, lr, momentum=0.0, weight_decay=0.0):
    out = []
    ms = _init(state, "m", [x.shape for x in xs])
    for i, (x, g) in enumerate(zip(xs, gs)):
        ms[i] = momentum * ms[i] + (1 - momentum) * g if momentum > 0 else g.copy()
        out.append(x - lr * (np.sign(ms[i]) + weight_decay * x))
    return out


# --- Chen et al. 2023, Alg. 2 (Lion) ---------------------------------------------------------
def lion_step(xs, gs, state, t, lr, betas=(0.9, 0.99), weight_decay=0.0):
    b1, b2 = betas
    ms = _init(state, "m", [x.shape for x in xs])
    out = []
    for i, (x, g) in enumerate(zip(xs, gs)):
        c = b1 * ms[i] + (1 - b1) * g
        out.append(x - lr * (np.sign(c) + weight_decay * x))
        ms[i] = b2 * ms[i] + (1 - b2) * g
    return out


# --- You et al. 2020, Alg. 2 (LAMB) ----------------------------------------------------------
def lamb_step(xs, gs, state, t, lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, clip=None):
    b1, b2 = betas
    ms = _init(state, "m", [x.shape for x in xs])
    vs = _init(state, "v", [x.shape for x in xs])
    out, ratios = [], []
    for i, (x, g) in enumerate(zip(xs, gs)):
        ms[i] = b1 * ms[i] + (1 - b1) * g
        vs[i] = b2 * vs[i] + (1 - b2) * g * g
        m_hat = ms[i] / (1 - b1 ** t)
        v_hat = vs[i] / (1 - b2 ** t)
        u = m_hat / (np.sqrt(v_hat) + eps) + weight_decay * x
        xn, un = np.linalg.norm(x.ravel()), np.linalg.norm(u.ravel())
        phi = xn if clip is None else min(xn, clip)
        ratio = phi / un if (xn > 0 and un > 0) else 1.0
        ratios.append(ratio)
        out.append(x - lr * ratio * u)
    state["ratios"] = ratios
    return out


# --- You, Gitman & Ginsburg 2017, Alg. 1 (LARS) ----------------------------------------------
def lars_step(xs, gs, state, t, lr, momentum=0.9, weight_decay=5e-4, trust_coefficient=1e-3):
    vs = _init(state, "v", [x.shape for x in xs])
    out = []
    for i, (w, g) in enumerate(zip(xs, gs)):
        wn, gn = np.sqrt(np.sum(w ** 2)), np.sqrt(np.sum(g ** 2))
        den = gn + weight_decay * wn
        local = trust_coefficient * wn / den if (wn > 0 and den > 0) else 1.0
        vs[i] = momentum * vs[i] + lr * local * (g + weight_decay * w)
        out.append(w - vs[i])
    return out


# --- Heo et al. 2021 (AdamP), written with explicit loops over channels -----------------------
def _cos(a, b, eps):
    return abs(float(a @ b)) / (max(np.linalg.norm(a), eps) * max(np.linalg.norm(b), eps))


def adamp_step(xs, gs, state, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, delta=0.1,
               wd_ratio=0.1, nesterov=False):
    b1, b2 = betas
    ms = _init(state, "m", [x.shape for x in xs])
    vs = _init(state, "v", [x.shape for x in xs])
    out, flags = [], []
    for i, (x, g) in enumerate(zip(xs, gs)):
        ms[i] = b1 * ms[i] + (1 - b1) * g
        vs[i] = b2 * vs[i] + (1 - b2) * g * g
        denom = np.sqrt(vs[i] / (1 - b2 ** t)) + eps
        p = (b1 * ms[i] + (1 - b1) * g) / denom if nesterov else ms[i] / denom
        ratio, flag = 1.0, False
        if x.ndim > 1:
            views = [[(x.reshape(x.shape[0], -1)[c], g.reshape(x.shape[0], -1)[c]) for c in range(x.shape[0])],
                     [(x.ravel(), g.ravel())]]
            for rows, view in zip((x.shape[0], 1), views):
                dim = view[0][0].size
                if max(_cos(gv, xv, eps) for xv, gv in view) < delta / np.sqrt(dim):
                    pm = p.reshape(rows, -1).copy()
                    for c, (xv, _) in enumerate(view):
                        unit = xv / (np.linalg.norm(xv) + eps)
                        pm[c] = pm[c] - (unit @ pm[c]) * unit
                    p = pm.reshape(x.shape)
                    ratio, flag = wd_ratio, True
                    break
        flags.append(flag)
        x = x * (1 - lr * weight_decay * ratio)
        out.append(x - lr / (1 - b1 ** t) * p)
    state["flags"] = flags
    return out


# --- Liu et al. 2023, Alg. 3 (Sophia) ----------------------------------------------------------
def sophia_step(xs, gs, state, t, lr, betas=(0.965, 0.99), gamma=0.01, eps=1e-12, weight_decay=0.1,
                hessian=None):
    b1, b2 = betas
    ms = _init(state, "m", [x.shape for x in xs])
    hs = _init(state, "h", [x.shape for x in xs])
    out = []
    for i, (x, g) in enumerate(zip(xs, gs)):
        ms[i] = b1 * ms[i] + (1 - b1) * g
        if hessian is not None:
            hs[i] = b2 * hs[i] + (1 - b2) * hessian[i]
        x = x - lr * weight_decay * x
        step = np.clip(ms[i] / np.maximum(gamma * hs[i], eps), -1.0, 1.0)
        out.append(x - lr * step)
    return out


# --- Gupta, Koren & Singer 2018 (Shampoo), order-k tensors by tensordot -------------------------
def _mode_apply(x, m, mode):
    return np.moveaxis(np.tensordot(m, x, axes=([1], [mode])), 0, mode)


def shampoo_step(xs, gs, state, t, lr, eps=1e-4, update_freq=1, root=None):
    out = []
    if "stats" not in state:
        state["stats"] = [[eps * np.eye(d) for d in x.shape] if x.ndim > 1 else np.full(x.shape, eps) for x in xs]
        state["roots"] = [[np.eye(d) for d in x.shape] if x.ndim > 1 else None for x in xs]
    for i, (x, g) in enumerate(zip(xs, gs)):
        if x.ndim <= 1:
            state["stats"][i] = state["stats"][i] + g * g
            out.append(x - lr * g / np.sqrt(state["stats"][i]))
            continue
        k = x.ndim
        p = root if root is not None else 2 * k
        pre = g
        for mode in range(k):
            gm = np.moveaxis(g, mode, 0).reshape(x.shape[mode], -1)
            state["stats"][i][mode] = state["stats"][i][mode] + gm @ gm.T
            if (t - 1) % update_freq == 0:
                u, sv, _ = np.linalg.svd(state["stats"][i][mode])   # SPD: A = U S Uᵀ
                state["roots"][i][mode] = (u * sv ** (-1.0 / p)) @ u.T
            pre = _mode_apply(pre, state["roots"][i][mode], mode)
        out.append(x - lr * pre)
    return out


# --- Vyas et al. 2024 (SOAP), matrices and vectors ----------------------------------------------
def soap_step(xs, gs, state, t, lr, betas=(0.95, 0.95), shampoo_beta=None, eps=1e-8, weight_decay=0.01,
              precondition_frequency=10):
    b1, b2 = betas
    bs = b2 if shampoo_beta is None else shampoo_beta
    if "m" not in state:
        state["m"] = [np.zeros_like(x) for x in xs]
        state["v"] = [np.zeros_like(x) for x in xs]
        state["L"] = [np.zeros((x.shape[0],) * 2) if x.ndim > 1 else None for x in xs]
        state["R"] = [np.zeros((x[0].size,) * 2) if x.ndim > 1 else None for x in xs]
        state["Q"] = [None] * len(xs)
    out = []
    step_size = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    for i, (x, g) in enumerate(zip(xs, gs)):
        state["m"][i] = b1 * state["m"][i] + (1 - b1) * g
        if x.ndim <= 1:
            state["v"][i] = b2 * state["v"][i] + (1 - b2) * g ** 2
            x = x - step_size * state["m"][i] / (np.sqrt(state["v"][i]) + eps)
            out.append(x * (1 - lr * weight_decay))
            continue
        G = g.reshape(x.shape[0], -1)
        state["L"][i] = bs * state["L"][i] + (1 - bs) * G @ G.T
        state["R"][i] = bs * state["R"][i] + (1 - bs) * G.T @ G
        if (t - 1) % precondition_frequency == 0:
            state["Q"][i] = (scipy.linalg.eigh(state["L"][i])[1], scipy.linalg.eigh(state["R"][i])[1])
        QL, QR = state["Q"][i]
        Gr = QL.T @ G @ QR
        V = b2 * state["v"][i].reshape(Gr.shape) + (1 - b2) * Gr ** 2
        state["v"][i] = V.reshape(x.shape)
        Mr = QL.T @ state["m"][i].reshape(Gr.shape) @ QR
        N = QL @ (Mr / (np.sqrt(V) + eps)) @ QR.T
        x = x - step_size * N.reshape(x.shape)
        out.append(x * (1 - lr * weight_decay))
    return out


# --- Jordan et al. 2024 (Muon) ------------------------------------------------------------------
def newton_schulz_ref(G, steps=5, a=3.4445, b=-4.7750, c=2.0315, eps=1e-7):
    """Same polynomial, written on the right: X(aI + bXᵀX + c(XᵀX)²) for a wide X."""
    X = G.T if G.shape[0] > G.shape[1] else G
    X = X / (np.sqrt(np.sum(X * X)) + eps)
    n = X.shape[1]
    for _ in range(steps):
        B = X.T @ X
        X = X @ (a * np.eye(n) + b * B + c * B @ B)
    return X.T if G.shape[0] > G.shape[1] else X


def muon_step(xs, gs, state, t, lr, momentum=0.95, nesterov=True, ns_steps=5, weight_decay=0.0):
    bufs = _init(state, "B", [x.shape for x in xs])
    out = []
    for i, (x, g) in enumerate(zip(xs, gs)):
        bufs[i] = momentum * bufs[i] + (1 - momentum) * g
        u = (1 - momentum) * g + momentum * bufs[i] if nesterov else bufs[i]
        o = newton_schulz_ref(u, ns_steps)
        scale = np.sqrt(max(1.0, x.shape[0] / x.shape[1]))
        out.append(x * (1 - lr * weight_decay) - lr * scale * o)
    return out


# --- Defazio et al. 2024, Alg. 1 (schedule-free AdamW), with explicit x, y, z -------------------
def schedule_free_step(ys, gs, state, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                       warmup_steps=0, r=0.0, weight_lr_power=2.0):
    """``ys`` are the points where the gradients ``gs`` were taken; returns the next y's.

    ``state["x"]`` holds the averaged sequence, ``state["z"]`` the base sequence.
    """
    b1, b2 = betas
    if "z" not in state:
        state["z"] = [y.copy() for y in ys]
        state["x"] = [y.copy() for y in ys]
        state["v"] = [np.zeros_like(y) for y in ys]
        state["lr_max"], state["wsum"] = 0.0, 0.0
    warm = min(1.0, t / warmup_steps) if warmup_steps > 0 else 1.0
    gamma = lr * warm * np.sqrt(1 - b2 ** t)
    state["lr_max"] = max(state["lr_max"], gamma)
    w = t ** r * state["lr_max"] ** weight_lr_power
    state["wsum"] += w
    c = w / state["wsum"] if state["wsum"] > 0 else 0.0
    out = []
    for i, (y, g) in enumerate(zip(ys, gs)):
        state["v"][i] = b2 * state["v"][i] + (1 - b2) * g * g
        d = g / (np.sqrt(state["v"][i]) + eps) + weight_decay * y
        state["z"][i] = state["z"][i] - gamma * d
        state["x"][i] = (1 - c) * state["x"][i] + c * state["z"][i]
        out.append((1 - b1) * state["z"][i] + b1 * state["x"][i])
    return out
