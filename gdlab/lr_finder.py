r"""The learning-rate range test {cite}`smith2017cyclical`: sweep the learning rate, watch the loss.

Training runs for at most ``num_steps`` mini-batches while the learning rate grows
exponentially from ``min_lr`` to ``max_lr``,

.. math:: \eta_i = \eta_{\min}\,(\eta_{\max}/\eta_{\min})^{i/(n-1)},\qquad i = 0,\dots,n-1,

and the loss of each mini-batch is recorded together with its exponentially smoothed,
bias-corrected value

.. math:: m_i = \beta m_{i-1} + (1-\beta)\ell_i,\qquad \hat\ell_i = m_i/(1-\beta^{i+1}).

The sweep stops early when :math:`\hat\ell_i` exceeds ``diverge_factor`` times its minimum so far,
or a loss is not finite. Afterwards the model's and the optimizer's states are restored
exactly, so the test leaves no trace.

Two suggestions are reported, both heuristics to be read off the curve rather than trusted
blindly:

* ``steepest_lr`` -- where :math:`\hat\ell` falls fastest against :math:`\log\eta` (the most negative
  finite difference, ignoring ``skip_start`` points at the start and the points after the
  minimum of :math:`\hat\ell`);
* ``min_lr_over_10`` -- one tenth of the learning rate at the minimum of :math:`\hat\ell`, the rule
  of thumb of the fastai course.

``suggestion`` is ``steepest_lr``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["LRRangeResult", "lr_range_test"]


@dataclass(frozen=True)
class LRRangeResult:
    """What the range test measured: ``lrs`` and raw ``losses`` per mini-batch, the smoothed
    curve ``smoothed``, whether and where it ``diverged`` (``stop_lr``), and the suggestions."""

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    steepest_lr: float | None
    min_lr_over_10: float | None
    diverged: bool
    stop_lr: float | None

    @property
    def suggestion(self) -> float | None:
        return self.steepest_lr

    def plot(self, ax=None, raw: bool = True):
        """Loss against learning rate (log axis), the smoothed curve, and both suggestions."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.2))
        if raw:
            ax.plot(self.lrs, self.losses, color="0.75", lw=1, label="loss")
        ax.plot(self.lrs, self.smoothed, color="C0", lw=2, label="smoothed loss")
        if self.steepest_lr is not None:
            ax.axvline(self.steepest_lr, color="C1", ls="--", label=f"steepest descent {self.steepest_lr:.2g}")
        if self.min_lr_over_10 is not None:
            ax.axvline(self.min_lr_over_10, color="C2", ls=":", label=f"min / 10 {self.min_lr_over_10:.2g}")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        finite = self.smoothed[np.isfinite(self.smoothed)]
        if finite.size:
            lo, hi = finite.min(), finite[0]
            ax.set_ylim(lo - 0.1 * (hi - lo + 1e-12), hi + 0.5 * (hi - lo + 1e-12))
        ax.legend(fontsize=8)
        return ax


def _suggest(lrs, smoothed, skip_start):
    finite = np.isfinite(smoothed)
    if not finite.any():
        return None, None
    i_min = int(np.nanargmin(np.where(finite, smoothed, np.nan)))
    min10 = float(lrs[i_min] / 10)
    lo, hi = min(skip_start, i_min), i_min + 1
    if hi - lo < 2:
        return None, min10
    seg = smoothed[lo:hi]
    slope = np.gradient(seg, np.log(lrs[lo:hi]))
    return float(lrs[lo + int(np.argmin(slope))]), min10


def _check_pos(name, v):
    if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive finite number, got {name}={v!r}")


def lr_range_test(model, optimizer, loss_fn, batches, min_lr: float = 1e-7, max_lr: float = 10.0,
                  num_steps: int = 100, smoothing: float = 0.98, diverge_factor: float = 4.0,
                  skip_start: int = 10, restore: bool = True) -> LRRangeResult:
    """Run the learning-rate range test on any torch ``model``, ``optimizer`` and ``loss_fn``.

    ``batches`` is an iterable of ``(inputs, targets)``; it is iterated again from the start if it
    runs out (a ``DataLoader``; a one-shot iterator simply ends the sweep). Each step sets every
    parameter group's ``lr``, computes ``loss_fn(model(inputs), targets)``, back-propagates and
    calls ``optimizer.step()``. With ``restore`` (default) the model's ``state_dict`` (parameters
    and buffers), its train/eval mode and the optimizer's ``state_dict`` (buffers and
    hyperparameters) are put back afterwards, bit for bit. Returns an :class:`LRRangeResult`.
    """
    import torch

    _check_pos("min_lr", min_lr)
    _check_pos("max_lr", max_lr)
    if min_lr >= max_lr:
        raise ValueError(f"min_lr must be below max_lr, got min_lr={min_lr} >= max_lr={max_lr}")
    if not isinstance(num_steps, int) or num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2, got num_steps={num_steps!r}")
    if not (0 <= smoothing < 1):
        raise ValueError(f"smoothing must be in [0, 1), got smoothing={smoothing!r}")
    if not (isinstance(diverge_factor, (int, float)) and diverge_factor > 1):
        raise ValueError(f"diverge_factor must exceed 1, got diverge_factor={diverge_factor!r}")
    if not isinstance(skip_start, int) or skip_start < 0:
        raise ValueError(f"skip_start must be a non-negative integer, got skip_start={skip_start!r}")

    saved_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
    saved_opt = copy.deepcopy(optimizer.state_dict())
    was_training = model.training

    sweep = min_lr * (max_lr / min_lr) ** (np.arange(num_steps) / (num_steps - 1))
    lrs, losses, smoothed = [], [], []
    avg, best = 0.0, math.inf
    diverged, stop_lr = False, None
    source = iter(batches)
    model.train()
    try:
        for i, lr in enumerate(sweep):
            try:
                inputs, targets = next(source)
            except StopIteration:
                source = iter(batches)
                try:
                    inputs, targets = next(source)
                except StopIteration:
                    break
            for group in optimizer.param_groups:
                group["lr"] = float(lr)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            avg = smoothing * avg + (1 - smoothing) * value
            hat = avg / (1 - smoothing ** (i + 1))
            lrs.append(float(lr))
            losses.append(value)
            smoothed.append(hat)
            if not math.isfinite(hat) or hat > diverge_factor * best:
                diverged, stop_lr = True, float(lr)
                break
            best = min(best, hat)
    finally:
        if restore:
            with torch.no_grad():
                model.load_state_dict(saved_model)
            optimizer.load_state_dict(saved_opt)
            model.train(was_training)
            optimizer.zero_grad(set_to_none=True)

    lrs_a, sm = np.array(lrs), np.array(smoothed)
    steep, min10 = _suggest(lrs_a, sm, skip_start) if lrs else (None, None)
    return LRRangeResult(lrs_a, np.array(losses), sm, steep, min10, diverged, stop_lr)
