r"""Noise in gradient methods: Langevin dynamics, SGLD, SGD's stationary law, the noise scale.

Every simulation here runs many independent chains at once (an array of shape
``(n_chains, dim)``), on NumPy (``backend="numpy"``, float64 by default) or torch
(``backend="torch"``, float32 by default, in-place kernels and preallocated buffers), is
seeded, and returns a :class:`Chains` with the final states and, if asked, a thinned trace.
All of them are one recursion,

.. math:: X_t = X_{t-1} - h_t\,\nabla U(X_{t-1}) + s_t\, M Z_t,\qquad Z_t \sim \mathcal N(0, I),

with, for

* overdamped Langevin dynamics :math:`dX = -\nabla U(X)\,dt + \sqrt{2T}\,dW` discretised by
  Euler–Maruyama (:func:`langevin`): :math:`h_t = \Delta t`, :math:`s_t = \sqrt{2T\Delta t}`, :math:`M = I`;
* constant-step SGD with additive gradient noise :math:`\xi \sim \mathcal N(0, C/S)`
  (:func:`simulate_sgd_noise`): :math:`h_t = \eta`, :math:`s_t = \eta/\sqrt S`, :math:`MM^\top = C`;
* SGLD (:func:`sgld`, Welling & Teh 2011): :math:`U = -\log p`, :math:`h_t = \epsilon_t/2`,
  :math:`s_t = \sqrt{\epsilon_t}`, :math:`\epsilon_t = a(b+t)^{-\gamma}` (:class:`SGLDSchedule`).

The closed forms the chapters check the simulations against:

* :func:`sgd_stationary_covariance` -- the stationary covariance of constant-step SGD on
  :math:`U = \tfrac12 x^\top A x` with noise :math:`C/S`, exactly (discrete Lyapunov equation)
  or to first order in :math:`\eta` (continuous Lyapunov equation, Mandt, Hoffman & Blei 2017);
* :func:`mean_first_passage_time` and :func:`kramers_time` -- escape times from a 1-D well;
* :func:`gradient_noise_scale` and :func:`noise_scale_two_batch` -- McCandlish et al.'s
  :math:`B_\text{simple} = \operatorname{tr}\Sigma / |G|^2`, measured directly from per-example
  gradients and by the two-batch estimator.

And one method that injects noise on purpose: :func:`perturbed_gd`, gradient descent that adds a
small random kick where the gradient is small (Jin et al. 2017), and so leaves strict saddles.

Importing this module does not import torch; ``backend="torch"`` does.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .validation import positive_float, positive_int
from scipy import linalg

__all__ = [
    "Chains",
    "Potential",
    "QuadraticPotential",
    "DoubleWellPotential",
    "CallablePotential",
    "as_potential",
    "simulate",
    "langevin",
    "simulate_sgd_noise",
    "SGLDSchedule",
    "sgld",
    "sgd_stationary_covariance",
    "FirstPassage",
    "first_passage",
    "mean_first_passage_time",
    "kramers_time",
    "NoiseScale",
    "noise_scale_from_examples",
    "gradient_noise_scale",
    "two_batch_estimate",
    "noise_scale_two_batch",
    "perturbed_gd",
]

BACKENDS = ("numpy", "torch")


# --- validation -------------------------------------------------------------------------
_pos_int = positive_int
_pos_float = positive_float


def _check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"Invalid backend: backend={backend!r} (expected one of {BACKENDS})")
    return backend


# --- potentials -----------------------------------------------------------------------
class Potential:
    r"""A potential :math:`U` acting on a batch of points ``X`` of shape ``(n_chains, dim)``.

    ``grad(X)`` returns :math:`\nabla U` row by row, on NumPy arrays or torch tensors alike.
    ``descend_(X, h, buf)`` performs :math:`X \leftarrow X - h\nabla U(X)` in place; subclasses
    override it with allocation-free kernels (``buf`` is a scratch array shaped like ``X``).
    """

    dim: int = 1

    def value(self, X):  # pragma: no cover - optional
        raise NotImplementedError

    def grad(self, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def descend_(self, X, h: float, buf):
        X -= h * self.grad(X)
        return X


def _is_numpy(X) -> bool:
    return isinstance(X, np.ndarray)


class QuadraticPotential(Potential):
    r""":math:`U(x) = \tfrac12 (x - x^\star)^\top A (x - x^\star)`, :math:`\nabla U(x) = A(x - x^\star)` (``A`` symmetric)."""

    def __init__(self, A, x_star=None):
        A = np.atleast_2d(np.asarray(A, dtype=float))
        if A.ndim != 2 or A.shape[0] != A.shape[1] or not np.all(np.isfinite(A)):
            raise ValueError(f"Invalid A: expected a finite square matrix, got shape {A.shape}")
        if not np.allclose(A, A.T, rtol=1e-12, atol=1e-14 * max(1.0, np.abs(A).max())):
            raise ValueError("Invalid A: the Hessian of a quadratic potential must be symmetric")
        self.A = A
        self.dim = A.shape[0]
        self.x_star = np.zeros(self.dim) if x_star is None else np.asarray(x_star, dtype=float).reshape(self.dim)
        self._cache: dict = {}

    def _as(self, X):
        if _is_numpy(X):
            return self.A.astype(X.dtype, copy=False), self.x_star.astype(X.dtype, copy=False)
        key = (X.dtype, X.device)
        if key not in self._cache:
            import torch

            self._cache[key] = (torch.as_tensor(self.A, dtype=X.dtype, device=X.device),
                                torch.as_tensor(self.x_star, dtype=X.dtype, device=X.device))
        return self._cache[key]

    def value(self, X):
        A, xs = self._as(X)
        D = X - xs
        return 0.5 * ((D @ A) * D).sum(-1) if not _is_numpy(X) else 0.5 * np.einsum("ij,jk,ik->i", D, A, D)

    def grad(self, X):
        A, xs = self._as(X)
        return (X - xs) @ A

    def descend_(self, X, h, buf):
        A, xs = self._as(X)
        if np.any(self.x_star):
            return super().descend_(X, h, buf)
        if self.dim == 1:  # X <- (1 - h a) X, one pass
            X *= 1.0 - h * float(self.A[0, 0])
            return X
        if _is_numpy(X):
            np.matmul(X, A, out=buf)
            buf *= h
            X -= buf
        else:
            import torch

            torch.matmul(X, A, out=buf)
            X.add_(buf, alpha=-h)
        return X


class DoubleWellPotential(Potential):
    r"""The 1-D double well :math:`U(x) = H\,((x/w)^2 - 1)^2 + c\,x`.

    :math:`U'(x) = \frac{4H}{w^2}\,x\,((x/w)^2 - 1) + c`. Untilted (:math:`c = 0`): minima at
    :math:`x = \pm w` (:math:`U = 0`, :math:`U'' = 8H/w^2`), barrier at :math:`x = 0`
    (:math:`U = H`, :math:`U'' = -4H/w^2`). ``as_potential`` turns a
    :class:`gdlab.problems.DoubleWell` (``h``, ``tilt``) into this potential with :math:`w = 1`.
    """

    dim = 1

    def __init__(self, height: float = 1.0, width: float = 1.0, tilt: float = 0.0):
        self.height = _pos_float("height", height)
        self.width = _pos_float("width", width)
        self.tilt = float(tilt)
        if not math.isfinite(self.tilt):
            raise ValueError(f"Invalid tilt: tilt={tilt!r} (expected a finite number)")

    @property
    def curvature_min(self) -> float:
        r""":math:`U''(\pm w) = 8H/w^2` (untilted)."""
        return 8.0 * self.height / self.width ** 2

    @property
    def curvature_barrier(self) -> float:
        r""":math:`U''(0) = -4H/w^2`."""
        return -4.0 * self.height / self.width ** 2

    def value(self, X):
        u = (X / self.width) ** 2 - 1.0
        v = self.height * u * u + self.tilt * X
        return v[..., 0] if X.ndim == 2 else v

    def grad(self, X):
        return (4.0 * self.height / self.width ** 2) * X * ((X / self.width) ** 2 - 1.0) + self.tilt

    def descend_(self, X, h, buf):
        c = 4.0 * self.height / self.width ** 2
        iw2 = 1.0 / self.width ** 2
        if _is_numpy(X):
            np.multiply(X, X, out=buf)
            if iw2 != 1.0:
                buf *= iw2
            buf -= 1.0
            buf *= X
            buf *= h * c
            X -= buf
            if self.tilt:
                X -= h * self.tilt
        else:
            import torch

            torch.mul(X, X, out=buf)
            if iw2 != 1.0:
                buf.mul_(iw2)
            buf.sub_(1.0).mul_(X)
            X.add_(buf, alpha=-h * c)
            if self.tilt:
                X.sub_(h * self.tilt)
        return X

    def kramers_time(self, T: float) -> float:
        """Kramers' mean time to leave a well at temperature ``T`` (see :func:`kramers_time`)."""
        return kramers_time(self.height, self.curvature_min, self.curvature_barrier, T)

    def __repr__(self) -> str:
        return f"DoubleWellPotential(height={self.height}, width={self.width}, tilt={self.tilt})"


