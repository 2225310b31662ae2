"""The NumPy face: every rule as a small stateful object for the chapters.

```python
from gdlab.optim import numpy as gnp
opt = gnp.Adam(lr=0.1)
x = opt(x, grad(x))          # one step on a single array; returns the new iterate
```

An instance is also a valid method for `gdlab.runner.run`, which calls `method(x, g, k)`. For several arrays
use `NumpyOptimizer.step_arrays`, which updates a list of arrays in place, like a torch optimizer's `step`.

Methods that take the gradient away from the iterate (Nesterov's look-ahead form,
`SGD(momentum=0.9, nesterov=True, nesterov_form="lookahead")`) say where:
`g = grad(opt.lookahead_point(x)); x = opt(x, g)`. For every other rule `opt.lookahead_point(x)` is `x` itself.

`nonfinite` and `track_stats` behave as in the torch face: `"propagate"` (default), `"raise"`
(`FloatingPointError`) or `"skip"` (parameters and state unchanged) for NaN/Inf gradient entries; with
`track_stats=True`, `opt.stats` holds the update norm, the effective per-coordinate rate |Δx_i|/|g_i|
(min/median/max), the non-finite count and whatever the rule records. Each class's signature and documentation
are made from its rule (`gdlab.optim.signature`, `gdlab.optim.docs`).
The arithmetic is the rule's own (`gdlab.optim.rules`), run by `gdlab.optim.ops.NumpyOps`; no torch is imported.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import numpy as np

from . import signature
from .base import Context, Rule
from .ops import NumpyOps
from .rules import RULES

if TYPE_CHECKING:  # the classes made below, as type checkers and editors see them (python -m gdlab.optim.signature)
    from ._numpy_classes import *  # noqa: F403


class NumpyOptimizer:
    """A rule with its hyperparameters and its state, acting on NumPy arrays."""

    rule_class: type[Rule] = Rule

    def __init__(self, track_stats: bool = False, nonfinite: str = "propagate", **hyper: Any):
        self.rule = self.rule_class()
        owner = type(self).__name__
        hp = dict(self.rule.defaults)
        unknown = set(hyper) - set(hp)
        if unknown:
            raise TypeError(f"{owner} got unexpected argument(s): {sorted(unknown)}")
        hp.update(hyper)
        # types first (TypeError naming the argument), then the values (ValueError, as the torch face)
        signature.check(self.rule_class, hp, owner)
        signature.check_options("numpy", dict(track_stats=track_stats, nonfinite=nonfinite), owner)
        self.rule.validate(hp)
        self.rule.validate_face(hp, "numpy")
        self.group = hp
        self.ops = NumpyOps()
        self.track_stats = track_stats
        self.nonfinite = nonfinite
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
        """Update `params` (float arrays) in place from `grads`."""
        if self.states and len(self.states) != len(params):
            raise ValueError(f"this optimizer holds state for {len(self.states)} arrays, got {len(params)}")
        grads = [np.asarray(g, dtype=p.dtype) for g, p in zip(grads, params)]
        bad = 0
        if self.nonfinite != "propagate" or self.track_stats:
            counts = self.ops.nonfinite_counts(grads)
            bad = sum(counts)
            if bad and self.nonfinite == "raise":
                j = next(i for i, c in enumerate(counts) if c)
                raise FloatingPointError(f"{type(self).__name__}: gradient of array {j} (shape "
                                         f"{np.shape(grads[j])}) has {counts[j]} non-finite entries")
            if bad and self.nonfinite == "skip":
                self.stats = {"nonfinite": bad, "skipped": True}
                return
        if not self.states:
            for j, p in enumerate(params):
                problem = self.rule.check_param(tuple(np.shape(p)), self.group)
                if problem is not None:
                    raise ValueError(f"{type(self).__name__}: array {j}: {problem}")
            self.states = [dict(step=0, **self.rule.init_state(self.ops, p, self.group)) for p in params]
        if self.group.get("maximize"):
            grads = [-g for g in grads]
        for s in self.states:
            s["step"] += 1
        stats = {"nonfinite": bad} if self.track_stats else None
        before = self.ops.clone(params) if self.track_stats else None
        ctx = Context(ops=self.ops, params=params, grads=grads, states=self.states,
                      steps=[s["step"] for s in self.states], group=self.group, stats=stats,
                      extras=extras or {})
        self.rule.update(ctx)
        if stats is not None:
            _effective_stats(stats, before, params, grads, self.group)
        self.stats = stats or {}

    def lookahead_points(self, params: list) -> list:
        """Where the next gradients must be taken for `params` (new arrays; the state is not changed)."""
        if not self.states:
            return self.ops.clone(params)
        pts = self.rule.lookahead_point(self.ops, params, self.states, self.group)
        return self.ops.clone(params) if pts is None else pts

    def lookahead_point(self, x):
        """Where the gradient of the next step from iterate `x` must be taken (`x` for most rules)."""
        return self.lookahead_points([np.array(x, dtype=float, copy=True)])[0]

    def __call__(self, x, g, k: int | None = None, **extras):
        """One step from iterate `x` with gradient `g`; returns the new iterate (`x` is not changed)."""
        x_new = np.array(x, dtype=float, copy=True)
        self.step_arrays([x_new], [np.asarray(g, dtype=float)], extras or None)
        return x_new

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in self.group.items() if self.rule.defaults.get(k) != v)
        return f"{type(self).__name__}({hp})"


def _effective_stats(stats: dict, before: list, params: list, grads: list, group: dict) -> None:
    """Update norm and effective per-coordinate rate |Δx_i|/|g_i| (min, median, max)."""
    deltas = [p - b for p, b in zip(params, before)]
    stats["update_norm"] = float(np.sqrt(sum(float(np.sum(np.square(d))) for d in deltas)))
    ratios = [np.abs(d[g != 0]) / np.abs(g[g != 0]) for d, g in zip(deltas, grads) if np.any(g != 0)]
    if ratios:
        r = np.concatenate([np.ravel(x) for x in ratios])
        stats["lr_eff_min"] = float(r.min())
        stats["lr_eff_median"] = float(np.sort(r)[(r.size - 1) // 2])  # the lower median, as torch.median
        stats["lr_eff_max"] = float(r.max())
    stats["lr"] = float(group["lr"])


def _make(rule_class: type[Rule]) -> type[NumpyOptimizer]:
    """The NumPy class of a rule, with the signature and documentation made from the rule."""
    from . import docs

    sig = signature.signature(rule_class, "numpy")
    name = rule_class.name

    def __init__(self, *args, **kwargs):
        NumpyOptimizer.__init__(self, **signature.bind(sig, type(self).__name__, args, kwargs))

    this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    __init__.__signature__ = sig.replace(parameters=[this, *sig.parameters.values()])  # type: ignore[attr-defined]
    __init__.__annotations__ = {**{k: p.annotation for k, p in sig.parameters.items()}, "return": None}
    __init__.__qualname__ = f"{name}.__init__"
    __init__.__doc__ = f"Make the optimizer; `help(gdlab.optim.numpy.{name})` lists the arguments."
    return type(name, (NumpyOptimizer,), {
        "rule_class": rule_class,
        "__init__": __init__,
        "__doc__": docs.docstring(rule_class, "numpy"),
        "__module__": __name__,
        "__qualname__": name,
    })


def make(name: str, **hyper: Any) -> NumpyOptimizer:
    """The NumPy optimizer named `name` (a key of `gdlab.optim.rules.RULES`)."""
    if name not in RULES:
        raise ValueError(f"Unknown optimizer name={name!r}; known: {sorted(RULES)}")
    return globals()[name](**hyper)


for _name, _rule in RULES.items():
    globals()[_name] = _make(_rule)

__all__ = ["NumpyOptimizer", "make", *RULES]
