r"""Learning-rate schedules: pure functions from the step index to a value.

Every schedule is a small frozen object. Calling it with a step returns the learning rate
used for that step; calling it with a NumPy array of steps returns an array:

.. code-block:: python

    from gdlab import schedules as S
    s = S.warmup(S.Cosine(lr=0.1, total_steps=900), steps=100, start_factor=0.01)
    s(0), s(100), s(999)          # floats
    s(np.arange(1000))            # an array, for a figure

Steps count optimizer steps from 0: ``s(k)`` is the learning rate of the step that
produces :math:`x_{k+1}` from :math:`x_k`. Steps must be non-negative integers (a negative
or fractional step raises ``ValueError``). Schedules with a horizon (``total_steps``) hold
their final value past the end unless stated otherwise.

The schedules that ``torch.optim.lr_scheduler`` also has give the same values as torch's
closed forms (``_get_closed_form_lr``) for every step of a run:

==============================  =====================================================
gdlab                           torch.optim.lr_scheduler
==============================  =====================================================
:class:`StepDecay`              ``StepLR``
:class:`MultiStep`              ``MultiStepLR``
:class:`Exponential`            ``ExponentialLR``
:class:`Polynomial`             ``PolynomialLR`` (``end_lr=0``)
:class:`Cosine`                 ``CosineAnnealingLR`` (up to ``T_max``; torch keeps
                                following the cosine back up afterwards, gdlab holds
                                ``eta_min``)
:class:`CosineWarmRestarts`     ``CosineAnnealingWarmRestarts``
:func:`warmup`                  ``LinearLR`` followed by another scheduler in ``SequentialLR``
:class:`OneCycle`               ``OneCycleLR`` (``.momentum`` gives its momentum / β₁)
:class:`Cyclic`                 ``CyclicLR`` (``.momentum`` gives its momentum / β₁)
==============================  =====================================================

:class:`ScheduleDriver` (created on first access, so that this module never imports torch
by itself) drives any ``torch.optim.Optimizer`` from these schedules and is a
``torch.optim.lr_scheduler.LRScheduler``: call ``driver.step()`` after ``optimizer.step()``.

:func:`robbins_monro` checks the Robbins--Monro conditions
:math:`\sum_k \alpha_k = \infty`, :math:`\sum_k \alpha_k^2 < \infty` for a schedule.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = [
    "Schedule", "Tail",
    "Constant", "StepDecay", "MultiStep", "Exponential", "Polynomial", "Cosine",
    "CosineWarmRestarts", "Warmup", "warmup", "OneCycle", "WarmupStableDecay",
    "InverseSqrt", "RobbinsMonro", "Cyclic",
    "RobbinsMonroCheck", "robbins_monro",
    "TorchRun", "train",
]  # ScheduleDriver is created on first access (it imports torch), so it is not listed here


# --- argument checks --------------------------------------------------------------------
def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_int(name: str, value, minimum: int) -> None:
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")


def _check_real(name: str, value, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low}, "
        hi = "" if high is None else f"{high}" + (")" if high_open else "]")
        where = f" in {lo or '(-inf, '}{hi or 'inf)'}" if (low is not None or high is not None) else ""
        raise ValueError(f"{name} must be a finite real number{where}, got {name}={value!r}")


def _as_steps(step):
    """Validated steps as a float64 array, and whether the input was a scalar."""
    arr = np.asarray(step)
    scalar = arr.ndim == 0
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"step must be a non-negative integer (or an array of them), got step={step!r}")
    t = arr.astype(np.float64)
    if not np.all(np.isfinite(t)) or np.any(t < 0) or np.any(t != np.floor(t)):
        bad = t[~(np.isfinite(t) & (t >= 0) & (t == np.floor(t)))] if t.ndim else t
        raise ValueError(f"step must be a non-negative integer, got step={np.ravel(bad)[0]!r}")
    return t, scalar


@dataclass(frozen=True)
class Tail:
    r"""How a schedule behaves as :math:`k\to\infty`, for :func:`robbins_monro`.

    ``kind`` is ``"power"`` (:math:`\alpha_k \asymp k^{-p}`, with ``p = 0`` for a schedule that
    stays bounded away from zero), ``"geometric"`` (decays at least geometrically) or
    ``"zero"`` (exactly zero from some step on).
    """

    kind: str
    exponent: float = 0.0


class Schedule:
    """Base class: a pure function of the step. Subclasses implement ``_value(t)``.

    ``_value`` receives a float64 array of validated steps and returns an array of the same
    shape. Schedules with a horizon have an attribute ``total_steps``; read it with
    ``getattr(s, "total_steps", None)``.
    """

    def __call__(self, step):
        t, scalar = _as_steps(step)
        v = np.asarray(self._value(t), dtype=np.float64)
        return float(v) if scalar else v

    def _value(self, t: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def values(self, n: int) -> np.ndarray:
        """The first ``n`` values, ``[s(0), ..., s(n-1)]``."""
        _check_int("n", n, 0)
        return self(np.arange(n))

    def tail(self) -> Tail | None:
        """The asymptotic behaviour, or ``None`` when unknown (then it is estimated)."""
        return None


# --- the schedules ----------------------------------------------------------------------
@dataclass(frozen=True)
class Constant(Schedule):
    r""":math:`\alpha_k = \alpha`."""

    lr: float

    def __post_init__(self):
        _check_real("lr", self.lr, 0.0)

    def _value(self, t):
        return np.full_like(t, float(self.lr))

    def tail(self):
        return Tail("power", 0.0) if self.lr > 0 else Tail("zero")


@dataclass(frozen=True)
class StepDecay(Schedule):
    r"""Step decay: :math:`\alpha_k = \alpha\,\gamma^{\lfloor k/s\rfloor}` (torch's ``StepLR``)."""

    lr: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self):
        _check_real("lr", self.lr, 0.0)
        _check_int("step_size", self.step_size, 1)
        _check_real("gamma", self.gamma, 0.0, 1.0, low_open=True)

    def _value(self, t):
        return self.lr * self.gamma ** np.floor(t / self.step_size)

    def tail(self):
        if self.lr == 0:
            return Tail("zero")
        return Tail("power", 0.0) if self.gamma == 1 else Tail("geometric")


