"""gdlab's optimizers driven by torch's own optimizer database, and the same checks for the rules torch lacks.

For every ``OptimizerInfo`` of ``torch.testing._internal.common_optimizers.optim_db`` (the copy in the installed
torch wheel) whose optimizer gdlab has, every configuration of ``optim_inputs_func(device="cpu")`` is run through
generic checks against ``gdlab.optim.<Name>``:

- ``parity``: float64, gdlab against torch, step by step from the same parameters and the same gradients;
- ``tensor_lr``: a tensor learning rate (0-dim, shape [1], shape [1, 1]) gives the float-lr run, and a float32
  tensor lr on float64 parameters gives torch's run (no silent float32 arithmetic);
- ``deepcopy`` and ``pickle`` of an optimizer mid-run: the copy continues identically and keeps every public
  attribute;
- ``state_dict``: a torch checkpoint loaded into gdlab, and a gdlab checkpoint loaded into torch, continue as the
  run they came from; gdlab's own checkpoint survives ``torch.save``/``torch.load(weights_only=True)``;
- ``torch_defaults``: torch's own default values of ``foreach``/``fused``/``differentiable``/``capturable`` are
  accepted and change nothing;
- ``complex``: a complex parameter is updated as its real view (``torch.view_as_real``);
- ``foreach``: the foreach path equals the for-loop path (with a step where no parameter has a gradient);
- ``hooks``: step pre/post hooks and state_dict / load_state_dict pre/post hooks fire as torch's do;
- ``errors``: each of torch's ``optim_error_inputs_func(device="cpu")`` cases raises (or warns) with the same
  exception type and a message that torch's regular expression matches.

The rules torch lacks run the checks that do not need torch's class, on configurations listed in ``OWN_CONFIGS``.

Gradients never depend on the parameters (they are drawn from a generator seeded by the step number), so a
rounding difference in one step is not fed back through a loss: after k steps two implementations that each
round every operation differ by at most k times one step's rounding error. The tolerance after step k is
``k * GROWTH[rule] * eps64 * scale`` with ``scale = max(1, max |p|)``: an elementwise update rounds about 30
times per element (the gradient transforms, the buffers, the division, the step), so 64 unit roundings per step
bound it with 2x headroom; rules with reductions over n <= 40 entries (trust ratios, factored second moments)
add n roundings (128); Muon's five Newton-Schulz iterations amplify an input error by at most |p'(s)| <= 3.5 each
(the quintic 3.4445 s - 4.7750 s^3 + 2.0315 s^5 on [0, 1.2]), 3.5^5 ~ 525, so 64 * 525; Shampoo and SOAP take
eigendecompositions of statistics regularised by eps >= 1e-8 relative, whose backward error (n eps ||A||) is
amplified by the condition number (< 1e6 on these 5x4 problems) of the inverse root, so 64 * 1e6.
torch's Muon orthogonalises in bfloat16, which moves its output by up to about 0.1 from the float64 iteration's;
against torch, gdlab's Muon runs with ``ns_form="torch"`` (``AS_TORCH``), the same bfloat16 operations on the same
float64 momentum, so the float64 tolerance above holds there too.
"""

from __future__ import annotations

import copy
import inspect
import io
import pickle
import warnings
from dataclasses import dataclass, field

import pytest
import torch
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)
from torch.testing._internal import common_optimizers as co

import gdlab.optim as go

EPS64 = torch.finfo(torch.float64).eps
SHAPES = [(5, 4), (5,)]
MATRIX_SHAPES = [(5, 4), (4, 3)]  # Muon updates 2-D matrices only
PRIME, CONTINUE = 3, 3  # steps before a copy / checkpoint, steps after it

GROWTH = {"default": 64.0, "LAMB": 128.0, "LARS": 128.0, "AdamP": 128.0, "Adafactor": 128.0,
          "Muon": 64.0 * 525, "Shampoo": 64.0 * 1e6, "SOAP": 64.0 * 1e6}
# gdlab's explicit option for torch's convention, passed to gdlab's class wherever its run is compared with torch's
AS_TORCH = {"Muon": {"ns_form": "torch"}}
# torch's NAdam keeps mu_product in float32 (the default dtype) even for float64 parameters, until a checkpoint is
# loaded, which casts it to the parameters' float64 (so also against torch in float64): mu_product then differs by at most (k + 1) 2^-24 relative after k steps, the bias
# correction 1 / (1 - mu) (mu <= 0.9) amplifies it 10x, and an update is at most 3 lr: per step
# 3 lr * 10 * (PRIME + CONTINUE + 1) * 2^-24 more after a checkpoint.
FLOAT32_MU_PRODUCT = {"NAdam"}


