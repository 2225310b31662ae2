"""The fused path (``compile=True``): each rule on flat buffers, one compiled loop per group.

Compiled runs are the slow part (seconds each on two cores), so the default run compiles three rules; the sweep
over every elementwise rule, compiled, in float64 and float32, is ``make fused-all`` (``GDLAB_FUSED_ALL=1``). The
flat layout itself (packing, views, checkpoints, gradients) is tested on the flat step run eagerly, which is the
same code without the compiler.
"""

from __future__ import annotations

import io
import os
import warnings

import pytest
import torch

import gdlab.optim as gopt
from gdlab.optim.base import REGISTRY
from gdlab.optim.fused import FusedStep, is_elementwise

SHAPES = [(5, 7), (11,), (3, 2, 4)]
U32 = 2.0 ** -24  # unit roundoff of float32

#: rules with options that exercise their branches; lr is set per case
ELEMENTWISE = {
    "Adam": {"lr": 1e-2, "weight_decay": 0.01},
    "AdamW": {"lr": 1e-2, "weight_decay": 0.1},
    "Adam+amsgrad": {"lr": 1e-2, "amsgrad": True},
    "SGD+momentum": {"lr": 1e-2, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    "Adagrad": {"lr": 1e-2, "weight_decay": 0.01},
    "RMSprop": {"lr": 1e-2, "momentum": 0.5, "centered": True},
    "RAdam": {"lr": 1e-2},
    "SignSGD": {"lr": 1e-2},
    "Lion": {"lr": 1e-3, "weight_decay": 0.1},
}
COMPILED = list(ELEMENTWISE) if os.environ.get("GDLAB_FUSED_ALL") else ["AdamW", "SGD+momentum", "Adagrad"]
#: graphs a 100-step scheduled run compiles: one, but RAdam's step branches on rho_t <= 5 (un-adapted momentum
#: steps for t <= 5 at beta2 = 0.999, rectified after), a Python branch on the traced step count: one graph each
GRAPHS = {"RAdam": 2}
NOT_ELEMENTWISE = ["LAMB", "LARS", "AdamP", "Adafactor", "Adam8bit", "Shampoo", "SOAP", "Muon"]


def _cls(case: str):
    return getattr(gopt, case.split("+")[0])


def _unique_graphs() -> int:
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def _params(dtype, seed=0, shapes=SHAPES):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in shapes]


def _trajectory(case: str, dtype, steps: int, fused: bool, compiled: bool = True, schedule: bool = True):
    """Parameters after ``steps`` steps on fixed random gradients, with lr, betas and weight decay changed by a
    schedule at every step; also the per-step sizes the float32 bound needs."""
    params = _params(dtype)
    kwargs = dict(ELEMENTWISE[case])
    opt = _cls(case)(params, compile=fused, **kwargs)
    if fused and not compiled:
        opt._fused = {id(opt.param_groups[0]): FusedStep(opt.rule, opt.param_groups[0], compile=False)}
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.98 ** k)
    gen = torch.Generator().manual_seed(5)
    group = opt.param_groups[0]
    steps_max, params_max = [], []
    for k in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen, dtype=dtype)
        if schedule:
            if "betas" in group:
                group["betas"] = (0.9 - 0.002 * (k % 3), 0.999 - 0.0002 * (k % 2))
            if group.get("weight_decay"):
                group["weight_decay"] = kwargs["weight_decay"] * (1.0 + 0.1 * (k % 4))
        before = [p.detach().clone() for p in params]
        opt.step()
        sched.step()
        steps_max.append(max(float((p.detach() - b).abs().max()) for p, b in zip(params, before)))
        params_max.append(max(float(p.detach().abs().max()) for p in params))
    return [p.detach().clone() for p in params], opt, steps_max, params_max


# --- which rules take the flat path ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(ELEMENTWISE))
def test_probe_accepts_elementwise_rules(case):
    rule = _cls(case).rule_class()
    hp = {**rule.defaults, **ELEMENTWISE[case]}
    assert is_elementwise(rule, hp) == (True, "elementwise")


