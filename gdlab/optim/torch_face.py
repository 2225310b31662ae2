"""The torch face: every rule as a ``torch.optim.Optimizer`` subclass.

:class:`RuleOptimizer` turns a :class:`~gdlab.optim.base.Rule` into a drop-in torch
optimizer: param groups, ``state_dict``/``load_state_dict``, ``zero_grad``, closures,
``torch.optim.lr_scheduler`` (which edits ``group["lr"]``), ``torch.amp.GradScaler``
(which calls ``step`` and reads ``param_groups``), DDP and FSDP (which only need
``step`` to update ``p`` from ``p.grad`` in place) all work as with torch's own classes.

Extras over torch.optim:

* ``nonfinite``: what to do with NaN/Inf gradient entries: ``"propagate"`` (torch's
  behaviour, the default), ``"raise"`` (``FloatingPointError`` naming the parameter; call
  :meth:`RuleOptimizer.set_param_names` with ``model.named_parameters()`` for names) or
  ``"skip"`` (the whole step, every group, is skipped and no state is created or changed,
  as GradScaler does on overflow; ``optimizer.skipped_steps`` counts them).
* ``track_stats=True``: after each step ``optimizer.stats[i]`` holds group ``i``'s update
  norm, effective per-coordinate learning rate (min/median/max of |Δθ|/|g|), the count of
  non-finite gradient entries, and whatever the rule records (trust ratios, RAdam's
  rectification, ...).
* ``compile=True``: the rule's step for a group runs through ``torch.compile``.
* ``bf16_update``: how the update is written into bfloat16 parameters: ``"nearest"`` (torch's rounding,
  the default), ``"kahan"`` (Kahan-compensated, one bfloat16 buffer ``kahan_comp`` per parameter) or
  ``"stochastic"`` (stochastic rounding, random bits seeded by ``bf16_seed``); see :mod:`gdlab.optim.lowprec`.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

from . import lowprec
from .base import Context, Rule
from .ops import TorchOps

_NONFINITE = ("propagate", "raise", "skip")

#: With ``foreach`` left at ``None`` on CPU, a group whose tensors hold at least this many elements on average
#: is updated one tensor at a time: every operation of the rule then runs on a tensor while it is still in cache
#: (torch.optim's for-loop beats its own foreach on large CPU tensors for the same reason). Smaller tensors go
#: through torch's multi-tensor (foreach) kernels, where Python overhead per tensor would dominate.
PER_TENSOR_NUMEL = 1 << 16


class RuleOptimizer(torch.optim.Optimizer):
    """A torch optimizer driven by one :class:`Rule`. Subclasses set ``rule_class``."""

    rule_class: type[Rule] = Rule

    def __init__(self, params: Iterable, defaults: dict | None = None, *, foreach: bool | None = None,
                 nonfinite: str = "propagate", track_stats: bool = False, compile: bool = False,
                 bf16_update: str = "nearest", bf16_seed: int = 0, **hyper: Any):
        self.rule = self.rule_class()
        merged = dict(self.rule.defaults)
        merged.update(defaults or {})
        merged.update(hyper)
        unknown = set(merged) - set(self.rule.defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected argument(s): {sorted(unknown)}")
        self.rule.validate(merged)
        self.rule.validate_face(merged, "torch")
        if nonfinite not in _NONFINITE:
            raise ValueError(f"Invalid nonfinite value: nonfinite={nonfinite!r} (expected one of {_NONFINITE})")
        merged["foreach"] = foreach
        super().__init__(params, merged)
        self.nonfinite = nonfinite
        self.track_stats = track_stats
        self.compile = compile
        self.bf16_update = lowprec.check_mode(bf16_update, compile)
        self.bf16_seed = int(bf16_seed)
        self._bf16_generators: dict = {}
        self.stats: list[dict] = []
        self.skipped_steps = 0
        self._compiled = None

    def add_param_group(self, param_group: dict) -> None:
        # validate group-specific overrides the way torch validates constructor arguments
        merged = {k: param_group.get(k, v) for k, v in self.defaults.items() if k != "foreach"}
        if hasattr(self, "rule"):
            self.rule.validate(merged)
            self.rule.validate_face(merged, "torch")
        super().add_param_group(param_group)

    # -- the step --------------------------------------------------------------------
    def _ops(self, group: dict) -> TorchOps:
        fe = group.get("foreach")
        if fe is None:
            fe = True
        return TorchOps(foreach=bool(fe))

    def _gather(self, group: dict):
        """The group's parameters that have a gradient, and those gradients (negated to maximize)."""
        params, grads = [], []
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            if g.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            params.append(p)
            grads.append(g)
        if grads and group.get("maximize"):
            grads = list(torch._foreach_neg(grads))
        return params, grads

    def _states(self, group: dict, params: list, ops: TorchOps) -> list[dict]:
        """Per-parameter state, created at a parameter's first step."""
        state_of = self.state
        states = [state_of[p] for p in params]
        for p, state in zip(params, states):
            if not state:
                state["step"] = 0
                state.update(self.rule.init_state(ops, p, group))
        return states

    def _nonfinite_report(self, group_index: int, params: list, grads: list) -> int:
        bad = 0
        for j, (p, g) in enumerate(zip(params, grads)):
            n = int(g.numel() - torch.isfinite(g).sum())
            if n and self.nonfinite == "raise":
                raise FloatingPointError(
                    f"{type(self).__name__}: gradient of {self._param_name(p, group_index, j)} has {n} "
                    f"non-finite entries (of {g.numel()})")
            bad += n
        return bad

    def _param_name(self, p, group_index: int, j: int) -> str:
        names = getattr(self, "param_names", None)
        if names and p in names:
            return f"parameter {names[p]!r}"
        return f"parameter {j} of group {group_index} (shape {tuple(p.shape)})"

    def set_param_names(self, named_parameters: Iterable) -> None:
        """Give parameters names (e.g. ``model.named_parameters()``) for error messages and stats."""
        self.param_names = {p: n for n, p in named_parameters}

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        gathered = [self._gather(group) for group in self.param_groups]
        track = self.track_stats
        bad = [0] * len(gathered)
        if self.nonfinite != "propagate" or track:
            bad = [self._nonfinite_report(gi, params, grads) for gi, (params, grads) in enumerate(gathered)]
            if self.nonfinite == "skip" and any(bad):
                self.skipped_steps += 1
                self.stats = [{"nonfinite": n, "skipped": True} for n in bad]
                return loss
        self.stats = []
        for gi, (group, (params, grads)) in enumerate(zip(self.param_groups, gathered)):
            stats = {"nonfinite": bad[gi]} if track else None
            if not params:
                self.stats.append(stats or {})
                continue
            ops = self._ops(group)
            states = self._states(group, params, ops)
            steps = []
            for st in states:
                t = st["step"] + 1
                st["step"] = t
                steps.append(t)
            before = [p.detach().clone() for p in params] if track else None
            run = lowprec.begin(params, states, self.bf16_update)  # float32 work copies of bf16 parameters
            if self._per_tensor(group, params):
                one = TorchOps(foreach=False)
                for i in range(len(params)):
                    self._run_rule(Context(ops=one, params=run[i:i + 1], grads=grads[i:i + 1],
                                           states=states[i:i + 1], steps=steps[i:i + 1], group=group,
                                           stats=None, extras=self._extras(group)))
            else:
                ctx = Context(ops=ops, params=run, grads=grads, states=states, steps=steps,
                              group=group, stats=stats, extras=self._extras(group))
                self._run_rule(ctx)
            lowprec.finish(params, run, states, self.bf16_update, self._bf16_generators, self.bf16_seed)
            if track:
                _effective_stats(stats, before, params, grads, group)
            self.stats.append(stats or {})
        return loss

    def _extras(self, group: dict) -> dict:
        return {}

    def _per_tensor(self, group: dict, params: list) -> bool:
        """Whether this step updates the group one tensor at a time (see :data:`PER_TENSOR_NUMEL`)."""
        if group.get("foreach") is not None or self.compile or self.track_stats:
            return False  # an explicit choice, the compiled path and per-group statistics keep the group whole
        if any(p.device.type != "cpu" for p in params):
            return False
        return sum(p.numel() for p in params) >= PER_TENSOR_NUMEL * len(params)

    def _run_rule(self, ctx: Context) -> None:
        if self.compile:
            if self._compiled is None:
                from .compiled import CompiledStep  # the rule's own update, compiled (see compiled.py)

                self._compiled = CompiledStep(self.rule)
            self._compiled(ctx)
        else:
            self.rule.update(ctx)