class CallablePotential(Potential):
    """A potential given by its batched gradient ``grad(X) -> (n_chains, dim)``."""

    def __init__(self, grad: Callable, dim: int):
        if not callable(grad):
            raise ValueError(f"Invalid grad: grad={grad!r} is not callable")
        self._grad = grad
        self.dim = _pos_int("dim", dim)

    def grad(self, X):
        return self._grad(X)


def as_potential(obj, dim: int | None = None) -> Potential:
    """A :class:`Potential` from a potential, a problem with a Hessian ``A`` (a quadratic), or a
    batched gradient callable (then ``dim`` is required)."""
    if isinstance(obj, Potential):
        return obj
    if hasattr(obj, "A") and hasattr(obj, "x_star"):
        return QuadraticPotential(obj.A, obj.x_star)
    if hasattr(obj, "h") and hasattr(obj, "tilt") and getattr(obj, "dim", None) == 1:
        return DoubleWellPotential(height=obj.h, tilt=obj.tilt)  # gdlab.problems.DoubleWell
    if callable(obj):
        if dim is None:
            raise ValueError("Invalid dim: dim=None; a gradient callable needs dim")
        return CallablePotential(obj, dim)
    raise ValueError(f"Invalid potential: {obj!r} (expected a Potential, a quadratic problem or a callable)")


