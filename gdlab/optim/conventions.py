r"""Where the papers and the libraries disagree: one map of every optimizer's conventions, and the gdlab options that
reproduce each.

For each rule of :data:`gdlab.optim.RULES`, :data:`MAP` lists its sources (the paper, ``torch.optim``, optax, Keras 3)
as :class:`Convention` rows: the source's constructor, its defaults (in gdlab's argument names), where it puts
:math:`\epsilon`, how it applies weight decay and momentum, and the gdlab arguments that make the same update
(``options``; ``None`` where gdlab has no option for the source's form, and then ``differs`` says what is missing).

Every row with ``options`` is checked by :func:`verify`: a run of gdlab's NumPy optimizer with the row's defaults and
options against an independent step written here from the source (:data:`STEPS`, float64), or, for ``torch``,
against ``torch.optim`` itself, over ``steps`` steps of a smooth problem. A row whose ``options`` is ``None`` is
checked the other way: gdlab's closest configuration must *differ* from the source's step by far more than rounding
(so that the difference the row states is real). The Conventions page prints the map; ``tests/test_conventions.py``
verifies every row.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Convention:
    """One optimizer as one source defines it."""

    source: str  #: "paper", "torch", "optax" or "Keras"
    api: str  #: the constructor there, e.g. ``optax.adamw``
    defaults: dict[str, Any]  #: its default hyperparameters, in gdlab's names
    eps: str = "—"  #: where ε enters
    decay: str = "—"  #: the weight-decay form
    momentum: str = "—"  #: the momentum form
    options: dict[str, Any] | None = field(default_factory=dict)  #: gdlab arguments that give the same update
    differs: str = ""  #: when ``options`` is None: what gdlab does differently
    where: str = ""  #: where the source states it (paper section, or the library's file)
    check: dict[str, Any] = field(default_factory=dict)  #: hyperparameters :func:`verify` sets beyond the defaults
    verified_by: str = ""  #: for a row :func:`verify` does not run: the test file that compares gdlab with this source
    tolerance: tuple[float, str] | None = None  #: a measured tolerance and its reason, where rounding is not all
    #: for a row gdlab does not reproduce: hyperparameters that remove the stated difference (the two sides then
    #: agree to rounding, which shows that the difference is the one stated)
    same_when: dict[str, Any] | None = None
    shape: tuple[int, ...] | None = None  #: the parameter's shape in :func:`verify` (default: a vector of 6)


SOURCES = ("paper", "torch", "optax", "Keras")
#: the ``verified_by`` of a row that no test compares with an independent reference yet (the page says so)
NOT_YET = "not yet compared with an independent reference"


# --------------------------------------------------------------------------------------------------------------------
# Reference steps, written from each source's own statement of the update. Each takes the iterate x, the gradient g,
# a state dict (empty before the first step), the step count t (1 at the first step) and the hyperparameters, and
# returns the new iterate (updating the state).
# --------------------------------------------------------------------------------------------------------------------
def _z(state, key, x, fill=0.0):
    if key not in state:
        state[key] = np.full_like(x, fill)
    return state[key]


def sgd_torch(x, g, s, t, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    g = g + weight_decay * x
    if momentum:
        b = g.copy() if t == 1 else momentum * s["b"] + (1 - dampening) * g
        s["b"] = b
        g = g + momentum * b if nesterov else b
    return x - lr * g


def sgd_optax(x, g, s, t, lr, momentum=0.0, nesterov=False):
    if momentum:  # optax.trace: tr = g + decay * tr, from tr = 0
        tr = g + momentum * _z(s, "tr", x)
        s["tr"] = tr
        g = g + momentum * tr if nesterov else tr
    return x - lr * g


def sgd_keras(x, g, s, t, lr, momentum=0.0, nesterov=False):
    if not momentum:
        return x - lr * g
    v = momentum * _z(s, "v", x) - lr * g  # the velocity holds the step, learning rate included
    s["v"] = v
    return x + momentum * v - lr * g if nesterov else x + v


def _moments(g, s, x, b1, b2):
    m = b1 * _z(s, "m", x) + (1 - b1) * g
    v = b2 * _z(s, "v", x) + (1 - b2) * g * g
    s["m"], s["v"] = m, v
    return m, v


def adam_hat(x, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False, amsgrad=None):
    """ε added to the bias-corrected √v̂ (Kingma & Ba, Alg. 1; torch, optax). ``decoupled``: x ← x(1 − lr·wd)
    first; else coupled L2. ``amsgrad``: None, "raw" (max of v, then corrected: torch) or "corrected" (max of v̂)."""
    b1, b2 = betas
    if decoupled:
        x = x * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * x
    m, v = _moments(g, s, x, b1, b2)
    if amsgrad == "raw":
        s["vmax"] = np.maximum(_z(s, "vmax", x), v)
        vhat = s["vmax"] / (1 - b2**t)
    elif amsgrad == "corrected":
        s["vmax"] = np.maximum(_z(s, "vmax", x), v / (1 - b2**t))
        vhat = s["vmax"]
    else:
        vhat = v / (1 - b2**t)
    return x - lr * (m / (1 - b1**t)) / (np.sqrt(vhat) + eps)


def adam_keras(x, g, s, t, lr, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.0, amsgrad=False):
    """Keras: the rate carries the corrections, lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ), and ε is added to the raw √v (the ε-hat
    form); weight decay, when set, shrinks the variable by lr·wd before the step."""
    b1, b2 = betas
    x = x - lr * weight_decay * x
    m, v = _moments(g, s, x, b1, b2)
    if amsgrad:
        s["vmax"] = np.maximum(_z(s, "vmax", x), v)
        v = s["vmax"]
    alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
    return x - alpha * m / (np.sqrt(v) + eps)


def rmsprop_sqrt(x, g, s, t, lr, alpha=0.99, eps=1e-8, eps_inside=False):
    """v ← αv + (1 − α)g²; x ← x − lr·g/(√v + ε) (torch), or lr·g/√(v + ε) (``eps_inside``: optax, Keras)."""
    v = alpha * _z(s, "v", x) + (1 - alpha) * g * g
    s["v"] = v
    return x - lr * g / (np.sqrt(v + eps) if eps_inside else np.sqrt(v) + eps)


def adagrad_sqrt(x, g, s, t, lr, eps=1e-10, initial_accumulator_value=0.0, eps_inside=False):
    """acc ← acc + g²; x ← x − lr·g/(√acc + ε) (torch), or lr·g/√(acc + ε) (``eps_inside``: optax, Keras)."""
    acc = _z(s, "acc", x, initial_accumulator_value) + g * g
    s["acc"] = acc
    return x - lr * g / (np.sqrt(acc + eps) if eps_inside else np.sqrt(acc) + eps)


def lion_paper(x, g, s, t, lr, betas=(0.9, 0.99), weight_decay=0.0):
    """Chen et al. 2023, Alg. 2: x ← x − lr(sign(β₁m + (1 − β₁)g) + λx); m ← β₂m + (1 − β₂)g."""
    b1, b2 = betas
    m = _z(s, "m", x)
    c = b1 * m + (1 - b1) * g
    s["m"] = b2 * m + (1 - b2) * g
    return x - lr * (np.sign(c) + weight_decay * x)


#: (rule, source) -> (reference step, its hyperparameters beyond the row's defaults)
STEPS: dict[tuple[str, str], tuple[Callable, dict[str, Any]]] = {}


# --------------------------------------------------------------------------------------------------------------------
# The map
# --------------------------------------------------------------------------------------------------------------------
MAP: dict[str, list[Convention]] = {}


def sgd_polyak(x, g, s, t, lr, momentum=0.0):
    """Polyak 1964: x_{k+1} = x_k − lr·∇f(x_k) + μ(x_k − x_{k−1}), with x_{−1} = x_0."""
    prev = s.get("prev", x)
    s["prev"] = x
    return x - lr * g + momentum * (x - prev)


def _add(rule: str, *rows: Convention) -> None:
    MAP[rule] = list(rows)


_EPS_HAT = "ε-hat: added to the raw √v, the corrections in the rate"
_EPS_OUT = "added to the bias-corrected √v̂"
_L2 = "coupled L2, λθ added to the gradient"
_DEC_LR = "decoupled, θ ← θ(1 − ηλ) (× the rate)"

_add("SGD",
     Convention("paper", "Polyak (1964), the heavy ball", dict(lr=None, momentum=None),
          momentum="x_{k+1} = x_k − η∇f + β(x_k − x_{k−1})",
          options=dict(momentum_form="polyak"), where="polyak1964some; the heavy-ball chapter"),
     Convention("torch", "torch.optim.SGD", dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False),
          decay=_L2, momentum="b ← βb + (1 − τ)g (b₁ = g), θ ← θ − ηb; Nesterov: θ − η(g + βb)",
          where="torch/optim/sgd.py", check=dict(momentum=0.9, dampening=0.1, weight_decay=1e-2)),
     Convention("optax", "optax.sgd", dict(lr=None, momentum=None, nesterov=False),
          decay="none (optax.add_decayed_weights, chained)",
          momentum="optax.trace: b ← g + βb from b₀ = 0, θ ← θ − ηb (torch's form with τ = 0)",
          where="optax/_src/alias.py (sgd), transform.py (trace)"),
     Convention("Keras", "keras.optimizers.SGD", dict(lr=0.01, momentum=0.0, nesterov=False),
          decay="decoupled, θ ← θ − ηλθ before the step (base optimizer)",
          momentum="v ← βv − ηg, θ ← θ + v (the rate inside the velocity); Nesterov: θ + βv − ηg",
          options=dict(momentum_form="sutskever"), where="keras/src/optimizers/sgd.py", check=dict(momentum=0.9)),
     )
_add("Adam",
     Convention("paper", "Kingma & Ba (2015), Algorithm 1", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8), eps=_EPS_OUT,
          where="kingma2015adam, Alg. 1"),
     Convention("torch", "torch.optim.Adam", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0), eps=_EPS_OUT,
          decay=_L2, where="torch/optim/adam.py"),
     Convention("optax", "optax.adam", dict(lr=None, betas=(0.9, 0.999), eps=1e-8), eps=_EPS_OUT + " (eps_root = 0)",
          decay="none (optax.adamw for decay)", where="optax/_src/alias.py (adam), transform.py (scale_by_adam)"),
     Convention("Keras", "keras.optimizers.Adam", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-7), eps=_EPS_HAT,
          decay="decoupled × rate when weight_decay is set (base optimizer)", options=dict(eps_inside=True),
          where="keras/src/optimizers/adam.py"),
     )
_add("AdamW",
     Convention("paper", "Loshchilov & Hutter (2019), Algorithm 2", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8),
          eps=_EPS_OUT, decay="decoupled, θ ← θ − ω_t λ θ, λ not multiplied by η (λ_torch = λ_LH/η)",
          options=None, differs="gdlab (as torch) multiplies the decay by the rate: the paper's λ is gdlab's ηλ, "
          "and weight_decay = λ_LH/η gives the paper's run at a constant rate (the AdamW chapter converts the two "
          "under any schedule)", where="loshchilov2019decoupled", check=dict(weight_decay=1e-2),
          same_when=dict(weight_decay=0.0)),
     Convention("torch", "torch.optim.AdamW", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2), eps=_EPS_OUT,
          decay=_DEC_LR, where="torch/optim/adamw.py"),
     Convention("optax", "optax.adamw", dict(lr=None, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4), eps=_EPS_OUT,
          decay="decoupled: −η(m̂/(√v̂ + ε) + λθ), the same as torch's", where="optax/_src/alias.py (adamw)"),
     Convention("Keras", "keras.optimizers.AdamW", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-7, weight_decay=4e-3),
          eps=_EPS_HAT, decay=_DEC_LR + ", before the step", options=dict(eps_inside=True),
          where="keras/src/optimizers/adamw.py, base_optimizer.py"),
     )



def nadam_optax(x, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8):
    """optax.nadam: Adam with a Nesterov look-ahead and no momentum schedule,
    m̂ = β₁m_t/(1 − β₁^{t+1}) + (1 − β₁)g_t/(1 − β₁ᵗ)."""
    b1, b2 = betas
    m, v = _moments(g, s, x, b1, b2)
    mhat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
    return x - lr * mhat / (np.sqrt(v / (1 - b2**t)) + eps)


def nadam_schedule(x, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3):
    """Dozat's schedule μ_t = β₁(1 − ½·0.96^{tψ}) (torch: ψ = 4·10⁻³; Keras: 0.96ᵗ, i.e. ψ = 1), ε on √v̂."""
    b1, b2 = betas
    mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    s["prod"] = s.get("prod", 1.0) * mu
    m, v = _moments(g, s, x, b1, b2)
    mhat = mu_next * m / (1 - s["prod"] * mu_next) + (1 - mu) * g / (1 - s["prod"])
    return x - lr * mhat / (np.sqrt(v / (1 - b2**t)) + eps)


