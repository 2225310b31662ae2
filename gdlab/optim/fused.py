r"""The fused path: a rule's one definition compiled into one loop over a flat buffer.

torch's ``fused=True`` Adam is a hand-written kernel that walks every parameter of a group once and updates the
parameter and both moments in the same pass. :class:`FusedStep` gets the same memory traffic out of the rule's
own :meth:`~gdlab.optim.base.Rule.update`, unchanged:

* **Flat buffers.** The parameters of a group are packed, per dtype and device, into one contiguous tensor, and
  each parameter becomes a view of its slice (``p.data`` is re-pointed; the ``Parameter`` objects, their shapes
  and the model's ``state_dict()`` are unchanged). Each buffer of the rule (Adam's ``exp_avg``, ``exp_avg_sq``)
  is packed the same way, and the optimizer's per-parameter state holds views of it, so ``state_dict()`` has the
  keys and shapes it had. A rule that updates every coordinate on its own can then be run on the flat tensor as
  if it were a group of one parameter: one graph, one loop, whatever the number of tensors.
* **Gradients.** The step never writes into a gradient or replaces one, as torch's optimizers. When the
  gradients are views of the flat gradient buffer, the step reads that buffer and copies nothing; otherwise they
  are gathered into it with one ``_foreach_copy_`` (4 bytes read and 4 written per float32 parameter). The optimizer's
  ``zero_grad(set_to_none=False)`` makes them such views: having zeroed them, it re-points each to its zeroed
  slice of the flat buffer, and ``backward()`` then accumulates there. With ``zero_grad()`` (``set_to_none``,
  torch's default) autograd allocates new gradients and every step gathers.
* **One trace.** The rule's step on the flat tensors is traced once by ``torch.compile`` (Inductor: C++ on CPU,
  Triton on GPU). The step count and every float hyperparameter (lr, betas, ε, weight decay) enter as
  *symbolic* floats, so a scheduler that changes any of them, at every step, reuses the same compiled code. A
  branch of the rule on a value (``if weight_decay == 0``) becomes a guard: crossing it (a decay switched on)
  compiles a second variant once. Strings, booleans and ``None`` options are constants of the trace. Before
  Inductor compiles the graph, its scalars are held with one hold instead of one each
  (:func:`~gdlab.optim.compiled.merge_holds`).
* **The steady step.** Dynamo's cache lookup and guards cost more than the compiled call itself on small
  tensors (55 µs against 27 for Adam on 8 tensors of 4 x 4). What they check is checked here anyway, so a graph
  whose inputs are exactly the step's tensors and scalars is then called directly (:class:`_Capture`); one that
  Dynamo must keep guarding (a rule that branches on the step count, as RAdam) is not. And a step that is the
  last one again (same parameters, views, state entries, trace spec) runs from the optimizer's group and state
  without building the general path's lists and context (:class:`_Plan`, :meth:`FusedStep.fast_step`).

Which rules take the flat path is checked, not listed: :func:`is_elementwise` runs three eager float64 steps of
the rule on a group of tensors and on their concatenation and accepts the rule when both give the same numbers
and the rule keeps a buffer of the parameter's shape only. Rules with per-tensor reductions (LAMB's and LARS's
trust ratios, AdamP's projection), factored moments (Adafactor), matrices (Shampoo, SOAP, Muon), quantized
buffers (Adam8bit) or state written to the group (schedule-free AdamW) fail the check and run through the
per-tensor compiled step (:class:`gdlab.optim.compiled.CompiledStep`), which is correct for them.
:attr:`FusedStep.route` says which path a group took and why.

A step that does not fit runs the rule eagerly on the ordinary per-parameter views, with the same result:
parameters without a gradient this step, parameters at different step counts, a lazy buffer still ``None``
(SGD's momentum at ``t = 1``), statistics tracking or extra inputs. Where ``torch.compile`` is unavailable or
fails, the flat buffers are kept and the rule runs eagerly on them (still one pass per operation instead of one
per tensor); the reason is kept in :attr:`FusedStep.fallback_reason` and warned about once.

Saving one parameter on its own with ``torch.save(p)`` writes the whole flat storage it is a view of (torch
saves storages); ``model.state_dict()`` and the optimizer's ``state_dict()`` share it, so a checkpoint is
written once, at its usual size.
"""

from __future__ import annotations

import itertools
import math
import types
import warnings
from collections.abc import Callable
from typing import Any

import torch

from .base import Context, Rule
from .compiled import (
    TracingOps,
    _buffer_names,
    merge_holds,
    traced_scalars,
    why_not_traced,
)

_counter = itertools.count()

#: keys of a param group that are not hyperparameters of the rule
_NOT_HYPER = ("params", "foreach", "param_names")


# --- deciding: is the rule elementwise? --------------------------------------------------------------------------
def is_elementwise(rule: Rule, hyper: dict) -> tuple[bool, str]:
    r"""Whether ``rule`` with hyperparameters ``hyper`` may run on a flat concatenation of its parameters.

    Three eager float64 steps on four tensors of different shapes and scales (one above the sizes under which
    some rules keep a plain buffer), as a group of four and as one flat tensor, once with random gradients and
    once with first gradients orthogonal, row by row, to their parameters (the scale-invariant case in which
    AdamP changes its update); accepted when the parameters and buffers agree to :math:`10^{-12}` relative (both runs do the
    same elementwise arithmetic in the same order, so they agree to a few units of float64 rounding, while a
    per-tensor norm changes the numbers at the first digit), every buffer has its parameter's shape, and the
    rule leaves its group unchanged. Returns ``(accepted, reason)``.
    """
    from .ops import TorchOps

    ops = TorchOps(foreach=False)
    group0 = dict(hyper)
    group0["lr"] = _as_float(group0.get("lr", 1e-2)) or 1e-2
    for orthogonal in (False, True):
        why = _probe(rule, ops, group0, orthogonal)
        if why is not None:
            return False, why
    return True, "elementwise"