@pytest.mark.parametrize("name", NOT_ELEMENTWISE)
def test_probe_refuses_rules_that_couple_coordinates(name):
    rule = REGISTRY[name]()
    ok, why = is_elementwise(rule, dict(rule.defaults))
    assert not ok and why


# --- numerics ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(ELEMENTWISE))
def test_flat_step_equals_eager_float64(case):
    """The flat layout (run eagerly): 100 scheduled float64 steps equal to 1e-12 (a few float64 roundings)."""
    eager, *_ = _trajectory(case, torch.float64, 100, fused=False)
    flat, opt, *_ = _trajectory(case, torch.float64, 100, fused=True, compiled=False)
    engine = next(iter(opt._fused.values()))
    assert engine.route == "flat" and engine.counts["flat"] >= 99, engine.counts
    for a, b in zip(flat, eager):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", COMPILED)
def test_compiled_flat_step_equals_eager_float64_without_recompiling(case):
    """100 steps under a schedule changing lr, betas and weight decay at every step: one graph, eager's numbers."""
    graphs = _unique_graphs()
    fused, opt, *_ = _trajectory(case, torch.float64, 100, fused=True)
    assert _unique_graphs() - graphs == GRAPHS.get(case, 1)  # compiled once (per branch), never again
    engine = next(iter(opt._fused.values()))
    assert engine.fallback_reason is None and engine.route == "flat"
    assert engine.counts["flat"] >= 99, engine.counts  # SGD's first step (no momentum buffer yet) is eager
    eager, *_ = _trajectory(case, torch.float64, 100, fused=False)
    for a, b in zip(fused, eager):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", ["Adam"] + (COMPILED if os.environ.get("GDLAB_FUSED_ALL") else []))
def test_compiled_flat_step_float32_within_rounding(case):
    r"""float32: the two paths may round each operation differently (fused multiply-adds, another order).

    Bound: a step computes each coordinate through at most k = 8 operations, each within relative u = 2⁻²⁴ in
    either path, so a state's relative difference grows by at most 2ku a step and is not amplified (the
    states are multiplied by β ≤ 1); the update, a product and quotient of states, differs by at most
    2k·t·u relative at step t, and the parameter's own addition adds 2u|θ|. Summed over the steps:
    |Δθ| ≤ Σ_t (2k·t·u·|δθ_t| + 2u·|θ_t|), with |δθ_t| and |θ_t| the largest step and parameter of eager's run.
    A wrong bias correction or decay is off by a fraction of lr per step, orders of magnitude above the bound.
    """
    eager, _, steps_max, params_max = _trajectory(case, torch.float32, 100, fused=False)
    fused, *_ = _trajectory(case, torch.float32, 100, fused=True)
    bound = sum(2 * 8 * t * U32 * d + 2 * U32 * m for t, (d, m) in enumerate(zip(steps_max, params_max), 1))
    diff = max(float((a - b).abs().max()) for a, b in zip(fused, eager))
    assert diff <= bound, (diff, bound)
    assert bound < 0.05 * sum(steps_max)  # the bound is far tighter than the motion it compares


# --- the layout: views, checkpoints, gradients -----------------------------------------------------------------
def _flat_opt(params, **kw):
    opt = gopt.Adam(params, lr=1e-2, compile=True, **kw)
    opt._fused = {id(opt.param_groups[0]): FusedStep(opt.rule, opt.param_groups[0], compile=False)}
    return opt


def _grads(params, gen):
    return [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]