def radam_optax(x, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, threshold=5.0):
    """optax.radam: rectify when ρ_t ≥ threshold, ε on the bias-corrected √v̂; else the corrected momentum."""
    b1, b2 = betas
    m, v = _moments(g, s, x, b1, b2)
    rho_inf = 2 / (1 - b2) - 1
    rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
    mhat = m / (1 - b1**t)
    if rho >= threshold:
        r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
        return x - lr * r * mhat / (np.sqrt(v / (1 - b2**t)) + eps)
    return x - lr * mhat


def lamb_step(x, g, s, t, lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, decay_in_ratio=True):
    """LAMB on one tensor: r = m̂/(√v̂ + ε); optax and the paper take the trust ratio of u = r + λθ; Keras shrinks θ
    by ηλ first and takes the ratio ‖θ‖/‖r‖ of the step without the decay (``decay_in_ratio=False``)."""
    b1, b2 = betas
    if not decay_in_ratio:
        x = x - lr * weight_decay * x
    m, v = _moments(g, s, x, b1, b2)
    u = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    if decay_in_ratio:
        u = u + weight_decay * x
    pn, un = np.linalg.norm(x), np.linalg.norm(u)
    ratio = pn / un if pn > 0 and un > 0 else 1.0
    return x - lr * ratio * u