def _probe(rule: Rule, ops, group0: dict, orthogonal: bool) -> str | None:
    """One run of :func:`is_elementwise`'s comparison: ``None`` when it passes, else the reason."""
    gen = torch.Generator().manual_seed(1)
    shapes = [(6, 4), (7,), (3, 5), (64, 72)]
    scales = [1.0, 30.0, 0.02, 3.0]  # per-tensor norms differ widely, so a norm-based rule cannot pass by chance
    p0 = [torch.randn(s, generator=gen, dtype=torch.float64) * c for s, c in zip(shapes, scales)]
    grads = [[torch.randn(s, generator=gen, dtype=torch.float64) * c for s, c in zip(shapes, scales)]
             for _ in range(3)]
    if orthogonal:
        for i, (p, g) in enumerate(zip(p0, grads[0])):
            rows_p, rows_g = p.reshape(p.shape[0], -1), g.reshape(p.shape[0], -1)
            if p.ndim == 1:
                rows_p, rows_g = p.reshape(1, -1), g.reshape(1, -1)
            unit = rows_p / rows_p.norm(dim=1, keepdim=True)
            grads[0][i] = (rows_g - (rows_g * unit).sum(dim=1, keepdim=True) * unit).reshape(p.shape)

    def run(params, grad_steps):
        group = dict(group0)
        before = dict(group)
        states = [rule.init_state(ops, p, group) for p in params]
        for t, gs in enumerate(grad_steps, start=1):
            rule.update(Context(ops=ops, params=params, grads=gs, states=states, steps=[t] * len(params),
                                group=group))
        return states, group == before

    try:
        apart = [p.clone() for p in p0]
        states_a, clean_a = run(apart, grads)
        flat = torch.cat([p.reshape(-1) for p in p0])
        states_f, clean_f = run([flat], [[torch.cat([g.reshape(-1) for g in gs])] for gs in grads])
    except Exception as exc:  # noqa: BLE001 - a rule that cannot run on a flat vector is not elementwise
        return f"the rule cannot run on one flat vector ({type(exc).__name__})"
    if not (clean_a and clean_f):
        return "the rule writes into its param group"
    if not _close(torch.cat([p.reshape(-1) for p in apart]), flat):
        return "the update is not elementwise (it couples coordinates, e.g. through a per-tensor norm)"
    names = _buffer_names(states_a[0])
    if names != _buffer_names(states_f[0]):
        return "the rule keeps different buffers for a flat vector"
    for k in names:
        parts = [s[k] for s in states_a]
        if any(not isinstance(b, torch.Tensor) or b.shape != p.shape for b, p in zip(parts, apart)):
            return f"buffer {k!r} does not have its parameter's shape"
        if not _close(torch.cat([b.reshape(-1) for b in parts]), states_f[0][k]):
            return f"buffer {k!r} is not elementwise"
    return None


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point():
        both_nan = torch.isnan(a) & torch.isnan(b)
        ok = torch.isclose(a, b, rtol=1e-12, atol=1e-12 * float(a.abs().max().clamp_min(1.0))) | both_nan
        return bool(ok.all())
    return bool(torch.equal(a, b))


class _FlatOps(TracingOps):
    """:class:`~gdlab.optim.compiled.TracingOps` for a trace whose hyperparameters are symbolic floats.

    Inductor turns a symbolic float into a kernel input when it meets it in a binary operation (``x * c``,
    ``x.mul_(c)``) but bakes it in (with a guard, so a recompile at its next value) when it is the weight of
    ``lerp`` or the ``value`` of ``addcmul``. The interpolation is therefore written as ``x + w (y − x)``, the
    formula ``torch.lerp`` itself uses for ``|w| < ½`` (above, it rounds differently by at most one unit in
    the last place). Every scalar operand passes through :func:`~gdlab.optim.compiled.held` (one bucket per dtype
    and device: a handful per step), so that the loop reads it instead of recomputing it per element.
    """

    def lerp_(self, xs, ys, w):
        for x, y, c in zip(xs, ys, self._each(w, len(xs))):
            x.add_((y - x) * c)
        return xs

    def lerp(self, xs, ys, w):
        return [x + (y - x) * c for x, y, c in zip(xs, ys, self._each(w, len(xs)))]