def test_parameters_and_state_become_views_with_their_shapes():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)).double()
    keys = {k: v.shape for k, v in model.state_dict().items()}
    opt = _flat_opt(model.parameters())
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):
        for p, g in zip(model.parameters(), _grads(list(model.parameters()), gen)):
            p.grad = g
        opt.step()
    engine = next(iter(opt._fused.values()))
    bucket, _ = engine._buckets[0]
    ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
    assert ptrs == {bucket.flat.untyped_storage().data_ptr()}  # one storage: the flat buffer
    assert {k: v.shape for k, v in model.state_dict().items()} == keys
    sd = opt.state_dict()
    for i, p in enumerate(model.parameters()):
        assert set(sd["state"][i]) == {"step", "exp_avg", "exp_avg_sq"}
        assert sd["state"][i]["exp_avg"].shape == p.shape
        assert sd["state"][i]["exp_avg"].untyped_storage().data_ptr() == \
            bucket.buffers["exp_avg"].untyped_storage().data_ptr()


def test_torch_checkpoint_loads_and_continues_like_torch():
    """A torch.optim.Adam checkpoint loads into the flat engine, which then steps exactly as torch does."""
    gen = torch.Generator().manual_seed(3)
    ref = _params(torch.float64, seed=1)
    ours = [torch.nn.Parameter(p.detach().clone()) for p in ref]
    topt = torch.optim.Adam(ref, lr=1e-2, foreach=False)
    opt = _flat_opt(ours)
    for _ in range(3):  # both take steps, so the engine has packed its buffers before the load
        gs = _grads(ref, gen)
        for p, q, g in zip(ref, ours, gs):
            p.grad, q.grad = g.clone(), g.clone()
        topt.step()
        opt.step()
    buf = io.BytesIO()
    torch.save(topt.state_dict(), buf)
    buf.seek(0)
    opt.load_state_dict(torch.load(buf))
    for p, q in zip(ref, ours):
        with torch.no_grad():
            q.copy_(p)  # into the views: the flat buffer
    for _ in range(4):
        gs = _grads(ref, gen)
        for p, q, g in zip(ref, ours, gs):
            p.grad, q.grad = g.clone(), g.clone()
        topt.step()
        opt.step()
    engine = opt._fused[id(opt.param_groups[0])]  # load_state_dict made new param groups: a new engine
    assert len(opt._fused) == 1 and engine.counts["flat"] == 4
    for p, q in zip(ref, ours):
        torch.testing.assert_close(q.detach(), p.detach(), rtol=0, atol=1e-12)
    for k in ("exp_avg", "exp_avg_sq"):  # the loaded state was packed again: views of the flat buffers
        assert opt.state[ours[0]][k].untyped_storage().data_ptr() == \
            engine._buckets[0][0].buffers[k].untyped_storage().data_ptr()


def test_a_replaced_parameter_is_packed_again():
    params = _params(torch.float64)
    opt = _flat_opt(params)
    gen = torch.Generator().manual_seed(4)
    twin = [p.detach().clone() for p in params]
    eager = gopt.Adam(twin, lr=1e-2)
    for step in range(4):
        if step == 2:
            params[1].data = params[1].data.clone()  # no longer a view: the engine must notice
        for p, q, g in zip(params, twin, _grads(params, gen)):
            p.grad, q.grad = g, g.clone()
        opt.step()
        eager.step()
    for p, q in zip(params, twin):
        torch.testing.assert_close(p.detach(), q, rtol=0, atol=1e-12)


def test_gradients_kept_as_views_are_not_copied():
    """The step never touches a gradient; zero_grad(set_to_none=False) makes them views, and no step copies."""
    params = _params(torch.float64)
    opt = _flat_opt(params)
    gen = torch.Generator().manual_seed(6)
    for p, g in zip(params, _grads(params, gen)):
        p.grad = g
    versions = [p.grad._version for p in params]
    grads = [p.grad for p in params]
    opt.step()  # gathered once; the gradients are left as they were, as torch's optimizers leave them
    bucket = next(iter(opt._fused.values()))._buckets[0][0]
    assert bucket.gathers == 1
    assert all(p.grad is g and p.grad._version == v for p, g, v in zip(params, grads, versions))
    for _ in range(3):
        opt.zero_grad(set_to_none=False)  # zeroed, then re-pointed to the zeroed flat gradient buffer
        assert all(float(p.grad.abs().max()) == 0.0 for p in params)
        for p, g in zip(params, _grads(params, gen)):
            p.grad.add_(g)  # as autograd accumulates into an existing gradient
        opt.step()
    assert bucket.gathers == 1
    assert all(float(g.abs().max()) == 0.0 for g in grads)  # the old gradient objects were zeroed too
    for _ in range(3):  # set to None every step: gathered each time
        opt.zero_grad()
        for p, g in zip(params, _grads(params, gen)):
            p.grad = g
        opt.step()
    assert bucket.gathers == 4


