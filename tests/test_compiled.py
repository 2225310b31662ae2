"""The compiled path (``compile=True``) against the eager one: same rule, same numbers.

Compilation takes seconds per graph, so the parameters are tiny and each case compiles once;
the benchmark (benchmarks/bench_optimizers.py) times the compiled path at full size.
"""

from __future__ import annotations

import pytest
import torch

import gdlab.optim as gopt
from gdlab.optim.base import Context, Rule
from gdlab.optim.compiled import CompiledStep, TracingOps, is_separable
from gdlab.optim.ops import TorchOps
from gdlab.optim.rules import RULES

SHAPES = [(3, 4), (5,), (2, 3)]
TOL = {torch.float32: 1e-6, torch.float64: 1e-12}

CASES = [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.02, amsgrad=True, weight_decay=0.01)),
    ("AdamW", dict(lr=0.02, weight_decay=0.1)),
]


def _unique_graphs() -> int:
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def _run_pair(name: str, kwargs: dict, dtype, steps: int = 20, shapes=SHAPES):
    """Eager and compiled optimizers fed the same gradients under a step-decay schedule."""
    gen = torch.Generator().manual_seed(0)
    p0 = [torch.randn(s, generator=gen, dtype=dtype) for s in shapes]
    eager = [p.clone() for p in p0]
    comp = [p.clone() for p in p0]
    opt_e = getattr(gopt, name)(eager, **kwargs)
    opt_c = getattr(gopt, name)(comp, compile=True, **kwargs)
    opt_c.compile_engine = "per-tensor"  # this file tests compiled.py; the flat engine is tested in test_fused.py
    sch_e = torch.optim.lr_scheduler.StepLR(opt_e, step_size=5, gamma=0.5)
    sch_c = torch.optim.lr_scheduler.StepLR(opt_c, step_size=5, gamma=0.5)
    for _ in range(steps):
        grads = [torch.randn(s, generator=gen, dtype=dtype) for s in shapes]
        for p, g in zip(eager, grads):
            p.grad = g.clone()
        for p, g in zip(comp, grads):
            p.grad = g.clone()
        opt_e.step()
        opt_c.step()
        sch_e.step()
        sch_c.step()
    return eager, comp, opt_e, opt_c


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=[c[0] for c in CASES])
def test_compiled_matches_eager(name, kwargs, dtype):
    graphs = _unique_graphs()
    eager, comp, opt_e, opt_c = _run_pair(name, kwargs, dtype)
    cs = opt_c._compiled
    assert isinstance(cs, CompiledStep)
    assert cs.fallback_reason is None
    # every step but SGD's first (its momentum buffer does not exist yet) ran compiled
    assert cs.counts["compiled"] >= 19, cs.counts
    # one graph for 20 steps and a learning-rate schedule: neither t nor lr is baked in
    assert _unique_graphs() - graphs == 1
    for pe, pc in zip(eager, comp):
        assert pc.dtype == dtype
        torch.testing.assert_close(pc, pe, rtol=0, atol=TOL[dtype])
    for pe, pc in zip(eager, comp):
        for k, v in opt_e.state[pe].items():
            if isinstance(v, torch.Tensor):
                torch.testing.assert_close(opt_c.state[pc][k], v, rtol=0, atol=TOL[dtype])
            else:
                assert opt_c.state[pc][k] == v
    # and the run moved the parameters, so the comparison is not between two untouched copies
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(SHAPES[0], generator=gen, dtype=dtype)
    assert float((comp[0] - start).abs().max()) > 1e-3


def test_chunked_group_matches_eager():
    """A group larger than ``chunk`` is cut into equal chunks sharing one graph."""
    shapes = [(4,)] * 9
    gen = torch.Generator().manual_seed(1)
    p0 = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    eager, comp = [p.clone() for p in p0], [p.clone() for p in p0]
    opt_e = gopt.Adam(eager, lr=0.05)
    opt_c = gopt.Adam(comp, lr=0.05, compile=True)
    opt_c.compile_engine = "per-tensor"
    opt_c._compiled = CompiledStep(opt_c.rule, chunk=4)  # 9 tensors -> 3 chunks of 3
    graphs = _unique_graphs()
    for _ in range(5):
        grads = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
        for p, q, g in zip(eager, comp, grads):
            p.grad, q.grad = g.clone(), g.clone()
        opt_e.step()
        opt_c.step()
    assert opt_c._compiled.counts == {"compiled": 5, "eager": 0}
    assert _unique_graphs() - graphs == 1
    for pe, pc in zip(eager, comp):
        torch.testing.assert_close(pc, pe, rtol=0, atol=1e-12)


class _GlobalNormSGD(Rule):
    """Test rule (unregistered: no ``name``): θ ← θ − η g / ‖(g_1, …, g_n)‖, a global norm."""

    def update(self, ctx: Context) -> None:
        total = sum(n * n for n in ctx.ops.norms(ctx.grads)) ** 0.5
        ctx.ops.add_(ctx.params, ctx.grads, alpha=-ctx.group["lr"] / total)