# --- the simulator ----------------------------------------------------------------------
@dataclass
class Chains:
    """Result of a simulation of ``n_chains`` independent chains.

    ``x``: final states, shape ``(n_chains, dim)`` (NumPy, whatever the backend);
    ``trace``: states every ``thin`` steps including the start, shape ``(n_saved, m, dim)``
    for the first ``m = trace_chains`` chains, or ``None``; ``steps_saved``: the step index of
    each saved row; ``n_nonfinite``: chains whose final state has a non-finite entry.
    """

    x: np.ndarray
    trace: np.ndarray | None
    steps_saved: np.ndarray
    n_nonfinite: int
    backend: str
    seconds: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def mean(self) -> np.ndarray:
        return self.x.mean(axis=0)

    @property
    def cov(self) -> np.ndarray:
        return np.atleast_2d(np.cov(self.x, rowvar=False))


def _init_states(x0, n_chains: int, dim: int, backend: str, dtype, device):
    x0 = np.asarray(x0, dtype=float)
    if x0.ndim == 0:
        x0 = np.full(dim, float(x0))
    if x0.shape == (dim,):
        x0 = np.broadcast_to(x0, (n_chains, dim))
    if x0.shape != (n_chains, dim):
        raise ValueError(f"Invalid x0: shape {x0.shape}, expected ({dim},) or ({n_chains}, {dim})")
    if not np.all(np.isfinite(x0)):
        raise ValueError("Invalid x0: non-finite starting point")
    if backend == "numpy":
        return np.array(x0, dtype=dtype or np.float64)
    import torch

    return torch.tensor(np.ascontiguousarray(x0), dtype=dtype or torch.float32, device=device)


#: below this many array entries torch's CPU kernels run faster on one thread than on several
SMALL_TORCH = 1 << 18


class _torch_threads:
    """Temporarily set torch's CPU thread count (``None``: one thread for small arrays, else unchanged).

    Element-wise kernels on a few thousand chains gain nothing from a second thread, and on a
    busy machine the threads' synchronisation can make them many times slower.
    """

    def __init__(self, backend: str, threads: int | None, size: int, device):
        self.n = None
        if backend != "torch" or (device is not None and str(device).startswith("cuda")):
            return
        if threads is None:
            threads = 1 if size < SMALL_TORCH else None
        else:
            threads = _pos_int("threads", threads)
        self.n = threads

    def __enter__(self):
        if self.n is not None:
            import torch

            self.old = torch.get_num_threads()
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self.n is not None:
            import torch

            torch.set_num_threads(self.old)
        return False


def _to_numpy(X) -> np.ndarray:
    return np.array(X, copy=True) if _is_numpy(X) else X.detach().cpu().numpy().copy()


def simulate(potential, x0, steps: int, step: Callable[[int], float] | float,
             noise: Callable[[int], float] | float, n_chains: int = 1000, noise_factor=None,
             backend: str = "numpy", seed: int | None = 0, thin: int | None = None,
             trace_chains: int | None = None, dtype=None, device=None, threads: int | None = None) -> Chains:
    r"""Run :math:`X_t = X_{t-1} - h_t\nabla U(X_{t-1}) + s_t M Z_t` for ``steps`` steps.

    ``step`` (:math:`h_t`) and ``noise`` (:math:`s_t`) are numbers or functions of
    :math:`t = 1, \dots,` ``steps``; ``noise_factor`` is :math:`M` (``dim x dim``) or ``None``
    (:math:`M = I`). Each step draws one fresh standard normal array into a preallocated
    buffer; on torch the drift and the noise are added in place. Chains that end non-finite
    are counted in ``n_nonfinite`` and reported with a ``RuntimeWarning``.

    ``threads`` sets torch's CPU threads for the run (restored afterwards); by default a run on
    fewer than ``SMALL_TORCH`` array entries uses one thread and a larger one keeps torch's setting.
    """
    with _torch_threads(backend, threads, _pos_int("n_chains", n_chains) * as_potential(potential).dim, device):
        return _simulate(potential, x0, steps, step, noise, n_chains, noise_factor, backend, seed, thin,
                         trace_chains, dtype, device)


def _simulate(potential, x0, steps, step, noise, n_chains, noise_factor, backend, seed, thin, trace_chains,
              dtype, device) -> Chains:
    import time

    backend = _check_backend(backend)
    pot = as_potential(potential)
    dim = pot.dim
    steps = _pos_int("steps", steps, minimum=0)
    n_chains = _pos_int("n_chains", n_chains)
    thin = None if thin is None else _pos_int("thin", thin)
    m = n_chains if trace_chains is None else min(_pos_int("trace_chains", trace_chains), n_chains)
    step_fn = step if callable(step) else (lambda t, v=_pos_float("step", step): v)
    noise_fn = noise if callable(noise) else (lambda t, v=_pos_float("noise", noise, allow_zero=True): v)

    X = _init_states(x0, n_chains, dim, backend, dtype, device)
    buf = X.copy() if backend == "numpy" else X.clone()
    Z = X.copy() if backend == "numpy" else X.clone()
    W = None
    if noise_factor is not None:
        Mt = np.asarray(noise_factor, dtype=float)
        if Mt.shape != (dim, dim):
            raise ValueError(f"Invalid noise_factor: shape {Mt.shape}, expected ({dim}, {dim})")
        Mt = Mt.T.copy()
        W = X.copy() if backend == "numpy" else X.clone()
        if backend == "torch":
            import torch

            Mt = torch.as_tensor(Mt, dtype=X.dtype, device=X.device)
        else:
            Mt = Mt.astype(X.dtype)
    if backend == "numpy":
        rng = np.random.default_rng(seed)

        def fill(z):
            rng.standard_normal(out=z, dtype=z.dtype)
    else:
        import torch

        gen = torch.Generator(device=X.device)
        gen.manual_seed(0 if seed is None else int(seed))

        def fill(z):
            z.normal_(generator=gen)

    saved, saved_steps = [], []
    if thin is not None:
        saved.append(_to_numpy(X[:m]))
        saved_steps.append(0)
    t0 = time.perf_counter()
    for t in range(1, steps + 1):
        h = float(step_fn(t))
        s = float(noise_fn(t))
        if not (math.isfinite(h) and h >= 0 and math.isfinite(s) and s >= 0):
            raise ValueError(f"Invalid step or noise at t={t}: step={h}, noise={s}")
        pot.descend_(X, h, buf)
        if s != 0.0:
            fill(Z)
            if W is None:
                if backend == "numpy":
                    Z *= s
                    X += Z
                else:
                    X.add_(Z, alpha=s)
            else:
                if backend == "numpy":
                    np.matmul(Z, Mt, out=W)
                    W *= s
                    X += W
                else:
                    torch.matmul(Z, Mt, out=W)
                    X.add_(W, alpha=s)
        if thin is not None and t % thin == 0:
            saved.append(_to_numpy(X[:m]))
            saved_steps.append(t)
    if backend == "torch" and X.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    x = _to_numpy(X)
    bad = int(np.sum(~np.all(np.isfinite(x), axis=1)))
    if bad:
        warnings.warn(f"{bad} of {n_chains} chains ended with non-finite values (step too large?)",
                      RuntimeWarning, stacklevel=2)
    trace = np.stack(saved) if saved else None
    return Chains(x=x, trace=trace, steps_saved=np.asarray(saved_steps, dtype=int), n_nonfinite=bad,
                  backend=backend, seconds=seconds)