# --- the compiled function --------------------------------------------------------------------------------------
def _flat_template(rule, spec, ops, names, params, grads, buffers, t, lr, *floats):
    """One step of ``rule`` on a group of flat tensors (one per dtype/device bucket): the function compiled.

    The hyperparameters arrive as ``spec`` (their structure, with the constants of the trace) and ``floats``
    (0-d float64 tensors for the other float values); the step count ``t`` is a 0-d integer tensor and ``lr`` a
    0-d float64 tensor. Each float is read with ``.item()`` inside the graph, an unbacked symbolic float: its
    value is never baked in, so no new value recompiles. What the rule may branch on is asserted for it from
    the value's class, which is part of ``spec`` (``wd != 0``, ``0 < β < 1``): ``if weight_decay == 0`` is
    then decided at trace time. The rule may replace a buffer instead of updating it in place; the new tensors
    are returned and copied back by the caller.
    """
    step = t.item()
    torch._check(step >= 1)
    values = []
    for x, cls in zip(floats, _classes(spec)):
        u = x.item()
        torch._check(u != 0.0)
        torch._check(u != 1.0)
        if cls == "neg":
            torch._check(u < 0.0)
        else:
            torch._check(u > 0.0)
            if cls == "unit":
                torch._check(u < 1.0)
            else:
                torch._check(u > 1.0)
        values.append(u)
    n = len(params)
    group = _rebuild(spec, values)
    # the learning rate too is read as a symbolic float (it may be 0 at a warmup's start: nothing is asserted of
    # it), so the rule takes its float-lr arithmetic, the one its eager step uses (Adam: one division per element)
    group["lr"] = lr.item()
    states = [{name: buffers[k][i] for k, name in enumerate(names)} for i in range(n)]
    ctx = Context(ops=ops, params=params, grads=grads, states=states, steps=[step] * n, group=group)
    rule.update(ctx)
    return [[s[name] for s in states] for name in names]


class _Slot:
    """Where the ``i``-th traced float goes in a hyperparameter spec, and its class (``neg``, ``unit``: in
    (0, 1), ``big``: above 1)."""

    __slots__ = ("cls", "i")

    def __init__(self, i: int, cls: str):
        self.i, self.cls = i, cls

    def __eq__(self, other):
        return isinstance(other, _Slot) and (other.i, other.cls) == (self.i, self.cls)

    def __hash__(self):
        return hash(("slot", self.i, self.cls))

    def __repr__(self):
        return f"<float {self.i}: {self.cls}>"


def _same(a: dict, b: dict) -> bool:
    """``a == b`` with the same type for every value (a tensor-valued option that cannot be compared: not the same)."""
    try:
        return a == b and all(type(x) is type(y) for x, y in zip(a.values(), b.values()))
    except (RuntimeError, TypeError):
        return False


def _classes(spec: tuple) -> list[str]:
    out: list[_Slot] = []

    def walk(s):
        if isinstance(s, _Slot):
            out.append(s)
        elif s[0] in ("tuple", "list"):
            for x in s[1]:
                walk(x)

    for _, s in spec:
        walk(s)
    return [s.cls for s in sorted(out, key=lambda s: s.i)]


def _split(hp: dict) -> tuple[tuple, list[float]]:
    """``hp`` (without lr) as a hashable spec and its symbolic floats.

    A float equal to 0 or 1 stays in the spec: rules branch on such values (``weight_decay == 0`` switches the
    decay off) and dynamo would specialize them anyway, so they are constants of the trace and part of its key.
    """
    floats: list[float] = []

    def walk(v):
        if isinstance(v, float) and v not in (0.0, 1.0) and math.isfinite(v):
            floats.append(v)
            return _Slot(len(floats) - 1, "neg" if v < 0 else "unit" if v < 1 else "big")
        if isinstance(v, tuple):
            return ("tuple", tuple(walk(x) for x in v))
        if isinstance(v, list):
            return ("list", tuple(walk(x) for x in v))
        return ("value", v, type(v))  # (True == 1 == 1.0: the type keeps them apart, as a guard of the trace would)

    spec = tuple((k, walk(v)) for k, v in sorted(hp.items()) if k != "lr")
    return spec, floats


def _rebuild(spec: tuple, floats: tuple) -> dict:
    def back(s):
        if isinstance(s, _Slot):
            return floats[s.i]
        kind, v = s[:2]
        if kind == "tuple":
            return tuple(back(x) for x in v)
        if kind == "list":
            return [back(x) for x in v]
        return v

    return {k: back(s) for k, s in spec}