def lars_optax(x, g, s, t, lr, momentum=0.9, weight_decay=0.0, trust_coefficient=1e-3):
    """optax.lars: d = g + λθ, ratio = η_tc‖θ‖/‖d‖ (1 at a zero norm), then the rate, then the momentum trace of the
    rate-scaled steps."""
    d = g + weight_decay * x
    pn, dn = np.linalg.norm(x), np.linalg.norm(d)
    ratio = trust_coefficient * pn / dn if pn > 0 and dn > 0 else 1.0
    step = -lr * ratio * d
    buf = step + momentum * _z(s, "buf", x)
    s["buf"] = buf
    return x + buf


def adamw_paper(x, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """Loshchilov & Hutter, Alg. 2 with the schedule multiplier 1: θ ← θ − λθ − η·m̂/(√v̂ + ε), λ not multiplied
    by η."""
    b1, b2 = betas
    m, v = _moments(g, s, x, b1, b2)
    return x - weight_decay * x - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)


def lars_paper(x, g, s, t, lr, momentum=0.9, weight_decay=5e-4, trust_coefficient=1e-3):
    """You et al. 2017, Alg. 1: local = η_tc‖w‖/(‖g‖ + β‖w‖) (1 at a zero norm); v ← mv + γ·local·(g + βw);
    w ← w − v."""
    wn, gn = np.linalg.norm(x), np.linalg.norm(g)
    local = trust_coefficient * wn / (gn + weight_decay * wn) if wn > 0 and gn > 0 else 1.0
    v = momentum * _z(s, "v", x) + lr * local * (g + weight_decay * x)
    s["v"] = v
    return x - v