@dataclass
class Case:
    name: str  # gdlab.optim.<name>
    desc: str
    kwargs: dict
    info: co.OptimizerInfo | None = None  # torch's entry, when torch has the optimizer
    shapes: list = field(default_factory=lambda: list(SHAPES))

    @property
    def id(self) -> str:
        return f"{self.name}-{self.desc}".replace(" ", "_")

    @property
    def gdlab_cls(self):
        return getattr(go, self.name)

    @property
    def torch_cls(self):
        return self.info.optim_cls

    def kw_for(self, cls, **extra) -> dict:
        """The configuration for ``cls``: gdlab's class also gets torch's convention (``AS_TORCH``)."""
        out = self.kw(**extra)
        if cls is self.gdlab_cls:
            out.update(AS_TORCH.get(self.name, {}))
        return out

    def kw(self, **extra) -> dict:
        out = copy.deepcopy(self.kwargs)
        if "foreach" in extra and self.info is not None and "foreach" not in self.info.supported_impls:
            del extra["foreach"]  # torch's class has no foreach argument (Muon): neither gets one
        out.update(extra)
        return out

    @property
    def complex_ok(self) -> bool:
        return self.info.supports_complex if self.info is not None else True

    def has_tensor_lr(self) -> bool:
        return isinstance(self.kwargs.get("lr"), torch.Tensor)


def _needs_cuda(info, kwargs) -> bool:
    """The configuration's declared needs: capturable, or fused where the info says CPU has no fused kernel."""
    return bool(kwargs.get("capturable")) or (bool(kwargs.get("fused")) and "cpu" not in info.supports_fused_on)


def _torch_cases() -> list[Case]:
    cases = []
    for info in co.optim_db:
        if info.name not in go.RULES:
            continue
        shapes = MATRIX_SHAPES if info.name == "Muon" else SHAPES
        for oi in info.optim_inputs_func(device="cpu"):
            if not _needs_cuda(info, oi.kwargs):
                cases.append(Case(info.name, oi.desc, oi.kwargs, info, list(shapes)))
    return cases


OWN_CONFIGS = {
    "Lion": [("default", {}), ("weight_decay", {"weight_decay": 0.1}),
             ("maximize, betas", {"maximize": True, "betas": (0.95, 0.98)})],
    "LAMB": [("default", {}), ("trust_clip", {"trust_clip": 10.0}),
             ("no always_adapt, no weight_decay", {"always_adapt": False, "weight_decay": 0.0})],
    "LARS": [("default", {}), ("exclude_1d", {"exclude_1d": True}),
             ("no momentum, no weight_decay", {"momentum": 0.0, "weight_decay": 0.0})],
    "Shampoo": [("default", {}), ("update_freq", {"update_freq": 2}), ("maximize", {"maximize": True})],
    "SOAP": [("default", {}), ("precondition_frequency", {"precondition_frequency": 2}),
             ("shampoo_beta", {"shampoo_beta": 0.9})],
    "Sophia": [("default", {}), ("update_period, no weight_decay", {"update_period": 2, "weight_decay": 0.0})],
    "ScheduleFreeAdamW": [("default", {}), ("warmup, weight_decay", {"warmup_steps": 2, "weight_decay": 0.1}),
                          ("r", {"r": 1.0})],
    "AdamP": [("default", {}), ("nesterov, weight_decay", {"nesterov": True, "weight_decay": 0.1})],
    "SignSGD": [("default", {}), ("Signum", {"momentum": 0.9}),
                ("weight_decay, maximize", {"weight_decay": 0.1, "maximize": True})],
    "Adam8bit": [("default", {}), ("8-bit blocks", {"min_8bit_size": 1, "block_size": 8}),
                 ("8-bit blocks, decoupled weight_decay",
                  {"min_8bit_size": 1, "block_size": 8, "decoupled_weight_decay": True, "weight_decay": 0.1})],
}

TORCH_CASES = _torch_cases()
OWN_CASES = [Case(name, desc, kw) for name, configs in OWN_CONFIGS.items() for desc, kw in configs]
ALL_CASES = TORCH_CASES + OWN_CASES
TORCH_HAS = {c.name for c in TORCH_CASES}