def _fresh_copy(fn: Callable) -> Callable:
    """A copy of ``fn`` with its own code object, hence its own torch.compile cache and recompile budget."""
    code = fn.__code__.replace(co_name=f"{fn.__name__}_{next(_counter)}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)


# --- the flat layout of one bucket ------------------------------------------------------------------------------
class _Bucket:
    """Parameters of one dtype and device, their flat buffers, and the views handed out."""

    def __init__(self, params: list[torch.Tensor]):
        self.params = params
        self.numels = [p.numel() for p in params]
        self.offsets = list(itertools.accumulate([0] + self.numels[:-1]))
        self.total = sum(self.numels)
        p0 = params[0]
        self.flat = torch.empty(self.total, dtype=p0.dtype, device=p0.device)
        with torch.no_grad():
            for p, o, n in zip(params, self.offsets, self.numels):
                self.flat[o:o + n].copy_(p.detach().reshape(-1))
            for p, o, n in zip(params, self.offsets, self.numels):
                p.data = self.flat[o:o + n].view(p.shape)
        self.itemsize = self.flat.element_size()
        self._ptrs = [self.flat.data_ptr() + o * self.itemsize for o in self.offsets]
        self.grad = torch.zeros_like(self.flat)
        self._gptrs = [self.grad.data_ptr() + o * self.itemsize for o in self.offsets]
        self._grad_views: list[torch.Tensor] | None = None
        #: steps that copied the gradients into the flat buffer (the others read views of it)
        self.gathers = 0
        self.names: tuple[str, ...] | None = None
        self.buffers: dict[str, torch.Tensor] = {}
        self._views: dict[str, list[torch.Tensor]] = {}

    def views_intact(self) -> bool:
        """Every parameter still a view of its slice (``model.to(...)`` or ``p.data = ...`` would break this)."""
        return all(p.data_ptr() == q for p, q in zip(self.params, self._ptrs))

    def gather_grads(self, grads: list[torch.Tensor]) -> torch.Tensor:
        """The flat gradient, copied only when the gradients are not already views of it. The step never
        writes into a gradient nor replaces one (as torch's optimizers: a gradient's ``_version`` is unchanged)."""
        if all(g.data_ptr() == q for g, q in zip(grads, self._gptrs)):
            return self.grad
        if self._grad_views is None:
            self._grad_views = [self.grad[o:o + n].view(p.shape)
                                for p, o, n in zip(self.params, self.offsets, self.numels)]
        torch._foreach_copy_(self._grad_views, grads)  # one call for all the tensors (a cat needs a reshape each)
        self.gathers += 1
        return self.grad

    def adopt(self) -> int:
        """After ``zero_grad(set_to_none=False)`` has zeroed the gradients: make each gradient of the parameter's
        shape, dtype and device a view of the (zeroed) flat gradient buffer, so that ``backward()`` accumulates
        straight into it and the next step copies nothing. Returns how many gradients were re-pointed."""
        todo = [(i, p) for i, p in enumerate(self.params)
                if p.grad is not None and p.grad.data_ptr() != self._gptrs[i]]
        if not todo:
            return 0
        ok = [(i, p) for i, p in todo if p.grad.layout == torch.strided and p.grad.shape == p.shape
              and p.grad.dtype == p.dtype and p.grad.device == p.device]
        if ok:
            self.grad.zero_()  # the views already handed out were zeroed by zero_grad; the rest of it now
            for i, p in ok:
                o, n = self.offsets[i], self.numels[i]
                p.grad = self.grad[o:o + n].view(p.shape)
        return len(ok)

    def pack_state(self, states: list[dict], names: tuple[str, ...]) -> None:
        """Copy the per-parameter buffers into flat buffers and hand views of them back to the state."""
        self.names = names
        for k in names:
            flat = torch.cat([s[k].reshape(-1) for s in states])
            self.buffers[k] = flat
            views = [flat[o:o + n].view(p.shape) for p, o, n in zip(self.params, self.offsets, self.numels)]
            for s, v in zip(states, views):
                s[k] = v
            self._views[k] = views

    def state_intact(self, states: list[dict], names: tuple[str, ...]) -> bool:
        """The state still holds the views handed out (``load_state_dict`` replaces them)."""
        if names != self.names:
            return False
        return all(s[k] is v for k in names for s, v in zip(states, self._views[k]))


# --- the engine -------------------------------------------------------------------------------------------------
class FusedStep:
    """Callable ``step(ctx)`` running ``rule.update`` on flat buffers, compiled once per group.

    Parameters
    ----------
    rule:
        The rule instance; its ``update`` is the only definition of the step.
    group:
        The param group this engine serves (its parameters are packed into flat buffers at the first step).
    compile:
        Trace the flat step with ``torch.compile`` (default). ``False`` runs the same flat step eagerly.
    eager:
        How a step that does not fit runs (default: ``rule.update``). The torch face passes its own eager step,
        which updates large CPU tensors one at a time as it does without ``compile=True``.
    adopt_grads:
        Let the optimizer's ``zero_grad(set_to_none=False)`` re-point the zeroed gradients to views of the flat
        gradient buffer (:meth:`adopt_grads_now`), so that ``backward()`` accumulates into it and the next step
        needs no gather (default ``True``). The step itself never writes into or replaces a gradient.
    **compile_kwargs:
        Passed to ``torch.compile`` (``mode``, ``backend``, ...).

    Attributes
    ----------
    route:
        ``"flat"`` (the rule is elementwise), ``"per-tensor"`` (it is not; the group runs through
        :class:`~gdlab.optim.compiled.CompiledStep`) or ``None`` before the first step.
    route_reason:
        Why (the result of :func:`is_elementwise`).
    counts:
        Group steps taken on each path: ``flat``, ``per-tensor`` and ``eager`` (a step that did not fit); of the
        flat ones, ``direct`` counts those taken straight from the group and state (:meth:`fast_step`).
    fallback_reason:
        Set, with one warning, when compilation failed or is unavailable and the flat step runs eagerly.
    """

    def __init__(self, rule: Rule, group: dict, *, compile: bool = True, adopt_grads: bool = True,
                 eager: Callable[[Context], None] | None = None, **compile_kwargs: Any):
        if not isinstance(rule, Rule):
            raise TypeError(f"FusedStep: rule must be a gdlab.optim.base.Rule, got {type(rule).__name__}")
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("FusedStep: group must be a param group (a dict with 'params')")
        if not isinstance(compile, bool):
            raise TypeError(f"FusedStep: compile must be a bool, got {type(compile).__name__}")
        self.rule = rule
        self.group = group
        self.eager = eager if eager is not None else rule.update
        self.compile = compile
        self.adopt_grads = bool(adopt_grads)
        self.compile_kwargs = compile_kwargs
        self.route: str | None = None
        self.route_reason = ""
        self.fallback_reason: str | None = None
        self.counts = {"flat": 0, "per-tensor": 0, "eager": 0, "direct": 0}
        self._route_key: tuple | None = None
        self._last_hp: tuple | None = None
        self._buckets: list[_Bucket] | None = None
        self._fns: dict[tuple, Callable] = {}
        self._ops = _FlatOps()
        self._scalar_inputs: dict[int, tuple] = {}
        self._per_tensor = None
        #: compiled steps called without Dynamo (see :class:`_Direct`), per trace key
        self._direct: dict[tuple, _Direct] = {}
        self._pending: tuple | None = None
        self._plan: _Plan | None = None

    # -- hyperparameters -------------------------------------------------------------------------------------
    def _hyper(self, group: dict) -> dict:
        hp = {k: v for k, v in group.items() if k not in _NOT_HYPER}
        hp["lr"] = _as_float(hp.get("lr"))
        return hp

    @staticmethod
    def _static_key(hp: dict) -> tuple:
        """The part of the hyperparameters that is a constant of the trace (not floats: those are symbolic)."""
        def shape(v):
            if isinstance(v, bool) or v is None or isinstance(v, str):
                return repr(v)
            if isinstance(v, (int, float)):
                return type(v).__name__
            if isinstance(v, (tuple, list)):
                return (type(v).__name__, tuple(shape(x) for x in v))
            return repr(v)
        return tuple(sorted((k, shape(v)) for k, v in hp.items()))

    def _prepare(self, hp: dict) -> tuple[tuple, list[float]]:
        """The route for ``hp`` (:meth:`_decide`) and its trace spec and floats (:func:`_split`), worked out once
        for a run of steps with the same hyperparameters (a scheduler's new value works them out again)."""
        lr = hp.get("lr")
        rest = {k: v for k, v in hp.items() if k != "lr"}
        lr_class = (type(lr), lr == 0)  # (lr is a symbolic input of the trace: only its class matters here)
        last = self._last_hp
        if last is not None and last[3] == lr_class and _same(last[0], rest):
            return last[1], last[2]
        self._decide(hp)
        spec, floats = _split(hp)
        self._last_hp = (rest, spec, floats, lr_class)
        return spec, floats

    def _decide(self, hp: dict) -> None:
        key = (self._static_key(hp), tuple(sorted((k, v == 0) for k, v in hp.items() if isinstance(v, float))))
        if key == self._route_key:
            return
        ok, why = is_elementwise(self.rule, hp)
        self.route, self.route_reason, self._route_key = ("flat" if ok else "per-tensor"), why, key

    # -- running ---------------------------------------------------------------------------------------------
    def __call__(self, ctx: Context) -> None:
        self._plan = None  # (rebuilt after a steady flat step below)
        hp = self._hyper(ctx.group)
        spec, floats = self._prepare(hp)
        if self.route == "per-tensor":
            if self._per_tensor is None:
                from .compiled import CompiledStep

                self._per_tensor = (CompiledStep(self.rule, eager=self.eager, **self.compile_kwargs) if self.compile
                                    else None)
            self.counts["per-tensor"] += 1
            if self._per_tensor is not None:
                self._per_tensor(ctx)
            else:
                self.eager(ctx)
            return
        steady = self._steady(ctx)
        why = None if steady else self._why_eager(ctx)
        if why is not None:
            self.counts["eager"] += 1
            self.eager(ctx)
            return
        names = self._buckets[0][0].names if steady else _buffer_names(ctx.states[0])
        buckets = self._buckets if steady else self._layout(ctx, names)
        t = int(ctx.steps[0])
        direct = steady
        for b, idx in buckets:
            gathers = b.gathers
            grad = b.gather_grads([ctx.grads[i] for i in idx])
            bufs = [[b.buffers[k]] for k in names]
            out, called = self._run(spec, floats, hp["lr"], names, [b.flat], [grad], bufs, t)
            direct = direct and called and b.gathers == gathers
            for k, name in enumerate(names):
                new = out[k][0]
                if new is not b.buffers[name]:
                    b.buffers[name].copy_(new)
        self.counts["flat"] += 1
        self._plan = _Plan.of(self, ctx, hp, spec, floats, names) if direct else None

    def fast_step(self, group: dict, state_of) -> bool:
        """The next step of a steady group, straight from the optimizer's ``group`` and ``state``, or ``False``
        (nothing done) when it is not the step the last one was; see :class:`_Plan`."""
        plan = self._plan
        return plan is not None and group is self.group and plan.run(self, group, state_of)

    def adopt_grads_now(self) -> int:
        """Called by ``zero_grad(set_to_none=False)`` after zeroing: see ``adopt_grads``. Returns the number of
        gradients re-pointed (0 before the first flat step, when there are no flat buffers yet)."""
        if not self.adopt_grads or self._buckets is None:
            return 0
        return sum(b.adopt() for b, _ in self._buckets if b.views_intact())

    def _steady(self, ctx: Context) -> bool:
        """The step the last one was: the same parameters, still views of their slices, the state still holding
        the packed buffers, one step count, no statistics or extra inputs. Then what :meth:`_why_eager` and
        :meth:`_layout` would check per parameter is known already."""
        if self._buckets is None or ctx.stats is not None or ctx.extras or len(set(ctx.steps)) != 1:
            return False
        if not self._same_params(ctx.params):
            return False
        names = self._buckets[0][0].names
        for b, idx in self._buckets:
            if b.names is None or b.names != names or not b.views_intact():
                return False
            if not b.state_intact([ctx.states[i] for i in idx], names):
                return False
        return True

    def _why_eager(self, ctx: Context) -> str | None:
        if len(ctx.params) != len(self.group["params"]):
            return "some parameters have no gradient this step"
        if any(p.is_sparse or not isinstance(p, torch.Tensor) for p in ctx.params):
            return "not dense tensors"
        return why_not_traced(ctx, shaped=True)

    def _layout(self, ctx: Context, names: tuple[str, ...]) -> list[tuple[_Bucket, list[int]]]:
        """The buckets (packing the parameters at the first call, and again if a view was broken)."""
        params = ctx.params
        if self._buckets is None or not self._same_params(params) or not all(b.views_intact()
                                                                             for b, _ in self._buckets):
            groups: dict[tuple, list[int]] = {}
            for i, p in enumerate(params):
                groups.setdefault((p.dtype, p.device), []).append(i)
            self._buckets = []
            for idx in groups.values():
                b = _Bucket([params[i] for i in idx])
                self._buckets.append((b, idx))
        for b, idx in self._buckets:
            states = [ctx.states[i] for i in idx]
            if not b.state_intact(states, names):
                b.pack_state(states, names)
        return self._buckets

    def _same_params(self, params: list) -> bool:
        ordered = [p for b, idx in self._buckets for p in b.params]
        return len(ordered) == len(params) and all(
            b.params[j] is params[i] for b, idx in self._buckets for j, i in enumerate(idx))

    def _scalars(self, t: int, lr: float, floats: list) -> tuple:
        """The 0-d tensors the compiled step reads its step count and floats from: made once, refilled at every
        step (the trace reads their values, never their identities)."""
        key = len(floats)
        entry = self._scalar_inputs.get(key)
        if entry is None:
            # the 0-d inputs are elements of two vectors, written through NumPy views of them: one assignment
            # instead of a dispatched ``fill_`` per scalar
            steps, values = torch.zeros(1, dtype=torch.int64), torch.zeros(key + 1, dtype=torch.float64)
            held = (steps[0], *[values[i] for i in range(key + 1)])
            entry = self._scalar_inputs[key] = (held, steps.numpy(), values.numpy())
        held, steps, values = entry
        steps[0] = t
        values[0] = lr
        values[1:] = floats
        return held

    def _run(self, spec, floats, lr, names, params, grads, bufs, t):
        if self.compile and self.fallback_reason is None:
            t_in, lr, *fl = self._scalars(int(t), lr, floats)
        else:
            t_in, lr = torch.tensor(int(t)), torch.tensor(lr, dtype=torch.float64)
            fl = [torch.tensor(v, dtype=torch.float64) for v in floats]
        args = (self.rule, spec, self._ops, names, params, grads, bufs, t_in, lr, *fl)
        if not self.compile or self.fallback_reason is not None:
            return _flat_template(*args), False
        key = (spec, names, params[0].dtype, params[0].device.type)
        direct = self._direct.get(key)
        if direct is not None:
            inputs = direct.inputs(params, grads, bufs, t_in, lr, fl)
            if inputs is not None:
                direct.call(*inputs)
                return bufs, True
        fn = self._fns.get(key)
        if fn is None:
            # The hyperparameters enter as unbacked symbolic floats (.item() of 0-dim tensors). torch 2.13's
            # Inductor emits a runtime assert for what sympy cannot prove of them (β₂ᵗ ≤ 1 under a square root)
            # whose generated code names a symbol it never binds (NameError: 'zf15'); the asserts only restate what
            # the rule's validate() checked at construction, so they are left out.
            kwargs = dict(self.compile_kwargs)
            if kwargs.get("backend", "inductor") == "inductor" and kwargs.get("mode") is None:
                # (torch.compile takes a mode or options, not both; another backend gets no Inductor options)
                kwargs["options"] = {"do_not_emit_runtime_assertions": True, **kwargs.get("options", {})}
            if set(kwargs) <= {"options"} and _compile_fx is not None:
                # Inductor through a backend that also keeps what it compiled, to be called directly (below)
                kwargs["backend"] = _Capture(self, key, kwargs.pop("options"))
            fn = torch.compile(_fresh_copy(_flat_template), fullgraph=True, **kwargs)
            self._fns[key] = fn
        try:
            with traced_scalars():
                self._pending = (params, grads, bufs, t_in, lr, fl)
                try:
                    return fn(*args), False
                finally:
                    self._pending = None
        except Exception as exc:  # noqa: BLE001 - a tracing, compiler or guard failure means: run the flat step eagerly
            # An error of the rule itself (a check of its own) is raised again by the eager step below; any other
            # failure, including torch's own (a guard that fails to evaluate), is the compiler's.
            cause = getattr(exc, "inner_exception", None) or exc.__cause__ or exc
            self.fallback_reason = (f"torch.compile failed: {type(cause).__name__}: "
                                    f"{(str(cause).splitlines() or [''])[0]}")
            warnings.warn(f"{type(self.rule).__name__} fused step: {self.fallback_reason}; running the flat step "
                          "eagerly", RuntimeWarning, stacklevel=3)
            # a failed trace has not touched the buffers (dynamo aborts before running the graph)
            return _flat_template(*args), False


# --- calling the compiled step without Dynamo ------------------------------------------------------------------
try:
    from torch._C._dynamo.guards import (
        GlobalStateGuard as _GlobalStateGuard,
    )
    from torch._inductor.compile_fx import compile_fx as _compile_fx
except ImportError:  # pragma: no cover - a torch without Inductor (torch.compile then fails: the eager fallback)
    _compile_fx = _GlobalStateGuard = None


def _roles(params, grads, bufs, t, lr, floats) -> list[torch.Tensor]:
    """The tensors of one flat step, in a fixed order: what a compiled graph's inputs are found among."""
    return [*params, *grads, *[x for b in bufs for x in b], t, lr, *floats]


class _Capture:
    """A ``torch.compile`` backend: Inductor (``compile_fx``, with the options the default backend would get), and
    a record of what it compiled, so that the steady step can call it directly.

    Dynamo's work at each call of a compiled function (its cache lookup and guards: about 55 µs of a 27 µs step on
    a few small tensors, the fixed cost that kept the fused step behind torch's own kernels) buys nothing here:
    what its guards check, :meth:`FusedStep._steady` has checked already (the same parameters, views and state
    buffers), the constants of the trace are the key of the compiled function, and the graph's inputs are the
    step's own tensors. A graph is called directly only when every input is one of those tensors (found by
    identity among the arguments of the call that compiled it) and it returns nothing (every update in place).
    """

    def __init__(self, engine: FusedStep, key: tuple, options: dict):
        self.engine, self.key, self.options = engine, key, options

    def __call__(self, gm, example_inputs):
        merge_holds(gm)
        compiled = _compile_fx(gm, example_inputs, config_patches=self.options)
        pending = self.engine._pending
        if pending is not None:
            direct = _Direct.of(compiled, gm, example_inputs, _roles(*pending), scalars=2 + len(pending[5]))
            if direct is not None:
                self.engine._direct[self.key] = direct
            else:
                self.engine._direct.pop(self.key, None)
        return compiled


class _Direct:
    """A compiled flat step and where its inputs come from, with what they looked like when it was compiled."""

    __slots__ = ("call", "meta", "positions", "state")

    def __init__(self, call, positions, meta, state):
        self.call, self.positions, self.meta, self.state = call, positions, meta, state

    @staticmethod
    def _meta(x: torch.Tensor) -> tuple:
        return (x.shape, x.stride(), x.dtype, x.device, x.storage_offset())

    @classmethod
    def of(cls, compiled, gm, example_inputs, roles, scalars: int) -> _Direct | None:
        """``None`` unless the graph can be called directly: it returns nothing, every input is one of the step's
        tensors (``roles``), and each of the last ``scalars`` roles (step count, lr, floats) is an input read
        as a symbolic number. A rule that branches on such a value (RAdam on ρₜ > 5) makes Dynamo specialise
        it, so guard on it: that input is then missing, or read as a constant, and Dynamo must stay in charge."""
        outputs = [n for n in gm.graph.nodes if n.op == "output"]
        if len(outputs) != 1 or _flatten_out(outputs[0].args) or any(
                n.op == "get_attr" for n in gm.graph.nodes):
            return None  # the graph returns tensors (a buffer replaced) or holds constants of its own
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != len(example_inputs):
            return None
        positions = []
        for x, node in zip(example_inputs, placeholders):
            where = [i for i, r in enumerate(roles) if r is x]
            if not isinstance(x, torch.Tensor) or len(where) != 1:
                return None
            if where[0] >= len(roles) - scalars and not _read_symbolically(node):
                return None
            positions.append(where[0])
        if len({i for i in positions if i >= len(roles) - scalars}) != scalars:
            return None
        meta = [cls._meta(roles[i]) for i in positions]
        return cls(compiled, tuple(positions), meta, _GlobalStateGuard())

    def pick(self, params, grads, bufs, t, lr, floats) -> list:
        """The graph's inputs, unchecked (the caller knows they are the tensors it was compiled for)."""
        roles = _roles(params, grads, bufs, t, lr, floats)
        return [roles[i] for i in self.positions]

    def inputs(self, params, grads, bufs, t, lr, floats) -> list | None:
        """The graph's inputs for this step, or None where they differ from what it was compiled for (another
        layout, or another grad mode, autocast or default dtype: then Dynamo decides)."""
        roles = _roles(params, grads, bufs, t, lr, floats)
        inputs = [roles[i] for i in self.positions]
        if not self.state.check():
            return None
        for x, m in zip(inputs, self.meta):
            if self._meta(x) != m:
                return None
        return inputs


class _Plan:
    r"""What a steady flat step of a group needs, kept so that the next one runs with the fewest Python
    operations: the same check as :meth:`FusedStep._steady`, per parameter, then one compiled call per bucket.

    On large tensors an optimizer step's Python overhead is not what it measures on small ones: the kernel
    before it has streamed the parameters, gradients and state through the caches, and every object the step
    touches is then a miss. Measured on 8 tensors of 4 x 4 after a 480 MB copy (2 cores): torch's fused Adam step
    286 µs, gdlab's general path 446 µs, of which the compiled call itself is 92. This path touches only the
    group, its hyperparameters, and per parameter its gradient's pointer and its state entries.

    The step taken is the one the general path takes (the same compiled function, inputs and step count), and
    only when it would take it: the same group and parameters, each still a view of its slice and with its
    gradient a view of the flat gradient buffer (so nothing to gather, and no sparse or missing gradient), each
    state entry still the buffer view and step-count element handed out, one step count for the group,
    hyperparameters with the same trace spec (new values of lr, betas or weight decay are new inputs of the same
    compiled function: a scheduler's step runs here too; a decay switched on is another spec), and grad mode,
    autocast and the default dtype as when the step was compiled. Otherwise nothing is done and the general path
    runs.
    """

    __slots__ = (
        "base",
        "buckets",
        "floats",
        "hp_items",
        "lr_zero",
        "n",
        "n_keys",
        "names",
        "rows",
        "spec",
        "t",
        "version",
    )

    @classmethod
    def of(cls, engine: FusedStep, ctx: Context, hp: dict, spec, floats, names) -> _Plan | None:
        if hp.get("maximize") or hp.get("differentiable") or hp.get("capturable"):
            return None
        params, group = ctx.params, engine.group
        if len(params) != len(group["params"]) or any(p is not q for p, q in zip(params, group["params"])):
            return None
        steps = [st.get("step") for st in ctx.states]
        base = steps[0]._base if isinstance(steps[0], torch.Tensor) else None
        if (base is None or base.dim() != 1 or base.numel() != len(steps) or not base.is_contiguous()
                or any(not isinstance(t, torch.Tensor) or t._base is not base
                       or t.storage_offset() != base.storage_offset() + i for i, t in enumerate(steps))):
            return None
        counts = base.tolist()
        if min(counts) != max(counts) or int(counts[0]) != int(ctx.steps[0]):
            return None
        plan = cls()
        plan.spec, plan.floats, plan.names, plan.n = spec, floats, names, len(params)
        # the group's own values, compared by identity at the next step (a scheduler's new value is a new object)
        plan.hp_items = [(k, v) for k, v in group.items() if k not in _NOT_HYPER and k != "lr"]
        plan.n_keys = len(group)
        plan.lr_zero = hp["lr"] == 0
        plan.base, plan.version, plan.t = base, base._version, int(counts[0])
        rows = [None] * len(params)
        plan.buckets = []
        t_in, lr_in, *fl = engine._scalars(plan.t, hp["lr"], floats)
        for b, idx in engine._buckets:
            key = (spec, names, b.flat.dtype, b.flat.device.type)
            direct = engine._direct.get(key)
            bufs = [[b.buffers[k]] for k in names]
            if direct is None or direct.inputs([b.flat], [b.grad], bufs, t_in, lr_in, fl) is None:
                return None  # (the graph of this key was compiled for tensors of another bucket)
            for j, i in enumerate(idx):
                rows[i] = (params[i], b._ptrs[j], b._gptrs[j], ctx.states[i], steps[i],
                           tuple(b._views[name][j] for name in names))
            plan.buckets.append((direct, [b.flat], [b.grad], bufs))
        plan.rows = rows
        return plan

    def run(self, engine: FusedStep, group: dict, state_of) -> bool:
        params = group["params"]
        if len(params) != self.n or len(group) != self.n_keys or self.base._version != self.version:
            return False  # (an in-place change of a step count bumps the version its vector shares)
        names = self.names
        try:
            for p, (q, ptr, gptr, st, step, views) in zip(params, self.rows):
                # (no gradient, or a sparse one, has no data pointer: the except below)
                if p is not q or p.grad.data_ptr() != gptr or p.data_ptr() != ptr:
                    return False
                if state_of.get(p) is not st or st.get("step") is not step:
                    return False
                for name, view in zip(names, views):
                    if st.get(name) is not view:
                        return False
        except (AttributeError, RuntimeError):
            return False
        lr = group["lr"]
        if not isinstance(lr, float):
            lr = _as_float(lr)
        if (lr == 0) != self.lr_zero:
            return False
        floats = self.floats
        for k, v in self.hp_items:
            if group.get(k, _MISSING) is not v:
                # a hyperparameter changed: its trace spec must be the same, with new floats
                hp = engine._hyper(group)
                spec, floats = engine._prepare(hp)
                if engine.route != "flat" or spec != self.spec:
                    return False
                self.floats = floats
                self.hp_items = [(k, v) for k, v in group.items() if k not in _NOT_HYPER and k != "lr"]
                break
        for direct, *_ in self.buckets:
            if not direct.state.check():
                return False
        self.base.add_(1)
        self.version = self.base._version
        self.t += 1
        t_in, lr_in, *fl = engine._scalars(self.t, lr, floats)
        for direct, flat, grad, bufs in self.buckets:
            direct.call(*direct.pick(flat, grad, bufs, t_in, lr_in, fl))
        engine.counts["flat"] += 1
        engine.counts["direct"] += 1
        return True


_MISSING = object()


def _read_symbolically(node) -> bool:
    """The placeholder's value is read with ``.item()`` into a symbolic number (not specialised to a constant)."""
    reads = [u for u in node.users if u.op == "call_method" and u.target == "item"]
    return bool(reads) and all(isinstance(u.meta.get("example_value"), (torch.SymFloat, torch.SymInt)) for u in reads)


def _flatten_out(args) -> list:
    out = []
    stack = [args]
    while stack:
        a = stack.pop()
        if isinstance(a, (tuple, list)):
            stack.extend(a)
        elif a is not None:
            out.append(a)
    return out


def _as_float(lr):
    if isinstance(lr, torch.Tensor):
        return float(lr.detach())
    return lr if lr is None else float(lr)


__all__ = ["FusedStep", "is_elementwise"]
