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
* :func:`mean_first_passage_time` and :func:`kramers_time` -- escape times from a 1-D well, with
  :func:`kramers_correction`, the first correction to Kramers' law, and :func:`escape_times`, which measures them
  at several temperatures; :func:`well_occupancy` -- the time chains spend in a well, with its standard error;
* :func:`gradient_noise_scale` and :func:`noise_scale_two_batch` -- McCandlish et al.'s
  :math:`B_\text{simple} = \operatorname{tr}\Sigma / |G|^2`, measured directly from per-example
  gradients and by the two-batch estimator.
* :func:`minibatch_error` -- :math:`\mathbb E|g_\mathcal{B} - G|^2` with and without replacement (the
  finite-population correction), measured by :func:`measure_minibatch_error` from an oracle's draws;
* :func:`steps_to_target` and :func:`critical_batch_fit` -- the steps :math:`S(B)` SGD needs to reach a target
  and McCandlish et al.'s fit :math:`S = S_{\min}(1 + B_\text{crit}/B)`;
* :func:`sgd_second_moment` -- the exact :math:`\mathbb E\|w_k - w^\star\|^2` of single-example SGD on least
  squares (a linear recursion of the second moment).
* :func:`window_zscores` -- chains against an exact expectation, in standard errors, window by window.

And one method that injects noise on purpose: :func:`perturbed_gd`, gradient descent that adds a
small random kick where the gradient is small (Jin et al. 2017), and so leaves strict saddles.

Importing this module does not import torch; ``backend="torch"`` does.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

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
    "ScheduledSGD",
    "sgd_schedule_exact",
    "sgd_schedule_error",
    "SGLDSchedule",
    "sgld",
    "sgd_stationary_covariance",
    "covariance_z",
    "boltzmann_bins",
    "tv_distance",
    "Temperature",
    "boltzmann_temperature",
    "FirstPassage",
    "first_passage",
    "mean_first_passage_time",
    "kramers_time",
    "kramers_correction",
    "EscapeTimes",
    "escape_times",
    "mean_ratio",
    "Occupancy",
    "well_occupancy",
    "NoiseScale",
    "noise_scale_from_examples",
    "gradient_noise_scale",
    "two_batch_estimate",
    "noise_scale_two_batch",
    "minibatch_error",
    "MinibatchError",
    "measure_minibatch_error",
    "StepsToTarget",
    "steps_to_target",
    "CriticalBatch",
    "critical_batch_fit",
    "sgd_second_moment_operator",
    "SecondMoment",
    "sgd_second_moment",
    "window_zscores",
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

    @property
    def kramers_correction(self) -> float:
        r"""The :math:`c` of :math:`\tau = \tau_K(1 + cT + O(T^2))` (:func:`kramers_correction`), untilted:
        :math:`U''' = \mp 24H/w^3` at the minima, 0 at the barrier, :math:`U'''' = 24H/w^4` everywhere, so
        :math:`c = 3/(8H)`."""
        w = self.width
        return kramers_correction(self.curvature_min, self.curvature_barrier,
                                  third_min=-24.0 * self.height / w ** 3, fourth_min=24.0 * self.height / w ** 4,
                                  third_barrier=0.0, fourth_barrier=24.0 * self.height / w ** 4)

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


@dataclass(frozen=True)
class ScheduledSGD:
    r"""The mean squared distance :math:`e_k = \mathbb E\|x_k - x^\star\|^2`, :math:`k = 0, \dots, K`, of SGD under
    a schedule (:func:`sgd_schedule_error`): ``mean`` and its standard error ``sem`` measured over ``n_chains``
    independent runs, and ``exact``, the expectation computed without sampling."""

    mean: np.ndarray
    sem: np.ndarray
    exact: np.ndarray
    n_chains: int

    @property
    def z(self) -> np.ndarray:
        r""":math:`|\text{mean} - \text{exact}|/\text{sem}` at every step. Where the runs are all alike (at
        :math:`k = 0`, or without noise) the standard error is zero or a rounding error, so it is replaced by
        :math:`10^{-12}\max_k e_k`: two sides that agree to rounding then score near 0, and a real difference scores
        high."""
        diff = np.abs(self.mean - self.exact)
        tiny = 1e-12 * max(float(np.max(np.abs(self.exact))), 1e-300)
        return diff / np.maximum(self.sem, tiny)

    @property
    def max_z(self) -> float:
        """The largest :attr:`z` over the run: the measurement's worst deviation from the exact value, in standard
        errors."""
        return float(np.max(self.z))


def _schedule_args(A, lrs, sigma, x0, x_star):
    A = np.atleast_2d(np.asarray(A, dtype=float))
    if A.ndim != 2 or A.shape[0] != A.shape[1] or not np.all(np.isfinite(A)) or not np.allclose(A, A.T):
        raise ValueError(f"Invalid A: expected a finite symmetric matrix, got shape {A.shape}")
    dim = A.shape[0]
    a = np.asarray(lrs, dtype=float).ravel()
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError("Invalid lrs: expected finite non-negative step sizes")
    sigma = _pos_float("sigma", sigma, allow_zero=True)
    x_star = np.zeros(dim) if x_star is None else np.asarray(x_star, dtype=float)
    x0 = x_star + 1.0 if x0 is None else np.asarray(x0, dtype=float)
    if x0.shape != (dim,) or x_star.shape != (dim,):
        raise ValueError(f"Invalid x0 or x_star: expected shape ({dim},), got {x0.shape} and {x_star.shape}")
    return A, a, sigma, x0, x_star


def sgd_schedule_exact(A, lrs, sigma: float = 1.0, x0=None, x_star=None) -> np.ndarray:
    r"""The exact :math:`e_k = \mathbb E\|x_k - x^\star\|^2`, :math:`k = 0, \dots, K`, of the SGD of
    :func:`sgd_schedule_error`, without sampling: along an eigenvector :math:`q_i` of :math:`A` (eigenvalue
    :math:`\lambda_i`) the component :math:`z_i = q_i^\top(x - x^\star)` obeys
    :math:`\mathbb E z_i^2 \leftarrow (1-\alpha_k\lambda_i)^2\,\mathbb E z_i^2 + \alpha_k^2\sigma^2/d`, since the
    noise is independent of :math:`x_k`, has mean zero and covariance :math:`\sigma^2 I/d`."""
    A, a, sigma, x0, x_star = _schedule_args(A, lrs, sigma, x0, x_star)
    lam, Q = np.linalg.eigh(A)
    z = (Q.T @ (x0 - x_star)) ** 2
    exact = np.empty(a.size + 1)
    exact[0] = z.sum()
    for k, step in enumerate(a):
        z = (1.0 - step * lam) ** 2 * z + step ** 2 * sigma ** 2 / A.shape[0]
        exact[k + 1] = z.sum()
    return exact