class _FloatSGD(Rule):
    """Test rule (unregistered) that branches on a tensor's value, which cannot be traced as one graph."""

    defaults = dict(lr=0.1)

    def update(self, ctx: Context) -> None:
        scale = 1.0 if bool(ctx.grads[0].sum() > 0) else 2.0
        ctx.ops.add_(ctx.params, ctx.grads, alpha=-ctx.group["lr"] * scale)


def test_separability_probe():
    assert is_separable(RULES["Adam"](), {k: v for k, v in RULES["Adam"].defaults.items() if k != "lr"})
    assert not is_separable(_GlobalNormSGD(), {})


def test_untraceable_rule_falls_back_to_eager_with_a_warning():
    gen = torch.Generator().manual_seed(2)
    params = [torch.randn(3, generator=gen, dtype=torch.float64), torch.randn(2, generator=gen, dtype=torch.float64)]
    grads = [torch.randn(3, generator=gen, dtype=torch.float64), torch.randn(2, generator=gen, dtype=torch.float64)]
    expected = [p.clone() for p in params]
    rule = _FloatSGD()
    rule.update(Context(ops=TorchOps(), params=expected, grads=grads, states=[{}, {}], steps=[1, 1],
                        group={"lr": 0.1}))
    step = CompiledStep(rule)
    with pytest.warns(RuntimeWarning, match="running eagerly"):
        step(Context(ops=TorchOps(), params=params, grads=grads, states=[{}, {}], steps=[1, 1], group={"lr": 0.1}))
    assert step.fallback_reason is not None and step.counts == {"compiled": 0, "eager": 1}
    for p, e in zip(params, expected):
        torch.testing.assert_close(p, e, rtol=0, atol=0)


def test_tracing_ops_accept_tensor_scalars():
    """The per-tensor arithmetic used inside the graph equals TorchOps' with float scalars."""
    gen = torch.Generator().manual_seed(3)
    xs = [torch.randn(4, generator=gen, dtype=torch.float64) for _ in range(2)]
    ys = [torch.rand(4, generator=gen, dtype=torch.float64) + 0.5 for _ in range(2)]
    a, b = [x.clone() for x in xs], [x.clone() for x in xs]
    TorchOps().addcdiv_(a, ys, ys, [-0.3, 0.7])
    TracingOps().addcdiv_(b, ys, ys, [torch.tensor(-0.3, dtype=torch.float64), torch.tensor(0.7, dtype=torch.float64)])
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-15)


def test_invalid_chunk_raises():
    with pytest.raises(ValueError, match="chunk=0"):
        CompiledStep(RULES["SGD"](), chunk=0)


# --- rules that branch per tensor on a value: one graph, with `where` on the value --------------------------------
def _orthogonal(g, p, rows):
    """``g`` with its component along ``p`` removed, per row of the ``(rows, -1)`` view."""
    pv, gv = p.reshape(rows, -1), g.reshape(rows, -1)
    unit = pv / pv.norm(dim=1, keepdim=True)
    return (gv - (gv * unit).sum(dim=1, keepdim=True) * unit).reshape(p.shape)


BRANCHING = [
    ("AdamP", dict(lr=0.02, weight_decay=0.01), "channel"),
    ("AdamP", dict(lr=0.02, weight_decay=0.01, nesterov=True), "layer"),
    ("LAMB", dict(lr=0.02, weight_decay=0.01, trust_clip=10.0), None),
    ("LARS", dict(lr=0.1, exclude_1d=True), None),
]


def _branching_run(name, kwargs, view, compiled, steps=12):
    gen = torch.Generator().manual_seed(4)
    shapes = [(4, 6), (5,), (3, 2, 4)]
    params = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    params[2].zero_()  # a tensor of norm 0: LAMB's and LARS's ratio is 1 there
    opt = getattr(gopt, name)(params, compile=compiled, **kwargs)
    for _ in range(steps):
        for p in params:
            g = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            if view is not None and p.ndim > 1 and float(p.norm()) > 0:
                g = _orthogonal(g, p, p.shape[0] if view == "channel" else 1)
            p.grad = g
        opt.step()
    return params, opt


@pytest.mark.parametrize("name,kwargs,view", BRANCHING, ids=[f"{c[0]}-{c[2]}" for c in BRANCHING])
def test_rules_that_branch_on_a_tensors_value_compile_as_one_graph(name, kwargs, view):
    """LAMB's and LARS's trust ratios (1 at a zero norm) and AdamP's projection test are values of tensors: the
    compiled step takes them with ``where`` and stays one graph, with eager's numbers to 1e-12 (float64), on a
    zero tensor and, for AdamP, on gradients orthogonal to the weights per channel or per layer, where it projects."""
    eager, _ = _branching_run(name, kwargs, view, compiled=False)
    comp, opt = _branching_run(name, kwargs, view, compiled=True)
    engine = next(iter(opt._fused.values()))
    inner = engine._per_tensor
    assert engine.route == "per-tensor" and inner.fallback_reason is None and inner.counts["eager"] == 0, (
        inner.fallback_reason, inner.counts)
    for a, b in zip(comp, eager):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    if name == "AdamP":  # the projection did happen: without it (delta = 0 never passes) the weights differ
        never, _ = _branching_run(name, {**kwargs, "delta": 0.0}, view, compiled=False)
        assert max(float((a - b).abs().max()) for a, b in zip(never, eager)) > 1e-4
