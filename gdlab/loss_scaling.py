r"""Loss scaling for float16 training, and a NumPy simulation of float16 underflow.

Float16 represents magnitudes down to :math:`2^{-24}\approx 6\times10^{-8}` (subnormals; normal
numbers start at :math:`2^{-14}\approx 6.1\times10^{-5}`) and up to 65504. Small gradient entries
flush to zero when a backward pass runs in float16. Loss scaling {cite}`micikevicius2018mixed`
multiplies the loss by :math:`S` before the backward pass, so every gradient is computed
as :math:`S g`, and divides by :math:`S` before the optimizer step:

.. math:: \tilde g = \mathrm{fp16}(S\,g)/S .

A scale too large overflows (``inf``/``nan`` entries). *Dynamic* scaling adjusts :math:`S`:
on a step with a non-finite gradient it skips the update and sets :math:`S \leftarrow S\cdot b`
(backoff, 0.5); after ``growth_interval`` consecutive good steps it sets
:math:`S \leftarrow S\cdot r` (growth, 2). This is exactly ``torch.amp.GradScaler``'s rule, and
like GradScaler the scale is held in float32.

* :class:`DynamicScale`, :class:`StaticScale` -- the scale as a plain state machine (no torch);
* :class:`LossScaler` -- the torch face, used like ``GradScaler``:
  ``scaler.scale(loss).backward(); scaler.step(opt); scaler.update()``;
* :func:`fp16_underflow` -- what fraction of a gradient float16 flushes to zero, with and
  without a scale.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["DynamicScale", "StaticScale", "LossScaler", "Fp16Report", "fp16_underflow", "fp16_roundtrip"]


def _f32(x: float) -> float:
    with np.errstate(over="ignore"):
        return float(np.float32(x))


def _check(name, value, low, high=None, low_open=True, high_open=True):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low)
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        rng = f"> {low}" if high is None else f"in ({low}, {high})"
        raise ValueError(f"{name} must be a finite number {rng}, got {name}={value!r}")


class StaticScale:
    """A fixed scale :math:`S`; a step with a non-finite gradient is skipped and counted."""

    dynamic = False

    def __init__(self, scale: float = 2.0 ** 10):
        _check("scale", scale, 0.0)
        self.scale = _f32(scale)
        self.steps = 0
        self.skipped = 0

    def update(self, found_inf: bool) -> bool:
        """Record one step; return True when the step must be skipped."""
        self.steps += 1
        if found_inf:
            self.skipped += 1
        return bool(found_inf)

    def state_dict(self) -> dict:
        return dict(vars(self))

    def load_state_dict(self, state: dict) -> None:
        vars(self).update(state)


class DynamicScale(StaticScale):
    r"""GradScaler's dynamic scale: back off on overflow, grow after a run of good steps.

    .. math:: (S, n) \leftarrow \begin{cases} (b S,\ 0) & \text{non-finite gradient (step skipped)} \\
              (r S,\ 0) & n + 1 = N \text{ (and } rS \text{ finite)} \\ (S,\ n + 1) & \text{otherwise}\end{cases}

    with growth :math:`r` = ``growth_factor``, backoff :math:`b` = ``backoff_factor``,
    :math:`N` = ``growth_interval`` and :math:`n` the count of good steps since the last change.
    """

    dynamic = True

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000):
        super().__init__(init_scale)
        _check("growth_factor", growth_factor, 1.0)
        _check("backoff_factor", backoff_factor, 0.0, 1.0)
        if not isinstance(growth_interval, numbers.Integral) or growth_interval < 1:
            raise ValueError(f"growth_interval must be a positive integer, got growth_interval={growth_interval!r}")
        self.growth_factor = float(growth_factor)
        self.backoff_factor = float(backoff_factor)
        self.growth_interval = int(growth_interval)
        self.growth_tracker = 0

    def update(self, found_inf: bool) -> bool:
        skip = super().update(found_inf)
        if skip:
            self.scale = _f32(self.scale * self.backoff_factor)
            self.growth_tracker = 0
        else:
            good = self.growth_tracker + 1
            if good == self.growth_interval:
                grown = _f32(self.scale * self.growth_factor)
                if math.isfinite(grown):
                    self.scale = grown
                self.growth_tracker = 0
            else:
                self.growth_tracker = good
        return skip


class LossScaler:
    """Loss scaling for a torch optimizer, a drop-in for ``torch.amp.GradScaler``'s loop.

    .. code-block:: python

        scaler = LossScaler()                      # dynamic; LossScaler(dynamic=False, init_scale=1024.)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)                       # optional, e.g. before clipping
        scaler.step(opt)                           # skipped when a gradient is inf/nan
        scaler.update()

    ``history`` records ``(scale used, skipped)`` for every step; ``skipped_steps`` counts skips.
    """

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, dynamic: bool = True):
        self.state = (DynamicScale(init_scale, growth_factor, backoff_factor, growth_interval)
                      if dynamic else StaticScale(init_scale))
        self.history: list[tuple[float, bool]] = []
        self._unscaled = False
        self._found_inf: bool | None = None

    def get_scale(self) -> float:
        return self.state.scale

    @property
    def skipped_steps(self) -> int:
        return self.state.skipped

    def scale(self, loss):
        """``loss * S``."""
        return loss * self.state.scale

    def unscale_(self, optimizer) -> bool:
        """Divide the gradients by :math:`S` in place (multiplying by the float32 :math:`1/S`, as
        GradScaler does); return whether any entry is non-finite."""
        import torch

        if self._unscaled:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        inv = np.float32(1.0 / np.float64(self.state.scale))
        found = False
        with torch.no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    p.grad.mul_(float(inv))
                    if not bool(torch.isfinite(p.grad).all()):
                        found = True
        self._unscaled, self._found_inf = True, found
        return found

    def step(self, optimizer, *args, **kwargs):
        """Unscale if needed, then ``optimizer.step()`` unless a gradient is non-finite (then
        return None: the step is skipped)."""
        if not self._unscaled:
            self.unscale_(optimizer)
        if self._found_inf:
            return None
        return optimizer.step(*args, **kwargs)

    def update(self) -> None:
        """Update the scale from this step's overflow check (see :class:`DynamicScale`)."""
        if self._found_inf is None:
            raise RuntimeError("update() needs a step(): no overflow check was recorded.")
        used = self.state.scale
        skipped = self.state.update(self._found_inf)
        self.history.append((used, skipped))
        self._unscaled, self._found_inf = False, None

    def state_dict(self) -> dict:
        return {"state": self.state.state_dict(), "history": list(self.history)}

    def load_state_dict(self, sd: dict) -> None:
        self.state.load_state_dict(sd["state"])
        self.history = list(sd["history"])