def test_the_tables_cover_gdlab():
    """Every gdlab rule is in one of the two tables, and a rule torch has is driven by torch's entries."""
    assert set(OWN_CONFIGS).isdisjoint(TORCH_HAS)
    assert set(go.RULES) - TORCH_HAS - set(OWN_CONFIGS) == set()


def cases(where=lambda c: True):
    return [pytest.param(c, id=c.id) for c in ALL_CASES if where(c)]


# ---------------------------------------------------------------------------------------------- helpers


def make_params(shapes, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in shapes]


def clones(params):
    return [p.detach().clone().requires_grad_() for p in params]


def set_grads(params, step):
    """The gradients of step `step`: a fixed draw, the same for every optimizer and every copy."""
    gen = torch.Generator().manual_seed(1000 + step)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)


def run(opt, params, steps, start=0, none_at=None):
    """`steps` steps from step `start`; returns the parameters after each step. At step `none_at` no parameter
    has a gradient."""
    out = []
    for k in range(start, start + steps):
        if k == none_at:
            for p in params:
                p.grad = None
        else:
            set_grads(params, k)
        opt.step()
        out.append([p.detach().clone() for p in params])
    return out


def params_of(opt):
    return [p for g in opt.param_groups for p in g["params"]]


def scale_of(trajectories):
    return max(1.0, max(float(p.abs().max()) for traj in trajectories for ps in traj for p in ps if p.numel()))


def growth(name):
    return GROWTH.get(name, GROWTH["default"])


def checkpoint_extra(case):
    if case.name not in FLOAT32_MU_PRODUCT:
        return 0.0
    lr = float(case.kwargs.get("lr", default_lr(case.gdlab_cls)))
    return 3 * lr * 10 * (PRIME + CONTINUE + 1) * 2.0**-24


def assert_close_runs(got, want, case, what, extra_per_step=0.0):
    """Compare two trajectories step by step with the rounding tolerance of the module docstring."""
    assert len(got) == len(want)
    scale = scale_of([got, want])
    for k, (g_ps, w_ps) in enumerate(zip(got, want), start=1):
        tol = k * growth(case.name) * EPS64 * scale
        tol += k * extra_per_step
        for i, (g, w) in enumerate(zip(g_ps, w_ps)):
            err = float((g - w).abs().max()) if g.numel() else 0.0
            assert err <= tol, f"{what}: step {k}, parameter {i}: |difference| = {err:.3g} > tol = {tol:.3g}"


def assert_identical_runs(got, want, what):
    """The same code on the same inputs: bitwise equal on one machine."""
    for k, (g_ps, w_ps) in enumerate(zip(got, want), start=1):
        for i, (g, w) in enumerate(zip(g_ps, w_ps)):
            assert torch.equal(g, w), f"{what}: step {k}, parameter {i} differs by {float((g - w).abs().max()):.3g}"


def default_lr(cls):
    return inspect.signature(cls.__init__).parameters["lr"].default


def public_attrs(obj):
    return {k for k in obj.__dict__ if not k.startswith("_")}


# ---------------------------------------------------------------------------------------------- checks


@pytest.mark.parametrize("case", cases(lambda c: c.info is not None))
def test_parity(case):
    """float64, same start and gradients: gdlab's step equals torch's for-loop step."""
    p = make_params(case.shapes)
    pt = clones(p)
    ours = run(case.gdlab_cls(p, **case.kw_for(case.gdlab_cls, foreach=False)), p, PRIME + CONTINUE)
    theirs = run(case.torch_cls(pt, **case.kw(foreach=False)), pt, PRIME + CONTINUE)
    assert_close_runs(ours, theirs, case, "gdlab vs torch", extra_per_step=checkpoint_extra(case))


@pytest.mark.parametrize("shape", [(), (1,), (1, 1)], ids=["0-dim", "[1]", "[1,1]"])
@pytest.mark.parametrize("case", cases())
def test_tensor_lr(case, shape):
    """A float64 tensor learning rate holding the float's value gives the float-lr run."""
    lr = case.kwargs.get("lr", default_lr(case.gdlab_cls))
    lr = float(lr)
    p = make_params(case.shapes)
    pt = clones(p)
    with_float = run(case.gdlab_cls(p, **case.kw(lr=lr, foreach=False)), p, 4)
    lr_t = torch.full(shape, lr, dtype=torch.float64)
    with_tensor = run(case.gdlab_cls(pt, **case.kw(lr=lr_t, foreach=False)), pt, 4)
    assert_close_runs(with_tensor, with_float, case, f"tensor lr {tuple(shape)} vs float lr")