def _effective_stats(stats: dict, before: list, params: list, grads: list, group: dict) -> None:
    r"""Update norm ‖Δθ‖ and the effective per-coordinate rate |Δθ_i|/|g_i| (min, median, max).

    For SGD without momentum or decay the effective rate is η in every coordinate; for Adam's first
    step it is :math:`\eta/(|g_i| + \epsilon)`. Coordinates with a zero gradient are left out.
    """
    deltas = [p.detach() - b for p, b in zip(params, before)]
    sq = sum(float(d.double().pow(2).sum()) for d in deltas)
    stats["update_norm"] = sq ** 0.5
    ratios = []
    for d, g in zip(deltas, grads):
        mask = g != 0
        if mask.any():
            ratios.append((d[mask].abs() / g[mask].abs()).double().flatten())
    if ratios:
        r = torch.cat(ratios)
        stats["lr_eff_min"] = float(r.min())
        stats["lr_eff_median"] = float(r.median())
        stats["lr_eff_max"] = float(r.max())
    stats["lr"] = float(group["lr"])


def make_optimizer(rule_class: type[Rule]) -> type[RuleOptimizer]:
    """Build the torch class for a rule, with the rule's docstring and defaults."""

    def __init__(self, params, lr=None, **kwargs):
        if lr is not None:  # the learning rate may be given positionally, as in torch.optim
            kwargs["lr"] = lr
        RuleOptimizer.__init__(self, params, **kwargs)

    # a rule may bring methods of its own for the torch face (Sophia's Hessian estimators,
    # schedule-free AdamW's eval()/train()) as a mixin class
    mixin = getattr(rule_class, "torch_mixin", None)
    bases = (mixin, RuleOptimizer) if mixin is not None else (RuleOptimizer,)
    cls = type(rule_class.name, bases, {
        "rule_class": rule_class,
        "__init__": __init__,
        "__doc__": (rule_class.__doc__ or "") + f"\n\nDefaults: {rule_class.defaults}\n",
        "__module__": "gdlab.optim",
    })
    return cls