@dataclass(frozen=True)
class MultiStep(Schedule):
    r"""Decay by :math:`\gamma` at each milestone: :math:`\alpha_k = \alpha\,\gamma^{\#\{m_i \le k\}}`
    (torch's ``MultiStepLR``). Milestones must be strictly increasing non-negative integers."""

    lr: float
    milestones: tuple
    gamma: float = 0.1

    def __post_init__(self):
        _check_real("lr", self.lr, 0.0)
        ms = tuple(self.milestones)
        for m in ms:
            _check_int("milestones", m, 0)
        if any(b <= a for a, b in zip(ms, ms[1:])):
            raise ValueError(f"milestones must be strictly increasing, got milestones={list(ms)}")
        object.__setattr__(self, "milestones", ms)
        _check_real("gamma", self.gamma, 0.0, 1.0, low_open=True)

    def _value(self, t):
        n = np.searchsorted(np.asarray(self.milestones, dtype=np.float64), t, side="right")
        return self.lr * self.gamma ** n

    def tail(self):
        return Tail("power", 0.0) if self.lr > 0 else Tail("zero")


@dataclass(frozen=True)
class Exponential(Schedule):
    r"""Exponential decay :math:`\alpha_k = \alpha\,\gamma^k` (torch's ``ExponentialLR``)."""

    lr: float
    gamma: float

    def __post_init__(self):
        _check_real("lr", self.lr, 0.0)
        _check_real("gamma", self.gamma, 0.0, 1.0, low_open=True)

    def _value(self, t):
        return self.lr * self.gamma ** t

    def tail(self):
        if self.lr == 0:
            return Tail("zero")
        return Tail("power", 0.0) if self.gamma == 1 else Tail("geometric")


@dataclass(frozen=True)
class Polynomial(Schedule):
    r"""Polynomial decay over ``total_steps`` steps (torch's ``PolynomialLR`` when ``end_lr = 0``):

    .. math:: \alpha_k = \alpha_{\mathrm{end}} + (\alpha - \alpha_{\mathrm{end}})
              \Bigl(1 - \tfrac{\min(k, T)}{T}\Bigr)^{p}.
    """

    lr: float
    total_steps: int
    power: float = 1.0
    end_lr: float = 0.0

    def __post_init__(self):
        _check_real("lr", self.lr, 0.0)
        _check_int("total_steps", self.total_steps, 1)
        _check_real("power", self.power, 0.0, low_open=True)
        _check_real("end_lr", self.end_lr, 0.0)
        if self.end_lr > self.lr:
            raise ValueError(f"end_lr must not exceed lr, got end_lr={self.end_lr} > lr={self.lr}")

    def _value(self, t):
        T = self.total_steps
        return self.end_lr + (self.lr - self.end_lr) * (1.0 - np.minimum(T, t) / T) ** self.power

    def tail(self):
        return Tail("power", 0.0) if self.end_lr > 0 else Tail("zero")