def adafactor_vector(x, g, s, t, lr, beta2_decay=-0.8, eps=(1e-30, 1e-3), d=1.0, relative_step=True):
    """Adafactor on a vector (Shazeer & Stern, Algorithms 4–5; Keras; optax with ``relative_step=False``):
    β̂₂ = 1 − t^c; V ← β̂₂V + (1 − β̂₂)(g² + ε₁); U = g/√V; Û = U/max(1, RMS(U)/d); the step is
    max(ε₂, RMS(θ))·ρ_t·Û with ρ_t = min(lr, 1/√t) (the relative step), or lr without it (optax)."""
    eps1, eps2 = eps
    b = 1 - t**beta2_decay
    v = b * _z(s, "v", x) + (1 - b) * (g * g + eps1)
    s["v"] = v
    u = g / np.sqrt(v)
    u = u / max(1.0, float(np.sqrt(np.mean(u * u))) / d)
    rho = min(lr, 1 / math.sqrt(t)) if relative_step else lr
    return x - max(eps2, float(np.sqrt(np.mean(x * x)))) * rho * u


def schedule_free_optax(x, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """optax.contrib.schedule_free_adamw on the parameters y: base step −η(g/(√v̂ + ε) + λy) with v̂ bias-corrected,
    averaging weights max(η)² (so c_t = 1/t at a constant rate)."""
    b1, b2 = betas
    if "z" not in s:
        s.update(z=x.copy(), x=x.copy(), wsum=0.0)
    v = b2 * _z(s, "v", x) + (1 - b2) * g * g
    s["v"] = v
    z = s["z"] - lr * (g / (np.sqrt(v / (1 - b2**t)) + eps) + weight_decay * x)
    s["wsum"] += lr**2
    c = lr**2 / s["wsum"]
    s["x"] = (1 - c) * s["x"] + c * z
    s["z"] = z
    return b1 * s["x"] + (1 - b1) * z


def schedule_free_keras(x, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """keras.optimizers.ScheduleFreeAdamW on y: y ← y(1 − ηλ) first (base optimizer); z ← z − ηg/(√v̂ + ε);
    x recovered from y and the old z, averaged with weight 1/t."""
    b1, b2 = betas
    if "z" not in s:
        s["z"] = x.copy()
    y = x - x * weight_decay * lr
    v = b2 * _z(s, "v", x) + (1 - b2) * g * g
    s["v"] = v
    z_old = s["z"]
    z = z_old - lr * g / (np.sqrt(v / (1 - b2**t)) + eps)
    x_old = (y - (1 - b1) * z_old) / b1
    x_new = (1 - 1 / t) * x_old + (1 / t) * z
    s["z"] = z
    return (1 - b1) * z + b1 * x_new


def _ns5(G, steps=5, coefficients=(3.4445, -4.7750, 2.0315), eps=1e-7):
    a, b, c = coefficients
    tall = G.shape[0] > G.shape[1]
    X = G.T if tall else G
    X = X / (np.linalg.norm(X) + eps)
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if tall else X


def muon_keras(x, g, s, t, lr, momentum=0.95, nesterov=True, eps=1e-7, weight_decay=0.0, rms_rate=0.2):
    """keras.optimizers.Muon on a matrix: θ ← θ(1 − ηλ) first; a trace m ← βm + g (no 1 − β, no correction);
    G = g + βm (Nesterov); θ ← θ − η·NS₅(G)·√max(rows, cols)·rms_rate."""
    x = x - x * weight_decay * lr
    m = momentum * _z(s, "m", x) + g
    s["m"] = m
    G = g + momentum * m if nesterov else m
    return x - lr * _ns5(G, eps=eps) * math.sqrt(max(x.shape)) * rms_rate


def muon_optax(x, g, s, t, lr, momentum=0.95, nesterov=True, eps=1e-8, weight_decay=0.0):
    """optax.contrib.muon on a matrix (rows = fan-in, cols = fan-out): an EMA with bias correction,
    M = βμ/(1 − β^{t+1}) + (1 − β)g/(1 − βᵗ) (Nesterov); θ ← θ − η(NS₅(M)·√max(1, cols/rows) + λθ)."""
    mu = momentum * _z(s, "mu", x) + (1 - momentum) * g
    s["mu"] = mu
    if nesterov:
        M = momentum * mu / (1 - momentum ** (t + 1)) + (1 - momentum) * g / (1 - momentum**t)
    else:
        M = mu / (1 - momentum**t)
    O = _ns5(M, eps=eps) * math.sqrt(max(1.0, x.shape[1] / x.shape[0]))
    return x - lr * (O + weight_decay * x)


def sign_step(x, g, s, t, lr):
    """optax.sign_sgd: θ ← θ − η·sign(g)."""
    return x - lr * np.sign(g)

_add("RMSprop",
     Convention("paper", "Tieleman & Hinton (2012), lecture 6e", dict(lr=None, alpha=0.9, eps=0.0),
          eps="none (ε = 0; a zero gradient then divides by zero)", where="tieleman2012rmsprop"),
     Convention("torch", "torch.optim.RMSprop", dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0),
          eps="outside the root, √v + ε", decay=_L2, momentum="b ← βb + g/(√v + ε), θ ← θ − ηb",
          where="torch/optim/rmsprop.py"),
     Convention("optax", "optax.rmsprop", dict(lr=None, alpha=0.9, eps=1e-8), eps="inside the root, √(v + ε)",
          momentum="a trace of the rate-scaled steps (momentum=None: off)", options=dict(eps_inside=True),
          where="optax/_src/alias.py (rmsprop), transform.py (scale_by_rms)"),
     Convention("Keras", "keras.optimizers.RMSprop", dict(lr=1e-3, alpha=0.9, eps=1e-7), eps="inside the root, √(v + ε)",
          decay="decoupled × rate when weight_decay is set", momentum="b ← βb + ηg/√(v + ε), θ ← θ − b",
          options=dict(eps_inside=True), where="keras/src/optimizers/rmsprop.py"),
     )
_add("Adagrad",
     Convention("paper", "Duchi, Hazan & Singer (2011), diagonal AdaGrad", dict(lr=None, eps=1e-10),
          eps="δ added to √(Σg²), outside the root", where="duchi2011adaptive"),
     Convention("torch", "torch.optim.Adagrad", dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
          eps=1e-10), eps="outside the root, √acc + ε", decay=_L2, where="torch/optim/adagrad.py"),
     Convention("optax", "optax.adagrad", dict(lr=None, initial_accumulator_value=0.1, eps=1e-7),
          eps="inside the root, √(acc + ε); accumulator from 0.1", options=None,
          differs="ε inside the root: gdlab (as torch) adds it outside", where="optax/_src/transform.py (scale_by_rss)",
          check=dict(eps=1e-3), same_when=dict(eps=0.0)),
     Convention("Keras", "keras.optimizers.Adagrad", dict(lr=1e-3, initial_accumulator_value=0.1, eps=1e-7),
          eps="inside the root, √(acc + ε); accumulator from 0.1", options=None,
          differs="ε inside the root: gdlab (as torch) adds it outside", where="keras/src/optimizers/adagrad.py",
          check=dict(eps=1e-3), same_when=dict(eps=0.0)),
     )