def langevin(potential, x0, T: float, dt: float, steps: int, n_chains: int = 1000, **kw) -> Chains:
    r"""Overdamped Langevin dynamics :math:`dX = -\nabla U(X)\,dt + \sqrt{2T}\,dW` by Euler–Maruyama,

    .. math:: X_{t} = X_{t-1} - \Delta t\,\nabla U(X_{t-1}) + \sqrt{2T\Delta t}\; Z_t .

    Its stationary density is :math:`\propto e^{-U/T}` (up to :math:`O(\Delta t)`): on
    :math:`U = a x^2/2` the variance is :math:`T/a` (exactly :math:`T/(a(1 - a\Delta t/2))`
    for the discretised chain). Keyword arguments go to :func:`simulate` (``backend``,
    ``seed``, ``thin``, ``trace_chains``, ``dtype``, ``device``).
    """
    T = _pos_float("T", T, allow_zero=True)
    dt = _pos_float("dt", dt)
    out = simulate(potential, x0, steps, dt, math.sqrt(2.0 * T * dt), n_chains=n_chains, **kw)
    out.info.update(T=T, dt=dt)
    return out


def simulate_sgd_noise(A, C, lr: float, steps: int, batch_size: int = 1, n_chains: int = 1000,
                       x0=0.0, x_star=None, **kw) -> Chains:
    r"""Constant-step SGD on :math:`U = \tfrac12 (x-x^\star)^\top A (x-x^\star)` with additive gradient
    noise of covariance :math:`C/S`:

    .. math:: x_t = x_{t-1} - \eta\,\big(A(x_{t-1}-x^\star) + \xi_t\big),\qquad \xi_t\sim\mathcal N(0, C/S).

    Its stationary covariance is :func:`sgd_stationary_covariance`.
    """
    pot = QuadraticPotential(A, x_star)
    from .stochastic import covariance_matrix, psd_factor

    Cm = covariance_matrix(C, pot.dim)
    lr = _pos_float("lr", lr)
    S = _pos_int("batch_size", batch_size)
    out = simulate(pot, x0, steps, lr, lr / math.sqrt(S), n_chains=n_chains, noise_factor=psd_factor(Cm), **kw)
    out.info.update(lr=lr, batch_size=S)
    return out


class SGLDSchedule:
    r"""SGLD's step sizes :math:`\epsilon_t = a\,(b + t)^{-\gamma}`, :math:`t = 1, 2, \dots`

    With :math:`\gamma \in (0.5, 1]`, :math:`\sum_t \epsilon_t = \infty` and
    :math:`\sum_t \epsilon_t^2 < \infty` (Welling & Teh 2011). Requires :math:`a > 0`, :math:`b \ge 0`.
    """

    def __init__(self, a: float, b: float = 0.0, gamma: float = 0.55):
        self.a = _pos_float("a", a)
        self.b = _pos_float("b", b, allow_zero=True)
        g = float(gamma)
        if not (0.5 < g <= 1.0):
            raise ValueError(f"Invalid gamma: gamma={gamma!r} (SGLD needs 0.5 < gamma <= 1)")
        self.gamma = g

    def __call__(self, t: int) -> float:
        if t < 1:
            raise ValueError(f"Invalid step index: t={t} (SGLD counts steps from 1)")
        return self.a * (self.b + t) ** (-self.gamma)

    def __repr__(self) -> str:
        return f"SGLDSchedule(a={self.a}, b={self.b}, gamma={self.gamma})"