@dataclass(frozen=True)
class Cosine(Schedule):
    r"""Cosine annealing over ``total_steps`` steps {cite}`loshchilov2017sgdr`:

    .. math:: \alpha_k = \eta_{\min} + \tfrac12(\alpha - \eta_{\min})
              \bigl(1 + \cos(\pi \min(k, T)/T)\bigr).

    Equal to torch's ``CosineAnnealingLR`` for :math:`k \le T`. Past :math:`T` gdlab holds
    :math:`\eta_{\min}`; torch's scheduler keeps following the cosine, back up towards
    :math:`\alpha`.
    """

    lr: float
    total_steps: int
    eta_min: float = 0.0

    def __post_init__(self):
        _check_real("lr", self.lr, 0.0)
        _check_int("total_steps", self.total_steps, 1)
        _check_real("eta_min", self.eta_min, 0.0)
        if self.eta_min > self.lr:
            raise ValueError(f"eta_min must not exceed lr, got eta_min={self.eta_min} > lr={self.lr}")

    def _value(self, t):
        T = self.total_steps
        return self.eta_min + (self.lr - self.eta_min) * (1 + np.cos(np.pi * np.minimum(t, T) / T)) / 2

    def tail(self):
        return Tail("power", 0.0) if self.eta_min > 0 else Tail("zero")


@dataclass(frozen=True)
class CosineWarmRestarts(Schedule):
    r"""Cosine annealing with warm restarts (SGDR) {cite}`loshchilov2017sgdr`.

    Cycle :math:`i` lasts :math:`T_i = T_0 T_{\mathrm{mult}}^i` steps; with :math:`T_{\mathrm{cur}}` the
    steps since the last restart,

    .. math:: \alpha_k = \eta_{\min} + \tfrac12(\alpha - \eta_{\min})\bigl(1 + \cos(\pi T_{\mathrm{cur}}/T_i)\bigr).

    Restarts happen at :math:`k = T_0 (T_{\mathrm{mult}}^n - 1)/(T_{\mathrm{mult}} - 1)` (at multiples of
    :math:`T_0` when :math:`T_{\mathrm{mult}} = 1`), where the rate jumps back to :math:`\alpha`.
    Matches torch's ``CosineAnnealingWarmRestarts`` (which requires an integer ``T_mult``).
    """

    lr: float
    T_0: int
    T_mult: float = 1
    eta_min: float = 0.0

    def __post_init__(self):
        _check_real("lr", self.lr, 0.0)
        _check_int("T_0", self.T_0, 1)
        _check_real("T_mult", self.T_mult, 1.0)
        _check_real("eta_min", self.eta_min, 0.0)
        if self.eta_min > self.lr:
            raise ValueError(f"eta_min must not exceed lr, got eta_min={self.eta_min} > lr={self.lr}")

    def cycle(self, t: np.ndarray):
        """Index :math:`n` of the cycle holding each step, with :math:`T_{\\mathrm{cur}}` and :math:`T_i`."""
        T0, m = float(self.T_0), float(self.T_mult)
        if m == 1.0:
            n = np.floor(t / T0)
            return n, t - n * T0, np.full_like(t, T0)

        def start(n):  # first step of cycle n
            return T0 * (m ** n - 1) / (m - 1)

        n = np.floor(np.log(t / T0 * (m - 1) + 1) / np.log(m))
        # the logarithm can land one off at a restart: correct it exactly
        n = np.where(start(n + 1) <= t, n + 1, n)
        n = np.where(start(n) > t, n - 1, n)
        return n, t - start(n), T0 * m ** n

    def _value(self, t):
        _, t_cur, t_i = self.cycle(t)
        return self.eta_min + (self.lr - self.eta_min) * (1 + np.cos(np.pi * t_cur / t_i)) / 2

    def tail(self):
        return Tail("power", 0.0) if self.lr > 0 else Tail("zero")