_add("NAdam",
     Convention("paper", "Dozat (2016), with a momentum schedule", dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8),
          eps=_EPS_OUT, momentum="μ_t = β₁(1 − ½·0.96^{tψ})", where="dozat2016incorporating"),
     Convention("torch", "torch.optim.NAdam", dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
          momentum_decay=4e-3), eps=_EPS_OUT, decay=_L2, momentum="μ_t = β₁(1 − ½·0.96^{0.004t})",
          where="torch/optim/nadam.py",
          tolerance=(1e-9, "torch keeps the product of the momenta in a float32 scalar (mu_product, the default "
                           "scalar dtype): 20 steps of float32 rounding in that factor")),
     Convention("optax", "optax.nadam", dict(lr=None, betas=(0.9, 0.999), eps=1e-8), eps=_EPS_OUT,
          momentum="no schedule: m̂ = β₁m_t/(1 − β₁^{t+1}) + (1 − β₁)g/(1 − β₁ᵗ)", options=None,
          differs="gdlab (as torch) follows Dozat's momentum schedule",
          where="optax/_src/transform.py (scale_by_adam, nesterov=True)"),
     Convention("Keras", "keras.optimizers.Nadam", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-7), eps=_EPS_OUT,
          momentum="μ_t = β₁(1 − ½·0.96ᵗ): torch's schedule with ψ = 1", options=dict(momentum_decay=1.0),
          where="keras/src/optimizers/nadam.py"),
     )
_add("RAdam",
     Convention("paper", "Liu et al. (2020), Algorithm 2", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8),
          eps="ε on the bias-corrected √v̂", momentum="rectify when ρ_t > 4", options=None,
          differs="gdlab (as torch) adds ε to the raw √v; rect_threshold=4.0 gives the paper's threshold",
          where="liu2020variance", same_when=dict(eps=0.0, rect_threshold=4.0)),
     Convention("torch", "torch.optim.RAdam", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
          eps="ε-hat: added to the raw √v", decay=_L2, momentum="rectify when ρ_t > 5", where="torch/optim/radam.py"),
     Convention("optax", "optax.radam", dict(lr=None, betas=(0.9, 0.999), eps=1e-8), eps="ε on the bias-corrected √v̂",
          momentum="rectify when ρ_t ≥ 5", options=None,
          differs="gdlab (as torch) adds ε to the raw √v", where="optax/_src/transform.py (scale_by_radam)",
          check=dict(eps=1e-3), same_when=dict(eps=0.0)),
     )
_add("Lion",
     Convention("paper", "Chen et al. (2023), Algorithm 2", dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0),
          decay="decoupled, −ηλθ", momentum="sign(β₁m + (1 − β₁)g), then m ← β₂m + (1 − β₂)g",
          where="chen2023symbolic", check=dict(weight_decay=0.1)),
     Convention("optax", "optax.lion", dict(lr=None, betas=(0.9, 0.99), weight_decay=1e-3), decay="decoupled, −ηλθ",
          momentum="as the paper", where="optax/_src/transform.py (scale_by_lion)"),
     Convention("Keras", "keras.optimizers.Lion", dict(lr=1e-3, betas=(0.9, 0.99), weight_decay=0.0),
          decay="decoupled × rate, before the step (the same as the paper's)", momentum="as the paper",
          where="keras/src/optimizers/lion.py", check=dict(weight_decay=0.1)),
     )