def sgld(grad_log_post: Callable, x0, schedule: SGLDSchedule, steps: int, n_chains: int = 1000,
         dim: int | None = None, **kw) -> Chains:
    r"""Stochastic gradient Langevin dynamics (Welling & Teh 2011):

    .. math:: \theta_t = \theta_{t-1} + \frac{\epsilon_t}{2}\,\widehat{\nabla\log p}(\theta_{t-1}) + \eta_t,
              \qquad \eta_t\sim\mathcal N(0, \epsilon_t I),

    where ``grad_log_post(theta)`` returns, row by row, an estimate of the gradient of the log
    posterior (for data :math:`x_1..x_N` and a mini-batch of :math:`n`:
    :math:`\nabla\log p(\theta) + \frac Nn\sum_{i}\nabla\log p(x_{t_i}\mid\theta)`) and
    ``schedule`` gives :math:`\epsilon_t`.
    """
    if not isinstance(schedule, SGLDSchedule):
        raise ValueError(f"Invalid schedule: {schedule!r} (expected an SGLDSchedule)")
    if dim is None:
        dim = np.asarray(x0).shape[-1] if np.ndim(x0) else 1
    pot = CallablePotential(lambda X: -grad_log_post(X), dim)
    out = simulate(pot, x0, steps, lambda t: 0.5 * schedule(t), lambda t: math.sqrt(schedule(t)),
                   n_chains=n_chains, **kw)
    out.info.update(schedule=repr(schedule))
    return out


# --- SGD's stationary covariance ----------------------------------------------------------
def sgd_stationary_covariance(A, C, lr: float, batch_size: int = 1, method: str = "exact") -> np.ndarray:
    r"""Stationary covariance of constant-step SGD on :math:`\tfrac12 x^\top A x` with gradient noise :math:`C/S`.

    ``method="exact"`` solves the discrete Lyapunov equation satisfied by the chain
    :math:`x_t = (I - \eta A)x_{t-1} - \eta\xi_t`,

    .. math:: \Sigma = (I - \eta A)\,\Sigma\,(I - \eta A)^\top + \frac{\eta^2}{S}\,C,

    which has a solution when every eigenvalue of :math:`\eta A` lies in :math:`(0, 2)`.
    ``method="first_order"`` drops the :math:`\eta^2 A\Sigma A` term and solves the continuous
    Lyapunov equation of the Ornstein–Uhlenbeck approximation (Mandt, Hoffman & Blei 2017),

    .. math:: A\Sigma + \Sigma A = \frac{\eta}{S}\,C,

    which needs :math:`A` positive definite. In one dimension the two are
    :math:`\eta c/(S a(2 - \eta a))` and :math:`\eta c/(2 S a)`.
    """
    A = np.atleast_2d(np.asarray(A, dtype=float))
    if A.ndim != 2 or A.shape[0] != A.shape[1] or not np.all(np.isfinite(A)):
        raise ValueError(f"Invalid A: expected a finite square matrix, got shape {A.shape}")
    dim = A.shape[0]
    from .stochastic import covariance_matrix

    Cm = covariance_matrix(C, dim)
    lr = _pos_float("lr", lr)
    S = _pos_int("batch_size", batch_size)
    eig = np.linalg.eigvals(A)
    if method == "exact":
        J = np.eye(dim) - lr * A
        rho = np.abs(np.linalg.eigvals(J)).max()
        if rho >= 1.0:
            raise ValueError(f"Invalid lr: lr={lr} makes SGD unstable on A (spectral radius of I - lr*A is "
                             f"{rho:.4g} >= 1); no stationary distribution exists")
        sigma = linalg.solve_discrete_lyapunov(J, lr ** 2 * Cm / S)
    elif method == "first_order":
        if np.min(eig.real) <= 0:
            raise ValueError(f"Invalid A: the first-order covariance needs A positive definite "
                             f"(smallest eigenvalue real part {np.min(eig.real):.4g})")
        sigma = linalg.solve_continuous_lyapunov(A, lr * Cm / S)
    else:
        raise ValueError(f"Invalid method: method={method!r} (expected 'exact' or 'first_order')")
    return 0.5 * (sigma + sigma.T)


# --- escape from a well -----------------------------------------------------------------
@dataclass
class FirstPassage:
    """First-passage times of ``n_chains`` chains (``inf`` where a chain had not crossed by ``t_max``)."""

    times: np.ndarray
    t_max: float
    backend: str
    seconds: float = 0.0

    @property
    def escaped(self) -> np.ndarray:
        return np.isfinite(self.times)

    @property
    def n_censored(self) -> int:
        return int(np.sum(~self.escaped))

    @property
    def mean(self) -> float:
        """Mean first-passage time over the chains that crossed (warns when some had not)."""
        if self.n_censored:
            warnings.warn(f"{self.n_censored} of {self.times.size} chains had not crossed by t_max={self.t_max}; "
                          "the mean is biased low", RuntimeWarning, stacklevel=2)
        if not np.any(self.escaped):
            return float("inf")
        return float(self.times[self.escaped].mean())


def first_passage(potential, x0: float, level: float, T: float, dt: float, max_steps: int,
                  n_chains: int = 1000, backend: str = "numpy", seed: int | None = 0, bridge: bool = True,
                  dtype=None, device=None, compact_every: int = 64, threads: int | None = None) -> FirstPassage:
    r"""First time each 1-D Langevin chain started at ``x0`` reaches ``level``.

    Simulates :math:`dX = -U'(X)\,dt + \sqrt{2T}\,dW` (Euler–Maruyama, step ``dt``) and records
    :math:`\tau = t\,\Delta t` for the first step :math:`t` at which the chain is found past the level.
    Looking only at the end of each step misses crossings inside it and biases :math:`\tau` up by
    :math:`O(\sqrt{\Delta t})`; with ``bridge=True`` a step whose ends :math:`x, x'` both lie on the
    starting side also counts as a crossing with the Brownian-bridge probability

    .. math:: p = \exp\!\Big(-\frac{(x - \ell)(x' - \ell)}{T\,\Delta t}\Big),

    which leaves an :math:`O(\Delta t)` bias. Chains that have crossed are dropped every
    ``compact_every`` steps, so the cost is about ``n_chains x mean time / dt`` chain-steps.
    Compare with :func:`mean_first_passage_time`. ``threads`` as in :func:`simulate`.
    """
    with _torch_threads(_check_backend(backend), threads, _pos_int("n_chains", n_chains), device):
        return _first_passage(potential, x0, level, T, dt, max_steps, n_chains, backend, seed, bridge,
                              dtype, device, compact_every)