@dataclass(frozen=True)
class Warmup(Schedule):
    r"""Linear warmup for ``steps`` steps, then ``schedule`` shifted to start after it:

    .. math:: \alpha_k = \begin{cases} s(0)\,\bigl(f_0 + (1 - f_0)\,k/w\bigr) & k < w \\ s(k - w) & k \ge w\end{cases}

    with :math:`f_0` = ``start_factor``. This is torch's ``SequentialLR([LinearLR(start_factor,
    total_iters=w), scheduler], milestones=[w])``. Use :func:`warmup` to build one.
    """

    schedule: Schedule
    steps: int
    start_factor: float = 0.0

    def __post_init__(self):
        if not callable(self.schedule):
            raise ValueError(f"schedule must be a schedule (callable on steps), got schedule={self.schedule!r}")
        _check_int("steps", self.steps, 0)
        _check_real("start_factor", self.start_factor, 0.0, 1.0)

    @property
    def total_steps(self):
        inner = getattr(self.schedule, "total_steps", None)
        return None if inner is None else self.steps + inner

    def _value(self, t):
        w = self.steps
        inside = t < w
        peak = float(self.schedule(0))
        ramp = peak * (self.start_factor + (1.0 - self.start_factor) * np.minimum(t, w) / max(w, 1))
        after = np.asarray(self.schedule(np.maximum(t - w, 0)), dtype=np.float64)
        return np.where(inside, ramp, after)

    def tail(self):
        return self.schedule.tail() if isinstance(self.schedule, Schedule) else None


def warmup(schedule: Schedule, steps: int, start_factor: float = 0.0) -> Warmup:
    """Prefix ``schedule`` with ``steps`` steps of linear warmup from ``start_factor·schedule(0)``
    (see :class:`Warmup`); the wrapped schedule starts, at its own step 0, when warmup ends."""
    return Warmup(schedule, steps, start_factor)


_ONECYCLE_ANNEAL = ("cos", "linear")


@dataclass(frozen=True)
class OneCycle(Schedule):
    r"""The one-cycle policy {cite}`smith2019superconvergence`, exactly as torch's ``OneCycleLR``.

    With :math:`\alpha_0 = \alpha_{\max}/d` (``div_factor``) and :math:`\alpha_{\min} = \alpha_0/d_f`
    (``final_div_factor``), the rate anneals :math:`\alpha_0 \to \alpha_{\max}` over the first
    ``pct_start`` of the run, then :math:`\alpha_{\max} \to \alpha_{\min}` (two phases, the fastai
    form, default), or :math:`\alpha_{\max} \to \alpha_0 \to \alpha_{\min}` (``three_phase``, the
    paper's form). Inside a phase from :math:`a` to :math:`b` with progress :math:`u\in[0,1]` the
    value is :math:`b + \tfrac12(a - b)(1 + \cos\pi u)` (``"cos"``) or :math:`a + (b - a)u`
    (``"linear"``). Phase ends are at steps :math:`pT - 1` (and :math:`2pT - 2`) and :math:`T - 1`,
    as in torch. Momentum (or Adam's :math:`\beta_1`) runs the other way between
    ``max_momentum`` and ``base_momentum``: see :attr:`momentum`. Past the last step
    (:math:`k \ge T`) both hold their final values, where torch raises.
    """

    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False
    base_momentum: float = 0.85
    max_momentum: float = 0.95
    _phases: tuple = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self):
        _check_real("max_lr", self.max_lr, 0.0)
        _check_int("total_steps", self.total_steps, 1)
        _check_real("pct_start", self.pct_start, 0.0, 1.0)
        if self.anneal_strategy not in _ONECYCLE_ANNEAL:
            raise ValueError(f"anneal_strategy must be one of {_ONECYCLE_ANNEAL}, "
                             f"got anneal_strategy={self.anneal_strategy!r}")
        _check_real("div_factor", self.div_factor, 1.0)
        _check_real("final_div_factor", self.final_div_factor, 1.0)
        _check_real("base_momentum", self.base_momentum, 0.0, 1.0)
        _check_real("max_momentum", self.max_momentum, 0.0, 1.0)
        if self.base_momentum > self.max_momentum:
            raise ValueError(f"base_momentum must not exceed max_momentum, got base_momentum="
                             f"{self.base_momentum} > max_momentum={self.max_momentum}")
        T, p = self.total_steps, float(self.pct_start)
        init = self.max_lr / self.div_factor
        lo = init / self.final_div_factor
        hi_m, lo_m = self.max_momentum, self.base_momentum
        if self.three_phase:
            phases = ((p * T - 1, init, self.max_lr, hi_m, lo_m),
                      (2 * p * T - 2, self.max_lr, init, lo_m, hi_m),
                      (T - 1, init, lo, hi_m, hi_m))
        else:
            phases = ((p * T - 1, init, self.max_lr, hi_m, lo_m),
                      (T - 1, self.max_lr, lo, lo_m, hi_m))
        ends = [0.0] + [ph[0] for ph in phases]
        if any(b <= a for a, b in zip(ends, ends[1:])):
            raise ValueError(f"pct_start={self.pct_start} leaves an empty phase with total_steps={T}"
                             f"{' and three_phase=True' if self.three_phase else ''}")
        object.__setattr__(self, "_phases", phases)

    @property
    def initial_lr(self) -> float:
        return self.max_lr / self.div_factor

    @property
    def min_lr(self) -> float:
        return self.initial_lr / self.final_div_factor

    def _anneal(self, a, b, u):
        if self.anneal_strategy == "cos":
            return b + (a - b) / 2.0 * (np.cos(np.pi * u) + 1)
        return (b - a) * u + a

    def _curve(self, t, which: int):
        t = np.minimum(t, self.total_steps - 1)
        out = np.empty_like(t)
        done = np.zeros(t.shape, dtype=bool)
        start = 0.0
        for i, ph in enumerate(self._phases):
            end = ph[0]
            here = ~done if i == len(self._phases) - 1 else (~done & (t <= end))
            u = (t[here] - start) / (end - start)
            out[here] = self._anneal(ph[which], ph[which + 1], u)
            done |= here
            start = end
        return out

    def _value(self, t):
        return self._curve(t, 1)

    @property
    def momentum(self) -> "Schedule":
        """The momentum (or :math:`\\beta_1`) schedule that goes with this learning rate."""
        return _Companion(self, 3)

    def tail(self):
        return Tail("power", 0.0) if self.min_lr > 0 else Tail("zero")