_add("LAMB",
     Convention("paper", "You et al. (2020), Algorithm 2", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01),
          eps=_EPS_OUT, decay="inside the trust ratio: u = m̂/(√v̂ + ε) + λθ, step η‖θ‖/‖u‖·u",
          where="you2020large"),
     Convention("optax", "optax.lamb", dict(lr=None, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0), eps=_EPS_OUT,
          decay="inside the trust ratio (as the paper)", where="optax/_src/alias.py (lamb)",
          check=dict(weight_decay=0.01)),
     Convention("Keras", "keras.optimizers.Lamb", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.0),
          eps=_EPS_OUT, decay="θ ← θ − ηλθ first, outside the trust ratio", options=None,
          differs="gdlab (as the paper) puts the decay inside the trust ratio", where="keras/src/optimizers/lamb.py",
          check=dict(weight_decay=0.01), same_when=dict(weight_decay=0.0)),
     )
_add("LARS",
     Convention("paper", "You, Gitman & Ginsburg (2017), Algorithm 1", dict(lr=0.1, momentum=0.9, weight_decay=5e-4,
          trust_coefficient=1e-3), decay="coupled, inside the local rate η_tc‖w‖/(‖g‖ + β‖w‖)",
          momentum="v ← mv + γ·local·(g + βw), w ← w − v", where="you2017large"),
     Convention("optax", "optax.lars", dict(lr=None, momentum=0.9, weight_decay=0.0, trust_coefficient=1e-3),
          decay="coupled: d = g + λθ, local rate η_tc‖θ‖/‖d‖", momentum="a trace of the rate-scaled steps",
          where="optax/_src/alias.py (lars)"),
     )
_add("SignSGD",
     Convention("paper", "Bernstein et al. (2018), signSGD", dict(lr=1e-3), where="bernstein2018signsgd"),
     Convention("optax", "optax.sign_sgd", dict(lr=None), where="optax/_src/alias.py (sign_sgd)"),
     )

_add("Adafactor",
     Convention("paper", "Shazeer & Stern (2018), Algorithms 4–5", dict(lr=1e-2, beta2_decay=-0.8, eps=(1e-30, 1e-3), d=1.0),
          eps="ε₁ = 10⁻³⁰ added to g² inside the average", momentum="none; relative step min(10⁻², 1/√t)",
          options=dict(eps_form="paper"), where="shazeer2018adafactor"),
     Convention("torch", "torch.optim.Adafactor", dict(lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0),
          eps="ε₁ as a clamp, √max(V, ε₁²)", decay="decoupled × rate", momentum="none; relative step min(lr, 1/√t)",
          where="torch/optim/_adafactor.py"),
     Convention("optax", "optax.adafactor", dict(lr=None, beta2_decay=-0.8, eps=(1e-30, 1e-3), d=1.0),
          eps="ε₁ = 10⁻³⁰ added to g²", decay="weight_decay_rate, added after the rate (not × rate)",
          momentum="optional EMA of the steps; no relative step: the rate itself, times max(RMS(θ), 10⁻³)",
          options=None, differs="gdlab (as torch and the paper) takes min(lr, 1/√t), which is the rate only while "
          "t ≤ 1/lr²; optax also factors a matrix only when its second-largest side is 128 or more",
          where="optax/_src/alias.py (adafactor), factorized.py", check=dict(lr=1.0), same_when=dict(lr=1e-2)),
     Convention("Keras", "keras.optimizers.Adafactor", dict(lr=1e-3, beta2_decay=-0.8, eps=(1e-30, 1e-3), d=1.0),
          eps="ε₁ = 10⁻³⁰ added to g²", decay="decoupled × rate when weight_decay is set",
          momentum="none; relative step min(lr, 1/√t), always", options=dict(eps_form="paper"),
          where="keras/src/optimizers/adafactor.py"),
     )
for _name, _paper, _cite in [
    ("AdamP", "Heo et al. (2021), Algorithm 2", "heo2021adamp"),
    ("Sophia", "Liu et al. (2023), Algorithm 3", "liu2023sophia"),
    ("Shampoo", "Gupta, Koren & Singer (2018), Algorithm 2", "gupta2018shampoo"),
    ("SOAP", "Vyas et al. (2024), Algorithm 3", "vyas2024soap"),
]:
    _add(_name, Convention("paper", _paper, {}, verified_by="tests/test_optim_paper_refs.py", where=_cite))
MAP["Sophia"].append(
    Convention("optax", "optax.contrib.sophia", dict(lr=None, betas=(0.965, 0.99), eps=1e-8, weight_decay=1e-4,
         gamma=0.01, update_period=10), eps="max(γh, ε) in the denominator",
         decay="decoupled, −ηλθ (default λ = 10⁻⁴)",
         momentum="bias-corrected m̂; h from Hutchinson's estimator with Rademacher probes, refreshed when the old "
         "count is a multiple of the period (so at step 1), no bias correction on h",
         options=None,
         differs="not compared yet; from the source, optax bias-corrects m and gdlab (as the paper) does not",
         verified_by=NOT_YET,
         where="optax/contrib/_sophia.py"))