def _first_passage(potential, x0, level, T, dt, max_steps, n_chains, backend, seed, bridge, dtype, device,
                   compact_every) -> FirstPassage:
    import time

    backend = _check_backend(backend)
    pot = as_potential(potential)
    if pot.dim != 1:
        raise ValueError(f"Invalid potential: first_passage is for 1-D potentials, got dim={pot.dim}")
    T = _pos_float("T", T)
    dt = _pos_float("dt", dt)
    max_steps = _pos_int("max_steps", max_steps)
    n_chains = _pos_int("n_chains", n_chains)
    compact_every = _pos_int("compact_every", compact_every)
    if not (math.isfinite(x0) and math.isfinite(level)) or x0 == level:
        raise ValueError(f"Invalid x0/level: x0={x0}, level={level} (must be finite and different)")
    side = 1.0 if level < x0 else -1.0  # sign of (x - level) on the starting side
    s = math.sqrt(2.0 * T * dt)
    X = _init_states(float(x0), n_chains, 1, backend, dtype, device)
    times = np.full(n_chains, np.inf)
    ids = np.arange(n_chains)
    numpy_backend = backend == "numpy"
    if numpy_backend:
        rng = np.random.default_rng(seed)
        hit_step = np.full(n_chains, -1)
    else:
        import torch

        gen = torch.Generator(device=X.device)
        gen.manual_seed(0 if seed is None else int(seed))
        hit_step = torch.full((n_chains,), -1, dtype=torch.int64, device=X.device)
    buf = X.copy() if numpy_backend else X.clone()
    Z = X.copy() if numpy_backend else X.clone()
    prev = X.copy() if numpy_backend else X.clone()
    t0 = time.perf_counter()
    for t in range(1, max_steps + 1):
        if bridge:
            if numpy_backend:
                np.copyto(prev, X)
            else:
                prev.copy_(X)
        pot.descend_(X, dt, buf)
        if numpy_backend:
            rng.standard_normal(out=Z, dtype=Z.dtype)
            Z *= s
            X += Z
            d_new = side * (X[:, 0] - level)
            crossed = d_new <= 0
            if bridge:
                prod = d_new * (side * (prev[:, 0] - level))
                crossed |= rng.random(prod.size) < np.exp(-np.maximum(prod, 0.0) / (T * dt))
            new = crossed & (hit_step < 0)
            hit_step[new] = t
        else:
            Z.normal_(generator=gen)
            X.add_(Z, alpha=s)
            d_new = (X[:, 0] - level) * side
            crossed = d_new <= 0
            if bridge:
                prod = d_new * ((prev[:, 0] - level) * side)
                u = torch.rand(prod.shape, generator=gen, dtype=prod.dtype, device=prod.device)
                crossed |= u < torch.exp(-prod.clamp_min(0.0) / (T * dt))
            hit_step.masked_fill_(crossed & (hit_step < 0), t)
        if t % compact_every == 0 or t == max_steps:
            done = hit_step >= 0
            hs = hit_step[done] if numpy_backend else hit_step[done].cpu().numpy()
            dn = done if numpy_backend else done.cpu().numpy()
            times[ids[dn]] = hs * dt
            keep = ~dn
            ids = ids[keep]
            if ids.size == 0:
                break
            if numpy_backend:
                X, buf, Z, prev, hit_step = X[keep], buf[keep], Z[keep], prev[keep], hit_step[keep]
            else:
                kt = torch.as_tensor(keep, device=X.device)
                X, buf, Z, prev, hit_step = (v[kt].contiguous() for v in (X, buf, Z, prev, hit_step))
    nonfinite = int(np.sum(~np.isfinite(_to_numpy(X)))) if ids.size else 0
    if nonfinite:
        warnings.warn(f"{nonfinite} chains became non-finite before crossing (dt too large?)",
                      RuntimeWarning, stacklevel=2)
    return FirstPassage(times=times, t_max=max_steps * dt, backend=backend, seconds=time.perf_counter() - t0)


