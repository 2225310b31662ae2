r"""Run an update rule on a problem and record what happened.

.. code-block:: python

    from gdlab import problems, runner
    from gdlab.optim import numpy as gnp
    p = problems.Quadratic.with_condition(2, L=10, mu=1)
    tr = runner.run(p, gnp.SGD(lr=1 / p.L), steps=100)
    tr.f_gap[-1], tr.diverged

A *method* is any callable ``method(x, g, k) -> x_next``: it receives the iterate
:math:`x_k`, a gradient :math:`g_k` and the step index :math:`k` (from 0) and returns
:math:`x_{k+1}` without changing ``x``. gdlab's NumPy optimizers are such callables.

The run stops early, with ``Trace.diverged = True`` and the reason in ``Trace.reason``,
as soon as an iterate, a value or a gradient is not finite or the suboptimality has grown
by a factor ``blowup``: a diverging run is reported, never silently filled with NaNs.

:func:`scheduled` turns an optimizer and a schedule (``gdlab.schedules``) into a method whose
step size follows the schedule, :math:`\alpha_k = \text{schedule}(k)`:

.. code-block:: python

    from gdlab import schedules as S
    m = runner.scheduled(gnp.Adam(lr=1.0), S.warmup(S.Constant(1.0), steps=50, start_factor=0.01))
    tr = runner.run(p, m, steps=200)      # tr.lrs[k] == schedule(k)

A method that has already evaluated :math:`f` and :math:`\nabla f` at the point it returns (a
Wolfe line search does) may offer them through ``method.values_at(x) -> (f, grad) | None``; the
runner then uses them for the next step instead of evaluating again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Trace", "run", "Scheduled", "scheduled"]


@dataclass
class Trace:
    r"""The record of one run of :math:`k = 0, 1, \dots, K` iterates.

    ``xs`` (K+1, dim) iterates; ``fs`` values :math:`f(x_k)`; ``grad_norms``
    :math:`\|\nabla f(x_k)\|`; ``lrs`` the learning rate used at each of the K steps (``None``
    when the method has no ``lr`` attribute); ``f_gap`` :math:`f(x_k)-f^\star`; ``dist_sq``
    :math:`\|x_k-x^\star\|^2` (``None`` without a known minimiser); ``diverged`` whether the run
    stopped on a non-finite or exploding value, in which case ``K`` is smaller than the
    number of steps asked for and ``reason`` says why.
    """

    xs: np.ndarray
    fs: np.ndarray
    grad_norms: np.ndarray
    lrs: np.ndarray | None
    f_gap: np.ndarray | None
    dist_sq: np.ndarray | None
    diverged: bool
    reason: str = ""
    steps_requested: int = 0

    @property
    def steps(self) -> int:
        """Number of steps actually taken (``len(xs) - 1``)."""
        return len(self.xs) - 1

    @property
    def x(self) -> np.ndarray:
        """The last iterate."""
        return self.xs[-1]

    def min_grad_sq(self) -> np.ndarray:
        r"""Entry :math:`k-1` is :math:`\min_{i<k}\|\nabla f(x_i)\|^2`, for :math:`k = 1..K+1`."""
        return np.minimum.accumulate(self.grad_norms**2)

    def __repr__(self) -> str:
        last = f"f_gap={self.f_gap[-1]:.3e}" if self.f_gap is not None else f"f={self.fs[-1]:.3e}"
        tail = f", diverged: {self.reason}" if self.diverged else ""
        return f"Trace(steps={self.steps}, {last}{tail})"


def _scalar(v) -> float:
    a = np.asarray(v, dtype=float)
    if a.size != 1:
        raise ValueError(f"the objective returned {a.size} values for one point; expected a scalar")
    return float(a.reshape(()))


def run(problem, method: Callable, x0=None, steps: int = 100, *, oracle: Callable | None = None,
        blowup: float = 1e12) -> Trace:
    r"""Iterate :math:`x_{k+1} = \mathrm{method}(x_k, g_k, k)` for ``steps`` steps from ``x0``.

    ``g_k = problem.grad(x_k)`` unless ``oracle(x_k, k)`` is given (a stochastic gradient,
    say); the recorded ``grad_norms`` are always those of the true gradient. When the method
    has ``values_at(x)`` and it returns ``(f(x), grad(x))`` for the new iterate, those values are
    used instead of evaluating the problem again. ``x0`` defaults
    to ``problem.x0``. The run stops with ``diverged=True`` when a value is not finite or
    when :math:`|f(x_k)-f^\star| > \text{blowup}\cdot(1+|f(x_0)-f^\star|)`.
    """
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got steps={steps}")
    if not (blowup > 1):
        raise ValueError(f"blowup must be greater than 1, got blowup={blowup}")
    steps = int(steps)
    x = np.array(problem.x0 if x0 is None else x0, dtype=float, copy=True)
    if x.shape != (problem.dim,):
        raise ValueError(f"x0 must have shape ({problem.dim},), got x0.shape={x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"x0 must be finite, got x0={x}")
    f_star = getattr(problem, "f_star", None)
    x_star = getattr(problem, "x_star", None)

    xs, fs, gns, lrs = [], [], [], []
    # a method reports its step either before the call (``lr``, fixed or scheduled) or, when the step
    # is only known once taken (a line search), after it (``last_lr``)
    lr_after = hasattr(type(method), "last_lr")
    has_lr = lr_after or hasattr(method, "lr")
    values_at = getattr(method, "values_at", None)
    diverged, reason = False, ""
    f_ref = _scalar(problem.f(x))
    gap0 = abs(f_ref - (f_star if f_star is not None else f_ref))
    g = None
    for k in range(steps + 1):
        if k > 0:
            if not np.all(np.isfinite(x)):
                diverged, reason = True, f"non-finite iterate at step {k}"
                break
        known = values_at(x) if (values_at is not None and k > 0) else None
        if known is not None:
            fx, g = _scalar(known[0]), np.asarray(known[1], dtype=float).reshape(problem.dim)
        else:
            fx = _scalar(problem.f(x)) if k > 0 else f_ref
            g = np.asarray(problem.grad(x), dtype=float).reshape(problem.dim)
        if not math.isfinite(fx) or not np.all(np.isfinite(g)):
            diverged, reason = True, f"non-finite value or gradient at step {k}"
            break
        ref = f_star if f_star is not None else f_ref
        if abs(fx - ref) > blowup * (1.0 + gap0):
            diverged, reason = True, f"|f - f*| exceeded {blowup:g} x (1 + initial gap) at step {k}"
            break
        xs.append(x)
        fs.append(fx)
        gns.append(float(np.linalg.norm(g)))
        if k == steps:
            break
        if has_lr and not lr_after:
            lrs.append(float(method.lr))
        gk = g if oracle is None else np.asarray(oracle(x, k), dtype=float).reshape(problem.dim)
        x_next = np.asarray(method(x, gk, k), dtype=float).reshape(problem.dim)
        if lr_after:
            lrs.append(float(method.last_lr))
        x = np.array(x_next, copy=True)

    xs_a = np.array(xs, dtype=float).reshape(-1, problem.dim)
    fs_a = np.array(fs, dtype=float)
    lrs_a = np.array(lrs[: max(len(xs) - 1, 0)]) if has_lr else None
    return Trace(
        xs=xs_a,
        fs=fs_a,
        grad_norms=np.array(gns),
        lrs=lrs_a,
        f_gap=fs_a - f_star if f_star is not None else None,
        dist_sq=np.sum((xs_a - x_star) ** 2, axis=1) if x_star is not None else None,
        diverged=diverged,
        reason=reason,
        steps_requested=steps,
    )


class Scheduled:
    r"""A method for :func:`run` whose step size follows a schedule: before step :math:`k` it sets
    ``optimizer.lr = schedule(k)`` and returns ``optimizer(x, g, k)``, so that

    .. math:: x_{k+1} = \text{update}(x_k, g_k;\ \alpha_k = \text{schedule}(k)).

    ``optimizer`` is a NumPy optimizer (``gdlab.optim.numpy``; anything with a settable ``lr`` and
    ``optimizer(x, g, k) -> x_next``); ``schedule`` any callable from the step to a learning rate
    (``gdlab.schedules``). The step taken is read back into ``Trace.lrs`` through ``last_lr``. A
    schedule value that is negative or not finite raises ``ValueError``. At ``k == 0`` the
    optimizer's state is reset (when it has ``reset``), so one method can serve several runs.
    """

    def __init__(self, optimizer, schedule: Callable[[int], float]):
        if not callable(optimizer) or not hasattr(optimizer, "lr"):
            raise ValueError(f"optimizer must be callable with an lr attribute, got optimizer={optimizer!r}")
        if not callable(schedule):
            raise ValueError(f"schedule must be callable, got schedule={schedule!r}")
        self.optimizer, self.schedule = optimizer, schedule
        self._last: float | None = None

    @property
    def last_lr(self) -> float:
        """The step size used by the latest step."""
        if self._last is None:
            raise AttributeError("no step has been taken yet")
        return self._last

    def __call__(self, x, g, k: int):
        lr = float(self.schedule(k))
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"the schedule gave lr={lr} at step k={k}; a step size must be finite and >= 0")
        if k == 0 and hasattr(self.optimizer, "reset"):
            self.optimizer.reset()
        self.optimizer.lr = lr
        self._last = lr
        return self.optimizer(x, g, k)

    def __repr__(self) -> str:
        return f"Scheduled({self.optimizer!r}, {self.schedule!r})"


def scheduled(optimizer, schedule: Callable[[int], float]) -> Scheduled:
    """``optimizer`` driven by ``schedule`` as a method for :func:`run` (see :class:`Scheduled`)."""
    return Scheduled(optimizer, schedule)
