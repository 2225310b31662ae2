r"""The learning-rate range test: sweep the learning rate, watch the loss.

Smith {cite}`smith2017cyclical` (§3.3) introduced the test: train for a few epochs while the learning rate grows
*linearly* between two bounds, and read the accuracy against the learning rate. The form used here, and by most
libraries, is the ``lr_find`` of fastai {cite}`howard2020fastai`: at most ``num_steps`` (100) mini-batches while the
learning rate grows *exponentially* from ``min_lr`` to ``max_lr``,

.. math:: \eta_i = \eta_{\min}\,(\eta_{\max}/\eta_{\min})^{i/(K-1)},\qquad i = 0,\dots,K-1,

with :math:`K` = ``num_steps`` (``spacing="linear"`` gives Smith's :math:`\eta_i = \eta_{\min} + (\eta_{\max}-\eta_{\min})\,i/(K-1)` instead), and
the loss of each mini-batch is recorded together with its exponentially smoothed, bias-corrected value

.. math:: m_i = \beta m_{i-1} + (1-\beta)\ell_i,\quad m_{-1} = 0,\qquad \hat\ell_i = m_i/(1-\beta^{i+1}).

The sweep stops early when :math:`\hat\ell_i` exceeds ``diverge_factor`` (4) times its minimum so far,
or a loss is not finite. Afterwards the model's and the optimizer's states are restored
exactly, so the test leaves no trace.

Two suggestions are reported, both heuristics to be read off the curve rather than trusted
blindly:

* ``steepest_lr`` -- where :math:`\hat\ell` falls fastest against :math:`\log\eta`: the learning rate
  :math:`\eta_j` at which ``np.gradient`` (central differences inside, one-sided at the two ends) of
  :math:`\hat\ell` against :math:`\log\eta` is most negative, over the points from ``skip_start`` to the
  minimum of :math:`\hat\ell` (inclusive);
* ``min_lr_over_10`` -- one tenth of the learning rate at the minimum of :math:`\hat\ell`, the rule
  of thumb of the fastai course.

``suggestion`` is ``steepest_lr``. :func:`grid_search` and :func:`good_band` are what a suggestion is checked
against: the final loss of a fresh model trained at each learning rate of a grid.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["LRRangeResult", "lr_range_test", "grid_search", "good_band"]


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
                  skip_start: int = 10, restore: bool = True, spacing: str = "exponential") -> LRRangeResult:
    """Run the learning-rate range test on any torch ``model``, ``optimizer`` and ``loss_fn``.

    ``batches`` is an iterable of ``(inputs, targets)``; it is iterated again from the start if it
    runs out (a ``DataLoader``; a one-shot iterator simply ends the sweep). Each step sets every
    parameter group's ``lr``, computes ``loss_fn(model(inputs), targets)``, back-propagates and
    calls ``optimizer.step()``. With ``restore`` (default) the model's ``state_dict`` (parameters
    and buffers), its train/eval mode and the optimizer's ``state_dict`` (buffers and
    hyperparameters) are put back afterwards, bit for bit. ``spacing`` is ``"exponential"``
    (fastai's sweep, default) or ``"linear"`` (Smith's). Returns an :class:`LRRangeResult`.
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
    if spacing not in ("exponential", "linear"):
        raise ValueError(f"spacing must be 'exponential' or 'linear', got spacing={spacing!r}")

    saved_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
    saved_opt = copy.deepcopy(optimizer.state_dict())
    was_training = model.training

    if spacing == "exponential":
        sweep = min_lr * (max_lr / min_lr) ** (np.arange(num_steps) / (num_steps - 1))
    else:
        sweep = min_lr + (max_lr - min_lr) * (np.arange(num_steps) / (num_steps - 1))
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


def grid_search(make_model, make_optimizer, loss_fn, batches, lrs, steps: int, evaluate) -> np.ndarray:
    """The loss ``evaluate(model)`` of a fresh model after ``steps`` mini-batches at each constant learning rate of
    ``lrs``: ``make_model()`` builds the model, ``make_optimizer(params, lr)`` its optimizer, and every run sees the
    same first ``steps`` batches of ``batches`` (iterated anew for each rate). A run whose loss is not finite scores
    ``inf``."""
    import torch

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got steps={steps!r}")
    out = []
    for lr in np.asarray(lrs, dtype=float):
        model = make_model()
        opt = make_optimizer(model.parameters(), float(lr))
        model.train()
        for _, (inputs, targets) in zip(range(steps), batches):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(inputs), targets).backward()
            opt.step()
        with torch.no_grad():
            value = float(evaluate(model))
        out.append(value if math.isfinite(value) else math.inf)
    return np.array(out)


def good_band(lrs, losses, within: float = 0.1, widen: float = 3.0) -> tuple[float, float]:
    r"""The learning rates a grid search calls good: from ``1/widen`` times the smallest to ``widen`` times the largest
    rate of the grid whose loss is within a fraction ``within`` of the best. A factor 3 is about one step of a grid
    with two points per decade (ratio :math:`\sqrt{10} \approx 3.16`), which cannot place the best rate more finely."""
    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    if lrs.shape != losses.shape or lrs.size == 0 or not np.any(np.isfinite(losses)):
        raise ValueError("lrs and losses must be matching non-empty arrays with a finite loss")
    if not (within >= 0 and widen >= 1):
        raise ValueError(f"need within >= 0 and widen >= 1, got within={within!r}, widen={widen!r}")
    good = losses <= (1 + within) * np.min(losses)
    return float(np.min(lrs[good]) / widen), float(np.max(lrs[good]) * widen)