def mean_first_passage_time(U: Callable[[np.ndarray], np.ndarray], T: float, x0: float, level: float,
                            far: float, n_grid: int = 20001) -> float:
    r"""Exact mean first-passage time of :math:`dX = -U'(X)\,dt + \sqrt{2T}\,dW` from ``x0`` to ``level``.

    For ``level < x0`` (reflecting far away at ``far > x0``, where :math:`e^{-U/T}` is negligible),

    .. math:: \tau(x_0) = \frac1T \int_{\text{level}}^{x_0} e^{U(y)/T} \int_{y}^{\text{far}} e^{-U(z)/T}\,dz\,dy,

    the solution of :math:`T\tau'' - U'\tau' = -1`, :math:`\tau(\text{level}) = 0`; mirrored for
    ``level > x0`` (then ``far < x0``). Computed by the trapezoid rule on ``n_grid`` points.
    """
    from scipy.integrate import cumulative_trapezoid

    T = _pos_float("T", T)
    if not ((level < x0 < far) or (far < x0 < level)):
        raise ValueError(f"Invalid interval: need level < x0 < far or far < x0 < level, got "
                         f"level={level}, x0={x0}, far={far}")
    sign = 1.0 if level < x0 else -1.0
    # work in the coordinate y = sign * x so that the level is on the left
    lo, hi, start = sign * level, sign * far, sign * x0
    y = np.linspace(lo, hi, _pos_int("n_grid", n_grid, minimum=3))
    u = np.asarray(U(sign * y), dtype=float)
    u0 = u.min()
    p = np.exp(-(u - u0) / T)
    cum = cumulative_trapezoid(p, y, initial=0.0)
    inner = cum[-1] - cum  # integral from y to far
    # e^{U/T} * inner is bounded where e^{U/T} alone overflows: multiply in log space
    with np.errstate(divide="ignore"):
        log_inner = np.log(inner)
    integrand = np.where(inner > 0, np.exp((u - u0) / T + log_inner), 0.0) / T
    outer = cumulative_trapezoid(integrand, y, initial=0.0)
    return float(np.interp(start, y, outer))


def kramers_time(barrier: float, curvature_min: float, curvature_barrier: float, T: float) -> float:
    r"""Kramers' mean escape time from a well in the overdamped limit,

    .. math:: \tau_K = \frac{2\pi}{\sqrt{U''(x_\text{min})\,|U''(x_\text{barrier})|}}\; e^{\Delta U / T},

    asymptotically exact as :math:`\Delta U/T \to \infty`; it counts the time to pass well beyond
    the barrier (reaching the barrier top itself takes about half as long).
    """
    barrier = _pos_float("barrier", barrier)
    cm = _pos_float("curvature_min", curvature_min)
    cb = abs(float(curvature_barrier))
    if cb == 0 or not math.isfinite(cb):
        raise ValueError(f"Invalid curvature_barrier: curvature_barrier={curvature_barrier!r} (must be nonzero)")
    T = _pos_float("T", T)
    return 2.0 * math.pi / math.sqrt(cm * cb) * math.exp(barrier / T)


# --- the gradient noise scale -------------------------------------------------------------
@dataclass
class NoiseScale:
    r"""Estimates of :math:`|G|^2`, :math:`\operatorname{tr}\Sigma` and :math:`B_\text{simple} = \operatorname{tr}\Sigma/|G|^2`."""

    g2: float
    tr_sigma: float

    @property
    def b_simple(self) -> float:
        return self.tr_sigma / self.g2 if self.g2 > 0 else float("inf")


def noise_scale_from_examples(per_example_grads) -> NoiseScale:
    r"""The noise scale of uniform sampling from per-example gradients :math:`g_i` (rows):
    :math:`G = \frac1n\sum_i g_i`, :math:`\operatorname{tr}\Sigma = \frac1n\sum_i |g_i - G|^2`
    (the covariance of one example drawn uniformly; McCandlish et al. 2018)."""
    g = np.asarray(per_example_grads, dtype=float)
    if g.ndim != 2 or g.shape[0] < 2:
        raise ValueError(f"Invalid per_example_grads: expected shape (n >= 2, dim), got {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError("Invalid per_example_grads: non-finite entries")
    G = g.mean(axis=0)
    return NoiseScale(g2=float(G @ G), tr_sigma=float(((g - G) ** 2).sum(axis=1).mean()))


def gradient_noise_scale(problem, x, idx=None) -> NoiseScale:
    """:func:`noise_scale_from_examples` on the per-example gradients ``problem.grad_examples(x, idx)``
    (all ``n`` examples by default)."""
    if not hasattr(problem, "grad_examples"):
        raise ValueError(f"Invalid problem: {problem!r} has no grad_examples (not a finite sum)")
    idx = np.arange(problem.n) if idx is None else np.asarray(idx)
    return noise_scale_from_examples(problem.grad_examples(np.asarray(x, dtype=float), idx))


def two_batch_estimate(g_small_sq, g_big_sq, b_small: int, b_big: int) -> NoiseScale:
    r"""McCandlish et al.'s unbiased estimates (App. A.1) from squared norms of two batch gradients,

    .. math::
        |\mathcal G|^2 = \frac{B_\text{big}|G_\text{big}|^2 - B_\text{small}|G_\text{small}|^2}{B_\text{big} - B_\text{small}},
        \qquad
        \mathcal S = \frac{|G_\text{small}|^2 - |G_\text{big}|^2}{1/B_\text{small} - 1/B_\text{big}},

    both averaged over the pairs given (arrays) before the ratio is taken.
    """
    bs, bb = _pos_int("b_small", b_small), _pos_int("b_big", b_big)
    if bb <= bs:
        raise ValueError(f"Invalid b_big: b_big={b_big} must exceed b_small={b_small}")
    s2 = np.asarray(g_small_sq, dtype=float)
    b2 = np.asarray(g_big_sq, dtype=float)
    if s2.shape != b2.shape or not (np.all(np.isfinite(s2)) and np.all(np.isfinite(b2))):
        raise ValueError("Invalid squared norms: g_small_sq and g_big_sq must be finite and of one shape")
    g2 = (bb * b2 - bs * s2) / (bb - bs)
    tr = (s2 - b2) / (1.0 / bs - 1.0 / bb)
    return NoiseScale(g2=float(np.mean(g2)), tr_sigma=float(np.mean(tr)))


def noise_scale_two_batch(problem, x, b_small: int, b_big: int, repeats: int = 100,
                          seed: int | None = 0) -> NoiseScale:
    """The two-batch estimate at ``x``: ``repeats`` batches of ``b_big`` indices drawn uniformly with
    replacement, the first ``b_small`` of each forming the small batch (as one worker's share of a
    data-parallel batch), averaged by :func:`two_batch_estimate`."""
    if not hasattr(problem, "grad_batch"):
        raise ValueError(f"Invalid problem: {problem!r} has no grad_batch (not a finite sum)")
    repeats = _pos_int("repeats", repeats)
    two_batch_estimate(np.zeros(1), np.zeros(1), b_small, b_big)  # validates the sizes
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=float)
    s2 = np.empty(repeats)
    b2 = np.empty(repeats)
    for r in range(repeats):
        idx = rng.integers(0, problem.n, size=b_big)
        gs = np.asarray(problem.grad_batch(x, idx[:b_small]), dtype=float)
        gb = np.asarray(problem.grad_batch(x, idx), dtype=float)
        s2[r], b2[r] = gs @ gs, gb @ gb
    return two_batch_estimate(s2, b2, b_small, b_big)


