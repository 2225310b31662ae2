r"""The compiled path: a rule's one definition run through ``torch.compile``.

``gdlab.optim.Adam(params, compile=True)`` does not rewrite Adam. :class:`CompiledStep`
wraps the rule's own :meth:`~gdlab.optim.base.Rule.update` in a function of tensors and
plain numbers only,

.. math::
    (\theta_{1..n},\ g_{1..n},\ \text{buffers}_{1..n},\ t,\ \eta) \;\longmapsto\;
    \text{the same in-place update as } \texttt{rule.update(ctx)},

and hands that function to ``torch.compile`` (Inductor), which fuses the rule's passes over
memory (for Adam: the moment updates, the square root and the parameter update) into one
loop per tensor, the way torch's ``fused=True`` kernels do by hand.

Why a wrapper and not ``torch.compile(rule.update)``: a :class:`~gdlab.optim.base.Context`
carries one Python ``int`` step count per parameter and a dict of hyperparameters. Traced
as they are, every new step count would be a new constant, so a new graph at every step
(and eager execution once the recompile limit is hit). Here

* the step count ``t`` (shared by the group) enters as a 0-d integer tensor read with
  ``.item()`` inside the graph (a symbolic integer, so :math:`\beta^t` and
  :math:`\sqrt{1-\beta_2^t}` are computed by the graph, not baked in), and the learning rate
  ``η`` as a 0-d float64 tensor; neither a new step nor a learning-rate schedule recompiles.
  The rule's arithmetic runs on :class:`TracingOps`, which accepts such tensor scalars;
* every other hyperparameter (betas, ε, weight decay, flags) is a constant of the compiled
  function: changing one builds a new function, as a new optimizer would;
* each :class:`CompiledStep` compiles its own copy of the wrapper, so optimizers do not share
  (and exhaust) one recompile budget.

A group of more than ``chunk`` tensors whose rule updates each tensor on its own (checked by
:func:`is_separable`) is cut into equal chunks that share one compiled graph: compile time grows
with the graph, and 2,000 tensors in one graph take minutes to compile.

Steps that do not fit this shape run the rule eagerly, with identical results: a step where
parameters of one group have taken different numbers of steps, a step where a lazy buffer
is still ``None`` (e.g. SGD's momentum buffer at ``t = 1``), a step with extra inputs or
with statistics tracking, and any step of a rule that ``torch.compile`` cannot trace as one
graph (the reason is kept in :attr:`CompiledStep.fallback_reason` and warned about once).
"""

from __future__ import annotations

import itertools
import types
import warnings
from typing import Any, Callable

import torch

from .base import Context, Rule
from .ops import TorchOps

_counter = itertools.count()

#: keys of a param group that are not hyperparameters of the rule
_NOT_HYPER = ("params", "lr", "foreach")


#: the ``gdlab`` operator library: :func:`hold` (a plain definition: it runs in about 6 µs, a
#: ``torch.library.custom_op`` in about 22 µs, which is most of the cost of a step's handful of holds)
_LIB = torch.library.Library("gdlab", "DEF")
_LIB.define("hold(Tensor x) -> Tensor")