@dataclass(frozen=True)
class _Companion(Schedule):
    """The momentum schedule of a :class:`OneCycle` or :class:`Cyclic` schedule."""

    parent: Schedule
    which: int

    @property
    def total_steps(self):
        return getattr(self.parent, "total_steps", None)

    def _value(self, t):
        return self.parent._curve(t, self.which)


_WSD_DECAYS = ("linear", "cosine", "sqrt")


@dataclass(frozen=True)
class WarmupStableDecay(Schedule):
    r"""Warmup--stable--decay (WSD, trapezoidal) {cite}`hu2024minicpm,hagele2024scaling`.

    With :math:`w` warmup steps, :math:`D` decay steps and horizon :math:`T`:

    .. math:: \alpha_k = \begin{cases}
        \alpha\,(f_0 + (1 - f_0)k/w) & k < w \\
        \alpha & w \le k < T - D \\
        \alpha_{\mathrm{end}} + (\alpha - \alpha_{\mathrm{end}})\,\phi\bigl((k - T + D)/D\bigr) & T - D \le k \le T
        \end{cases}

    where :math:`\phi(u) = 1 - u` (``"linear"``), :math:`\tfrac12(1 + \cos\pi u)` (``"cosine"``) or
    :math:`1 - \sqrt{u}` (``"sqrt"``, the "1-sqrt" cooldown). Past :math:`T` it holds
    :math:`\alpha_{\mathrm{end}}`. The stable phase can be extended without changing what came
    before, which is why it suits runs whose length is not known in advance.
    """

    lr: float
    total_steps: int
    warmup_steps: int
    decay_steps: int
    decay: str = "linear"
    start_factor: float = 0.0
    final_lr: float = 0.0

    def __post_init__(self):
        _check_real("lr", self.lr, 0.0)
        _check_int("total_steps", self.total_steps, 1)
        _check_int("warmup_steps", self.warmup_steps, 0)
        _check_int("decay_steps", self.decay_steps, 0)
        if self.warmup_steps > self.total_steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} is longer than the run, total_steps={self.total_steps}")
        if self.warmup_steps + self.decay_steps > self.total_steps:
            raise ValueError(f"warmup_steps + decay_steps must not exceed total_steps, got warmup_steps="
                             f"{self.warmup_steps} + decay_steps={self.decay_steps} > total_steps={self.total_steps}")
        if self.decay not in _WSD_DECAYS:
            raise ValueError(f"decay must be one of {_WSD_DECAYS}, got decay={self.decay!r}")
        _check_real("start_factor", self.start_factor, 0.0, 1.0)
        _check_real("final_lr", self.final_lr, 0.0)
        if self.final_lr > self.lr:
            raise ValueError(f"final_lr must not exceed lr, got final_lr={self.final_lr} > lr={self.lr}")

    def _value(self, t):
        w, D, T = self.warmup_steps, self.decay_steps, self.total_steps
        ramp = self.lr * (self.start_factor + (1 - self.start_factor) * np.minimum(t, w) / max(w, 1))
        u = np.clip((t - (T - D)) / max(D, 1), 0.0, 1.0)
        if self.decay == "linear":
            phi = 1.0 - u
        elif self.decay == "cosine":
            phi = (1 + np.cos(np.pi * u)) / 2
        else:
            phi = 1.0 - np.sqrt(u)
        cool = self.final_lr + (self.lr - self.final_lr) * phi
        out = np.where(t < T - D, self.lr, cool)
        out = np.where(t >= T, self.final_lr, out)
        return np.where(t < w, ramp, out)

    def tail(self):
        return Tail("power", 0.0) if self.final_lr > 0 else Tail("zero")