@pytest.mark.parametrize("case", cases(lambda c: c.info is not None))
def test_tensor_lr_float32_against_torch(case):
    """A float32 tensor lr (torch.tensor(lr), as users write it) on float64 parameters: torch's run, in float64."""
    lr = float(case.kwargs.get("lr", default_lr(case.torch_cls)))
    p = make_params(case.shapes)
    pt = clones(p)
    ours = run(case.gdlab_cls(p, **case.kw_for(case.gdlab_cls, lr=torch.tensor(lr), foreach=False)), p, 4)
    theirs = run(case.torch_cls(pt, **case.kw(lr=torch.tensor(lr), foreach=False)), pt, 4)
    assert_close_runs(ours, theirs, case, "float32 tensor lr: gdlab vs torch",
                      extra_per_step=checkpoint_extra(case))


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
@pytest.mark.parametrize("case", cases())
def test_copy_mid_run(case, how):
    """A copy made mid-run keeps every public attribute and continues exactly as the original."""
    p = make_params(case.shapes)
    opt = case.gdlab_cls(p, **case.kw())
    run(opt, p, PRIME)
    twin = copy.deepcopy(opt) if how == "deepcopy" else pickle.loads(pickle.dumps(opt))
    assert public_attrs(twin) == public_attrs(opt)
    original = run(opt, p, CONTINUE, start=PRIME)
    copied = run(twin, params_of(twin), CONTINUE, start=PRIME)
    assert_identical_runs(copied, original, f"{how} vs original")


def _state_dict_transfer(case, src_cls, dst_cls, src_foreach):
    p = make_params(case.shapes)
    src = src_cls(p, **case.kw_for(src_cls, foreach=src_foreach))
    run(src, p, PRIME)
    pd = clones(p)
    dst = dst_cls(pd, **case.kw_for(dst_cls, foreach=False))
    dst.load_state_dict(copy.deepcopy(src.state_dict()))
    return run(src, p, CONTINUE, start=PRIME), run(dst, pd, CONTINUE, start=PRIME)


def _foreach_ok(case, foreach):
    # torch refuses a tensor lr with foreach=True (and not capturable): not a configuration to check
    return not (foreach and case.has_tensor_lr()) and (not foreach or "foreach" in case.info.supported_impls)


@pytest.mark.parametrize("direction", ["torch_to_gdlab", "gdlab_to_torch"])
@pytest.mark.parametrize("src_foreach", [False, True], ids=["from-forloop", "from-foreach"])
@pytest.mark.parametrize("case", cases(lambda c: c.info is not None))
def test_state_dict_transfer(case, src_foreach, direction):
    """A torch.optim checkpoint loads into gdlab and a gdlab checkpoint into torch.optim; the continued runs agree."""
    if not _foreach_ok(case, src_foreach):
        return
    src, dst = ("torch", "gdlab") if direction == "torch_to_gdlab" else ("gdlab", "torch")
    cls = {"torch": case.torch_cls, "gdlab": case.gdlab_cls}
    original, continued = _state_dict_transfer(case, cls[src], cls[dst], src_foreach)
    assert_close_runs(continued, original, case, f"{src} checkpoint continued by {dst} vs {src}",
                      extra_per_step=checkpoint_extra(case))


@pytest.mark.parametrize("case", cases())
def test_state_dict_save_load(case):
    """gdlab's checkpoint survives torch.save / torch.load(weights_only=True) and continues exactly."""
    p = make_params(case.shapes)
    opt = case.gdlab_cls(p, **case.kw())
    run(opt, p, PRIME)
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    sd = torch.load(buf, weights_only=True)
    pd = clones(p)
    fresh = case.gdlab_cls(pd, **case.kw())
    fresh.load_state_dict(sd)
    reloaded, original = run(fresh, pd, CONTINUE, start=PRIME), run(opt, p, CONTINUE, start=PRIME)
    if checkpoint_extra(case):  # a float32 buffer becomes float64 on loading, as in torch
        assert_close_runs(reloaded, original, case, "reloaded vs original", extra_per_step=checkpoint_extra(case))
    else:
        assert_identical_runs(reloaded, original, "reloaded vs original")