# --- perturbed gradient descent -----------------------------------------------------------
def perturbed_gd(potential, X0, lr: float, steps: int, g_thres: float = 1e-3, t_thres: int = 50,
                 radius: float = 1e-2, seed: int | None = 0, thin: int | None = None) -> Chains:
    r"""Perturbed gradient descent (Jin, Ge, Netrapalli, Kakade & Jordan 2017) on many chains at once.

    Each chain (a row of ``X0``, shape ``(n_chains, dim)``) runs gradient descent with step
    :math:`\eta` (``lr``), and at step :math:`k = 0, 1, \dots` is first kicked if its gradient is
    small and it has not been kicked for more than :math:`t_\text{thres}` steps:

    .. math::
        &\text{if } \|\nabla U(x_k)\| \le g_\text{thres} \text{ and } k - k_\text{last} > t_\text{thres}:
        \quad x_k \leftarrow x_k + \xi_k,\ \ \xi_k \sim \operatorname{Uniform}(B_r(0)),\ \ k_\text{last} = k; \\
        &x_{k+1} = x_k - \eta\,\nabla U(x_k),

    with :math:`B_r(0)` the ball of radius :math:`r` (``radius``; a uniform draw is
    :math:`r\,U^{1/d} z/\|z\|` with :math:`z` standard normal and :math:`U` uniform on [0, 1]).
    Before the first kick :math:`k_\text{last} = -t_\text{thres} - 1`, so a chain that starts at
    a stationary point is kicked at once. Near a strict saddle the kick puts the chain off the
    stable manifold, and gradient descent then escapes in a number of steps logarithmic in
    :math:`1/r`; at a minimum the kicks are undone by the descent.

    ``potential`` is a :class:`Potential`, a quadratic problem, or a batched gradient
    ``grad(X) -> (n_chains, dim)``. Returns a :class:`Chains`; ``info["kicks"]`` counts the
    kicks of each chain. Chains that end non-finite are counted in ``n_nonfinite`` and reported
    with a ``RuntimeWarning``.
    """
    import time

    X = np.array(X0, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"Invalid X0: expected an array (n_chains, dim), got shape {np.shape(X0)}")
    n, dim = X.shape
    pot = as_potential(potential, dim)
    lr = _pos_float("lr", lr)
    steps = _pos_int("steps", steps, minimum=0)
    g_thres = _pos_float("g_thres", g_thres, allow_zero=True)
    t_thres = _pos_int("t_thres", t_thres, minimum=0)
    radius = _pos_float("radius", radius)
    thin = None if thin is None else _pos_int("thin", thin)
    rng = np.random.default_rng(seed)
    last = np.full(n, -t_thres - 1)                    # step of each chain's last kick
    kicks = np.zeros(n, dtype=int)
    saved, saved_steps = ([X.copy()], [0]) if thin is not None else ([], [])
    t0 = time.perf_counter()
    for k in range(steps):
        G = pot.grad(X)
        kick = (np.linalg.norm(G, axis=1) <= g_thres) & (k - last > t_thres)
        if kick.any():
            m = int(kick.sum())
            u = rng.standard_normal((m, dim))
            u *= radius * rng.uniform(size=(m, 1)) ** (1 / dim) / np.linalg.norm(u, axis=1, keepdims=True)
            X[kick] += u
            last[kick] = k
            kicks[kick] += 1
            G = pot.grad(X)
        X = X - lr * G
        if thin is not None and (k + 1) % thin == 0:
            saved.append(X.copy())
            saved_steps.append(k + 1)
    seconds = time.perf_counter() - t0
    bad = int(np.sum(~np.all(np.isfinite(X), axis=1)))
    if bad:
        warnings.warn(f"perturbed_gd: {bad} of {n} chains ended with non-finite values (step too large?)",
                      RuntimeWarning, stacklevel=2)
    out = Chains(x=X, trace=np.stack(saved) if saved else None, steps_saved=np.asarray(saved_steps, dtype=int),
                 n_nonfinite=bad, backend="numpy", seconds=seconds)
    out.info.update(lr=lr, g_thres=g_thres, t_thres=t_thres, radius=radius, kicks=kicks)
    return out