MAP["SOAP"].append(
    Convention("optax", "optax.contrib.soap", dict(lr=None, betas=(0.95, 0.95), eps=1e-8, weight_decay=0.0,
         precondition_frequency=10), eps="added to the raw √v in the rotated basis, the corrections in the rate",
         decay="decoupled, −ηλθ", momentum="Adam in the eigenbasis of the Shampoo factors; the first step only "
         "builds the basis (no update); the basis refreshed by a power iteration and QR",
         options=None, differs="not compared yet", verified_by=NOT_YET, where="optax/contrib/_soap.py"))
_add("ScheduleFreeAdamW",
     Convention("paper", "Defazio et al. (2024), the reference code's AdamW", {},
          verified_by="tests/test_optim_paper_refs.py",
          eps="added to the raw √v, √(1 − β₂ᵗ) in the rate γ_t", decay="γ_tλy inside the base step",
          momentum="weights t^r (max γ)^p", where="defazio2024road"),
     Convention("optax", "optax.contrib.schedule_free_adamw", dict(lr=2.5e-3, betas=(0.9, 0.999), eps=1e-8,
          weight_decay=0.0), eps="added to the bias-corrected √v̂", decay="ηλy inside the base step",
          momentum="weights (max η)², no warmup by default", options=None,
          differs="the bias correction moves from the rate to v̂ (as pytorch_optimizer): the averaging weights, the "
          "effective ε and the decay differ from the reference code's", where="optax/contrib/_schedule_free.py",
          check=dict(weight_decay=0.01), same_when=dict(eps=0.0, weight_decay=0.0, weight_lr_power=0.0)),
     Convention("Keras", "keras.optimizers.ScheduleFreeAdamW", dict(lr=2.5e-3, betas=(0.9, 0.999), eps=1e-8,
          weight_decay=0.0), eps="added to the bias-corrected √v̂",
          decay="y ← y(1 − ηλ) before the step, z not decayed",
          momentum="uniform weights 1/t", options=None,
          differs="uniform weights are gdlab's weight_lr_power=0, but Keras's ε sits on √v̂ and its decay acts on y "
          "outside the base step", where="keras/src/optimizers/schedule_free_adamw.py",
          check=dict(weight_decay=0.01), same_when=dict(eps=0.0, weight_decay=0.0, weight_lr_power=0.0)),
     )
_add("Adam8bit", Convention("paper", "Dettmers et al. (2022), block-wise 8-bit Adam", {},
                      verified_by="tests/test_adam8bit.py", where="dettmers2022optimizers"))
_add("Muon",
     Convention("paper", "Jordan et al. (2024), the reference Muon", dict(lr=None, momentum=0.95, nesterov=True),
          momentum="EMA momentum, Nesterov, 5 Newton–Schulz steps (3.4445, −4.7750, 2.0315)",
          verified_by="tests/test_optim_paper_refs.py", where="jordan2024muon"),
     Convention("torch", "torch.optim.Muon", dict(lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True),
          momentum="as the paper; ns_form=\"torch\" gives its bfloat16 iteration", options=dict(ns_form="torch"),
          verified_by="tests/test_optim_torch_dropin.py", where="torch/optim/_muon.py"),
     Convention("optax", "optax.contrib.muon", dict(lr=None, momentum=0.95, nesterov=True, eps=1e-8, weight_decay=0.0),
          eps="‖M‖_F + 10⁻⁸", decay="decoupled, −ηλθ", options=None, shape=(3, 3),
          momentum="an EMA with bias correction, Nesterov M = βμ/(1 − β^{t+1}) + (1 − β)g/(1 − βᵗ); scale "
          "√max(1, fan-out/fan-in) for a (fan-in, fan-out) matrix; other shapes go to (N)AdamW",
          differs="gdlab (as torch and the authors) does not bias-correct the momentum; the scale is the same "
          "√max(1, out/in) in each library's layout of a matrix", where="optax/contrib/_muon.py",
          same_when=dict(momentum=0.0)),
     Convention("Keras", "keras.optimizers.Muon", dict(lr=1e-3, momentum=0.95, nesterov=True, eps=1e-7,
          weight_decay=4e-3), eps="‖G‖_F + 10⁻⁷", decay="decoupled × rate, before the step", shape=(4, 3),
          momentum="a trace m ← βm + g, G = g + βm: (1 − β) times gdlab's U, the same direction; scale "
          "0.2·√max(rows, cols) (rms_rate); other shapes and embeddings go to Keras's AdamW",
          options=None, differs="the trace is 1/(1 − β) times gdlab's EMA, so the same ε acts as a (1 − β) times "
          "smaller one; gdlab's adjust_lr_fn=\"match_rms_adamw\" gives Keras's scale",
          where="keras/src/optimizers/muon.py", same_when=dict(eps=0.0, adjust_lr_fn="match_rms_adamw")),
     )