@pytest.mark.parametrize("case", cases())
def test_step_never_writes_into_a_gradient(case):
    """As torch's optimizers: a step reads the gradients and leaves them as they were (object and _version),
    fused and compiled steps included."""
    p = make_params(case.shapes)
    opt = case.gdlab_cls(p, **case.kw())
    set_grads(p, 0)
    grads = [q.grad for q in p]
    versions = [g._version for g in grads]
    values = [g.clone() for g in grads]
    for _ in range(3):
        opt.step()
    assert all(q.grad is g for q, g in zip(p, grads))
    assert [g._version for g in grads] == versions
    assert all(torch.equal(g, v) for g, v in zip(grads, values))


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad"])
def test_fused_step_never_writes_into_a_gradient(name):
    """The same for fused=True (the flat compiled step, which gathers the gradients into its own buffer)."""
    p = make_params(SHAPES, dtype=torch.float32)
    opt = getattr(go, name)(p, lr=0.01, fused=True)
    set_grads(p, 0)
    grads = [q.grad for q in p]
    versions = [g._version for g in grads]
    for _ in range(3):
        opt.step()
    assert next(iter(opt._fused.values())).counts["flat"] >= 2
    assert all(q.grad is g for q, g in zip(p, grads))
    assert [g._version for g in grads] == versions


def test_adamw_decouples_a_loaded_adam_checkpoint():
    """torch.optim.AdamW's rule: its groups decouple the weight decay whatever the checkpoint says, and Adam
    keeps the key of an AdamW checkpoint (so loading one into Adam keeps the decoupled decay)."""
    model = torch.nn.Linear(3, 2)
    adamw_sd, adam_sd = go.AdamW(model.parameters()).state_dict(), go.Adam(model.parameters()).state_dict()
    assert adam_sd["param_groups"][0]["decoupled_weight_decay"] is False
    into_adamw = go.AdamW(model.parameters())
    into_adamw.load_state_dict(adam_sd)
    assert into_adamw.param_groups[0]["decoupled_weight_decay"] is True
    old = copy.deepcopy(adamw_sd)
    del old["param_groups"][0]["decoupled_weight_decay"]
    into_adamw.load_state_dict(old)
    assert into_adamw.param_groups[0]["decoupled_weight_decay"] is True
    into_adam = go.Adam(model.parameters())
    into_adam.load_state_dict(adamw_sd)
    assert into_adam.param_groups[0]["decoupled_weight_decay"] is True


@pytest.mark.parametrize("case", cases(lambda c: c.info is not None))
def test_torch_defaults(case):
    """torch's defaults of its implementation flags are accepted and change nothing."""
    flags = {f: False for f in case.info.supported_impls}
    if case.info.has_capturable_arg:
        flags["capturable"] = False
    if "foreach" in flags:
        flags["foreach"] = None  # torch's default: let the optimizer choose
    p = make_params(case.shapes)
    pt = clones(p)
    plain = run(case.gdlab_cls(p, **case.kw()), p, 3)
    flagged = run(case.gdlab_cls(pt, **case.kw(**flags)), pt, 3)
    assert_identical_runs(flagged, plain, f"with {flags} vs without")


@pytest.mark.parametrize("case", cases(lambda c: c.complex_ok))
def test_complex(case):
    """A complex parameter is updated as its real view; a real parameter beside it is unaffected."""
    gen = torch.Generator().manual_seed(0)
    shapes = case.shapes
    cplx = [torch.randn(shapes[0], generator=gen, dtype=torch.complex128).requires_grad_(),
            torch.randn(shapes[1], generator=gen, dtype=torch.complex128).requires_grad_(),
            torch.randn(shapes[0], generator=gen, dtype=torch.float64).requires_grad_()]
    real = [(torch.view_as_real(c) if c.is_complex() else c).detach().clone().requires_grad_() for c in cplx]
    opt_c = case.gdlab_cls(cplx, **case.kw(foreach=False))
    opt_r = case.gdlab_cls(real, **case.kw(foreach=False))
    got, want = [], []
    for k in range(4):
        set_grads(real, k)
        for c, r in zip(cplx, real):
            c.grad = torch.view_as_complex(r.grad.clone()) if c.is_complex() else r.grad.clone()
        opt_c.step()
        opt_r.step()
        got.append([torch.view_as_real(c.detach()).clone() if c.is_complex() else c.detach().clone() for c in cplx])
        want.append([r.detach().clone() for r in real])
    assert_close_runs(got, want, case, "complex vs real view")


@pytest.mark.parametrize("case", cases(lambda c: not c.has_tensor_lr() and (c.info is None
                                                                            or "foreach" in c.info.supported_impls)))
