r"""Iterate averaging: Polyak–Ruppert's uniform average and the exponential moving average.

.. math::
    \text{uniform:}\quad \bar\theta_t = \bar\theta_{t-1} + \tfrac{1}{t}(\theta_t - \bar\theta_{t-1})
    = \tfrac1t\textstyle\sum_{i=1}^t \theta_i,
    \qquad
    \text{EMA:}\quad \bar\theta_t = \rho\,\bar\theta_{t-1} + (1-\rho)\,\theta_t,\ \bar\theta_0 = \theta_0.

The average is of the iterates *after* each step (:math:`\theta_1, \dots, \theta_t`) for the uniform
mode; the EMA starts from the initial point, as torch's ``AveragedModel`` with an EMA function does
not (it copies :math:`\theta_1`). Averaging changes nothing in the optimisation itself: the optimizer
keeps stepping from :math:`\theta_t`; the average is what one evaluates (Polyak & Juditsky 1992).

* :class:`AveragedOptimizer` wraps any torch optimizer (gdlab's or torch's);
  ``swap()`` exchanges parameters and averages, and ``with opt.averaged(): ...`` evaluates with them.
* :class:`Averaged` wraps a NumPy method ``method(x, g, k) -> x_next`` and keeps ``.average``.

torch is imported only by :class:`AveragedOptimizer`.
"""

from __future__ import annotations

import contextlib

import numpy as np

_MODES = ("uniform", "ema")


def _check(mode: str, decay: float) -> None:
    if mode not in _MODES:
        raise ValueError(f"Invalid mode value: mode={mode!r} (expected one of {_MODES})")
    if not (0.0 <= decay < 1.0):
        raise ValueError(f"Invalid decay value: decay={decay} (expected 0 <= decay < 1)")


def _weight(mode: str, decay: float, count: int) -> float:
    """Weight of the newest iterate: 1/t (uniform) or 1 − ρ (EMA)."""
    return 1.0 / count if mode == "uniform" else 1.0 - decay


class Averaged:
    """A NumPy method ``(x, g, k) -> x_next`` that also keeps the running average of its iterates.

    ``Averaged(gdlab.optim.numpy.SGD(lr=0.1), mode="uniform")`` is itself a valid method for
    :func:`gdlab.runner.run`; after the run, ``.average`` holds :math:`\\bar\\theta_t` and
    ``.averages`` the whole sequence (one row per step).
    """

    def __init__(self, method, mode: str = "uniform", decay: float = 0.999):
        _check(mode, decay)
        self.method, self.mode, self.decay = method, mode, decay
        self.reset()

    def reset(self) -> None:
        self.average = None
        self.count = 0
        self.averages: list = []

    def __call__(self, x, g, k=None):
        x_next = np.asarray(self.method(x, g, k), dtype=float)
        if self.average is None:
            self.average = np.array(x, dtype=float, copy=True)
        self.count += 1
        self.average = self.average + _weight(self.mode, self.decay, self.count) * (x_next - self.average)
        self.averages.append(self.average.copy())
        return x_next


class AveragedOptimizer:
    r"""Wraps a torch optimizer and keeps an average of its parameters after each ``step``.

    .. code-block:: python

        opt = AveragedOptimizer(gdlab.optim.SGD(model.parameters(), lr=0.1), mode="ema", decay=0.999)
        for x, y in loader:
            opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
        with opt.averaged():          # parameters hold the average inside the block
            evaluate(model)

    ``step``, ``zero_grad``, ``param_groups`` and ``state`` are the wrapped optimizer's, so
    learning-rate schedulers can be given ``opt.optimizer``. ``state_dict()`` holds the inner
    optimizer's state and the averages. Memory: one extra copy of the parameters.
    """

    def __init__(self, optimizer, mode: str = "ema", decay: float = 0.999):
        import torch

        _check(mode, decay)
        self.optimizer, self.mode, self.decay = optimizer, mode, decay
        self.count = 0
        self._swapped = False
        with torch.no_grad():
            self.averages = [p.detach().clone() for g in optimizer.param_groups for p in g["params"]]

    def _params(self) -> list:
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure=None):
        import torch

        if self._swapped:
            raise RuntimeError("AveragedOptimizer.step() while the averages are swapped in: call swap() back first")
        loss = self.optimizer.step(closure)
        self.count += 1
        w = _weight(self.mode, self.decay, self.count)
        with torch.no_grad():
            for a, p in zip(self.averages, self._params()):
                a.lerp_(p.detach(), w)                   # ā ← ā + w (θ − ā)
        return loss

    def swap(self) -> None:
        """Exchange the parameters' values with the averages (call again to swap back)."""
        import torch

        with torch.no_grad():
            for a, p in zip(self.averages, self._params()):
                tmp = p.detach().clone()
                p.copy_(a)
                a.copy_(tmp)
        self._swapped = not self._swapped

    @contextlib.contextmanager
    def averaged(self):
        """Parameters hold the averages inside the ``with`` block and their own values after it."""
        self.swap()
        try:
            yield self
        finally:
            self.swap()

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "averages": [a.clone() for a in self.averages],
                "count": self.count, "mode": self.mode, "decay": self.decay}

    def load_state_dict(self, sd: dict) -> None:
        import torch

        self.optimizer.load_state_dict(sd["optimizer"])
        with torch.no_grad():
            for a, b in zip(self.averages, sd["averages"]):
                a.copy_(b)
        self.count, self.mode, self.decay = sd["count"], sd["mode"], sd["decay"]