@dataclass(frozen=True)
class InverseSqrt(Schedule):
    r"""The Transformer's schedule {cite}`vaswani2017attention`, with warmup :math:`w`:

    .. math:: \alpha_k = c\, d_{\mathrm{model}}^{-1/2}\,\min\bigl(n^{-1/2},\; n\, w^{-3/2}\bigr),\qquad n = k + 1,

    (the paper counts steps from :math:`n = 1`). It rises linearly for :math:`n \le w`, peaks at
    :math:`c\,(d_{\mathrm{model}} w)^{-1/2}` and then decays as :math:`n^{-1/2}`; ``scale`` is
    :math:`c`.
    """

    d_model: int
    warmup_steps: int
    scale: float = 1.0

    def __post_init__(self):
        _check_int("d_model", self.d_model, 1)
        _check_int("warmup_steps", self.warmup_steps, 1)
        _check_real("scale", self.scale, 0.0, low_open=True)

    def _value(self, t):
        n = t + 1.0
        return self.scale * self.d_model ** -0.5 * np.minimum(n ** -0.5, n * self.warmup_steps ** -1.5)

    def tail(self):
        return Tail("power", 0.5)


@dataclass(frozen=True)
class RobbinsMonro(Schedule):
    r"""The classical decreasing step :math:`\alpha_k = c/(k+1)^p` {cite}`robbins1951stochastic`.

    It satisfies :math:`\sum\alpha_k = \infty` and :math:`\sum\alpha_k^2 < \infty` exactly when
    :math:`\tfrac12 < p \le 1`.
    """

    c: float
    p: float = 1.0

    def __post_init__(self):
        _check_real("c", self.c, 0.0, low_open=True)
        _check_real("p", self.p, 0.0, low_open=True)

    def _value(self, t):
        return self.c / (t + 1.0) ** self.p

    def tail(self):
        return Tail("power", float(self.p))


_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


@dataclass(frozen=True)
class Cyclic(Schedule):
    r"""Cyclical learning rates {cite}`smith2017cyclical`, exactly as torch's ``CyclicLR``.

    A cycle lasts :math:`s_\uparrow + s_\downarrow` steps. With
    :math:`c = \lfloor 1 + k/(s_\uparrow + s_\downarrow)\rfloor`, :math:`x = 1 + k/(s_\uparrow + s_\downarrow) - c`
    and :math:`r = s_\uparrow/(s_\uparrow + s_\downarrow)`, the height is :math:`h = x/r` if :math:`x \le r`
    else :math:`(x - 1)/(r - 1)`, and

    .. math:: \alpha_k = \alpha_{\mathrm{base}} + (\alpha_{\max} - \alpha_{\mathrm{base}})\, h\, \sigma,

    with :math:`\sigma = 1` (``"triangular"``), :math:`2^{1-c}` (``"triangular2"``) or :math:`\gamma^k`
    (``"exp_range"``). Momentum runs the other way, :math:`m_k = m_{\max} - (m_{\max} - m_{\mathrm{base}})h\sigma`:
    see :attr:`momentum`.
    """

    base_lr: float
    max_lr: float
    step_size_up: int = 2000
    step_size_down: int | None = None
    mode: str = "triangular"
    gamma: float = 1.0
    base_momentum: float = 0.8
    max_momentum: float = 0.9

    def __post_init__(self):
        _check_real("base_lr", self.base_lr, 0.0)
        _check_real("max_lr", self.max_lr, 0.0)
        if self.base_lr > self.max_lr:
            raise ValueError(f"base_lr must not exceed max_lr, got base_lr={self.base_lr} > max_lr={self.max_lr}")
        _check_int("step_size_up", self.step_size_up, 1)
        if self.step_size_down is not None:
            _check_int("step_size_down", self.step_size_down, 1)
        if self.mode not in _CYCLIC_MODES:
            raise ValueError(f"mode must be one of {_CYCLIC_MODES}, got mode={self.mode!r}")
        _check_real("gamma", self.gamma, 0.0, 1.0, low_open=True)
        _check_real("base_momentum", self.base_momentum, 0.0, 1.0)
        _check_real("max_momentum", self.max_momentum, 0.0, 1.0)
        if self.base_momentum > self.max_momentum:
            raise ValueError(f"base_momentum must not exceed max_momentum, got base_momentum="
                             f"{self.base_momentum} > max_momentum={self.max_momentum}")

    def _height(self, t):
        up = float(self.step_size_up)
        down = float(self.step_size_down) if self.step_size_down is not None else up
        total = up + down
        ratio = up / total
        cycle = np.floor(1 + t / total)
        x = 1.0 + t / total - cycle
        h = np.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
        if self.mode == "triangular":
            scale = np.ones_like(t)
        elif self.mode == "triangular2":
            scale = np.exp2(-(cycle - 1.0))  # halves each cycle; underflows to 0 quietly
        else:
            scale = self.gamma ** t
        return h * scale

    def _curve(self, t, which: int):
        if which == 1:
            return self.base_lr + (self.max_lr - self.base_lr) * self._height(t)
        return self.max_momentum - (self.max_momentum - self.base_momentum) * self._height(t)

    def _value(self, t):
        return self._curve(t, 1)

    @property
    def momentum(self) -> Schedule:
        """The momentum (or :math:`\\beta_1`) schedule, cycled inversely to the learning rate."""
        return _Companion(self, 3)

    def tail(self):
        if self.base_lr > 0 or (self.mode == "triangular" and self.max_lr > 0) or \
                (self.mode == "exp_range" and self.gamma == 1 and self.max_lr > 0):
            return Tail("power", 0.0)
        return Tail("geometric") if self.max_lr > 0 else Tail("zero")