STEPS.update({
    ("SGD", "paper"): (sgd_polyak, {}), ("SGD", "optax"): (sgd_optax, {}), ("SGD", "Keras"): (sgd_keras, {}),
    ("Adam", "paper"): (adam_hat, {}), ("Adam", "optax"): (adam_hat, {}), ("Adam", "Keras"): (adam_keras, {}),
    ("AdamW", "paper"): (adamw_paper, {}), ("AdamW", "optax"): (adam_hat, dict(decoupled=True)),
    ("AdamW", "Keras"): (adam_keras, {}),
    ("RMSprop", "optax"): (rmsprop_sqrt, dict(eps_inside=True)),
    ("RMSprop", "Keras"): (rmsprop_sqrt, dict(eps_inside=True)),
    ("Adagrad", "optax"): (adagrad_sqrt, dict(eps_inside=True)),
    ("Adagrad", "Keras"): (adagrad_sqrt, dict(eps_inside=True)),
    ("NAdam", "paper"): (nadam_schedule, {}), ("NAdam", "optax"): (nadam_optax, {}),
    ("NAdam", "Keras"): (nadam_schedule, dict(momentum_decay=1.0)),
    ("RAdam", "paper"): (radam_optax, dict(threshold=4.0)), ("RAdam", "optax"): (radam_optax, {}),
    ("Lion", "paper"): (lion_paper, {}), ("Lion", "optax"): (lion_paper, {}), ("Lion", "Keras"): (lion_paper, {}),
    ("LAMB", "paper"): (lamb_step, {}), ("LAMB", "optax"): (lamb_step, {}),
    ("LAMB", "Keras"): (lamb_step, dict(decay_in_ratio=False)),
    ("LARS", "paper"): (lars_paper, {}), ("LARS", "optax"): (lars_optax, {}),
    ("RMSprop", "paper"): (rmsprop_sqrt, {}), ("Adagrad", "paper"): (adagrad_sqrt, {}),
    ("SignSGD", "paper"): (sign_step, {}), ("SignSGD", "optax"): (sign_step, {}),
    ("Adafactor", "paper"): (adafactor_vector, {}), ("Adafactor", "Keras"): (adafactor_vector, {}),
    ("Adafactor", "optax"): (adafactor_vector, dict(relative_step=False)),
    ("ScheduleFreeAdamW", "optax"): (schedule_free_optax, {}),
    ("ScheduleFreeAdamW", "Keras"): (schedule_free_keras, {}),
    ("Muon", "optax"): (muon_optax, {}), ("Muon", "Keras"): (muon_keras, {}),
})

# --------------------------------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------------------------------
def row(rule: str, source: str) -> Convention:
    """The row of ``rule`` for ``source`` (a KeyError names what is missing)."""
    for r in MAP.get(rule, []):
        if r.source == source:
            return r
    raise KeyError(f"no {source!r} row for {rule!r}")


def _problem(d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    H = (q * np.linspace(1.0, 10.0, d)) @ q.T
    star = rng.standard_normal(d)
    x0 = rng.standard_normal(d) + 0.5

    def grad(x):
        return H @ (x - star) + 0.1 * np.sin(x)

    return x0, grad


def hyperparameters(r: Convention) -> dict[str, Any]:
    """The hyperparameters a verification of row ``r`` runs with: its defaults (a default the source leaves to the
    user, written ``None``, is set to a typical value) and its ``check`` overrides."""
    typical = dict(lr=1e-2, momentum=0.9)
    hp = {k: (typical.get(k, v) if v is None else v) for k, v in r.defaults.items()}
    hp.update(r.check)  # e.g. a larger ε where ε's place is the difference a row states
    return hp


def verify(rule: str, source: str, steps: int = 20, overrides: dict[str, Any] | None = None) -> float:
    """The largest difference, relative to the iterates' size, between gdlab's NumPy ``rule`` (with the row's
    hyperparameters and options; its closest configuration, the row's hyperparameters alone, when ``options`` is
    None) and the source's update over ``steps`` steps of a smooth 6-dimensional problem, in float64. For
    ``source="torch"`` the other side is ``torch.optim`` itself. ``overrides`` change hyperparameters on both sides
    (a name one side does not take is given to the other only)."""
    from . import numpy as gnp

    r = row(rule, source)
    if r.verified_by:  # compared elsewhere, or not yet
        raise ValueError(f"{rule} ({source}) is compared with gdlab in {r.verified_by}, not by verify()")
    hp = {**hyperparameters(r), **(overrides or {})}
    options = r.options or {}
    x0, grad = _problem(int(np.prod(r.shape)) if r.shape else 6)
    if r.shape:  # a matrix parameter: the same problem on its entries
        flat_grad, x0 = grad, x0.reshape(r.shape)

        def grad(x, _g=flat_grad, _shape=r.shape):
            return _g(np.ravel(x)).reshape(_shape)
    ours = getattr(gnp, rule)(**hp, **options)
    x, xs = x0.copy(), []
    for _ in range(steps):
        x = ours(x, grad(x))
        xs.append(x)
    if source == "torch":
        import torch

        p = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
        opt = getattr(torch.optim, rule)([p], **hp)
        theirs = []
        for _ in range(steps):
            p.grad = torch.tensor(grad(p.detach().numpy()))
            opt.step()
            theirs.append(p.detach().numpy().copy())
    else:
        step, extra = STEPS[rule, source]
        takes = inspect.signature(step).parameters
        kw = {k: v for k, v in {**hp, **extra}.items() if k in takes}
        y, st, theirs = x0.copy(), {}, []
        for t in range(1, steps + 1):
            y = step(y, grad(y), st, t, **kw)
            theirs.append(y)
    a, b = np.array(xs), np.array(theirs)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1.0))


__all__ = ["MAP", "NOT_YET", "SOURCES", "STEPS", "Convention", "hyperparameters", "row", "verify"]