def sgd_schedule_error(A, lrs, sigma: float = 1.0, x0=None, x_star=None, n_chains: int = 400,
                       seed: int | None = 0) -> ScheduledSGD:
    r"""SGD on :math:`\tfrac12 (x-x^\star)^\top A (x-x^\star)` with isotropic Gaussian gradient noise, under the
    step sizes ``lrs`` (:math:`\alpha_0, \dots, \alpha_{K-1}`, e.g. ``schedule.values(K)``):

    .. math:: x_{k+1} - x^\star = x_k - x^\star - \alpha_k\big(A(x_k - x^\star) + \xi_k\big),\qquad
              \xi_k \sim \mathcal N(0, \sigma^2 I/d),\quad \mathbb E\|\xi_k\|^2 = \sigma^2 .

    ``mean`` and ``sem`` are measured over ``n_chains`` independent runs from ``x0`` (vectorised, seeded), and
    ``exact`` is :func:`sgd_schedule_exact`. ``x0`` defaults to :math:`x^\star + \mathbf 1`.
    """
    A, a, sigma, x0, x_star = _schedule_args(A, lrs, sigma, x0, x_star)
    n_chains = _pos_int("n_chains", n_chains, minimum=2)
    exact = sgd_schedule_exact(A, a, sigma, x0, x_star)
    mean, sem = np.empty(a.size + 1), np.empty(a.size + 1)
    rng = np.random.default_rng(seed)
    E = np.tile(x0 - x_star, (n_chains, 1))
    s = sigma / math.sqrt(A.shape[0])
    for k in range(a.size + 1):
        sq = np.sum(E * E, axis=1)
        mean[k], sem[k] = sq.mean(), sq.std(ddof=1) / math.sqrt(n_chains)
        if k == a.size:
            break
        E = E - a[k] * (E @ A + s * rng.standard_normal(E.shape))
    return ScheduledSGD(mean, sem, exact, n_chains)


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


def covariance_z(sample_cov, cov, n: int) -> np.ndarray:
    r"""How many standard errors separate a sample covariance of ``n`` independent Gaussian draws from ``cov``,
    entry by entry: :math:`|\hat\Sigma_{ij} - \Sigma_{ij}|/\sqrt{(\Sigma_{ij}^2 + \Sigma_{ii}\Sigma_{jj})/(n-1)}`,
    the variance of :math:`\hat\Sigma_{ij}` when the draws are :math:`\mathcal N(\mu, \Sigma)` (Wishart)."""
    S_hat = np.atleast_2d(np.asarray(sample_cov, dtype=float))
    S = np.atleast_2d(np.asarray(cov, dtype=float))
    if S_hat.shape != S.shape or S.shape[0] != S.shape[1]:
        raise ValueError(f"Invalid covariances: shapes {S_hat.shape} and {S.shape} (expected one square shape)")
    n = _pos_int("n", n, minimum=2)
    d = np.diag(S)
    if np.any(d <= 0):
        raise ValueError("Invalid cov: its diagonal must be positive")
    se = np.sqrt((S ** 2 + np.outer(d, d)) / (n - 1))
    return np.abs(S_hat - S) / se


def boltzmann_bins(potential, T: float, edges, lo: float = -4.0, hi: float = 4.0, n_grid: int = 20001) -> np.ndarray:
    r"""The probabilities of the bins ``edges`` under the Boltzmann density :math:`e^{-U/T}/Z` of a 1-D potential,
    by the trapezoid rule on ``n_grid`` points of :math:`[\text{lo}, \text{hi}]` (which must hold all the mass)."""
    pot = as_potential(potential)
    T = _pos_float("T", T)
    x = np.linspace(float(lo), float(hi), _pos_int("n_grid", n_grid, minimum=3))
    u = np.asarray(pot.value(x[:, None]), dtype=float).ravel()
    w = np.exp(-(u - u.min()) / T)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]) * np.diff(x))])
    return np.diff(np.interp(np.asarray(edges, dtype=float), x, cdf / cdf[-1]))


def tv_distance(samples, probs, edges) -> float:
    r"""Total variation :math:`\tfrac12\sum_k|\hat p_k - p_k|` between the histogram of ``samples`` on ``edges`` and the
    bin probabilities ``probs``, the mass outside the bins counted on both sides."""
    s = np.asarray(samples, dtype=float).ravel()
    p = np.asarray(probs, dtype=float)
    frac = np.histogram(s, bins=np.asarray(edges, dtype=float))[0] / s.size
    if frac.shape != p.shape:
        raise ValueError(f"Invalid probs: {p.size} bins for {frac.size} bins of edges")
    return float(0.5 * (np.abs(frac - p).sum() + (1 - frac.sum()) + (1 - p.sum())))


class Temperature(NamedTuple):
    """A temperature estimated from samples of a Boltzmann density, and its standard error."""

    T: float
    stderr: float