# --- the Robbins--Monro conditions -------------------------------------------------------
@dataclass(frozen=True)
class RobbinsMonroCheck:
    r"""Whether :math:`\sum_k\alpha_k = \infty` and :math:`\sum_k\alpha_k^2 < \infty`.

    ``exponent`` is :math:`p` in :math:`\alpha_k \asymp k^{-p}` (``inf`` for a geometric or
    eventually-zero tail); ``analytic`` says whether it came from the schedule's known form
    (:meth:`Schedule.tail`) or was estimated from :math:`\alpha` at ``horizon/10`` and
    ``horizon``. ``checkpoints``, ``partial_sums`` and ``partial_sums_sq`` hold
    :math:`\sum_{k<K}\alpha_k` and :math:`\sum_{k<K}\alpha_k^2` at :math:`K = 10, 100, \dots`, for a
    figure: the first keeps growing when it diverges, the second levels off when it converges.
    """

    sum_diverges: bool
    sum_sq_finite: bool
    exponent: float
    analytic: bool
    checkpoints: np.ndarray
    partial_sums: np.ndarray
    partial_sums_sq: np.ndarray

    @property
    def satisfied(self) -> bool:
        return self.sum_diverges and self.sum_sq_finite


def robbins_monro(schedule: Callable, horizon: int = 10**6, tol: float = 0.02) -> RobbinsMonroCheck:
    r"""Check the Robbins--Monro conditions :math:`\sum\alpha_k = \infty`, :math:`\sum\alpha_k^2 < \infty`.

    For a tail :math:`\alpha_k \asymp k^{-p}` the first holds iff :math:`p \le 1` and the second
    iff :math:`p > 1/2`; a geometric or eventually-zero tail has both sums finite. The tail is
    read from ``schedule.tail()`` when the schedule knows it; otherwise :math:`p` is estimated
    as :math:`-\log_{10}(\alpha_H/\alpha_{H/10})` and an estimate within ``tol`` of a boundary
    (1/2 or 1) is counted as the divergent side, where the borderline cases (:math:`1/k`,
    :math:`1/\sqrt{k}`) fall.
    """
    _check_int("horizon", horizon, 100)
    _check_real("tol", tol, 0.0)
    checkpoints = 10 ** np.arange(1, int(math.floor(math.log10(horizon))) + 1)
    sums, sums_sq = [], []
    acc = acc_sq = 0.0
    lo = 0
    for K in checkpoints:
        a = np.asarray(schedule(np.arange(lo, K)), dtype=np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError("the schedule returned a non-finite value")
        acc += float(a.sum())
        acc_sq += float((a * a).sum())
        sums.append(acc)
        sums_sq.append(acc_sq)
        lo = K
    tail = schedule.tail() if isinstance(schedule, Schedule) else None
    analytic = tail is not None
    if analytic:
        p = tail.exponent if tail.kind == "power" else math.inf
        diverges, finite_sq = p <= 1, p > 0.5
    else:
        H = int(checkpoints[-1])
        a_hi, a_lo = float(schedule(H)), float(schedule(H // 10))
        if a_hi <= 0.0 or a_lo <= 0.0:
            p = math.inf
        else:
            p = -math.log10(a_hi / a_lo)
        diverges = p <= 1 + tol
        finite_sq = p > 0.5 + tol
    return RobbinsMonroCheck(bool(diverges), bool(finite_sq), float(p), analytic,
                             checkpoints, np.array(sums), np.array(sums_sq))


# --- driving a torch optimizer ------------------------------------------------------------
def _per_group(value, n: int, name: str) -> list:
    items = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(items) != n:
        raise ValueError(f"{name} needs one schedule per parameter group ({n}), got {len(items)}")
    for s in items:
        if not callable(s):
            raise ValueError(f"{name} must be a schedule (callable on steps), got {name}={s!r}")
    return items


_DRIVER = None


def _make_driver():
    from torch.optim.lr_scheduler import LRScheduler

    class ScheduleDriver(LRScheduler):
        """Drive a torch optimizer's learning rate (and momentum or Adam's β₁) from schedules.

        ``ScheduleDriver(optimizer, lr=schedule, momentum=None)`` is a
        ``torch.optim.lr_scheduler.LRScheduler``: at construction it sets ``lr = schedule(0)``
        in every parameter group; each ``step()`` (after ``optimizer.step()``) advances to the
        next step. ``lr`` and ``momentum`` take one schedule for all groups or a list with one
        per group; ``momentum`` writes ``group["momentum"]``, or ``group["betas"][0]`` for
        optimizers with ``betas``. ``state_dict()`` holds the step count, not the schedules
        (build the driver with the same schedules before loading it, as for ``LambdaLR``).
        """

        def __init__(self, optimizer, lr, momentum=None, last_epoch: int = -1):
            n = len(optimizer.param_groups)
            self.lr_schedules = _per_group(lr, n, "lr")
            self.momentum_schedules = None
            self.momentum_key = None
            if momentum is not None:
                self.momentum_schedules = _per_group(momentum, n, "momentum")
                if "betas" in optimizer.defaults:
                    self.momentum_key = "betas"
                elif "momentum" in optimizer.defaults:
                    self.momentum_key = "momentum"
                else:
                    raise ValueError(f"momentum was given but {type(optimizer).__name__} has neither "
                                     "'momentum' nor 'betas' to drive")
            super().__init__(optimizer, last_epoch)

        def get_lr(self):
            t = self.last_epoch
            if self.momentum_schedules is not None:
                for group, s in zip(self.optimizer.param_groups, self.momentum_schedules):
                    m = float(s(t))
                    if self.momentum_key == "betas":
                        group["betas"] = (m, *group["betas"][1:])
                    else:
                        group["momentum"] = m
            return [float(s(t)) for s in self.lr_schedules]

        def state_dict(self):
            skip = ("optimizer", "lr_schedules", "momentum_schedules")
            return {k: v for k, v in self.__dict__.items() if k not in skip}

        def load_state_dict(self, state_dict):
            self.__dict__.update({k: v for k, v in state_dict.items()
                                  if k not in ("lr_schedules", "momentum_schedules")})

    ScheduleDriver.__module__ = __name__
    return ScheduleDriver


@dataclass(frozen=True)
class TorchRun:
    """What :func:`train` recorded: the learning rate of every step (of the first parameter group) and the
    mini-batch loss of every step, computed before that step's update."""

    lrs: np.ndarray
    losses: np.ndarray


def train(model, optimizer, loss_fn, batches, schedule, steps: int | None = None, momentum=None) -> TorchRun:
    """Train a torch ``model`` with ``optimizer`` driven by ``schedule`` through :class:`ScheduleDriver`.

    Each step takes the next ``(inputs, targets)`` of ``batches``, zeroes the gradients, back-propagates
    ``loss_fn(model(inputs), targets)``, calls ``optimizer.step()`` and then the driver's ``step()``, so that step
    :math:`k` (from 0) uses the learning rate ``schedule(k)``. ``steps`` stops earlier than the end of ``batches``;
    ``momentum`` is passed to the driver.
    """
    import torch

    if steps is not None:
        _check_int("steps", steps, 0)
    driver = __getattr__("ScheduleDriver")(optimizer, lr=schedule, momentum=momentum)
    lrs, losses = [], []
    model.train()
    for k, (inputs, targets) in enumerate(batches):
        if steps is not None and k >= steps:
            break
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        driver.step()
        with torch.no_grad():
            losses.append(float(loss.detach()))
    return TorchRun(np.array(lrs), np.array(losses))


def __getattr__(name: str):
    global _DRIVER
    if name == "ScheduleDriver":
        if _DRIVER is None:
            _DRIVER = _make_driver()
        return _DRIVER
    raise AttributeError(f"module 'gdlab.schedules' has no attribute {name!r}")