def _hold_impl(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


_LIB.impl("hold", _hold_impl, "CompositeExplicitAutograd")


@torch.library.register_fake("gdlab::hold")
def _hold_fake(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def hold(x: torch.Tensor) -> torch.Tensor:
    r"""A copy of a 0-d tensor that Inductor computes once, in its own kernel, instead of inside each loop.

    Inductor inlines the arithmetic of a 0-d operand (Adam's 1 − β₂ᵗ and √(1 − β₂ᵗ)) into every iteration of the
    vectorised loop that reads it; with the compiler's ``-fmath-errno`` a ``std::pow`` is not hoisted, and three of
    them per 8 elements made a compiled Adam step on 16.8M parameters take 88 ms instead of 17. An operator
    Inductor has no lowering for (``gdlab::hold``) is opaque to it, so its input is realized once per step and the
    loop reads one number. Eagerly it is ``x.clone()``.
    """
    return torch.ops.gdlab.hold(x)


#: sympy functions of a symbolic scalar that a C++ loop computes cheaply enough (no libm call: the compiler hoists them)
_CHEAP_FUNCTIONS = frozenset({"FloatTrueDiv", "IntTrueDiv", "ToFloat", "TruncToFloat"})


def merge_holds(gm: torch.fx.GraphModule) -> int:
    r"""Rewrite a traced step so that it holds its scalars with one :func:`hold` instead of one each.

    Each hold is an operator call, an allocation and a kernel of its own: 3 µs, Adam's five 15 µs of a 21 µs
    compiled call on small tensors (and four times that with cold caches, as after a step on large ones). Two
    things are done to the graph Dynamo traced, before Inductor compiles it:

    * a hold of a constant (SGD's ``1 − dampening``) or of a symbolic scalar whose expression calls no library
      function (``1 − β₁``, ``β₂``, ``η·λ``) is removed: the C++ compiler hoists such arithmetic out of the loop
      itself; ``β₂ᵗ`` and its square root are what it cannot hoist (``-fmath-errno``), and those stay held;
    * the scalars still held are computed together, stacked into one vector, held once, and read back by index.
      Only holds of 0-d tensors computed from symbolic scalars alone are merged (moved up to the first use of
      any of them); a hold of a value computed from tensors stays where it is.

    The values are the same numbers (a hold is a copy); returns the number of holds removed.
    """
    import operator

    target = torch.ops.gdlab.hold
    holds = [n for n in gm.graph.nodes if n.op == "call_function" and n.target in (target, target.default)]
    if not holds:
        return 0
    removed = 0
    kept = []
    for h in holds:
        expr = _scalar_expr(h.args[0])
        if _held_constant(h.args[0]) or (expr is not None and not any(
                type(f).__name__ not in _CHEAP_FUNCTIONS for f in expr.atoms(_sympy_function()))):
            h.replace_all_uses_with(h.args[0])
            gm.graph.erase_node(h)
            removed += 1
        else:
            kept.append(h)
    mergeable = [h for h in kept if _scalar_expr(h.args[0]) is not None]
    if len(mergeable) > 1:
        order = {n: i for i, n in enumerate(gm.graph.nodes)}
        closure: set = set()
        for h in mergeable:
            _inputs_closure(h.args[0], closure)
        if all(_is_scalar_node(n) for n in closure):
            first_use = min((u for h in mergeable for u in h.users), key=order.__getitem__)
            for n in sorted(closure, key=order.__getitem__):
                if order[n] > order[first_use]:
                    first_use.prepend(n)
            with gm.graph.inserting_before(first_use):
                stacked = gm.graph.call_function(torch.stack, ([h.args[0] for h in mergeable],))
                one = gm.graph.call_function(target, (stacked,))
                for i, h in enumerate(mergeable):
                    pick = gm.graph.call_function(operator.getitem, (one, i))
                    h.replace_all_uses_with(pick)
            for h in mergeable:
                gm.graph.erase_node(h)
            removed += len(mergeable) - 1
    if removed:
        gm.graph.lint()
        gm.recompile()
    return removed


def _sympy_function():
    import sympy

    return sympy.Function


def _value(n):
    return n.meta.get("example_value") if hasattr(n, "meta") else None


def _scalar_expr(n):
    """The sympy expression of ``ones(()) * s`` for a symbolic float ``s`` (what :func:`held` builds), else None."""
    if getattr(n, "op", None) != "call_function" or len(n.args) != 2:
        return None
    for a in n.args:
        v = _value(a) if hasattr(a, "op") else None
        if isinstance(v, torch.SymFloat):
            return v.node.expr
    return None


def _held_constant(n) -> bool:
    """``n`` is ``ones(()) * c`` for a Python number ``c`` (a literal of the loop: nothing to compute)."""
    if getattr(n, "op", None) != "call_function" or len(n.args) != 2:
        return False
    kinds = [isinstance(a, (int, float)) and not isinstance(a, bool) for a in n.args]
    others = [a for a, k in zip(n.args, kinds) if not k]
    return any(kinds) and len(others) == 1 and getattr(others[0], "target", None) is torch.ones


def _inputs_closure(n, out: set) -> None:
    """The nodes ``n`` is computed from, up to (not including) placeholders and ``.item()`` reads."""
    stack = [n]
    while stack:
        x = stack.pop()
        if x in out or x.op == "placeholder" or (x.op == "call_method" and x.target == "item"):
            continue
        out.add(x)
        stack.extend(x.all_input_nodes)


def _is_scalar_node(n) -> bool:
    v = _value(n)
    if isinstance(v, (torch.SymFloat, torch.SymInt, torch.SymBool, int, float, bool)):
        return True
    return isinstance(v, torch.Tensor) and v.dim() == 0


def held(c):
    """``c`` (a float or 0-d tensor) as a :func:`hold` of a 0-d tensor while tracing; unchanged in eager code."""
    if not torch.compiler.is_compiling():
        return c
    if isinstance(c, torch.Tensor):
        return hold(c) if c.dim() == 0 else c
    if isinstance(c, float):
        # (``torch.scalar_tensor(c)`` would specialise a symbolic float to its value; a product does not)
        return hold(torch.ones((), dtype=torch.float64) * c)
    return c


class TracingOps(TorchOps):
    """The list arithmetic of :class:`~gdlab.optim.ops.TorchOps`, written per tensor for tracing.

    Inside a compiled step the learning rate is a 0-d tensor and the quantities a rule derives
    from it (``−η·s``, ``1 − ηλ``) are 0-d tensors too, which ``torch._foreach_*`` kernels
    do not accept as scalars. Each operation is therefore one broadcasting tensor expression
    per parameter; Inductor fuses them, so the loop costs nothing at run time. Reductions
    return 0-d tensors instead of Python floats (a float would end the graph).
    """

    def __init__(self):
        super().__init__(foreach=False)

    #: lists of at most this many scalars are :func:`held` one by one (the flat step's, and the per-tensor step's on
    #: a few large tensors, where a scalar recomputed per element costs most); longer ones (chunks of many small
    #: tensors) are left to Inductor, since each hold is a call of its own
    HOLD_AT_MOST = 8

    @classmethod
    def _each(cls, s, n: int) -> list:
        if not isinstance(s, (list, tuple)):
            return [held(s)] * n
        return [held(c) for c in s] if len(s) <= cls.HOLD_AT_MOST else list(s)

    def copy_(self, xs, ys):
        for x, y in zip(xs, ys):
            x.copy_(y)
        return xs

    def mul_(self, xs, s):
        for x, c in zip(xs, self._each(s, len(xs))):
            x.mul_(c)
        return xs

    def div_(self, xs, s):
        for x, c in zip(xs, self._each(s, len(xs))):
            x.div_(c)
        return xs

    def add_(self, xs, ys, alpha=None):
        """x += alpha * y, where y is a list of tensors or a (list of) scalar(s); no alpha: x += y.

        (While tracing, a Python float and a symbolic one look alike, and each float is held: a default of 1.0
        would cost a hold and a multiplication.)"""
        if alpha is None:
            for x, y in zip(xs, self._each(ys, len(xs))):
                x.add_(y)
            return xs
        for x, y, a in zip(xs, self._each(ys, len(xs)), self._each(alpha, len(xs))):
            x.add_(y * a)
        return xs

    def lerp_(self, xs, ys, w):
        for x, y, c in zip(xs, ys, self._each(w, len(xs))):
            x.lerp_(y, c.to(x.dtype) if isinstance(c, torch.Tensor) else c)
        return xs

    def lerp(self, xs, ys, w):
        return [torch.lerp(x, y, c.to(x.dtype) if isinstance(c, torch.Tensor) else c)
                for x, y, c in zip(xs, ys, self._each(w, len(xs)))]

    def addcmul_(self, xs, ys, zs, value=1.0):
        for x, y, z, c in zip(xs, ys, zs, self._each(value, len(xs))):
            x.add_(y * z * c)
        return xs

    def addcdiv_(self, xs, ys, zs, value=1.0):
        for x, y, z, c in zip(xs, ys, zs, self._each(value, len(xs))):
            x.add_(y / z * c)
        return xs

    def maximum_(self, xs, ys):
        for x, y in zip(xs, ys):
            x.copy_(torch.maximum(x, y))
        return xs

    def clamp_min_(self, xs, lo):
        for x, c in zip(xs, self._each(lo, len(xs))):
            x.clamp_min_(c)
        return xs

    def mul(self, xs, ys):
        return [x * y for x, y in zip(xs, self._each(ys, len(xs)))]

    def div(self, xs, ys):
        return [x / y for x, y in zip(xs, self._each(ys, len(xs)))]

    def norms(self, xs) -> list:
        return [torch.linalg.vector_norm(x) for x in xs]

    def dots(self, xs, ys) -> list:
        return [(x * y).sum() for x, y in zip(xs, ys)]

    def nonfinite_counts(self, xs) -> list:
        return [x.numel() - torch.isfinite(x).sum() for x in xs]

    def to_float(self, x):
        return x


def _template(rule, hyper, ops, names, params, grads, buffers, t, lr):
    """One step of ``rule`` on tensors: the function that is compiled.

    ``buffers[k]`` is the list of buffer ``names[k]`` across parameters. The rule may
    replace a buffer (assign a new tensor) instead of updating it in place, or write into
    its group, so the buffers and the group are returned and written back.
    """
    n = len(params)
    t = t.item()  # an unbacked symbolic int: bias corrections β^t are traced, not baked in
    states = [{name: buffers[k][i] for k, name in enumerate(names)} for i in range(n)]
    group = dict(hyper)
    group["lr"] = lr
    ctx = Context(ops=ops, params=params, grads=grads, states=states, steps=[t] * n, group=group)
    rule.update(ctx)
    return [[s[name] for s in states] for name in names], group


def _fresh_copy(fn: Callable) -> Callable:
    """A copy of ``fn`` with its own code object, hence its own torch.compile cache."""
    code = fn.__code__.replace(co_name=f"{fn.__name__}_{next(_counter)}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)


class CompiledStep:
    """Callable ``step(ctx)`` that runs ``rule.update(ctx)`` through ``torch.compile``.

    Parameters
    ----------
    rule:
        The rule instance (its ``update`` is the only definition of the step).
    chunk:
        Largest number of tensors in one compiled call. Compile time grows with the size
        of the graph (a group of 2,000 tensors takes minutes), so a group whose tensors
        are updated independently is cut into chunks that share one compiled graph.
        Independence is checked, not assumed: see :func:`is_separable`.
    eager:
        How a step that is not compiled runs (default: ``rule.update``).
    fullgraph:
        Require a single graph (default). A rule that cannot be traced whole then runs
        eagerly instead of as a chain of small graphs, which would be slower than eager.
    **compile_kwargs:
        Passed to ``torch.compile`` (e.g. ``mode``, ``backend``).
    """

    #: distinct hyperparameter settings compiled before giving up (a rule that rewrites
    #: its hyperparameters at every step would otherwise compile at every step)
    max_variants = 8

    def __init__(self, rule: Rule, chunk: int = 32, fullgraph: bool = True,
                 eager: Callable[[Context], None] | None = None, **compile_kwargs: Any):
        if not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"Invalid chunk value: chunk={chunk!r} (expected a positive int)")
        self.rule = rule
        self.eager = eager if eager is not None else rule.update
        self.chunk = chunk
        self.fullgraph = fullgraph
        self.compile_kwargs = compile_kwargs
        self._fns: dict[tuple, Callable] = {}
        self._separable: dict[tuple, bool] = {}
        self._ops = TracingOps()
        self.fallback_reason: str | None = None
        #: how many group steps ran compiled and how many eagerly (for tests and benchmarks)
        self.counts = {"compiled": 0, "eager": 0}

    # -- deciding ------------------------------------------------------------------------
    def _why_eager(self, ctx: Context) -> str | None:
        if self.fallback_reason is not None:
            return self.fallback_reason
        if not isinstance(ctx.ops, TorchOps):
            return "not a torch backend"
        return why_not_traced(ctx)

    @staticmethod
    def _hyper(group: dict) -> dict:
        return {k: v for k, v in group.items() if k not in _NOT_HYPER}

    # -- running -------------------------------------------------------------------------
    def __call__(self, ctx: Context) -> None:
        why = self._why_eager(ctx)
        if why is not None:
            self.counts["eager"] += 1
            self.eager(ctx)
            return
        names = _buffer_names(ctx.states[0])
        hyper = self._hyper(ctx.group)
        key = (tuple(sorted((k, repr(v)) for k, v in hyper.items())), names)
        fn = self._fns.get(key)
        if fn is None:
            if len(self._fns) >= self.max_variants:
                self._give_up("the hyperparameters changed more than "
                              f"{self.max_variants} times", ctx)
                return
            fn = torch.compile(_fresh_copy(_template), fullgraph=self.fullgraph, **self.compile_kwargs)
            self._fns[key] = fn
        n = len(ctx.params)
        if n > self.chunk:
            if key not in self._separable:
                self._separable[key] = is_separable(self.rule, hyper, ctx.group["lr"])
            size = n if not self._separable[key] else -(-n // -(-n // self.chunk))
        else:
            size = n
        t = torch.tensor(ctx.steps[0])
        lr = _as_tensor(ctx.group["lr"])
        for lo in range(0, n, size):
            hi = min(n, lo + size)
            buffers = [[s[k] for s in ctx.states[lo:hi]] for k in names]
            try:
                with traced_scalars():
                    out, group = fn(self.rule, hyper, self._ops, names, ctx.params[lo:hi], ctx.grads[lo:hi],
                                    buffers, t, lr)
            except Exception as exc:  # noqa: BLE001 - a tracing or compiler failure means: run eagerly
                if not _is_compile_error(exc):
                    raise
                # chunks before `lo` are done (chunking implies independent tensors)
                self._give_up(f"torch.compile failed: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                              _sub_context(ctx, lo, n))
                return
            for k, name in enumerate(names):
                for s, new in zip(ctx.states[lo:hi], out[k]):
                    if s[name] is not new:
                        s[name] = new
            for k, v in group.items():
                if k != "lr" and (k not in ctx.group or ctx.group[k] is not v):
                    ctx.group[k] = v
        self.counts["compiled"] += 1

    def _give_up(self, reason: str, ctx: Context) -> None:
        self.fallback_reason = reason
        warnings.warn(f"{type(self.rule).__name__} compile=True: {reason}; running eagerly",
                      RuntimeWarning, stacklevel=4)
        self.counts["eager"] += 1
        self.eager(ctx)


def is_separable(rule: Rule, hyper: dict, lr=1e-2) -> bool:
    r"""Whether ``rule`` with hyperparameters ``hyper`` updates each tensor on its own.

    Checked by running three steps of the rule eagerly (float64, fixed seed) on a group of
    three small tensors and on each tensor as a group of its own: the rule is separable
    when the two give bit-identical parameters and buffers and the rule leaves its group
    unchanged. A rule that couples tensors (a global norm, a shared scalar) fails this.
    """
    from .ops import TorchOps as _Ops

    ops = _Ops(foreach=True)
    gen = torch.Generator().manual_seed(0)
    shapes = [(3, 4), (5,), (2, 3)]
    p0 = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    grads = [[torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes] for _ in range(3)]
    lr = float(lr) if not isinstance(lr, torch.Tensor) else float(lr.detach())
    lr = lr if lr > 0 else 1e-2

    def run(idx: list[int]):
        params = [p0[i].clone() for i in idx]
        group = dict(hyper, lr=lr)
        before = dict(group)
        states = [dict(step=0, **rule.init_state(ops, p, group)) for p in params]
        for g in grads:
            for s in states:
                s["step"] += 1
            ctx = Context(ops=ops, params=params, grads=[g[i] for i in idx], states=states,
                          steps=[s["step"] for s in states], group=group)
            rule.update(ctx)
        return params, states, group == before

    try:
        together, states_t, clean = run([0, 1, 2])
        if not clean:
            return False
        for i in range(3):
            alone, states_a, clean = run([i])
            if not clean or not torch.equal(alone[0], together[i]):
                return False
            for k, v in states_a[0].items():
                w = states_t[i].get(k)
                if isinstance(v, torch.Tensor) != isinstance(w, torch.Tensor):
                    return False
                if isinstance(v, torch.Tensor) and not torch.equal(v, w):
                    return False
    except Exception:  # noqa: BLE001 - a rule that cannot run this probe is not chunked
        return False
    return True


def _sub_context(ctx: Context, lo: int, hi: int) -> Context:
    return Context(ops=ctx.ops, params=ctx.params[lo:hi], grads=ctx.grads[lo:hi], states=ctx.states[lo:hi],
                   steps=ctx.steps[lo:hi], group=ctx.group, stats=ctx.stats, extras=ctx.extras)


def _as_tensor(lr) -> torch.Tensor:
    """The learning rate as a 0-d float64 tensor (a graph input, so a schedule never recompiles)."""
    if isinstance(lr, torch.Tensor):
        return lr.detach().to(torch.float64).reshape(())
    return torch.tensor(float(lr), dtype=torch.float64)


def traced_scalars():
    """The settings a compiled step runs under: 0-dim tensors' ``.item()`` traced as symbolic scalars.

    torch 2.13's Dynamo remembers, in one process-wide set (``TensorifyState``), the names of the symbolic floats
    it had to specialise to a constant while compiling a frame, and consults the set when it compiles any other
    frame: the names (``zuf0``, ...) are reused by every compilation, so a float that one rule's step had to
    specialise makes the next rule's first float a constant too, and that rule then recompiles whenever its
    hyperparameter changes (measured: 8 graphs in 100 scheduled steps instead of 1). The set is emptied before
    each compiled call; a compilation that needs a specialisation finds it again itself.
    """
    from torch._dynamo.symbolic_convert import TensorifyState

    global _SCALAR_PATCH
    TensorifyState.clear()
    if _SCALAR_PATCH is None:  # one patch object, entered at every step (building one costs 20 µs)
        _SCALAR_PATCH = torch._dynamo.config.patch(capture_scalar_outputs=True)
    return _SCALAR_PATCH


_SCALAR_PATCH = None


def _buffer_names(state: dict) -> tuple[str, ...]:
    return tuple(sorted(k for k in state if k != "step"))


def why_not_traced(ctx: Context, *, shaped: bool = False) -> str | None:
    """Why a step cannot run as one traced function over the group's tensors (None when it can).

    A trace sees one step count, tensors for every buffer and the same buffers on every parameter; statistics and
    extra inputs are computed outside it. ``shaped`` (the flat fused step) also asks each buffer for its parameter's
    shape and dtype, since the buffers are packed beside the parameters.
    """
    if ctx.stats is not None:
        return "statistics tracking"
    if ctx.extras:
        return "extra inputs"
    if len(set(ctx.steps)) != 1:
        return "parameters at different step counts"
    names = _buffer_names(ctx.states[0])
    for s, p in zip(ctx.states, ctx.params):
        if _buffer_names(s) != names:
            return "parameters with different buffers"
        for k in names:
            v = s[k]
            if not isinstance(v, torch.Tensor):
                return f"buffer {k!r} is not a tensor yet"
            if shaped and (v.shape != p.shape or v.dtype != p.dtype):
                return f"buffer {k!r} is not a tensor of its parameter's shape yet"
    return None


def _is_compile_error(exc: Exception) -> bool:
    """True for errors raised while tracing or compiling (not by the rule's own checks)."""
    mod = type(exc).__module__ or ""
    return mod.startswith(("torch._dynamo", "torch._inductor", "torch._subclasses", "torch.fx")) or \
        "BackendCompilerFailed" in type(exc).__name__ or "Unsupported" in type(exc).__name__