def test_steps_that_do_not_fit_run_eagerly_with_the_same_result():
    params = _params(torch.float64)
    twin = [p.detach().clone().requires_grad_() for p in params]
    opt, eager = _flat_opt(params), gopt.Adam(twin, lr=1e-2)
    gen = torch.Generator().manual_seed(7)
    for step in range(4):
        gs = _grads(params, gen)
        for i, (p, q, g) in enumerate(zip(params, twin, gs)):
            p.grad = q.grad = None if (step == 1 and i == 0) else g  # parameter 0 skips step 2
        opt.step()
        eager.step()
    engine = next(iter(opt._fused.values()))
    assert engine.counts["eager"] >= 1  # the skipped step, then the step counts differ
    for p, q in zip(params, twin):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=0, atol=1e-12)


def test_rule_that_couples_coordinates_runs_per_tensor():
    params = _params(torch.float64)
    twin = [p.detach().clone() for p in params]
    opt = gopt.LAMB(params, lr=1e-2, compile=True)
    opt._fused = {id(opt.param_groups[0]): FusedStep(opt.rule, opt.param_groups[0], compile=False)}
    eager = gopt.LAMB(twin, lr=1e-2)
    gen = torch.Generator().manual_seed(8)
    for _ in range(3):
        for p, q, g in zip(params, twin, _grads(params, gen)):
            p.grad, q.grad = g, g.clone()
        opt.step()
        eager.step()
    engine = next(iter(opt._fused.values()))
    assert engine.route == "per-tensor" and engine.counts["per-tensor"] == 3 and engine._buckets is None
    for p, q in zip(params, twin):
        torch.testing.assert_close(p.detach(), q, rtol=0, atol=1e-12)