# --- float16 underflow, simulated in NumPy ------------------------------------------------------
@dataclass(frozen=True)
class Fp16Report:
    """Fractions of the non-zero entries of :math:`S g` that float16 flushes to zero, stores as
    subnormals (reduced precision) or overflows to ``inf``, and the relative error of the
    gradient recovered as :math:`\\mathrm{fp16}(Sg)/S` (finite entries only)."""

    scale: float
    flushed: float
    subnormal: float
    overflow: float
    rel_error: float


def fp16_roundtrip(grads, scale: float = 1.0) -> np.ndarray:
    r""":math:`\mathrm{fp16}(S g)/S` in float64: the gradient an optimizer sees after a float16
    backward pass with loss scale :math:`S`."""
    _check("scale", scale, 0.0)
    g = np.asarray(grads, dtype=np.float64)
    with np.errstate(over="ignore"):
        return (g * scale).astype(np.float16).astype(np.float64) / scale


def fp16_underflow(grads, scale: float = 1.0) -> Fp16Report:
    r"""How a gradient fares in float16 with loss scale :math:`S` (see :class:`Fp16Report`)."""
    _check("scale", scale, 0.0)
    g = np.asarray(grads, dtype=np.float64).ravel()
    nz = g != 0
    n = int(nz.sum())
    if n == 0:
        raise ValueError("grads has no non-zero entry")
    if not np.all(np.isfinite(g)):
        raise ValueError("grads has non-finite entries")
    with np.errstate(over="ignore"):
        h = (g[nz] * scale).astype(np.float16)
    a = np.abs(h.astype(np.float64))
    tiny = float(np.finfo(np.float16).tiny)  # smallest normal, 2^-14
    finite = np.isfinite(a)
    rec = h.astype(np.float64)[finite] / scale
    rel = float(np.linalg.norm(rec - g[nz][finite]) / np.linalg.norm(g[nz][finite])) if finite.any() else math.inf
    return Fp16Report(float(scale), float(np.mean(a == 0)), float(np.mean((a > 0) & (a < tiny))),
                      float(np.mean(~finite)), rel)
