"""The NumPy face: every rule as a small stateful object for the chapters.

.. code-block:: python

    from gdlab.optim import numpy as gnp
    opt = gnp.Adam(lr=0.1)
    x = opt(x, grad(x))          # one step on a single array; returns the new iterate

An instance is also a valid method for :func:`gdlab.runner.run`, which calls
``method(x, g, k)``. For several arrays use :meth:`NumpyOptimizer.step_arrays`, which
updates a list of arrays in place, like a torch optimizer's ``step``.
The arithmetic is the rule's own (:mod:`gdlab.optim.rules`), run by
:class:`~gdlab.optim.ops.NumpyOps`; no torch is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Context, Rule
from .ops import NumpyOps
from .rules import RULES


class NumpyOptimizer:
    """A rule with its hyperparameters and its state, acting on NumPy arrays."""

    rule_class: type[Rule] = Rule

    def __init__(self, track_stats: bool = False, **hyper: Any):
        self.rule = self.rule_class()
        hp = dict(self.rule.defaults)
        unknown = set(hyper) - set(hp)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected argument(s): {sorted(unknown)}")
        hp.update(hyper)
        self.rule.validate(hp)
        self.group = hp
        self.ops = NumpyOps()
        self.track_stats = track_stats
        self.reset()

    def reset(self) -> None:
        """Forget all state (buffers and step counts)."""
        self.states: list[dict] = []
        self.stats: dict = {}

    @property
    def lr(self) -> float:
        return self.group["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self.group["lr"] = value

    def step_arrays(self, params: list, grads: list, extras: dict | None = None) -> None:
        """Update ``params`` (float arrays) in place from ``grads``."""
        if not self.states:
            self.states = [dict(step=0, **self.rule.init_state(self.ops, p, self.group)) for p in params]
        if len(self.states) != len(params):
            raise ValueError(f"this optimizer holds state for {len(self.states)} arrays, got {len(params)}")
        grads = [np.asarray(g, dtype=p.dtype) for g, p in zip(grads, params)]
        if self.group.get("maximize"):
            grads = [-g for g in grads]
        for s in self.states:
            s["step"] += 1
        stats = {} if self.track_stats else None
        ctx = Context(ops=self.ops, params=params, grads=grads, states=self.states,
                      steps=[s["step"] for s in self.states], group=self.group, stats=stats,
                      extras=extras or {})
        self.rule.update(ctx)
        self.stats = stats or {}

    def __call__(self, x, g, k: int | None = None, **extras):
        """One step from iterate ``x`` with gradient ``g``; returns the new iterate (``x`` is not changed)."""
        x_new = np.array(x, dtype=float, copy=True)
        self.step_arrays([x_new], [np.asarray(g, dtype=float)], extras or None)
        return x_new

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in self.group.items() if self.rule.defaults.get(k) != v)
        return f"{type(self).__name__}({hp})"


def _make(rule_class: type[Rule]) -> type[NumpyOptimizer]:
    return type(rule_class.name, (NumpyOptimizer,), {
        "rule_class": rule_class,
        "__doc__": rule_class.__doc__,
        "__module__": __name__,
    })


def make(name: str, **hyper: Any) -> NumpyOptimizer:
    """The NumPy optimizer named ``name`` (a key of :data:`gdlab.optim.rules.RULES`)."""
    if name not in RULES:
        raise ValueError(f"Unknown optimizer name={name!r}; known: {sorted(RULES)}")
    return globals()[name](**hyper)


for _name, _rule in RULES.items():
    globals()[_name] = _make(_rule)

__all__ = ["NumpyOptimizer", "make", *RULES]
