"""The torch face: every rule as a `torch.optim.Optimizer` subclass.

`RuleOptimizer` turns a rule (`gdlab.optim.base.Rule`) into a drop-in torch optimizer: param groups,
`state_dict`/`load_state_dict`, `zero_grad`, closures, `torch.optim.lr_scheduler` (which edits `group["lr"]`),
`torch.amp.GradScaler` (which calls `step` and reads `param_groups`), DDP and FSDP (which only need `step` to
update `p` from `p.grad` in place) all work as with torch's own classes. Parameters may be given with their
names, `model.named_parameters()`, as torch allows; messages then name them.

Each class's signature and documentation are made from its rule (`gdlab.optim.signature`, `gdlab.optim.docs`).
Its options beyond the rule's hyperparameters, torch.optim's `foreach`, `fused`, `capturable`, `differentiable`
and gdlab's own `nonfinite`, `track_stats`, `compile`, `bf16_update`, `bf16_seed`, are listed, with what they do,
in `gdlab.optim.signature.OPTIONS` and in every class's `help()`. torch's four implementation flags are kept in
every param group, as torch keeps them, so that checkpoints pass between gdlab and torch.optim both ways:
`state["step"]` is a 0-dim float32 tensor, as in torch, and a group loaded without one of gdlab's keys gets its
default. `copy.deepcopy` and pickling keep gdlab's attributes (`__getstate__` extends torch's).
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, Iterable

try:
    import torch
except ImportError as err:  # the NumPy face needs no torch; this one does
    if err.name != "torch":
        raise
    raise ImportError("gdlab's torch face (gdlab.optim.SGD, gdlab.optim.AdamW, ...) needs PyTorch, which is not "
                      "installed: pip install 'gdlab[torch]'. The NumPy face, gdlab.optim.numpy, needs no torch.",
                      name="torch") from err
from torch.optim.optimizer import ParamsT

from . import lowprec, signature
from .base import Context, Rule
from .ops import DifferentiableTorchOps, TorchOps

#: With `foreach` left at `None` on CPU, a group whose tensors hold at least this many elements on average
#: is updated one tensor at a time: every operation of the rule then runs on a tensor while it is still in cache
#: (torch.optim's for-loop beats its own foreach on large CPU tensors for the same reason). Smaller tensors go
#: through torch's multi-tensor (foreach) kernels, where Python overhead per tensor would dominate.
PER_TENSOR_NUMEL = 1 << 16

#: torch.optim's implementation flags, kept in every param group as torch keeps them
IMPL_FLAGS = ("foreach", "fused", "capturable", "differentiable")
#: the rules whose step reads values on the host (norms, RMS) or rewrites saved statistics, so that autograd
#: cannot follow it: `differentiable=True` is refused for them (checked by gradcheck in tests/test_optim_torch_api.py)
NOT_DIFFERENTIABLE = {
    "Adafactor": "its relative step and update clipping read RMS values on the host",
    "LAMB": "its trust ratio reads norms on the host",
    "LARS": "its trust ratio reads norms on the host",
    "Muon": "its Newton-Schulz iteration normalises by a norm read on the host",
    "Shampoo": "its preconditioner statistics and their roots are rewritten in place",
    "SOAP": "its preconditioner statistics and eigenvectors are rewritten in place",
}
#: gdlab's own attributes, with the value an optimizer pickled before they existed gets
OWN_ATTRS = {"nonfinite": "propagate", "track_stats": False, "compile": False, "bf16_update": "nearest",
             "bf16_seed": 0, "stats": [], "skipped_steps": 0}


class RuleOptimizer(torch.optim.Optimizer):
    """A torch optimizer driven by one rule (`gdlab.optim.base.Rule`). Subclasses set `rule_class`."""

    rule_class: type[Rule] = Rule

    def __init__(self, params: ParamsT, defaults: dict | None = None, *, foreach: bool | None = None,
                 fused: bool | None = None, capturable: bool = False, differentiable: bool = False,
                 nonfinite: str = "propagate", track_stats: bool = False, compile: bool = False,
                 bf16_update: str = "nearest", bf16_seed: int = 0, **hyper: Any):
        self.rule = self.rule_class()
        owner = type(self).__name__
        merged = dict(self.rule.defaults)
        merged.update(defaults or {})
        merged.update(hyper)
        unknown = set(merged) - set(self.rule.defaults)
        if unknown:
            raise TypeError(f"{owner} got unexpected argument(s): {sorted(unknown)}")
        # types first (TypeError naming the argument), then the values (torch.optim's ValueErrors)
        _torch_refusals(self.rule_class, merged, foreach and not capturable, owner)
        signature.check(self.rule_class, merged, owner, tensor=torch.Tensor)
        flags = dict(foreach=foreach, fused=fused, capturable=capturable, differentiable=differentiable)
        signature.check_options("torch", dict(**flags, nonfinite=nonfinite, track_stats=track_stats,
                                              compile=compile, bf16_update=bf16_update, bf16_seed=bf16_seed), owner)
        self.rule.validate(merged)
        self.rule.validate_face(merged, "torch")
        if differentiable and self.rule.name in NOT_DIFFERENTIABLE:
            raise NotImplementedError(
                f"{owner}: differentiable=True is not supported: {NOT_DIFFERENTIABLE[self.rule.name]}, which "
                "autograd cannot follow; use differentiable=False, or a rule whose step is differentiable "
                "(SGD, Adam, AdamW, Adagrad, RMSprop, NAdam, RAdam, ...)")
        if fused:  # torch.optim's refusals, with its wording
            if differentiable:
                raise RuntimeError("`fused` does not support `differentiable`")
            if foreach:
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        merged.update(flags)
        merged.update(self.rule.group_keys)
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
        merged = {k: param_group.get(k, v) for k, v in self.defaults.items() if k not in IMPL_FLAGS}
        if hasattr(self, "rule"):
            owner = f"{type(self).__name__}, param group {len(self.param_groups)}"
            signature.check(self.rule_class, merged, owner, tensor=torch.Tensor)
            self.rule.validate(merged)
            self.rule.validate_face(merged, "torch")
            self._check_params(param_group, merged)
        super().add_param_group(param_group)

    def _check_params(self, param_group: dict, hp: dict) -> None:
        """Refuse, by name, a parameter the rule cannot update (Muon and a vector), before the first step."""
        if not isinstance(param_group, dict) or isinstance(param_group.get("params"), set):
            return  # torch refuses these itself, with its own message
        items = param_group["params"]
        items = [items] if isinstance(items, torch.Tensor) else list(items)
        param_group["params"] = items  # (a generator is read once, here; torch reads the list)
        for j, item in enumerate(items):
            name, p = item if isinstance(item, tuple) and len(item) == 2 else (None, item)
            if not isinstance(p, torch.Tensor):
                continue  # torch raises its TypeError
            problem = self.rule.check_param(tuple(p.shape), hp)
            if problem is not None:
                label = (f"parameter {name!r}" if name is not None
                         else f"parameter {j} of group {len(self.param_groups)} (shape {tuple(p.shape)})")
                raise ValueError(f"{type(self).__name__}: {label}: {problem}")

    # -- copies and checkpoints -----------------------------------------------------------
    def __getstate__(self) -> dict:
        """torch's state (`defaults`, `state`, `param_groups`) and gdlab's attributes; the compiled step is
        made again at the next step, and hooks are not copied, as torch does not copy them."""
        state = super().__getstate__()
        for k, v in self.__dict__.items():
            if k in state or k.startswith("_optimizer_") or k in _NOT_PICKLED:
                continue
            state[k] = v
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)  # torch's: restores the hooks' dictionaries
        d = self.__dict__
        if "rule" not in d:
            self.rule = self.rule_class()
        for k, v in OWN_ATTRS.items():
            d.setdefault(k, copy.copy(v))
        d.setdefault("_bf16_generators", {})
        d["_compiled"] = None
        # a group from a checkpoint that lacks a key (torch.optim's, or one of an older gdlab) gets the default,
        # as torch's own __setstate__ does; a key the checkpoint has (AdamW's decoupled_weight_decay) is kept
        for group in self.param_groups:
            for k, v in self.defaults.items():
                group.setdefault(k, v)
            group.update(self.rule.group_keys)  # as torch.optim.AdamW: a loaded Adam group decouples too

    # -- the step --------------------------------------------------------------------
    def _ops(self, group: dict) -> TorchOps:
        if group.get("differentiable"):
            return DifferentiableTorchOps()  # as torch: the differentiable step is the for-loop one
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
            if g.is_sparse and not hasattr(self.rule, "sparse_update"):  # (SGD and Adagrad take them: below)
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients "
                                   f"(the gradient of {self._param_name(p, self._group_index(group))})")
            params.append(p)
            grads.append(g)
        if grads and group.get("maximize"):
            grads = list(torch._foreach_neg(grads))
        return params, grads

    def _states(self, group: dict, params: list, ops: TorchOps) -> list[dict]:
        """Per-parameter state, created at a parameter's first step."""
        state_of = self.state
        states = [state_of[p] for p in params]
        on_device = bool(group.get("capturable") or group.get("fused"))
        fresh = [i for i, state in enumerate(states) if not state]
        if fresh:
            for i, step in zip(fresh, _zero_steps([params[i] for i in fresh], on_device)):
                states[i]["step"] = step
                states[i].update(_init_state(self.rule, ops, params[i], group))
        for p, state in zip(params, states):
            if not isinstance(state.get("step"), torch.Tensor):
                # torch's SGD and Muon keep no step; a checkpoint of an older gdlab kept an int
                state["step"] = _zero_step(p, on_device).add_(float(state.get("step") or 0))
        return states

    def _nonfinite_report(self, group_index: int, params: list, grads: list) -> int:
        bad = 0
        for p, g in zip(params, grads):
            n = int(g.numel() - torch.isfinite(g).sum())
            if n and self.nonfinite == "raise":
                raise FloatingPointError(
                    f"{type(self).__name__}: gradient of {self._param_name(p, group_index)} has {n} "
                    f"non-finite entries (of {g.numel()})")
            bad += n
        return bad

    def _group_index(self, group: dict) -> int:
        return next(i for i, g in enumerate(self.param_groups) if g is group)

    def _param_name(self, p, group_index: int) -> str:
        """How messages name `p`: by its name when the optimizer was built from `named_parameters()` (or
        given names by `set_param_names`), else by its place in its group and its shape."""
        group = self.param_groups[group_index]
        j = next(i for i, q in enumerate(group["params"]) if q is p)
        if "param_names" in group:  # torch keeps the names of (name, tensor) pairs here
            return f"parameter {group['param_names'][j]!r}"
        names = getattr(self, "param_names", None)
        if names and p in names:
            return f"parameter {names[p]!r}"
        return f"parameter {j} of group {group_index} (shape {tuple(p.shape)})"

    def set_param_names(self, named_parameters: Iterable) -> None:
        """Give parameters names (e.g. `model.named_parameters()`) for error messages, when the optimizer was
        built from `model.parameters()`; one built from `model.named_parameters()` knows them already."""
        self.param_names = {p: n for n, p in named_parameters}

    def zero_grad(self, set_to_none: bool = True) -> None:
        """torch.optim's ``zero_grad``. With ``set_to_none=False`` and a fused step (``compile=True`` or
        ``fused=True``) the zeroed gradients then become views of the group's flat gradient buffer, so that
        ``backward()`` accumulates into it and the next step reads it without a copy; a gradient object held
        from before this call is zeroed but no longer the parameter's."""
        super().zero_grad(set_to_none=set_to_none)
        if not set_to_none:
            for engine in self.__dict__.get("_fused", {}).values():
                engine.adopt_grads_now()

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # as torch: the step runs under autograd only with differentiable=True
        with torch.set_grad_enabled(bool(self.defaults.get("differentiable"))):
            self._step()
        return loss

    def _fast_groups(self) -> set[int]:
        """The groups whose step the fused engine took straight from the group and state (``FusedStep.fast_step``:
        a steady compiled step, none of gdlab's per-step options on); each of the others takes the path below."""
        engines = self.__dict__.get("_fused")
        if (not engines or self.nonfinite != "propagate" or self.track_stats or self.bf16_update != "nearest"
                or type(self)._extras is not RuleOptimizer._extras):
            return set()
        done = set()
        for gi, group in enumerate(self.param_groups):
            engine = engines.get(id(group))
            if engine is not None and engine.fast_step(group, self.state):
                done.add(gi)
        return done

    def _step(self) -> None:
        fast = self._fast_groups()
        if fast and len(fast) == len(self.param_groups):
            self.stats = [{} for _ in fast]
            return
        gathered = [([], []) if gi in fast else self._gather(group) for gi, group in enumerate(self.param_groups)]
        track = self.track_stats
        bad = [0] * len(gathered)
        if self.nonfinite != "propagate" or track:
            bad = [self._nonfinite_report(gi, params, grads) for gi, (params, grads) in enumerate(gathered)]
            if self.nonfinite == "skip" and any(bad):
                self.skipped_steps += 1
                self.stats = [{"nonfinite": n, "skipped": True} for n in bad]
                return
        self.stats = []
        for gi, (group, (params, grads)) in enumerate(zip(self.param_groups, gathered)):
            stats = {"nonfinite": bad[gi]} if track else None
            if not params:
                self.stats.append(stats or {})
                continue
            _check_impl(group, params)
            ops = self._ops(group)
            states = self._states(group, params, ops)
            steps = _advance_steps(states)
            group = _for_rule(group)
            before = [p.detach().clone() for p in params] if track else None
            run = lowprec.begin(params, states, self.bf16_update)  # float32 work copies of bf16 parameters
            ctx = Context(ops=ops, params=run, grads=grads, states=states, steps=steps,
                          group=group, stats=stats, extras=self._extras(group))
            for part in (_each_tensor(ctx) if self._per_tensor(group, params) else [ctx]):
                self._run_rule(part)
            lowprec.finish(params, run, states, self.bf16_update, self._bf16_generators, self.bf16_seed)
            if track:
                _effective_stats(stats, before, params, grads, group)
            self.stats.append(stats or {})

    def _extras(self, group: dict) -> dict:
        return {}

    def _per_tensor(self, group: dict, params: list) -> bool:
        """Whether this step updates the group one tensor at a time (see :data:`PER_TENSOR_NUMEL`)."""
        if (group.get("foreach") is not None or self.compile or self.track_stats or group.get("fused")
                or group.get("differentiable")):
            return False  # an explicit choice, the compiled path and per-group statistics keep the group whole
        # the answer depends on the parameters' sizes and devices only: kept per group for the same parameters
        # (about 2 µs per parameter to find again, as much as a foreach step of 2,000 small tensors takes)
        key = (len(params), id(params[0]), id(params[-1]))
        cache = self.__dict__.setdefault("_per_tensor_cache", {})
        hit = cache.get(id(group.get("params")))
        if hit is not None and hit[0] == key:
            return hit[1]
        answer = _large_on_cpu(params)
        cache[id(group.get("params"))] = (key, answer)
        return answer

    def _eager_update(self, ctx: Context) -> None:
        """A step the compiled engine does not compile (a rule it cannot trace, a step that does not fit), run as
        the optimizer without ``compile=True`` runs it: large CPU tensors one at a time (:data:`PER_TENSOR_NUMEL`),
        since the whole group's intermediates at once cost more than the arithmetic."""
        group = ctx.group
        if (ctx.stats is None and not ctx.extras and len(ctx.params) > 1 and group.get("foreach") is None
                and not group.get("differentiable") and isinstance(ctx.ops, TorchOps) and ctx.ops.foreach
                and _large_on_cpu(ctx.params)):
            for part in _each_tensor(ctx):
                self.rule.update(part)
            return
        self.rule.update(ctx)

    #: what `compile=True` runs: "fused", the rule on flat buffers, one compiled loop per group (`fused.py`), or
    #: "per-tensor", the rule on the group's tensors, one compiled graph for the optimizer (`compiled.py`)
    compile_engine = "fused"

    def _run_rule(self, ctx: Context) -> None:
        if any(p.is_complex() for p in ctx.params):
            return _complex_step(self, ctx)  # the rule runs on the real views (below)
        if any(g.is_sparse for g in ctx.grads):
            return _sparse_step(self, ctx)  # the rule's own sparse path (below)
        compile = self.compile or bool(ctx.group.get("fused"))  # fused=True: the compiled step
        if compile and self.compile_engine == "fused":
            from .fused import FusedStep  # the rule's own update on flat buffers, compiled (see fused.py)

            engines = self.__dict__.setdefault("_fused", {})
            engine = engines.get(id(ctx.group))
            if engine is None or engine.group is not ctx.group:  # a new group (load_state_dict makes new ones)
                live = {id(g) for g in self.param_groups}
                for key in [k for k in engines if k not in live]:
                    del engines[key]
                engine = engines[id(ctx.group)] = FusedStep(self.rule, ctx.group, eager=self._eager_update)
            engine(ctx)
        elif compile:
            if self._compiled is None:
                from .compiled import CompiledStep  # the rule's own update, compiled (see compiled.py)

                self._compiled = CompiledStep(self.rule, eager=self._eager_update)
            self._compiled(ctx)
        else:
            self.rule.update(ctx)