def test_foreach_matches_forloop(case):
    """The foreach path equals the for-loop path, parameters and every state tensor, with a 0-dim parameter
    (matrix-only rules excepted) and a step without gradients."""
    shapes = case.shapes + ([] if case.name == "Muon" else [()])
    p = make_params(shapes)
    pt = clones(p)
    opt_loop = case.gdlab_cls(p, **case.kw(foreach=False))
    opt_each = case.gdlab_cls(pt, **case.kw(foreach=True))
    loop = run(opt_loop, p, 6, none_at=2)
    each = run(opt_each, pt, 6, none_at=2)
    assert_close_runs(each, loop, case, "foreach vs for-loop")
    for i, (a, b) in enumerate(zip(p, pt)):
        sa, sb = opt_loop.state[a], opt_each.state[b]
        assert sa.keys() == sb.keys(), f"parameter {i}: state keys {sorted(sa)} vs {sorted(sb)}"
        for key in sa:
            if isinstance(sa[key], torch.Tensor) and sa[key].is_floating_point():
                tol = 6 * growth(case.name) * EPS64 * max(1.0, float(sa[key].abs().max()) if sa[key].numel() else 1)
                err = float((sa[key] - sb[key]).abs().max()) if sa[key].numel() else 0.0
                assert err <= tol, f"parameter {i}, state {key!r}: |difference| = {err:.3g} > {tol:.3g}"
            else:
                assert torch.equal(torch.as_tensor(sa[key]), torch.as_tensor(sb[key])), f"state {key!r}"


@pytest.mark.parametrize("case", cases())
def test_hooks(case):
    """Step hooks run in torch's order and stop when removed; state_dict and load_state_dict hooks run."""
    p = make_params(case.shapes)
    opt = case.gdlab_cls(p, **case.kw())
    calls = []
    pre = opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    post = opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    gpre = register_optimizer_step_pre_hook(lambda o, a, k: calls.append("global pre"))
    gpost = register_optimizer_step_post_hook(lambda o, a, k: calls.append("global post"))
    try:
        run(opt, p, 1)
        assert calls == ["global pre", "pre", "post", "global post"]
    finally:
        gpre.remove()
        gpost.remove()
    pre.remove()
    post.remove()
    run(opt, p, 1, start=1)
    assert calls == ["global pre", "pre", "post", "global post"], "a removed hook still ran"

    opt.register_state_dict_pre_hook(lambda o: calls.append("sd pre"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "marked": True})
    sd = opt.state_dict()
    assert calls[-1] == "sd pre" and sd.get("marked") is True
    del sd["marked"]

    def lsd_pre(o, state_dict):
        changed = copy.deepcopy(state_dict)
        changed["param_groups"][0]["lr"] = 0.125
        return changed

    opt.register_load_state_dict_pre_hook(lsd_pre)
    opt.register_load_state_dict_post_hook(lambda o: calls.append(("lsd post", o.param_groups[0]["lr"])))
    opt.load_state_dict(sd)
    assert calls[-1] == ("lsd post", 0.125)


def _error_cases():
    out = []
    for info in co.optim_db:
        if info.name not in go.RULES or info.optim_error_inputs_func is None:
            continue
        for j, ei in enumerate(info.optim_error_inputs_func(device="cpu", dtype=torch.float32)):
            desc = ei.optimizer_error_input.desc or f"error {j}"
            out.append(pytest.param(info, j, id=f"{info.name}-{desc}".replace(" ", "_")))
    return out


def _expect(cls, ei):
    oi = ei.optimizer_error_input
    make = lambda: cls(oi.params, **oi.kwargs)
    check = pytest.warns if issubclass(ei.error_type, Warning) else pytest.raises
    if ei.error_on == co.OptimizerErrorEnum.CONSTRUCTION_ERROR:
        with check(ei.error_type, match=ei.error_regex):
            make()
    else:
        opt = make()
        with check(ei.error_type, match=ei.error_regex):
            opt.step()


@pytest.mark.parametrize(("info", "j"), _error_cases())
def test_errors(info, j):
    """Bad input is refused as torch refuses it: the same exception (or warning) type, a message torch's regular
    expression matches, at construction or at the step as torch does. torch itself is checked first."""
    ei = info.optim_error_inputs_func(device="cpu", dtype=torch.float32)[j]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _expect(info.optim_cls, ei)  # the database describes torch
    ei = info.optim_error_inputs_func(device="cpu", dtype=torch.float32)[j]
    _expect(getattr(go, info.name), ei)