def test_without_a_compiler_the_flat_step_runs_eagerly_with_one_warning():
    def unavailable(gm, example_inputs):
        raise RuntimeError("no C++ compiler")

    params = _params(torch.float64)
    twin = [p.detach().clone() for p in params]
    opt = gopt.Adam(params, lr=1e-2, compile=True)
    opt._fused = {id(opt.param_groups[0]): FusedStep(opt.rule, opt.param_groups[0], backend=unavailable)}
    eager = gopt.Adam(twin, lr=1e-2)
    gen = torch.Generator().manual_seed(9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            for p, q, g in zip(params, twin, _grads(params, gen)):
                p.grad, q.grad = g, g.clone()
            opt.step()
            eager.step()
    ours = [w for w in caught if "fused step" in str(w.message)]
    assert len(ours) == 1 and issubclass(ours[0].category, RuntimeWarning)
    engine = next(iter(opt._fused.values()))
    assert "no C++ compiler" in engine.fallback_reason and engine.counts["flat"] == 3
    for p, q in zip(params, twin):
        torch.testing.assert_close(p.detach(), q, rtol=0, atol=1e-12)


def test_bad_arguments_are_named():
    group = {"params": _params(torch.float64)}
    with pytest.raises(TypeError, match="rule"):
        FusedStep("Adam", group)
    with pytest.raises(TypeError, match="group"):
        FusedStep(REGISTRY["Adam"](), [group])
    with pytest.raises(TypeError, match="compile"):
        FusedStep(REGISTRY["Adam"](), group, compile="yes")


# --- the steady step: the compiled call without Dynamo, straight from the group and state ----------------------
#: rules whose compiled step Dynamo must keep guarding (RAdam branches on the traced ρₜ > 5)
GUARDED = {"RAdam"}


def _adopted_run(opt, params, gen, k, betas=True):
    """One training-loop step: gradients zeroed in place (re-pointed to the flat buffer by a fused optimizer),
    accumulated into, a scheduled lr (and betas) set, the step."""
    opt.zero_grad(set_to_none=False)
    for p, g in zip(params, _grads(params, gen)):
        if p.grad is None:  # (after a step it had none)
            p.grad = torch.zeros_like(p)
        p.grad.add_(g)
    group = opt.param_groups[0]
    group["lr"] = 1e-2 * 0.97 ** k
    if betas and "betas" in group:
        group["betas"] = (0.9 - 0.002 * (k % 3), 0.999 - 0.0002 * (k % 2))
    opt.step()


@pytest.mark.parametrize("case", COMPILED)
def test_steady_steps_are_called_without_dynamo_and_equal_eager(case):
    """In a training loop (``zero_grad(set_to_none=False)``, a schedule changing lr and betas every step) the
    steady step calls the compiled function directly: the same numbers as eager to 1e-12 in float64, one graph."""
    params, twin = _params(torch.float64), _params(torch.float64)
    kwargs = ELEMENTWISE[case]
    opt, eager = _cls(case)(params, compile=True, **kwargs), _cls(case)(twin, **kwargs)
    for p in params + twin:
        p.grad = torch.zeros_like(p)
    graphs = _unique_graphs()
    g1, g2 = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    for k in range(60):
        _adopted_run(opt, params, g1, k)
        _adopted_run(eager, twin, g2, k)
    assert _unique_graphs() - graphs == GRAPHS.get(case, 1)
    engine = next(iter(opt._fused.values()))
    if case in GUARDED:
        assert engine.counts["direct"] == 0 and not engine._direct  # Dynamo decides every step
    else:
        assert engine.counts["direct"] >= 55, engine.counts  # all but the first few (SGD's lazy buffer, t = 1)
    for a, b in zip(params, twin):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=0, atol=1e-12)


def test_steady_step_gives_way_whenever_the_step_is_not_the_last_one():
    """Each change a steady step must notice, made to a compiled AdamW and an eager one alike; after every step
    the two agree to 1e-12 (float64). A missed change (a stale buffer, a skipped parameter, the sign of
    maximize, a loaded checkpoint) would move the parameters at the first digit."""
    params, twin = _params(torch.float64), _params(torch.float64)
    opt = gopt.AdamW(params, lr=1e-2, weight_decay=0.1, compile=True)
    eager = gopt.AdamW(twin, lr=1e-2, weight_decay=0.1)
    for p in params + twin:
        p.grad = torch.zeros_like(p)
    g1, g2 = torch.Generator().manual_seed(12), torch.Generator().manual_seed(12)

    def both(change):
        change(opt, params)
        change(eager, twin)

    def halve_a_buffer(o, ps):  # the state entry replaced by a new tensor (not the packed view)
        o.state[ps[0]]["exp_avg"] = o.state[ps[0]]["exp_avg"] * 0.5

    def decay_off(o, ps):
        o.param_groups[0]["weight_decay"] = 0.0

    def maximize(o, ps):
        o.param_groups[0]["maximize"] = not o.param_groups[0]["maximize"]

    def reload(o, ps):
        o.load_state_dict(o.state_dict())

    changes = {6: halve_a_buffer, 9: decay_off, 12: maximize, 14: maximize, 16: reload}
    direct_before = None
    for k in range(22):
        if k in changes:
            both(changes[k])
        if k == 5:
            direct_before = next(iter(opt._fused.values())).counts["direct"]
        if k == 19:  # parameter 1 has no gradient this step (then the step counts differ: eager steps)
            for o, ps, gen in ((opt, params, g1), (eager, twin, g2)):
                o.zero_grad(set_to_none=False)
                for i, (p, g) in enumerate(zip(ps, _grads(ps, gen))):
                    p.grad = None if i == 1 else p.grad.add_(g)
                o.step()
        else:
            _adopted_run(opt, params, g1, k, betas=False)
            _adopted_run(eager, twin, g2, k, betas=False)
        for a, b in zip(params, twin):
            torch.testing.assert_close(a.detach(), b.detach(), rtol=0, atol=1e-12, msg=f"step {k}")
    assert direct_before >= 3  # the fast step did run before the changes
    engine = opt._fused[id(opt.param_groups[0])]  # the engine of the reloaded group
    assert engine.counts["direct"] >= 1 and engine.counts["eager"] >= 1