_NOT_PICKLED = ("_compiled", "_fused", "_zero_grad_profile_name", "_per_tensor_cache")


def _each_tensor(ctx: Context) -> list[Context]:
    """``ctx`` as one context per tensor, each with for-loop operations (the step of large CPU tensors)."""
    one = TorchOps(foreach=False)
    return [Context(ops=one, params=ctx.params[i:i + 1], grads=ctx.grads[i:i + 1], states=ctx.states[i:i + 1],
                    steps=ctx.steps[i:i + 1], group=ctx.group, stats=ctx.stats, extras=ctx.extras)
            for i in range(len(ctx.params))]


def _large_on_cpu(params: list) -> bool:
    """Every tensor on the CPU and :data:`PER_TENSOR_NUMEL` elements or more on average."""
    return all(p.device.type == "cpu" for p in params) and \
        sum(p.numel() for p in params) >= PER_TENSOR_NUMEL * len(params)


def _advance_steps(states: list[dict]) -> list[int]:
    """Add one to every parameter's ``state["step"]`` tensor, in place as torch does, and return the counts.

    The step tensors a group's first step creates are the elements of one vector (:func:`_zero_steps`); while
    the group's steps are exactly that vector, in order, one ``add_`` and one read advance them all. Otherwise
    (some parameters without a gradient, a loaded checkpoint, a deep copy) each is advanced on its own. A loop
    of ``+= 1`` and ``int()`` costs about 4 µs per parameter, as does torch's ``_foreach_add_`` on CPU.
    """
    ts = [st["step"] for st in states]
    base = ts[0]._base
    if (base is not None and len(ts) > 1 and base.dim() == 1 and base.is_contiguous() and base.numel() == len(ts)
            and all(t._base is base for t in ts)):
        o = base.storage_offset()
        if all(t.storage_offset() == o + i for i, t in enumerate(ts)):
            base.add_(1)
            return [int(c) for c in base.tolist()]
    out = []
    for t in ts:
        t += 1
        out.append(int(t))
    return out