def boltzmann_temperature(potential, samples, lo: float = -4.0, hi: float = 4.0, n_grid: int = 20001,
                          T_range=(1e-3, 1e3)) -> Temperature:
    r"""The maximum-likelihood temperature of the family :math:`p_T \propto e^{-U/T}` given samples of a 1-D
    potential: the :math:`T` at which the Boltzmann mean of :math:`U` equals the samples' mean of :math:`U`
    (:math:`\sum_i U(x_i)` is sufficient for :math:`1/T`).

    ``samples`` has shape ``(chains,)`` or ``(times, chains)``: each chain's mean of :math:`U` over its times is one
    observation (times along one chain may be correlated; chains must be independent), and the standard error is
    that of the mean over chains, carried to :math:`T` by the slope :math:`d\,\mathbb E_T U/dT = \operatorname{Var}_T U/T^2`.
    The Boltzmann means are integrals on ``n_grid`` points of :math:`[\text{lo}, \text{hi}]`.
    """
    from scipy.integrate import trapezoid
    from scipy.optimize import brentq

    pot = as_potential(potential)
    s = np.asarray(samples, dtype=float)
    s = s[None, :] if s.ndim == 1 else s
    if s.ndim != 2 or s.shape[1] < 2 or not np.all(np.isfinite(s)):
        raise ValueError(f"Invalid samples: expected finite values of shape (chains,) or (times, chains), got {s.shape}")
    per_chain = np.asarray(pot.value(s.reshape(-1, 1)), dtype=float).reshape(s.shape).mean(axis=0)
    u_bar = float(per_chain.mean())
    x = np.linspace(float(lo), float(hi), _pos_int("n_grid", n_grid, minimum=3))
    u = np.asarray(pot.value(x[:, None]), dtype=float).ravel()

    def moments(T):
        w = np.exp(-(u - u.min()) / T)
        Z = trapezoid(w, x)
        m = trapezoid(w * u, x) / Z
        return m, trapezoid(w * (u - m) ** 2, x) / Z

    lo_T, hi_T = (_pos_float("T_range", v) for v in T_range)
    T_hat = brentq(lambda T: moments(T)[0] - u_bar, lo_T, hi_T, xtol=1e-14, rtol=1e-12)
    slope = moments(T_hat)[1] / T_hat ** 2
    se_u = float(per_chain.std(ddof=1) / math.sqrt(per_chain.size))
    return Temperature(float(T_hat), se_u / slope)


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

    def select(self, chains) -> "FirstPassage":
        """The same run restricted to some of its chains (an index array or a boolean mask)."""
        return FirstPassage(times=np.asarray(self.times)[chains], t_max=self.t_max, backend=self.backend,
                            seconds=self.seconds)

    @property
    def stderr(self) -> float:
        """The standard error of :attr:`mean`: the sample standard deviation over the chains that crossed, divided
        by the square root of their number (``nan`` for fewer than two)."""
        t = self.times[self.escaped]
        if t.size < 2:
            return float("nan")
        return float(t.std(ddof=1) / math.sqrt(t.size))


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

    On the NumPy backend ``x0`` and ``T`` may also be arrays of shape ``(n_chains,)``, one start and one
    temperature per chain (each chain's starting side of ``level`` is its own): several experiments then share one
    loop, whose length is set by the slowest chain of all (:meth:`FirstPassage.select` takes one experiment's
    chains back out).
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
    dt = _pos_float("dt", dt)
    max_steps = _pos_int("max_steps", max_steps)
    n_chains = _pos_int("n_chains", n_chains)
    compact_every = _pos_int("compact_every", compact_every)
    numpy_backend = backend == "numpy"
    per_chain = np.ndim(x0) > 0 or np.ndim(T) > 0
    if per_chain and not numpy_backend:
        raise ValueError("Invalid x0/T: one start or temperature per chain needs backend='numpy'")
    if per_chain:  # one start and one temperature per chain (scalars are broadcast)
        try:
            x0_v = np.broadcast_to(np.asarray(x0, dtype=float), (n_chains,)).copy()
            T_v = np.broadcast_to(np.asarray(T, dtype=float), (n_chains,)).copy()
        except ValueError:
            raise ValueError(f"Invalid x0/T: shapes {np.shape(x0)} and {np.shape(T)} do not give one value per "
                             f"chain (n_chains={n_chains})") from None
        if not (np.all(np.isfinite(T_v)) and np.all(T_v > 0)):
            raise ValueError(f"Invalid T: every temperature must be a finite positive number, got {T!r}")
    else:
        x0_v, T_v = np.full(n_chains, float(x0)), np.full(n_chains, _pos_float("T", T))
    if not (np.all(np.isfinite(x0_v)) and math.isfinite(level)) or np.any(x0_v == level):
        raise ValueError(f"Invalid x0/level: x0={x0}, level={level} (must be finite and different)")
    side = np.where(level < x0_v, 1.0, -1.0)  # sign of (x - level) on each chain's starting side
    s = np.sqrt(2.0 * T_v * dt)[:, None]
    Tdt = T_v * dt
    if not per_chain:
        side, s, Tdt = float(side[0]), math.sqrt(2.0 * float(T_v[0]) * dt), float(T_v[0]) * dt
    X = _init_states(x0_v[:, None] if per_chain else float(x0), n_chains, 1, backend, dtype, device)
    times = np.full(n_chains, np.inf)
    ids = np.arange(n_chains)
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
                crossed |= rng.random(prod.size) < np.exp(-np.maximum(prod, 0.0) / Tdt)
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
                crossed |= u < torch.exp(-prod.clamp_min(0.0) / Tdt)
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
                if per_chain:
                    side, s, Tdt = side[keep], s[keep], Tdt[keep]
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


def kramers_correction(curvature_min: float, curvature_barrier: float, third_min: float = 0.0,
                       fourth_min: float = 0.0, third_barrier: float = 0.0, fourth_barrier: float = 0.0) -> float:
    r"""The first correction to Kramers' law: the :math:`c` of :math:`\tau = \tau_K\,\big(1 + cT + O(T^2)\big)`.

    Laplace's method to one more order: for :math:`g` with a non-degenerate minimum at :math:`x_0`,

    .. math::
        \int e^{-g/T} = \sqrt{2\pi T/g''}\, e^{-g(x_0)/T}
        \Big(1 + T\Big(\frac{5\,g'''^2}{24\,g''^3} - \frac{g''''}{8\,g''^2}\Big) + O(T^2)\Big),

    applied to the well (:math:`g = U` at the minimum :math:`a`) and to the barrier (:math:`g = -U` at its top
    :math:`b`) of the exact formula (:func:`mean_first_passage_time`):

    .. math::
        c = \frac{5\,U'''(a)^2}{24\,k_a^3} - \frac{U''''(a)}{8\,k_a^2}
          + \frac{5\,U'''(b)^2}{24\,k_b^3} + \frac{U''''(b)}{8\,k_b^2},
        \qquad k_a = U''(a),\ k_b = |U''(b)|.

    The derivatives are those of :math:`U` at the minimum (``third_min``, ``fourth_min``) and at the barrier top
    (``third_barrier``, ``fourth_barrier``). For the double well :math:`H(x^2-1)^2`, :math:`c = 3/(8H)`.
    """
    ka = _pos_float("curvature_min", curvature_min)
    kb = abs(float(curvature_barrier))
    if kb == 0 or not math.isfinite(kb):
        raise ValueError(f"Invalid curvature_barrier: curvature_barrier={curvature_barrier!r} (must be nonzero)")
    d = [float(v) for v in (third_min, fourth_min, third_barrier, fourth_barrier)]
    if not all(math.isfinite(v) for v in d):
        raise ValueError(f"Invalid derivatives: {d} (expected finite numbers)")
    u3a, u4a, u3b, u4b = d
    return (5.0 * u3a ** 2 / (24.0 * ka ** 3) - u4a / (8.0 * ka ** 2)
            + 5.0 * u3b ** 2 / (24.0 * kb ** 3) + u4b / (8.0 * kb ** 2))


def _wls_slope(x, y, w) -> tuple[float, float]:
    """Weighted least-squares slope of y against x and its standard error (weights = 1/variance of y)."""
    W = float(np.sum(w))
    xb, yb = float(np.sum(w * x)) / W, float(np.sum(w * y)) / W
    sxx = float(np.sum(w * (x - xb) ** 2))
    return float(np.sum(w * (x - xb) * (y - yb))) / sxx, 1.0 / math.sqrt(sxx)


@dataclass(frozen=True)
class EscapeTimes:
    r"""Mean escape times measured at several temperatures (:func:`escape_times`), beside the exact formula and
    Kramers' law.

    Arrays over ``temps``: ``measured`` (the mean first-passage time of ``n_chains`` chains), ``stderr`` (its standard
    error), ``exact`` (:func:`mean_first_passage_time`) and ``kramers`` (:func:`kramers_time`, the leading order);
    ``barrier`` is :math:`\Delta U`, ``correction`` the :math:`c` of :func:`kramers_correction`, ``longest`` the
    longest time a chain needed at each temperature and ``t_max`` the time the run allowed (``horizon`` exact mean
    times at the coldest temperature); ``n_censored`` counts the chains that had not crossed by then (they are left
    out of the means).
    """

    temps: np.ndarray
    measured: np.ndarray
    stderr: np.ndarray
    exact: np.ndarray
    kramers: np.ndarray
    barrier: float
    correction: float
    n_chains: int
    longest: np.ndarray
    t_max: float
    n_censored: int

    @property
    def weights(self) -> np.ndarray:
        r"""Weights of :math:`\log\hat\tau` at each temperature: the inverse of its variance, :math:`(\hat\tau/\mathrm{se})^2`."""
        return (self.measured / self.stderr) ** 2

    def z(self, bias: float = 0.0) -> np.ndarray:
        r""":math:`\max(|\hat\tau - \tau| - \text{bias}\cdot\tau,\ 0)/\mathrm{se}` at each temperature: the distance
        of the measured mean from the exact formula in standard errors, after allowing a relative discretisation
        bias ``bias``."""
        return np.maximum(np.abs(self.measured - self.exact) - bias * self.exact, 0.0) / self.stderr

    def slope(self) -> tuple[float, float]:
        r"""The slope of :math:`\log\hat\tau` against :math:`1/T` by weighted least squares, and its standard error."""
        return _wls_slope(1.0 / self.temps, np.log(self.measured), self.weights)

    def exact_slope(self) -> float:
        r"""The same fit (same weights) of :math:`\log\tau` from the exact formula."""
        return _wls_slope(1.0 / self.temps, np.log(self.exact), self.weights)[0]

    @property
    def kramers_prefactor(self) -> float:
        r"""Kramers' prefactor :math:`\tau_K e^{-\Delta U/T}` (:math:`2\pi/\sqrt{k_a k_b}`), as :func:`kramers_time`
        computes it."""
        return float(self.kramers[0] * math.exp(-self.barrier / self.temps[0]))

    def prefactor(self) -> tuple[float, float]:
        r"""The prefactor read off the measurements, :math:`\hat A = \hat\tau\,e^{-\Delta U/T}/(1 + cT)`, pooled over
        the temperatures on the log scale with :attr:`weights`; returns :math:`\hat A` and the standard error of
        :math:`\log\hat A`."""
        w = self.weights
        log_a = np.log(self.measured) - self.barrier / self.temps - np.log1p(self.correction * self.temps)
        return float(math.exp(float(np.sum(w * log_a)) / float(np.sum(w)))), 1.0 / math.sqrt(float(np.sum(w)))

    def remainder(self, prefactor: float) -> float:
        r"""The largest :math:`|\tau/(A\,e^{\Delta U/T}(1 + cT)) - 1|` over the temperatures, for the prefactor
        :math:`A` given: with the right :math:`A` it is the size of the :math:`O(T^2)` terms that the first
        correction leaves, computed from the exact formula."""
        pred = float(prefactor) * np.exp(self.barrier / self.temps) * (1.0 + self.correction * self.temps)
        return float(np.max(np.abs(self.exact / pred - 1.0)))


def escape_times(potential, U: Callable, x0: float, level: float, far: float, temps, dt: float,
                 n_chains: int = 1000, seed: int | None = 0, horizon: float = 25.0, barrier: float | None = None,
                 curvature_min: float | None = None, curvature_barrier: float | None = None,
                 correction: float | None = None, n_grid: int = 20001) -> EscapeTimes:
    r"""Measure the mean escape time at each temperature of ``temps`` and set it beside the theory.

    One run of :func:`first_passage` (step ``dt``, bridge correction on, seeded with ``seed``) moves ``n_chains``
    chains per temperature from ``x0`` to ``level``, for at most ``horizon`` times the exact mean time of
    :func:`mean_first_passage_time` at the coldest temperature (``U`` is the potential's value, ``far`` the
    reflecting end), and :func:`kramers_time` gives the leading order. For a :class:`DoubleWellPotential` the barrier,
    the curvatures and :func:`kramers_correction` come from the potential; otherwise pass them.
    """
    pot = as_potential(potential)
    if isinstance(pot, DoubleWellPotential):
        barrier = pot.height if barrier is None else barrier
        curvature_min = pot.curvature_min if curvature_min is None else curvature_min
        curvature_barrier = pot.curvature_barrier if curvature_barrier is None else curvature_barrier
        correction = pot.kramers_correction if correction is None else correction
    if barrier is None or curvature_min is None or curvature_barrier is None:
        raise ValueError("Invalid potential: pass barrier, curvature_min and curvature_barrier for a potential "
                         "that is not a DoubleWellPotential")
    correction = 0.0 if correction is None else float(correction)
    temps = np.atleast_1d(np.asarray(temps, dtype=float))
    if temps.ndim != 1 or temps.size < 2 or not np.all(temps > 0):
        raise ValueError(f"Invalid temps: {temps!r} (expected at least two positive temperatures)")
    horizon = _pos_float("horizon", horizon)
    n_chains = _pos_int("n_chains", n_chains)
    exact = np.array([mean_first_passage_time(U, float(T), x0, level, far, n_grid=n_grid) for T in temps])
    # all temperatures in one run (n_chains chains each): the coldest sets its length
    fp = first_passage(pot, x0, level, np.repeat(temps, n_chains), dt=dt,
                       max_steps=max(1, int(horizon * exact.max() / dt)), n_chains=n_chains * temps.size, seed=seed)
    rows = []
    for i, T in enumerate(temps):
        run = fp.select(slice(i * n_chains, (i + 1) * n_chains))
        t = run.times[run.escaped]
        rows.append((float(t.mean()) if t.size else math.inf, run.stderr,
                     kramers_time(barrier, curvature_min, curvature_barrier, float(T)),
                     float(t.max()) if t.size else math.inf, run.n_censored))
    m, se, kr, longest, cens = (np.array(c) for c in zip(*rows))
    return EscapeTimes(temps=temps, measured=m, stderr=se, exact=exact, kramers=kr, barrier=float(barrier),
                       correction=correction, n_chains=n_chains, longest=longest, t_max=fp.t_max,
                       n_censored=int(cens.sum()))


def mean_ratio(a: FirstPassage, b: FirstPassage) -> tuple[float, float]:
    r"""The ratio of the mean first-passage times of two independent runs, :math:`\bar\tau_a/\bar\tau_b`, and its
    standard error by the delta method, :math:`r\sqrt{(\mathrm{se}_a/\bar\tau_a)^2 + (\mathrm{se}_b/\bar\tau_b)^2}`."""
    r = a.mean / b.mean
    return float(r), float(r * math.hypot(a.stderr / a.mean, b.stderr / b.mean))


class Occupancy(NamedTuple):
    """The fraction of time spent left of a point, over independent chains: ``fraction`` :math:`p`, the odds
    ``ratio`` :math:`p/(1-p)` and its standard error ``stderr``."""

    fraction: float
    ratio: float
    stderr: float


def well_occupancy(samples, b: float) -> Occupancy:
    r"""How much of their time chains spend left of ``b`` (in the left well of a double well).

    ``samples`` has shape ``(n_saved, n_chains)`` (or ``(n_saved, n_chains, 1)``): states of independent chains at
    saved times. Each chain's fraction :math:`p_j` of saved states below ``b`` is one independent measurement, so the
    standard error of :math:`p = \bar p_j` is :math:`\mathrm{sd}(p_j)/\sqrt{n}` however correlated a chain's own
    states are, and the odds :math:`p/(1-p)` get theirs by the delta method, :math:`\mathrm{se}_p/(1-p)^2`.
    """
    x = np.asarray(samples, dtype=float)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[..., 0]
    if x.ndim != 2 or x.shape[1] < 2 or x.shape[0] < 1:
        raise ValueError(f"Invalid samples: expected shape (n_saved, n_chains >= 2), got {np.shape(samples)}")
    p_j = np.mean(x < b, axis=0)
    p = float(p_j.mean())
    if not 0 < p < 1:
        raise ValueError(f"Invalid samples: a fraction {p} of the states lie left of b={b}; both wells must be visited")
    se = float(p_j.std(ddof=1) / math.sqrt(p_j.size))
    return Occupancy(fraction=p, ratio=p / (1 - p), stderr=se / (1 - p) ** 2)


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


def minibatch_error(tr_sigma: float, batch_size: int, n: int | None = None) -> float:
    r"""The expected squared error :math:`\mathbb E|g_\mathcal{B} - G|^2` of a mini-batch gradient of :math:`B`
    examples, for per-example gradients of covariance trace :math:`\operatorname{tr}\Sigma` (``tr_sigma``):

    .. math:: \frac{\operatorname{tr}\Sigma}{B}\ \text{(indices independent and uniform, ``n=None``)},\qquad
              \frac{\operatorname{tr}\Sigma}{B}\,\frac{n-B}{n-1}\ \text{(a uniformly random subset of the } n\text{)},

    the second with the finite-population correction :math:`(n-B)/(n-1) = 1 - (B-1)/(n-1)`, which is 1 at
    :math:`B = 1` and 0 at :math:`B = n`. Divided by :math:`|G|^2` this is :math:`B_\text{simple}/B` (times the
    correction).
    """
    tr = _pos_float("tr_sigma", tr_sigma, allow_zero=True)
    B = _pos_int("batch_size", batch_size)
    if n is None:
        return tr / B
    n = _pos_int("n", n, minimum=2)
    if B > n:
        raise ValueError(f"Invalid batch_size: batch_size={batch_size} exceeds n={n} without replacement")
    return tr / B * (n - B) / (n - 1)


@dataclass
class MinibatchError:
    r"""A Monte Carlo estimate of :math:`\mathbb E|g_\mathcal{B} - G|^2` (``mean``), its standard error and the
    number of draws; ``z(expected)`` is :math:`|\text{mean} - \text{expected}|/\text{stderr}`."""

    mean: float
    stderr: float
    draws: int
    block: int

    def z(self, expected: float) -> float:
        diff = abs(self.mean - float(expected))
        if self.stderr > 0:
            return diff / self.stderr
        return 0.0 if diff == 0 else float("inf")


def measure_minibatch_error(oracle, x, draws: int, min_blocks: int = 30) -> MinibatchError:
    r"""Draw ``draws`` successive mini-batches from ``oracle`` (a :class:`gdlab.stochastic.MinibatchOracle`, through
    its sampler ``sample_indices``) and return the mean of :math:`|g_\mathcal{B} - G|^2` at ``x``. The per-example
    gradients :math:`g_i` at ``x`` are computed once (``oracle.problem.grad_examples``); a batch's gradient is the mean
    of its rows and :math:`G` the mean of all of them, so a draw costs one call of the sampler.

    With replacement the draws are independent, and the standard error is their standard deviation over
    :math:`\sqrt{\text{draws}}`. Without replacement the oracle reads consecutive batches from one permutation
    per epoch, so the :math:`m = \lceil n/B\rceil` batches of an epoch are dependent (when :math:`B` divides
    :math:`n` their errors sum to zero; at :math:`m = 2` they are equal and opposite). The standard error is then
    that of the means over blocks of :math:`m` consecutive draws (one epoch each, when :math:`B` divides
    :math:`n` and the oracle starts an epoch), provided there are at least ``min_blocks`` of them; otherwise
    :math:`m > \text{draws}/\text{min\_blocks}` is large, the correlation between two batches of an epoch is of
    order :math:`1/m^2`, and the draws are treated as independent. ``block`` says which was used.
    """
    draws = _pos_int("draws", draws, minimum=2)
    if not hasattr(oracle, "sample_indices"):
        raise ValueError(f"Invalid oracle: {oracle!r} (expected a MinibatchOracle, with sample_indices)")
    rows = np.asarray(oracle.problem.grad_examples(np.asarray(x, dtype=float)), dtype=float)
    G = rows.mean(axis=0)
    sq = np.empty(draws)
    for j in range(draws):
        e = rows[oracle.sample_indices()].mean(axis=0) - G
        sq[j] = e @ e
    block = 1
    if not getattr(oracle, "replace", True):
        m = -(-int(oracle.n) // int(oracle.batch_size))
        if m > 1 and draws // m >= min_blocks:
            block = m
    usable = sq[: draws - draws % block]
    means = usable.reshape(-1, block).mean(axis=1)
    stderr = float(means.std(ddof=1) / math.sqrt(means.size))
    return MinibatchError(mean=float(usable.mean()), stderr=stderr, draws=int(usable.size), block=block)


class StepsToTarget(NamedTuple):
    """What :func:`steps_to_target` measured: the steps (interpolated, so not an integer) and the best step size."""

    steps: float
    lr: float


def steps_to_target(problem, batch_size: int, lrs, reps: int, target: float, max_steps: int = 20000,
                    seed: int | None = 0) -> StepsToTarget:
    r"""McCandlish et al.'s :math:`S(B)`, measured: the steps mini-batch SGD needs to bring the optimality gap,
    averaged over ``reps`` independent chains, below ``target``, for the best of the step sizes ``lrs``.

    ``problem`` is a :class:`gdlab.problems.LeastSquares` (its gap is :math:`\tfrac12 e^\top He`,
    :math:`e = w - w^\star`). Every step size runs ``reps`` chains from ``problem.x0``; each step draws the
    :math:`B` indices of every chain uniformly with replacement, ``rng.integers(0, n, size=(len(lrs), reps, B))``
    from ``np.random.default_rng(seed)``. At the first step :math:`k` at which the smallest mean gap over the step
    sizes is at most ``target``, :math:`S` is interpolated linearly in :math:`\log(\text{gap})` between steps
    :math:`k-1` and :math:`k` of that step size (so :math:`k - 1 < S \le k`). Step sizes whose chains diverge are
    discarded. Raises ``RuntimeError`` if the target is not reached in ``max_steps``.
    """
    from .problems import LeastSquares

    if not isinstance(problem, LeastSquares):
        raise ValueError(f"Invalid problem: {problem!r} (steps_to_target is written for LeastSquares)")
    B = _pos_int("batch_size", batch_size)
    reps = _pos_int("reps", reps)
    max_steps = _pos_int("max_steps", max_steps)
    target = _pos_float("target", target)
    lrs = np.asarray(lrs, dtype=float).ravel()
    if lrs.size == 0 or not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
        raise ValueError(f"Invalid lrs: {lrs!r} (expected finite step sizes > 0)")
    rng = np.random.default_rng(seed)
    a = lrs[:, None, None]
    W = np.broadcast_to(problem.x0, (lrs.size, reps, problem.dim)).copy()
    prev = np.full(lrs.size, np.inf)
    for k in range(1, max_steps + 1):
        idx = rng.integers(0, problem.n, size=(lrs.size, reps, B))
        Xb = problem.X[idx]
        with np.errstate(over="ignore", invalid="ignore"):    # step sizes that diverge are discarded
            res = np.einsum("lrbd,lrd->lrb", Xb, W) - problem.y[idx]
            W -= a * np.einsum("lrb,lrbd->lrd", res, Xb) / B
            E = W - problem.x_star
            gap = 0.5 * np.einsum("lrd,lrd->lr", E @ problem.H, E).mean(axis=1)
        gap = np.where(np.isfinite(gap), gap, np.inf)
        W[~np.isfinite(W)] = 0.0
        if gap.min() <= target:
            j = int(np.argmin(gap))
            frac = 1.0 if not np.isfinite(prev[j]) else math.log(prev[j] / target) / math.log(prev[j] / gap[j])
            return StepsToTarget(k - 1 + frac, float(lrs[j]))
        prev = gap
    raise RuntimeError(f"batch size {B}: the target {target:g} was not reached in {max_steps} steps")


class CriticalBatch(NamedTuple):
    """A fit of steps against batch size: :math:`S_{\\min}`, :math:`B_\\text{crit}` and the largest relative misfit."""

    S_min: float
    B_crit: float
    misfit: float
    model: str

    def steps(self, batch_size):
        """The fitted :math:`S(B)`."""
        B = np.asarray(batch_size, dtype=float)
        if self.model == "mccandlish":
            return self.S_min * (1.0 + self.B_crit / B)
        return self.S_min * np.maximum(1.0, self.B_crit / B)


def critical_batch_fit(batch_sizes, steps, model: str = "mccandlish") -> CriticalBatch:
    r"""Fit :math:`S(B)` to measured steps, by least squares on :math:`\log S` (every batch size weighs the same).

    ``model="mccandlish"``: :math:`S = S_{\min}(1 + B_\text{crit}/B)` (McCandlish et al. 2018), whose bend is
    smooth (:math:`S = 2S_{\min}` at :math:`B = B_\text{crit}`); ``model="kink"``:
    :math:`S = S_{\min}\max(1, B_\text{crit}/B)`, the same two asymptotes meeting at a corner. For a given
    :math:`B_\text{crit}` the best :math:`\log S_{\min}` is the mean residual, so the fit is a bounded
    one-dimensional search over :math:`\log B_\text{crit}`. ``misfit`` is :math:`\max_B |S/\hat S - 1|`.
    """
    from scipy.optimize import minimize_scalar

    if model not in ("mccandlish", "kink"):
        raise ValueError(f"Invalid model: model={model!r} (expected 'mccandlish' or 'kink')")
    Bs = np.asarray(batch_sizes, dtype=float).ravel()
    S = np.asarray(steps, dtype=float).ravel()
    if Bs.shape != S.shape or Bs.size < 3 or not (np.all(Bs > 0) and np.all(S > 0)):
        raise ValueError("Invalid batch_sizes, steps: expected at least 3 positive pairs of one length")
    logS = np.log(S)

    def shape(log_bc):
        r = math.exp(log_bc) / Bs
        return np.log1p(r) if model == "mccandlish" else np.log(np.maximum(1.0, r))

    def loss(log_bc):
        resid = logS - shape(log_bc)
        return float(np.sum((resid - resid.mean()) ** 2))

    # a grid brackets the global minimum (the kink's loss has corners), a bounded search refines it
    grid = np.linspace(math.log(Bs.min()) - 3.0, math.log(Bs.max()) + 3.0, 601)
    i = int(np.argmin([loss(v) for v in grid]))
    best = minimize_scalar(loss, bounds=(grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]), method="bounded",
                           options={"xatol": 1e-10})
    log_bc = float(best.x)
    S_min = float(np.exp(np.mean(logS - shape(log_bc))))
    out = CriticalBatch(S_min, math.exp(log_bc), 0.0, model)
    return out._replace(misfit=float(np.max(np.abs(S / out.steps(Bs) - 1.0))))


def sgd_second_moment_operator(X, lr: float) -> np.ndarray:
    r"""The linear map :math:`\mathcal T` of the second moment :math:`M = \mathbb E\,ee^\top` under one step of
    single-example SGD on least squares, :math:`e \leftarrow (I - \eta a_ia_i^\top)e` with :math:`i` uniform,
    as a :math:`d^2\times d^2` matrix acting on :math:`\operatorname{vec}M`:

    .. math:: \mathcal T(M) = M - \eta(HM + MH) + \eta^2\,\tfrac1n\textstyle\sum_i (a_i^\top M a_i)\,a_ia_i^\top,
              \qquad H = X^\top X/n .
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or not np.all(np.isfinite(X)):
        raise ValueError(f"Invalid X: expected a finite matrix (n, d), got shape {X.shape}")
    lr = _pos_float("lr", lr)
    n, d = X.shape
    H = X.T @ X / n
    outer = np.einsum("ij,ik->ijk", X, X).reshape(n, d * d)
    eye = np.eye(d)
    return np.eye(d * d) - lr * (np.kron(eye, H) + np.kron(H, eye)) + lr ** 2 * outer.T @ outer / n


class SecondMoment(NamedTuple):
    r"""The exact second moment of single-example SGD on least squares: ``trace[k]`` is
    :math:`\mathbb E\|w_k - w^\star\|^2` (:math:`k = 0, \dots,` steps), ``floor`` is :math:`\operatorname{tr}M_\infty`
    and ``rate`` the spectral radius :math:`\rho(\mathcal T)`."""

    trace: np.ndarray
    floor: float
    rate: float


def sgd_second_moment(problem, lr: float, steps: int, x0=None) -> SecondMoment:
    r""":math:`\mathbb E\|w_k - w^\star\|^2` of single-example SGD :math:`w \leftarrow w - \eta(a_i^\top w - y_i)a_i`,
    :math:`i` uniform and independent, on a :class:`gdlab.problems.LeastSquares`, computed exactly.

    With :math:`e_k = w_k - w^\star` and residuals :math:`r_i = y_i - a_i^\top w^\star`, one step is
    :math:`e_{k+1} = (I - \eta a_ia_i^\top)e_k + \eta r_ia_i`, so :math:`m_k = \mathbb E e_k` and
    :math:`M_k = \mathbb E e_ke_k^\top` obey

    .. math::
        m_{k+1} = (I - \eta H)m_k,\qquad
        M_{k+1} = \mathcal T(M_k) + \eta^2\,\tfrac1n\textstyle\sum_i r_i^2 a_ia_i^\top + C_k + C_k^\top,\quad
        C_k = -\eta^2\,\tfrac1n\textstyle\sum_i r_i (a_i^\top m_k)\,a_ia_i^\top

    (:math:`\sum_i r_ia_i = 0` at the least-squares solution), with :math:`\mathcal T` of
    :func:`sgd_second_moment_operator`. ``floor`` solves :math:`M_\infty = \mathcal T(M_\infty) +
    \eta^2\frac1n\sum_i r_i^2a_ia_i^\top`; it needs :math:`\rho(\mathcal T) < 1`.
    """
    from .problems import LeastSquares

    if not isinstance(problem, LeastSquares):
        raise ValueError(f"Invalid problem: {problem!r} (sgd_second_moment is written for LeastSquares)")
    steps = _pos_int("steps", steps, minimum=0)
    A, n, d = problem.X, problem.n, problem.dim
    T_op = sgd_second_moment_operator(A, lr)
    rate = float(np.max(np.abs(np.linalg.eigvals(T_op))))
    r = problem.y - A @ problem.x_star
    drive = lr ** 2 * (A * r[:, None] ** 2).T @ A / n
    floor = float("inf")
    if rate < 1:
        floor = float(np.trace(np.linalg.solve(np.eye(d * d) - T_op, drive.reshape(-1)).reshape(d, d)))
    m = (problem.x0 if x0 is None else np.asarray(x0, dtype=float).reshape(d)) - problem.x_star
    M = np.outer(m, m)
    out = np.empty(steps + 1)
    for k in range(steps + 1):
        out[k] = np.trace(M)
        cross = -lr ** 2 * (A * (r * (A @ m))[:, None]).T @ A / n
        M = (T_op @ M.reshape(-1)).reshape(d, d) + drive + cross + cross.T
        m = m - lr * (problem.H @ m)
    return SecondMoment(out, floor, rate)


def window_zscores(samples, expected, window: int) -> np.ndarray:
    r"""Compare chains with an exact expectation, window by window: ``samples`` has one row per step and one column
    per independent chain, ``expected`` one entry per step. Each chain's values are averaged over consecutive windows
    of ``window`` steps (a trailing partial window is dropped); the returned array holds, per window,
    :math:`|\bar s - \bar e|/\mathrm{se}`, where :math:`\bar s` is the mean over chains of the window averages,
    :math:`\mathrm{se}` their standard deviation over chains divided by :math:`\sqrt{n}`, and :math:`\bar e` the
    window average of ``expected``. Averaging within a chain first makes each compared quantity less skewed than a
    single step's (a squared distance is), so that the sample standard error is trustworthy. 0 where the chains
    agree exactly, ``inf`` where they agree with each other but not with the expectation.
    """
    S = np.asarray(samples, dtype=float)
    e = np.asarray(expected, dtype=float).ravel()
    if S.ndim != 2 or S.shape[0] != e.size or S.shape[1] < 2:
        raise ValueError(f"Invalid samples: expected shape ({e.size}, chains >= 2), got {S.shape}")
    w = _pos_int("window", window)
    n_win = S.shape[0] // w
    if n_win == 0:
        raise ValueError(f"Invalid window: window={w} exceeds the {S.shape[0]} steps")
    per_chain = S[: n_win * w].reshape(n_win, w, S.shape[1]).mean(axis=1)      # (windows, chains)
    ew = e[: n_win * w].reshape(n_win, w).mean(axis=1)
    diff = np.abs(per_chain.mean(axis=1) - ew)
    se = per_chain.std(axis=1, ddof=1) / math.sqrt(S.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, diff / np.where(se > 0, se, 1.0), np.where(diff == 0, 0.0, np.inf))


# --- perturbed gradient descent -----------------------------------------------------------
def perturbed_gd(potential, X0, lr: float, steps: int, g_thres: float = 1e-3, t_thres: int = 50,
                 radius: float = 1e-2, seed: int | None = 0, thin: int | None = None, f: Callable | None = None,
                 f_thres: float | None = None) -> Chains:
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

    **Termination** (Jin et al.'s Algorithm 2), when the objective's values ``f`` (rows in, one value per row out)
    and ``f_thres`` are given: :math:`t_\text{thres}` steps after a kick, a chain whose value has not fallen by
    :math:`f_\text{thres}` below its value before the kick,

    .. math:: k - k_\text{last} = t_\text{thres} \ \text{ and }\ f(x_k) - f(\tilde x) > -f_\text{thres},

    stops and returns :math:`\tilde x`, the point where it was kicked: with their choice of the constants this
    certifies, with high probability, that :math:`\tilde x` is an approximate second-order stationary point. Without
    ``f`` the chains run all ``steps`` and nothing is certified.

    ``potential`` is a :class:`Potential`, a quadratic problem, or a batched gradient
    ``grad(X) -> (n_chains, dim)``. Returns a :class:`Chains`; ``info["kicks"]`` counts the
    kicks of each chain, ``info["first_kick"]`` holds each chain's first kick :math:`\xi` (NaN if none) and
    ``info["first_kick_step"]`` its step (-1 if none); with termination, ``info["stopped"]`` says which chains
    stopped and ``info["stop_step"]`` when (-1 if not). Chains that end non-finite are counted in ``n_nonfinite``
    and reported with a ``RuntimeWarning``.
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
    terminate = f is not None
    if terminate:
        if not callable(f):
            raise ValueError(f"Invalid f: f={f!r} is not callable")
        if f_thres is None:
            raise ValueError("Invalid f_thres: f_thres=None; the termination test needs f and f_thres")
        f_thres = _pos_float("f_thres", f_thres, allow_zero=True)
    elif f_thres is not None:
        raise ValueError("Invalid f: f=None; the termination test needs f and f_thres")
    rng = np.random.default_rng(seed)
    last = np.full(n, -t_thres - 1)                    # step of each chain's last kick
    kicks = np.zeros(n, dtype=int)
    first_kick = np.full((n, dim), np.nan)
    first_kick_step = np.full(n, -1)
    stopped = np.zeros(n, dtype=bool)
    stop_step = np.full(n, -1)
    x_tilde = np.zeros((n, dim)) if terminate else None   # each chain's point before its last kick
    f_tilde = np.zeros(n) if terminate else None
    saved, saved_steps = ([X.copy()], [0]) if thin is not None else ([], [])
    t0 = time.perf_counter()
    for k in range(steps):
        G = pot.grad(X)
        kick = (np.linalg.norm(G, axis=1) <= g_thres) & (k - last > t_thres) & ~stopped
        if kick.any():
            m = int(kick.sum())
            u = rng.standard_normal((m, dim))
            u *= radius * rng.uniform(size=(m, 1)) ** (1 / dim) / np.linalg.norm(u, axis=1, keepdims=True)
            if terminate:
                x_tilde[kick] = X[kick]
                f_tilde[kick] = np.asarray(f(X[kick]), dtype=float).reshape(m)
            new = kick & (first_kick_step < 0)
            first_kick[new] = u[new[kick]]
            first_kick_step[new] = k
            X[kick] += u
            last[kick] = k
            kicks[kick] += 1
            G = pot.grad(X)
        if terminate:
            test = ~stopped & (k - last == t_thres)
            if test.any():
                idx = np.flatnonzero(test)
                fail = np.asarray(f(X[idx]), dtype=float).reshape(idx.size) - f_tilde[idx] > -f_thres
                idx = idx[fail]
                X[idx] = x_tilde[idx]
                stopped[idx] = True
                stop_step[idx] = k
            if stopped.any():
                G[stopped] = 0.0                              # a stopped chain stays where it stopped
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
    out.info.update(lr=lr, g_thres=g_thres, t_thres=t_thres, radius=radius, kicks=kicks, first_kick=first_kick,
                    first_kick_step=first_kick_step)
    if terminate:
        out.info.update(f_thres=f_thres, stopped=stopped, stop_step=stop_step)
    return out