def test_holds_are_merged_into_one_and_cheap_ones_dropped():
    """``merge_holds``: of three held scalars, the one without a library call (1 − β) is no longer held, the two
    with ``pow`` and ``sqrt`` are held together by one hold; the values are unchanged."""
    import math

    from gdlab.optim.compiled import held, merge_holds

    seen = {}

    def backend(gm, example_inputs):
        seen["removed"] = merge_holds(gm)
        seen["holds"] = sum(1 for n in gm.graph.nodes if "gdlab.hold" in str(n.target))
        return gm.forward

    def f(x, t, b):
        s, u = t.item(), b.item()
        torch._check(s >= 1)
        torch._check(u > 0.0)
        torch._check(u < 1.0)
        return x * held(1.0 - u) + x * held(u ** s) - held(math.sqrt(1.0 - u ** s))

    x, t, b = torch.linspace(-1, 1, 7, dtype=torch.float64), torch.tensor(3), torch.tensor(0.9, dtype=torch.float64)
    with torch._dynamo.config.patch(capture_scalar_outputs=True):
        out = torch.compile(f, backend=backend, fullgraph=True)(x, t, b)
    assert seen == {"removed": 2, "holds": 1}
    expect = x * (1 - 0.9) + x * 0.9 ** 3 - math.sqrt(1 - 0.9 ** 3)
    torch.testing.assert_close(out, expect, rtol=0, atol=1e-15)


def test_a_step_left_eager_runs_as_the_optimizer_without_compile_would():
    """A rule the compiled engine does not compile (schedule-free AdamW keeps numbers in its state) runs its steps
    as the optimizer does without ``compile=True``: large CPU tensors one at a time, with the same numbers (the
    whole group at once made compile=True 1.6 times slower than eager on 8 tensors of 2048 x 1024)."""
    from gdlab.optim.torch_face import PER_TENSOR_NUMEL

    side = int(PER_TENSOR_NUMEL ** 0.5) + 1
    gen = torch.Generator().manual_seed(13)
    params = [torch.nn.Parameter(torch.randn(side, side, generator=gen)) for _ in range(3)]
    twin = [torch.nn.Parameter(p.detach().clone()) for p in params]
    opt = gopt.ScheduleFreeAdamW(params, lr=1e-2, compile=True)
    eager = gopt.ScheduleFreeAdamW(twin, lr=1e-2)
    opt.train()
    eager.train()
    calls = []
    update = opt.rule.update

    def counted(ctx):
        if any(ctx.params[0] is p for p in params):  # (not the engine's own probe of the rule)
            calls.append(len(ctx.params))
        return update(ctx)

    opt.rule.update = counted
    for _ in range(3):
        for p, q in zip(params, twin):
            g = torch.randn(p.shape, generator=gen)
            p.grad, q.grad = g, g.clone()
        opt.step()
        eager.step()
    assert calls == [1] * 9, calls  # one tensor at a time, as the eager optimizer steps them
    for p, q in zip(params, twin):
        assert torch.equal(p.detach(), q.detach())