def _zero_steps(params: list, on_device: bool) -> list[torch.Tensor]:
    """The step counts of parameters at their first step, as :func:`_zero_step`, made as the elements of one
    vector per device so that :func:`_advance_steps` can add one to all of them at once."""
    if not on_device or all(p.device == params[0].device for p in params):
        flat = torch.zeros(len(params), dtype=_step_dtype(on_device), device=params[0].device if on_device else "cpu")
        return [flat[i] for i in range(len(params))]
    return [_zero_step(p, on_device) for p in params]


def _zero_step(p: torch.Tensor, on_device: bool) -> torch.Tensor:
    """A parameter's step count before its first step: a 0-dim float32 tensor as torch keeps it (on the
    parameter's device with `capturable` or `fused`, on the CPU otherwise)."""
    if on_device:
        return torch.zeros((), dtype=_step_dtype(True), device=p.device)
    return torch.tensor(0.0, dtype=_step_dtype(False))


def _step_dtype(on_device: bool) -> torch.dtype:
    """torch's dtype for step counts: float32 on the device (capturable, fused), else the default float dtype's."""
    from torch.optim.optimizer import _get_scalar_dtype

    return _get_scalar_dtype(is_fused=True) if on_device else _get_scalar_dtype()


def _check_impl(group: dict, params: list) -> None:
    """At the step, as torch: fused=True needs floating-point parameters on a device with fused kernels;
    a capturable step cannot run inside a CUDA graph capture (gdlab reads the step count on the host)."""
    if group.get("fused"):
        from torch.optim.optimizer import _device_dtype_check_for_fused

        for p in params:
            _device_dtype_check_for_fused(p)
    if group.get("capturable") and torch.cuda.is_available() and torch.cuda.is_current_stream_capturing():
        raise NotImplementedError("gdlab's optimizers read the step count on the host and cannot be captured in "
                                  "a CUDA graph; step outside the capture, or use fused=True (a compiled step)")


def _for_rule(group: dict) -> dict:
    """The group as the rule reads it: a tensor hyperparameter of shape [1] or [1, 1] as a 0-dim tensor, as
    torch.optim's `_to_scalar` does (the group itself, which schedulers edit and checkpoints save, is kept)."""
    lr, betas = group.get("lr"), group.get("betas")
    squeeze_lr = isinstance(lr, torch.Tensor) and lr.dim() != 0
    squeeze_b = isinstance(betas, (tuple, list)) and any(isinstance(b, torch.Tensor) and b.dim() != 0 for b in betas)
    if not (squeeze_lr or squeeze_b):
        return group
    out = dict(group)
    if squeeze_lr:
        out["lr"] = lr.squeeze()
    if squeeze_b:
        out["betas"] = tuple(b.squeeze() if isinstance(b, torch.Tensor) else b for b in betas)
    return out


def _effective_stats(stats: dict, before: list, params: list, grads: list, group: dict) -> None:
    r"""Update norm ‖Δθ‖ and the effective per-coordinate rate |Δθ_i|/|g_i| (min, median, max).

    For SGD without momentum or decay the effective rate is η in every coordinate; for Adam's first
    step it is $\eta/(|g_i| + \epsilon)$. Coordinates with a zero gradient are left out.
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
    """Build the torch class for a rule: its signature (`gdlab.optim.signature`) and its documentation
    (`gdlab.optim.docs`) are made from the rule."""
    from . import docs

    sig = signature.signature(rule_class, "torch", tensor=torch.Tensor, params=ParamsT)
    name = rule_class.name

    def __init__(self, *args, **kwargs):
        given = signature.bind(sig, type(self).__name__, args, kwargs)
        RuleOptimizer.__init__(self, given.pop("params"), **given)

    this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    __init__.__signature__ = sig.replace(parameters=[this, *sig.parameters.values()])  # type: ignore[attr-defined]
    __init__.__annotations__ = {**{k: p.annotation for k, p in sig.parameters.items()}, "return": None}
    __init__.__qualname__ = f"{name}.__init__"
    __init__.__doc__ = f"Make the optimizer; `help(gdlab.optim.{name})` lists the arguments."

    # a rule may bring methods of its own for the torch face (Sophia's Hessian estimators,
    # schedule-free AdamW's eval()/train()) as a mixin class
    mixin = getattr(rule_class, "torch_mixin", None)
    bases = (mixin, RuleOptimizer) if mixin is not None else (RuleOptimizer,)
    cls = type(name, bases, {
        "rule_class": rule_class,
        "__init__": __init__,
        "__doc__": docs.docstring(rule_class, "torch"),
        "__module__": "gdlab.optim",
        "__qualname__": name,
    })
    return cls


# --- complex parameters, and the refusals torch makes before any arithmetic -------------------------------------
def _torch_refusals(rule_class: type[Rule], hp: dict, foreach: bool | None, owner: str) -> None:
    """Refuse at construction what torch.optim refuses there, with its exception type and wording: betas that
    mix floats and tensors (every rule with `betas`), and, where the rule says torch does
    (`Rule.foreach_refuses_tensors`, Adam and AdamW), a tensor lr or beta with `foreach=True`; and what a rule's
    own `torch_refusals(hp)` refuses in torch's words before the type checks (Muon's `adjust_lr_fn`)."""
    own = getattr(rule_class, "torch_refusals", None)
    if own is not None:
        own(hp)
    betas = hp.get("betas")
    if isinstance(betas, (tuple, list)) and len(betas) == 2:
        kinds = {isinstance(b, torch.Tensor) for b in betas}
        if kinds == {True, False}:
            raise ValueError(f"betas must be either both floats or both Tensors ({owner}: betas={betas!r})")
    if foreach and getattr(rule_class, "foreach_refuses_tensors", False):
        if isinstance(hp.get("lr"), torch.Tensor):
            raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True "
                             f"({owner}: use a float lr, or foreach=False)")
        for i, b in enumerate(betas if isinstance(betas, (tuple, list)) else ()):
            if isinstance(b, torch.Tensor):
                raise ValueError(f"betas[{i}] as a Tensor is not supported for capturable=False and foreach=True "
                                 f"({owner}: use float betas, or foreach=False)")


def _real_shaped(v, pr) -> bool:
    return isinstance(v, torch.Tensor) and v.dtype == pr.dtype and v.shape == pr.shape


def _init_state(rule: Rule, ops: TorchOps, p, group: dict) -> dict:
    """A parameter's first buffers; a complex parameter's are made from its real view, as torch.optim does
    (Adagrad's accumulator starts at v + vi), and those shaped like the parameter are kept complex."""
    if not p.is_complex():
        return rule.init_state(ops, p, group)
    refusal = getattr(rule, "complex_refusal", None)
    if refusal:
        raise RuntimeError(refusal)
    pr = torch.view_as_real(p)
    return {k: torch.view_as_complex(v.contiguous()) if _real_shaped(v, pr) else v
            for k, v in rule.init_state(ops, pr, group).items()}


def _complex_step(opt: RuleOptimizer, ctx: Context) -> None:
    """One step of a group holding complex parameters: the rule runs on the real views (`torch.view_as_real`) of
    the parameters, gradients and complex buffers, so that a complex parameter is updated exactly as the real
    tensor of its (real, imaginary) pairs would be (torch.optim's convention). Buffers the rule replaces or
    creates are stored back, complex where they are shaped like the real view."""
    refusal = getattr(opt.rule, "complex_refusal", None)
    if refusal:
        raise RuntimeError(refusal)
    params, grads, states, pairs = [], [], [], []
    for p, g, s in zip(ctx.params, ctx.grads, ctx.states):
        if not p.is_complex():
            params.append(p)
            grads.append(g)
            states.append(s)
            pairs.append(None)
            continue
        pr = torch.view_as_real(p)
        view = {k: torch.view_as_real(v) if isinstance(v, torch.Tensor) and v.is_complex() else v
                for k, v in s.items()}
        params.append(pr)
        grads.append(torch.view_as_real(g))
        states.append(view)
        pairs.append((s, dict(view), pr))
    real = Context(ops=ctx.ops, params=params, grads=grads, states=states, steps=ctx.steps, group=ctx.group,
                   stats=ctx.stats, extras=ctx.extras)
    opt._run_rule(real)
    for pair, view in zip(pairs, states):
        if pair is None:
            continue
        s, before, pr = pair
        for k in set(before) - set(view):
            del s[k]
        for k, v in view.items():
            if k in before and before[k] is v:
                continue  # updated in place: the complex buffer shares its storage
            s[k] = torch.view_as_complex(v.contiguous()) if _real_shaped(v, pr) else v


def _sparse_step(opt: RuleOptimizer, ctx: Context) -> None:
    """One step of a group where some gradients are sparse (`torch.sparse_coo_tensor`, e.g. from
    `nn.Embedding(sparse=True)`): those parameters go through the rule's `sparse_update`, one tensor at a time
    (torch's multi-tensor kernels take no sparse tensors); the others take the ordinary step."""
    sparse = [i for i, g in enumerate(ctx.grads) if g.is_sparse]
    dense = [i for i in range(len(ctx.grads)) if i not in set(sparse)]

    def part(idx: list, ops) -> Context:
        return Context(ops=ops, params=[ctx.params[i] for i in idx], grads=[ctx.grads[i] for i in idx],
                       states=[ctx.states[i] for i in idx], steps=[ctx.steps[i] for i in idx], group=ctx.group,
                       stats=None, extras=ctx.extras)

    opt.rule.sparse_update(part(sparse, TorchOps(foreach=False)))
    if dense:
        opt._run_rule(part(dense, ctx.ops))
